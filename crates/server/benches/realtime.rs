//! Realtime load with real WebSocket clients over loopback: 10 rooms x 100 clients at 20 Hz,
//! each client sending an input every tick, the room plugin (the `rooms` test guest) applying
//! each input (a clamped move of the client's position) and broadcasting a state update with the
//! acknowledged sequence number of every client each tick. The same clients then drive a native
//! Rust room server doing the same work (same frames, same per-input work, a tokio loop per room)
//! in the same run. Then the a2e server is ramped to find the most clients it holds at 20 Hz
//! before ticks are skipped.
//!
//! Rooms are opened a tenth of a period apart, so their ticks are spread over the period.
//!
//! Reported: tick p50/p99 (a2e: the plugin call as the host times it; native: the room's work),
//! ticks skipped and late, input-to-broadcast latency p50/p99 as the clients see it, messages and
//! bytes per second, process CPU and RSS (clients, server and rooms share the process and the two
//! cores). `A2E_RT_BENCH_SECS` sets each measured phase (default 10 s, after 3 s of warm-up).
//!
//! Run with `cargo xtask bench` or `cargo bench -p a2e-server --bench realtime` after building
//! plugins/.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use a2e_db::{Db, KeySource};
use a2e_host::{Host, HostConfig, InstallOptions};
use a2e_server::{AppState, ServerConfig};
use axum::extract::ws::{Message as AxumMessage, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

#[path = "../../../xtask/src/report.rs"]
mod report;

const ROOMS: usize = 10;
const HZ: u64 = 20;
const PERIOD: Duration = Duration::from_millis(1000 / HZ);

fn wasm_dir() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).unwrap().join("wasm32-unknown-unknown").join("release")
}

/// What the clients of one phase saw.
#[derive(Default)]
struct Seen {
    latencies_us: Mutex<Vec<u64>>,
    frames_in: AtomicU64,
    bytes_in: AtomicU64,
    inputs_sent: AtomicU64,
    connected: AtomicU64,
    failed: AtomicU64,
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[idx] as f64
}

/// CPU seconds (user + system) this process has used.
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

/// The sequence number acknowledged for `id` in a broadcast, found without parsing the frame.
fn acked(text: &str, id: &str) -> Option<u64> {
    let key = format!("\"{id}\":");
    let start = text.find(&key)? + key.len();
    let digits: String = text[start..].chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// One client: joins `room`, sends an input every period until `end`, and times each input
/// from sending to the first broadcast that acknowledges it.
async fn client(addr: SocketAddr, plugin: String, room: String, measure_from: Instant, end: Instant, seen: Arc<Seen>) {
    let Ok((ws, _)) = tokio_tungstenite::connect_async(format!("ws://{addr}/api/rt")).await else {
        seen.failed.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let (mut sink, mut stream) = ws.split();
    let mut id = String::new();
    while let Some(Ok(Message::Text(text))) = stream.next().await {
        let v: Value = serde_json::from_str(&text).unwrap_or_default();
        if v["type"] == "welcome" {
            id = v["client"].as_str().unwrap_or_default().to_owned();
            break;
        }
    }
    let join = json!({ "type": "join", "plugin": plugin, "room": room }).to_string();
    if sink.send(Message::Text(join.into())).await.is_err() {
        seen.failed.fetch_add(1, Ordering::Relaxed);
        return;
    }
    loop {
        match tokio::time::timeout(Duration::from_secs(20), stream.next()).await {
            Ok(Some(Ok(Message::Text(text)))) if text.contains("\"joined\"") => break,
            Ok(Some(Ok(_))) => {}
            _ => {
                seen.failed.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
    }
    seen.connected.fetch_add(1, Ordering::Relaxed);
    // Spread the clients over the period, as real ones would be.
    let offset = Duration::from_micros(fastrand_like(&id) % PERIOD.as_micros() as u64);
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + offset, PERIOD);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut pending: VecDeque<(u64, Instant)> = VecDeque::new();
    let mut seq = 0u64;
    let mut latencies = Vec::new();
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                let now = Instant::now();
                if now >= end {
                    break;
                }
                seq += 1;
                pending.push_back((seq, now));
                let input = json!({ "type": "send", "plugin": plugin, "room": room,
                    "data": { "seq": seq, "move": [1, 0] } }).to_string();
                if sink.send(Message::Text(input.into())).await.is_err() {
                    break;
                }
                if now >= measure_from {
                    seen.inputs_sent.fetch_add(1, Ordering::Relaxed);
                }
            }
            msg = stream.next() => match msg {
                Some(Ok(Message::Text(text))) => {
                    let now = Instant::now();
                    if now >= measure_from {
                        seen.frames_in.fetch_add(1, Ordering::Relaxed);
                        seen.bytes_in.fetch_add(text.len() as u64, Ordering::Relaxed);
                    }
                    if let Some(ack) = acked(&text, &id) {
                        while pending.front().is_some_and(|(s, _)| *s <= ack) {
                            let (s, sent) = pending.pop_front().unwrap_or((0, now));
                            if s == ack && sent >= measure_from {
                                latencies.push((now - sent).as_micros() as u64);
                            }
                        }
                    }
                }
                Some(Ok(_)) => {}
                _ => break,
            },
        }
    }
    seen.latencies_us.lock().unwrap().extend(latencies);
    let _ = sink.send(Message::Close(None)).await;
}

/// A cheap deterministic spread from the client id.
fn fastrand_like(id: &str) -> u64 {
    id.bytes().fold(1469598103934665603u64, |h, b| (h ^ u64::from(b)).wrapping_mul(1099511628211))
}

struct Phase {
    clients: usize,
    connected: u64,
    failed: u64,
    latency_p50_ms: f64,
    latency_p99_ms: f64,
    frames_per_sec: f64,
    bytes_per_sec: f64,
    inputs_per_sec: f64,
    cpu_share: f64,
    rss_mib: f64,
}

/// Drives `per_room` clients into each room for warm-up + `secs`, calling `measure_start` when
/// the measured part begins.
async fn drive(
    addr: SocketAddr,
    plugin: &str,
    rooms: &[String],
    per_room: usize,
    secs: u64,
    measure_start: impl FnOnce(),
) -> Phase {
    let seen = Arc::new(Seen::default());
    let warmup = Duration::from_secs(3);
    let connect_time = Duration::from_secs(5);
    let start = Instant::now();
    let measure_from = start + connect_time + warmup;
    let end = measure_from + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for room in rooms {
        for _ in 0..per_room {
            tasks.push(tokio::spawn(client(addr, plugin.to_owned(), room.clone(), measure_from, end, seen.clone())));
        }
    }
    tokio::time::sleep_until(measure_from.into()).await;
    measure_start();
    let cpu0 = cpu_secs();
    let wall0 = Instant::now();
    tokio::time::sleep_until(end.into()).await;
    let cpu = cpu_secs() - cpu0;
    let wall = wall0.elapsed().as_secs_f64();
    let rss = rss_mib();
    for task in tasks {
        let _ = task.await;
    }
    let mut latencies = std::mem::take(&mut *seen.latencies_us.lock().unwrap());
    latencies.sort_unstable();
    Phase {
        clients: rooms.len() * per_room,
        connected: seen.connected.load(Ordering::Relaxed),
        failed: seen.failed.load(Ordering::Relaxed),
        latency_p50_ms: percentile(&latencies, 0.50) / 1000.0,
        latency_p99_ms: percentile(&latencies, 0.99) / 1000.0,
        frames_per_sec: seen.frames_in.load(Ordering::Relaxed) as f64 / wall,
        bytes_per_sec: seen.bytes_in.load(Ordering::Relaxed) as f64 / wall,
        inputs_per_sec: seen.inputs_sent.load(Ordering::Relaxed) as f64 / wall,
        cpu_share: cpu / wall,
        rss_mib: rss,
    }
}

// ---- the native room server: the same frames and the same per-input work, in Rust ----

#[derive(Default)]
struct NativeRoom {
    members: Mutex<HashMap<String, tokio::sync::mpsc::Sender<Arc<str>>>>,
    inputs: Mutex<VecDeque<(String, Value)>>,
    positions: Mutex<HashMap<String, [i64; 2]>>,
}

#[derive(Clone, Default)]
struct Native {
    rooms: Arc<Mutex<HashMap<String, Arc<NativeRoom>>>>,
    next: Arc<AtomicU64>,
    ticks_us: Arc<Mutex<Vec<u64>>>,
    skipped: Arc<AtomicU64>,
}

async fn native_ws(State(native): State<Native>, upgrade: WebSocketUpgrade) -> Response {
    upgrade.on_upgrade(move |socket| native_conn(native, socket))
}

async fn native_conn(native: Native, socket: WebSocket) {
    let id = format!("n{}", native.next.fetch_add(1, Ordering::Relaxed));
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Arc<str>>(64);
    let (mut sink, mut stream) = socket.split();
    let welcome = json!({ "type": "welcome", "client": id }).to_string();
    if sink.send(AxumMessage::Text(welcome.into())).await.is_err() {
        return;
    }
    let mut joined: Option<Arc<NativeRoom>> = None;
    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(text) => if sink.send(AxumMessage::Text(text.to_string().into())).await.is_err() { break },
                None => break,
            },
            msg = stream.next() => match msg {
                Some(Ok(AxumMessage::Text(text))) => {
                    let Ok(v) = serde_json::from_str::<Value>(&text) else { continue };
                    let room_id = v["room"].as_str().unwrap_or_default();
                    let room = native.rooms.lock().unwrap().get(room_id).cloned();
                    let Some(room) = room else { continue };
                    match v["type"].as_str() {
                        Some("join") => {
                            room.members.lock().unwrap().insert(id.clone(), tx.clone());
                            joined = Some(room);
                            let frame = json!({ "type": "joined", "plugin": "native", "room": room_id, "client": id }).to_string();
                            let _ = tx.try_send(Arc::from(frame));
                        }
                        Some("send") => {
                            let mut inputs = room.inputs.lock().unwrap();
                            if inputs.len() >= 128 {
                                inputs.pop_front();
                            }
                            inputs.push_back((id.clone(), v["data"].clone()));
                        }
                        _ => {}
                    }
                }
                Some(Ok(_)) => {}
                _ => break,
            },
        }
    }
    if let Some(room) = joined {
        room.members.lock().unwrap().remove(&id);
    }
}

/// One native room's tick loop: from intended times, skipping what cannot start in time.
async fn native_ticks(native: Native, name: String, room: Arc<NativeRoom>) {
    let start = tokio::time::Instant::now();
    let mut tick = 0u64;
    loop {
        let due = start + PERIOD * tick as u32;
        tokio::time::sleep_until(due).await;
        let now = tokio::time::Instant::now();
        if now >= due + PERIOD {
            let behind = ((now - due).as_nanos() / PERIOD.as_nanos()) as u64;
            native.skipped.fetch_add(behind, Ordering::Relaxed);
            tick += behind;
            continue;
        }
        let began = Instant::now();
        let inputs: Vec<(String, Value)> = room.inputs.lock().unwrap().drain(..).collect();
        let mut acks = serde_json::Map::new();
        {
            let mut positions = room.positions.lock().unwrap();
            for (client, data) in &inputs {
                if let Some(seq) = data.get("seq") {
                    acks.insert(client.clone(), seq.clone());
                }
                if let Some(m) = data["move"].as_array() {
                    let clamp = |v: Option<&Value>| v.and_then(Value::as_i64).unwrap_or(0).clamp(-5, 5);
                    let p = positions.entry(client.clone()).or_insert([0, 0]);
                    p[0] = (p[0] + clamp(m.first())).clamp(-1000, 1000);
                    p[1] = (p[1] + clamp(m.get(1))).clamp(-1000, 1000);
                }
            }
        }
        let data = json!({ "tick": tick, "inputs": inputs.len(), "dropped": 0, "joins": 0, "leaves": 0,
            "acks": acks, "version": null, "denied": 0 });
        let frame: Arc<str> =
            Arc::from(json!({ "type": "message", "plugin": "native", "room": name, "data": data }).to_string());
        for tx in room.members.lock().unwrap().values() {
            let _ = tx.try_send(frame.clone());
        }
        native.ticks_us.lock().unwrap().push(began.elapsed().as_micros() as u64);
        tick += 1;
    }
}

async fn serve_native(native: Native) -> SocketAddr {
    let app = Router::new().route("/api/rt", get(native_ws)).with_state(native);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

// ---- the a2e side ----

fn a2e_host(dir: &std::path::Path) -> Host {
    let source = KeySource::KeyFile(dir.join("db.key"));
    let db = Db::open(dir, &source).unwrap();
    let host = Host::open(db, HostConfig::new(dir)).unwrap();
    let wasm = std::fs::read(wasm_dir().join("rooms.wasm")).expect("build plugins/ first (cargo xtask bench does)");
    let exports: Vec<String> = a2e_host::manifest::inspect_module(&wasm)
        .unwrap()
        .exports
        .into_iter()
        .filter(|e| !e.starts_with('_') && e != "memory")
        .collect();
    let manifest = json!({
        "name": "rooms", "version": "1.0.0", "abi_version": 1,
        "wasm": { "file": "rooms.wasm", "sha256": a2e_host::manifest::sha256_hex(&wasm) },
        "exports": exports, "grants": ["rooms"], "rooms": { "anonymous": true },
        "limits": { "max_instances": 8, "timeout_ms": 1000 },
    });
    let source = host.inspect_bytes(Some(&manifest.to_string()), "rooms.wasm", wasm).unwrap();
    host.install_source(source, &InstallOptions { grant_requested: true, replace: false }).unwrap();
    host
}

/// Opens the rooms a tenth of a period apart, as rooms opened at different times would be (rooms
/// opened in the same instant would tick in the same instant and share the two cores).
fn open_rooms(host: &Host, prefix: &str) -> Vec<String> {
    (0..ROOMS)
        .map(|i| {
            std::thread::sleep(PERIOD / ROOMS as u32);
            let room = format!("{prefix}-{i}");
            let req = json!({ "room": room, "tick_hz": HZ, "state": { "every_tick": true }, "max_clients": 1000 });
            let out = host.call("rooms", "open", req.to_string().as_bytes(), &Default::default()).unwrap();
            let answer: Value = serde_json::from_slice(&out).unwrap();
            assert_eq!(answer["success"], true, "{answer}");
            room
        })
        .collect()
}

fn close_rooms(host: &Host, rooms: &[String]) {
    for room in rooms {
        let _ = host.call("rooms", "close", json!({ "room": room }).to_string().as_bytes(), &Default::default());
    }
}

fn tick_percentiles(samples: &mut [u64]) -> (f64, f64) {
    samples.sort_unstable();
    (percentile(samples, 0.50) / 1000.0, percentile(samples, 0.99) / 1000.0)
}

fn main() {
    let _ = rlimit::increase_nofile_limit(65_536);
    let secs: u64 = std::env::var("A2E_RT_BENCH_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(10);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async move {
        let dir = tempfile::tempdir().unwrap();
        let host = a2e_host(dir.path());
        let mut config = ServerConfig::new("http://127.0.0.1");
        config.rt.out_queue = 256;
        let state = AppState::new(host.clone(), KeySource::KeyFile(dir.path().join("db.key")), config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(a2e_server::serve(state, listener, std::future::pending()));

        // a2e: 10 rooms x 100 clients.
        let rooms = open_rooms(&host, "main");
        let counters = host.realtime().plugin_counters("rooms");
        let before = std::sync::Mutex::new((0u64, 0u64, 0u64));
        let a2e = drive(addr, "rooms", &rooms, 100, secs, || {
            counters.clear_recent_ticks();
            let s = counters.snapshot();
            *before.lock().unwrap() = (s.ticks, s.skipped, s.late);
        })
        .await;
        let after = counters.snapshot();
        let (t0, s0, l0) = *before.lock().unwrap();
        let (a2e_ticks, a2e_skipped, a2e_late) = (after.ticks - t0, after.skipped - s0, after.late - l0);
        let mut samples: Vec<u64> = counters.recent_ticks_us().into_iter().map(u64::from).collect();
        let (a2e_p50, a2e_p99) = tick_percentiles(&mut samples);
        close_rooms(&host, &rooms);

        // Native: the same clients against the native room server.
        let native = Native::default();
        let native_rooms: Vec<String> = (0..ROOMS).map(|i| format!("native-{i}")).collect();
        for name in &native_rooms {
            tokio::time::sleep(PERIOD / ROOMS as u32).await;
            let room = Arc::new(NativeRoom::default());
            native.rooms.lock().unwrap().insert(name.clone(), room.clone());
            tokio::spawn(native_ticks(native.clone(), name.clone(), room));
        }
        let native_addr = serve_native(native.clone()).await;
        let skipped_before = std::sync::Mutex::new(0u64);
        let nat = drive(native_addr, "native", &native_rooms, 100, secs, || {
            native.ticks_us.lock().unwrap().clear();
            *skipped_before.lock().unwrap() = native.skipped.load(Ordering::Relaxed);
        })
        .await;
        let native_skipped = native.skipped.load(Ordering::Relaxed) - *skipped_before.lock().unwrap();
        let mut native_samples = std::mem::take(&mut *native.ticks_us.lock().unwrap());
        let native_ticks = native_samples.len() as u64;
        let (nat_p50, nat_p99) = tick_percentiles(&mut native_samples);

        println!("a2e:    {} of {} clients, tick p50 {a2e_p50:.3} ms p99 {a2e_p99:.3} ms, {a2e_ticks} ticks, {a2e_skipped} skipped, {a2e_late} late, input->broadcast p50 {:.2} ms p99 {:.2} ms, {:.0} frames/s, {:.1} MB/s, CPU {:.0}%, RSS {:.0} MiB",
            a2e.connected, a2e.clients, a2e.latency_p50_ms, a2e.latency_p99_ms, a2e.frames_per_sec, a2e.bytes_per_sec / 1e6, a2e.cpu_share * 100.0, a2e.rss_mib);
        println!("native: {} of {} clients, tick p50 {nat_p50:.3} ms p99 {nat_p99:.3} ms, {native_ticks} ticks, {native_skipped} skipped, input->broadcast p50 {:.2} ms p99 {:.2} ms, {:.0} frames/s, {:.1} MB/s, CPU {:.0}%, RSS {:.0} MiB",
            nat.connected, nat.clients, nat.latency_p50_ms, nat.latency_p99_ms, nat.frames_per_sec, nat.bytes_per_sec / 1e6, nat.cpu_share * 100.0, nat.rss_mib);

        // Ramp: more clients per room until ticks are skipped or clients cannot connect.
        let mut held = if a2e_skipped == 0 && a2e.failed == 0 { a2e.clients } else { 0 };
        let mut ramp_note = String::new();
        if held > 0 {
            for per_room in [150usize, 200, 300, 400] {
                let rooms = open_rooms(&host, &format!("ramp{per_room}"));
                let before = std::sync::Mutex::new(0u64);
                let phase = drive(addr, "rooms", &rooms, per_room, secs.min(8), || {
                    *before.lock().unwrap() = counters.snapshot().skipped;
                })
                .await;
                let skipped = counters.snapshot().skipped - *before.lock().unwrap();
                close_rooms(&host, &rooms);
                println!("ramp:   {} clients ({} connected, {} failed): {skipped} ticks skipped, input->broadcast p99 {:.1} ms, CPU {:.0}%",
                    phase.clients, phase.connected, phase.failed, phase.latency_p99_ms, phase.cpu_share * 100.0);
                ramp_note = format!("{} clients: {skipped} skipped, {} failed to connect", phase.clients, phase.failed);
                if skipped > 0 || phase.failed > 0 {
                    break;
                }
                held = phase.clients;
            }
        }

        use report::{emit, plain_row, ratio_row};
        let s = "realtime";
        let period_ms = PERIOD.as_secs_f64() * 1000.0;
        emit(&ratio_row(s, "clients connected and held (10 rooms x 100)", format!("{}", a2e.connected),
            format!("{} asked", a2e.clients), a2e.connected as f64 / a2e.clients as f64, ">= 1.0"));
        emit(&plain_row(s, "ticks skipped / late at 20 Hz (a2e)", format!("{a2e_skipped} / {a2e_late} of {a2e_ticks}"),
            format!("native {native_skipped} skipped of {native_ticks}"), None));
        emit(&ratio_row(s, "ticks skipped at 20 Hz, 1 000 clients", format!("{a2e_skipped}"), String::new(), a2e_skipped as f64, "<= 0"));
        emit(&ratio_row(s, "tick p99, a2e (ms)", format!("{a2e_p99:.3} ms"), format!("native {nat_p99:.3} ms"), a2e_p99, "<= 5"));
        emit(&ratio_row(s, "tick p50: a2e / native", format!("{a2e_p50:.3} ms"), format!("{nat_p50:.3} ms"), a2e_p50 / nat_p50, "<= 2.0"));
        emit(&ratio_row(s, "input-to-broadcast p99 in tick periods (a2e)", format!("{:.2} ms", a2e.latency_p99_ms),
            format!("native {:.2} ms", nat.latency_p99_ms), a2e.latency_p99_ms / period_ms, "<= 1.5"));
        emit(&plain_row(s, "input-to-broadcast p50", format!("{:.2} ms", a2e.latency_p50_ms), format!("native {:.2} ms", nat.latency_p50_ms), None));
        emit(&plain_row(s, "messages out per second (to clients)", format!("{:.0}", a2e.frames_per_sec), format!("native {:.0}", nat.frames_per_sec), Some(a2e.frames_per_sec / nat.frames_per_sec)));
        emit(&plain_row(s, "inputs per second (from clients)", format!("{:.0}", a2e.inputs_per_sec), format!("native {:.0}", nat.inputs_per_sec), None));
        emit(&plain_row(s, "bytes out per second", format!("{:.1} MB/s", a2e.bytes_per_sec / 1e6), format!("native {:.1} MB/s", nat.bytes_per_sec / 1e6), None));
        emit(&plain_row(s, "process CPU, clients included (of 2 cores)", format!("{:.0}%", a2e.cpu_share * 100.0), format!("native {:.0}%", nat.cpu_share * 100.0), Some(a2e.cpu_share / nat.cpu_share)));
        emit(&plain_row(s, "RSS at the end of the phase", format!("{:.0} MiB", a2e.rss_mib), format!("after native {:.0} MiB", nat.rss_mib), None));
        emit(&plain_row(s, "most clients held at 20 Hz with no skipped tick (ramp)", format!("{held}"), ramp_note, None));
    });
}
