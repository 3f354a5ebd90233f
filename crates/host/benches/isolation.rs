//! Fault isolation under load: 8 threads call a healthy plugin while a second plugin traps,
//! panics, loops until its timeout, allocates past its memory cap, floods its output and sends
//! malformed requests to every host function, in a loop. Prints the healthy calls' errors and
//! p50/p99 latency before and during, and the host's resident memory before and after.
//!
//! Run with `cargo xtask bench` or `cargo bench -p a2e-host --bench isolation`;
//! `A2E_ISOLATION_SECS` sets the length of the faulty phase (default 60).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use a2e_host::{CallOptions, Host, HostConfig, InstallOptions};
use serde_json::json;

#[path = "../../../xtask/src/report.rs"]
mod report;

fn rss_mib() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: f64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0.0);
    pages * 4096.0 / (1024.0 * 1024.0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn install(host: &Host, dir: &std::path::Path, wasm: &[u8], name: &str, grants: &[&str], limits: serde_json::Value) {
    let src = dir.join(format!("src-{name}"));
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("fixture.wasm"), wasm).unwrap();
    let manifest = json!({
        "name": name, "version": "1", "abi_version": 1,
        "wasm": { "file": "fixture.wasm", "sha256": a2e_host::manifest::sha256_hex(wasm) },
        "exports": ["read_user", "trap", "panic", "spin", "alloc", "big_output", "call_host"],
        "grants": grants,
        "limits": limits,
    });
    std::fs::write(src.join("plugin.json"), manifest.to_string()).unwrap();
    host.install(&src, &InstallOptions { grant_requested: true, replace: false }).unwrap();
}

/// What one phase of healthy calls saw. Only the summary is kept: the samples (8 bytes per call,
/// millions of calls) would otherwise sit in memory when the resident-memory figure is read.
struct Phase {
    calls: usize,
    p50: f64,
    p99: f64,
    errors: u64,
}

/// Runs the healthy load for `secs`; latencies in µs.
fn healthy_phase(host: &Arc<Host>, input: &[u8], secs: f64) -> Phase {
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let (host, stop, errors, latencies, input) =
                (host.clone(), stop.clone(), errors.clone(), latencies.clone(), input.to_vec());
            std::thread::spawn(move || {
                let mut mine = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let start = Instant::now();
                    let ok = host
                        .call("healthy", "read_user", &input, &CallOptions::default())
                        .is_ok_and(|out| out.starts_with(br#"{"success":true"#));
                    mine.push(start.elapsed().as_secs_f64() * 1e6);
                    if !ok {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                latencies.lock().unwrap().extend(mine);
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(secs));
    stop.store(true, Ordering::Relaxed);
    workers.into_iter().for_each(|w| w.join().unwrap());
    let mut all = std::mem::take(&mut *latencies.lock().unwrap());
    all.sort_by(f64::total_cmp);
    Phase {
        calls: all.len(),
        p50: percentile(&all, 0.5),
        p99: percentile(&all, 0.99),
        errors: errors.load(Ordering::Relaxed),
    }
}

/// One round of every fault by the faulty plugin: trap, panic, timeout, allocation over its cap,
/// a 100 MB output, and a malformed request to every host function; counts the calls that were
/// refused or failed as expected.
///
/// `A2E_ISOLATION_FAULTS` (comma-separated: trap, panic, spin, alloc, big_output, malformed)
/// narrows the round to some kinds, to see what a resource figure comes from.
fn fault_round(host: &Host, faults: &AtomicU64) {
    let opts = CallOptions::default();
    let only = std::env::var("A2E_ISOLATION_FAULTS").ok();
    let wanted = |kind: &str| only.as_deref().is_none_or(|list| list.split(',').any(|k| k.trim() == kind));
    for (function, input) in [
        ("trap", "".to_owned()),
        ("panic", "".into()),
        ("spin", "".into()),
        ("alloc", "64".into()),
        ("big_output", (100 << 20).to_string()),
    ] {
        if !wanted(function) {
            continue;
        }
        if host.call("faulty", function, input.as_bytes(), &opts).is_err() {
            faults.fetch_add(1, Ordering::Relaxed);
        }
    }
    for spec in a2e_abi::HOST_FUNCTIONS.iter().filter(|_| wanted("malformed")) {
        let req = json!({ "function": spec.name, "raw": "{not json" }).to_string();
        let out = host.call("faulty", "call_host", req.as_bytes(), &opts).unwrap_or_default();
        if out.windows(13).any(|w| w == b"INVALID_INPUT") {
            faults.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn main() {
    // Measured as a2e runs: the a2e binaries bound malloc the same way at start.
    a2e_host::process::bound_malloc();
    std::env::set_var("RUST_LIB_BACKTRACE", "0");
    let secs: f64 = std::env::var("A2E_ISOLATION_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(60.0);
    let exe = std::env::current_exe().unwrap();
    let wasm_path = exe.ancestors().nth(3).unwrap().join("wasm32-unknown-unknown/release/fixture.wasm");
    let wasm =
        std::fs::read(&wasm_path).unwrap_or_else(|e| panic!("{}: {e}; run `cargo xtask bench`", wasm_path.display()));
    let dir = tempfile::tempdir().unwrap();
    let db = a2e_db::Db::open(dir.path(), &a2e_db::KeySource::KeyFile(dir.path().join("db.key"))).unwrap();
    let host = Arc::new(Host::open(db, HostConfig::new(dir.path())).unwrap());
    install(&host, dir.path(), &wasm, "healthy", &["db:users"], json!({ "max_instances": 8 }));
    let all_grants: Vec<&str> = a2e_abi::Grant::ALL.iter().filter(|g| !g.is_scoped()).map(|g| g.as_str()).collect();
    install(
        &host,
        dir.path(),
        &wasm,
        "faulty",
        &all_grants,
        json!({ "max_instances": 2, "timeout_ms": 500, "memory_pages": 256 }),
    );
    let uuid = host
        .db()
        .create_user(
            &a2e_db::NewUser {
                name: "h".into(),
                email: "h@x.com".into(),
                password_hash: "h".into(),
                ..Default::default()
            },
            0,
        )
        .unwrap()
        .uuid;
    let input = json!({ "uuid": uuid }).to_string().into_bytes();

    // Warm up: the healthy plugin's instances and caches, and one round of every fault, so the
    // faulty plugin's pool and engines exist before the baseline is taken.
    healthy_phase(&host, &input, 2.0);
    fault_round(&host, &AtomicU64::new(0));
    let rss_before = rss_mib();
    let before = healthy_phase(&host, &input, 10.0);

    let stop = Arc::new(AtomicBool::new(false));
    let faults = Arc::new(AtomicU64::new(0));
    let attacker = {
        let (host, stop, faults) = (host.clone(), stop.clone(), faults.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                fault_round(&host, &faults);
            }
        })
    };
    let during = healthy_phase(&host, &input, secs);
    stop.store(true, Ordering::Relaxed);
    attacker.join().unwrap();
    let after = healthy_phase(&host, &input, 5.0);
    let rss_after = rss_mib();

    println!(
        "\nfault isolation ({secs:.0} s of faults; {} faulty calls refused or failed as expected)",
        faults.load(Ordering::Relaxed)
    );
    println!("{:<28} {:>10} {:>10} {:>10} {:>8}", "healthy read_user calls", "calls", "p50 µs", "p99 µs", "errors");
    let phases = [("before", &before), ("during faults", &during), ("after", &after)];
    for (label, phase) in phases {
        println!("{label:<28} {:>10} {:>10.1} {:>10.1} {:>8}", phase.calls, phase.p50, phase.p99, phase.errors);
    }
    println!("p99 during / before: {:.2}", during.p99 / before.p99);
    for (label, phase) in phases {
        report::emit(&report::plain_row(
            "isolation",
            &format!("healthy calls {label}: {} calls, {} errors; p99 (p50)", phase.calls, phase.errors),
            format!("{:.0} µs", phase.p99),
            format!("{:.1} µs", phase.p50),
            None,
        ));
    }
    let errors = before.errors + during.errors + after.errors;
    report::emit(&report::ratio_row(
        "isolation",
        "healthy-call errors during faults (count)",
        errors.to_string(),
        String::new(),
        errors as f64,
        "<= 0",
    ));
    report::emit(&report::plain_row(
        "isolation",
        "healthy p99 during faults / before",
        format!("{:.0} µs", during.p99),
        format!("{:.0} µs", before.p99),
        Some(during.p99 / before.p99),
    ));
    report::emit(&report::ratio_row(
        "isolation",
        "resident memory after / before",
        format!("{rss_after:.0} MiB"),
        format!("{rss_before:.0} MiB"),
        rss_after / rss_before,
        "<= 1.10",
    ));
    println!(
        "resident memory: {rss_before:.0} MiB before, {rss_after:.0} MiB after ({:+.0} MiB)",
        rss_after - rss_before
    );
}
