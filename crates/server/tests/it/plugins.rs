//! The plugin API: uploads, grants, calls, and who may do what.

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::{req, server, wasm_dir, TestServer};

const BOUNDARY: &str = "a2e-test-boundary";

/// A multipart body with the given (field, file name, bytes) parts.
fn multipart(parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, file, bytes) in parts {
        body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        match file {
            Some(f) => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
            ),
            None => body.extend_from_slice(format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes()),
        }
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

fn template_wasm() -> Vec<u8> {
    std::fs::read(wasm_dir().join("template.wasm")).unwrap()
}

fn template_manifest(wasm: &[u8], public: &[&str]) -> Value {
    json!({
        "name": "template",
        "version": "1.0.0",
        "description": "the template plugin",
        "abi_version": 1,
        "wasm": { "file": "template.wasm", "sha256": a2e_host::manifest::sha256_hex(wasm) },
        "exports": ["greet", "repeat", "validate", "get_info"],
        "public": public,
        "grants": ["log", "time"],
    })
}

async fn upload(s: &TestServer, session: &str, parts: &[(&str, Option<&str>, &[u8])]) -> crate::Resp {
    req(Method::POST, "/api/plugins")
        .cookie(session)
        .raw(&format!("multipart/form-data; boundary={BOUNDARY}"), multipart(parts))
        .send(&s.app)
        .await
}

async fn install_template(s: &TestServer, admin: &str) -> Value {
    let wasm = template_wasm();
    let manifest = template_manifest(&wasm, &["greet"]).to_string();
    upload(
        s,
        admin,
        &[
            ("wasm", Some("template.wasm"), &wasm),
            ("manifest", Some("plugin.json"), manifest.as_bytes()),
            ("grant", None, b"true"),
        ],
    )
    .await
    .expect(StatusCode::OK)
    .body
}

#[tokio::test]
async fn upload_with_manifest_installs_grants_and_calls() {
    let s = server();
    let admin = s.admin().await;
    let info = install_template(&s, &admin).await;
    assert_eq!(info["name"], "template");
    assert_eq!(info["granted"], json!(["log", "time"]));
    let r = req(Method::POST, "/api/plugins/template/call/greet")
        .cookie(&admin)
        .json(json!({ "name": "Ada" }))
        .send(&s.app)
        .await
        .expect(StatusCode::OK);
    assert_eq!(r.body["message"], "Hello, Ada!");
    // The plugin's own error code comes through with a 4xx status.
    req(Method::POST, "/api/plugins/template/call/greet")
        .cookie(&admin)
        .json(json!({ "name": " " }))
        .send(&s.app)
        .await
        .expect_error(StatusCode::BAD_REQUEST, "EMPTY_NAME");
    let list = req(Method::GET, "/api/plugins").cookie(&admin).send(&s.app).await.expect(StatusCode::OK);
    let names: Vec<&str> = list.body.as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["anticheat", "audit", "auth", "chat", "game-logic", "template", "tick-manager"]);
    // The audit log names the install.
    let events = s
        .state
        .host()
        .db()
        .list_audit_events(
            &a2e_db::AuditFilter { kind: Some("plugin.installed".into()), ..Default::default() },
            a2e_db::Page::default(),
        )
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].plugin.as_deref(), Some("template"));
}

#[tokio::test]
async fn revoking_a_grant_makes_the_next_call_fail_with_permission_denied() {
    let s = server();
    let admin = s.admin().await;
    install_template(&s, &admin).await;
    let r = req(Method::DELETE, "/api/plugins/template/grants/time")
        .cookie(&admin)
        .send(&s.app)
        .await
        .expect(StatusCode::OK);
    assert_eq!(r.body["granted"], json!(["log"]));
    req(Method::POST, "/api/plugins/template/call/greet")
        .cookie(&admin)
        .json(json!({ "name": "Ada" }))
        .send(&s.app)
        .await
        .expect_error(StatusCode::FORBIDDEN, "PERMISSION_DENIED");
    req(Method::DELETE, "/api/plugins/template/grants/time")
        .cookie(&admin)
        .send(&s.app)
        .await
        .expect_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    req(Method::DELETE, "/api/plugins/template/grants/root")
        .cookie(&admin)
        .send(&s.app)
        .await
        .expect_error(StatusCode::BAD_REQUEST, "INVALID_INPUT");
    let r = req(Method::POST, "/api/plugins/template/grants")
        .cookie(&admin)
        .json(json!({ "grant": "time" }))
        .send(&s.app)
        .await
        .expect(StatusCode::OK);
    assert_eq!(r.body["granted"], json!(["log", "time"]));
    let g = req(Method::GET, "/api/plugins/template/grants").cookie(&admin).send(&s.app).await.expect(StatusCode::OK);
    assert_eq!(g.body["requested"], json!(["log", "time"]));
    req(Method::POST, "/api/plugins/template/call/greet")
        .cookie(&admin)
        .json(json!({ "name": "Ada" }))
        .send(&s.app)
        .await
        .expect(StatusCode::OK);
}

#[tokio::test]
async fn a_bare_module_installs_with_no_grants() {
    let s = server();
    let admin = s.admin().await;
    let wasm = template_wasm();
    let info = upload(&s, &admin, &[("wasm", Some("hello.wasm"), &wasm)]).await.expect(StatusCode::OK).body;
    assert_eq!(info["name"], "hello");
    assert_eq!(info["granted"], json!([]));
    req(Method::POST, "/api/plugins/hello/call/greet")
        .cookie(&admin)
        .json(json!({ "name": "Ada" }))
        .send(&s.app)
        .await
        .expect_error(StatusCode::FORBIDDEN, "PERMISSION_DENIED");
}

#[tokio::test]
async fn bad_uploads_get_clear_errors_and_install_nothing() {
    let s = server();
    let admin = s.admin().await;
    let wasm = template_wasm();
    let mut wrong_hash = template_manifest(&wasm, &[]);
    wrong_hash["wasm"]["sha256"] = json!("00".repeat(32));
    let mut unknown_field = template_manifest(&wasm, &[]);
    unknown_field["surprise"] = json!(true);
    let mut unknown_grant = template_manifest(&wasm, &[]);
    unknown_grant["grants"] = json!(["root"]);
    type Part<'a> = (&'a str, Option<&'a str>, Vec<u8>);
    let cases: Vec<(Vec<Part>, &str)> = vec![
        (vec![("manifest", Some("plugin.json"), template_manifest(&wasm, &[]).to_string().into_bytes())], "wasm"),
        (vec![("wasm", Some("junk.wasm"), b"definitely not wasm".to_vec())], "WebAssembly"),
        (
            vec![
                ("wasm", Some("t.wasm"), wasm.clone()),
                ("manifest", Some("plugin.json"), wrong_hash.to_string().into_bytes()),
            ],
            "sha256",
        ),
        (
            vec![
                ("wasm", Some("t.wasm"), wasm.clone()),
                ("manifest", Some("plugin.json"), unknown_field.to_string().into_bytes()),
            ],
            "surprise",
        ),
        (
            vec![
                ("wasm", Some("t.wasm"), wasm.clone()),
                ("manifest", Some("plugin.json"), unknown_grant.to_string().into_bytes()),
            ],
            "root",
        ),
        (vec![("wasm", Some("t.wasm"), wasm.clone()), ("manifest", Some("plugin.json"), b"{".to_vec())], "plugin.json"),
        (vec![("wasm", Some("t.wasm"), wasm.clone()), ("color", None, b"blue".to_vec())], "color"),
    ];
    for (parts, mentions) in cases {
        let parts: Vec<(&str, Option<&str>, &[u8])> = parts.iter().map(|(n, f, b)| (*n, *f, b.as_slice())).collect();
        let r = upload(&s, &admin, &parts).await.expect_error(StatusCode::BAD_REQUEST, "INVALID_INPUT");
        assert!(
            r.body["message"].as_str().unwrap().to_lowercase().contains(&mentions.to_lowercase()),
            "{mentions}: {}",
            r.text
        );
    }
    req(Method::POST, "/api/plugins")
        .cookie(&admin)
        .json(json!({ "wasm": "x" }))
        .send(&s.app)
        .await
        .expect_error(StatusCode::BAD_REQUEST, "INVALID_INPUT");
    let list = s.state.host().list().unwrap();
    assert_eq!(list.len(), a2e_server::bundled::sources().unwrap().len(), "only the bundled plugins: {list:?}");
    // A second install of the same name needs replace.
    install_template(&s, &admin).await;
    let manifest = template_manifest(&wasm, &[]).to_string();
    upload(&s, &admin, &[("wasm", Some("t.wasm"), &wasm), ("manifest", Some("plugin.json"), manifest.as_bytes())])
        .await
        .expect_error(StatusCode::CONFLICT, "ALREADY_EXISTS");
    upload(
        &s,
        &admin,
        &[
            ("wasm", Some("t.wasm"), &wasm),
            ("manifest", Some("plugin.json"), manifest.as_bytes()),
            ("replace", None, b"true"),
        ],
    )
    .await
    .expect(StatusCode::OK);
}

#[tokio::test]
async fn uploads_over_the_limit_are_refused() {
    let s = crate::server_with(|c| c.upload_limit = 64 * 1024);
    let admin = s.admin().await;
    let wasm = template_wasm();
    assert!(wasm.len() > 64 * 1024);
    upload(&s, &admin, &[("wasm", Some("t.wasm"), &wasm)])
        .await
        .expect_error(StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE");
}

#[tokio::test]
async fn upload_flags_other_than_true_or_false_are_refused_and_install_nothing() {
    let s = server();
    let admin = s.admin().await;
    let wasm = template_wasm();
    for (field, value) in [("replace", "yes"), ("grant", "on"), ("grant", "")] {
        let r = upload(&s, &admin, &[("wasm", Some("t.wasm"), &wasm), (field, None, value.as_bytes())]).await;
        let r = r.expect_error(StatusCode::BAD_REQUEST, "INVALID_INPUT");
        assert!(r.text.contains(field), "{}", r.text);
    }
    req(Method::GET, "/api/plugins/template")
        .cookie(&admin)
        .send(&s.app)
        .await
        .expect_error(StatusCode::NOT_FOUND, "UNKNOWN_PLUGIN");
}

#[tokio::test]
async fn regular_users_call_public_functions_only_and_cannot_manage_plugins() {
    let s = server();
    let admin = s.admin().await;
    install_template(&s, &admin).await;
    let user = s.user("uma").await;
    let session = user["session_token"].as_str().unwrap();
    req(Method::POST, "/api/plugins/template/call/greet")
        .cookie(session)
        .json(json!({ "name": "Uma" }))
        .send(&s.app)
        .await
        .expect(StatusCode::OK);
    req(Method::POST, "/api/plugins/template/call/repeat")
        .cookie(session)
        .json(json!({ "text": "x" }))
        .send(&s.app)
        .await
        .expect_error(StatusCode::FORBIDDEN, "PERMISSION_DENIED");
    req(Method::GET, "/api/plugins").cookie(session).send(&s.app).await.expect(StatusCode::OK);
    let wasm = template_wasm();
    upload(&s, session, &[("wasm", Some("t.wasm"), &wasm)])
        .await
        .expect_error(StatusCode::FORBIDDEN, "PERMISSION_DENIED");
    let forbidden = [
        (Method::DELETE, "/api/plugins/template"),
        (Method::POST, "/api/plugins/template/disable"),
        (Method::POST, "/api/plugins/template/enable"),
        (Method::GET, "/api/plugins/template/grants"),
        (Method::DELETE, "/api/plugins/template/grants/time"),
    ];
    for (method, path) in &forbidden {
        req(method.clone(), path)
            .cookie(session)
            .send(&s.app)
            .await
            .expect_error(StatusCode::FORBIDDEN, "PERMISSION_DENIED");
        req(method.clone(), path).send(&s.app).await.expect_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    }
    req(Method::POST, "/api/plugins/template/call/greet")
        .json(json!({ "name": "x" }))
        .send(&s.app)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    assert_eq!(s.state.host().info("template").unwrap().granted, ["log", "time"]);
}

#[tokio::test]
async fn calls_to_missing_disabled_or_removed_plugins_fail_clearly() {
    let s = server();
    let admin = s.admin().await;
    install_template(&s, &admin).await;
    req(Method::POST, "/api/plugins/nope/call/greet")
        .cookie(&admin)
        .json(json!({}))
        .send(&s.app)
        .await
        .expect_error(StatusCode::NOT_FOUND, "UNKNOWN_PLUGIN");
    req(Method::POST, "/api/plugins/template/call/nope")
        .cookie(&admin)
        .json(json!({}))
        .send(&s.app)
        .await
        .expect_error(StatusCode::NOT_FOUND, "UNKNOWN_FUNCTION");
    req(Method::POST, "/api/plugins/template/call/greet")
        .cookie(&admin)
        .raw("application/json", "{oops")
        .send(&s.app)
        .await
        .expect_error(StatusCode::BAD_REQUEST, "INVALID_INPUT");
    let r = req(Method::POST, "/api/plugins/template/disable").cookie(&admin).send(&s.app).await.expect(StatusCode::OK);
    assert_eq!(r.body["enabled"], false);
    req(Method::POST, "/api/plugins/template/call/greet")
        .cookie(&admin)
        .json(json!({ "name": "x" }))
        .send(&s.app)
        .await
        .expect_error(StatusCode::CONFLICT, "PLUGIN_DISABLED");
    req(Method::POST, "/api/plugins/template/enable").cookie(&admin).send(&s.app).await.expect(StatusCode::OK);
    req(Method::DELETE, "/api/plugins/template?purge=maybe")
        .cookie(&admin)
        .send(&s.app)
        .await
        .expect_error(StatusCode::BAD_REQUEST, "INVALID_INPUT");
    req(Method::DELETE, "/api/plugins/template?purge=true").cookie(&admin).send(&s.app).await.expect(StatusCode::OK);
    req(Method::GET, "/api/plugins/template")
        .cookie(&admin)
        .send(&s.app)
        .await
        .expect_error(StatusCode::NOT_FOUND, "UNKNOWN_PLUGIN");
    req(Method::DELETE, "/api/plugins/template")
        .cookie(&admin)
        .send(&s.app)
        .await
        .expect_error(StatusCode::NOT_FOUND, "UNKNOWN_PLUGIN");
}

#[tokio::test]
async fn the_auth_api_says_so_when_the_auth_plugin_is_missing() {
    let s = server();
    s.admin().await;
    // Only a shell can remove it (the API refuses: see the next test); `a2e plugin remove auth
    // --force` does what this does.
    s.state.host().remove("auth", false).unwrap();
    req(Method::POST, "/api/auth/login")
        .json(json!({ "email": "admin@example.com", "password": crate::PASSWORD }))
        .send(&s.app)
        .await
        .expect_error(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE");
    // Installing the bundled plugins again brings it back.
    a2e_server::bundled::install(s.state.host()).unwrap();
    s.login("admin@example.com", crate::PASSWORD).await.expect(StatusCode::OK);
}

#[tokio::test]
async fn a_failed_call_answers_its_typed_code_and_keeps_the_cause() {
    let s = server();
    let admin = s.admin().await;
    let wasm = std::fs::read(wasm_dir().join("fixture.wasm")).unwrap();
    let manifest = json!({
        "name": "fx",
        "version": "1.0.0",
        "abi_version": 1,
        "wasm": { "file": "fixture.wasm", "sha256": a2e_host::manifest::sha256_hex(&wasm) },
        "exports": ["echo", "trap", "spin"],
        "limits": { "timeout_ms": 300 },
    })
    .to_string();
    upload(
        &s,
        &admin,
        &[("wasm", Some("fixture.wasm"), &wasm), ("manifest", Some("plugin.json"), manifest.as_bytes())],
    )
    .await
    .expect(StatusCode::OK);
    let call = |function: &'static str| req(Method::POST, &format!("/api/plugins/fx/call/{function}")).cookie(&admin);
    let trap = call("trap").json(json!({})).send(&s.app).await.expect_error(StatusCode::BAD_GATEWAY, "PLUGIN_TRAPPED");
    let message = trap.body["message"].as_str().unwrap();
    assert!(message.contains("unreachable"), "the trap's cause is kept: {message}");
    call("spin").json(json!({})).send(&s.app).await.expect_error(StatusCode::GATEWAY_TIMEOUT, "PLUGIN_TIMEOUT");
    // The plugin still answers after both.
    call("echo").json(json!("hi")).send(&s.app).await.expect(StatusCode::OK);
}

#[tokio::test]
async fn the_sign_in_plugin_cannot_be_disabled_removed_or_stripped_through_the_api() {
    let s = server();
    let admin = s.admin().await;
    let refused = req(Method::POST, "/api/plugins/auth/disable")
        .cookie(&admin)
        .send(&s.app)
        .await
        .expect_error(StatusCode::CONFLICT, "SIGN_IN_PROVIDER");
    assert!(refused.body["message"].as_str().unwrap().contains("lock every account out"), "{}", refused.text);
    req(Method::DELETE, "/api/plugins/auth")
        .cookie(&admin)
        .send(&s.app)
        .await
        .expect_error(StatusCode::CONFLICT, "SIGN_IN_PROVIDER");
    req(Method::DELETE, "/api/plugins/auth/grants/db:sessions")
        .cookie(&admin)
        .send(&s.app)
        .await
        .expect_error(StatusCode::CONFLICT, "SIGN_IN_PROVIDER");
    // A grant the manifest does not ask for may go; and sign-in still works after all of the above.
    req(Method::POST, "/api/plugins/auth/grants")
        .cookie(&admin)
        .json(json!({ "grant": "kv" }))
        .send(&s.app)
        .await
        .expect(StatusCode::OK);
    req(Method::DELETE, "/api/plugins/auth/grants/kv").cookie(&admin).send(&s.app).await.expect(StatusCode::OK);
    let plugins = req(Method::GET, "/api/plugins").cookie(&admin).send(&s.app).await.expect(StatusCode::OK);
    let auth = plugins.body.as_array().unwrap().iter().find(|p| p["name"] == "auth").unwrap().clone();
    assert_eq!(auth["enabled"], true);
    req(Method::GET, "/api/auth/session").cookie(&admin).send(&s.app).await.expect(StatusCode::OK);
}

#[tokio::test]
async fn plugin_secrets_are_set_listed_and_deleted_by_administrators_and_never_shown() {
    let s = server();
    let admin = s.admin().await;
    install_template(&s, &admin).await;
    let put = |name: &str, body: Value| {
        req(Method::PUT, &format!("/api/plugins/template/secrets/{name}")).cookie(&admin).json(body)
    };
    let set = put("api.key", json!({ "value": "s3cret-value", "origin": "https://api.example.com/" }))
        .send(&s.app)
        .await
        .expect(StatusCode::OK);
    assert_eq!(set.body["name"], "api.key");
    assert_eq!(set.body["origin"], "https://api.example.com");
    let listed =
        req(Method::GET, "/api/plugins/template/secrets").cookie(&admin).send(&s.app).await.expect(StatusCode::OK);
    assert_eq!(listed.body.as_array().map(Vec::len), Some(1), "{}", listed.body);
    assert!(!listed.body.to_string().contains("s3cret"), "{}", listed.body);
    // Bad input is refused with its reason and leaves the stored secret as it was.
    for (name, body) in [
        ("api.key", json!({ "value": "other", "origin": "ftp://api.example.com" })),
        ("api.key", json!({ "value": "", "origin": "https://api.example.com" })),
        ("api.key", json!({ "value": "a\u{1}b", "origin": "https://api.example.com" })),
        ("API", json!({ "value": "other", "origin": "https://api.example.com" })),
        ("api.key", json!({ "value": "other" })),
    ] {
        put(name, body.clone()).send(&s.app).await.expect_error(StatusCode::BAD_REQUEST, "INVALID_INPUT");
    }
    let stored = s.state.host().db().plugin_secret("template", "api.key").unwrap().unwrap();
    assert_eq!(stored.0.as_str(), "s3cret-value");
    req(Method::PUT, "/api/plugins/nobody/secrets/key")
        .cookie(&admin)
        .json(json!({ "value": "v", "origin": "https://api.example.com" }))
        .send(&s.app)
        .await
        .expect_error(StatusCode::NOT_FOUND, "UNKNOWN_PLUGIN");
    // Other users can do none of it.
    let uma = s.user("uma").await;
    let token = uma["session_token"].as_str().unwrap();
    req(Method::GET, "/api/plugins/template/secrets")
        .bearer(token)
        .send(&s.app)
        .await
        .expect_error(StatusCode::FORBIDDEN, "PERMISSION_DENIED");
    req(Method::PUT, "/api/plugins/template/secrets/api.key")
        .bearer(token)
        .json(json!({ "value": "mine", "origin": "https://evil.example" }))
        .send(&s.app)
        .await
        .expect_error(StatusCode::FORBIDDEN, "PERMISSION_DENIED");
    req(Method::DELETE, "/api/plugins/template/secrets/api.key")
        .bearer(token)
        .send(&s.app)
        .await
        .expect_error(StatusCode::FORBIDDEN, "PERMISSION_DENIED");
    // The audit trail names the secret and its origin, never the value.
    let events = s
        .state
        .host()
        .db()
        .list_audit_events(
            &a2e_db::AuditFilter { kind: Some("secret.set".into()), ..Default::default() },
            a2e_db::Page::default(),
        )
        .unwrap();
    assert_eq!(events.len(), 1);
    assert!(!serde_json::to_string(&events[0].data).unwrap().contains("s3cret"));
    let deleted = req(Method::DELETE, "/api/plugins/template/secrets/api.key")
        .cookie(&admin)
        .send(&s.app)
        .await
        .expect(StatusCode::OK);
    assert_eq!(deleted.body, json!({ "deleted": true }));
    let again = req(Method::DELETE, "/api/plugins/template/secrets/api.key")
        .cookie(&admin)
        .send(&s.app)
        .await
        .expect(StatusCode::OK);
    assert_eq!(again.body, json!({ "deleted": false }));
    // A name no secret can have is bad input, not "nothing deleted".
    req(Method::DELETE, "/api/plugins/template/secrets/%C2%84")
        .cookie(&admin)
        .send(&s.app)
        .await
        .expect_error(StatusCode::BAD_REQUEST, "INVALID_INPUT");
}
