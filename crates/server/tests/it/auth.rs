//! The auth API over the auth plugin: setup, the account lifecycle, cookies and bearer tokens.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::{req, server, server_with, PASSWORD};

#[tokio::test]
async fn setup_creates_the_first_admin_once_then_refuses() {
    let s = server();
    let r = req(Method::GET, "/api/setup").send(&s.app).await.expect(StatusCode::OK);
    assert_eq!(r.body["needs_setup"], true);
    let session = s.admin().await;
    let me = req(Method::GET, "/api/auth/session").cookie(&session).send(&s.app).await.expect(StatusCode::OK);
    assert_eq!(me.body["user"]["role"], "admin");
    assert_eq!(me.body["user"]["email_verified"], true);
    let r = req(Method::GET, "/api/setup").send(&s.app).await.expect(StatusCode::OK);
    assert_eq!(r.body["needs_setup"], false);
    req(Method::POST, "/api/setup")
        .json(json!({ "name": "Mallory", "email": "mallory@example.com", "password": PASSWORD }))
        .send(&s.app)
        .await
        .expect_error(StatusCode::CONFLICT, "CONFLICT");
    assert_eq!(s.state.host().db().count_users_with_role("admin").unwrap(), 1);
}

#[tokio::test]
async fn setup_cannot_promote_an_existing_account_without_its_password() {
    let s = server();
    let victim = s.user("victim").await;
    req(Method::POST, "/api/setup")
        .json(json!({ "name": "Other", "email": "victim@example.com", "password": "some other password" }))
        .send(&s.app)
        .await
        .expect_error(StatusCode::CONFLICT, "USER_EXISTS");
    let user = s.state.host().db().get_user_by_uuid(victim["user"]["uuid"].as_str().unwrap()).unwrap();
    assert_eq!(user.role, "user");
    assert_eq!(s.state.host().db().count_users_with_role("admin").unwrap(), 0);
}

#[tokio::test]
async fn signup_verify_login_session_and_logout() {
    let s = server();
    let r = req(Method::POST, "/api/auth/signup")
        .json(json!({ "name": "Ada", "email": "ada@example.com", "password": PASSWORD }))
        .send(&s.app)
        .await
        .expect(StatusCode::OK);
    assert_eq!(r.body["status"], "verification_sent");
    let token = s.mailed_token("ada@example.com", "/verify-email");
    req(Method::POST, "/api/auth/verify-email")
        .json(json!({ "token": token }))
        .send(&s.app)
        .await
        .expect(StatusCode::OK);
    req(Method::POST, "/api/auth/verify-email")
        .json(json!({ "token": token }))
        .send(&s.app)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");

    let login = s.login("ada@example.com", PASSWORD).await.expect(StatusCode::OK);
    let cookie = login.headers.get("set-cookie").unwrap().to_str().unwrap().to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain-http servers do not mark the cookie Secure: {cookie}");
    let session = login.session_cookie().unwrap();
    assert_eq!(login.body["session_token"], session.as_str());
    let me = req(Method::GET, "/api/auth/session").cookie(&session).send(&s.app).await.expect(StatusCode::OK);
    assert_eq!(me.body["user"]["email"], "ada@example.com");
    assert_eq!(me.body["user"]["email_verified"], true);
    assert!(me.body["user"].get("password_hash").is_none());

    let out = req(Method::POST, "/api/auth/logout").cookie(&session).send(&s.app).await.expect(StatusCode::OK);
    let cleared = out.headers.get("set-cookie").unwrap().to_str().unwrap();
    assert!(cleared.starts_with("a2e_session=;") && cleared.contains("Max-Age=0"), "{cleared}");
    req(Method::GET, "/api/auth/session")
        .cookie(&session)
        .send(&s.app)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
}

#[tokio::test]
async fn secure_cookie_when_configured() {
    let s = crate::server_with(|c| c.secure_cookies = true);
    s.user("sec").await;
    let login = s.login("sec@example.com", PASSWORD).await.expect(StatusCode::OK);
    assert!(login.headers.get("set-cookie").unwrap().to_str().unwrap().contains("; Secure"));
}

#[tokio::test]
async fn wrong_password_and_unknown_email_answer_identically() {
    let s = server();
    s.user("bob").await;
    let wrong = s.login("bob@example.com", "not the password").await;
    let unknown = s.login("nobody@example.com", "not the password").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!((wrong.status, wrong.text.clone()), (unknown.status, unknown.text.clone()));
    assert!(wrong.session_cookie().is_none());
}

#[tokio::test]
async fn bearer_session_token_and_access_token_both_authenticate() {
    let s = server();
    let login = s.user("carol").await;
    for token in [login["session_token"].as_str().unwrap(), login["access_token"].as_str().unwrap()] {
        let me = req(Method::GET, "/api/auth/session").bearer(token).send(&s.app).await.expect(StatusCode::OK);
        assert_eq!(me.body["user"]["name"], "carol");
    }
    // Logging out needs the session token; an access token is refused with a clear message.
    req(Method::POST, "/api/auth/logout")
        .bearer(login["access_token"].as_str().unwrap())
        .send(&s.app)
        .await
        .expect_error(StatusCode::BAD_REQUEST, "INVALID_INPUT");
    req(Method::POST, "/api/auth/logout")
        .bearer(login["session_token"].as_str().unwrap())
        .send(&s.app)
        .await
        .expect(StatusCode::OK);
    for token in [login["session_token"].as_str().unwrap(), login["access_token"].as_str().unwrap()] {
        req(Method::GET, "/api/auth/session")
            .bearer(token)
            .send(&s.app)
            .await
            .expect_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    }
}

#[tokio::test]
async fn missing_malformed_and_forged_credentials_are_unauthenticated() {
    let s = server();
    let long = "a".repeat(10_000);
    let cases: Vec<Option<String>> = vec![
        None,
        Some("Bearer".into()),
        Some("Bearer ".into()),
        Some("Bearer not-a-token".into()),
        Some(format!("Bearer {long}")),
        Some("Bearer a.b.c".into()),
        Some("Basic dXNlcjpwYXNz".into()),
    ];
    for auth in cases {
        let mut r = req(Method::GET, "/api/auth/profile");
        if let Some(a) = &auth {
            r = r.header("authorization", a);
        }
        r.send(&s.app).await.expect_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    }
    req(Method::GET, "/api/auth/profile")
        .cookie("forged")
        .send(&s.app)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
}

#[tokio::test]
async fn disabled_accounts_lose_their_sessions() {
    let s = server();
    let login = s.user("dave").await;
    let uuid = login["user"]["uuid"].as_str().unwrap();
    s.state.host().db().update_user_disabled(uuid, true, crate::T0).unwrap();
    req(Method::GET, "/api/auth/session")
        .bearer(login["session_token"].as_str().unwrap())
        .send(&s.app)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
}

#[tokio::test]
async fn password_reset_sets_a_new_password_and_ends_sessions() {
    let s = server();
    let login = s.user("erin").await;
    let session = login["session_token"].as_str().unwrap();
    for email in ["erin@example.com", "nobody@example.com"] {
        let r = req(Method::POST, "/api/auth/password-reset/request")
            .json(json!({ "email": email }))
            .send(&s.app)
            .await
            .expect(StatusCode::OK);
        assert_eq!(r.body["status"], "reset_sent", "{}", r.text);
    }
    let token = s.mailed_token("erin@example.com", "/reset-password");
    req(Method::POST, "/api/auth/password-reset/confirm")
        .json(json!({ "token": token, "password": "short" }))
        .send(&s.app)
        .await
        .expect_error(StatusCode::BAD_REQUEST, "INVALID_INPUT");
    req(Method::POST, "/api/auth/password-reset/confirm")
        .json(json!({ "token": token, "password": "a brand new password" }))
        .send(&s.app)
        .await
        .expect(StatusCode::OK);
    req(Method::GET, "/api/auth/session")
        .bearer(session)
        .send(&s.app)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    s.login("erin@example.com", PASSWORD).await.expect_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    s.login("erin@example.com", "a brand new password").await.expect(StatusCode::OK);
}

#[tokio::test]
async fn change_password_needs_the_current_one_and_clears_the_cookie() {
    let s = server();
    let login = s.user("fay").await;
    let session = login["session_token"].as_str().unwrap();
    req(Method::POST, "/api/auth/change-password")
        .cookie(session)
        .json(json!({ "current_password": "wrong wrong wrong", "new_password": "another good password" }))
        .send(&s.app)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    let r = req(Method::POST, "/api/auth/change-password")
        .cookie(session)
        .json(json!({ "current_password": PASSWORD, "new_password": "another good password" }))
        .send(&s.app)
        .await
        .expect(StatusCode::OK);
    assert!(r.headers.get("set-cookie").unwrap().to_str().unwrap().contains("Max-Age=0"));
    s.login("fay@example.com", "another good password").await.expect(StatusCode::OK);
}

#[tokio::test]
async fn refresh_rotates_and_a_replayed_token_is_refused() {
    let s = server();
    let login = s.user("gus").await;
    let first = login["refresh_token"].as_str().unwrap();
    let r = req(Method::POST, "/api/auth/refresh").json(json!({ "refresh_token": first })).send(&s.app).await;
    let r = r.expect(StatusCode::OK);
    let second = r.body["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second, first);
    req(Method::GET, "/api/auth/session")
        .bearer(r.body["access_token"].as_str().unwrap())
        .send(&s.app)
        .await
        .expect(StatusCode::OK);
    req(Method::POST, "/api/auth/refresh")
        .json(json!({ "refresh_token": first }))
        .send(&s.app)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    // The replay revoked the family: the newer token is dead too.
    req(Method::POST, "/api/auth/refresh")
        .json(json!({ "refresh_token": second }))
        .send(&s.app)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
}

#[tokio::test]
async fn profile_updates_and_name_conflicts() {
    let s = server();
    let a = s.user("hana").await;
    s.user("ivan").await;
    let session = a["session_token"].as_str().unwrap();
    let r = req(Method::PATCH, "/api/auth/profile")
        .cookie(session)
        .json(json!({ "bio": "writes compilers" }))
        .send(&s.app)
        .await
        .expect(StatusCode::OK);
    assert_eq!(r.body["bio"], "writes compilers");
    let r = req(Method::GET, "/api/auth/profile").cookie(session).send(&s.app).await.expect(StatusCode::OK);
    assert_eq!(r.body["bio"], "writes compilers");
    req(Method::PATCH, "/api/auth/profile")
        .cookie(session)
        .json(json!({ "name": "ivan" }))
        .send(&s.app)
        .await
        .expect_error(StatusCode::CONFLICT, "NAME_TAKEN");
    req(Method::PATCH, "/api/auth/profile")
        .cookie(session)
        .json(json!({ "bio": "x".repeat(2000) }))
        .send(&s.app)
        .await
        .expect_error(StatusCode::BAD_REQUEST, "INVALID_INPUT");
}

#[tokio::test]
async fn sessions_are_listed_and_revoked_one_by_one_or_all() {
    let s = server();
    s.user("jo").await;
    let first = s.login("jo@example.com", PASSWORD).await.session_cookie().unwrap();
    let second = s.login("jo@example.com", PASSWORD).await.session_cookie().unwrap();
    let list = req(Method::GET, "/api/auth/sessions").cookie(&first).send(&s.app).await.expect(StatusCode::OK);
    let items = list.body.as_array().unwrap();
    assert_eq!(items.len(), 3, "{}", list.text);
    assert_eq!(items.iter().filter(|i| i["current"] == true).count(), 1);
    let second_id = &a2e_host::manifest::sha256_hex(second.as_bytes())[..16];
    let other = items.iter().find(|i| i["current"] == false && i["id"] != second_id).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(other.len(), 16);
    req(Method::DELETE, &format!("/api/auth/sessions/{other}"))
        .cookie(&first)
        .send(&s.app)
        .await
        .expect(StatusCode::OK);
    req(Method::DELETE, &format!("/api/auth/sessions/{other}"))
        .cookie(&first)
        .send(&s.app)
        .await
        .expect_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    // Another user's session ids are not found either.
    let eve = s.user("eve").await;
    req(Method::DELETE, "/api/auth/sessions/0000000000000000")
        .bearer(eve["session_token"].as_str().unwrap())
        .send(&s.app)
        .await
        .expect_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    req(Method::POST, "/api/auth/logout-all").cookie(&second).send(&s.app).await.expect(StatusCode::OK);
    for session in [&first, &second] {
        req(Method::GET, "/api/auth/session")
            .cookie(session)
            .send(&s.app)
            .await
            .expect_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    }
    req(Method::GET, "/api/auth/session")
        .bearer(eve["session_token"].as_str().unwrap())
        .send(&s.app)
        .await
        .expect(StatusCode::OK);
}

#[tokio::test]
async fn resend_verification_answers_the_same_for_unknown_addresses() {
    let s = server();
    s.user("kim").await;
    let known = req(Method::POST, "/api/auth/resend-verification")
        .json(json!({ "email": "kim@example.com" }))
        .send(&s.app)
        .await
        .expect(StatusCode::OK);
    let unknown = req(Method::POST, "/api/auth/resend-verification")
        .json(json!({ "email": "nobody@example.com" }))
        .send(&s.app)
        .await
        .expect(StatusCode::OK);
    assert_eq!(known.text, unknown.text);
}

#[tokio::test]
async fn bad_signup_input_gets_clear_errors_and_stores_nothing() {
    let s = server();
    let cases = [
        json!({ "name": "x", "email": "not-an-email", "password": PASSWORD }),
        json!({ "name": "x", "email": "x@example.com", "password": "short" }),
        json!({ "name": "x", "email": 42, "password": PASSWORD }),
        json!({ "name": "x", "email": "x@example.com" }),
        json!([1, 2, 3]),
    ];
    for body in cases {
        req(Method::POST, "/api/auth/signup")
            .json(body.clone())
            .send(&s.app)
            .await
            .expect_error(StatusCode::BAD_REQUEST, "INVALID_INPUT");
    }
    req(Method::POST, "/api/auth/signup")
        .raw("application/json", "{not json")
        .send(&s.app)
        .await
        .expect_error(StatusCode::BAD_REQUEST, "INVALID_INPUT");
    req(Method::POST, "/api/auth/signup")
        .raw("text/plain", "hello")
        .send(&s.app)
        .await
        .expect_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE");
    assert_eq!(s.state.host().db().count_users().unwrap(), 0);
}

#[tokio::test]
async fn c11_answers_that_could_reveal_an_account_take_at_least_the_floor_either_way() {
    let floor = std::time::Duration::from_millis(300);
    let t = server_with(|c| c.min_answer_time = floor);
    t.user("known").await;
    let cases = [
        ("/api/auth/password-reset/request", json!({ "email": "known@example.com" })),
        ("/api/auth/password-reset/request", json!({ "email": "nobody@example.com" })),
        ("/api/auth/resend-verification", json!({ "email": "known@example.com" })),
        ("/api/auth/resend-verification", json!({ "email": "nobody@example.com" })),
        ("/api/auth/signup", json!({ "name": "other", "email": "known@example.com", "password": PASSWORD })),
        ("/api/auth/signup", json!({ "name": "fresh", "email": "fresh@example.com", "password": PASSWORD })),
    ];
    let mut answers = Vec::new();
    for (path, body) in cases {
        let started = std::time::Instant::now();
        let r = req(Method::POST, path).json(body.clone()).send(&t.app).await.expect(StatusCode::OK);
        assert!(started.elapsed() >= floor, "{path} {body} answered before the floor");
        answers.push((path, r.body));
    }
    // Known and unknown addresses get the same body too.
    for pair in answers.chunks(2) {
        assert_eq!(pair[0], pair[1]);
    }
    // A refused request waits as long (its refusal does not depend on the account either).
    let started = std::time::Instant::now();
    req(Method::POST, "/api/auth/password-reset/request")
        .json(json!({ "email": "not an address" }))
        .send(&t.app)
        .await
        .expect_error(StatusCode::BAD_REQUEST, "INVALID_INPUT");
    assert!(started.elapsed() >= floor);
}

#[tokio::test]
async fn accounts_with_a_role_are_made_by_the_auth_plugin_for_administrators_only() {
    let s = server();
    let admin = s.admin().await;
    let jo = s.user("jo").await;
    let jo_token = jo["session_token"].as_str().unwrap();
    let kim = json!({ "name": "Kim", "email": "kim@example.com", "password": PASSWORD, "role": "admin", "email_verified": true });
    // Not a public function: a regular user cannot reach it, and nothing is created.
    req(Method::POST, "/api/plugins/auth/call/create_user")
        .bearer(jo_token)
        .json(kim.clone())
        .send(&s.app)
        .await
        .expect_error(StatusCode::FORBIDDEN, "PERMISSION_DENIED");
    assert!(s.state.host().db().get_user_by_email("kim@example.com").is_err());
    // The plugin's rules answer, not a copy of them in the server.
    for (field, bad) in [("role", "root"), ("password", "short"), ("email", "no-at-sign")] {
        let mut body = kim.clone();
        body[field] = json!(bad);
        let r = req(Method::POST, "/api/plugins/auth/call/create_user").cookie(&admin).json(body).send(&s.app).await;
        r.expect_error(StatusCode::BAD_REQUEST, "INVALID_INPUT");
    }
    assert!(s.state.host().db().get_user_by_email("kim@example.com").is_err());
    let made = req(Method::POST, "/api/plugins/auth/call/create_user")
        .cookie(&admin)
        .json(kim.clone())
        .send(&s.app)
        .await
        .expect(StatusCode::OK);
    assert_eq!(made.body["role"], "admin", "{}", made.text);
    assert_eq!(made.body["email_verified"], true);
    req(Method::POST, "/api/plugins/auth/call/create_user")
        .cookie(&admin)
        .json(kim)
        .send(&s.app)
        .await
        .expect_error(StatusCode::CONFLICT, "USER_EXISTS");
    let login = s.login("kim@example.com", PASSWORD).await.expect(StatusCode::OK);
    assert_eq!(login.body["user"]["role"], "admin");
    let filter = a2e_db::AuditFilter { kind: Some("admin.created".into()), ..Default::default() };
    let events = s.state.host().db().list_audit_events(&filter, a2e_db::Page::default()).unwrap();
    // The setup's administrator and Kim.
    assert_eq!(events.len(), 2);
    assert!(events.iter().all(|e| e.plugin.as_deref() == Some("auth")));
}

#[tokio::test]
async fn an_access_token_marks_and_ends_its_own_session() {
    let s = server();
    let jo = s.user("jo").await;
    let access = jo["access_token"].as_str().unwrap();
    let list = req(Method::GET, "/api/auth/sessions").bearer(access).send(&s.app).await.expect(StatusCode::OK);
    let items = list.body.as_array().unwrap();
    assert_eq!(items.len(), 1, "{}", list.text);
    assert_eq!(items[0]["current"], true);
    let id = items[0]["id"].as_str().unwrap().to_owned();
    // Ids that are not 16 hex digits are not found, and end nothing.
    for bad in ["zzzzzzzzzzzzzzzz", "0123", &id[..15]] {
        req(Method::DELETE, &format!("/api/auth/sessions/{bad}"))
            .bearer(access)
            .send(&s.app)
            .await
            .expect_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    }
    let ended = req(Method::DELETE, &format!("/api/auth/sessions/{id}"))
        .bearer(access)
        .send(&s.app)
        .await
        .expect(StatusCode::OK);
    assert_eq!(ended.body["current"], true);
    req(Method::GET, "/api/auth/session")
        .bearer(access)
        .send(&s.app)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
}
