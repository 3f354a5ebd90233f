//! The realtime socket `/api/rt` over real sockets with a real WebSocket client: rooms of the
//! counter template and the rooms test guest, every connection limit with its close code and
//! reason, bad frames, the events topic, and the counters on `/metrics` and the plugins API.

use std::time::Duration;

use a2e_host::InstallOptions;
use axum::http::{Method, StatusCode};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

use crate::{req, server_with, wasm_dir, TestServer, ORIGIN};

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A server with the counter template and the rooms guest installed and granted, listening on
/// a free port (stopped when the test's runtime ends).
async fn realtime_server(configure: impl FnOnce(&mut a2e_server::ServerConfig)) -> (TestServer, std::net::SocketAddr) {
    let s = server_with(configure);
    for (name, guest, extra) in
        [("counter", "counter", json!({})), ("rooms", "rooms", json!({ "rooms": { "anonymous": true } }))]
    {
        let wasm = std::fs::read(wasm_dir().join(format!("{guest}.wasm"))).unwrap();
        let exports = a2e_host::manifest::inspect_module(&wasm).unwrap().exports;
        let mut manifest = json!({
            "name": name, "version": "1.0.0", "abi_version": 1,
            "wasm": { "file": format!("{guest}.wasm"), "sha256": a2e_host::manifest::sha256_hex(&wasm) },
            "exports": exports.into_iter().filter(|e| !e.starts_with('_') && e != "memory").collect::<Vec<_>>(),
            "grants": ["rooms"],
        });
        for (k, v) in extra.as_object().unwrap() {
            manifest[k] = v.clone();
        }
        let host = s.state.host();
        let source = host.inspect_bytes(Some(&manifest.to_string()), &format!("{guest}.wasm"), wasm).unwrap();
        host.install_source(source, &InstallOptions { grant_requested: true, replace: false }).unwrap();
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(a2e_server::serve(s.state.clone(), listener, std::future::pending()));
    (s, addr)
}

fn call(s: &TestServer, plugin: &str, function: &str, input: Value) -> Value {
    let out = s.state.host().call(plugin, function, input.to_string().as_bytes(), &Default::default()).unwrap();
    let answer: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(answer["success"], true, "{answer}");
    answer["data"].clone()
}

async fn connect(addr: std::net::SocketAddr, bearer: Option<&str>) -> Ws {
    let mut request = format!("ws://{addr}/api/rt").into_client_request().unwrap();
    if let Some(token) = bearer {
        request.headers_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let welcome = next(&mut ws).await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    ws
}

/// The next text frame as JSON (pings are answered by the client library as it reads).
async fn next(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(20), ws.next()).await.expect("a frame").unwrap().unwrap();
        match msg {
            Message::Text(text) => return serde_json::from_str(&text).unwrap(),
            Message::Close(frame) => panic!("closed: {frame:?}"),
            _ => {}
        }
    }
}

/// The next frame that satisfies `want`.
async fn until(ws: &mut Ws, want: impl Fn(&Value) -> bool) -> Value {
    loop {
        let frame = next(ws).await;
        if want(&frame) {
            return frame;
        }
    }
}

async fn send(ws: &mut Ws, value: Value) {
    ws.send(Message::Text(value.to_string().into())).await.unwrap();
}

/// Reads until the server closes; returns the close code and reason.
async fn closed(ws: &mut Ws) -> (CloseCode, String) {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(30), ws.next()).await.expect("a close").expect("a frame");
        match msg {
            Ok(Message::Close(Some(frame))) => return (frame.code, frame.reason.to_string()),
            Ok(Message::Close(None)) => panic!("closed without a reason"),
            Ok(_) => {}
            Err(err) => panic!("the connection broke without a close frame: {err}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_in_client_joins_a_room_sends_and_receives_over_one_socket() {
    let (s, addr) = realtime_server(|_| {}).await;
    let user = s.user("rita").await;
    let token = user["session_token"].as_str().unwrap();
    call(&s, "counter", "open_room", json!({ "room": "main" }));
    let mut ws = connect(addr, Some(token)).await;
    send(&mut ws, json!({ "type": "join", "plugin": "counter", "room": "main", "ref": 1 })).await;
    let joined = next(&mut ws).await;
    assert_eq!((joined["type"].clone(), joined["ref"].clone()), (json!("joined"), json!(1)), "{joined}");
    let hello = next(&mut ws).await;
    assert_eq!(hello["data"], json!({ "count": 0, "clients": 1 }));
    send(&mut ws, json!({ "type": "send", "plugin": "counter", "room": "main", "data": { "add": 3 } })).await;
    send(&mut ws, json!({ "type": "send", "plugin": "counter", "room": "main", "data": { "add": 1000 } })).await;
    let update = until(&mut ws, |f| f["data"]["count"] == 13).await;
    assert_eq!(update["data"]["clients"], 1);
    send(&mut ws, json!({ "type": "leave", "plugin": "counter", "room": "main", "ref": 2 })).await;
    assert_eq!(until(&mut ws, |f| f["type"] == "left").await["reason"], "left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_clients_join_only_rooms_of_plugins_that_allow_them() {
    let (s, addr) = realtime_server(|_| {}).await;
    call(&s, "counter", "open_room", json!({ "room": "main" }));
    call(&s, "rooms", "open", json!({ "room": "lobby" }));
    let mut ws = connect(addr, None).await;
    send(&mut ws, json!({ "type": "join", "plugin": "counter", "room": "main", "ref": "a" })).await;
    let refused = next(&mut ws).await;
    assert_eq!((refused["type"].clone(), refused["code"].clone()), (json!("error"), json!("UNAUTHENTICATED")));
    assert_eq!(refused["ref"], "a");
    send(&mut ws, json!({ "type": "join", "plugin": "rooms", "room": "lobby", "ref": "b" })).await;
    assert_eq!(next(&mut ws).await["type"], "joined");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_credentials_and_foreign_origins_are_refused_at_the_handshake() {
    let (s, addr) = realtime_server(|_| {}).await;
    let user = s.user("olga").await;
    let token = user["session_token"].as_str().unwrap();
    let mut forged = format!("ws://{addr}/api/rt").into_client_request().unwrap();
    forged.headers_mut().insert("authorization", "Bearer not-a-session".parse().unwrap());
    let mut foreign = format!("ws://{addr}/api/rt").into_client_request().unwrap();
    foreign.headers_mut().insert("cookie", format!("a2e_session={token}").parse().unwrap());
    foreign.headers_mut().insert("origin", "http://evil.example".parse().unwrap());
    let mut cookie_without_origin = format!("ws://{addr}/api/rt").into_client_request().unwrap();
    cookie_without_origin.headers_mut().insert("cookie", format!("a2e_session={token}").parse().unwrap());
    for (request, status) in [(forged, 401u16), (foreign, 403), (cookie_without_origin, 403)] {
        match tokio_tungstenite::connect_async(request).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status().as_u16(), status)
            }
            other => panic!("expected an HTTP {status} refusal, got {other:?}"),
        }
    }
    // The browser's way: the cookie with the server's own origin.
    let mut browser = format!("ws://{addr}/api/rt").into_client_request().unwrap();
    browser.headers_mut().insert("cookie", format!("a2e_session={token}").parse().unwrap());
    browser.headers_mut().insert("origin", ORIGIN.parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(browser).await.unwrap();
    assert_eq!(next(&mut ws).await["user"], user["user"]["uuid"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_get_error_answers_and_the_socket_stays_open() {
    let (s, addr) = realtime_server(|_| {}).await;
    call(&s, "rooms", "open", json!({ "room": "lobby" }));
    let mut ws = connect(addr, None).await;
    ws.send(Message::Text("not json".into())).await.unwrap();
    let err = next(&mut ws).await;
    assert_eq!((err["type"].clone(), err["code"].clone()), (json!("error"), json!("INVALID_INPUT")));
    assert!(err["message"].as_str().unwrap().contains("malformed message"), "{err}");
    ws.send(Message::Binary(vec![1, 2, 3].into())).await.unwrap();
    assert!(next(&mut ws).await["message"].as_str().unwrap().contains("binary"));
    for (frame, code) in [
        (json!({ "type": "dance" }), "INVALID_INPUT"),
        (json!({ "type": "join", "plugin": "rooms" }), "INVALID_INPUT"),
        (json!({ "type": "join", "plugin": "rooms", "room": "nope", "ref": 5 }), "NOT_FOUND"),
        (json!({ "type": "join", "plugin": "ghost", "room": "x" }), "NOT_FOUND"),
        (json!({ "type": "send", "plugin": "rooms", "room": "lobby", "data": 1 }), "NOT_JOINED"),
        (json!({ "type": "leave", "plugin": "rooms", "room": "lobby" }), "NOT_JOINED"),
        (json!({ "type": "subscribe", "topic": "events" }), "PERMISSION_DENIED"),
        (json!({ "type": "subscribe", "topic": "gossip" }), "NOT_FOUND"),
        (
            json!({ "type": "join", "plugin": "rooms", "room": "lobby", "data": { "refuse": "members only" } }),
            "REFUSED",
        ),
    ] {
        send(&mut ws, frame.clone()).await;
        let answer = next(&mut ws).await;
        assert_eq!(
            (answer["type"].clone(), answer["code"].clone()),
            (json!("error"), json!(code)),
            "{frame}: {answer}"
        );
    }
    send(&mut ws, json!({ "type": "ping", "ref": 9 })).await;
    assert_eq!(next(&mut ws).await, json!({ "type": "pong", "ref": 9 }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_over_the_size_limit_closes_the_socket_with_1009() {
    let (_s, addr) = realtime_server(|c| c.rt.max_message_bytes = 1024).await;
    let mut ws = connect(addr, None).await;
    send(&mut ws, json!({ "type": "ping", "pad": "x".repeat(900) })).await;
    assert_eq!(next(&mut ws).await["type"], "pong");
    send(&mut ws, json!({ "type": "ping", "pad": "x".repeat(2000) })).await;
    let (code, reason) = closed(&mut ws).await;
    assert_eq!(code, CloseCode::Size);
    assert!(reason.contains("over the 1024-byte limit"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flooding_past_the_message_rate_limit_closes_the_socket_with_1008() {
    let (_s, addr) = realtime_server(|c| {
        c.rt.messages_per_sec = 5;
        c.rt.burst = 5;
    })
    .await;
    let mut ws = connect(addr, None).await;
    for i in 0..20 {
        if ws.send(Message::Text(json!({ "type": "ping", "ref": i }).to_string().into())).await.is_err() {
            break;
        }
    }
    let (code, reason) = closed(&mut ws).await;
    assert_eq!(code, CloseCode::Policy);
    assert!(reason.contains("at most 5 messages per second"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_whose_queue_fills_is_closed_with_1008_and_the_reason() {
    let (s, addr) = realtime_server(|c| c.rt.out_queue = 8).await;
    call(&s, "rooms", "open", json!({ "room": "lobby" }));
    let mut slow = connect(addr, None).await;
    let mut other = connect(addr, None).await;
    send(&mut slow, json!({ "type": "join", "plugin": "rooms", "room": "lobby" })).await;
    until(&mut slow, |f| f["type"] == "joined").await;
    // One answer of the room sends a burst of 500 messages, back to back: far more than 8 can
    // wait for the socket.
    send(
        &mut slow,
        json!({ "type": "send", "plugin": "rooms", "room": "lobby", "data": { "cmd": "burst", "n": 500 } }),
    )
    .await;
    let (code, reason) = closed(&mut slow).await;
    assert_eq!(code, CloseCode::Policy);
    assert!(reason.contains("too slow: 8 messages were waiting"), "{reason}");
    assert_eq!(s.state.host().realtime().rooms_of("rooms")[0].clients, 0);
    send(&mut other, json!({ "type": "ping" })).await;
    assert_eq!(next(&mut other).await["type"], "pong");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_dropped_and_others_keep_their_room() {
    let (s, addr) = realtime_server(|c| {
        c.rt.out_queue = 4;
        c.rt.pong_timeout = Duration::from_secs(1);
    })
    .await;
    call(&s, "rooms", "open", json!({ "room": "lobby" }));
    let mut stuck = connect(addr, None).await;
    let mut fine = connect(addr, None).await;
    for ws in [&mut stuck, &mut fine] {
        send(ws, json!({ "type": "join", "plugin": "rooms", "room": "lobby" })).await;
        until(ws, |f| f["type"] == "joined").await;
    }
    // Megabytes for the stuck client, more than the socket buffers hold, while it never reads:
    // once nothing can be written to it for the pong timeout, the server drops it.
    let big = "y".repeat(64 * 1024);
    let mut sent = 0;
    while s.state.host().realtime().rooms_of("rooms")[0].clients == 2 {
        assert!(sent < 2000, "the stuck client was never dropped");
        call(&s, "rooms", "send", json!({ "room": "lobby", "data": { "big": big } }));
        until(&mut fine, |f| f["data"]["big"].is_string()).await;
        sent += 1;
    }
    let metrics = req(Method::GET, "/metrics").send(&s.app).await.expect(StatusCode::OK).text;
    assert!(metrics.contains("a2e_rt_closed_total{code=\"1008\"} 1"), "{metrics}");
    send(&mut fine, json!({ "type": "send", "plugin": "rooms", "room": "lobby", "data": { "still": "here" } })).await;
    until(&mut fine, |f| f["data"]["echo"]["still"] == "here").await;
    drop(stuck);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_answering_pings_is_closed_and_one_that_answers_stays() {
    let (_s, addr) = realtime_server(|c| {
        c.rt.ping_interval = Duration::from_millis(100);
        c.rt.pong_timeout = Duration::from_millis(400);
    })
    .await;
    let mut silent = connect(addr, None).await;
    let mut alive = connect(addr, None).await;
    // The live client reads (and so answers pings) for a second; the silent one does not read.
    let deadline = tokio::time::Instant::now() + Duration::from_millis(1200);
    while tokio::time::Instant::now() < deadline {
        let _ = tokio::time::timeout_at(deadline, alive.next()).await;
    }
    send(&mut alive, json!({ "type": "ping", "ref": 1 })).await;
    assert_eq!(next(&mut alive).await["type"], "pong");
    let (code, reason) = closed(&mut silent).await;
    assert_eq!(code, CloseCode::Away);
    assert!(reason.contains("no answer to pings"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnecting_takes_the_client_out_of_its_rooms() {
    let (s, addr) = realtime_server(|_| {}).await;
    call(&s, "rooms", "open", json!({ "room": "lobby" }));
    let mut a = connect(addr, None).await;
    let mut b = connect(addr, None).await;
    send(&mut a, json!({ "type": "join", "plugin": "rooms", "room": "lobby" })).await;
    let a_id = until(&mut a, |f| f["type"] == "joined").await["client"].clone();
    send(&mut b, json!({ "type": "join", "plugin": "rooms", "room": "lobby" })).await;
    until(&mut b, |f| f["type"] == "joined").await;
    drop(a);
    let left = until(&mut b, |f| f["data"]["left"].is_string()).await;
    assert_eq!((left["data"]["left"].clone(), left["data"]["reason"].clone()), (a_id, json!("disconnected")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn administrators_follow_live_events_on_the_realtime_socket() {
    let (s, addr) = realtime_server(|_| {}).await;
    let admin = s.admin().await;
    let mut ws = connect(addr, Some(&admin)).await;
    send(&mut ws, json!({ "type": "subscribe", "topic": "events", "ref": 1 })).await;
    assert_eq!(next(&mut ws).await, json!({ "type": "subscribed", "topic": "events", "ref": 1 }));
    s.login("nobody@example.com", "wrong password 1").await.expect(StatusCode::UNAUTHORIZED);
    let event = until(&mut ws, |f| f["type"] == "event").await;
    assert_eq!(event["event"]["kind"], "login.failed");
    send(&mut ws, json!({ "type": "unsubscribe", "topic": "events" })).await;
    assert_eq!(next(&mut ws).await["type"], "unsubscribed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_the_plugins_api_and_the_rooms_api_show_realtime_counters() {
    let (s, addr) = realtime_server(|_| {}).await;
    let admin = s.admin().await;
    let user = s.user("mia").await;
    call(&s, "counter", "open_room", json!({ "room": "main" }));
    let mut ws = connect(addr, Some(user["session_token"].as_str().unwrap())).await;
    send(&mut ws, json!({ "type": "join", "plugin": "counter", "room": "main" })).await;
    send(&mut ws, json!({ "type": "send", "plugin": "counter", "room": "main", "data": { "add": 1 } })).await;
    until(&mut ws, |f| f["data"]["count"] == 1).await;
    let metrics = req(Method::GET, "/metrics").send(&s.app).await.expect(StatusCode::OK).text;
    for line in ["a2e_rt_connections 1", "a2e_room_clients{plugin=\"counter\",room=\"main\"} 1"] {
        assert!(metrics.contains(line), "{line} missing from\n{metrics}");
    }
    assert!(metrics.contains("a2e_room_ticks_total{plugin=\"counter\",room=\"main\"}"));
    assert!(metrics.contains("a2e_plugin_tick_duration_seconds_bucket{le=\"+Inf\",plugin=\"counter\"}"));
    let plugin = req(Method::GET, "/api/plugins/counter").cookie(&admin).send(&s.app).await.expect(StatusCode::OK).body;
    assert_eq!(plugin["realtime"]["rooms"], 1);
    assert_eq!(plugin["realtime"]["messages_in"], 1);
    assert!(plugin["realtime"]["ticks"].as_u64().unwrap() > 0);
    let rooms = req(Method::GET, "/api/rooms").cookie(&admin).send(&s.app).await.expect(StatusCode::OK).body;
    assert_eq!(
        (rooms[0]["plugin"].clone(), rooms[0]["room"].clone(), rooms[0]["clients"].clone()),
        (json!("counter"), json!("main"), json!(1))
    );
    let token = user["session_token"].as_str().unwrap();
    req(Method::GET, "/api/rooms").bearer(token).send(&s.app).await.expect(StatusCode::FORBIDDEN);
}
