//! The auth plugin's public functions with any input, through the runtime, on a real encrypted
//! database with the file outbox.
//!
//! Input: selector byte (which public function, in the manifest's order), then the input bytes. `$SESSION`, `$ACCESS`
//! and `$REFRESH` are replaced with live tokens of an account the harness signed in, so mutations
//! of seeds reach the code behind authentication. After a call that may revoke those tokens the
//! harness signs in again (when the input named one of its tokens).
//! Properties: no call traps or fails; every answer is a well-formed envelope; no input makes
//! the plugin answer INTERNAL.

#![no_main]

use std::sync::{Mutex, OnceLock};

use a2e_abi::codes;
use a2e_fuzz::{envelope_code, host_with_auth, split_selector, substitute};
use a2e_host::{CallOptions, Host};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};

/// Functions after which the harness's tokens may no longer be valid.
const REVOKING: &[&str] = &["logout", "logout_all", "reset_password", "change_password", "refresh"];

const EMAIL: &str = "harness-7f3a@fuzz.a2e.test";
const PASSWORD: &str = "harness password 7f3a long enough";

struct Tokens {
    session: String,
    access: String,
    refresh: String,
}

struct Harness {
    host: Host,
    /// The plugin's public functions, from its manifest.
    functions: Vec<String>,
    tokens: Mutex<Tokens>,
    _dir: tempfile::TempDir,
}

fn call(host: &Host, function: &str, input: &[u8]) -> Vec<u8> {
    let options = CallOptions { client_addr: Some("198.51.100.7".into()), ..Default::default() };
    host.call("auth", function, input, &options).unwrap_or_else(|e| panic!("auth.{function} trapped or failed: {e}"))
}

fn login(host: &Host) -> Option<Tokens> {
    let out = call(host, "login", json!({ "email": EMAIL, "password": PASSWORD }).to_string().as_bytes());
    let value: Value = serde_json::from_slice(&out).ok()?;
    let data = value.get("data")?;
    Some(Tokens {
        session: data["session_token"].as_str()?.to_owned(),
        access: data["access_token"].as_str()?.to_owned(),
        refresh: data["refresh_token"].as_str()?.to_owned(),
    })
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let (host, _clock, dir) = host_with_auth();
        let signup = json!({ "name": "harness", "email": EMAIL, "password": PASSWORD });
        envelope_code(&call(&host, "signup", signup.to_string().as_bytes()));
        let tokens = login(&host).expect("the harness account logs in");
        let functions = host.manifest("auth").expect("the auth manifest").public;
        assert!(!functions.is_empty(), "the auth plugin lists no public functions");
        Harness { host, functions, tokens: Mutex::new(tokens), _dir: dir }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((selector, input)) = split_selector(data) else { return };
    let h = harness();
    let function = h.functions[usize::from(selector) % h.functions.len()].as_str();
    let mut tokens = h.tokens.lock().unwrap_or_else(|e| e.into_inner());
    let input =
        substitute(input, &[("$SESSION", &tokens.session), ("$ACCESS", &tokens.access), ("$REFRESH", &tokens.refresh)]);
    let names_a_token = input.as_slice() != data.get(1..).unwrap_or_default();
    let out = call(&h.host, function, &input);
    if let Some(code) = envelope_code(&out) {
        assert_ne!(code, codes::INTERNAL, "auth.{function} answered INTERNAL: {}", String::from_utf8_lossy(&out));
    }
    if names_a_token && REVOKING.contains(&function) {
        if let Some(fresh) = login(&h.host) {
            *tokens = fresh;
        }
    }
});
