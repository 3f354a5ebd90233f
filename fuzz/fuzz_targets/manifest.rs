//! The plugin manifest parser and validator, and the module inspection behind it.
//!
//! Input: selector byte, then bytes. An even selector treats the bytes as plugin.json text
//! (`$SHA` is replaced by the real module's digest so the fuzzer can get past the integrity pin)
//! and validates it against the template plugin's module; an odd one treats them as a module.
//! Properties: no panic; a manifest that parses survives a JSON round trip unchanged; a valid
//! manifest's grants parse; every refusal is an `Invalid` error with a message.

#![no_main]

use std::sync::OnceLock;

use a2e_fuzz::{split_selector, substitute, wasm};
use a2e_host::manifest::{inspect_module, sha256_hex, Caps, PluginManifest};
use a2e_host::HostError;
use libfuzzer_sys::fuzz_target;

struct Module {
    bytes: Vec<u8>,
    sha: String,
}

fn module() -> &'static Module {
    static MODULE: OnceLock<Module> = OnceLock::new();
    MODULE.get_or_init(|| {
        let bytes = wasm("template");
        Module { sha: sha256_hex(&bytes), bytes }
    })
}

fn invalid(err: HostError) -> String {
    match err {
        HostError::Invalid(message) => {
            assert!(!message.is_empty(), "a refusal without a message");
            message
        }
        other => panic!("a manifest or module was refused with a non-validation error: {other:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((selector, rest)) = split_selector(data) else { return };
    let module = module();
    if selector % 2 == 1 {
        if let Err(err) = inspect_module(rest) {
            invalid(err);
        }
        return;
    }
    let text = substitute(rest, &[("$SHA", &module.sha)]);
    let Ok(text) = std::str::from_utf8(&text) else { return };
    let manifest = match PluginManifest::parse(text) {
        Ok(manifest) => manifest,
        Err(err) => {
            invalid(err);
            return;
        }
    };
    let again = serde_json::to_string(&manifest).expect("a parsed manifest serializes");
    let reparsed = PluginManifest::parse(&again).expect("a serialized manifest parses");
    assert_eq!(manifest, reparsed, "round trip changed the manifest");
    match manifest.validate(&module.bytes, &Caps::default()) {
        Ok(info) => {
            manifest.grant_set().expect("a valid manifest's grants parse");
            for export in &manifest.exports {
                assert!(info.exports.contains(export), "validated an export the module lacks: {export}");
            }
        }
        Err(err) => {
            invalid(err);
        }
    }
});
