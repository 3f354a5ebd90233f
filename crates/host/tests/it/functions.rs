use a2e_abi::{Grant, HOST_FUNCTIONS};
use serde_json::{json, Value};

use crate::{all_grants, call_json, held_spec, host_fn, install_fixture, test_host, T0};

#[test]
fn every_host_function_works_end_to_end() {
    let t = test_host();
    install_fixture(&t, "fx", &all_grants(), json!({ "config": { "version": "7" } }));
    install_fixture(&t, "fx-callee", &[], json!({}));
    let mut events = t.host.subscribe(16);
    let server = crate::http::TestServer::start();
    let log = call_json(&t, "fx", "everything", json!({ "callee": "fx-callee", "http_url": server.url("/hello") }));
    let steps = log.as_array().unwrap();
    let failed: Vec<&Value> = steps.iter().filter(|s| s["ok"] != true).collect();
    assert!(failed.is_empty(), "failed steps: {failed:#?}");
    // Every host function was reached by the typed SDK.
    for spec in HOST_FUNCTIONS {
        assert!(steps.iter().any(|s| s["step"] == spec.name), "{} not exercised", spec.name);
    }
    // The effects are in the database, the outbox and the event bus.
    let db = t.host.db();
    assert_eq!(db.get_user_by_email("fx@example.com").unwrap().bio.as_deref(), Some("bio"));
    let audit = db.list_audit_events(&Default::default(), Default::default()).unwrap();
    assert_eq!(audit[0].kind, "fixture.everything");
    assert_eq!(audit[0].plugin.as_deref(), Some("fx"));
    assert_eq!(audit[0].at, T0);
    assert_eq!(events.try_recv().unwrap().kind, "fixture.everything");
    t.host.flush_mail();
    let outbox: Vec<_> = std::fs::read_dir(t.dir.path().join("outbox")).unwrap().collect();
    assert_eq!(outbox.len(), 1);
    let mail = std::fs::read_to_string(outbox[0].as_ref().unwrap().path()).unwrap();
    assert!(mail.contains("To: fx@example.com") && mail.contains("Subject: hello"), "{mail}");
}

#[test]
fn every_host_function_without_its_grant_is_permission_denied() {
    let t = test_host();
    install_fixture(&t, "fx", &[], json!({}));
    for spec in HOST_FUNCTIONS {
        let env = host_fn(&t, "fx", spec.name, json!({}));
        assert_eq!(env["success"], false, "{}", spec.name);
        assert_eq!(env["error"]["code"], "PERMISSION_DENIED", "{}: {env}", spec.name);
        assert!(env["error"]["message"].as_str().unwrap().contains(spec.grant.as_str()));
    }
    // No I/O happened before the check: nothing was written.
    let stats = t.host.db().stats().unwrap();
    assert!(
        stats
            .tables
            .iter()
            .filter(|(t, _)| !["plugin_grants", "host_secrets"].contains(&t.as_str()))
            .all(|(_, n)| *n == 0),
        "{:?}",
        stats.tables
    );
}

#[test]
fn revoking_one_grant_denies_exactly_its_functions_on_the_next_call() {
    let t = test_host();
    install_fixture(&t, "fx", &all_grants(), json!({}));
    for grant in Grant::ALL {
        assert!(t.host.revoke("fx", held_spec(grant)).unwrap());
        for spec in HOST_FUNCTIONS {
            let env = host_fn(&t, "fx", spec.name, json!({ "garbage": true }));
            let denied = env["error"]["code"] == "PERMISSION_DENIED";
            assert_eq!(denied, spec.grant == grant, "{} with {grant} revoked: {env}", spec.name);
        }
        t.host.grant("fx", &[held_spec(grant)]).unwrap();
    }
}

#[test]
fn malformed_requests_are_invalid_input_for_every_host_function() {
    let t = test_host();
    install_fixture(&t, "fx", &all_grants(), json!({}));
    for spec in HOST_FUNCTIONS {
        for raw in ["{not json", "", "[1,2,3]", "\"\\ud800\"", &"x".repeat(10_000)] {
            if spec.request == "Empty" && raw == "[1,2,3]" {
                continue; // An empty struct accepts an empty sequence.
            }
            let env = call_json(&t, "fx", "call_host", json!({ "function": spec.name, "raw": raw }));
            assert_eq!(env["error"]["code"], "INVALID_INPUT", "{} with {raw:?}: {env}", spec.name);
        }
    }
    // Wrong JSON types.
    for (function, request) in [
        ("db_get_user_by_email", json!({ "email": 5 })),
        ("db_create_user", json!({ "name": ["x"], "email": null, "password_hash": "h" })),
        ("kv_set", json!({ "key": "k", "value": "***not base64***" })),
        ("random_bytes", json!({ "len": 0 })),
        ("random_bytes", json!({ "len": 1_000_000 })),
        ("log", json!({ "level": "shout", "message": "x" })),
        ("token_sign", json!({ "claims": "not an object", "ttl_secs": 5 })),
        ("token_sign", json!({ "claims": { "exp": 1 }, "ttl_secs": 5 })),
        ("email_send", json!({ "to": "a@b.c\r\nBcc: x@y.z", "subject": "s", "text": "t" })),
        ("crypto_hash_password", json!({ "password": "x".repeat(2000) })),
        ("db_list_chat_sessions", json!({ "limit": 0 })),
        ("event_emit", json!({ "kind": "k", "data": [1] })),
        ("http_request", json!({ "url": "ftp://127.0.0.1/" })),
        ("http_request", json!({ "url": "http://127.0.0.1:1/", "method": "CONNECT" })),
        ("http_open", json!({ "url": "http://127.0.0.1:1/", "headers": { "connection": "close" } })),
        ("http_read", json!({ "id": "x", "wait_ms": 100_000 })),
    ] {
        let env = host_fn(&t, "fx", function, request.clone());
        assert_eq!(env["error"]["code"], "INVALID_INPUT", "{function} {request}: {env}");
    }
    assert_eq!(t.host.db().count_users().unwrap(), 0);
}

#[test]
fn host_errors_are_envelope_values() {
    let t = test_host();
    install_fixture(&t, "fx", &all_grants(), json!({}));
    let missing = host_fn(&t, "fx", "db_get_user_by_uuid", json!({ "uuid": "nope" }));
    assert_eq!((missing["success"].clone(), missing["error"]["code"].clone()), (json!(false), json!("NOT_FOUND")));
    let create = json!({ "name": "a", "email": "a@x.com", "password_hash": "h" });
    assert_eq!(host_fn(&t, "fx", "db_create_user", create.clone())["success"], true);
    let dup = host_fn(&t, "fx", "db_create_user", json!({ "name": "b", "email": "A@X.COM", "password_hash": "h" }));
    assert_eq!(dup["error"]["code"], "USER_EXISTS");
    assert!(dup["error"]["message"].as_str().unwrap().contains("email"));
    let bad_token = host_fn(&t, "fx", "token_verify", json!({ "token": "a.b.c" }));
    assert_eq!(bad_token["error"]["code"], "UNAUTHENTICATED");
}

#[test]
fn time_comes_from_the_host_clock_and_tokens_expire_with_it() {
    let t = test_host();
    install_fixture(&t, "fx", &all_grants(), json!({}));
    assert_eq!(host_fn(&t, "fx", "time_now", json!({}))["data"]["unix_ms"], T0);
    let signed = host_fn(&t, "fx", "token_sign", json!({ "claims": { "sub": "u" }, "ttl_secs": 60 }));
    let token = signed["data"]["token"].as_str().unwrap().to_owned();
    t.clock.advance(59_000);
    assert_eq!(host_fn(&t, "fx", "token_verify", json!({ "token": token }))["success"], true);
    t.clock.advance(1_000);
    let expired = host_fn(&t, "fx", "token_verify", json!({ "token": token }));
    assert_eq!(expired["error"]["code"], "UNAUTHENTICATED", "{expired}");
}

#[test]
fn kv_is_isolated_between_plugins() {
    let t = test_host();
    install_fixture(&t, "alpha", &["kv"], json!({}));
    install_fixture(&t, "beta", &["kv"], json!({}));
    assert_eq!(host_fn(&t, "alpha", "kv_set", json!({ "key": "secret", "value": "YWxwaGE=" }))["success"], true);
    assert_eq!(host_fn(&t, "beta", "kv_get", json!({ "key": "secret" }))["data"]["value"], Value::Null);
    assert_eq!(host_fn(&t, "beta", "kv_list", json!({ "prefix": "" }))["data"], json!([]));
    assert_eq!(host_fn(&t, "beta", "kv_delete", json!({ "key": "secret" }))["data"]["deleted"], false);
    assert_eq!(host_fn(&t, "alpha", "kv_get", json!({ "key": "secret" }))["data"]["value"], "YWxwaGE=");
}

#[test]
fn tokens_of_one_plugin_do_not_verify_in_another() {
    let t = test_host();
    install_fixture(&t, "alpha", &["token"], json!({}));
    install_fixture(&t, "beta", &["token"], json!({}));
    let signed = host_fn(&t, "alpha", "token_sign", json!({ "claims": { "sub": "u" }, "ttl_secs": 60 }));
    let token = signed["data"]["token"].clone();
    assert_eq!(host_fn(&t, "alpha", "token_verify", json!({ "token": token }))["success"], true);
    assert_eq!(host_fn(&t, "beta", "token_verify", json!({ "token": token }))["error"]["code"], "UNAUTHENTICATED");
}

#[test]
fn events_carry_the_client_address_of_the_call() {
    let t = test_host();
    install_fixture(&t, "fx", &["events"], json!({}));
    let input = json!({ "function": "event_emit", "request": { "kind": "login.failed", "data": { "n": 1 } } });
    let opts = a2e_host::CallOptions { client_addr: Some("203.0.113.9".into()), ..Default::default() };
    t.host.call("fx", "call_host", input.to_string().as_bytes(), &opts).unwrap();
    let events = t.host.db().list_audit_events(&Default::default(), Default::default()).unwrap();
    assert_eq!(events[0].client_addr.as_deref(), Some("203.0.113.9"));
}

#[test]
fn the_signed_in_user_of_a_call_reaches_the_plugin_and_its_callees() {
    let t = test_host();
    install_fixture(&t, "fx", &["config", "call:fx-callee"], json!({}));
    install_fixture(&t, "fx-callee", &["config"], json!({}));
    let user = a2e_abi::CallUser { uuid: "u-1".into(), name: "Ada".into(), role: "user".into() };
    let opts = a2e_host::CallOptions { client_addr: Some("203.0.113.9".into()), user: Some(user) };
    let call = |input: Value, opts: &a2e_host::CallOptions| -> Value {
        let out = t.host.call("fx", "call_host", input.to_string().as_bytes(), opts).unwrap();
        serde_json::from_slice(&out).unwrap()
    };
    let direct = call(json!({ "function": "context_get", "request": {} }), &opts);
    assert_eq!(direct["data"]["user"], json!({ "uuid": "u-1", "name": "Ada", "role": "user" }));
    let inner = json!({ "function": "context_get", "request": {} });
    let chained = call(
        json!({ "function": "plugin_call", "request": { "plugin": "fx-callee", "function": "call_host", "input": inner } }),
        &opts,
    );
    assert_eq!(chained["data"]["output"]["data"]["user"]["uuid"], "u-1", "{chained}");
    assert_eq!(chained["data"]["output"]["data"]["client_addr"], "203.0.113.9");
    // The callee learns which plugin called it; a call the host makes names no caller.
    assert_eq!(chained["data"]["output"]["data"]["caller"], "fx", "{chained}");
    assert_eq!(direct["data"]["caller"], Value::Null, "{direct}");
    // A call without a user (a schedule, the CLI) says so.
    let anonymous = call(json!({ "function": "context_get", "request": {} }), &Default::default());
    assert_eq!(anonymous["data"]["user"], Value::Null);
}

#[test]
fn random_bytes_come_from_the_injected_source() {
    struct Fixed;
    impl a2e_host::RandomSource for Fixed {
        fn fill(&self, buf: &mut [u8]) {
            buf.fill(0xAB);
        }
    }
    let t = crate::test_host_with(|config| config.random = std::sync::Arc::new(Fixed));
    install_fixture(&t, "fx", &["random"], json!({}));
    assert_eq!(host_fn(&t, "fx", "random_bytes", json!({ "len": 3 }))["data"]["bytes"], "q6ur");
}

#[test]
fn a_revocation_by_another_process_takes_effect_on_the_next_call() {
    let t = test_host();
    install_fixture(&t, "fx", &["time"], json!({}));
    assert_eq!(host_fn(&t, "fx", "time_now", json!({}))["success"], true);
    // A second handle on the same database file stands in for `a2e plugin revoke` in a shell.
    let other = a2e_db::Db::open(t.dir.path(), &a2e_db::KeySource::KeyFile(t.dir.path().join("db.key"))).unwrap();
    assert!(other.revoke("fx", "time").unwrap());
    assert_eq!(host_fn(&t, "fx", "time_now", json!({}))["error"]["code"], "PERMISSION_DENIED");
    other.grant("fx", &["time".into()], T0).unwrap();
    assert_eq!(host_fn(&t, "fx", "time_now", json!({}))["success"], true);
}

#[test]
fn startup_refuses_a_signing_key_shorter_than_32_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let key = a2e_db::KeySource::KeyFile(dir.path().join("db.key"));
    let db = a2e_db::Db::open(dir.path(), &key).unwrap();
    db.host_secret(a2e_host::SIGNING_KEY_SECRET, T0, || vec![1; 16]).unwrap();
    let err = a2e_host::Host::open(db, a2e_host::HostConfig::new(dir.path())).err().expect("refused");
    assert!(err.to_string().contains("at least 32"), "{err}");
}
