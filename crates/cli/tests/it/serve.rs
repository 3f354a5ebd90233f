//! `a2e serve` and `a2e user create`, run as an operator would.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};

use crate::{a2e, json, stderr};

#[test]
fn user_create_makes_a_verified_admin_who_can_log_in() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["--json", "user", "create", "--admin", "--name", "Root", "--email", "root@example.com"];
    let out = a2e(dir.path(), &args, &[], "a long enough password\n");
    assert!(out.status.success(), "{}", stderr(&out));
    let created = json(&out);
    assert_eq!(created["role"], "admin");
    let login = a2e(
        dir.path(),
        &["plugin", "call", "auth", "login", r#"{"email":"root@example.com","password":"a long enough password"}"#],
        &[],
        "",
    );
    assert!(login.status.success(), "{}", stderr(&login));
    let body = json(&login);
    assert_eq!(body["data"]["user"]["role"], "admin", "{body}");
    assert_eq!(body["data"]["user"]["email_verified"], true, "{body}");

    // The same email again: refused, nothing changed.
    let again = a2e(
        dir.path(),
        &["user", "create", "--admin", "--name", "Other", "--email", "root@example.com"],
        &[],
        "another password!!\n",
    );
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr(&again).contains("exists already"), "{}", stderr(&again));
    // A password under the policy: refused with the plugin's message.
    let short = a2e(dir.path(), &["user", "create", "--name", "Shorty", "--email", "s@example.com"], &[], "short\n");
    assert_eq!(short.status.code(), Some(1));
    assert!(stderr(&short).contains("INVALID_INPUT"), "{}", stderr(&short));
    // No password at all.
    let none = a2e(dir.path(), &["user", "create", "--name", "Empty", "--email", "e@example.com"], &[], "");
    assert_eq!(none.status.code(), Some(1));
    assert!(stderr(&none).contains("standard input ended"), "{}", stderr(&none));
}

fn get(addr: &str, path: &str) -> String {
    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    write!(conn, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    conn.read_to_string(&mut response).unwrap();
    response
}

#[test]
fn serve_installs_the_bundled_plugins_answers_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_a2e"))
        .arg("--data-dir")
        .arg(dir.path())
        .args(["serve", "--addr", "127.0.0.1:0"])
        .env_remove("A2E_DB_KEY")
        .env_remove("A2E_DB_KEY_FILE")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let addr = first
        .strip_prefix("a2e listening on http://")
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("unexpected first line: {first}"))
        .to_owned();
    assert!(lines.next().unwrap().unwrap().contains("no administrator yet"));
    let health = get(&addr, "/healthz");
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    let setup = get(&addr, "/api/setup");
    assert!(setup.contains(r#"{"needs_setup":true}"#), "{setup}");

    // A second server on the same address cannot start, and says why.
    let busy = a2e(dir.path(), &["serve", "--addr", &addr], &[], "");
    assert_eq!(busy.status.code(), Some(1));
    assert!(stderr(&busy).contains("cannot listen"), "{}", stderr(&busy));

    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert!(err.contains("installed the bundled plugin `auth`"), "{err}");
    assert!(err.contains("a2e stopped"), "{err}");
}

#[test]
fn auth_rate_limits_out_of_range_are_refused_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    for flag in ["--auth-rate-per-ip", "--auth-rate-per-account"] {
        let out = a2e(dir.path(), &["serve", "--addr", "127.0.0.1:0", flag, "0"], &[], "");
        assert_eq!(out.status.code(), Some(2));
        assert!(stderr(&out).contains(flag) && stderr(&out).contains("0"), "{}", stderr(&out));
    }
    // Nothing was created in the data dir.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
