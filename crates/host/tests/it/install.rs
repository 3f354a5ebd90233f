use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

use a2e_host::{HostError, InstallOptions};
use serde_json::json;

use crate::{call_json, install_fixture, plugin_dir, test_host, wasm, FIXTURE_EXPORTS};

fn install_err(t: &crate::TestHost, dir: &std::path::Path) -> String {
    match t.host.install(dir, &InstallOptions::default()) {
        Err(err) => err.to_string(),
        Ok(info) => panic!("installed {info:?}"),
    }
}

#[test]
fn template_functions() {
    let t = test_host();
    let dir = plugin_dir(
        t.dir.path(),
        "template",
        "template",
        json!({ "exports": ["greet", "repeat", "validate", "get_info"], "grants": ["log", "time"] }),
    );
    let info = t.host.install(&dir, &InstallOptions { grant_requested: true, replace: false }).unwrap();
    assert_eq!(info.granted, ["log", "time"]);
    template_conformance(&t, "template");
}

/// The AssemblyScript template (plugins/template-as, built by `cargo xtask test` into the target
/// dir) passes the same checks as the Rust one.
#[test]
fn the_assemblyscript_template_behaves_as_the_rust_one() {
    let t = test_host();
    let dir = crate::wasm_dir().join("template-as");
    assert!(
        dir.join("plugin.json").is_file(),
        "plugins/template-as is not built in {}: run `cargo xtask test`",
        dir.display()
    );
    let info = t.host.install(&dir, &InstallOptions { grant_requested: true, replace: false }).unwrap();
    assert_eq!((info.name.as_str(), info.granted.clone()), ("template-as", vec!["log".to_owned(), "time".to_owned()]));
    assert_eq!(info.exports, ["greet", "repeat", "validate", "get_info"]);
    template_conformance(&t, "template-as");
}

/// What every language's template does: the four functions, their input checks and custom
/// error codes, and a denied host call reported as an error value.
fn template_conformance(t: &crate::TestHost, name: &str) {
    let greet = call_json(t, name, "greet", json!({ "name": "Ada" }));
    assert_eq!(
        greet,
        json!({ "success": true, "data": { "message": "Hello, Ada!", "at_unix_ms": crate::T0 }, "error": null })
    );
    assert_eq!(call_json(t, name, "greet", json!({ "name": " " }))["error"]["code"], "EMPTY_NAME");
    assert_eq!(call_json(t, name, "greet", json!({ "nom": "x" }))["error"]["code"], "INVALID_INPUT");
    assert_eq!(call_json(t, name, "greet", json!({ "name": 5 }))["error"]["code"], "INVALID_INPUT");
    assert_eq!(call_json(t, name, "greet", json!({ "name": "Éléonore 😀" }))["data"]["message"], "Hello, Éléonore 😀!");
    assert_eq!(call_json(t, name, "repeat", json!({ "text": "ab" }))["data"], json!({ "text": "abab", "count": 2 }));
    assert_eq!(call_json(t, name, "repeat", json!({ "text": "ab", "count": 3 }))["data"]["text"], "ababab");
    assert_eq!(call_json(t, name, "repeat", json!({ "text": "ab", "count": 101 }))["error"]["code"], "COUNT_TOO_LARGE");
    assert_eq!(call_json(t, name, "repeat", json!({ "text": "ab", "count": -1 }))["error"]["code"], "INVALID_INPUT");
    assert_eq!(call_json(t, name, "validate", json!({ "email": "x", "age": 3 }))["error"]["code"], "INVALID_EMAIL");
    assert_eq!(call_json(t, name, "validate", json!({ "email": "a@b", "age": 200 }))["error"]["code"], "INVALID_AGE");
    assert_eq!(call_json(t, name, "validate", json!({ "email": "a@b", "age": 20 }))["data"]["valid"], true);
    assert_eq!(call_json(t, name, "get_info", json!(null))["data"]["name"], name);
    let bad = t.host.call(name, "greet", b"{not json", &Default::default()).unwrap();
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&bad).unwrap()["error"]["code"], "INVALID_INPUT");
    // Without the time grant, greet reports the denial as an error value.
    t.host.revoke(name, a2e_abi::Grant::Time).unwrap();
    assert_eq!(call_json(t, name, "greet", json!({ "name": "Ada" }))["error"]["code"], "PERMISSION_DENIED");
    // And the instance keeps serving after the denial.
    assert_eq!(call_json(t, name, "validate", json!({ "email": "a@b", "age": 20 }))["data"]["valid"], true);
}

#[test]
fn manifest_problems_are_refused_with_the_problem_named() {
    let t = test_host();
    let base = || json!({ "exports": ["echo"] });
    let cases = [
        (json!({ "exports": ["echo"], "colour": "red" }), "colour"),
        (json!({ "exports": ["echo"], "grants": ["db:everything"] }), "unknown grant `db:everything`"),
        (json!({ "exports": ["echo", "missing_fn"] }), "does not export it"),
        (json!({ "exports": ["echo"], "abi_version": 99 }), "ABI version 99"),
        (json!({ "exports": ["echo"], "public": ["nope"] }), "not in exports"),
        (json!({ "exports": ["echo"], "limits": { "memory_pages": 1000000 } }), "memory_pages"),
        (json!({ "exports": ["echo"], "limits": { "timeout_ms": 0 } }), "timeout_ms"),
        (json!({ "exports": ["echo"], "name": "Bad Name" }), "must start with a lower-case letter"),
    ];
    for (extra, expected) in cases {
        let mut fields = base();
        for (k, v) in extra.as_object().unwrap() {
            fields[k] = v.clone();
        }
        let dir = plugin_dir(t.dir.path(), "bad", "fixture", fields);
        let err = install_err(&t, &dir);
        assert!(err.contains(expected), "expected {expected:?} in {err}");
    }
    assert!(t.host.list().unwrap().is_empty(), "nothing was installed");
    assert_eq!(std::fs::read_dir(t.host.plugins_dir()).unwrap().count(), 0);
}

#[test]
fn hash_mismatch_and_traversal_are_refused() {
    let t = test_host();
    let dir = plugin_dir(t.dir.path(), "fx", "fixture", json!({ "exports": ["echo"] }));
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("plugin.json")).unwrap()).unwrap();
    manifest["wasm"]["sha256"] = json!("00".repeat(32));
    std::fs::write(dir.join("plugin.json"), manifest.to_string()).unwrap();
    assert!(install_err(&t, &dir).contains("sha256 mismatch"));
    manifest["wasm"]["file"] = json!("../../../etc/passwd");
    std::fs::write(dir.join("plugin.json"), manifest.to_string()).unwrap();
    assert!(install_err(&t, &dir).contains("plain file name"));
    let not_wasm = t.dir.path().join("notes.txt");
    std::fs::write(&not_wasm, "hello").unwrap();
    assert!(install_err(&t, &not_wasm).contains("neither a plugin directory"));
    let garbage = t.dir.path().join("garbage.wasm");
    std::fs::write(&garbage, "definitely not wasm").unwrap();
    assert!(install_err(&t, &garbage).contains("not a WebAssembly module"));
}

#[test]
fn imports_that_a2e_does_not_provide_are_refused() {
    let t = test_host();
    for (wat, expected) in [
        (
            r#"(module (import "extism:host/user" "steal_db_key" (func (param i64) (result i64))) (func (export "f")))"#,
            "extism:host/user::steal_db_key",
        ),
        (
            r#"(module (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32))) (func (export "f")))"#,
            "WASI is off",
        ),
    ] {
        let path = t.dir.path().join("imports.wasm");
        std::fs::write(&path, wat::parse_str(wat).unwrap()).unwrap();
        let err = install_err(&t, &path);
        assert!(err.contains(expected), "{err}");
    }
}

#[test]
fn name_collision_needs_replace_and_remove_works() {
    let t = test_host();
    install_fixture(&t, "fx", &["kv"], json!({}));
    let dir = plugin_dir(t.dir.path(), "fx", "fixture", json!({ "exports": FIXTURE_EXPORTS }));
    let err = t.host.install(&dir, &InstallOptions::default()).unwrap_err();
    assert!(matches!(err, HostError::AlreadyInstalled(ref n) if n == "fx"), "{err}");
    crate::host_fn(&t, "fx", "kv_set", json!({ "key": "k", "value": "AA==" }));
    t.host.remove("fx", false).unwrap();
    assert!(matches!(t.host.call("fx", "echo", b"", &Default::default()), Err(HostError::UnknownPlugin(_))));
    assert!(t.host.db().list_grants("fx").unwrap().is_empty());
    assert!(t.host.db().kv_get("fx", "k").unwrap().is_some(), "kv kept without purge");
    assert!(matches!(t.host.remove("fx", true), Err(HostError::UnknownPlugin(_))));
    install_fixture(&t, "fx", &[], json!({}));
    t.host.remove("fx", true).unwrap();
    assert!(t.host.db().kv_get("fx", "k").unwrap().is_none(), "purged");
    assert!(matches!(t.host.remove("../etc", false), Err(HostError::Invalid(_))));
}

#[test]
fn disable_enable_and_unknown_function() {
    let t = test_host();
    install_fixture(&t, "fx", &[], json!({}));
    assert!(!t.host.set_enabled("fx", false).unwrap().enabled);
    assert!(matches!(t.host.call("fx", "echo", b"", &Default::default()), Err(HostError::Disabled(_))));
    assert!(t.host.set_enabled("fx", true).unwrap().enabled);
    assert!(t.host.call("fx", "echo", b"", &Default::default()).is_ok());
    let err = t.host.call("fx", "memory", b"", &Default::default()).unwrap_err();
    assert!(matches!(err, HostError::UnknownFunction { .. }), "{err}");
}

#[test]
fn installed_plugins_survive_a_restart_with_their_state() {
    let mut t = test_host();
    install_fixture(&t, "fx", &["time"], json!({}));
    t.host.set_enabled("fx", false).unwrap();
    // Keep the data dir, stop the host.
    let dir = std::mem::replace(&mut t.dir, tempfile::tempdir().unwrap());
    drop(t);
    let key = a2e_db::KeySource::KeyFile(dir.path().join("db.key"));
    let db = a2e_db::Db::open(dir.path(), &key).unwrap();
    let mut config = a2e_host::HostConfig::new(dir.path());
    config.cache_dir = Some(std::env::temp_dir().join("a2e-test-module-cache"));
    let host = a2e_host::Host::open(db, config).unwrap();
    let info = host.info("fx").unwrap();
    assert_eq!((info.enabled, info.granted.clone()), (false, vec!["time".to_owned()]));
}

#[test]
fn hot_replace_under_load_drops_no_call() {
    let t = Arc::new(test_host());
    install_fixture(&t, "fx", &[], json!({ "config": { "version": "1" }, "limits": { "max_instances": 4 } }));
    let stop = Arc::new(AtomicBool::new(false));
    let seen_v2 = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (t, stop, seen_v2) = (t.clone(), stop.clone(), seen_v2.clone());
            thread::spawn(move || {
                let mut calls = 0;
                while !stop.load(Ordering::SeqCst) {
                    let out =
                        t.host.call("fx", "work", b"", &Default::default()).expect("no call may fail during replace");
                    assert!(out == b"1" || out == b"2", "{out:?}");
                    if out == b"2" {
                        seen_v2.fetch_add(1, Ordering::SeqCst);
                    }
                    calls += 1;
                }
                calls
            })
        })
        .collect();
    for round in 0..6 {
        let version = if round % 2 == 0 { "2" } else { "1" };
        let dir = plugin_dir(
            t.dir.path(),
            &format!("fx-{round}"),
            "fixture",
            json!({ "name": "fx", "exports": FIXTURE_EXPORTS, "config": { "version": version } }),
        );
        t.host.install(&dir, &InstallOptions { replace: true, grant_requested: false }).unwrap();
    }
    // After the last replace (version "1"), new calls see it.
    let last = t.host.call("fx", "version", b"", &Default::default()).unwrap();
    stop.store(true, Ordering::SeqCst);
    let total: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
    assert_eq!(last, b"1");
    assert!(total > 0);
    assert_eq!(wasm("fixture"), std::fs::read(t.host.plugins_dir().join("fx/fixture.wasm")).unwrap());
}

#[test]
fn enable_and_disable_racing_a_replace_never_bring_back_the_old_version() {
    let t = Arc::new(test_host());
    install_fixture(&t, "fx", &[], json!({ "config": { "version": "1" } }));
    let dirs: Vec<_> = (2..10)
        .map(|version| {
            plugin_dir(
                t.dir.path(),
                &format!("fx-v{version}"),
                "fixture",
                json!({ "name": "fx", "exports": FIXTURE_EXPORTS, "config": { "version": version.to_string() } }),
            )
        })
        .collect();
    let toggler = {
        let t = t.clone();
        thread::spawn(move || {
            for i in 0..200 {
                t.host.set_enabled("fx", i % 2 == 1).unwrap();
            }
        })
    };
    for dir in &dirs {
        t.host.install(dir, &InstallOptions { replace: true, grant_requested: false }).unwrap();
    }
    toggler.join().unwrap();
    // The toggler ended with "enabled"; the last replace (version 9) must be what runs.
    assert!(t.host.info("fx").unwrap().enabled);
    assert_eq!(t.host.call("fx", "version", b"", &Default::default()).unwrap(), b"9");
    let on_disk = t.host.plugins_dir().join("fx").join("plugin.json");
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(on_disk).unwrap()).unwrap();
    assert_eq!(manifest["config"]["version"], "9");
}

/// A second host on the same data dir, standing for the CLI run while a server runs.
fn another_process(t: &crate::TestHost) -> a2e_host::Host {
    let key = a2e_db::KeySource::KeyFile(t.dir.path().join("db.key"));
    let db = a2e_db::Db::open(t.dir.path(), &key).unwrap();
    let mut config = a2e_host::HostConfig::new(t.dir.path());
    config.cache_dir = Some(std::env::temp_dir().join("a2e-test-module-cache"));
    a2e_host::Host::open(db, config).unwrap()
}

#[test]
fn plugin_changes_made_by_another_process_reach_a_running_host() {
    let t = test_host();
    install_fixture(&t, "fx", &[], json!({ "config": { "version": "1" } }));
    let cli = another_process(&t);
    assert_eq!(t.host.sync_installed().unwrap(), Vec::<String>::new(), "nothing changed yet");

    let fy = plugin_dir(t.dir.path(), "fy", "fixture", json!({ "exports": FIXTURE_EXPORTS }));
    cli.install(&fy, &InstallOptions::default()).unwrap();
    assert!(matches!(t.host.call("fy", "echo", b"", &Default::default()), Err(HostError::UnknownPlugin(_))));
    assert_eq!(t.host.sync_installed().unwrap(), vec!["fy".to_owned()]);
    assert_eq!(t.host.call("fy", "echo", b"hi", &Default::default()).unwrap(), b"hi");

    let v2 = plugin_dir(
        t.dir.path(),
        "fx-v2",
        "fixture",
        json!({ "name": "fx", "exports": FIXTURE_EXPORTS, "config": { "version": "2" } }),
    );
    cli.install(&v2, &InstallOptions { replace: true, grant_requested: false }).unwrap();
    cli.set_enabled("fy", false).unwrap();
    let mut changed = t.host.sync_installed().unwrap();
    changed.sort();
    assert_eq!(changed, vec!["fx".to_owned(), "fy".to_owned()]);
    assert_eq!(t.host.call("fx", "version", b"", &Default::default()).unwrap(), b"2");
    assert!(matches!(t.host.call("fy", "echo", b"", &Default::default()), Err(HostError::Disabled(_))));

    cli.set_enabled("fy", true).unwrap();
    assert_eq!(t.host.sync_installed().unwrap(), vec!["fy".to_owned()]);
    assert!(t.host.call("fy", "echo", b"", &Default::default()).is_ok());

    cli.remove("fy", false).unwrap();
    assert_eq!(t.host.sync_installed().unwrap(), vec!["fy".to_owned()]);
    assert!(matches!(t.host.call("fy", "echo", b"", &Default::default()), Err(HostError::UnknownPlugin(_))));
    assert_eq!(t.host.sync_installed().unwrap(), Vec::<String>::new());
}

#[test]
fn a_plugin_being_written_by_another_process_is_left_alone() {
    let t = test_host();
    install_fixture(&t, "fx", &[], json!({}));
    // Mid-replace, another process has moved the old version aside and not yet put the new one in.
    let aside = t.host.plugins_dir().join(".old-fx-0123456789abcdef");
    std::fs::rename(t.host.plugins_dir().join("fx"), &aside).unwrap();
    assert_eq!(t.host.sync_installed().unwrap(), Vec::<String>::new());
    assert!(t.host.call("fx", "echo", b"", &Default::default()).is_ok());
    // A half-written plugin dir (no module yet) is not loaded and not an error.
    std::fs::rename(&aside, t.host.plugins_dir().join("fx")).unwrap();
    let half = t.host.plugins_dir().join("fz");
    std::fs::create_dir(&half).unwrap();
    std::fs::write(half.join("plugin.json"), b"{").unwrap();
    assert_eq!(t.host.sync_installed().unwrap(), Vec::<String>::new());
}
