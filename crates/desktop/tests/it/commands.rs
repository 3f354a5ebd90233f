//! Every command through the IPC bridge of the mock runtime.

use std::sync::mpsc;
use std::time::Duration;

use serde_json::{json, Value};
use tauri::Listener;

use crate::{app, template_wasm};

const PW: &str = "correct horse battery staple";

fn manifest(wasm: &[u8]) -> String {
    json!({
        "name": "template", "version": "1.0.0", "abi_version": 1,
        "wasm": { "file": "template.wasm", "sha256": a2e_host::manifest::sha256_hex(wasm) },
        "exports": ["greet", "repeat", "validate", "get_info"], "public": ["greet"], "grants": ["log", "time"]
    })
    .to_string()
}

#[test]
fn every_command_succeeds_and_fails_as_the_http_api_does() {
    let t = app();
    // First run and setup.
    assert_eq!(t.ok("setup_status", json!({}))["needs_setup"], true);
    t.fails("session", json!({}), "UNAUTHENTICATED");
    t.fails("setup", json!({ "name": "Admin", "email": "admin@example.com", "password": "short" }), "INVALID_INPUT");
    let admin = t.ok("setup", json!({ "name": "Admin", "email": "admin@example.com", "password": PW }));
    assert_eq!(admin["user"]["role"], "admin");
    t.fails("setup", json!({ "name": "Again", "email": "again@example.com", "password": PW }), "CONFLICT");
    assert_eq!(t.ok("session", json!({}))["user"]["email"], "admin@example.com");

    // Accounts.
    t.fails("signup", json!({ "name": "Bo", "email": "not-an-email", "password": PW }), "INVALID_INPUT");
    assert_eq!(
        t.ok("signup", json!({ "name": "Bo", "email": "bo@example.com", "password": PW }))["status"],
        "verification_sent"
    );
    t.fails("verify_email", json!({ "token": "forged" }), "UNAUTHENTICATED");
    let token = t.mailed_token("bo@example.com", "/verify-email");
    assert_eq!(t.ok("verify_email", json!({ "token": token }))["verified"], true);
    t.fails("resend_verification", json!({ "email": "nope" }), "INVALID_INPUT");
    t.ok("resend_verification", json!({ "email": "bo@example.com" }));
    t.fails("password_reset_request", json!({ "email": 5 }), "INVALID_INPUT");
    t.ok("password_reset_request", json!({ "email": "bo@example.com" }));
    t.fails("password_reset_confirm", json!({ "token": "forged", "password": "new password 1" }), "UNAUTHENTICATED");
    let reset = t.mailed_token("bo@example.com", "/reset-password");
    t.ok("password_reset_confirm", json!({ "token": reset, "password": "new password 1" }));

    t.fails("login", json!({ "email": "admin@example.com", "password": "wrong password" }), "UNAUTHENTICATED");
    t.ok("login", json!({ "email": "admin@example.com", "password": PW }));
    assert_eq!(t.ok("profile", json!({}))["name"], "Admin");
    assert_eq!(t.ok("update_profile", json!({ "bio": "runs things" }))["bio"], "runs things");
    t.fails("update_profile", json!({ "bio": "x".repeat(5000) }), "INVALID_INPUT");
    let sessions = t.ok("sessions", json!({}));
    assert_eq!(sessions.as_array().unwrap().len(), 2, "{sessions}");
    t.fails("revoke_session", json!({ "id": "0000000000000000" }), "NOT_FOUND");
    t.fails("revoke_session", json!({}), "INVALID_INPUT");
    let other = sessions.as_array().unwrap().iter().find(|s| s["current"] == false).unwrap()["id"].clone();
    assert_eq!(t.ok("revoke_session", json!({ "id": other }))["current"], false);

    // Plugins.
    let bundled = a2e_server::bundled::sources().unwrap().len();
    assert_eq!(t.ok("plugins", json!({})).as_array().unwrap().len(), bundled, "the bundled plugins");
    let wasm = template_wasm();
    // Uploads are the module's raw bytes with their options in headers, never JSON arrays.
    t.fails("plugin_install", json!({ "wasm": [0, 97, 115, 109], "file_name": "t.wasm" }), "INVALID_INPUT");
    let code = |e: Value| e["code"].as_str().unwrap_or_default().to_owned();
    let refused = t.invoke_raw("plugin_install", vec![1, 2, 3], &[("a2e-file-name", "t.wasm")]).unwrap_err();
    assert_eq!(code(refused), "INVALID_INPUT");
    let refused = t.invoke_raw("plugins", vec![1, 2, 3], &[]).unwrap_err();
    assert_eq!(code(refused), "INVALID_INPUT");
    let encoded =
        percent_encoding::utf8_percent_encode(&manifest(&wasm), percent_encoding::NON_ALPHANUMERIC).to_string();
    let installed = t
        .invoke_raw(
            "plugin_install",
            wasm.clone(),
            &[("a2e-file-name", "template.wasm"), ("a2e-manifest", &encoded), ("a2e-grant", "true")],
        )
        .unwrap_or_else(|e| panic!("plugin_install failed: {e}"));
    assert_eq!(installed["granted"], json!(["log", "time"]));
    assert_eq!(
        t.ok("execute_plugin", json!({ "name": "template", "function": "greet", "input": { "name": "Ada" } }))
            ["message"],
        "Hello, Ada!"
    );
    t.fails("execute_plugin", json!({ "name": "template", "function": "nope", "input": {} }), "UNKNOWN_FUNCTION");
    t.fails("execute_plugin", json!({ "name": "template", "input": {} }), "INVALID_INPUT");
    t.ok("plugin_revoke", json!({ "name": "template", "grant": "time" }));
    t.fails(
        "execute_plugin",
        json!({ "name": "template", "function": "greet", "input": { "name": "Ada" } }),
        "PERMISSION_DENIED",
    );
    t.fails("plugin_revoke", json!({ "name": "template", "grant": "root" }), "INVALID_INPUT");
    t.fails("plugin_grant", json!({ "name": "template", "grant": "root" }), "INVALID_INPUT");
    assert_eq!(t.ok("plugin_grant", json!({ "name": "template", "grant": "time" }))["granted"], json!(["log", "time"]));
    assert_eq!(t.ok("plugin_disable", json!({ "name": "template" }))["enabled"], false);
    t.fails("plugin_disable", json!({ "name": "ghost" }), "UNKNOWN_PLUGIN");
    assert_eq!(t.ok("plugin_enable", json!({ "name": "template" }))["enabled"], true);
    t.fails("plugin_enable", json!({ "name": "ghost" }), "UNKNOWN_PLUGIN");

    // Database and audit log.
    assert_eq!(t.ok("db_status", json!({}))["encrypted"], true);
    assert_eq!(t.ok("db_stats", json!({}))["tables"]["users"], 2);
    assert_eq!(t.ok("db_verify", json!({}))["ok"], true);
    let backup = t.ok("db_backup", json!({}));
    assert!(std::path::Path::new(backup["path"].as_str().unwrap()).is_file());
    let failed = t.ok("audit_events", json!({ "kind": "login.failed", "limit": 10 }));
    assert!(
        failed.as_array().unwrap().iter().all(|e| e["kind"] == "login.failed")
            && !failed.as_array().unwrap().is_empty()
    );
    t.fails("audit_events", json!({ "limit": 0 }), "INVALID_INPUT");
    t.ok("plugin_remove", json!({ "name": "template", "purge": true }));
    t.fails("plugin_remove", json!({ "name": "template" }), "UNKNOWN_PLUGIN");

    // A regular user gets the admin commands refused.
    t.ok("login", json!({ "email": "bo@example.com", "password": "new password 1" }));
    for command in ["db_status", "db_stats", "db_verify", "db_backup", "audit_events"] {
        t.fails(command, json!({}), "PERMISSION_DENIED");
    }
    t.fails("plugin_remove", json!({ "name": "auth" }), "PERMISSION_DENIED");

    // Ending sessions.
    t.fails(
        "change_password",
        json!({ "current_password": "wrong one!", "new_password": "another pass 2" }),
        "UNAUTHENTICATED",
    );
    t.ok("change_password", json!({ "current_password": "new password 1", "new_password": "another pass 2" }));
    t.fails("profile", json!({}), "UNAUTHENTICATED");
    t.ok("login", json!({ "email": "bo@example.com", "password": "another pass 2" }));
    t.ok("logout", json!({}));
    t.fails("logout", json!({}), "UNAUTHENTICATED");
    t.ok("login", json!({ "email": "bo@example.com", "password": "another pass 2" }));
    t.ok("logout_all", json!({}));
    t.fails("logout_all", json!({}), "UNAUTHENTICATED");
    t.fails("sessions", json!({}), "UNAUTHENTICATED");
    t.fails("plugins", json!({}), "UNAUTHENTICATED");
}

#[test]
fn unknown_commands_and_raw_bodies_are_refused() {
    let t = app();
    assert!(t.invoke("drop_database", json!({})).is_err());
    let raw = tauri::test::get_ipc_response(
        &t.window,
        tauri::webview::InvokeRequest {
            cmd: "setup_status".into(),
            callback: tauri::ipc::CallbackFn(0),
            error: tauri::ipc::CallbackFn(1),
            url: "tauri://localhost".parse().unwrap(),
            body: tauri::ipc::InvokeBody::Raw(vec![1, 2, 3]),
            headers: Default::default(),
            invoke_key: tauri::test::INVOKE_KEY.to_string(),
        },
    );
    assert_eq!(raw.unwrap_err()["code"], "INVALID_INPUT");
}

#[test]
fn audit_events_reach_the_window_while_an_admin_is_signed_in() {
    let t = app();
    let (tx, rx) = mpsc::channel::<Value>();
    t.app.listen_any("audit-event", move |event| {
        let _ = tx.send(serde_json::from_str(event.payload()).unwrap());
    });
    t.ok("setup", json!({ "name": "Admin", "email": "admin@example.com", "password": PW }));
    t.fails("login", json!({ "email": "admin@example.com", "password": "wrong password" }), "UNAUTHENTICATED");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let event = rx.recv_timeout(left).expect("a login.failed event reaches the window");
        if event["kind"] == "login.failed" {
            assert_eq!(event["plugin"], "auth");
            assert!(event["id"].as_i64().unwrap() > 0);
            break;
        }
    }
}

/// The command lists agree: the registered handlers, the permissions generated from
/// commands.txt, the capability of the main window, and the UI's route table.
#[test]
fn command_tables_agree() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let listed: Vec<String> = std::fs::read_to_string(root.join("commands.txt"))
        .unwrap()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    let registered: Vec<String> = a2e_desktop::COMMANDS.iter().map(|c| c.to_string()).collect();
    assert_eq!(registered, listed);
    let capability: Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("capabilities/main.json")).unwrap()).unwrap();
    let mut allowed: Vec<String> = capability["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p.as_str()?.strip_prefix("allow-").map(|c| c.replace('-', "_")))
        .collect();
    allowed.sort();
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(allowed, sorted, "the window may use exactly the app's commands");
    // The desktop app routes by the UI's own table (frontend/src/routes.json): every entry parses
    // and has its command.
    let mut ui: Vec<String> = a2e_desktop::routes().keys().cloned().collect();
    ui.push("plugin_install".into()); // the module's raw bytes (a multipart upload over HTTP), see installPlugin()
    ui.push("rt_send".into()); // a frame of the realtime WebSocket (/api/rt) over HTTP
    ui.sort();
    assert_eq!(ui, sorted, "routes.json and the desktop commands differ");
}

/// Collects the window's `rt-frame` events; the answer waits (up to 20 s) for the next frame
/// that satisfies `want`, skipping the others.
fn rt_frames<R: tauri::Runtime>(app: &tauri::App<R>) -> impl Fn(&dyn Fn(&Value) -> bool) -> Value {
    let (tx, rx) = mpsc::channel::<Value>();
    app.listen_any("rt-frame", move |event| {
        let _ = tx.send(serde_json::from_str(event.payload()).unwrap());
    });
    move |want| loop {
        let frame = rx.recv_timeout(Duration::from_secs(20)).expect("an rt-frame event");
        if want(&frame) {
            return frame;
        }
    }
}

/// Rooms work over the `rt_send` command and `rt-frame` events, with the protocol of `/api/rt`.
#[test]
fn realtime_rooms_work_over_commands_and_window_events() {
    let t = app();
    let exe = std::env::current_exe().unwrap();
    let wasm =
        std::fs::read(exe.ancestors().nth(3).unwrap().join("wasm32-unknown-unknown/release/rooms.wasm")).unwrap();
    let manifest = json!({
        "name": "rooms", "version": "1.0.0", "abi_version": 1,
        "wasm": { "file": "rooms.wasm", "sha256": a2e_host::manifest::sha256_hex(&wasm) },
        "exports": ["open", "room_join", "room_leave", "room_message", "room_tick"], "grants": ["rooms"]
    });
    let host = t.desktop.host();
    let source = host.inspect_bytes(Some(&manifest.to_string()), "rooms.wasm", wasm).unwrap();
    host.install_source(source, &a2e_host::InstallOptions { grant_requested: true, replace: false }).unwrap();
    host.call("rooms", "open", br#"{"room":"lobby"}"#, &Default::default()).unwrap();

    let next = rt_frames(&t.app);
    t.fails("rt_send", json!({ "frame": "join" }), "INVALID_INPUT");
    // Anonymous: the rooms plugin does not allow it.
    assert_eq!(
        t.ok("rt_send", json!({ "frame": { "type": "join", "plugin": "rooms", "room": "lobby", "ref": 1 } })),
        Value::Null
    );
    assert_eq!(next(&|f| f["type"] == "welcome")["user"], Value::Null);
    assert_eq!(next(&|f| f["type"] == "error")["code"], "UNAUTHENTICATED");

    t.ok("setup", json!({ "name": "Admin", "email": "admin@example.com", "password": PW }));
    t.ok("rt_send", json!({ "frame": { "type": "join", "plugin": "rooms", "room": "lobby", "ref": 2 } }));
    let welcome = next(&|f| f["type"] == "welcome");
    assert!(welcome["user"].is_string(), "{welcome}");
    assert_eq!(next(&|f| f["type"] == "joined")["ref"], 2);
    t.ok("rt_send", json!({ "frame": { "type": "send", "plugin": "rooms", "room": "lobby", "data": { "hi": 1 } } }));
    assert_eq!(next(&|f| f["data"]["echo"].is_object())["data"]["echo"]["hi"], 1);
    assert_eq!(t.ok("rt_send", json!({ "frame": { "type": "ping", "ref": 3 } })), json!({ "type": "pong", "ref": 3 }));
    let nope = t.ok("rt_send", json!({ "frame": { "type": "leave", "plugin": "rooms", "room": "nope" } }));
    assert_eq!(nope["code"], "NOT_FOUND");
    let topic = t.ok("rt_send", json!({ "frame": { "type": "subscribe", "topic": "events" } }));
    assert_eq!(topic["code"], "NOT_FOUND", "audit events come as audit-event events: {topic}");
    assert_eq!(host.realtime().rooms_of("rooms")[0].clients, 1);
    // Signing out ends the session: the room sees the client go.
    t.ok("logout", json!({}));
    assert_eq!(host.realtime().rooms_of("rooms")[0].clients, 0);
}

/// The Play page's path in the desktop app: the lobby through `execute_plugin`, a match over
/// `rt_send` and `rt-frame` events, inputs that move the player, and the anticheat page's call.
#[test]
fn the_game_plays_over_commands_and_window_events() {
    let t = app();
    t.ok("setup", json!({ "name": "Admin", "email": "admin@example.com", "password": PW }));
    let next = rt_frames(&t.app);
    let rules = t.ok("execute_plugin", json!({ "name": "game-logic", "function": "rules", "input": {} }));
    assert_eq!(rules["width"], 960.0);
    let created = t.ok(
        "execute_plugin",
        json!({ "name": "tick-manager", "function": "create_match", "input": { "name": "Desk", "capacity": 2, "duration_s": 60 } }),
    );
    let room = created["id"].as_str().unwrap().to_owned();
    let bad = json!({ "name": "tick-manager", "function": "create_match", "input": { "capacity": 99 } });
    t.fails("execute_plugin", bad, "INVALID_INPUT");
    t.ok("rt_send", json!({ "frame": { "type": "join", "plugin": "tick-manager", "room": room, "ref": "join" } }));
    assert_eq!(next(&|f| f["type"] == "joined")["ref"], "join");
    let snap = next(&|f| f["data"]["snap"].is_object())["data"]["snap"].clone();
    assert_eq!(snap["name"], "Desk");
    let me = snap["players"][0].clone();
    let x0 = me["x"].as_i64().unwrap();
    let dir = if x0 > 480 { -1.0 } else { 1.0 };
    // Six inputs of 50 ms sent at once: within what anticheat lets a new player claim ahead of
    // real time (more would be a clock running fast).
    for seq in 1..=6 {
        let input = json!({ "seq": seq, "dir": [dir, 0.0], "dt": 50, "echo": snap["nonce"] });
        t.ok(
            "rt_send",
            json!({ "frame": { "type": "send", "plugin": "tick-manager", "room": room, "data": { "input": input } } }),
        );
    }
    let acked = next(&|f| f["data"]["u"]["k"].as_array().is_some_and(|k| k.iter().any(|r| r[1] == 6)));
    let row = acked["data"]["u"]["p"].as_array().and_then(|p| p.first()).cloned();
    let x = match row {
        Some(row) => row[1].as_i64().unwrap(),
        None => next(&|f| f["data"]["u"]["p"].is_array())["data"]["u"]["p"][0][1].as_i64().unwrap(),
    };
    assert!((x - x0) * dir as i64 > 30, "six inputs of 50 ms moved the player: {x0} -> {x}");
    let players = t.ok("execute_plugin", json!({ "name": "anticheat", "function": "players", "input": {} }));
    assert_eq!(players, json!([]), "nobody has broken a rule");
}

#[path = "../../../../tools/test_model.rs"]
mod test_model;

/// Chat in the desktop app: a provider granted and added over commands, an answer streamed
/// through `rt-frame` events, stored, stopped and exported, against the real model server.
#[test]
fn chat_streams_over_commands_and_window_events() {
    let m = test_model::model();
    let t = app();
    t.ok("setup", json!({ "name": "Admin", "email": "admin@example.com", "password": PW }));
    let next = rt_frames(&t.app);
    let chat = |function: &str, input: Value| {
        t.invoke("execute_plugin", json!({ "name": "chat", "function": function, "input": input }))
    };
    // Not granted yet: the error names the grant to add.
    let provider = json!({ "id": "local", "kind": "openai", "base_url": m.openai });
    let denied = chat("save_provider", provider.clone()).unwrap_err();
    assert_eq!(denied["code"], "PERMISSION_DENIED", "{denied}");
    assert!(denied["message"].as_str().unwrap().contains(&format!("http:{}", m.openai)), "{denied}");
    t.ok("plugin_grant", json!({ "name": "chat", "grant": format!("http:{}", m.openai) }));
    let saved = chat("save_provider", provider).unwrap();
    assert_eq!(saved["models"], json!(["SmolLM2-135M-Instruct"]));
    let agent =
        chat("save_agent", json!({ "name": "Exact", "options": { "temperature": 0, "max_tokens": 60 } })).unwrap();
    let started = chat(
        "send",
        json!({ "content": "What is the capital of France? Answer in one sentence.", "agent_id": agent["id"] }),
    )
    .unwrap();
    let room = started["room"].as_str().unwrap();
    t.ok("rt_send", json!({ "frame": { "type": "join", "plugin": "chat", "room": room, "ref": "j" } }));
    let snapshot = next(&|f| f["data"]["type"] == "snapshot")["data"].clone();
    let done = if ["queued", "streaming"].contains(&snapshot["status"].as_str().unwrap()) {
        next(&|f| f["data"]["type"] == "done")["data"].clone()
    } else {
        snapshot
    };
    assert_eq!(done["status"], "done", "{done}");
    assert!(done["content"].as_str().unwrap().contains("Paris"), "{done}");
    let session = chat("session", json!({ "id": started["session"]["id"] })).unwrap();
    let stored =
        session["messages"].as_array().unwrap().iter().find(|m| m["id"] == started["message"]["id"]).unwrap().clone();
    assert_eq!(stored["content"], done["content"]);
    // Stop a long answer: what was written stays.
    let long = chat(
        "send",
        json!({ "session_id": started["session"]["id"], "content": "Now write a long poem about Paris." }),
    )
    .unwrap();
    t.ok("rt_send", json!({ "frame": { "type": "join", "plugin": "chat", "room": long["room"], "ref": "k" } }));
    next(&|f| f["data"]["type"] == "delta");
    chat("stop", json!({ "message_id": long["message"]["id"] })).unwrap();
    let stopped =
        next(&|f| f["data"]["type"] == "done" && f["data"]["message_id"] == long["message"]["id"])["data"].clone();
    assert_eq!(stopped["status"], "stopped", "{stopped}");
    assert!(!stopped["content"].as_str().unwrap().is_empty());
    let md = chat("export", json!({ "id": started["session"]["id"], "format": "markdown" })).unwrap();
    assert!(md["markdown"].as_str().unwrap().contains("stopped"), "{md}");
}
