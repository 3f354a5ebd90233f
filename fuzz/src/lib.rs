//! Shared set-up and the properties the fuzz targets check.
//!
//! Every target runs the real component: the manifest parser and validator, the host functions
//! behind a real wasm guest on a real encrypted database, the auth plugin in the runtime, and the
//! server's router. A property that does not hold panics, which libFuzzer reports as a crash and
//! saves the input.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use a2e_abi::codes;
use a2e_db::{Db, KeySource};
use a2e_host::{Host, HostConfig, ManualClock};
use serde_json::Value;

/// The fixed start of the harness clock.
pub const T0: i64 = 1_700_000_000_000;

/// Where the plugins built for wasm32 are: `A2E_PLUGIN_WASM_DIR`, or
/// `<target>/wasm32-unknown-unknown/release` beside this binary
/// (`<target>/<triple>/release/<target-name>`).
pub fn wasm_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("A2E_PLUGIN_WASM_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().expect("fuzz binary path");
    let target = exe.ancestors().nth(3).expect("target dir").to_owned();
    target.join("wasm32-unknown-unknown").join("release")
}

/// Bytes of a built plugin module.
pub fn wasm(name: &str) -> Vec<u8> {
    let path = wasm_dir().join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!("{}: {e}; build plugins/ for wasm32 first (`cargo xtask fuzz` does)", path.display())
    })
}

/// A host on a fresh encrypted database in a temp dir that lives as long as the process.
pub fn host() -> (Host, ManualClock, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let source = KeySource::KeyFile(dir.path().join("db.key"));
    let db = Db::open(dir.path(), &source).expect("opening the database");
    let clock = ManualClock::new(T0);
    let mut config = HostConfig::new(dir.path());
    config.clock = Arc::new(clock.clone());
    config.cache_dir = Some(std::env::temp_dir().join("a2e-fuzz-module-cache"));
    config.config_overrides.insert("auth".into(), [("base_url".to_owned(), "http://a2e.test".to_owned())].into());
    let host = Host::open(db, config).expect("opening the host");
    (host, clock, dir)
}

/// A host as [`host`] returns, with the bundled auth plugin installed and granted as `a2e
/// serve` installs it (only auth: the other bundled plugins are not what these targets test,
/// and compiling them with coverage instrumentation would slow every start).
pub fn host_with_auth() -> (Host, ManualClock, tempfile::TempDir) {
    let (host, clock, dir) = host();
    let auth = a2e_server::bundled::sources()
        .expect("reading the bundled plugins")
        .into_iter()
        .find(|s| s.manifest.name == "auth")
        .expect("the auth plugin was not bundled into this build: build plugins/ first");
    host.install_source(auth, &a2e_host::InstallOptions { grant_requested: true, replace: false })
        .expect("installing the bundled auth plugin");
    (host, clock, dir)
}

/// Writes a plugin directory holding `guest`'s module and a manifest with `fields`.
pub fn plugin_dir(parent: &std::path::Path, name: &str, guest: &str, fields: Value) -> PathBuf {
    let bytes = wasm(guest);
    let dir = parent.join(format!("src-{name}"));
    std::fs::create_dir_all(&dir).expect("plugin dir");
    std::fs::write(dir.join(format!("{guest}.wasm")), &bytes).expect("writing the module");
    let mut manifest = serde_json::json!({
        "name": name,
        "version": "1.0.0",
        "abi_version": 1,
        "wasm": { "file": format!("{guest}.wasm"), "sha256": a2e_host::manifest::sha256_hex(&bytes) },
    });
    for (k, v) in fields.as_object().expect("fields are an object") {
        manifest[k] = v.clone();
    }
    std::fs::write(dir.join("plugin.json"), manifest.to_string()).expect("writing plugin.json");
    dir
}

/// Checks that `bytes` is a wire envelope and returns its error code, if it is an error.
///
/// The envelope is `{"success": true, "data": ...}` or `{"success": false, "error": {"code",
/// "message"}}` with a non-empty upper-case code.
pub fn envelope_code(bytes: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("answer is not JSON ({e}): {}", String::from_utf8_lossy(bytes)));
    match value.get("success") {
        Some(Value::Bool(true)) => {
            assert!(value.get("data").is_some(), "success without data: {value}");
            None
        }
        Some(Value::Bool(false)) => {
            let code = value["error"]["code"].as_str().unwrap_or_else(|| panic!("error without a code: {value}"));
            assert!(value["error"]["message"].is_string(), "error without a message: {value}");
            assert!(
                !code.is_empty() && code.chars().all(|c| c.is_ascii_uppercase() || c == '_'),
                "malformed error code: {value}"
            );
            Some(code.to_owned())
        }
        _ => panic!("answer without a boolean `success`: {value}"),
    }
}

/// The codes a host function may answer with: the ones every function may return (less
/// INTERNAL, which no input may cause) plus the function's own.
pub fn allowed_codes(spec: &a2e_abi::HostFunction) -> BTreeSet<&'static str> {
    let mut allowed: BTreeSet<&'static str> = [codes::PERMISSION_DENIED, codes::INVALID_INPUT].into();
    allowed.extend(spec.errors.iter().copied());
    allowed
}

/// Splits off the first byte as a selector.
pub fn split_selector(data: &[u8]) -> Option<(u8, &[u8])> {
    data.split_first().map(|(first, rest)| (*first, rest))
}

/// Replaces each `placeholder` in `input` with its value (byte-wise; the input need not be
/// UTF-8). Lets a seed or a mutation name a live token the harness holds.
pub fn substitute(input: &[u8], placeholders: &[(&str, &str)]) -> Vec<u8> {
    let mut out = input.to_vec();
    for (name, value) in placeholders {
        let name = name.as_bytes();
        if name.is_empty() {
            continue;
        }
        let mut next = Vec::with_capacity(out.len());
        let mut i = 0;
        while i < out.len() {
            if out[i..].starts_with(name) {
                next.extend_from_slice(value.as_bytes());
                i += name.len();
            } else {
                next.push(out[i]);
                i += 1;
            }
        }
        out = next;
    }
    out
}
