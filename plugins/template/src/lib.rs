//! The a2e template plugin, and the scaffold `a2e plugin new` starts from.
//!
//! Each function takes a JSON request and answers in the envelope protocol
//! (`{"success", "data", "error"}`) through `a2e_pdk::handle`.

use a2e_pdk::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct GreetRequest {
    name: String,
}

#[derive(Serialize)]
struct Greeting {
    message: String,
    at_unix_ms: i64,
}

/// Greets someone by name, stamped with the host clock.
#[plugin_fn]
pub fn greet(input: Vec<u8>) -> FnResult<Vec<u8>> {
    handle(&input, |req: GreetRequest| {
        let name = req.name.trim();
        if name.is_empty() {
            return Err(error("EMPTY_NAME", "name must not be empty"));
        }
        info!("greeting {name}");
        Ok(Greeting { message: format!("Hello, {name}!"), at_unix_ms: time::now()? })
    })
}

#[derive(Deserialize)]
struct RepeatRequest {
    text: String,
    #[serde(default)]
    count: Option<u32>,
}

#[derive(Serialize)]
struct Repeated {
    text: String,
    count: u32,
}

/// Repeats text `count` times (default 2, at most 100, output at most 64 KiB).
#[plugin_fn]
pub fn repeat(input: Vec<u8>) -> FnResult<Vec<u8>> {
    handle(&input, |req: RepeatRequest| {
        let count = req.count.unwrap_or(2);
        if count > 100 {
            return Err(error("COUNT_TOO_LARGE", "count must be at most 100"));
        }
        if req.text.len().saturating_mul(count as usize) > 64 * 1024 {
            return Err(error("OUTPUT_TOO_LARGE", "the repeated text would exceed 64 KiB"));
        }
        Ok(Repeated { text: req.text.repeat(count as usize), count })
    })
}

#[derive(Deserialize)]
struct ValidateRequest {
    email: String,
    age: i64,
}

#[derive(Serialize)]
struct Valid {
    valid: bool,
}

/// Validates a small form, failing with custom error codes.
#[plugin_fn]
pub fn validate(input: Vec<u8>) -> FnResult<Vec<u8>> {
    handle(&input, |req: ValidateRequest| {
        if !req.email.contains('@') {
            return Err(error("INVALID_EMAIL", "email must contain '@'"));
        }
        if !(0..=150).contains(&req.age) {
            return Err(error("INVALID_AGE", "age must be between 0 and 150"));
        }
        Ok(Valid { valid: true })
    })
}

#[derive(Serialize)]
struct Info {
    name: &'static str,
    version: &'static str,
    description: &'static str,
    abi_version: u32,
    functions: [&'static str; 4],
}

/// Describes the plugin.
#[plugin_fn]
pub fn get_info(input: Vec<u8>) -> FnResult<Vec<u8>> {
    handle(&input, |_: serde_json::Value| {
        Ok(Info {
            name: env!("CARGO_PKG_NAME"),
            version: env!("CARGO_PKG_VERSION"),
            description: env!("CARGO_PKG_DESCRIPTION"),
            abi_version: a2e_pdk::abi::ABI_VERSION,
            functions: ["greet", "repeat", "validate", "get_info"],
        })
    })
}
