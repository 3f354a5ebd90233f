//! The schema-driven API fuzzer: Schemathesis (from PyPI) reads `/api/openapi.json` of a fresh
//! `a2e serve` and sends requests valid and invalid by the schema with an administrator's token,
//! every check on. Any failure fails the test command.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

const EMAIL: &str = "fuzz-admin@example.com";
const PASSWORD: &str = "a long fuzzing password";

/// An administrator's session token, made through the CLI (`user create`, then the auth
/// plugin's `login`) before the server starts.
fn admin_token(a2e: &Path, data: &Path) -> Result<String> {
    let mut create = Command::new(a2e)
        .arg("--data-dir")
        .arg(data)
        .args(["user", "create", "--admin", "--name", "fuzz-admin", "--email", EMAIL])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {} user create", a2e.display()))?;
    writeln!(create.stdin.take().expect("piped"), "{PASSWORD}")?;
    if !create.wait()?.success() {
        bail!("`a2e user create --admin` failed");
    }
    let login = serde_json::json!({ "email": EMAIL, "password": PASSWORD }).to_string();
    let out = Command::new(a2e)
        .arg("--data-dir")
        .arg(data)
        .args(["plugin", "call", "auth", "login", &login])
        .output()
        .with_context(|| format!("starting {} plugin call", a2e.display()))?;
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("reading the login answer: {}", String::from_utf8_lossy(&out.stdout)))?;
    answer["data"]["session_token"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("no session token in the login answer: {answer}"))
}

pub fn run(root: &Path, python: &Path, target: &Path) -> Result<()> {
    super::step("API fuzzer (Schemathesis) against a fresh `a2e serve`, every check on");
    let a2e = target.join("debug").join("a2e");
    let work = target.join("api-fuzz");
    let _ = std::fs::remove_dir_all(&work);
    let data = work.join("data");
    std::fs::create_dir_all(&work)?;
    let token = admin_token(&a2e, &data)?;
    // The per-address and per-account auth limits raised, so the auth routes' own logic is
    // reached instead of answering 429 after the first two minutes' worth of requests (the
    // limits themselves are tested in crates/server/tests/it/guard.rs).
    let limits = ["--auth-rate-per-ip", "1000000", "--auth-rate-per-account", "1000000"];
    let (server, url) = super::e2e::serve(&a2e, &data, &limits)?;
    let mut command = Command::new(python);
    command
        .args(["-m", "schemathesis.cli", "--config-file"])
        .arg(root.join("tools").join("schemathesis.toml"))
        .arg("run")
        .arg(format!("{url}/api/openapi.json"))
        .args(["--workers", "1", "--max-examples", "25", "--seed", "1"])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args(["--report", "junit", "--report-dir"])
        .arg(&work)
        .current_dir(&work);
    let status = command.status().with_context(|| format!("starting Schemathesis with {}", python.display()))?;
    drop(server);
    if !status.success() {
        bail!("the API fuzzer found failures (above; the JUnit report is in {})", work.display());
    }
    Ok(())
}
