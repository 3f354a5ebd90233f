use std::path::PathBuf;

use serde_json::json;

use crate::{a2e, json, stderr};

fn wasm_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.ancestors().nth(3).unwrap().join("wasm32-unknown-unknown").join("release");
    assert!(dir.join("template.wasm").is_file(), "build plugins/ first (cargo xtask test does)");
    dir
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn new_build_install_call_revoke_remove() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let created = a2e(&data, &["plugin", "new", "hello-plugin", "--dir", work.path().to_str().unwrap()], &[], "");
    assert!(created.status.success(), "{}", stderr(&created));
    let project = work.path().join("hello-plugin");
    // The SDK comes with the project: nothing points into the a2e checkout that built this binary.
    let checkout = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("..").canonicalize().unwrap();
    let cargo_toml = std::fs::read_to_string(project.join("Cargo.toml")).unwrap();
    assert!(!cargo_toml.contains(checkout.to_str().unwrap()), "{cargo_toml}");
    assert!(cargo_toml.contains(r#"a2e-pdk = { path = "a2e-sdk/pdk" }"#), "{cargo_toml}");
    for (vendored, source) in
        [("pdk/src/lib.rs", "crates/pdk/src/lib.rs"), ("abi/src/types.rs", "crates/abi/src/types.rs")]
    {
        let vendored = std::fs::read_to_string(project.join("a2e-sdk").join(vendored)).unwrap();
        assert_eq!(vendored, std::fs::read_to_string(checkout.join(source)).unwrap(), "{source}");
    }
    let again = a2e(&data, &["plugin", "new", "hello-plugin", "--dir", work.path().to_str().unwrap()], &[], "");
    assert_eq!(again.status.code(), Some(1));

    let built = a2e(&data, &["plugin", "build", project.to_str().unwrap(), "--json"], &[], "");
    assert!(built.status.success(), "{}", stderr(&built));
    let report = json(&built);
    assert_eq!(report["name"], "hello-plugin");
    assert_eq!(report["exports"], serde_json::json!(["get_info", "greet", "repeat", "validate"]));
    let dist = project.join("dist");
    assert!(dist.join("plugin.json").is_file() && dist.join("hello-plugin.wasm").is_file());

    let refused = a2e(&data, &["plugin", "install", dist.to_str().unwrap()], &[], "");
    assert_eq!(refused.status.code(), Some(1));
    assert!(stderr(&refused).contains("--yes"), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("read the clock"), "the grants are shown: {}", stderr(&refused));

    let installed = a2e(&data, &["plugin", "install", dist.to_str().unwrap(), "--yes"], &[], "");
    assert!(installed.status.success(), "{}", stderr(&installed));
    assert!(stdout(&installed).contains("granted: log, time"), "{}", stdout(&installed));

    let call = a2e(&data, &["plugin", "call", "hello-plugin", "greet", r#"{"name":"Ada"}"#], &[], "");
    assert!(call.status.success(), "{}", stderr(&call));
    assert_eq!(json(&call)["data"]["message"], "Hello, Ada!");
    let from_stdin = a2e(&data, &["plugin", "call", "hello-plugin", "repeat", "-"], &[], r#"{"text":"ab","count":3}"#);
    assert_eq!(json(&from_stdin)["data"]["text"], "ababab");

    let list = a2e(&data, &["plugin", "list", "--json"], &[], "");
    assert_eq!(json(&list)[0]["name"], "hello-plugin");
    let grants = a2e(&data, &["plugin", "grants", "hello-plugin"], &[], "");
    assert!(stdout(&grants).contains("time") && stdout(&grants).contains("granted"));

    let revoke = a2e(&data, &["plugin", "revoke", "hello-plugin", "time"], &[], "");
    assert!(revoke.status.success(), "{}", stderr(&revoke));
    let denied = a2e(&data, &["plugin", "call", "hello-plugin", "greet", r#"{"name":"Ada"}"#], &[], "");
    assert_eq!(json(&denied)["error"]["code"], "PERMISSION_DENIED");
    let twice = a2e(&data, &["plugin", "revoke", "hello-plugin", "time"], &[], "");
    assert_eq!(twice.status.code(), Some(1));
    let unknown = a2e(&data, &["plugin", "revoke", "hello-plugin", "root"], &[], "");
    assert!(stderr(&unknown).contains("unknown grant `root`"));

    assert!(a2e(&data, &["plugin", "disable", "hello-plugin"], &[], "").status.success());
    let disabled = a2e(&data, &["plugin", "call", "hello-plugin", "greet", "{}"], &[], "");
    assert!(stderr(&disabled).contains("disabled"), "{}", stderr(&disabled));
    assert!(a2e(&data, &["plugin", "enable", "hello-plugin"], &[], "").status.success());

    assert!(a2e(&data, &["plugin", "remove", "hello-plugin"], &[], "").status.success());
    let gone = a2e(&data, &["plugin", "call", "hello-plugin", "greet", "{}"], &[], "");
    assert_eq!(gone.status.code(), Some(1));
    assert!(stderr(&gone).contains("not installed"), "{}", stderr(&gone));
}

/// Installs the bare Extism module `vowels.wasm` into a data dir under `work`; returns the dir.
fn install_vowels(work: &std::path::Path) -> std::path::PathBuf {
    let data = work.join("data");
    let path = work.join("vowels.wasm");
    std::fs::copy(wasm_dir().join("vowels.wasm"), &path).unwrap();
    let installed = a2e(&data, &["plugin", "install", path.to_str().unwrap()], &[], "");
    assert!(installed.status.success(), "{}", stderr(&installed));
    data
}

#[test]
fn a_bare_extism_wasm_installs_and_passes_bytes_through() {
    let work = tempfile::tempdir().unwrap();
    let data = install_vowels(work.path());
    let out = a2e(&data, &["plugin", "call", "vowels", "count_vowels", "Hello World"], &[], "");
    assert_eq!(stdout(&out), r#"{"count":3,"total":3}"#);
}

#[test]
fn plugin_secrets_are_set_listed_and_deleted_without_ever_printing_the_value() {
    let work = tempfile::tempdir().unwrap();
    let data = install_vowels(work.path());
    let never_shown = |out: &std::process::Output| {
        assert!(!stdout(out).contains("s3cret-value") && !stderr(out).contains("s3cret-value"), "the value leaked");
    };

    let set_args = ["plugin", "secret", "set", "vowels", "api.key", "--origin", "https://api.example.com"];
    let set = a2e(&data, &set_args, &[], "s3cret-value\n");
    assert!(set.status.success(), "{}", stderr(&set));
    never_shown(&set);
    assert!(stdout(&set).contains("api.key") && stdout(&set).contains("https://api.example.com"), "{}", stdout(&set));

    let list = a2e(&data, &["plugin", "secret", "list", "vowels"], &[], "");
    assert!(list.status.success(), "{}", stderr(&list));
    never_shown(&list);
    let table = stdout(&list);
    assert!(table.contains("api.key") && table.contains("https://api.example.com"), "{table}");
    let listed = a2e(&data, &["plugin", "secret", "list", "vowels", "--json"], &[], "");
    never_shown(&listed);
    let secrets = json(&listed);
    assert_eq!(
        secrets,
        json!([{ "name": "api.key", "origin": "https://api.example.com", "updated_at": secrets[0]["updated_at"] }])
    );
    assert!(secrets[0]["updated_at"].as_i64().is_some_and(|t| t > 0), "{secrets}");

    let bad_args = ["plugin", "secret", "set", "vowels", "api.key", "--origin", "ftp://x"];
    let bad = a2e(&data, &bad_args, &[], "s3cret-value\n");
    assert_eq!(bad.status.code(), Some(1), "{}", stderr(&bad));
    never_shown(&bad);
    assert!(stderr(&bad).contains("ftp://x"), "{}", stderr(&bad));
    let empty = a2e(&data, &set_args, &[], "\n");
    assert_eq!(empty.status.code(), Some(1));
    assert!(stderr(&empty).contains("the secret's value is empty"), "{}", stderr(&empty));
    let unchanged = json(&a2e(&data, &["plugin", "secret", "list", "vowels", "--json"], &[], ""));
    assert_eq!(unchanged[0]["origin"], "https://api.example.com", "{unchanged}");

    let deleted = a2e(&data, &["plugin", "secret", "delete", "vowels", "api.key"], &[], "");
    assert!(deleted.status.success(), "{}", stderr(&deleted));
    let again = a2e(&data, &["plugin", "secret", "delete", "vowels", "api.key"], &[], "");
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr(&again).contains("plugin vowels has no secret named api.key"), "{}", stderr(&again));
    let none = json(&a2e(&data, &["plugin", "secret", "list", "vowels", "--json"], &[], ""));
    assert_eq!(none, json!([]));

    let unknown = a2e(&data, &["plugin", "secret", "list", "nope"], &[], "");
    assert_eq!(unknown.status.code(), Some(1));
    assert!(stderr(&unknown).contains("not installed"), "{}", stderr(&unknown));
}

#[test]
fn build_of_a_directory_without_a_project_fails_clearly() {
    let work = tempfile::tempdir().unwrap();
    let out = a2e(&work.path().join("d"), &["plugin", "build", work.path().to_str().unwrap()], &[], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("has no Cargo.toml"), "{}", stderr(&out));
}

#[test]
fn build_of_a_broken_cargo_manifest_names_the_manifest_and_cargo_s_complaint() {
    let work = tempfile::tempdir().unwrap();
    let project = work.path().join("broken");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(project.join("Cargo.toml"), "[package]\nname = \"broken\"\nversion = \n").unwrap();
    let out = a2e(&work.path().join("d"), &["plugin", "build", project.to_str().unwrap()], &[], "");
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("cargo metadata failed for") && err.contains("Cargo.toml"), "{err}");
    assert!(err.contains("version"), "cargo's own complaint is kept: {err}");
}

#[test]
fn the_realtime_template_builds_installs_and_opens_a_ticking_room() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let dir = work.path().to_str().unwrap();
    let created = a2e(&data, &["plugin", "new", "tally", "--template", "realtime", "--dir", dir], &[], "");
    assert!(created.status.success(), "{}", stderr(&created));
    let project = work.path().join("tally");
    let cargo_toml = std::fs::read_to_string(project.join("Cargo.toml")).unwrap();
    assert!(cargo_toml.contains("grants = [\"rooms\"]") && cargo_toml.contains("close_empty_rooms"), "{cargo_toml}");
    let unknown = a2e(&data, &["plugin", "new", "other", "--template", "chess", "--dir", dir], &[], "");
    assert_eq!(unknown.status.code(), Some(2));
    assert!(stderr(&unknown).contains("realtime"), "{}", stderr(&unknown));

    let built = a2e(&data, &["plugin", "build", project.to_str().unwrap(), "--json"], &[], "");
    assert!(built.status.success(), "{}", stderr(&built));
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(project.join("dist").join("plugin.json")).unwrap()).unwrap();
    assert_eq!(manifest["schedules"][0]["export"], "close_empty_rooms");
    for export in ["room_join", "room_leave", "room_tick", "open_room"] {
        assert!(manifest["exports"].as_array().unwrap().iter().any(|e| e == export), "{manifest}");
    }
    let installed = a2e(&data, &["plugin", "install", project.join("dist").to_str().unwrap(), "--yes"], &[], "");
    assert!(installed.status.success(), "{}", stderr(&installed));
    assert!(stdout(&installed).contains("granted: rooms"), "{}", stdout(&installed));
    let opened = a2e(&data, &["plugin", "call", "tally", "open_room", r#"{"room":"main"}"#], &[], "");
    assert!(opened.status.success(), "{}", stderr(&opened));
    let room = json(&opened);
    assert_eq!((room["data"]["room"].clone(), room["data"]["tick_hz"].clone()), (json!("main"), json!(10)), "{room}");
    let bad = a2e(&data, &["plugin", "call", "tally", "open_room", r#"{"room":"no spaces"}"#], &[], "");
    assert_eq!(json(&bad)["error"]["code"], "INVALID_INPUT");
}

/// `a2e plugin new --lang assemblyscript` writes a project from the binary alone; `a2e plugin
/// build` builds it with npm (packages from npm's cache, filled when `cargo xtask test` built
/// plugins/template-as), and the result installs and answers like the Rust template.
#[test]
fn an_assemblyscript_plugin_is_created_built_installed_and_called() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let parent = work.path().to_str().unwrap();
    let refused = a2e(
        &data,
        &["plugin", "new", "hello-as", "--lang", "assemblyscript", "--template", "realtime", "--dir", parent],
        &[],
        "",
    );
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    let created = a2e(&data, &["plugin", "new", "hello-as", "--lang", "assemblyscript", "--dir", parent], &[], "");
    assert!(created.status.success(), "{}", stderr(&created));
    let project = work.path().join("hello-as");
    let package = std::fs::read_to_string(project.join("package.json")).unwrap();
    assert!(package.contains("\"name\": \"hello-as\""), "{package}");

    let built = a2e(&data, &["plugin", "build", project.to_str().unwrap(), "--json"], &[], "");
    assert!(built.status.success(), "{}", stderr(&built));
    let report = json(&built);
    assert_eq!(report["name"], "hello-as");
    assert_eq!(report["exports"], serde_json::json!(["greet", "repeat", "validate", "get_info"]));
    let dist = project.join("dist");
    let installed = a2e(&data, &["plugin", "install", dist.to_str().unwrap(), "--yes"], &[], "");
    assert!(installed.status.success(), "{}", stderr(&installed));
    let call = a2e(&data, &["plugin", "call", "hello-as", "greet", r#"{"name":"Ada"}"#], &[], "");
    assert!(call.status.success(), "{}", stderr(&call));
    assert_eq!(json(&call)["data"]["message"], "Hello, Ada!");
    let info = a2e(&data, &["plugin", "call", "hello-as", "get_info", "null"], &[], "");
    assert_eq!(json(&info)["data"]["name"], "hello-as");

    // A type error in the plugin fails the build with the compiler's message, and installs nothing new.
    std::fs::write(project.join("assembly/index.ts"), "export function greet(): i32 { return \"no\"; }\n").unwrap();
    let broken = a2e(&data, &["plugin", "build", project.to_str().unwrap()], &[], "");
    assert_eq!(broken.status.code(), Some(1));
    assert!(stderr(&broken).contains("npm run --silent build"), "{}", stderr(&broken));
}
