//! Cross-cutting behaviour: CSRF, tokens in URLs, body limits, rate limits, security headers,
//! health, metrics, the OpenAPI document and the UI fallback.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::{req, server, server_with, PASSWORD};

#[tokio::test]
async fn cookie_requests_from_another_origin_or_without_origin_are_refused() {
    let s = server();
    let session = s.user("ann").await["session_token"].as_str().unwrap().to_owned();
    let r = crate::raw_req(Method::POST, "/api/auth/logout-all")
        .header("origin", "http://evil.example")
        .cookie(&session)
        .send(&s.app)
        .await;
    r.expect_error(StatusCode::FORBIDDEN, "CSRF");
    crate::raw_req(Method::POST, "/api/auth/logout-all")
        .cookie(&session)
        .send(&s.app)
        .await
        .expect_error(StatusCode::FORBIDDEN, "CSRF");
    // Still signed in: nothing happened.
    req(Method::GET, "/api/auth/session").cookie(&session).send(&s.app).await.expect(StatusCode::OK);
    // A bearer client without cookies needs no Origin.
    crate::raw_req(Method::POST, "/api/auth/logout-all").bearer(&session).send(&s.app).await.expect(StatusCode::OK);
}

#[tokio::test]
async fn configured_extra_origins_are_allowed() {
    let s = server_with(|c| c.extra_origins = vec!["http://localhost:5173".into()]);
    let session = s.user("ben").await["session_token"].as_str().unwrap().to_owned();
    crate::raw_req(Method::PATCH, "/api/auth/profile")
        .header("origin", "http://localhost:5173")
        .cookie(&session)
        .json(json!({ "bio": "hi" }))
        .send(&s.app)
        .await
        .expect(StatusCode::OK);
    crate::raw_req(Method::PATCH, "/api/auth/profile")
        .header("origin", "http://localhost:5174")
        .cookie(&session)
        .json(json!({ "bio": "hi" }))
        .send(&s.app)
        .await
        .expect_error(StatusCode::FORBIDDEN, "CSRF");
}

#[tokio::test]
async fn tokens_in_url_queries_are_never_accepted() {
    let s = server();
    let login = s.user("cy").await;
    let session = login["session_token"].as_str().unwrap();
    for name in ["token", "session_token", "access_token", "refresh_token", "TOKEN"] {
        req(Method::GET, &format!("/api/auth/session?{name}={session}"))
            .send(&s.app)
            .await
            .expect_error(StatusCode::BAD_REQUEST, "TOKEN_IN_URL");
    }
    req(Method::POST, &format!("/api/auth/verify-email?token={session}"))
        .json(json!({ "token": "x" }))
        .send(&s.app)
        .await
        .expect_error(StatusCode::BAD_REQUEST, "TOKEN_IN_URL");
}

#[tokio::test]
async fn oversized_bodies_are_refused_with_413_before_any_work() {
    let s = server();
    let big = json!({ "name": "x".repeat(100_000), "email": "big@example.com", "password": PASSWORD });
    req(Method::POST, "/api/auth/signup")
        .json(big)
        .send(&s.app)
        .await
        .expect_error(StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE");
    assert_eq!(s.state.host().db().count_users().unwrap(), 0);
}

#[tokio::test]
async fn auth_routes_are_rate_limited_per_client_address() {
    let s = server_with(|c| c.auth_per_ip_per_minute = 3);
    for _ in 0..3 {
        req(Method::POST, "/api/auth/login")
            .from_addr("10.0.0.1:1000")
            .json(json!({ "email": "x@example.com", "password": "whatever1" }))
            .send(&s.app)
            .await
            .expect(StatusCode::UNAUTHORIZED);
    }
    req(Method::POST, "/api/auth/login")
        .from_addr("10.0.0.1:1001")
        .json(json!({ "email": "x@example.com", "password": "whatever1" }))
        .send(&s.app)
        .await
        .expect_error(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED");
    // Another address is not affected, and reads are not limited.
    req(Method::POST, "/api/auth/login")
        .from_addr("10.0.0.2:1000")
        .json(json!({ "email": "x@example.com", "password": "whatever1" }))
        .send(&s.app)
        .await
        .expect(StatusCode::UNAUTHORIZED);
    req(Method::GET, "/api/setup").from_addr("10.0.0.1:1000").send(&s.app).await.expect(StatusCode::OK);
}

#[tokio::test]
async fn auth_routes_are_rate_limited_per_account_across_addresses() {
    let s = server_with(|c| c.auth_per_account_per_minute = 2);
    for (i, email) in ["Target@example.com", "target@example.com"].iter().enumerate() {
        req(Method::POST, "/api/auth/password-reset/request")
            .from_addr(&format!("10.1.0.{i}:1000"))
            .json(json!({ "email": email }))
            .send(&s.app)
            .await
            .expect(StatusCode::OK);
    }
    req(Method::POST, "/api/auth/login")
        .from_addr("10.1.0.9:1000")
        .json(json!({ "email": " TARGET@example.com", "password": "whatever1" }))
        .send(&s.app)
        .await
        .expect_error(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED");
    req(Method::POST, "/api/auth/password-reset/request")
        .json(json!({ "email": "other@example.com" }))
        .send(&s.app)
        .await
        .expect(StatusCode::OK);
}

#[tokio::test]
async fn every_answer_carries_the_security_headers() {
    let s = server();
    for path in ["/", "/login", "/api/setup", "/api/auth/session", "/healthz", "/api/nope"] {
        let r = req(Method::GET, path).send(&s.app).await;
        let h = &r.headers;
        let csp = h.get("content-security-policy").unwrap_or_else(|| panic!("no CSP on {path}")).to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'self'"), "{csp}");
        assert_eq!(h.get("x-content-type-options").unwrap(), "nosniff", "{path}");
        assert_eq!(h.get("referrer-policy").unwrap(), "no-referrer", "{path}");
        assert_eq!(h.get("x-frame-options").unwrap(), "DENY", "{path}");
    }
}

#[tokio::test]
async fn unknown_api_routes_are_json_404s_and_other_paths_get_the_ui() {
    let s = server();
    req(Method::GET, "/api/nope").send(&s.app).await.expect_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    let ui = req(Method::GET, "/verify-email").send(&s.app).await;
    if a2e_server::ui_built() {
        assert_eq!(ui.status, StatusCode::OK);
        assert!(ui.text.contains("<div id=\"root\">"), "{}", ui.text);
    } else {
        assert_eq!(ui.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(ui.text.contains("not built"), "{}", ui.text);
    }
    // Wrong method on a known route.
    let r = req(Method::PUT, "/api/auth/login").json(json!({})).send(&s.app).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn healthz_and_metrics_report() {
    let s = server();
    let r = req(Method::GET, "/healthz").send(&s.app).await.expect(StatusCode::OK);
    assert_eq!(r.body["status"], "ok");
    assert_eq!(r.body["database"], true);
    s.user("dee").await;
    req(Method::GET, "/api/auth/session").send(&s.app).await.expect(StatusCode::UNAUTHORIZED);
    let m = req(Method::GET, "/metrics").send(&s.app).await.expect(StatusCode::OK);
    let content_type = m.headers.get("content-type").unwrap().to_str().unwrap();
    assert!(content_type.starts_with("application/openmetrics-text"), "{content_type}");
    assert!(m.text.ends_with("# EOF\n"), "{}", m.text);
    let line = |prefix: &str| {
        m.text
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` in:\n{}", m.text))
            .rsplit(' ')
            .next()
            .unwrap()
            .parse::<f64>()
            .unwrap()
    };
    assert_eq!(line(r#"a2e_http_requests_total{method="POST",route="/api/auth/signup",status="200"}"#), 1.0);
    assert_eq!(line(r#"a2e_http_requests_total{method="GET",route="/api/auth/session",status="401"}"#), 1.0);
    assert!(line(r#"a2e_plugin_calls_total{plugin="auth",outcome="ok"}"#) >= 2.0);
    assert!(line(r#"a2e_http_request_duration_seconds_count{method="POST",route="/api/auth/login"}"#) >= 1.0);
}

/// Every path and method in the OpenAPI document is a route of the app (not the 404 fallback,
/// not 405), and every API route the app serves is in the document.
#[tokio::test]
async fn openapi_document_matches_the_routes() {
    let s = server();
    let doc = req(Method::GET, "/api/openapi.json").send(&s.app).await.expect(StatusCode::OK).body;
    let paths = doc["paths"].as_object().unwrap();
    let mut seen = Vec::new();
    for (path, item) in paths {
        for method in ["get", "post", "patch", "delete", "put"] {
            if item.get(method).is_none() {
                continue;
            }
            let concrete = path
                .replace("{name}", "auth")
                .replace("{function}", "get_profile")
                .replace("{id}", "0")
                .replace("{grant}", "log");
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let r = req(m, &concrete).json(json!({})).send(&s.app).await;
            assert_ne!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}: {}", r.text);
            assert!(
                !(r.status == StatusCode::NOT_FOUND && r.text.contains("no API route")),
                "{method} {path} is documented but not routed"
            );
            // Without credentials: exactly the operations documented as needing them answer 401.
            if path.starts_with("/api/") {
                let needs_sign_in = item[method].get("security").is_some();
                assert_eq!(r.status == StatusCode::UNAUTHORIZED, needs_sign_in, "{method} {path}: {}", r.text);
                assert!(
                    item[method]["responses"].get(r.status.as_str()).is_some(),
                    "{method} {path} answered an undocumented {}",
                    r.status
                );
            }
            seen.push(format!("{} {path}", method.to_uppercase()));
        }
    }
    let expected = [
        "GET /api/setup",
        "POST /api/setup",
        "POST /api/auth/signup",
        "POST /api/auth/login",
        "POST /api/auth/logout",
        "POST /api/auth/logout-all",
        "GET /api/auth/session",
        "POST /api/auth/verify-email",
        "POST /api/auth/resend-verification",
        "POST /api/auth/password-reset/request",
        "POST /api/auth/password-reset/confirm",
        "POST /api/auth/change-password",
        "POST /api/auth/refresh",
        "GET /api/auth/profile",
        "PATCH /api/auth/profile",
        "GET /api/auth/sessions",
        "DELETE /api/auth/sessions/{id}",
        "GET /api/plugins",
        "POST /api/plugins",
        "GET /api/plugins/{name}",
        "DELETE /api/plugins/{name}",
        "POST /api/plugins/{name}/enable",
        "POST /api/plugins/{name}/disable",
        "GET /api/plugins/{name}/grants",
        "POST /api/plugins/{name}/grants",
        "DELETE /api/plugins/{name}/grants/{grant}",
        "GET /api/plugins/{name}/secrets",
        "PUT /api/plugins/{name}/secrets/{secret}",
        "DELETE /api/plugins/{name}/secrets/{secret}",
        "POST /api/plugins/{name}/call/{function}",
        "GET /api/admin/db/status",
        "GET /api/admin/db/stats",
        "POST /api/admin/db/verify",
        "POST /api/admin/db/backup",
        "GET /api/admin/audit",
        "GET /api/events",
        "GET /api/rt",
        "GET /api/rooms",
        "GET /healthz",
        "GET /metrics",
    ];
    seen.sort();
    let mut expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(seen, expected);
    assert_eq!(doc, serde_json::to_value(a2e_server::openapi()).unwrap());
}

#[tokio::test]
async fn json_bodies_must_be_objects_of_the_json_media_type() {
    let s = server();
    let session = s.user("ann").await["session_token"].as_str().unwrap().to_owned();
    // serde would read the struct from an array of its fields; the API refuses anything but an object.
    let refused = req(Method::PATCH, "/api/auth/profile")
        .cookie(&session)
        .json(json!(["ann", null, "a bio"]))
        .send(&s.app)
        .await
        .expect_error(StatusCode::BAD_REQUEST, "INVALID_INPUT");
    assert!(refused.body["message"].as_str().unwrap().contains("JSON object"), "{}", refused.text);
    req(Method::PATCH, "/api/auth/profile")
        .cookie(&session)
        .raw("text/plain", "{\"bio\":\"x\"}")
        .send(&s.app)
        .await
        .expect_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE");
    let profile = req(Method::GET, "/api/auth/profile").cookie(&session).send(&s.app).await.expect(StatusCode::OK);
    assert_ne!(profile.body["bio"], "a bio", "nothing was changed");
}

#[tokio::test]
async fn answers_are_gzipped_for_clients_that_accept_it_and_plain_for_others() {
    let s = server();
    let plain = req(Method::GET, "/api/openapi.json").send(&s.app).await.expect(StatusCode::OK);
    assert!(plain.headers.get("content-encoding").is_none());
    assert!(plain.body["paths"].is_object());
    let gzipped = req(Method::GET, "/api/openapi.json")
        .header("accept-encoding", "gzip")
        .send(&s.app)
        .await
        .expect(StatusCode::OK);
    assert_eq!(gzipped.headers.get("content-encoding").unwrap(), "gzip");
    assert_eq!(gzipped.headers.get("x-content-type-options").unwrap(), "nosniff");
    // Not JSON on the wire: a gzip stream (it starts with the bytes 1f 8b).
    assert!(gzipped.body.is_null());
    assert!(gzipped.text.starts_with('\u{1f}'), "{:?}", gzipped.text.chars().take(4).collect::<String>());
}
