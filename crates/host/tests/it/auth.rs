//! The auth plugin through the real runtime and database, with the manual clock and the file
//! outbox. Test names carry the number of the case in the auth security checklist.
//!
//! Case 11 (timing) is measured, not asserted: `crates/host/benches/auth.rs` (login against a
//! dummy verify for unknown users) and `crates/server/benches/http.rs` (forgot-password answers);
//! the server's answer floor for it is tested in `crates/server/tests/it/auth.rs` (c11_...).

use std::sync::{Arc, Barrier};
use std::thread;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::{plugin_dir, test_host, TestHost, T0};

const EXPORTS: &[&str] = &[
    "signup",
    "login",
    "logout",
    "logout_all",
    "verify_session",
    "request_email_verification",
    "verify_email",
    "request_password_reset",
    "reset_password",
    "change_password",
    "get_profile",
    "update_profile",
    "refresh",
    "verify_access_token",
    "list_sessions",
    "end_session",
    "create_user",
];
const GRANTS: &[&str] = &[
    "db:users",
    "db:sessions",
    "db:tokens",
    "ratelimit",
    "time",
    "random",
    "log",
    "config",
    "events",
    "crypto",
    "token",
    "email",
];
const PW: &str = "correct horse battery";
const MINUTE: i64 = 60_000;

fn auth_host() -> TestHost {
    let t = test_host();
    let dir = plugin_dir(
        t.dir.path(),
        "auth",
        "auth",
        json!({ "exports": EXPORTS, "grants": GRANTS, "config": { "base_url": "https://app.example" } }),
    );
    t.host.install(&dir, &a2e_host::InstallOptions { grant_requested: true, replace: false }).unwrap();
    t
}

fn call(t: &TestHost, function: &str, input: Value) -> Value {
    crate::call_json(t, "auth", function, input)
}

fn raw_call(t: &TestHost, function: &str, input: Value) -> Vec<u8> {
    t.host.call("auth", function, input.to_string().as_bytes(), &Default::default()).unwrap()
}

fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("")
}

fn sha256(s: &str) -> String {
    hex(&Sha256::digest(s.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn mails(t: &TestHost) -> Vec<String> {
    t.host.flush_mail();
    let dir = t.dir.path().join("outbox");
    let mut files: Vec<_> =
        std::fs::read_dir(&dir).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
    files.sort();
    files.into_iter().map(|p| std::fs::read_to_string(p).unwrap()).collect()
}

/// The token in the last mailed link containing `path`.
fn mailed_token(t: &TestHost, path: &str) -> String {
    let mail = mails(t).into_iter().rev().find(|m| m.contains(path)).expect("a mail with the link");
    let start = mail.find("token=").unwrap() + "token=".len();
    mail[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect()
}

fn signup(t: &TestHost, name: &str, email: &str, password: &str) -> Value {
    call(t, "signup", json!({ "name": name, "email": email, "password": password }))
}

fn login(t: &TestHost, email: &str, password: &str) -> Value {
    call(t, "login", json!({ "email": email, "password": password }))
}

fn user_with_session(t: &TestHost, name: &str, email: &str) -> Value {
    assert_eq!(signup(t, name, email, PW)["success"], true);
    let out = login(t, email, PW);
    assert_eq!(out["success"], true, "{out}");
    out["data"].clone()
}

#[test]
fn walk_through_signup_verify_login_refresh_logout() {
    let t = auth_host();
    assert_eq!(
        signup(&t, "ada", "ada@example.com", PW),
        json!({ "success": true, "data": { "status": "verification_sent" }, "error": null })
    );
    let token = mailed_token(&t, "/verify-email");
    assert_eq!(call(&t, "verify_email", json!({ "token": token }))["data"]["verified"], true);
    let session = login(&t, "ada@example.com", PW)["data"].clone();
    assert_eq!(session["user"]["email_verified"], true);
    assert!(session["user"].get("password_hash").is_none());
    let st = session["session_token"].as_str().unwrap();
    assert_eq!(call(&t, "verify_session", json!({ "session_token": st }))["success"], true);
    assert_eq!(call(&t, "get_profile", json!({ "session_token": st }))["data"]["name"], "ada");
    let access = call(&t, "verify_access_token", json!({ "token": session["access_token"] }));
    assert_eq!(access["data"]["user_uuid"], session["user"]["uuid"]);
    let refreshed = call(&t, "refresh", json!({ "refresh_token": session["refresh_token"] }));
    assert_eq!(refreshed["success"], true, "{refreshed}");
    let updated = call(&t, "update_profile", json!({ "session_token": st, "bio": "hi" }));
    assert_eq!(updated["data"]["bio"], "hi");
    assert_eq!(call(&t, "logout", json!({ "session_token": st }))["data"]["logged_out"], true);
    assert_eq!(code(&call(&t, "verify_session", json!({ "session_token": st }))), "UNAUTHENTICATED");
}

#[test]
fn c01_existing_email_answers_like_a_fresh_signup() {
    let t = auth_host();
    let fresh = raw_call(&t, "signup", json!({ "name": "a", "email": "a@example.com", "password": PW }));
    let again = raw_call(&t, "signup", json!({ "name": "b", "email": "a@example.com", "password": PW }));
    let case = raw_call(&t, "signup", json!({ "name": "c", "email": "A@EXAMPLE.com", "password": PW }));
    assert_eq!(fresh, again);
    assert_eq!(fresh, case);
    let spaced_new = raw_call(&t, "signup", json!({ "name": "d", "email": " new@example.com ", "password": PW }));
    let spaced_old = raw_call(&t, "signup", json!({ "name": "e", "email": " a@example.com ", "password": PW }));
    assert_eq!(spaced_new, spaced_old, "surrounding spaces are refused alike");
    assert_eq!(t.host.db().count_users().unwrap(), 1);
    assert_eq!(mails(&t).len(), 1, "no mail for the duplicate");
}

#[test]
fn c02_parallel_signups_leave_one_row() {
    let t = Arc::new(auth_host());
    let barrier = Arc::new(Barrier::new(20));
    let variants = ["same@example.com", "SAME@example.com", "Same@Example.Com", "sAME@EXAMPLE.COM"];
    let handles: Vec<_> = (0..20)
        .map(|i| {
            let (t, barrier) = (t.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                raw_call(&t, "signup", json!({ "name": format!("n{i}"), "email": variants[i % 4], "password": PW }))
            })
        })
        .collect();
    let outs: Vec<Vec<u8>> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(outs.iter().all(|o| o == &outs[0]), "every answer is identical");
    assert_eq!(t.host.db().count_users().unwrap(), 1);
}

#[test]
fn c03_unicode_email_forms_map_to_one_account() {
    let t = auth_host();
    signup(&t, "j", "J\u{00D6}RG@example.com", PW);
    signup(&t, "k", "jo\u{0308}rg@example.com", PW);
    assert_eq!(t.host.db().count_users().unwrap(), 1);
    assert_eq!(login(&t, "j\u{00F6}rg@EXAMPLE.com", PW)["success"], true);
}

#[test]
fn c04_email_validation() {
    let t = auth_host();
    let long = format!("{}@example.com", "a".repeat(250));
    for bad in [
        "no-at-sign",
        "a@b.c\r\nBcc: x@y.z",
        "nul\0@x.com",
        " lead@x.com",
        "trail@x.com ",
        long.as_str(),
        "@x.com",
        "a@",
    ] {
        assert_eq!(code(&signup(&t, "n", bad, PW)), "INVALID_INPUT", "{bad:?}");
    }
    assert_eq!(t.host.db().count_users().unwrap(), 0);
}

#[test]
fn c05_password_lengths_and_exact_bytes() {
    let t = auth_host();
    assert_eq!(code(&signup(&t, "a", "a@x.com", "short77")), "INVALID_INPUT");
    assert_eq!(code(&signup(&t, "a", "a@x.com", &"x".repeat(1024))), "INVALID_INPUT");
    assert_eq!(signup(&t, "a", "a@x.com", &"p".repeat(64))["success"], true);
    assert_eq!(login(&t, "a@x.com", &"p".repeat(64))["success"], true);
    let fancy = "pässwörd 🔑 with  inner spaces";
    signup(&t, "b", "b@x.com", fancy);
    assert_eq!(login(&t, "b@x.com", fancy)["success"], true);
    assert_eq!(code(&login(&t, "b@x.com", "pa\u{0308}sswörd 🔑 with  inner spaces")), "UNAUTHENTICATED");
    assert_eq!(code(&login(&t, "b@x.com", "pässwörd 🔑 with inner spaces")), "UNAUTHENTICATED");
}

#[test]
fn c06_no_truncation_at_72_bytes() {
    let t = auth_host();
    let pw = "y".repeat(100);
    signup(&t, "a", "a@x.com", &pw);
    assert_eq!(code(&login(&t, "a@x.com", &pw[..72])), "UNAUTHENTICATED");
    assert_eq!(login(&t, "a@x.com", &pw)["success"], true);
}

#[test]
fn c07_oversized_inputs_are_refused_without_storing() {
    let t = auth_host();
    assert_eq!(code(&signup(&t, &"n".repeat(100_000), "a@x.com", PW)), "INVALID_INPUT");
    let huge = json!({ "name": "a", "email": "a@x.com", "password": PW, "pad": "z".repeat(1 << 20) });
    let out = call(&t, "signup", huge);
    // Unknown fields are ignored, but the 1 MiB request is decoded and refused or handled without a crash.
    assert!(out["success"].is_boolean(), "{out}");
    assert_eq!(
        code(&call(&t, "signup", json!({ "name": "a", "email": "a@x.com", "password": "p".repeat(1 << 20) }))),
        "INVALID_INPUT"
    );
    assert!(t.host.db().count_users().unwrap() <= 1);
}

#[test]
fn c08_injection_strings_are_literal() {
    let t = auth_host();
    let name = "x'); DROP TABLE users;--";
    signup(&t, name, "o'r@x.com", "' OR 1=1-- pass");
    assert_eq!(login(&t, "o'r@x.com", "' OR 1=1-- pass")["data"]["user"]["name"], name);
    assert_eq!(code(&login(&t, "x@x.com';DROP", "' OR 1=1--")), "UNAUTHENTICATED");
    assert_eq!(t.host.db().count_users().unwrap(), 1);
}

#[test]
fn c09_wrong_json_types_are_invalid_input() {
    let t = auth_host();
    for body in [
        json!({ "name": "a", "email": 5, "password": PW }),
        json!({ "name": "a", "email": ["a@x.com"], "password": PW }),
        json!({ "name": "a", "email": null, "password": PW }),
        json!("just a string"),
    ] {
        assert_eq!(code(&call(&t, "signup", body.clone())), "INVALID_INPUT", "{body}");
    }
    assert_eq!(code(&call(&t, "login", json!({ "email": 1, "password": 2 }))), "INVALID_INPUT");
}

#[test]
fn c10_wrong_password_and_unknown_email_are_byte_identical() {
    let t = auth_host();
    signup(&t, "a", "a@x.com", PW);
    let wrong = raw_call(&t, "login", json!({ "email": "a@x.com", "password": "wrong password" }));
    let unknown = raw_call(&t, "login", json!({ "email": "nobody@x.com", "password": "wrong password" }));
    assert_eq!(wrong, unknown);
}

#[test]
fn c12_disabled_account_gets_the_generic_error() {
    let t = auth_host();
    signup(&t, "a", "a@x.com", PW);
    let uuid = t.host.db().get_user_by_email("a@x.com").unwrap().uuid;
    t.host.db().update_user_disabled(&uuid, true, T0).unwrap();
    let disabled = raw_call(&t, "login", json!({ "email": "a@x.com", "password": PW }));
    let unknown = raw_call(&t, "login", json!({ "email": "b@x.com", "password": PW }));
    assert_eq!(disabled, unknown);
}

#[test]
fn c13_throttling_shares_a_counter_resets_on_success_and_expires() {
    let t = auth_host();
    signup(&t, "a", "a@x.com", PW);
    for i in 0..4 {
        let email = if i % 2 == 0 { "a@x.com" } else { "A@X.COM" };
        assert_eq!(code(&login(&t, email, "wrong password")), "UNAUTHENTICATED");
    }
    assert_eq!(login(&t, "a@x.com", PW)["success"], true, "success below the limit");
    for _ in 0..5 {
        login(&t, "A@x.com", "wrong password");
    }
    let locked = raw_call(&t, "login", json!({ "email": "a@x.com", "password": PW }));
    let generic = raw_call(&t, "login", json!({ "email": "a@x.com", "password": "wrong password" }));
    assert_eq!(locked, generic, "the right password is refused alike while locked");
    t.clock.advance(15 * MINUTE);
    assert_eq!(login(&t, "a@x.com", PW)["success"], true, "the lock expires");
}

#[test]
fn c13_concurrent_wrong_guesses_cannot_exceed_the_budget() {
    let t = Arc::new(auth_host());
    signup(&t, "a", "a@x.com", PW);
    let barrier = Arc::new(Barrier::new(10));
    let handles: Vec<_> = (0..10)
        .map(|_| {
            let (t, barrier) = (t.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                login(&t, "a@x.com", "wrong password")
            })
        })
        .collect();
    handles.into_iter().for_each(|h| drop(h.join().unwrap()));
    let counted = t.host.db().rate_limit_peek("auth:login-failures", "a@x.com", 15 * MINUTE, T0).unwrap();
    assert_eq!(counted, 5, "the counter stops at the budget");
}

#[test]
fn c14_failures_for_unknown_emails_leave_no_account_and_reset_works_while_locked() {
    let t = auth_host();
    for _ in 0..6 {
        login(&t, "later@x.com", "wrong password");
    }
    assert_eq!(t.host.db().count_users().unwrap(), 0);
    assert_eq!(signup(&t, "later", "later@x.com", PW)["success"], true);
    for _ in 0..6 {
        login(&t, "later@x.com", "wrong password");
    }
    call(&t, "request_password_reset", json!({ "email": "later@x.com" }));
    let token = mailed_token(&t, "/reset-password");
    assert_eq!(call(&t, "reset_password", json!({ "token": token, "password": "a new password" }))["success"], true);
    assert_eq!(login(&t, "later@x.com", "a new password")["success"], true, "a reset clears the lock");
}

#[test]
fn c15_hashes_are_argon2id_phc_and_salted() {
    let t = auth_host();
    signup(&t, "a", "a@x.com", PW);
    signup(&t, "b", "b@x.com", PW);
    let a = t.host.db().get_user_by_email("a@x.com").unwrap().password_hash;
    let b = t.host.db().get_user_by_email("b@x.com").unwrap().password_hash;
    assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
    assert_ne!(a, b);
}

#[test]
fn c16_legacy_bcrypt_is_rehashed_on_login_and_only_then() {
    let t = auth_host();
    signup(&t, "a", "a@x.com", PW);
    let legacy = bcrypt::hash(PW, 4).unwrap();
    let uuid = set_hash(&t, "a@x.com", &legacy);
    assert_eq!(code(&login(&t, "a@x.com", "wrong password")), "UNAUTHENTICATED");
    assert_eq!(t.host.db().get_user_by_uuid(&uuid).unwrap().password_hash, legacy, "unchanged on failure");
    assert_eq!(login(&t, "a@x.com", PW)["success"], true);
    let now = t.host.db().get_user_by_uuid(&uuid).unwrap().password_hash;
    assert!(now.starts_with("$argon2id$"), "{now}");
    assert_eq!(login(&t, "a@x.com", PW)["success"], true);
}

#[test]
fn c20_c21_session_tokens_are_random_and_stored_hashed() {
    let t = auth_host();
    let s = user_with_session(&t, "a", "a@x.com");
    let token = s["session_token"].as_str().unwrap();
    assert!(token.len() >= 43, "256 bits in base64url");
    let uuid = s["user"]["uuid"].as_str().unwrap();
    let stored = t.host.db().list_user_sessions(uuid).unwrap();
    assert_eq!(stored[0].id, sha256(token));
    assert_ne!(stored[0].id, token);
    assert_eq!(code(&call(&t, "verify_session", json!({ "session_token": stored[0].id }))), "UNAUTHENTICATED");
    let mut seen = std::collections::HashSet::new();
    for _ in 0..20 {
        assert!(seen.insert(login(&t, "a@x.com", PW)["data"]["session_token"].as_str().unwrap().to_owned()));
    }
}

#[test]
fn c22_malformed_session_tokens_are_unauthenticated() {
    let t = auth_host();
    for bad in ["", &"a".repeat(10_000), "not base64!", "nul\0byte", "ünïcödé", "a.b.c"] {
        assert_eq!(code(&call(&t, "verify_session", json!({ "session_token": bad }))), "UNAUTHENTICATED", "{bad:?}");
    }
}

#[test]
fn c23_idle_and_absolute_expiry_with_the_clock() {
    let t = auth_host();
    let s = user_with_session(&t, "a", "a@x.com");
    let st = s["session_token"].as_str().unwrap().to_owned();
    let idle = 7 * 24 * 60 * MINUTE;
    assert_eq!(s["session_expires_at"], T0 + idle);
    // Sliding: each verification moves the expiry; 29 days of daily use stay logged in.
    for _ in 0..29 {
        t.clock.advance(24 * 60 * MINUTE);
        assert_eq!(call(&t, "verify_session", json!({ "session_token": st }))["success"], true);
    }
    // The absolute cap (30 days) ends it even though it is in use.
    t.clock.advance(24 * 60 * MINUTE);
    assert_eq!(code(&call(&t, "verify_session", json!({ "session_token": st }))), "UNAUTHENTICATED");
    // Idle expiry: exactly at expires_at is expired, and the row is gone.
    let s2 = login(&t, "a@x.com", PW)["data"].clone();
    let exp = s2["session_expires_at"].as_i64().unwrap();
    t.clock.set(exp);
    assert_eq!(code(&call(&t, "verify_session", json!({ "session_token": s2["session_token"] }))), "UNAUTHENTICATED");
    assert!(t.host.db().list_user_sessions(s2["user"]["uuid"].as_str().unwrap()).unwrap().is_empty());
}

#[test]
fn c23_the_sliding_expiry_is_written_once_it_moves_by_a_minute_and_never_extends_past_use() {
    let t = auth_host();
    let s = user_with_session(&t, "a", "a@x.com");
    let st = s["session_token"].as_str().unwrap().to_owned();
    let uuid = s["user"]["uuid"].as_str().unwrap().to_owned();
    let stored = || t.host.db().list_user_sessions(&uuid).unwrap()[0].expires_at;
    let idle = 7 * 24 * 60 * MINUTE;
    let verify = || call(&t, "verify_session", json!({ "session_token": st }));
    // Within a minute of the last write: answered from the stored row, nothing written.
    t.clock.advance(30_000);
    let v = verify();
    assert_eq!((v["success"].clone(), v["data"]["expires_at"].clone()), (json!(true), json!(T0 + idle)), "{v}");
    assert_eq!(stored(), T0 + idle);
    // A minute on: the slide is written.
    t.clock.advance(30_000);
    assert_eq!(verify()["data"]["expires_at"], T0 + MINUTE + idle);
    assert_eq!(stored(), T0 + MINUTE + idle);
    // Used again 59 s later and then idle: it expires at the written time, a little before a
    // full idle window after its last use, never after.
    t.clock.advance(59_000);
    assert_eq!(verify()["success"], true);
    t.clock.set(T0 + MINUTE + idle);
    assert_eq!(code(&verify()), "UNAUTHENTICATED");
}

#[test]
fn c24_logout_and_logout_all() {
    let t = auth_host();
    let a1 = user_with_session(&t, "a", "a@x.com");
    let a2 = login(&t, "a@x.com", PW)["data"].clone();
    let b = user_with_session(&t, "b", "b@x.com");
    assert_eq!(call(&t, "logout_all", json!({ "session_token": a1["session_token"] }))["data"]["sessions_ended"], 2);
    for s in [&a1, &a2] {
        assert_eq!(
            code(&call(&t, "verify_session", json!({ "session_token": s["session_token"] }))),
            "UNAUTHENTICATED"
        );
        assert_eq!(code(&call(&t, "refresh", json!({ "refresh_token": s["refresh_token"] }))), "UNAUTHENTICATED");
    }
    assert_eq!(call(&t, "verify_session", json!({ "session_token": b["session_token"] }))["success"], true);
}

#[test]
fn c26_c27_verification_tokens_are_hashed_and_single_use_under_contention() {
    let t = Arc::new(auth_host());
    signup(&t, "a", "a@x.com", PW);
    let token = mailed_token(&t, "/verify-email");
    let row = t.host.db().get_email_verification_token(&sha256(&token)).unwrap();
    assert_eq!(row.email, "a@x.com");
    let barrier = Arc::new(Barrier::new(10));
    let handles: Vec<_> = (0..10)
        .map(|_| {
            let (t, barrier, token) = (t.clone(), barrier.clone(), token.clone());
            thread::spawn(move || {
                barrier.wait();
                call(&t, "verify_email", json!({ "token": token }))
            })
        })
        .collect();
    let outs: Vec<Value> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(outs.iter().filter(|o| o["success"] == true).count(), 1);
    assert!(t.host.db().get_user_by_email("a@x.com").unwrap().email_verified);
}

#[test]
fn c28_c29_reset_tokens_expire_within_an_hour_and_a_new_request_replaces_old_ones() {
    let t = auth_host();
    signup(&t, "a", "a@x.com", PW);
    call(&t, "request_password_reset", json!({ "email": "a@x.com" }));
    let first = mailed_token(&t, "/reset-password");
    call(&t, "request_password_reset", json!({ "email": "a@x.com" }));
    let second = mailed_token(&t, "/reset-password");
    assert_ne!(first, second);
    assert_eq!(
        code(&call(&t, "reset_password", json!({ "token": first, "password": "new password 1" }))),
        "UNAUTHENTICATED"
    );
    t.clock.advance(60 * MINUTE);
    assert_eq!(
        code(&call(&t, "reset_password", json!({ "token": second, "password": "new password 2" }))),
        "UNAUTHENTICATED",
        "expired at exactly 1 h"
    );
    call(&t, "request_password_reset", json!({ "email": "a@x.com" }));
    let third = mailed_token(&t, "/reset-password");
    t.clock.advance(60 * MINUTE - 1);
    assert_eq!(call(&t, "reset_password", json!({ "token": third, "password": "new password 3" }))["success"], true);
}

#[test]
fn c30_reset_revokes_sessions_and_refresh_tokens_and_is_audited() {
    let t = auth_host();
    let s = user_with_session(&t, "a", "a@x.com");
    call(&t, "request_password_reset", json!({ "email": "a@x.com" }));
    let token = mailed_token(&t, "/reset-password");
    assert_eq!(
        call(&t, "reset_password", json!({ "token": token, "password": "brand new password" }))["success"],
        true
    );
    assert_eq!(code(&call(&t, "verify_session", json!({ "session_token": s["session_token"] }))), "UNAUTHENTICATED");
    assert_eq!(code(&call(&t, "refresh", json!({ "refresh_token": s["refresh_token"] }))), "UNAUTHENTICATED");
    assert_eq!(code(&call(&t, "verify_access_token", json!({ "token": s["access_token"] }))), "UNAUTHENTICATED");
    assert_eq!(code(&login(&t, "a@x.com", PW)), "UNAUTHENTICATED");
    let kinds: Vec<String> = t
        .host
        .db()
        .list_audit_events(&Default::default(), Default::default())
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(
        kinds.contains(&"password_reset.requested".into()) && kinds.contains(&"password_reset.completed".into()),
        "{kinds:?}"
    );
}

#[test]
fn c31_c33_forgot_password_for_unknown_email_is_identical_and_links_use_the_base_url() {
    let t = auth_host();
    signup(&t, "a", "a@x.com", PW);
    let before = mails(&t).len();
    let known = raw_call(&t, "request_password_reset", json!({ "email": "a@x.com" }));
    let unknown = raw_call(&t, "request_password_reset", json!({ "email": "ghost@x.com" }));
    assert_eq!(known, unknown);
    assert_eq!(mails(&t).len(), before + 1, "no mail for the unknown address");
    assert!(mails(&t).last().unwrap().contains("https://app.example/reset-password?token="));
    let resend_known = raw_call(&t, "request_email_verification", json!({ "email": "a@x.com" }));
    let resend_unknown = raw_call(&t, "request_email_verification", json!({ "email": "ghost@x.com" }));
    assert_eq!(resend_known, resend_unknown);
}

#[test]
fn c32_mail_sending_is_rate_limited_per_user() {
    let t = auth_host();
    signup(&t, "a", "a@x.com", PW);
    for _ in 0..10 {
        call(&t, "request_email_verification", json!({ "email": "a@x.com" }));
    }
    assert_eq!(mails(&t).len(), 5, "five mails per hour");
    t.clock.advance(60 * MINUTE);
    call(&t, "request_email_verification", json!({ "email": "a@x.com" }));
    assert_eq!(mails(&t).len(), 6);
}

#[test]
fn c34_c37_access_tokens_are_short_lived_and_die_with_their_session() {
    let t = auth_host();
    let s = user_with_session(&t, "a", "a@x.com");
    let exp = s["access_expires_at"].as_i64().unwrap();
    assert_eq!(exp, T0 / 1000 + 900, "15 minutes");
    assert_eq!(code(&call(&t, "verify_access_token", json!({ "token": s["refresh_token"] }))), "UNAUTHENTICATED");
    assert_eq!(code(&call(&t, "verify_access_token", json!({ "token": s["session_token"] }))), "UNAUTHENTICATED");
    call(&t, "logout", json!({ "session_token": s["session_token"] }));
    assert_eq!(code(&call(&t, "verify_access_token", json!({ "token": s["access_token"] }))), "UNAUTHENTICATED");
    let s2 = login(&t, "a@x.com", PW)["data"].clone();
    t.clock.advance(15 * MINUTE);
    assert_eq!(code(&call(&t, "verify_access_token", json!({ "token": s2["access_token"] }))), "UNAUTHENTICATED");
}

#[test]
fn c36_refresh_rotation_and_reuse_detection() {
    let t = auth_host();
    let s = user_with_session(&t, "a", "a@x.com");
    let r1 = s["refresh_token"].as_str().unwrap().to_owned();
    assert!(t.host.db().get_refresh_token(&sha256(&r1)).is_ok(), "stored as a hash");
    let next = call(&t, "refresh", json!({ "refresh_token": r1 }));
    let r2 = next["data"]["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(r1, r2);
    assert_eq!(call(&t, "verify_access_token", json!({ "token": next["data"]["access_token"] }))["success"], true);
    // Replaying r1 is refused and revokes the family, r2 included, and ends the session.
    assert_eq!(code(&call(&t, "refresh", json!({ "refresh_token": r1 }))), "UNAUTHENTICATED");
    assert_eq!(code(&call(&t, "refresh", json!({ "refresh_token": r2 }))), "UNAUTHENTICATED");
    assert_eq!(code(&call(&t, "verify_session", json!({ "session_token": s["session_token"] }))), "UNAUTHENTICATED");
    let kinds: Vec<String> = t
        .host
        .db()
        .list_audit_events(&Default::default(), Default::default())
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(kinds.contains(&"refresh.reuse_detected".into()));
}

#[test]
fn c36_two_concurrent_refreshes_leave_at_most_one_live_chain() {
    let t = Arc::new(auth_host());
    let s = user_with_session(&t, "a", "a@x.com");
    let barrier = Arc::new(Barrier::new(2));
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let (t, barrier, r) = (t.clone(), barrier.clone(), s["refresh_token"].clone());
            thread::spawn(move || {
                barrier.wait();
                call(&t, "refresh", json!({ "refresh_token": r }))
            })
        })
        .collect();
    let outs: Vec<Value> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let live: Vec<&Value> = outs.iter().filter(|o| o["success"] == true).collect();
    assert!(live.len() <= 1);
    for o in live {
        // The loser's replay revoked the family, so even the winner's token is dead now.
        assert_eq!(
            code(&call(&t, "refresh", json!({ "refresh_token": o["data"]["refresh_token"] }))),
            "UNAUTHENTICATED"
        );
    }
}

#[test]
fn c38_audit_trail_without_secrets() {
    let t = auth_host();
    let s = user_with_session(&t, "a", "a@x.com");
    for _ in 0..5 {
        login(&t, "a@x.com", "wrong password");
    }
    let token = mailed_token(&t, "/verify-email");
    call(&t, "verify_email", json!({ "token": token }));
    let events = t.host.db().list_audit_events(&Default::default(), a2e_db::Page { limit: 1000, offset: 0 }).unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    for kind in ["signup", "login.ok", "login.failed", "login.locked", "email.verified"] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
    assert!(events.iter().all(|e| e.plugin.as_deref() == Some("auth") && e.at >= T0));
    let dump = serde_json::to_string(&events).unwrap();
    for secret in
        [PW, "wrong password", s["session_token"].as_str().unwrap(), s["refresh_token"].as_str().unwrap(), &token]
    {
        assert!(!dump.contains(secret), "a secret leaked into the audit log");
    }
}

fn set_hash(t: &TestHost, email: &str, hash: &str) -> String {
    let uuid = t.host.db().get_user_by_email(email).unwrap().uuid;
    t.host.db().update_user_password(&uuid, hash, T0).unwrap();
    uuid
}

#[test]
fn c17_bcrypt_72_byte_edge_after_migration_only_the_exact_password_works() {
    let t = auth_host();
    signup(&t, "a", "a@x.com", PW);
    let long = "L".repeat(80);
    // A legacy system hashed the 80-byte password, of which bcrypt read 72 bytes.
    let uuid = set_hash(&t, "a@x.com", &bcrypt::hash(&long[..72], 4).unwrap());
    assert_eq!(code(&login(&t, "a@x.com", &long)), "UNAUTHENTICATED", "over 72 bytes never matches bcrypt");
    assert_eq!(login(&t, "a@x.com", &long[..72])["success"], true);
    assert!(t.host.db().get_user_by_uuid(&uuid).unwrap().password_hash.starts_with("$argon2id$"));
    assert_eq!(code(&login(&t, "a@x.com", &long)), "UNAUTHENTICATED");
    assert_eq!(login(&t, "a@x.com", &long[..72])["success"], true);
}

#[test]
fn c18_hostile_stored_hashes_fail_closed_with_the_generic_error() {
    let t = auth_host();
    signup(&t, "a", "a@x.com", PW);
    let generic = raw_call(&t, "login", json!({ "email": "nobody@x.com", "password": PW }));
    for hostile in [
        "$2b$31$abcdefghijklmnopqrstuuJ0XJ6Ny5bZpj9tD4gKhRfNgD3Vb5r6W",
        "$argon2id$v=19$m=4194304,t=1,p=1$c29tZXNhbHQ$iWh06vD8Fy27wf9npn6FXWiCX4K6pW6Ue1Bnzz07Z8A",
        "garbage",
        "",
    ] {
        if hostile.is_empty() {
            continue; // The schema refuses an empty hash.
        }
        set_hash(&t, "a@x.com", hostile);
        assert_eq!(raw_call(&t, "login", json!({ "email": "a@x.com", "password": PW })), generic, "{hostile}");
        t.host.db().rate_limit_reset("auth:login-failures", "a@x.com").unwrap();
    }
}

#[test]
fn c19_weaker_argon2_is_rehashed_on_login() {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let t = auth_host();
    signup(&t, "a", "a@x.com", PW);
    let weak = argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon2::Params::new(8192, 1, 1, None).unwrap(),
    )
    .hash_password(PW.as_bytes(), &SaltString::encode_b64(&[9; 16]).unwrap())
    .unwrap()
    .to_string();
    let uuid = set_hash(&t, "a@x.com", &weak);
    assert_eq!(login(&t, "a@x.com", PW)["success"], true);
    assert!(t.host.db().get_user_by_uuid(&uuid).unwrap().password_hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
}

fn call_from(t: &TestHost, addr: &str, function: &str, input: Value) -> Value {
    let opts = a2e_host::CallOptions { client_addr: Some(addr.into()), ..Default::default() };
    let out = t.host.call("auth", function, input.to_string().as_bytes(), &opts).unwrap();
    serde_json::from_slice(&out).unwrap()
}

#[test]
fn c13_failures_are_also_counted_per_client_address() {
    let t = auth_host();
    signup(&t, "a", "a@x.com", PW);
    for i in 0..50 {
        call_from(&t, "198.51.100.7", "login", json!({ "email": format!("spray{i}@x.com"), "password": "guess" }));
    }
    let blocked = call_from(&t, "198.51.100.7", "login", json!({ "email": "a@x.com", "password": PW }));
    assert_eq!(code(&blocked), "UNAUTHENTICATED");
    let other = call_from(&t, "198.51.100.8", "login", json!({ "email": "a@x.com", "password": PW }));
    assert_eq!(other["success"], true, "{other}");
}

#[test]
fn c28_verification_tokens_expire_at_exactly_their_ttl() {
    let t = auth_host();
    signup(&t, "a", "a@x.com", PW);
    let first = mailed_token(&t, "/verify-email");
    t.clock.advance(24 * 60 * MINUTE);
    assert_eq!(code(&call(&t, "verify_email", json!({ "token": first }))), "UNAUTHENTICATED");
    call(&t, "request_email_verification", json!({ "email": "a@x.com" }));
    let second = mailed_token(&t, "/verify-email");
    t.clock.advance(24 * 60 * MINUTE - 1);
    assert_eq!(call(&t, "verify_email", json!({ "token": second }))["success"], true);
}

#[test]
fn change_password_needs_the_current_one_and_ends_every_session() {
    let t = auth_host();
    let s = user_with_session(&t, "a", "a@x.com");
    let other = login(&t, "a@x.com", PW)["data"].clone();
    let st = s["session_token"].clone();
    let wrong = call(
        &t,
        "change_password",
        json!({ "session_token": st, "current_password": "not it at all", "new_password": "another password" }),
    );
    assert_eq!(code(&wrong), "UNAUTHENTICATED");
    let short =
        call(&t, "change_password", json!({ "session_token": st, "current_password": PW, "new_password": "short" }));
    assert_eq!(code(&short), "INVALID_INPUT");
    let ok = call(
        &t,
        "change_password",
        json!({ "session_token": st, "current_password": PW, "new_password": "another password" }),
    );
    assert_eq!(ok["data"]["changed"], true, "{ok}");
    for session in [&s, &other] {
        assert_eq!(
            code(&call(&t, "verify_session", json!({ "session_token": session["session_token"] }))),
            "UNAUTHENTICATED"
        );
        assert_eq!(code(&call(&t, "refresh", json!({ "refresh_token": session["refresh_token"] }))), "UNAUTHENTICATED");
    }
    assert_eq!(code(&login(&t, "a@x.com", PW)), "UNAUTHENTICATED");
    assert_eq!(login(&t, "a@x.com", "another password")["success"], true);
}

#[test]
fn profile_updates_are_validated_and_names_stay_unique() {
    let t = auth_host();
    let a = user_with_session(&t, "a", "a@x.com");
    user_with_session(&t, "b", "b@x.com");
    let st = a["session_token"].clone();
    assert_eq!(code(&call(&t, "update_profile", json!({ "session_token": st, "name": "b" }))), "NAME_TAKEN");
    assert_eq!(
        code(&call(&t, "update_profile", json!({ "session_token": st, "bio": "x".repeat(1001) }))),
        "INVALID_INPUT"
    );
    assert_eq!(code(&call(&t, "get_profile", json!({ "session_token": "bogus" }))), "UNAUTHENTICATED");
    let updated =
        call(&t, "update_profile", json!({ "session_token": st, "name": " ada ", "avatar": "https://x/a.png" }));
    assert_eq!(
        (updated["data"]["name"].clone(), updated["data"]["avatar"].clone()),
        (json!("ada"), json!("https://x/a.png"))
    );
}

#[test]
fn c20_ten_thousand_issued_tokens_are_unique_and_never_stored_raw() {
    let t = auth_host();
    let s = user_with_session(&t, "a", "a@x.com");
    let mut refresh = s["refresh_token"].as_str().unwrap().to_owned();
    let mut seen = std::collections::HashSet::new();
    for _ in 0..10_000 {
        assert!(refresh.len() >= 43, "at least 256 bits, base64url");
        assert!(seen.insert(refresh.clone()), "a token repeated");
        let next = call(&t, "refresh", json!({ "refresh_token": refresh }));
        refresh = next["data"]["refresh_token"].as_str().unwrap_or_else(|| panic!("{next}")).to_owned();
    }
    // The database holds hashes only: no issued token is a stored value.
    let last = t.host.db().get_refresh_token(&sha256(&refresh)).unwrap();
    assert_ne!(last.token_hash, refresh);
    assert!(t.host.db().get_refresh_token(&refresh).is_err());
}

#[test]
fn c29_a_verification_token_is_bound_to_the_email_it_was_sent_to() {
    let t = auth_host();
    signup(&t, "a", "a@x.com", PW);
    let uuid = t.host.db().get_user_by_email("a@x.com").unwrap().uuid;
    // A token issued for an address the account no longer has (as after an address change).
    let raw = "bound-to-the-old-address-0123456789abcdefghijk";
    t.host
        .db()
        .create_email_verification_token(
            &a2e_db::NewOneTimeToken {
                token_hash: sha256(raw),
                user_uuid: uuid.clone(),
                email: "old@x.com".into(),
                expires_at: T0 + MINUTE,
            },
            T0,
        )
        .unwrap();
    assert_eq!(code(&call(&t, "verify_email", json!({ "token": raw }))), "UNAUTHENTICATED");
    assert!(!t.host.db().get_user_by_uuid(&uuid).unwrap().email_verified);
    // The same holds for reset tokens.
    let raw_reset = "reset-bound-to-the-old-address-0123456789abcdefg";
    t.host
        .db()
        .create_password_reset_token(
            &a2e_db::NewOneTimeToken {
                token_hash: sha256(raw_reset),
                user_uuid: uuid,
                email: "old@x.com".into(),
                expires_at: T0 + MINUTE,
            },
            T0,
        )
        .unwrap();
    assert_eq!(
        code(&call(&t, "reset_password", json!({ "token": raw_reset, "password": "a new password" }))),
        "UNAUTHENTICATED"
    );
    assert_eq!(login(&t, "a@x.com", PW)["success"], true);
}

/// Calls the auth plugin as the host does for a signed-in request: the user in the call context.
fn call_as(t: &TestHost, user: Option<(&str, &str)>, function: &str, input: Value) -> Value {
    let options = a2e_host::CallOptions {
        client_addr: None,
        user: user.map(|(uuid, role)| a2e_abi::CallUser { uuid: uuid.into(), name: "x".into(), role: role.into() }),
    };
    let out = t.host.call("auth", function, input.to_string().as_bytes(), &options).unwrap();
    serde_json::from_slice(&out).unwrap()
}

#[test]
fn sessions_are_listed_and_ended_only_for_the_user_of_the_call_context() {
    let t = auth_host();
    let ada = user_with_session(&t, "ada", "ada@example.com");
    let bob = user_with_session(&t, "bob", "bob@example.com");
    let ada_uuid = ada["user"]["uuid"].as_str().unwrap();
    let bob_uuid = bob["user"]["uuid"].as_str().unwrap();
    // verify_session answers the account and the short id the lists use.
    let me = call(&t, "verify_session", json!({ "session_token": ada["session_token"] }));
    assert_eq!(me["data"]["user"]["uuid"], ada_uuid, "{me}");
    assert!(me["data"]["user"].get("password_hash").is_none());
    let ada_session = me["data"]["session"].as_str().unwrap().to_owned();
    assert_eq!(ada_session, sha256(ada["session_token"].as_str().unwrap())[..16]);
    // Without a signed-in user in the context: refused.
    assert_eq!(code(&call_as(&t, None, "list_sessions", json!({}))), "UNAUTHENTICATED");
    assert_eq!(code(&call_as(&t, None, "end_session", json!({ "id": ada_session }))), "UNAUTHENTICATED");
    let list = call_as(&t, Some((ada_uuid, "user")), "list_sessions", json!({ "current": ada_session }));
    assert_eq!(list["data"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list["data"][0]["current"], true);
    // Bob cannot end Ada's session, even knowing its id.
    let theirs = call_as(&t, Some((bob_uuid, "user")), "end_session", json!({ "id": ada_session }));
    assert_eq!(code(&theirs), "NOT_FOUND");
    assert_eq!(call(&t, "verify_session", json!({ "session_token": ada["session_token"] }))["success"], true);
    let bad = call_as(&t, Some((ada_uuid, "user")), "end_session", json!({ "id": 42 }));
    assert_eq!(code(&bad), "INVALID_INPUT");
    let ended = call_as(&t, Some((ada_uuid, "user")), "end_session", json!({ "id": ada_session }));
    assert_eq!(ended["data"]["ended"], true, "{ended}");
    assert_eq!(code(&call(&t, "verify_session", json!({ "session_token": ada["session_token"] }))), "UNAUTHENTICATED");
    assert_eq!(code(&call(&t, "verify_access_token", json!({ "token": ada["access_token"] }))), "UNAUTHENTICATED");
    assert_eq!(call(&t, "verify_session", json!({ "session_token": bob["session_token"] }))["success"], true);
}

#[test]
fn create_user_sets_the_role_for_the_host_and_administrators_and_refuses_others() {
    let t = auth_host();
    let account = |name: &str, role: &str| json!({ "name": name, "email": format!("{name}@example.com"), "password": PW, "role": role, "email_verified": true });
    let made = call_as(&t, None, "create_user", account("root", "admin"));
    assert_eq!(made["data"]["role"], "admin", "{made}");
    assert_eq!(made["data"]["email_verified"], true);
    let root_uuid = made["data"]["uuid"].as_str().unwrap().to_owned();
    let by_admin = call_as(&t, Some((&root_uuid, "admin")), "create_user", account("kim", "user"));
    assert_eq!(by_admin["data"]["role"], "user", "{by_admin}");
    let kim_uuid = by_admin["data"]["uuid"].as_str().unwrap().to_owned();
    let by_user = call_as(&t, Some((&kim_uuid, "user")), "create_user", account("mallory", "admin"));
    assert_eq!(code(&by_user), "PERMISSION_DENIED");
    assert_eq!(code(&call_as(&t, None, "create_user", account("zed", "root"))), "INVALID_INPUT");
    let taken = call_as(&t, None, "create_user", account("root", "user"));
    assert_eq!(code(&taken), "USER_EXISTS");
    assert!(t.host.db().get_user_by_email("mallory@example.com").is_err());
    assert!(t.host.db().get_user_by_email("zed@example.com").is_err());
    assert_eq!(t.host.db().count_users_with_role("admin").unwrap(), 1);
    // The created administrator signs in like anyone else.
    let login = call(&t, "login", json!({ "email": "root@example.com", "password": PW }));
    assert_eq!(login["data"]["user"]["role"], "admin", "{login}");
}

#[test]
fn another_plugin_cannot_create_accounts_through_the_auth_plugin() {
    let t = auth_host();
    crate::install_fixture(&t, "fx", &["call:auth"], json!({}));
    let account = json!({ "name": "mole", "email": "mole@example.com", "password": PW, "role": "admin" });
    let request = json!({ "plugin": "auth", "function": "create_user", "input": account });
    let via = |user: Option<a2e_abi::CallUser>| -> Value {
        let options = a2e_host::CallOptions { client_addr: None, user };
        let input = json!({ "function": "plugin_call", "request": request });
        let out = t.host.call("fx", "call_host", input.to_string().as_bytes(), &options).unwrap();
        serde_json::from_slice(&out).unwrap()
    };
    // Neither on its own (a schedule or an event has no user) nor on an administrator's request.
    let alone = via(None);
    assert_eq!(alone["data"]["output"]["error"]["code"], "PERMISSION_DENIED", "{alone}");
    assert!(alone["data"]["output"]["error"]["message"].as_str().unwrap().contains("`fx`"), "{alone}");
    let admin = a2e_abi::CallUser { uuid: "u-admin".into(), name: "root".into(), role: "admin".into() };
    let on_behalf = via(Some(admin));
    assert_eq!(on_behalf["data"]["output"]["error"]["code"], "PERMISSION_DENIED", "{on_behalf}");
    assert!(t.host.db().get_user_by_email("mole@example.com").is_err());
}

#[test]
fn a_disabled_account_is_refused_by_both_verifiers() {
    let t = auth_host();
    let ada = user_with_session(&t, "ada", "ada@example.com");
    t.host.db().update_user_disabled(ada["user"]["uuid"].as_str().unwrap(), true, T0).unwrap();
    assert_eq!(code(&call(&t, "verify_session", json!({ "session_token": ada["session_token"] }))), "UNAUTHENTICATED");
    assert_eq!(code(&call(&t, "verify_access_token", json!({ "token": ada["access_token"] }))), "UNAUTHENTICATED");
}
