//! The arena game under load, with real WebSocket bot clients over loopback against the full
//! server and the bundled game plugins (tick-manager, anticheat, game-logic, audit).
//!
//! 1. Load: 10 matches x 16 honest bots at 20 Hz for `A2E_GAME_BENCH_SECS` (default 300 s).
//!    Honest bots send an input every 50 ms of their own clock covering the time since the last
//!    one (at most 100 ms, as the UI does after a stall), and hold each input back 0-200 ms
//!    before sending it (in order, so inputs bunch up in bursts), echoing the latest nonce. Reported: tick-manager's tick p50/p99 (the whole
//!    pipeline: anticheat, game-logic, deltas), skipped and late ticks, bytes per second per
//!    client, and honest bots ever sanctioned.
//! 2. Detection: 2 matches of 10 cheating bots (2 each: speed hack, teleport, input flood, a
//!    clock running twice as fast, replayed sequence numbers) and 6 honest bots for 20 s;
//!    reported: the share of cheaters with an `anticheat.sanction` event within 10 s of their
//!    first cheating input.
//! 3. Match size: one match of 16, 24 and 32 honest bots, 30 s each: the largest with tick p99
//!    <= 5 ms and no skipped tick.
//! 4. The audit trail: 1 000 000 records in the audit plugin's format written straight into its
//!    key-value namespace, then `audit.verify` over all of them.
//!
//! Run with `cargo xtask bench` or `cargo bench -p a2e-server --bench game` after building
//! plugins/ for wasm32.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use a2e_db::{AuditFilter, Db, KeySource, Page};
use a2e_host::{Host, HostConfig};
use a2e_server::{AppState, ServerConfig};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

#[path = "../../../xtask/src/report.rs"]
mod report;

const PLUGIN: &str = "tick-manager";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Honest,
    Speed,
    Teleport,
    Flood,
    Timer,
    Replay,
}

impl Kind {
    const CHEATS: [Kind; 5] = [Kind::Speed, Kind::Teleport, Kind::Flood, Kind::Timer, Kind::Replay];

    fn name(self) -> &'static str {
        match self {
            Kind::Honest => "honest",
            Kind::Speed => "speed hack",
            Kind::Teleport => "teleport",
            Kind::Flood => "input flood",
            Kind::Timer => "fast clock",
            Kind::Replay => "replayed sequence numbers",
        }
    }
}

/// What one bot saw and did.
#[derive(Default)]
struct BotStats {
    bytes_in: AtomicU64,
    joined: AtomicBool,
    kicked: AtomicBool,
    /// When the first cheating input was sent (Unix ms).
    first_cheat_ms: AtomicU64,
}

struct Xorshift(u64);

impl Xorshift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

/// One bot: joins `room` with `token` and plays as `kind` until `stop`.
async fn bot(
    addr: SocketAddr,
    token: String,
    room: String,
    kind: Kind,
    seed: u64,
    stop: Arc<AtomicBool>,
    stats: Arc<BotStats>,
) {
    let mut request = format!("ws://{addr}/api/rt").into_client_request().unwrap();
    request.headers_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    // A small read buffer: the default 128 KiB is zeroed on every read, which for a bot that
    // receives a few hundred bytes at a time costs more than the frames.
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default().read_buffer_size(4096);
    let Ok((ws, _)) = tokio_tungstenite::connect_async_with_config(request, Some(config), true).await else { return };
    let (mut sink, mut stream) = ws.split();
    let join = json!({ "type": "join", "plugin": PLUGIN, "room": room, "ref": 1 });
    if sink.send(Message::Text(join.to_string().into())).await.is_err() {
        return;
    }
    let mut rng = Xorshift(seed | 1);
    let mut nonce = 0u64;
    let mut seq = 0u64;
    let every = match kind {
        Kind::Flood => Duration::from_millis(10),
        Kind::Timer => Duration::from_millis(25),
        _ => Duration::from_millis(50),
    };
    let start = Instant::now();
    let mut next_gen = start + every;
    let mut last_gen = start;
    let mut dir = [0.0f64, 0.0];
    let mut queue: std::collections::VecDeque<(Instant, String)> = Default::default();
    let mut last_frame = String::new();
    let mut next_cheat = start + Duration::from_millis(500);
    let mut dash_ready = start;
    let mut ticker = tokio::time::interval(Duration::from_millis(5));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    while !stop.load(Ordering::Relaxed) {
        tokio::select! {
            frame = stream.next() => {
                let Some(Ok(Message::Text(text))) = frame else {
                    if matches!(frame, Some(Ok(_))) { continue }
                    stats.kicked.store(true, Ordering::Relaxed);
                    return;
                };
                stats.bytes_in.fetch_add(text.len() as u64, Ordering::Relaxed);
                if text.contains("\"joined\"") {
                    stats.joined.store(true, Ordering::Relaxed);
                } else if text.starts_with("{\"type\":\"left\"") || text.starts_with("{\"type\":\"closed\"") {
                    stats.kicked.store(true, Ordering::Relaxed);
                    return;
                }
                if text.contains("\"n\":") || text.contains("\"nonce\":") {
                    let v: Value = serde_json::from_str(&text).unwrap_or_default();
                    if let Some(n) = v["data"]["u"]["n"].as_u64().or(v["data"]["snap"]["nonce"].as_u64()) {
                        nonce = n;
                    }
                }
            }
            _ = ticker.tick() => {
                let now = Instant::now();
                if !stats.joined.load(Ordering::Relaxed) {
                    next_gen = now + every;
                    last_gen = now;
                    continue;
                }
                // One input per frame, as a real client's frame loop sends: after a stall the
                // next input covers the time since the last one, at most 100 ms (as the UI does).
                if now >= next_gen {
                    if rng.unit() < 0.05 {
                        let angle = rng.unit() * std::f64::consts::TAU;
                        dir = if rng.unit() < 0.2 { [0.0, 0.0] } else { [angle.cos(), angle.sin()] };
                    }
                    let mut dt = ((now - last_gen).as_millis() as f64).min(100.0);
                    last_gen = now;
                    next_gen = now + every;
                    let mut d = dir;
                    let mut cheat = false;
                    match kind {
                        Kind::Speed => { d = [2.5, 0.0]; cheat = true; }
                        Kind::Timer => { dt = 50.0; cheat = true; }
                        Kind::Flood => cheat = true,
                        Kind::Teleport if now >= next_cheat => {
                            dt = 3000.0;
                            cheat = true;
                            next_cheat = now + Duration::from_secs(2);
                        }
                        _ => {}
                    }
                    seq += 1;
                    // A dash now and then, never inside the 2 s cooldown (as the UI does).
                    let dash = kind == Kind::Honest && now >= dash_ready && rng.unit() < 0.01;
                    if dash {
                        dash_ready = now + Duration::from_millis(2000);
                    }
                    let frame = json!({ "type": "send", "plugin": PLUGIN, "room": room,
                        "data": { "input": { "seq": seq, "dir": d, "dt": dt, "dash": dash, "echo": nonce } } }).to_string();
                    if kind == Kind::Replay && now >= next_cheat && !last_frame.is_empty() {
                        // The previous input again, with its old sequence number.
                        queue.push_back((now, last_frame.clone()));
                        next_cheat = now + Duration::from_millis(500);
                        cheat = true;
                    }
                    if cheat && stats.first_cheat_ms.load(Ordering::Relaxed) == 0 {
                        stats.first_cheat_ms.store(unix_ms(), Ordering::Relaxed);
                    }
                    last_frame = frame.clone();
                    // Network jitter: 0-200 ms late, never overtaking an earlier input.
                    let delay = if kind == Kind::Honest { Duration::from_millis((rng.unit() * 200.0) as u64) } else { Duration::ZERO };
                    let release = queue.back().map_or(now + delay, |(t, _)| (*t).max(now + delay));
                    queue.push_back((release, frame));
                }
                while queue.front().is_some_and(|(t, _)| *t <= now) {
                    let (_, frame) = queue.pop_front().unwrap();
                    if sink.send(Message::Text(frame.into())).await.is_err() {
                        stats.kicked.store(true, Ordering::Relaxed);
                        return;
                    }
                }
            }
        }
    }
    let _ = sink.send(Message::Close(None)).await;
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize] as f64
}

struct Server {
    host: Host,
    addr: SocketAddr,
    users: Vec<(String, String)>,
}

async fn start(dir: &std::path::Path, users: usize) -> Server {
    let source = KeySource::KeyFile(dir.join("db.key"));
    let db = Db::open(dir, &source).unwrap();
    let host = Host::open(db, HostConfig::new(dir)).unwrap();
    let outcomes = a2e_server::bundled::install(&host).unwrap();
    assert!(
        outcomes.iter().all(|o| !matches!(o, a2e_server::bundled::Outcome::Missing(_))),
        "build plugins/ for wasm32 first (cargo xtask bench does): {outcomes:?}"
    );
    let mut config = ServerConfig::new("http://127.0.0.1");
    config.rt.out_queue = 256;
    let state = AppState::new(host.clone(), source, config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(a2e_server::serve(state, listener, std::future::pending()));
    let created = {
        let host = host.clone();
        tokio::task::spawn_blocking(move || {
            (0..users)
                .map(|i| {
                    let req = a2e_server::auth::SignupRequest {
                        name: format!("bot{i}"),
                        email: format!("bot{i}@example.com"),
                        password: "bench password 123".into(),
                    };
                    let login = a2e_server::auth::create_user(&host, &req, false, None).unwrap();
                    (
                        login["user"]["uuid"].as_str().unwrap().to_owned(),
                        login["session_token"].as_str().unwrap().to_owned(),
                    )
                })
                .collect::<Vec<_>>()
        })
        .await
        .unwrap()
    };
    Server { host, addr, users: created }
}

fn create_match(host: &Host, capacity: usize) -> String {
    let input = json!({ "capacity": capacity, "duration_s": 1800 });
    let out = host.call(PLUGIN, "create_match", input.to_string().as_bytes(), &Default::default()).unwrap();
    let answer: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(answer["success"], true, "{answer}");
    answer["data"]["id"].as_str().unwrap().to_owned()
}

fn close_match(host: &Host, room: &str) {
    let _ = host.call(PLUGIN, "close_match", json!({ "match": room }).to_string().as_bytes(), &Default::default());
}

/// Tick figures over a phase: the recent-tick buffer is drained every few seconds, so long
/// phases keep every sample.
struct TickProbe {
    counters: Arc<a2e_host::rt::Counters>,
    samples: Arc<Mutex<Vec<u64>>>,
    start: (u64, u64, u64),
    task: tokio::task::JoinHandle<()>,
}

impl TickProbe {
    fn start(host: &Host) -> TickProbe {
        let counters = host.realtime().plugin_counters(PLUGIN);
        counters.clear_recent_ticks();
        let s = counters.snapshot();
        let samples = Arc::new(Mutex::new(Vec::new()));
        let (c, out) = (counters.clone(), samples.clone());
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                let recent = c.recent_ticks_us();
                c.clear_recent_ticks();
                out.lock().unwrap().extend(recent.into_iter().map(u64::from));
            }
        });
        TickProbe { counters, samples, start: (s.ticks, s.skipped, s.late), task }
    }

    /// (p50 ms, p99 ms, ticks, skipped, late)
    fn finish(self) -> (f64, f64, u64, u64, u64) {
        self.task.abort();
        let mut samples = std::mem::take(&mut *self.samples.lock().unwrap());
        samples.extend(self.counters.recent_ticks_us().into_iter().map(u64::from));
        samples.sort_unstable();
        let s = self.counters.snapshot();
        (
            percentile(&samples, 0.5) / 1000.0,
            percentile(&samples, 0.99) / 1000.0,
            s.ticks - self.start.0,
            s.skipped - self.start.1,
            s.late - self.start.2,
        )
    }
}

struct Phase {
    stop: Arc<AtomicBool>,
    bots: Vec<(Kind, String, Arc<BotStats>, tokio::task::JoinHandle<()>)>,
}

impl Phase {
    fn start(server: &Server, plan: &[(String, Kind, usize)]) -> Phase {
        let stop = Arc::new(AtomicBool::new(false));
        let bots = plan
            .iter()
            .map(|(room, kind, user)| {
                let (uuid, token) = server.users[*user].clone();
                let stats = Arc::new(BotStats::default());
                let task = tokio::spawn(bot(
                    server.addr,
                    token,
                    room.clone(),
                    *kind,
                    *user as u64 * 7919 + 1,
                    stop.clone(),
                    stats.clone(),
                ));
                (*kind, uuid, stats, task)
            })
            .collect();
        Phase { stop, bots }
    }

    async fn stop(self) -> Vec<(Kind, String, Arc<BotStats>)> {
        self.stop.store(true, Ordering::Relaxed);
        let mut out = Vec::new();
        for (kind, uuid, stats, task) in self.bots {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
            out.push((kind, uuid, stats));
        }
        out
    }
}

/// Per user with an `anticheat.sanction` event: the earliest one (Unix ms) and the violations
/// behind them all.
fn sanctions(db: &Db) -> HashMap<String, (i64, Vec<String>)> {
    let mut seen: HashMap<String, (i64, Vec<String>)> = HashMap::new();
    let mut before = None;
    loop {
        let filter = AuditFilter { kind: Some("anticheat.sanction".into()), before_id: before, ..Default::default() };
        let page = db.list_audit_events(&filter, Page { limit: 1000, offset: 0 }).unwrap();
        for e in &page {
            if let Some(user) = &e.user_uuid {
                let entry = seen.entry(user.clone()).or_insert((e.at, Vec::new()));
                entry.0 = entry.0.min(e.at);
                entry.1.push(e.data["violation"].as_str().unwrap_or("?").to_owned());
            }
        }
        match page.last() {
            Some(last) if page.len() == 1000 => before = Some(last.id),
            _ => return seen,
        }
    }
}

/// The violations behind sanctions of `users`, for the report (empty when there were none).
fn violations_of(sanctioned: &HashMap<String, (i64, Vec<String>)>, users: &[&String]) -> String {
    let mut kinds: HashMap<&str, usize> = HashMap::new();
    for user in users {
        for kind in sanctioned.get(*user).map(|s| s.1.as_slice()).unwrap_or_default() {
            *kinds.entry(kind).or_default() += 1;
        }
    }
    if kinds.is_empty() {
        return String::new();
    }
    let mut list: Vec<String> = kinds.into_iter().map(|(k, n)| format!("{k} x{n}")).collect();
    list.sort();
    format!(" (violations: {})", list.join(", "))
}

/// The audit plugin's record hash (the same fields, in the same order, as plugins/audit).
fn record_hash(r: &Value) -> String {
    let body =
        json!([r["seq"], r["at"], r["kind"], r["plugin"], r["user"], r["data"], r["event_id"], r["missed"], r["prev"]]);
    Sha256::digest(body.to_string().as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

fn main() {
    let _ = rlimit::increase_nofile_limit(65_536);
    let secs: u64 = std::env::var("A2E_GAME_BENCH_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(300);
    let records: u64 = std::env::var("A2E_AUDIT_BENCH_RECORDS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async move {
        let dir = tempfile::tempdir().unwrap();
        let server = start(dir.path(), 192).await;
        let host = server.host.clone();

        // 1. Load: 10 matches x 16 honest bots.
        let mut rooms = Vec::new();
        for _ in 0..10 {
            rooms.push(create_match(&host, 16));
            tokio::time::sleep(Duration::from_millis(5)).await; // spread the ticks over the period
        }
        let plan: Vec<(String, Kind, usize)> =
            (0..160).map(|i| (rooms[i / 16].clone(), Kind::Honest, i)).collect();
        let phase = Phase::start(&server, &plan);
        tokio::time::sleep(Duration::from_secs(5)).await;
        let probe = TickProbe::start(&host);
        let bytes0: u64 = phase.bots.iter().map(|b| b.2.bytes_in.load(Ordering::Relaxed)).sum();
        let t0 = Instant::now();
        tokio::time::sleep(Duration::from_secs(secs)).await;
        let bytes1: u64 = phase.bots.iter().map(|b| b.2.bytes_in.load(Ordering::Relaxed)).sum();
        let elapsed = t0.elapsed().as_secs_f64();
        let (p50, p99, ticks, skipped, late) = probe.finish();
        let joined = phase.bots.iter().filter(|b| b.2.joined.load(Ordering::Relaxed)).count();
        let load = phase.stop().await;
        let kicked_honest = load.iter().filter(|b| b.2.kicked.load(Ordering::Relaxed)).count();
        let per_client = (bytes1 - bytes0) as f64 / elapsed / joined.max(1) as f64;
        for room in &rooms {
            close_match(&host, room);
        }
        println!("load:   {joined}/160 bots in 10 matches, {secs} s: tick p50 {p50:.3} ms p99 {p99:.3} ms, {ticks} ticks, {skipped} skipped, {late} late, {per_client:.0} B/s per client, {kicked_honest} honest bots dropped");

        // 2. Detection: 2 matches, each 10 cheaters (2 of each kind) and 6 honest bots.
        let det_rooms = [create_match(&host, 16), create_match(&host, 16)];
        let mut plan = Vec::new();
        let mut user = 160;
        for room in &det_rooms {
            for kind in Kind::CHEATS {
                for _ in 0..2 {
                    plan.push((room.clone(), kind, user));
                    user += 1;
                }
            }
            for _ in 0..6 {
                plan.push((room.clone(), Kind::Honest, user));
                user += 1;
            }
        }
        let phase = Phase::start(&server, &plan);
        tokio::time::sleep(Duration::from_secs(20)).await;
        let detection = phase.stop().await;
        for room in &det_rooms {
            close_match(&host, room);
        }
        assert!(host.flush_events(Duration::from_secs(10)));
        let sanctioned = sanctions(host.db());
        let mut per_kind: HashMap<&str, (usize, usize, Vec<i64>)> = HashMap::new();
        for (kind, uuid, stats) in &detection {
            if *kind == Kind::Honest {
                continue;
            }
            let entry = per_kind.entry(kind.name()).or_default();
            entry.0 += 1;
            let first = stats.first_cheat_ms.load(Ordering::Relaxed) as i64;
            if let Some((at, _)) = sanctioned.get(uuid) {
                let after = at - first;
                entry.2.push(after);
                if first > 0 && after <= 10_000 {
                    entry.1 += 1;
                }
            }
        }
        let cheaters: usize = per_kind.values().map(|v| v.0).sum();
        let caught: usize = per_kind.values().map(|v| v.1).sum();
        let mut kinds: Vec<_> = per_kind.iter().collect();
        kinds.sort_by_key(|(k, _)| **k);
        let detail: Vec<String> = kinds
            .iter()
            .map(|(k, (n, c, t))| format!("{k} {c}/{n} (after {} ms)", t.iter().max().copied().unwrap_or(-1)))
            .collect();
        println!("detect: {caught}/{cheaters} cheaters sanctioned within 10 s: {}", detail.join(", "));
        let honest_total: Vec<&String> = load.iter().chain(detection.iter()).filter(|b| b.0 == Kind::Honest).map(|b| &b.1).collect();
        let honest_sanctioned = honest_total.iter().filter(|u| sanctioned.contains_key(**u)).count();
        let long_honest = load.len();
        let long_sanctioned = load.iter().filter(|b| sanctioned.contains_key(&b.1)).count();
        let honest_kinds = violations_of(&sanctioned, &honest_total);
        println!("honest: {honest_sanctioned} of {} honest bots sanctioned ({long_sanctioned} of the {long_honest} that played {secs} s){honest_kinds}", honest_total.len());

        // 3. Match size ramp.
        let mut largest = 0;
        let mut ramp = Vec::new();
        for size in [16usize, 24, 32] {
            let room = create_match(&host, size);
            let plan: Vec<(String, Kind, usize)> = (0..size).map(|i| (room.clone(), Kind::Honest, i)).collect();
            let phase = Phase::start(&server, &plan);
            tokio::time::sleep(Duration::from_secs(3)).await;
            let probe = TickProbe::start(&host);
            tokio::time::sleep(Duration::from_secs(30)).await;
            let (p50, p99, ticks, skipped, _) = probe.finish();
            phase.stop().await;
            close_match(&host, &room);
            println!("size:   {size} players: tick p50 {p50:.3} ms p99 {p99:.3} ms, {ticks} ticks, {skipped} skipped");
            ramp.push(format!("{size}: p99 {p99:.2} ms"));
            if p99 <= 5.0 && skipped == 0 {
                largest = size;
            }
        }

        // 4. The audit trail: `records` records, then verify.
        let db = host.db().clone();
        let write_start = Instant::now();
        let (head_seq, head_hash) = tokio::task::spawn_blocking(move || {
            let mut prev = "0".repeat(64);
            let mut batch = Vec::with_capacity(20_000);
            for seq in 1..=records {
                let mut r = json!({ "seq": seq, "at": 1_700_000_000_000i64 + seq as i64, "kind": "game.bench",
                    "plugin": "tick-manager", "user": format!("u{}", seq % 1000), "data": { "n": seq },
                    "event_id": seq, "missed": 0, "prev": prev, "hash": "" });
                let hash = record_hash(&r);
                r["hash"] = json!(hash);
                batch.push((format!("r:{seq:012}"), r.to_string().into_bytes()));
                prev = hash;
                if batch.len() == 20_000 {
                    db.kv_set_many("audit", &batch, 0).unwrap();
                    batch.clear();
                }
            }
            db.kv_set_many("audit", &batch, 0).unwrap();
            (records, prev)
        })
        .await
        .unwrap();
        // The bench's records replace whatever the trail had: a head of its own.
        let head = json!({ "seq": head_seq, "hash": head_hash, "first": 1, "anchor": "0".repeat(64) });
        host.db().kv_set("audit", "head", head.to_string().as_bytes(), 0).unwrap();
        println!("audit:  {records} records written in {:.1} s", write_start.elapsed().as_secs_f64());
        let verify_host = host.clone();
        let verify_start = Instant::now();
        let (ok, checked) = tokio::task::spawn_blocking(move || {
            let mut input = json!({ "max": 200_000 });
            let mut checked = 0u64;
            loop {
                let out = verify_host.call("audit", "verify", input.to_string().as_bytes(), &Default::default()).unwrap();
                let answer: Value = serde_json::from_slice(&out).unwrap();
                assert_eq!(answer["success"], true, "{answer}");
                let part = &answer["data"];
                checked += part["checked"].as_u64().unwrap();
                if part["done"] == true {
                    return (part["ok"] == true, checked);
                }
                input = json!({ "from": part["next"]["from"], "prev": part["next"]["prev"], "max": 200_000 });
            }
        })
        .await
        .unwrap();
        let verify_secs = verify_start.elapsed().as_secs_f64();
        println!("audit:  verify {} over {checked} records in {verify_secs:.1} s", if ok { "intact" } else { "BROKEN" });

        use report::{emit, plain_row, ratio_row};
        let s = "game";
        emit(&ratio_row(s, "bots in play (10 matches x 16)", format!("{joined}"), "160 asked".into(), joined as f64 / 160.0, ">= 1.0"));
        emit(&ratio_row(s, "tick p99 at 20 Hz, 10 x 16 players (ms)", format!("{p99:.3} ms"), format!("p50 {p50:.3} ms"), p99, "<= 5"));
        emit(&ratio_row(s, "ticks skipped, 10 x 16 players", format!("{skipped} of {ticks}"), format!("{late} late"), skipped as f64, "<= 0"));
        emit(&ratio_row(s, "bytes per second per client at 16 players (KB/s)", format!("{:.2} KB/s", per_client / 1000.0), String::new(), per_client / 1000.0, "<= 8"));
        emit(&ratio_row(s, "cheating bots sanctioned within 10 s", format!("{caught} of {cheaters}"), detail.join("; "), caught as f64 / cheaters.max(1) as f64, ">= 1.0"));
        emit(&ratio_row(s, "honest bots ever sanctioned", format!("{honest_sanctioned} of {}", honest_total.len()),
            format!("{long_sanctioned} of {long_honest} over {secs} s"), honest_sanctioned as f64, "<= 0"));
        emit(&plain_row(s, "largest match with tick p99 <= 5 ms and no skipped tick", format!("{largest} players"), ramp.join(", "), None));
        emit(&plain_row(s, "audit trail verify (1 000 000 records)", format!("{verify_secs:.1} s"),
            format!("{} {checked} records, {:.0} records/s", if ok { "intact:" } else { "BROKEN:" }, checked as f64 / verify_secs), None));
    });
}
