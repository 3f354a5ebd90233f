//! Integration tests of the plugin runtime with real wasm guests and a real encrypted database.
//!
//! The guests are built from `plugins/` for wasm32 by `cargo xtask test` (or
//! `cargo build --release --target wasm32-unknown-unknown` in `plugins/` with the same target dir).

mod auth; // the auth plugin against the security checklist
mod compat; // standard Extism plugins run unchanged
mod faults; // traps, panics, timeouts, memory and output limits; isolation under load
mod functions; // every host function end to end, grant matrix, malformed requests
mod game; // the game's plugins: game-logic, anticheat, tick-manager, audit
mod http; // outbound HTTP: grants, address checks, redirects, limits, streams, against a real server
mod install; // manifest validation, install/replace/remove/enable, hot replace under load
mod realtime; // rooms, ticks, faults in room calls, events between plugins, calls between plugins, schedules
mod smtp; // the SMTP mailer against a real SMTP server

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use a2e_db::{Db, KeySource};
use a2e_host::{Host, HostConfig, InstallOptions, ManualClock};
use serde_json::{json, Value};
use tempfile::TempDir;

/// The fixed start of every test clock.
pub const T0: i64 = 1_700_000_000_000;

/// Directory holding the guests built for wasm32.
pub fn wasm_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // <target>/debug/deps/it-<hash> -> <target>
    let target = exe.ancestors().nth(3).expect("target dir").to_owned();
    let dir = target.join("wasm32-unknown-unknown").join("release");
    assert!(
        dir.join("fixture.wasm").is_file(),
        "test guests missing in {}: run `cargo xtask test`, or build plugins/ for wasm32-unknown-unknown with the same CARGO_TARGET_DIR",
        dir.display()
    );
    dir
}

/// Bytes of a built guest.
pub fn wasm(name: &str) -> Vec<u8> {
    std::fs::read(wasm_dir().join(format!("{name}.wasm"))).unwrap()
}

/// A host on a fresh encrypted database with a manual clock.
pub struct TestHost {
    /// The data dir.
    pub dir: TempDir,
    /// The host.
    pub host: Host,
    /// Its clock.
    pub clock: ManualClock,
}

impl Drop for TestHost {
    /// Ends the host's realtime work before its data dir goes, so no plugin call is still
    /// running in the background when the test process exits.
    fn drop(&mut self) {
        let stopped = self.host.shutdown(Duration::from_secs(10));
        assert!(stopped || std::thread::panicking(), "realtime calls still running 10 s after shutdown");
    }
}

/// Opens a host in a temp data dir; compiled modules are cached across tests.
pub fn test_host() -> TestHost {
    test_host_with(|_| {})
}

/// Like [`test_host`], with the configuration adjusted by `configure` first.
pub fn test_host_with(configure: impl FnOnce(&mut HostConfig)) -> TestHost {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), &KeySource::KeyFile(dir.path().join("db.key"))).unwrap();
    let clock = ManualClock::new(T0);
    let mut config = HostConfig::new(dir.path());
    config.clock = Arc::new(clock.clone());
    config.cache_dir = Some(std::env::temp_dir().join("a2e-test-module-cache"));
    configure(&mut config);
    let host = Host::open(db, config).unwrap();
    TestHost { dir, host, clock }
}

/// Writes a plugin directory for guest `guest` under `parent` with a manifest built from `extra`.
pub fn plugin_dir(parent: &Path, name: &str, guest: &str, extra: Value) -> PathBuf {
    let bytes = wasm(guest);
    let dir = parent.join(format!("src-{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{guest}.wasm")), &bytes).unwrap();
    let mut manifest = json!({
        "name": name,
        "version": "1.0.0",
        "abi_version": 1,
        "wasm": { "file": format!("{guest}.wasm"), "sha256": a2e_host::manifest::sha256_hex(&bytes) },
        "exports": [],
    });
    for (k, v) in extra.as_object().unwrap() {
        manifest[k] = v.clone();
    }
    std::fs::write(dir.join("plugin.json"), serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
    dir
}

/// Every exported function of the fixture guest.
pub const FIXTURE_EXPORTS: &[&str] = &[
    "call_host",
    "call_host_bytes",
    "extism_http",
    "everything",
    "echo",
    "noop",
    "read_user",
    "version",
    "trap",
    "panic",
    "spin",
    "alloc",
    "big_output",
    "work",
    "argon2_in_wasm",
    "room_message",
];

/// Installs the fixture under `name` with `grants` and extra manifest fields.
pub fn install_fixture(t: &TestHost, name: &str, grants: &[&str], extra: Value) {
    let mut fields = json!({ "exports": FIXTURE_EXPORTS, "grants": grants });
    for (k, v) in extra.as_object().unwrap() {
        fields[k] = v.clone();
    }
    let dir = plugin_dir(t.dir.path(), name, "fixture", fields);
    t.host.install(&dir, &InstallOptions { grant_requested: true, replace: false }).unwrap();
}

/// Every plain grant name, and a call grant for the plugin `fx-callee`.
pub fn all_grants() -> Vec<&'static str> {
    let mut all: Vec<&str> = a2e_abi::Grant::ALL.iter().filter(|g| !g.is_scoped()).map(|g| g.as_str()).collect();
    all.push("call:fx-callee");
    all.push("http:http://127.0.0.1:*");
    all
}

/// The grant of `all_grants` that stands for `grant`'s family.
pub fn held_spec(grant: a2e_abi::Grant) -> a2e_abi::GrantSpec {
    match grant {
        a2e_abi::Grant::Call => a2e_abi::GrantSpec::Call("fx-callee".into()),
        a2e_abi::Grant::Http => a2e_abi::GrantSpec::parse("http:http://127.0.0.1:*").unwrap(),
        plain => plain.into(),
    }
}

/// Calls `function` of `plugin` with JSON and parses the JSON answer.
pub fn call_json(t: &TestHost, plugin: &str, function: &str, input: Value) -> Value {
    let out = t.host.call(plugin, function, input.to_string().as_bytes(), &Default::default()).unwrap();
    serde_json::from_slice(&out).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out)))
}

/// Calls a host function through the fixture and returns the envelope.
pub fn host_fn(t: &TestHost, plugin: &str, function: &str, request: Value) -> Value {
    call_json(t, plugin, "call_host", json!({ "function": function, "request": request }))
}

/// The packages of the plugins workspace (`cargo metadata --no-deps`), read once, as the JSON
/// `PluginManifest::from_cargo_package` reads.
pub fn plugin_packages() -> &'static [Value] {
    static PACKAGES: std::sync::OnceLock<Vec<Value>> = std::sync::OnceLock::new();
    PACKAGES.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plugins/Cargo.toml");
        let metadata = cargo_metadata::MetadataCommand::new()
            .manifest_path(root)
            .no_deps()
            .other_options(vec!["--offline".to_owned()])
            .exec()
            .expect("cargo metadata of plugins/");
        metadata.packages.iter().map(|p| serde_json::to_value(p).unwrap()).collect()
    })
}

/// Installs the plugin `package` of `plugins/` with the manifest its Cargo.toml describes and
/// the grants it requests, as the bundled plugins are installed.
pub fn install_package(t: &TestHost, package: &str) {
    let meta =
        plugin_packages().iter().find(|p| p["name"] == package).unwrap_or_else(|| panic!("no package {package}"));
    let bytes = wasm(&package.replace('-', "_"));
    let manifest = a2e_host::PluginManifest::from_cargo_package(meta, &bytes).unwrap();
    let source = a2e_host::PluginSource { manifest, wasm: bytes };
    t.host.install_source(source, &InstallOptions { grant_requested: true, replace: true }).unwrap();
}
