//! The chat plugin through the whole server against a real model: llama.cpp's server (PyPI
//! xllamacpp) with SmolLM2-135M-Instruct, and an adapter serving Ollama's API from the same model
//! (tools/model_server.py). HTTP API calls, answers followed over the realtime socket with a
//! real WebSocket client.
//!
//! The model answers one request at a time, so the tests take turns.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::{req, server_with_host, TestServer};

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const QUESTION: &str = "What is the capital of France? Answer in one sentence.";

#[path = "../../../../tools/test_model.rs"]
mod test_model;
use test_model::model;

/// One test at a time talks to the model.
async fn turn() -> tokio::sync::MutexGuard<'static, ()> {
    static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    TURN.lock().await
}

struct Chat {
    s: TestServer,
    addr: std::net::SocketAddr,
    admin: String,
}

async fn chat_server(config: &[(&str, &str)]) -> Chat {
    let overrides: std::collections::BTreeMap<String, String> =
        config.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    let s = server_with_host(
        |host| {
            host.clock = Arc::new(a2e_host::SystemClock);
            host.config_overrides.insert("chat".into(), overrides);
        },
        |_| {},
    );
    let admin = s.admin().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(a2e_server::serve(s.state.clone(), listener, std::future::pending()));
    Chat { s, addr, admin }
}

impl Chat {
    async fn call(&self, session: &str, function: &str, input: Value) -> crate::Resp {
        req(Method::POST, &format!("/api/plugins/chat/call/{function}"))
            .cookie(session)
            .json(input)
            .send(&self.s.app)
            .await
    }

    async fn ok(&self, session: &str, function: &str, input: Value) -> Value {
        self.call(session, function, input).await.expect(StatusCode::OK).body
    }

    async fn grant(&self, url: &str) {
        let origin = url.trim_end_matches('/');
        req(Method::POST, "/api/plugins/chat/grants")
            .cookie(&self.admin)
            .json(json!({ "grant": format!("http:{origin}") }))
            .send(&self.s.app)
            .await
            .expect(StatusCode::OK);
    }

    /// Adds a provider (granting the plugin its origin first).
    async fn provider(&self, id: &str, kind: &str, url: &str) -> Value {
        self.grant(url).await;
        self.ok(&self.admin, "save_provider", json!({ "id": id, "name": id, "kind": kind, "base_url": url })).await
    }

    /// A user with an agent that answers deterministically.
    async fn user(&self, name: &str) -> (String, String) {
        let login = self.s.user(name).await;
        let session = login["session_token"].as_str().unwrap().to_owned();
        let agent = self
            .ok(
                &session,
                "save_agent",
                json!({ "name": "Exact", "options": { "temperature": 0, "seed": 1, "max_tokens": 60 } }),
            )
            .await;
        (session, agent["id"].as_str().unwrap().to_owned())
    }

    async fn socket(&self, token: &str) -> Ws {
        let mut request = format!("ws://{}/api/rt", self.addr).into_client_request().unwrap();
        request.headers_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
        let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
        assert_eq!(next(&mut ws).await["type"], "welcome");
        ws
    }
}

async fn next(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(60), ws.next()).await.expect("a frame").unwrap().unwrap();
        if let Message::Text(text) = msg {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

/// Joins an answer's room; answers the snapshot it starts with (or the join error). A finished
/// answer's room stays open a few seconds, so even a quick answer is caught here.
async fn follow(ws: &mut Ws, room: &str) -> Value {
    let join = json!({ "type": "join", "plugin": "chat", "room": room, "ref": 1 });
    ws.send(Message::Text(join.to_string().into())).await.unwrap();
    let joined = next(ws).await;
    if joined["type"] != "joined" {
        return joined;
    }
    let snapshot = next(ws).await;
    assert_eq!(snapshot["data"]["type"], "snapshot", "{snapshot}");
    snapshot["data"].clone()
}

/// Reads the room until the answer is done; answers (text of the deltas, the done message).
/// Run after `follow`, whose snapshot may already be the end.
async fn until_done(ws: &mut Ws) -> (String, Value) {
    let mut text = String::new();
    loop {
        let frame = next(ws).await;
        match frame["data"]["type"].as_str() {
            Some("delta") => text.push_str(frame["data"]["text"].as_str().unwrap()),
            Some("done") => return (text, frame["data"].clone()),
            _ => {}
        }
    }
}

/// Follows an answer to its end; answers the final `{status, content, error}`.
async fn answer(ws: &mut Ws, room: &str) -> Value {
    let snapshot = follow(ws, room).await;
    assert!(snapshot["type"] == "snapshot", "could not follow {room}: {snapshot}");
    if !["queued", "streaming"].contains(&snapshot["status"].as_str().unwrap()) {
        return snapshot;
    }
    let (text, done) = until_done(ws).await;
    let whole = format!("{}{text}", snapshot["content"].as_str().unwrap());
    assert_eq!(done["content"].as_str().unwrap(), whole, "the deltas do not add up to the answer");
    done
}

fn message<'a>(session: &'a Value, id: &str) -> &'a Value {
    session["messages"].as_array().unwrap().iter().find(|m| m["id"] == id).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_chats_with_a_real_model_streams_branches_searches_and_exports() {
    let _turn = turn().await;
    let m = model();
    let c = chat_server(&[]).await;
    let added = c.provider("local", "openai", &m.openai).await;
    assert_eq!(added["models"], json!(["SmolLM2-135M-Instruct"]), "{added}");
    let (rita, agent) = c.user("rita").await;
    let mut ws = c.socket(&rita).await;

    // Ask; the answer streams in pieces over the room and is stored.
    let started = c.ok(&rita, "send", json!({ "content": QUESTION, "agent_id": agent })).await;
    let session_id = started["session"]["id"].as_str().unwrap().to_owned();
    assert_eq!(started["session"]["title"], QUESTION);
    let first = started["message"]["id"].as_str().unwrap().to_owned();
    let done = answer(&mut ws, started["room"].as_str().unwrap()).await;
    assert_eq!(done["status"], "done", "{done}");
    assert!(done["content"].as_str().unwrap().contains("Paris"), "{done}");
    let session = c.ok(&rita, "session", json!({ "id": session_id })).await;
    assert_eq!(message(&session, &first)["content"], done["content"]);
    assert_eq!(message(&session, &first)["status"], "done");
    let execs = c.s.state.host().db().list_agent_executions(&Default::default(), Default::default()).unwrap();
    let exec = execs.iter().find(|e| e.message_id.as_deref() == Some(first.as_str())).unwrap();
    assert_eq!(exec.status, "completed");
    assert!(exec.first_token_ms.is_some() && exec.total_ms >= exec.first_token_ms, "{exec:?}");
    assert!(exec.completion_tokens.unwrap_or(0) > 0, "{exec:?}");

    // Regenerate: a second answer beside the first; both stay.
    let again = c.ok(&rita, "regenerate", json!({ "message_id": first })).await;
    assert_eq!(answer(&mut ws, again["room"].as_str().unwrap()).await["status"], "done");
    let question_id = started["user_message"]["id"].as_str().unwrap();
    let session = c.ok(&rita, "session", json!({ "id": session_id })).await;
    let answers: Vec<&Value> =
        session["messages"].as_array().unwrap().iter().filter(|m| m["parent_id"] == question_id).collect();
    assert_eq!(answers.len(), 2);

    // Edit the question: a new branch from the same place, answered.
    let edited = c
        .ok(
            &rita,
            "edit",
            json!({ "message_id": question_id, "content": "What is the capital of Italy? Answer in one sentence." }),
        )
        .await;
    let done = answer(&mut ws, edited["room"].as_str().unwrap()).await;
    assert!(done["content"].as_str().unwrap().contains("Rome"), "{done}");
    assert_eq!(edited["user_message"]["parent_id"], Value::Null);

    // A follow-up continues the newest branch (the Italy one) with its history.
    let follow_up =
        c.ok(&rita, "send", json!({ "session_id": session_id, "content": "Repeat the city name only." })).await;
    assert_eq!(follow_up["user_message"]["parent_id"], edited["message"]["id"]);
    answer(&mut ws, follow_up["room"].as_str().unwrap()).await;

    // Search finds words by prefix in the user's own messages only.
    let hits = c.ok(&rita, "search", json!({ "query": "capit fran" })).await;
    assert!(hits.as_array().unwrap().iter().any(|h| h["message"]["id"] == question_id), "{hits}");
    let (bob, _) = c.user("bob").await;
    assert!(c.ok(&bob, "search", json!({ "query": "capital" })).await.as_array().unwrap().is_empty());
    c.call(&bob, "session", json!({ "id": session_id })).await.expect_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    let mut bob_ws = c.socket(&bob).await;
    let other = c.ok(&rita, "regenerate", json!({ "message_id": first })).await;
    let refused = follow(&mut bob_ws, other["room"].as_str().unwrap()).await;
    assert_eq!(refused["code"], "REFUSED", "{refused}");
    answer(&mut ws, other["room"].as_str().unwrap()).await;

    // Export and import round trip; Markdown shows the newest branch.
    let exported = c.ok(&rita, "export", json!({ "id": session_id })).await;
    let imported = c.ok(&rita, "import", exported.clone()).await;
    let copy = c.ok(&rita, "export", json!({ "id": imported["session"]["id"] })).await;
    let texts = |e: &Value| -> Vec<(Value, Value)> {
        e["messages"].as_array().unwrap().iter().map(|m| (m["role"].clone(), m["content"].clone())).collect()
    };
    assert_eq!(texts(&copy), texts(&exported));
    assert_eq!(copy["title"], exported["title"]);
    // Markdown shows one branch: by default the newest (the last regenerated France answer),
    // or the one ending at `leaf`.
    let md = c.ok(&rita, "export", json!({ "id": session_id, "format": "markdown" })).await;
    let md = md["markdown"].as_str().unwrap();
    assert!(md.contains("Paris") && !md.contains("Italy") && md.matches("## You").count() == 1, "{md}");
    let leaf = follow_up["message"]["id"].clone();
    let md = c.ok(&rita, "export", json!({ "id": session_id, "format": "markdown", "leaf": leaf })).await;
    let md = md["markdown"].as_str().unwrap();
    assert!(md.contains("Italy") && md.matches("## You").count() == 2, "{md}");
    let bad = c.call(&rita, "import", json!({ "a2e_chat_export": 1, "title": "x", "messages": [{ "id": "a", "parent_id": "zz", "role": "user", "content": "x" }] })).await;
    bad.expect_error(StatusCode::BAD_REQUEST, "INVALID_INPUT");
    let sessions = c.ok(&rita, "sessions", json!({})).await;
    assert_eq!(sessions.as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_keeps_the_partial_answer_and_a_reconnect_resumes_the_stream() {
    let _turn = turn().await;
    let m = model();
    let c = chat_server(&[]).await;
    c.provider("local", "openai", &m.openai).await;
    let login = c.s.user("rita").await;
    let rita = login["session_token"].as_str().unwrap().to_owned();
    let long = json!({ "name": "Long", "options": { "temperature": 0, "max_tokens": 400 } });
    let agent = c.ok(&rita, "save_agent", long).await["id"].clone();
    let story = "Write a long story about a dragon who learns to bake bread.";

    // Resume: leave mid-answer, come back, get the text so far and the rest.
    let started = c.ok(&rita, "send", json!({ "content": story, "agent_id": agent })).await;
    let room = started["room"].as_str().unwrap().to_owned();
    let mut ws = c.socket(&rita).await;
    follow(&mut ws, &room).await;
    let mut early = String::new();
    while early.len() < 40 {
        let frame = next(&mut ws).await;
        early.push_str(frame["data"]["text"].as_str().unwrap_or(""));
    }
    drop(ws);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let session = c.ok(&rita, "session", json!({ "id": started["session"]["id"] })).await;
    let stored = message(&session, started["message"]["id"].as_str().unwrap());
    assert_eq!(stored["status"], "streaming", "{stored}");
    assert!(stored["content"].as_str().unwrap().starts_with(&early), "the stored text lost what was streamed");
    assert_eq!(session["streaming"][0]["room"], room);
    let mut ws = c.socket(&rita).await;
    let snapshot = follow(&mut ws, &room).await;
    let resumed = snapshot["content"].as_str().unwrap().to_owned();
    assert!(resumed.starts_with(&early) && resumed.len() > early.len(), "{resumed:?} vs {early:?}");

    // Stop: the answer ends at once, what was written stays, marked stopped.
    let stopping = c.ok(&rita, "stop", json!({ "message_id": started["message"]["id"] })).await;
    assert_eq!(stopping["stopping"], true);
    let (_, done) = until_done(&mut ws).await;
    assert_eq!(done["status"], "stopped", "{done}");
    let kept = done["content"].as_str().unwrap();
    assert!(kept.starts_with(&resumed), "the partial answer was not kept");
    let session = c.ok(&rita, "session", json!({ "id": started["session"]["id"] })).await;
    let stored = message(&session, started["message"]["id"].as_str().unwrap());
    assert_eq!((stored["status"].clone(), stored["content"].clone()), (json!("stopped"), json!(kept)));
    let execs = c.s.state.host().db().list_agent_executions(&Default::default(), Default::default()).unwrap();
    assert_eq!(execs[0].status, "stopped");
    // The model is free again: the next answer starts and finishes.
    let next_one = c.ok(&rita, "send", json!({ "session_id": started["session"]["id"], "content": QUESTION })).await;
    assert_eq!(answer(&mut ws, next_one["room"].as_str().unwrap()).await["status"], "done");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ollama_dialect_answers_through_the_adapter() {
    let _turn = turn().await;
    let m = model();
    let c = chat_server(&[]).await;
    let added = c.provider("ollama", "ollama", &m.ollama).await;
    assert_eq!(added["models"], json!(["SmolLM2-135M-Instruct"]));
    let (rita, agent) = c.user("rita").await;
    let mut ws = c.socket(&rita).await;
    let started = c.ok(&rita, "send", json!({ "content": QUESTION, "agent_id": agent, "provider": "ollama" })).await;
    let done = answer(&mut ws, started["room"].as_str().unwrap()).await;
    assert!(done["content"].as_str().unwrap().contains("Paris"), "{done}");
    let execs = c.s.state.host().db().list_agent_executions(&Default::default(), Default::default()).unwrap();
    assert!(execs[0].completion_tokens.unwrap_or(0) > 0, "{:?}", execs[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_s_api_key_is_sent_by_the_host_and_never_reaches_the_plugin_or_a_client() {
    let _turn = turn().await;
    let m = model();
    let c = chat_server(&[]).await;
    // The adapter's /keyed path is the real model behind an API key.
    let url = format!("{}/keyed", m.ollama);
    c.grant(&m.ollama).await;
    let refused = c
        .call(&c.admin, "save_provider", json!({ "id": "hosted", "name": "Hosted", "kind": "openai", "base_url": url }))
        .await;
    assert!(refused.body.to_string().contains("401"), "without a key the provider refuses: {}", refused.body);
    let origin = m.ollama.trim_end_matches('/').to_owned();
    req(Method::PUT, "/api/plugins/chat/secrets/provider.hosted")
        .cookie(&c.admin)
        .json(json!({ "value": "a2e-test-key", "origin": origin }))
        .send(&c.s.app)
        .await
        .expect(StatusCode::OK);
    let added = c
        .ok(&c.admin, "save_provider", json!({ "id": "hosted", "name": "Hosted", "kind": "openai", "base_url": url }))
        .await;
    assert_eq!(added["models"].as_array().map(Vec::len), Some(1), "{added}");
    let (rita, agent) = c.user("rita").await;
    let mut ws = c.socket(&rita).await;
    let started = c.ok(&rita, "send", json!({ "content": QUESTION, "agent_id": agent, "provider": "hosted" })).await;
    let done = answer(&mut ws, started["room"].as_str().unwrap()).await;
    assert!(done["content"].as_str().unwrap().contains("Paris"), "{done}");
    // No answer the API gives shows the key.
    for path in ["/api/plugins/chat/secrets", "/api/plugins/chat"] {
        let r = req(Method::GET, path).cookie(&c.admin).send(&c.s.app).await.expect(StatusCode::OK);
        assert!(!r.body.to_string().contains("a2e-test-key"), "{path}: {}", r.body);
    }
    let listed = c.ok(&c.admin, "providers", json!({})).await;
    assert!(!listed.to_string().contains("a2e-test-key"), "{listed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_queues_down_providers_and_ungranted_urls_are_clear_errors() {
    let _turn = turn().await;
    let m = model();
    let c = chat_server(&[("max_queue", "1")]).await;

    // A URL the grant does not cover: refused before any byte is sent.
    let counter = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    counter.set_nonblocking(true).unwrap();
    let url = format!("http://127.0.0.1:{}", counter.local_addr().unwrap().port());
    let denied = c.call(&c.admin, "save_provider", json!({ "id": "x", "kind": "openai", "base_url": url })).await;
    let denied = denied.expect_error(StatusCode::FORBIDDEN, "PERMISSION_DENIED");
    assert!(denied.body["message"].as_str().unwrap().contains(&format!("http:{url}")), "{}", denied.body);
    assert!(counter.accept().is_err(), "a request reached the ungranted server");
    // Users cannot add providers.
    let (rita, agent) = c.user("rita").await;
    c.call(&rita, "save_provider", json!({ "id": "x", "kind": "openai", "base_url": m.openai }))
        .await
        .expect(StatusCode::FORBIDDEN);
    // Nothing set up yet: a clear answer.
    let none = c.call(&rita, "send", json!({ "content": "hi" })).await.expect_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    assert!(none.body["message"].as_str().unwrap().contains("provider"), "{}", none.body);

    // A provider that is down: the question is kept, the answer fails with the reason.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down = format!("http://127.0.0.1:{}", closed.local_addr().unwrap().port());
    drop(closed);
    c.grant(&down).await;
    let saved = c
        .ok(
            &c.admin,
            "save_provider",
            json!({ "id": "down", "kind": "openai", "base_url": down, "default_model": "m", "check": false }),
        )
        .await;
    assert_eq!(saved["provider"]["id"], "down");
    let mut ws = c.socket(&rita).await;
    let started =
        c.ok(&rita, "send", json!({ "content": "Are you there?", "agent_id": agent, "provider": "down" })).await;
    let done = answer(&mut ws, started["room"].as_str().unwrap()).await;
    assert_eq!(done["status"], "failed");
    assert!(done["error"].as_str().unwrap().contains(&down[7..]), "{done}");
    let session = c.ok(&rita, "session", json!({ "id": started["session"]["id"] })).await;
    assert_eq!(message(&session, started["user_message"]["id"].as_str().unwrap())["content"], "Are you there?");

    // A full queue: the next question is kept, the answer refused with "busy".
    c.provider("local", "openai", &m.openai).await;
    let long = c.ok(&rita, "save_agent", json!({ "name": "Long", "options": { "max_tokens": 300 } })).await;
    let first = c
        .ok(&rita, "send", json!({ "content": "Tell me a long story.", "agent_id": long["id"], "provider": "local" }))
        .await;
    let busy = c.call(&rita, "send", json!({ "session_id": first["session"]["id"], "content": "And another?" })).await;
    let busy = busy.expect_error(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE");
    assert!(busy.body["message"].as_str().unwrap().starts_with("busy"), "{}", busy.body);
    let session = c.ok(&rita, "session", json!({ "id": first["session"]["id"] })).await;
    let texts: Vec<&str> =
        session["messages"].as_array().unwrap().iter().map(|m| m["content"].as_str().unwrap()).collect();
    assert!(texts.contains(&"And another?"), "{texts:?}");
    c.ok(&rita, "stop", json!({ "message_id": first["message"]["id"] })).await;
    assert_eq!(answer(&mut ws, first["room"].as_str().unwrap()).await["status"], "stopped");

    // Bad input is refused with the reason and stores nothing.
    for (input, expect) in [
        (json!({ "content": "   " }), "empty"),
        (json!({ "content": "x".repeat(40_000) }), "at most"),
        (json!({ "content": "hi", "agent_id": "a-none" }), "agent"),
    ] {
        let r = c.call(&rita, "send", input).await;
        assert!(r.status.is_client_error(), "{}", r.body);
        assert!(r.body["message"].as_str().unwrap().contains(expect), "{}", r.body);
    }
    let bad_agent = c.call(&rita, "save_agent", json!({ "name": "t", "options": { "temperature": 9 } })).await;
    bad_agent.expect_error(StatusCode::BAD_REQUEST, "INVALID_INPUT");
    let shared = c.call(&rita, "save_agent", json!({ "name": "t", "shared": true })).await;
    shared.expect(StatusCode::FORBIDDEN);
}
