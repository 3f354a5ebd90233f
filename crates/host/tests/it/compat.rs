use std::path::PathBuf;

use a2e_host::InstallOptions;

use crate::{test_host, wasm_dir};

#[test]
fn a_plain_extism_plugin_runs_unchanged_from_a_bare_wasm() {
    let t = test_host();
    let path = t.dir.path().join("vowels.wasm");
    std::fs::copy(wasm_dir().join("vowels.wasm"), &path).unwrap();
    let info = t.host.install(&path, &InstallOptions::default()).unwrap();
    assert_eq!(info.name, "vowels");
    assert!(info.granted.is_empty() && info.requested_grants.is_empty());
    assert!(info.exports.contains(&"count_vowels".to_owned()), "{:?}", info.exports);
    let first = t.host.call("vowels", "count_vowels", b"Hello World", &Default::default()).unwrap();
    assert_eq!(first, br#"{"count":3,"total":3}"#);
    // Extism vars persist within an instance between calls.
    let second = t.host.call("vowels", "count_vowels", b"aaa", &Default::default()).unwrap();
    assert_eq!(second, br#"{"count":3,"total":6}"#);
}

/// The count_vowels module that ships inside the extism-pdk crate.
fn shipped_count_vowels() -> PathBuf {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME or CARGO_HOME")).join(".cargo"));
    let src = home.join("registry").join("src");
    for index in std::fs::read_dir(&src).unwrap_or_else(|e| panic!("{}: {e}", src.display())).flatten() {
        let candidate = index.path().join("extism-pdk-1.4.1").join("count_vowels.wasm");
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!("extism-pdk 1.4.1 is not in {}; building plugins/ fetches it", src.display());
}

#[test]
fn the_count_vowels_module_shipped_with_extism_pdk_runs() {
    let t = test_host();
    let path = t.dir.path().join("count_vowels.wasm");
    std::fs::copy(shipped_count_vowels(), &path).unwrap();
    let info = t.host.install(&path, &InstallOptions::default()).unwrap();
    assert_eq!(info.name, "count_vowels");
    let out = t.host.call("count_vowels", "count_vowels", b"Hello, World!", &Default::default()).unwrap();
    let out: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(out["count"], 3, "{out}");
}
