//! Exit codes that scripts can rely on, and the one place errors are turned into them.

use std::process::ExitCode;

/// Success.
pub const OK: u8 = 0;
/// Any failure without a more specific code.
pub const FAILURE: u8 = 1;
// 2 is clap's code for a usage error.
/// The key is wrong or unavailable.
pub const KEY: u8 = 3;
/// A check found a problem, or the data is corrupt.
pub const CHECK_FAILED: u8 = 4;
/// The data dir has no database yet.
pub const NOT_INITIALIZED: u8 = 5;

/// An error that carries its exit code.
#[derive(Debug)]
pub struct Coded {
    pub code: u8,
    pub message: String,
}

impl std::fmt::Display for Coded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Coded {}

/// Builds an error with a specific exit code.
pub fn coded(code: u8, message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Coded { code, message: message.into() })
}

/// Picks the exit code for an error chain.
pub fn code_of(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if let Some(coded) = cause.downcast_ref::<Coded>() {
            return coded.code;
        }
        if let Some(db) = cause.downcast_ref::<a2e_db::Error>() {
            return match db {
                a2e_db::Error::WrongKey(_) | a2e_db::Error::KeyUnavailable(_) => KEY,
                a2e_db::Error::Corrupt(_) => CHECK_FAILED,
                _ => FAILURE,
            };
        }
    }
    FAILURE
}

/// Prints an error (as JSON with `--json`) and returns its exit code.
pub fn report(err: &anyhow::Error, json: bool) -> ExitCode {
    let code = code_of(err);
    if json {
        let body = serde_json::json!({ "error": { "code": code, "message": format!("{err:#}") } });
        println!("{body}");
    } else {
        eprintln!("error: {err:#}");
    }
    ExitCode::from(code)
}
