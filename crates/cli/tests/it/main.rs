//! End-to-end tests of the `a2e` binary, run as a user would, against temp data dirs.

mod audit; // a2e audit ...
mod auth; // a new user walks through the auth plugin
mod chat; // a2e chat against a real model server
mod db; // a2e db ...
mod plugin; // a2e plugin ...
mod serve; // a2e serve, a2e user create

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Runs `a2e` with `args` in `data_dir`, a clean key environment, and `stdin` as input.
pub fn a2e(data_dir: &Path, args: &[&str], env: &[(&str, &str)], stdin: &str) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_a2e"));
    cmd.arg("--data-dir").arg(data_dir).args(args);
    cmd.env_remove("A2E_DB_KEY").env_remove("A2E_DB_KEY_FILE").env_remove("A2E_DATA_DIR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("a2e starts");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

/// Parses stdout as JSON.
pub fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// Stderr as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
