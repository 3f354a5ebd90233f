//! A new user's walk through the auth plugin from the shell: build and install it, sign up, read
//! the verification link from the outbox, verify, log in, refresh and log out.

use std::path::Path;

use serde_json::Value;

use crate::{a2e, json, stderr};

fn call(data: &Path, function: &str, input: &str) -> Value {
    let out = a2e(data, &["plugin", "call", "auth", function, input], &[], "");
    assert!(out.status.success(), "{function}: {}", stderr(&out));
    json(&out)
}

fn link_token(data: &Path, path: &str) -> String {
    let mut mails: Vec<_> = std::fs::read_dir(data.join("outbox")).unwrap().flatten().map(|e| e.path()).collect();
    mails.sort();
    let mail = mails.iter().rev().map(|p| std::fs::read_to_string(p).unwrap()).find(|m| m.contains(path)).unwrap();
    let start = mail.find("token=").unwrap() + 6;
    mail[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect()
}

#[test]
fn signup_verify_login_refresh_logout_from_the_shell() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let dist = work.path().join("dist");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plugins/auth");
    let built = a2e(&data, &["plugin", "build", source.to_str().unwrap(), "--out", dist.to_str().unwrap()], &[], "");
    assert!(built.status.success(), "{}", stderr(&built));
    let installed = a2e(&data, &["plugin", "install", dist.to_str().unwrap(), "--yes"], &[], "");
    assert!(installed.status.success(), "{}", stderr(&installed));

    let signup =
        call(&data, "signup", r#"{"name":"ada","email":"ada@example.com","password":"correct horse battery"}"#);
    assert_eq!(signup["data"]["status"], "verification_sent");
    let token = link_token(&data, "/verify-email?token=");
    let verified = call(&data, "verify_email", &format!(r#"{{"token":"{token}"}}"#));
    assert_eq!(verified["data"]["verified"], true);

    let login = call(&data, "login", r#"{"email":"ada@example.com","password":"correct horse battery"}"#);
    assert_eq!(login["data"]["user"]["email_verified"], true, "{login}");
    let session = login["data"]["session_token"].as_str().unwrap();
    let refreshed = call(
        &data,
        "refresh",
        &format!(r#"{{"refresh_token":"{}"}}"#, login["data"]["refresh_token"].as_str().unwrap()),
    );
    assert_eq!(refreshed["success"], true, "{refreshed}");
    let logout = call(&data, "logout", &format!(r#"{{"session_token":"{session}"}}"#));
    assert_eq!(logout["data"]["logged_out"], true);
    let after = call(&data, "verify_session", &format!(r#"{{"session_token":"{session}"}}"#));
    assert_eq!(after["error"]["code"], "UNAUTHENTICATED");

    // The plugin that signs people in is not disabled, removed or stripped of a grant it needs
    // by mistake: the CLI refuses without --force.
    for args in [
        &["plugin", "disable", "auth"][..],
        &["plugin", "remove", "auth"][..],
        &["plugin", "revoke", "auth", "db:sessions"][..],
    ] {
        let refused = a2e(&data, args, &[], "");
        assert_eq!(refused.status.code(), Some(1), "{args:?}");
        assert!(
            stderr(&refused).contains("signs people in") && stderr(&refused).contains("--force"),
            "{}",
            stderr(&refused)
        );
    }
    let still = call(&data, "login", r#"{"email":"ada@example.com","password":"correct horse battery"}"#);
    assert_eq!(still["success"], true, "nothing changed: {still}");
    let forced = a2e(&data, &["plugin", "disable", "auth", "--force"], &[], "");
    assert!(forced.status.success(), "{}", stderr(&forced));
    assert!(stderr(&forced).contains("nobody can sign in"), "{}", stderr(&forced));
    assert!(a2e(&data, &["plugin", "enable", "auth"], &[], "").status.success());
}
