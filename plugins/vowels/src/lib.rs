//! A standard Extism plugin written against extism-pdk only: it imports nothing but Extism's
//! kernel, and a2e must run it unchanged.

use extism_pdk::*;

/// Counts the vowels of the input text and answers `{"count": N, "total": N}` where `total`
/// accumulates across calls of the same instance in an Extism var.
#[plugin_fn]
pub fn count_vowels(input: String) -> FnResult<String> {
    let count = input.chars().filter(|c| "aeiouAEIOU".contains(*c)).count() as u64;
    let total = var::get::<String>("total")?.and_then(|t| t.parse::<u64>().ok()).unwrap_or(0) + count;
    var::set("total", total.to_string())?;
    Ok(format!("{{\"count\":{count},\"total\":{total}}}"))
}

/// Reads a value from the Extism config.
#[plugin_fn]
pub fn read_config(key: String) -> FnResult<String> {
    Ok(config::get(&key)?.unwrap_or_default())
}
