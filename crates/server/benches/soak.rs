//! Soak: the full server under a real load generator (`wrk`, 32 connections) for
//! `A2E_SOAK_SECS` (default 600) with a mix of signups (5%), logins (5%), session checks (55%)
//! and plugin calls (35%). Reports throughput, p50/p99 latency, answers by status (anything but
//! 200 is an error: the rate limits are raised out of the way) and the process's RSS every
//! `A2E_SOAK_SAMPLE_SECS` (default 30), so growth over time is visible.
//!
//! Run with `cargo xtask soak [MINUTES]` or `cargo bench -p a2e-server --bench soak` after
//! building plugins/. Needs `wrk` (Debian: apt-get install wrk).

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use a2e_db::{Db, KeySource};
use a2e_host::{Host, HostConfig};
use a2e_server::{AppState, ServerConfig};

const EMAIL: &str = "soak@example.com";
const PASSWORD: &str = "correct horse battery";

#[path = "../../../xtask/src/report.rs"]
mod report;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    // Measured as `a2e serve` runs (see a2e_server::process).
    a2e_server::process::bound_malloc();
    std::env::set_var("RUST_LIB_BACKTRACE", "0");
    let secs: u64 = std::env::var("A2E_SOAK_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(600);
    let sample: u64 = std::env::var("A2E_SOAK_SAMPLE_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(30);
    let dir = tempfile::tempdir().unwrap();
    let source = KeySource::KeyFile(dir.path().join("db.key"));
    let host = Host::open(Db::open(dir.path(), &source).unwrap(), HostConfig::new(dir.path())).unwrap();
    a2e_server::bundled::install(&host).unwrap();
    let exe = std::env::current_exe().unwrap();
    let template = exe.ancestors().nth(3).unwrap().join("wasm32-unknown-unknown/release/template.wasm");
    host.install(&template, &Default::default())
        .unwrap_or_else(|e| panic!("{}: {e}; build plugins/ first", template.display()));
    host.grant("template", &[a2e_abi::Grant::Log, a2e_abi::Grant::Time]).unwrap();
    let login = a2e_server::auth::create_user(
        &host,
        &a2e_server::auth::SignupRequest { name: "soak".into(), email: EMAIL.into(), password: PASSWORD.into() },
        true,
        None,
    )
    .unwrap();
    let session = login["session_token"].as_str().unwrap().to_owned();
    // The session must outlive the run; the plugin's defaults (7 days idle) do.
    let mut config = ServerConfig::new("http://127.0.0.1");
    config.auth_per_ip_per_minute = u32::MAX;
    config.auth_per_account_per_minute = u32::MAX;
    let state = AppState::new(host, source, config);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let addr: SocketAddr = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(a2e_server::serve(state, listener, std::future::pending()));
        addr
    });
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/soak.wrk.lua");
    let before = rss_kib();
    let wrk = Command::new("wrk")
        .args(["-t2", "-c32", &format!("-d{secs}s"), "--latency", "-s"])
        .arg(&script)
        .arg(format!("http://{addr}"))
        .env("A2E_SOAK_SESSION", &session)
        .env("A2E_SOAK_EMAIL", EMAIL)
        .env("A2E_SOAK_PASSWORD", PASSWORD)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("wrk: {e}; install it (Debian: apt-get install wrk)"));
    let started = Instant::now();
    let db_mib = || db_bytes(dir.path()) as f64 / (1024.0 * 1024.0);
    let mut samples = vec![(0u64, before, db_mib())];
    while started.elapsed() < Duration::from_secs(secs) {
        std::thread::sleep(Duration::from_secs(sample.min(secs)));
        samples.push((started.elapsed().as_secs(), rss_kib(), db_mib()));
    }
    let out = wrk.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let field =
        |p: &str| text.lines().find_map(|l| l.trim().strip_prefix(p).map(|v| v.trim().to_owned())).unwrap_or_default();
    let rps: f64 = field("Requests/sec:").parse().unwrap_or(0.0);
    let statuses = field("STATUSES");
    let errors: u64 = statuses
        .split_whitespace()
        .filter_map(|p| p.split_once('='))
        .filter(|(code, _)| *code != "200")
        .filter_map(|(_, n)| n.parse::<u64>().ok())
        .sum::<u64>()
        + text.lines().filter(|l| l.contains("Socket errors")).count() as u64;
    println!("\nsoak: {secs} s, wrk -t2 -c32, mix 5% signup / 5% login / 55% session / 35% plugin call");
    println!("throughput {rps:.0} requests/s; latency p50 {} us, p99 {} us", field("P50_US"), field("P99_US"));
    println!("answers by status: {statuses}; errors (non-200 or socket errors): {errors}");
    if let Some(line) = text.lines().find(|l| l.contains("Socket errors")) {
        println!("{}", line.trim());
    }
    println!("RSS over time (s: MiB, database files MiB):");
    for (at, kib, db) in &samples {
        println!("  {at:>5}: {:.1}  (db {db:.1})", *kib as f64 / 1024.0);
    }
    // Peaks, not single samples: RSS swings by tens of MiB between samples as allocations come
    // and go, and a leak shows as a rising envelope. The first minute (caches filling) is left out.
    let peak = |from: u64, to: u64| {
        samples
            .iter()
            .filter(|(at, _, _)| *at >= from && *at <= to)
            .map(|(_, kib, _)| *kib as f64 / 1024.0)
            .fold(0.0, f64::max)
    };
    let warm = 60.min(secs / 4);
    let middle = warm + (secs - warm) / 2;
    let (first, second) = (peak(warm, middle), peak(middle + 1, secs + sample));
    println!("RSS peak after the first minute: {first:.1} MiB in the first half, {second:.1} MiB in the second");
    report::emit(&report::plain_row(
        "soak",
        &format!("{secs} s, wrk -t2 -c32 mix: requests/s; latency p50 / p99"),
        format!("{rps:.0}/s"),
        format!("p50 {} / p99 {}", ms(&field("P50_US")), ms(&field("P99_US"))),
        None,
    ));
    report::emit(&report::ratio_row(
        "soak",
        &format!("errors (non-200 answers or socket errors; answers by status: {statuses})"),
        errors.to_string(),
        String::new(),
        errors as f64,
        "<= 0",
    ));
    let trace: Vec<String> =
        samples.iter().map(|(at, kib, db)| format!("{at}s {:.0} ({db:.0})", *kib as f64 / 1024.0)).collect();
    report::emit(&report::plain_row(
        "soak",
        "RSS over time, MiB (database files, MiB)",
        trace.join(", "),
        String::new(),
        None,
    ));
    let figure = "RSS peak: second half / first half of the run (after the first minute)";
    if first > 0.0 && second > 0.0 {
        let (value, baseline) = (format!("{second:.0} MiB"), format!("{first:.0} MiB"));
        report::emit(&report::ratio_row("soak", figure, value, baseline, second / first, "<= 1.25"));
    } else {
        let value = "run too short for two samples per half".to_owned();
        report::emit(&report::plain_row("soak", figure, value, String::new(), None));
    }
}

/// Microseconds as printed by the wrk script, as milliseconds.
fn ms(us: &str) -> String {
    us.parse::<f64>().map(|us| format!("{:.1} ms", us / 1000.0)).unwrap_or_else(|_| us.to_owned())
}

/// Bytes in the database files (main file, WAL, shared memory) of a data dir.
fn db_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().contains(".db"))
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}
