//! `cargo xtask bench`: runs every benchmark in one go and writes docs/BENCHMARKS.md from the
//! figures they report (see `report.rs`), with the machine it ran on and how to reproduce it.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use crate::report::{self, Row};

/// One benchmark: its report section, the cargo bench that produces it, and what a reader needs
/// to know to read its figures.
struct Bench {
    section: &'static str,
    title: &'static str,
    package: &'static str,
    bench: &'static str,
    about: &'static str,
}

const BENCHES: &[Bench] = &[
    Bench {
        section: "storage",
        title: "Storage: SQLCipher against plain SQLite",
        package: "a2e-db",
        bench: "db",
        about: "The same operations on a plain SQLite database and on the SQLCipher one a2e uses \
(10 000 users and 10 000 kv entries, WAL, `synchronous=NORMAL`, 64 MiB page cache, HMAC-SHA256 \
page authentication); mean per call, value = encrypted, baseline = plain. Reads stay in the page \
cache, so encryption costs little there; every committed write appends its pages to the WAL \
encrypted and authenticated, and the checkpoint later re-encrypts them into the main file, which \
is what a single-row write pays for.",
    },
    Bench {
        section: "runtime",
        title: "Runtime: a2e against raw Extism",
        package: "a2e-host",
        bench: "runtime",
        about: "The same `fixture.wasm` with the same host functions linked, called through a2e and \
through a bare Extism plugin (\"same limits\" gives the bare plugin the timeout and memory cap a2e \
applies); mean per call. a2e's own per-call work is the registry lookup, the pool checkout and \
return, the call context, and on the first host function of a call the grant check. Argon2id \
inside wasm against native is recorded because it is why password hashing is a host function. \
Two threads barely scale on two cores: Extism's timeout timer is one more thread per process that \
every call with a timeout talks to.",
    },
    Bench {
        section: "auth",
        title: "Auth plugin",
        package: "a2e-host",
        bench: "auth",
        about: "Login through the auth plugin against a native argon2id verification of the same \
password, and the timing of answers that must not reveal whether an account exists; rounds \
interleaved with alternating order, p50. Mail is sent by a background queue, so no answer waits \
for the outbox or SMTP; an unknown address runs the same host calls as a known one (a token \
drawn, the mail budget counted, the reset-token transaction, an audit event), but a known \
address's insert commits while an unknown one's is refused by the foreign key and rolled back. \
That difference is recorded here, in-process; the goal for it is held where a client can time \
it, at the HTTP answer, which the server gives no sooner than a fixed floor (HTTP section).",
    },
    Bench {
        section: "http",
        title: "HTTP: verify-session through the full stack",
        package: "a2e-server",
        bench: "http",
        about: "`wrk -t2 -c64` sends `GET /api/auth/session` with a session cookie to the full \
server (middleware, the auth plugin's `verify_session`, which writes the sliding expiry once it \
moves by a minute, the user load) and to a minimal native axum handler doing the same lookup in Rust, one after the other \
after a warm-up of each. wrk shares the two cores with the server. Then forgot-password requests \
for the bench account's address and for unknown ones go through the router in interleaved rounds \
(p50 of each), with the server's default answer floor.",
    },
    Bench {
        section: "isolation",
        title: "Fault isolation under load",
        package: "a2e-host",
        bench: "isolation",
        about: "8 threads call a healthy plugin's host-function DB read while one thread drives a \
second plugin through traps, panics, timeouts, allocations over its memory cap, 100 MB outputs \
and malformed requests to every host function (`A2E_ISOLATION_SECS`, default 60 s), with phases \
before and after. The memory baseline is taken after a warm-up that includes one round of every \
fault (so the faulty plugin's pool exists); after / before then shows what repeated faults leave \
behind. The p99 during faults is scheduling: nine busy threads on two cores.",
    },
    Bench {
        section: "realtime",
        title: "Realtime rooms over WebSocket",
        package: "a2e-server",
        bench: "realtime",
        about: "1 000 real WebSocket clients (tokio-tungstenite) on loopback join 10 rooms of the \
`rooms` test guest ticking at 20 Hz; each client sends an input every 50 ms, each tick applies \
every input (a clamped move of the sender's position in the room state) and broadcasts an update \
acknowledging each client's latest sequence number. Latency is from sending an input to the first \
broadcast that acknowledges it, as the client sees it. The baseline is a native Rust room server \
(axum WebSocket, a tokio loop per room doing the same per-input work and sending the same frames) \
driven by the same clients in the same run. a2e's tick time is the plugin call as the host times \
it: JSON in (state, inputs), the wasm tick, JSON out. Clients, server and rooms share the process \
and the two cores, so CPU is the whole process. The ramp then opens fresh rooms with more clients \
each until a tick is skipped.",
    },
    Bench {
        section: "game",
        title: "The game: bots against the game plugins",
        package: "a2e-server",
        bench: "game",
        about: "Real WebSocket bot clients (tokio-tungstenite, in the bench process) play the arena \
game against the full server with the bundled tick-manager, anticheat, game-logic and audit \
plugins. Load: 10 matches x 16 honest bots at 20 Hz for 300 s (`A2E_GAME_BENCH_SECS`); honest \
bots send an input every 50 ms covering the time since the last one and hold each back 0-200 ms \
(in order, so they arrive in bursts). The tick time is tick-manager's whole tick as the host times \
it, calls to anticheat and game-logic included. Detection: 2 matches of 10 cheating bots (2 each: \
speed hack, teleport, input flood, a clock running twice as fast, replayed sequence numbers) and 6 \
honest ones for 20 s; a cheater counts when an `anticheat.sanction` event names it within 10 s of \
its first cheating input. Match size: one match of 16, 24 and 32 honest bots, 30 s each. Audit: \
1 000 000 records in the audit plugin's format written straight into its key-value namespace \
(`A2E_AUDIT_BENCH_RECORDS`), then `audit.verify` over all of them, 200 000 records per call.",
    },
    Bench {
        section: "chat",
        title: "Chat with a local model",
        package: "a2e-server",
        bench: "chat",
        about: "A real model server (llama.cpp's server from PyPI xllamacpp, SmolLM2-135M-Instruct \
Q4_1, one thread, one generation at a time; tools/model_server.py) answers the same question at \
temperature 0 with at most 96 tokens, in alternating rounds (`A2E_CHAT_BENCH_ROUNDS`, 20): \
straight to its streaming `/v1/chat/completions`, and through a2e (HTTP `send` to the chat \
plugin, which opens the request with the host's outbound HTTP and forwards the stream through \
the answer's room; the client follows it on the realtime socket). Time to first token is from \
sending the request to the first text the client receives; tokens per second count the tokens \
the model reported over the time after the first text. Then 10 users send a chat at once; \
every answer must arrive, finishing in the order the chats were queued. The model, a2e and the \
clients share the two cores.",
    },
    Bench {
        section: "soak",
        title: "Soak",
        package: "a2e-server",
        bench: "soak",
        about: "wrk (2 threads, 32 connections) against the full server over a socket with a mix of \
5% signups, 5% logins, 55% session checks and 35% plugin calls (`A2E_SOAK_SECS`, 600 s in this \
report; `cargo xtask soak MINUTES` runs it alone), RSS sampled every 15 s. Throughput is bounded \
by Argon2id: every signup and login hashes with 19 MiB. The database grows all along (a signup \
every few requests), and SQLite's page caches (at most 64 MiB per connection) fill with it; a \
leak would show as a rising envelope of RSS peaks. Resident memory stays bounded because the \
server sets glibc's mmap threshold at start (without it, threads kept freed Argon2 buffers and \
RSS grew to gigabytes).",
    },
];

/// Runs `cargo bench` for `bench`, echoing its output, and returns the report rows it printed.
fn run_one(root: &Path, bench: &Bench) -> Result<Vec<Row>> {
    crate::step(&format!("{} (cargo bench -p {} --bench {})", bench.title, bench.package, bench.bench));
    let mut child = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["bench", "--package", bench.package, "--bench", bench.bench])
        .current_dir(root)
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting the {} bench", bench.bench))?;
    let mut rows = Vec::new();
    let stdout = child.stdout.take().context("bench stdout")?;
    for line in BufReader::new(stdout).lines() {
        let line = line.context("reading bench output")?;
        match report::parse(&line) {
            Some(row) => rows.push(row),
            None => println!("{line}"),
        }
    }
    let status = child.wait()?;
    if !status.success() {
        bail!("the {} bench failed ({status}); docs/BENCHMARKS.md was not written", bench.bench);
    }
    if rows.is_empty() {
        bail!("the {} bench reported no figures", bench.bench);
    }
    if let Some(row) = rows.iter().find(|r| r.section != bench.section) {
        bail!(
            "the {} bench reported `{}` under section `{}`, not `{}`",
            bench.bench,
            row.figure,
            row.section,
            bench.section
        );
    }
    Ok(rows)
}

/// Runs every bench and writes docs/BENCHMARKS.md.
pub fn run(root: &Path) -> Result<()> {
    if std::env::var_os("A2E_SOAK_SECS").is_none() {
        std::env::set_var("A2E_SOAK_SECS", "600");
    }
    let started = std::time::Instant::now();
    let mut results = Vec::new();
    for bench in BENCHES {
        results.push((bench, run_one(root, bench)?));
    }
    let minutes = started.elapsed().as_secs_f64() / 60.0;
    let text = render(&machine(root), &results, minutes);
    let path = root.join("docs").join("BENCHMARKS.md");
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    println!("\nwrote {}", path.display());
    Ok(())
}

fn first_line(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".into())
}

fn proc_field(file: &str, key: &str) -> Option<String> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(key).map(|v| v.trim_start_matches([' ', '\t', ':', '=']).trim().to_owned()))
}

fn locked_version(root: &Path, package: &str) -> String {
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).unwrap_or_default();
    let needle = format!("name = \"{package}\"\nversion = \"");
    lock.find(&needle)
        .and_then(|at| lock[at + needle.len()..].split('"').next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

/// A description of this machine and toolchain.
fn machine(root: &Path) -> String {
    let cpu = proc_field("/proc/cpuinfo", "model name").unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let mem_gib = proc_field("/proc/meminfo", "MemTotal")
        .and_then(|v| v.split_whitespace().next().and_then(|kb| kb.parse::<f64>().ok()))
        .map(|kb| format!("{:.0} GiB", kb / 1024.0 / 1024.0))
        .unwrap_or_else(|| "unknown memory".into());
    let os = proc_field("/etc/os-release", "PRETTY_NAME").map(|v| v.trim_matches('"').to_owned()).unwrap_or_default();
    format!(
        "{cores} cores of {cpu}, {mem_gib}, {os}, kernel {}; {}; extism {}, wasmtime {}, rusqlite {} \
         (bundled SQLCipher); run on {}",
        first_line("uname", &["-r"]),
        first_line("rustc", &["--version"]),
        locked_version(root, "extism"),
        locked_version(root, "wasmtime"),
        locked_version(root, "rusqlite"),
        first_line("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
    )
}

fn met_text(row: &Row) -> &'static str {
    match row.met {
        Some(true) => "yes",
        Some(false) => "**no**",
        None => "–",
    }
}

fn cell(text: &str) -> String {
    if text.is_empty() {
        "–".into()
    } else {
        text.replace('|', "\\|")
    }
}

/// The report's Markdown.
fn render(machine: &str, results: &[(&Bench, Vec<Row>)], minutes: f64) -> String {
    let mut out = String::new();
    out.push_str("# Benchmarks\n\n");
    out.push_str(
        "Generated by `cargo xtask bench`, which runs every benchmark of the project in one go and \
         writes this file; do not edit it by hand. Each ratio is against a baseline measured in the \
         same run, on the same machine, under the same load. The machine is shared and noisy: \
         repeated runs move single ratios by up to about ±0.3, so read them as orders of magnitude.\n\n",
    );
    out.push_str(&format!("Machine: {machine}. The whole run took {minutes:.0} minutes.\n\n"));
    out.push_str(
        "Reproduce: `cargo xtask bench` (it builds the wasm plugins first; needs `wrk`, which it \
         installs with apt-get when run as root). Environment: `A2E_ISOLATION_SECS` (fault phase, \
         default 60), `A2E_SOAK_SECS` (default 600 here), `A2E_HTTP_BENCH_SECS` (default 10). \
         One bench alone: `cargo bench -p PACKAGE --bench NAME` (listed per section).\n\n",
    );
    out.push_str("## Goals at a glance\n\n| section | figure | ratio | goal | met |\n|---|---|---|---|---|\n");
    for (bench, rows) in results {
        for row in rows.iter().filter(|r| r.met.is_some()) {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} |\n",
                bench.section,
                cell(&row.figure),
                row.ratio.map(|r| format!("{r:.2}")).unwrap_or_default(),
                cell(&row.goal),
                met_text(row)
            ));
        }
    }
    for (bench, rows) in results {
        out.push_str(&format!(
            "\n## {} (`cargo bench -p {} --bench {}`)\n\n{}\n\n",
            bench.title, bench.package, bench.bench, bench.about
        ));
        out.push_str("| figure | value | baseline | ratio | goal | met |\n|---|---|---|---|---|---|\n");
        for row in rows {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} |\n",
                cell(&row.figure),
                cell(&row.value),
                cell(&row.baseline),
                row.ratio.map(|r| format!("{r:.2}")).unwrap_or_else(|| "–".into()),
                cell(&row.goal),
                met_text(row)
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{goal_met, parse, MARK};

    #[test]
    fn the_report_lists_every_goal_and_every_figure() {
        let rows = vec![
            report::ratio_row("storage", "kv_get", "8 µs".into(), "7 µs".into(), 1.14, "<= 1.25"),
            report::ratio_row("storage", "kv_set", "37 µs".into(), "20 µs".into(), 1.83, "<= 1.25"),
            report::plain_row("storage", "kv_list | 50 rows", "33 µs".into(), "36 µs".into(), Some(0.92)),
        ];
        let text = render("test machine", &[(&BENCHES[0], rows)], 1.0);
        assert!(text.contains("Machine: test machine."));
        assert!(text.contains("| storage | kv_get | 1.14 | <= 1.25 | yes |"));
        assert!(text.contains("| storage | kv_set | 1.83 | <= 1.25 | **no** |"));
        assert!(text.contains("| kv_list \\| 50 rows | 33 µs | 36 µs | 0.92 | – | – |"));
        assert_eq!(text.matches("| storage |").count(), 2, "only figures with a goal are in the summary");
    }

    #[test]
    fn every_bench_section_is_distinct() {
        let sections: std::collections::BTreeSet<_> = BENCHES.iter().map(|b| b.section).collect();
        assert_eq!(sections.len(), BENCHES.len());
    }

    #[test]
    fn goals_are_read_both_ways_and_approximately() {
        assert_eq!(goal_met("<= 1.25", 1.2), Some(true));
        assert_eq!(goal_met("<= 1.25", 1.3), Some(false));
        assert_eq!(goal_met(">= 0.70", 0.59), Some(false));
        assert_eq!(goal_met("~1.00", 0.95), Some(true));
        assert_eq!(goal_met("~1.00", 0.86), Some(false));
        assert_eq!(goal_met("recorded", 4.0), None);
    }

    #[test]
    fn a_row_survives_its_line_and_other_lines_are_ignored() {
        let row = report::ratio_row("storage", "kv_get\tpoint", "8.31 µs".into(), "6.88 µs".into(), 1.208, "<= 1.25");
        let line = format!("{MARK}\tstorage\tkv_get point\t8.31 µs\t6.88 µs\t1.208\t<= 1.25\ttrue");
        let parsed = parse(&line).unwrap();
        assert_eq!(parsed, Row { figure: "kv_get point".into(), ..row });
        assert_eq!(parse("kv_get 1.2"), None);
        assert_eq!(parse(&format!("{MARK}\tshort")), None);
    }
}
