//! Every host function's request decoding and handling, reached the way a plugin reaches it:
//! a real wasm guest (the fixture plugin's `call_host_bytes`) sends the fuzzed bytes through
//! Extism to the host, which answers from a real encrypted database.
//!
//! Input: selector byte (bit 7: call from a plugin holding no grants; bits 0-6: which host
//! function), then the request bytes.
//! Properties: the call never traps; the answer is a well-formed envelope; a plugin without the
//! grant always gets PERMISSION_DENIED, whatever the bytes; otherwise the error code is
//! INVALID_INPUT or one the function documents, never INTERNAL.

#![no_main]

use std::sync::OnceLock;

use a2e_abi::{codes, HOST_FUNCTIONS};
use a2e_fuzz::{allowed_codes, envelope_code, host, plugin_dir, split_selector};
use a2e_host::{CallOptions, Host, InstallOptions};
use libfuzzer_sys::fuzz_target;
use serde_json::json;

struct Harness {
    host: Host,
    _dir: tempfile::TempDir,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let (host, _clock, dir) = host();
        // Every plain grant, and a call grant (the harness's other plugin is the callee).
        let mut all: Vec<&str> = a2e_abi::Grant::ALL.iter().filter(|g| !g.is_scoped()).map(|g| g.as_str()).collect();
        all.push("call:ungranted");
        // Outbound HTTP only to a loopback port nothing listens on (discard): requests are
        // checked and refused or fail to connect, never leave the machine.
        all.push("http:http://127.0.0.1:9");
        for (name, grants) in [("granted", all), ("ungranted", Vec::new())] {
            let src = plugin_dir(
                dir.path(),
                name,
                "fixture",
                json!({ "exports": ["call_host_bytes", "room_message"], "grants": grants }),
            );
            host.install(&src, &InstallOptions { grant_requested: true, replace: false })
                .expect("installing the fixture");
        }
        Harness { host, _dir: dir }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((selector, request)) = split_selector(data) else { return };
    let spec = &HOST_FUNCTIONS[usize::from(selector & 0x7f) % HOST_FUNCTIONS.len()];
    let ungranted = selector & 0x80 != 0;
    let plugin = if ungranted { "ungranted" } else { "granted" };
    let mut input = spec.name.as_bytes().to_vec();
    input.push(0);
    input.extend_from_slice(request);
    let options = CallOptions { client_addr: Some("203.0.113.9".into()), ..Default::default() };
    let out = harness()
        .host
        .call(plugin, "call_host_bytes", &input, &options)
        .unwrap_or_else(|e| panic!("{} trapped or failed: {e}", spec.name));
    let code = envelope_code(&out);
    if ungranted {
        assert_eq!(code.as_deref(), Some(codes::PERMISSION_DENIED), "{} without its grant", spec.name);
    } else if let Some(code) = code {
        assert!(
            allowed_codes(spec).contains(code.as_str()),
            "{} answered {code}, which it does not document: {}",
            spec.name,
            String::from_utf8_lossy(&out)
        );
    }
});
