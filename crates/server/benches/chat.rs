//! Chat through a2e against the same real model server used directly, in the same run.
//!
//! The model: llama.cpp's server (PyPI xllamacpp) with SmolLM2-135M-Instruct, one generation at a
//! time (tools/model_server.py). Each round asks the same question with temperature 0 and the
//! same token limit twice, in alternating order: once straight to the model server's streaming
//! `/v1/chat/completions`, once through a2e (HTTP API `send` -> the chat plugin -> the host's
//! outbound HTTP -> the model, the answer followed over the realtime socket). Figures:
//! - time to first token: from sending the request to the first piece of text the client
//!   receives; a2e's overhead is the per-round difference (p50 and spread);
//! - tokens per second after the first token, through a2e / direct, per round (median, min, max);
//! - 10 chats sent at once by 10 users: all answered, in the order they were queued.
//!
//! Each measured request starts after 300 ms with the model server idle.
//! `A2E_CHAT_BENCH_ROUNDS` (default 20) rounds. Run with `cargo xtask bench` or
//! `cargo bench -p a2e-server --bench chat` after building plugins/ for wasm32.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use a2e_db::{Db, KeySource};
use a2e_host::{Host, HostConfig};
use a2e_server::{AppState, ServerConfig};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

#[path = "../../../xtask/src/report.rs"]
mod report;
#[path = "../../../tools/test_model.rs"]
mod test_model;

const QUESTION: &str = "Name three rivers of France and say one thing about each.";
const MAX_TOKENS: u64 = 96;
/// Idle time before each measured request, in ms.
const IDLE_MS: u64 = 300;

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

struct Measure {
    ttft_ms: f64,
    tokens: f64,
    after_first_s: f64,
}

impl Measure {
    fn tokens_per_s(&self) -> f64 {
        self.tokens / self.after_first_s.max(1e-6)
    }
}

/// Straight to the model server, streamed.
async fn direct(client: &reqwest::Client, base: &str) -> Measure {
    let body = json!({
        "model": "SmolLM2-135M-Instruct", "stream": true, "stream_options": { "include_usage": true },
        "temperature": 0, "seed": 1, "max_tokens": MAX_TOKENS,
        "messages": [{ "role": "user", "content": QUESTION }],
    });
    let start = Instant::now();
    let mut resp = client.post(format!("{base}/v1/chat/completions")).json(&body).send().await.unwrap();
    let mut first = None;
    let mut tokens = 0.0;
    let mut buf = String::new();
    while let Some(chunk) = resp.chunk().await.unwrap() {
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find('\n') {
            let line: String = buf.drain(..=end).collect();
            let Some(data) = line.trim().strip_prefix("data:") else { continue };
            let Ok(v) = serde_json::from_str::<Value>(data.trim()) else { continue };
            if v["choices"][0]["delta"]["content"].as_str().is_some_and(|t| !t.is_empty()) && first.is_none() {
                first = Some(start.elapsed());
            }
            if let Some(n) = v["usage"]["completion_tokens"].as_f64() {
                tokens = n;
            }
        }
    }
    let total = start.elapsed();
    let first = first.expect("the model answered with text");
    Measure { ttft_ms: first.as_secs_f64() * 1000.0, tokens, after_first_s: (total - first).as_secs_f64() }
}

struct A2e {
    host: Host,
    addr: SocketAddr,
    tokens: Vec<String>,
    agents: Vec<String>,
}

async fn next(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(120), ws.next()).await.expect("a frame").unwrap().unwrap();
        if let Message::Text(text) = msg {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

async fn socket(addr: SocketAddr, token: &str) -> Ws {
    let mut request = format!("ws://{addr}/api/rt").into_client_request().unwrap();
    request.headers_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(next(&mut ws).await["type"], "welcome");
    ws
}

async fn call(client: &reqwest::Client, a: &A2e, user: usize, function: &str, input: Value) -> Value {
    let resp = client
        .post(format!("http://{}/api/plugins/chat/call/{function}", a.addr))
        .bearer_auth(&a.tokens[user])
        .json(&input)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let body: Value = resp.json().await.unwrap();
    assert!(status.is_success(), "{function}: {status} {body}");
    body
}

/// Through a2e: send, join the answer's room on an open socket, read to the end.
async fn through(client: &reqwest::Client, a: &A2e, ws: &mut Ws) -> Measure {
    let start = Instant::now();
    let started =
        call(client, a, 0, "send", json!({ "content": QUESTION, "agent_id": a.agents[0], "provider": "local" })).await;
    let sent = start.elapsed();
    let room = started["room"].as_str().unwrap();
    ws.send(Message::Text(json!({ "type": "join", "plugin": "chat", "room": room }).to_string().into())).await.unwrap();
    let mut first = None;
    let mut joined = None;
    loop {
        let frame = next(ws).await;
        if frame["type"] == "joined" {
            joined = Some(start.elapsed());
        }
        let data = &frame["data"];
        let has_text = match data["type"].as_str() {
            Some("delta") => data["text"].as_str().is_some_and(|t| !t.is_empty()),
            Some("snapshot") | Some("done") => data["content"].as_str().is_some_and(|t| !t.is_empty()),
            _ => false,
        };
        if has_text && first.is_none() {
            first = Some(start.elapsed());
        }
        let finished = data["type"] == "done"
            || (data["type"] == "snapshot"
                && !["queued", "streaming"].contains(&data["status"].as_str().unwrap_or("")));
        if finished {
            assert_eq!(data["status"], "done", "{data}");
            break;
        }
    }
    let total = start.elapsed();
    let message_id = started["message"]["id"].as_str().unwrap().to_owned();
    let execs = a.host.db().list_agent_executions(&Default::default(), Default::default()).unwrap();
    let exec = execs.iter().find(|e| e.message_id.as_deref() == Some(message_id.as_str())).unwrap();
    let first = first.expect("a2e sent text");
    if std::env::var_os("A2E_CHAT_BENCH_DETAIL").is_some() {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "  a2e: send answered at {:.1} ms, joined at {:.1} ms, first text at {:.1} ms",
            ms(sent),
            joined.map(ms).unwrap_or(f64::NAN),
            ms(first)
        );
    }
    Measure {
        ttft_ms: first.as_secs_f64() * 1000.0,
        tokens: exec.completion_tokens.unwrap_or(0) as f64,
        after_first_s: (total - first).as_secs_f64(),
    }
}

async fn start_a2e(dir: &std::path::Path, openai: &str, users: usize) -> A2e {
    let source = KeySource::KeyFile(dir.join("db.key"));
    let db = Db::open(dir, &source).unwrap();
    let mut host_config = HostConfig::new(dir);
    let mut chat_config: std::collections::BTreeMap<String, String> =
        [("max_queue".to_owned(), "16".to_owned())].into();
    if let Ok(hz) = std::env::var("A2E_CHAT_BENCH_TICK_HZ") {
        chat_config.insert("tick_hz".into(), hz);
    }
    host_config.config_overrides.insert("chat".into(), chat_config);
    let host = Host::open(db, host_config).unwrap();
    a2e_server::bundled::install(&host).unwrap();
    host.grant("chat", &[a2e_abi::GrantSpec::parse(&format!("http:{openai}")).unwrap()]).unwrap();
    let state = AppState::new(host.clone(), source, ServerConfig::new("http://127.0.0.1"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(a2e_server::serve(state, listener, std::future::pending()));
    let setup_host = host.clone();
    let tokens = tokio::task::spawn_blocking(move || {
        (0..users)
            .map(|i| {
                let req = a2e_server::auth::SignupRequest {
                    name: format!("user{i}"),
                    email: format!("user{i}@example.com"),
                    password: "bench password 123".into(),
                };
                let login = a2e_server::auth::create_user(&setup_host, &req, i == 0, None).unwrap();
                login["session_token"].as_str().unwrap().to_owned()
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    let mut a = A2e { host, addr, tokens, agents: Vec::new() };
    let client = reqwest::Client::new();
    let provider = json!({ "id": "local", "kind": "openai", "base_url": openai });
    call(&client, &a, 0, "save_provider", provider).await;
    for user in 0..users {
        let agent = json!({ "name": "Bench", "options": { "temperature": 0, "seed": 1, "max_tokens": MAX_TOKENS } });
        let saved = call(&client, &a, user, "save_agent", agent).await;
        a.agents.push(saved["id"].as_str().unwrap().to_owned());
    }
    a
}

fn percentile(values: &[f64], p: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let rounds: usize = std::env::var("A2E_CHAT_BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let model = test_model::model();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let a = start_a2e(dir.path(), &model.openai, 10).await;
        let client = reqwest::Client::new();
        let mut ws = socket(a.addr, &a.tokens[0]).await;
        // Warm-up: the model's caches, a2e's plugin instances.
        direct(&client, &model.openai).await;
        through(&client, &a, &mut ws).await;
        let (mut ttft_direct, mut ttft_a2e, mut overhead, mut tps_ratio) = (vec![], vec![], vec![], vec![]);
        let (mut tps_direct, mut tps_a2e) = (vec![], vec![]);
        for round in 0..rounds {
            // Each request starts on an idle model server (a request right behind another one
            // waits for the server to finish the last: both paths get the same pause).
            let idle = || tokio::time::sleep(Duration::from_millis(IDLE_MS));
            let (d, t) = if round % 2 == 0 {
                idle().await;
                let d = direct(&client, &model.openai).await;
                idle().await;
                (d, through(&client, &a, &mut ws).await)
            } else {
                idle().await;
                let t = through(&client, &a, &mut ws).await;
                idle().await;
                (direct(&client, &model.openai).await, t)
            };
            println!(
                "round {round}: ttft direct {:.1} ms, a2e {:.1} ms; tokens/s direct {:.1}, a2e {:.1}",
                d.ttft_ms,
                t.ttft_ms,
                d.tokens_per_s(),
                t.tokens_per_s()
            );
            overhead.push(t.ttft_ms - d.ttft_ms);
            tps_ratio.push(t.tokens_per_s() / d.tokens_per_s());
            ttft_direct.push(d.ttft_ms);
            ttft_a2e.push(t.ttft_ms);
            tps_direct.push(d.tokens_per_s());
            tps_a2e.push(t.tokens_per_s());
        }

        // 10 users send at once; every answer must arrive, in the order the sends were queued.
        let mut sockets = Vec::new();
        for token in &a.tokens {
            sockets.push(socket(a.addr, token).await);
        }
        let sends = (0..a.tokens.len()).map(|user| {
            let client = client.clone();
            let a = &a;
            async move {
                let input = json!({ "content": QUESTION, "agent_id": a.agents[user], "provider": "local" });
                call(&client, a, user, "send", input).await
            }
        });
        let started: Vec<Value> = futures_util::future::join_all(sends).await;
        // Every client reads its own socket at once (a socket nobody reads is closed as too slow).
        let follows = sockets.iter_mut().zip(&started).map(|(ws, s)| async move {
            let room = s["room"].as_str().unwrap();
            ws.send(Message::Text(json!({ "type": "join", "plugin": "chat", "room": room }).to_string().into()))
                .await
                .unwrap();
            loop {
                let data = next(ws).await["data"].clone();
                let done = data["type"] == "done"
                    || (data["type"] == "snapshot"
                        && !["queued", "streaming"].contains(&data["status"].as_str().unwrap_or("")));
                if done {
                    return data["status"] == "done";
                }
            }
        });
        let finished: Vec<bool> = futures_util::future::join_all(follows).await;
        let execs = a.host.db().list_agent_executions(&Default::default(), Default::default()).unwrap();
        let runs: Vec<(i64, i64)> = started
            .iter()
            .map(|s| {
                let e = execs.iter().find(|e| e.message_id.as_deref() == s["message"]["id"].as_str()).unwrap();
                (s["queued_at"].as_i64().unwrap(), e.completed_at.unwrap_or(i64::MAX))
            })
            .collect();
        let answered = finished.iter().filter(|ok| **ok).count();
        // Sends queued in the same millisecond may go either way; any two queued apart must
        // finish in the order they were queued.
        let in_order = runs.iter().all(|a| runs.iter().all(|b| a.0 >= b.0 || a.1 <= b.1));

        use report::{emit, plain_row, ratio_row};
        let s = "chat";
        let p50_overhead = percentile(&overhead, 0.5);
        emit(&ratio_row(
            s,
            "time to first token, a2e minus direct, p50 (ms)",
            format!("{p50_overhead:.1} ms"),
            format!(
                "direct p50 {:.1} ms, a2e p50 {:.1} ms; difference min {:.1} / max {:.1} ms over {rounds} rounds, each request after {IDLE_MS} ms idle",
                percentile(&ttft_direct, 0.5),
                percentile(&ttft_a2e, 0.5),
                percentile(&overhead, 0.0),
                percentile(&overhead, 1.0)
            ),
            p50_overhead,
            "<= 5",
        ));
        let median_ratio = percentile(&tps_ratio, 0.5);
        emit(&ratio_row(
            s,
            "tokens per second after the first, a2e / direct (median of rounds)",
            format!("{:.1} tokens/s", percentile(&tps_a2e, 0.5)),
            format!(
                "{:.1} tokens/s direct; ratio min {:.3} / max {:.3} over {rounds} rounds",
                percentile(&tps_direct, 0.5),
                percentile(&tps_ratio, 0.0),
                percentile(&tps_ratio, 1.0)
            ),
            median_ratio,
            ">= 0.95",
        ));
        emit(&ratio_row(
            s,
            "10 chats sent at once: answered",
            format!("{answered} of {}", started.len()),
            if in_order { "answered in the order queued".into() } else { "NOT in the order queued".into() },
            answered as f64 / started.len() as f64 * if in_order { 1.0 } else { 0.0 },
            ">= 1.0",
        ));
        emit(&plain_row(
            s,
            "model",
            "SmolLM2-135M-Instruct Q4_1, llama.cpp (xllamacpp), 1 thread".into(),
            format!("{MAX_TOKENS} tokens at most, temperature 0"),
            None,
        ));
    });
    runtime.shutdown_background();
}
