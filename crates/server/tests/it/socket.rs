//! Tests over a real socket: live events on the WebSocket, and graceful shutdown.

use std::time::Duration;

use axum::http::StatusCode;
use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::{server, TestServer, ORIGIN};

/// Serves the test server on a free port until the returned sender fires.
async fn listen(
    s: &TestServer,
) -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<std::io::Result<()>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(a2e_server::serve(s.state.clone(), listener, async move {
        let _ = rx.await;
    }));
    (addr, tx, handle)
}

fn ws_request(addr: std::net::SocketAddr, session: Option<&str>, origin: &str) -> axum::http::Request<()> {
    let mut request = format!("ws://{addr}/api/events").into_client_request().unwrap();
    if let Some(session) = session {
        request.headers_mut().insert("cookie", format!("a2e_session={session}").parse().unwrap());
    }
    request.headers_mut().insert("origin", origin.parse().unwrap());
    request
}

/// The next text message, with a generous bound so a broken server fails the test instead of hanging it.
async fn next_json<S>(ws: &mut S) -> Value
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(60), ws.next()).await.expect("an event").unwrap().unwrap();
        if let Message::Text(text) = msg {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_receive_live_audit_events_and_others_are_refused() {
    let s = server();
    let admin = s.admin().await;
    let user = s.user("walt").await;
    let (addr, stop, handle) = listen(&s).await;

    let (mut ws, _) = tokio_tungstenite::connect_async(ws_request(addr, Some(&admin), ORIGIN)).await.unwrap();
    assert_eq!(next_json(&mut ws).await["kind"], "events.connected");
    s.login("walt@example.com", "not his password").await.expect(StatusCode::UNAUTHORIZED);
    let event = next_json(&mut ws).await;
    assert_eq!(event["kind"], "login.failed", "{event}");
    assert_eq!(event["plugin"], "auth");
    assert!(event["id"].as_i64().unwrap() > 0);

    let refused = [
        ws_request(addr, Some(user["session_token"].as_str().unwrap()), ORIGIN),
        ws_request(addr, None, ORIGIN),
        ws_request(addr, Some(&admin), "http://evil.example"),
    ];
    for (request, status) in refused.into_iter().zip([403u16, 401, 403]) {
        match tokio_tungstenite::connect_async(request).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status().as_u16(), status)
            }
            other => panic!("expected an HTTP {status} refusal, got {other:?}"),
        }
    }
    drop(ws);
    stop.send(()).unwrap();
    handle.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_an_in_flight_request_finish_then_stops_accepting() {
    let s = server();
    let login = s.user("xena").await;
    let session = login["session_token"].as_str().unwrap().to_owned();
    let (addr, stop, handle) = listen(&s).await;

    // Send the head and half of the body; the handler authenticates (which slides the session's
    // last-seen time to the clock's new value, two minutes on so the slide is written) and then
    // waits for the rest of the body.
    s.clock.advance(120_000);
    let body = json!({ "session_token": session }).to_string();
    let (first, rest) = body.split_at(body.len() / 2);
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /api/plugins/auth/call/get_profile HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {session}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.write_all(first.as_bytes()).await.unwrap();
    let session_id = a2e_host::manifest::sha256_hex(session.as_bytes());
    let expected = crate::T0 + 120_000;
    let mut seen = false;
    for _ in 0..2_000 {
        if s.state.host().db().get_session(&session_id).unwrap().last_seen_at == expected {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(seen, "the request never reached its handler");

    stop.send(()).unwrap();
    conn.write_all(rest.as_bytes()).await.unwrap();
    let mut response = String::new();
    conn.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("xena@example.com"), "{response}");
    handle.await.unwrap().unwrap();
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "the listener is closed after shutdown");
}
