//! Outbound HTTP through the fixture against a real HTTP server (axum on a loopback port):
//! grants, address checks, redirects, limits, streams and their cancellation.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};

use crate::{host_fn, install_fixture, test_host, TestHost};

#[derive(Default)]
struct Seen {
    requests: AtomicUsize,
    dropped: AtomicBool,
}

/// A real HTTP server on 127.0.0.1 with routes for each behaviour under test.
pub struct TestServer {
    /// Its port.
    pub port: u16,
    seen: Arc<Seen>,
    _runtime: tokio::runtime::Runtime,
}

struct DropFlag(Arc<Seen>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.dropped.store(true, Ordering::SeqCst);
    }
}

impl TestServer {
    /// Starts the server.
    pub fn start() -> TestServer {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let seen = Arc::new(Seen::default());
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let port = listener.local_addr().unwrap().port();
        let app =
            Router::new()
                .route("/hello", get(|| async { ([("x-test", "1")], "hello") }))
                .route(
                    "/redirect/{n}",
                    get(|Path(n): Path<u32>| async move {
                        if n == 0 {
                            Redirect::to("/hello")
                        } else {
                            Redirect::to(&format!("/redirect/{}", n - 1))
                        }
                    }),
                )
                .route("/away", get(move || async move { Redirect::to(&format!("http://localhost:{port}/hello")) }))
                .route("/big", get(|| async { vec![b'x'; 2 << 20] }))
                .route(
                    "/slow",
                    get(|| async {
                        tokio::time::sleep(Duration::from_secs(3)).await;
                        "late"
                    }),
                )
                .route(
                    "/echo",
                    post(|headers: HeaderMap, body: String| async move {
                        let kind = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                        axum::Json(json!({ "content_type": kind, "body": body }))
                    }),
                )
                .route(
                    "/stream",
                    get(|| async {
                        // "é" and "€" split across chunks, with pauses between them.
                        let pieces: Vec<Vec<u8>> =
                            vec![b"a".to_vec(), vec![0xC3], vec![0xA9, b'b', 0xE2, 0x82], vec![0xAC], b"end".to_vec()];
                        let stream = futures_util::stream::unfold(pieces.into_iter(), |mut it| async move {
                            let next = it.next()?;
                            tokio::time::sleep(Duration::from_millis(60)).await;
                            Some((Ok::<_, std::io::Error>(next), it))
                        });
                        Response::new(Body::from_stream(stream))
                    }),
                )
                .route(
                    "/forever",
                    get(|State(seen): State<Arc<Seen>>| async move {
                        let flag = DropFlag(seen);
                        let stream = futures_util::stream::unfold((0u64, flag), |(n, flag)| async move {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            Some((Ok::<_, std::io::Error>(format!("tick {n}\n")), (n + 1, flag)))
                        });
                        Response::new(Body::from_stream(stream))
                    }),
                )
                .route(
                    "/headers",
                    get(|headers: HeaderMap| async move {
                        headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("none").to_owned()
                    }),
                )
                .route(
                    "/check-key",
                    get(|headers: HeaderMap| async move {
                        let key = headers.get("authorization").and_then(|v| v.to_str().ok());
                        if key == Some("Bearer s3cret-value") {
                            "yes"
                        } else {
                            "no"
                        }
                    }),
                )
                .route(
                    // Echoes the Authorization header in the body, split in two pieces with a
                    // pause between them, and in a response header.
                    "/echo-split",
                    get(|headers: HeaderMap| async move {
                        let key = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                        let (a, b) = key.split_at(key.len() / 2 + 3);
                        let pieces = vec![format!("key={a}"), format!("{b};")];
                        let stream = futures_util::stream::unfold(pieces.into_iter(), |mut it| async move {
                            let next = it.next()?;
                            tokio::time::sleep(Duration::from_millis(60)).await;
                            Some((Ok::<_, std::io::Error>(next), it))
                        });
                        ([("x-echo", key)], Body::from_stream(stream))
                    }),
                )
                .route(
                    "/away-headers",
                    get(move || async move { Redirect::to(&format!("http://localhost:{port}/headers")) }),
                )
                .route(
                    "/status/{code}",
                    get(|Path(code): Path<u16>| async move {
                        (StatusCode::from_u16(code).unwrap(), "status").into_response()
                    }),
                )
                .layer(axum::middleware::from_fn_with_state(seen.clone(), count))
                .with_state(seen.clone());
        runtime.spawn(async move { axum::serve(listener, app).await.unwrap() });
        TestServer { port, seen, _runtime: runtime }
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn requests(&self) -> usize {
        self.seen.requests.load(Ordering::SeqCst)
    }
}

async fn count(State(seen): State<Arc<Seen>>, req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    seen.requests.fetch_add(1, Ordering::SeqCst);
    next.run(req).await
}

fn setup(grants: &[&str]) -> (TestHost, TestServer) {
    let t = test_host();
    install_fixture(&t, "fx", grants, json!({}));
    (t, TestServer::start())
}

fn code(env: &Value) -> &str {
    env["error"]["code"].as_str().unwrap_or("")
}

fn message(env: &Value) -> &str {
    env["error"]["message"].as_str().unwrap_or("")
}

#[test]
fn requests_reach_only_granted_origins_and_bodies_round_trip() {
    let (t, s) = setup(&["http:http://127.0.0.1:*"]);
    let ok = host_fn(&t, "fx", "http_request", json!({ "url": s.url("/hello") }));
    assert_eq!(ok["data"]["status"], 200, "{ok}");
    assert_eq!(ok["data"]["body"], "hello");
    assert_eq!(ok["data"]["headers"]["x-test"], "1");
    let posted = host_fn(
        &t,
        "fx",
        "http_request",
        json!({ "method": "post", "url": s.url("/echo"), "headers": { "Content-Type": "text/plain" }, "body": "héllo" }),
    );
    let echoed: Value = serde_json::from_str(posted["data"]["body"].as_str().unwrap()).unwrap();
    assert_eq!(echoed, json!({ "content_type": "text/plain", "body": "héllo" }));
    let b64 = host_fn(&t, "fx", "http_request", json!({ "url": s.url("/hello"), "base64": true }));
    assert_eq!(b64["data"]["body"], "aGVsbG8=");
    // Non-2xx answers are answers, not errors.
    let missing = host_fn(&t, "fx", "http_request", json!({ "url": s.url("/status/404") }));
    assert_eq!(missing["data"]["status"], 404);
    let before = s.requests();
    // Another port, host name or scheme is not covered: refused before anything is sent.
    let other_host = host_fn(&t, "fx", "http_request", json!({ "url": format!("http://localhost:{}/hello", s.port) }));
    assert_eq!(code(&other_host), "PERMISSION_DENIED", "{other_host}");
    assert!(message(&other_host).contains(&format!("http://localhost:{}", s.port)), "{other_host}");
    let https = host_fn(&t, "fx", "http_request", json!({ "url": format!("https://127.0.0.1:{}/hello", s.port) }));
    assert_eq!(code(&https), "PERMISSION_DENIED");
    assert_eq!(s.requests(), before, "a refused request reached the server");
}

#[test]
fn extism_s_own_http_function_follows_the_same_rules() {
    let (t, s) = setup(&["http:http://127.0.0.1:*"]);
    let call = |input: Value| t.host.call("fx", "extism_http", input.to_string().as_bytes(), &Default::default());
    let ok: Value = serde_json::from_slice(&call(json!({ "url": s.url("/hello") })).unwrap()).unwrap();
    assert_eq!(ok, json!({ "status": 200, "body": "hello", "x_test": "1" }));
    let posted: Value =
        serde_json::from_slice(&call(json!({ "url": s.url("/echo"), "method": "POST", "body": "héllo" })).unwrap())
            .unwrap();
    let echoed: Value = serde_json::from_str(posted["body"].as_str().unwrap()).unwrap();
    assert_eq!(echoed["body"], "héllo", "{posted}");
    let missing: Value = serde_json::from_slice(&call(json!({ "url": s.url("/status/404") })).unwrap()).unwrap();
    assert_eq!(missing["status"], 404);
    // An origin the grants do not cover, or a loopback name they do not name: the call fails with
    // a2e's code and reason instead of Extism's "not enabled", and nothing is sent.
    let before = s.requests();
    for url in [format!("http://localhost:{}/hello", s.port), "http://169.254.169.254/latest/meta-data/".into()] {
        let err = call(json!({ "url": url })).unwrap_err().to_string();
        assert!(err.contains("PERMISSION_DENIED") && err.contains("http:"), "{url}: {err}");
    }
    assert_eq!(s.requests(), before, "a refused request reached the server");
    // The plugin serves the next call after a refusal.
    assert!(call(json!({ "url": s.url("/hello") })).is_ok());
    // Without any http: grant the function is refused for the missing grant.
    install_fixture(&t, "fx-plain", &[], json!({}));
    let bare = t.host.call(
        "fx-plain",
        "extism_http",
        json!({ "url": s.url("/hello") }).to_string().as_bytes(),
        &Default::default(),
    );
    let err = bare.unwrap_err().to_string();
    assert!(err.contains("PERMISSION_DENIED") && err.contains("`http:<origin>` grant"), "{err}");
}

#[test]
fn a_secret_reaches_only_its_own_origin_and_never_the_plugin() {
    let (t, s) = setup(&["http:http://127.0.0.1:*", "http:http://localhost:*"]);
    let origin = format!("http://127.0.0.1:{}", s.port);
    let info = t.host.set_secret("fx", "api.key", "s3cret-value", &format!("{origin}/")).unwrap();
    assert_eq!((info.name.as_str(), info.origin.as_str()), ("api.key", origin.as_str()));
    let with_key = |url: String| {
        host_fn(
            &t,
            "fx",
            "http_request",
            json!({ "url": url, "headers": { "Authorization": "Bearer {{secret:api.key}}" } }),
        )
    };
    // Sent to its origin, in place of the reference; a server that echoes it shows the plugin
    // `[secret]`, whole or split between pieces of a stream.
    assert_eq!(with_key(s.url("/check-key"))["data"]["body"], "yes");
    let echoed = with_key(s.url("/echo-split"));
    assert_eq!(echoed["data"]["body"], "key=Bearer [secret];", "{echoed}");
    assert_eq!(echoed["data"]["headers"]["x-echo"], "Bearer [secret]", "{echoed}");
    let request = json!({ "url": s.url("/echo-split"), "headers": { "Authorization": "Bearer {{secret:api.key}}" } });
    let opened = host_fn(&t, "fx", "http_open", request);
    assert_eq!(opened["data"]["headers"]["x-echo"], "Bearer [secret]", "{opened}");
    let id = opened["data"]["id"].as_str().unwrap().to_owned();
    let mut streamed = String::new();
    loop {
        let chunk = host_fn(&t, "fx", "http_read", json!({ "id": id, "wait_ms": 2000 }));
        streamed.push_str(chunk["data"]["data"].as_str().unwrap());
        if chunk["data"]["done"] == true {
            break;
        }
    }
    assert_eq!(streamed, "key=Bearer [secret];");
    // Only alone or after a scheme, only in a credential header, never with OPTIONS: a plugin
    // cannot place it where a server would reflect it.
    for (header, value, method) in [
        ("x-forwarded-host", "{{secret:api.key}}", "GET"),
        ("access-control-request-headers", "{{secret:api.key}}", "OPTIONS"),
        ("authorization", "Bearer {{secret:api.key}} more", "GET"),
        ("authorization", "x{{secret:api.key}}", "GET"),
        ("authorization", "Bearer: {{secret:api.key}}", "GET"),
        ("authorization", "Bearer {{secret:api.key}}", "OPTIONS"),
    ] {
        let env = host_fn(
            &t,
            "fx",
            "http_request",
            json!({ "method": method, "url": s.url("/headers"), "headers": { header: value } }),
        );
        assert_eq!(code(&env), "INVALID_INPUT", "{header}: {value} ({method}): {env}");
    }
    // Another origin, granted or not, never gets it: refused before anything is sent.
    let before = s.requests();
    let elsewhere = with_key(format!("http://localhost:{}/headers", s.port));
    assert_eq!(code(&elsewhere), "PERMISSION_DENIED", "{elsewhere}");
    assert!(message(&elsewhere).contains("bound to") && !elsewhere.to_string().contains("s3cret"), "{elsewhere}");
    assert_eq!(s.requests(), before);
    // A redirect to another origin goes on without it.
    let redirected = with_key(s.url("/away-headers"));
    assert_eq!(redirected["data"]["body"], "none", "{redirected}");
    // A secret the plugin does not have, or a reference left open.
    let unknown = host_fn(
        &t,
        "fx",
        "http_request",
        json!({ "url": s.url("/headers"), "headers": { "x-api-key": "{{secret:nope}}" } }),
    );
    assert_eq!(code(&unknown), "NOT_FOUND", "{unknown}");
    let open = host_fn(
        &t,
        "fx",
        "http_request",
        json!({ "url": s.url("/headers"), "headers": { "x-api-key": "{{secret:api.key" } }),
    );
    assert_eq!(code(&open), "INVALID_INPUT", "{open}");
    // The plugin sees names and origins, never values.
    let listed = host_fn(&t, "fx", "secret_list", json!({}));
    assert_eq!(listed["data"][0]["name"], "api.key", "{listed}");
    assert_eq!(listed["data"][0]["origin"], origin);
    assert!(!listed.to_string().contains("s3cret"), "{listed}");
    // Another plugin's secrets are not this plugin's.
    install_fixture(&t, "fx-other", &["http:http://127.0.0.1:*"], json!({}));
    let theirs = host_fn(
        &t,
        "fx-other",
        "http_request",
        json!({ "url": s.url("/headers"), "headers": { "x-api-key": "{{secret:api.key}}" } }),
    );
    assert_eq!(code(&theirs), "NOT_FOUND", "{theirs}");
    assert_eq!(host_fn(&t, "fx-other", "secret_list", json!({}))["data"], json!([]));
    // Removing the plugin removes its secrets.
    t.host.remove("fx", false).unwrap();
    assert!(t.host.db().plugin_secret("fx", "api.key").unwrap().is_none());
}

#[test]
fn bad_secrets_are_refused_and_keep_the_stored_one() {
    let (t, _s) = setup(&["http:http://127.0.0.1:*"]);
    t.host.set_secret("fx", "key", "first", "https://api.example.com").unwrap();
    for (name, value, origin) in [
        ("Key", "v", "https://api.example.com"),
        ("", "v", "https://api.example.com"),
        (".key", "v", "https://api.example.com"),
        ("key", "", "https://api.example.com"),
        ("key", "line\nbreak", "https://api.example.com"),
        ("key", "clé", "https://api.example.com"),
        ("key", "v", "ftp://api.example.com"),
        ("key", "v", "https://api.example.com/v1"),
        ("key", "v", "https://user:pw@api.example.com"),
        ("key", "v", "not a url"),
    ] {
        let err = t.host.set_secret("fx", name, value, origin).unwrap_err();
        assert!(matches!(err, a2e_host::HostError::InvalidSecret(_)), "{name:?} {value:?} {origin:?}: {err}");
    }
    let long = "x".repeat(a2e_host::host_fns::MAX_SECRET_LEN + 1);
    assert!(t.host.set_secret("fx", "key", &long, "https://api.example.com").is_err());
    assert!(matches!(
        t.host.set_secret("nobody", "key", "v", "https://a.example"),
        Err(a2e_host::HostError::UnknownPlugin(_))
    ));
    let kept = t.host.db().plugin_secret("fx", "key").unwrap().unwrap();
    assert_eq!((kept.0.as_str(), kept.1.as_str()), ("first", "https://api.example.com"));
    assert!(t.host.delete_secret("fx", "key").unwrap());
    assert!(!t.host.delete_secret("fx", "key").unwrap());
    assert!(t.host.secrets("fx").unwrap().is_empty());
}

#[test]
fn private_addresses_need_a_grant_that_names_them() {
    // A wildcard grant covers any public host, never loopback, private or link-local ones.
    let (t, s) = setup(&["http:http://*:*"]);
    for url in [
        format!("http://localhost:{}/hello", s.port),
        format!("http://127.0.0.1:{}/hello", s.port),
        "http://169.254.169.254/latest/meta-data/".into(),
        "http://10.0.0.1/".into(),
        format!("http://[::1]:{}/hello", s.port),
    ] {
        let env = host_fn(&t, "fx", "http_request", json!({ "url": url, "timeout_ms": 2000 }));
        assert_eq!(code(&env), "PERMISSION_DENIED", "{url}: {env}");
    }
    let named = host_fn(&t, "fx", "http_request", json!({ "url": format!("http://localhost:{}/hello", s.port) }));
    assert!(message(&named).contains("not public"), "{named}");
    assert_eq!(s.requests(), 0);
    // Naming localhost allows the loopback addresses, for that name only.
    t.host.grant("fx", &[a2e_abi::GrantSpec::parse("http:http://localhost:*").unwrap()]).unwrap();
    let local = host_fn(&t, "fx", "http_request", json!({ "url": format!("http://localhost:{}/hello", s.port) }));
    assert_eq!(local["data"]["body"], "hello", "{local}");
}

#[test]
fn redirects_are_followed_only_to_granted_origins() {
    let (t, s) = setup(&["http:http://127.0.0.1:*"]);
    let followed = host_fn(&t, "fx", "http_request", json!({ "url": s.url("/redirect/2") }));
    assert_eq!(followed["data"]["body"], "hello", "{followed}");
    assert!(followed["data"]["url"].as_str().unwrap().ends_with("/hello"));
    let too_many = host_fn(&t, "fx", "http_request", json!({ "url": s.url("/redirect/9") }));
    assert_eq!(code(&too_many), "UNAVAILABLE", "{too_many}");
    assert!(message(&too_many).contains("redirects"));
    let before = s.requests();
    let away = host_fn(&t, "fx", "http_request", json!({ "url": s.url("/away") }));
    assert_eq!(code(&away), "PERMISSION_DENIED", "{away}");
    assert!(message(&away).contains("redirect"), "{away}");
    assert_eq!(s.requests(), before + 1, "the refused redirect target was requested");
}

#[test]
fn size_time_and_connection_failures_are_clear_errors() {
    let (t, s) = setup(&["http:http://127.0.0.1:*"]);
    let big = host_fn(&t, "fx", "http_request", json!({ "url": s.url("/big") }));
    assert_eq!(code(&big), "TOO_LARGE", "{big}");
    let bigger_cap = host_fn(&t, "fx", "http_request", json!({ "url": s.url("/big"), "max_bytes": 4 << 20 }));
    assert_eq!(bigger_cap["data"]["body"].as_str().unwrap().len(), 2 << 20);
    let started = Instant::now();
    let slow = host_fn(&t, "fx", "http_request", json!({ "url": s.url("/slow"), "timeout_ms": 300 }));
    assert_eq!(code(&slow), "TIMEOUT", "{slow}");
    assert!(message(&slow).contains("300 ms"), "{slow}");
    assert!(started.elapsed() < Duration::from_secs(3), "the timeout did not cut the request short");
    // A port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let refused = host_fn(&t, "fx", "http_request", json!({ "url": format!("http://127.0.0.1:{port}/") }));
    assert_eq!(code(&refused), "UNAVAILABLE", "{refused}");
    assert!(message(&refused).contains(&port.to_string()), "{refused}");
}

#[test]
fn bad_requests_are_invalid_input_and_send_nothing() {
    let (t, s) = setup(&["http:http://127.0.0.1:*"]);
    for (request, expect) in [
        (json!({ "url": s.url("/hello"), "method": "TRACE" }), "method"),
        (json!({ "url": "ftp://127.0.0.1/x" }), "http or https"),
        (json!({ "url": "not a url" }), "bad url"),
        (json!({ "url": format!("http://user:pw@127.0.0.1:{}/", s.port) }), "credentials"),
        (json!({ "url": s.url("/hello"), "headers": { "Host": "evil" } }), "set by the host"),
        (json!({ "url": s.url("/hello"), "headers": { "x-a": "1\r\nx-b: 2" } }), "bad value"),
        (json!({ "url": s.url("/hello"), "timeout_ms": 999_999 }), "timeout_ms"),
        (json!({ "url": s.url("/hello"), "max_bytes": u32::MAX }), "max_bytes"),
        (json!({ "url": s.url("/echo"), "method": "POST", "body": "%%%", "base64": true }), "base64"),
    ] {
        let env = host_fn(&t, "fx", "http_request", request.clone());
        assert_eq!(code(&env), "INVALID_INPUT", "{request}: {env}");
        assert!(message(&env).contains(expect), "{request}: {env}");
    }
    for read in [json!({ "id": "x", "wait_ms": 60_000 }), json!({ "id": "x", "max_bytes": 2 << 20 })] {
        assert_eq!(code(&host_fn(&t, "fx", "http_read", read.clone())), "INVALID_INPUT", "{read}");
    }
    assert_eq!(s.requests(), 0);
}

fn read_all(t: &TestHost, plugin: &str, id: &str) -> (String, usize) {
    let mut text = String::new();
    let mut reads = 0;
    loop {
        let chunk = host_fn(t, plugin, "http_read", json!({ "id": id, "wait_ms": 1000 }));
        assert_eq!(chunk["success"], true, "{chunk}");
        text.push_str(chunk["data"]["data"].as_str().unwrap());
        reads += 1;
        if chunk["data"]["done"] == true {
            return (text, reads);
        }
        assert!(reads < 100, "the stream never ended");
    }
}

#[test]
fn streams_deliver_text_piece_by_piece_without_splitting_characters() {
    let (t, s) = setup(&["http:http://127.0.0.1:*"]);
    let opened = host_fn(&t, "fx", "http_open", json!({ "url": s.url("/stream") }));
    assert_eq!(opened["data"]["status"], 200, "{opened}");
    let id = opened["data"]["id"].as_str().unwrap().to_owned();
    // Nothing waits when asked not to.
    let first = host_fn(&t, "fx", "http_read", json!({ "id": id }));
    assert_eq!(first["success"], true, "{first}");
    let mut text = first["data"]["data"].as_str().unwrap().to_owned();
    let (rest, reads) = read_all(&t, "fx", &id);
    text.push_str(&rest);
    assert_eq!(text, "aéb€end");
    assert!(reads >= 2, "the body came in one read: not streamed");
    let gone = host_fn(&t, "fx", "http_read", json!({ "id": id }));
    assert_eq!(code(&gone), "NOT_FOUND", "{gone}");
    // Streams are private to the plugin that opened them.
    install_fixture(&t, "other", &["http:http://127.0.0.1:*"], json!({}));
    let opened = host_fn(&t, "fx", "http_open", json!({ "url": s.url("/stream") }));
    let id = opened["data"]["id"].as_str().unwrap();
    for f in ["http_read", "http_close"] {
        let env = host_fn(&t, "other", f, json!({ "id": id }));
        assert!(code(&env) == "NOT_FOUND" || env["data"]["deleted"] == false, "{f}: {env}");
    }
    assert_eq!(read_all(&t, "fx", id).0, "aéb€end");
}

#[test]
fn closing_a_stream_drops_the_upstream_connection() {
    let (t, s) = setup(&["http:http://127.0.0.1:*"]);
    let opened = host_fn(&t, "fx", "http_open", json!({ "url": s.url("/forever") }));
    let id = opened["data"]["id"].as_str().unwrap().to_owned();
    let chunk = host_fn(&t, "fx", "http_read", json!({ "id": id, "wait_ms": 2000 }));
    assert!(chunk["data"]["data"].as_str().unwrap().starts_with("tick 0"), "{chunk}");
    assert!(!s.seen.dropped.load(Ordering::SeqCst));
    let closed = host_fn(&t, "fx", "http_close", json!({ "id": id }));
    assert_eq!(closed["data"]["deleted"], true);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !s.seen.dropped.load(Ordering::SeqCst) {
        assert!(Instant::now() < deadline, "the server still streams after close");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(code(&host_fn(&t, "fx", "http_read", json!({ "id": id }))), "NOT_FOUND");
}

#[test]
fn open_streams_are_bounded_per_plugin_and_closed_with_the_grant() {
    let (t, s) = setup(&["http:http://127.0.0.1:*"]);
    let mut ids = Vec::new();
    for _ in 0..a2e_host::host_fns::MAX_STREAMS_PER_PLUGIN {
        let env = host_fn(&t, "fx", "http_open", json!({ "url": s.url("/forever") }));
        ids.push(env["data"]["id"].as_str().unwrap().to_owned());
    }
    let over = host_fn(&t, "fx", "http_open", json!({ "url": s.url("/forever") }));
    assert_eq!(code(&over), "RATE_LIMITED", "{over}");
    host_fn(&t, "fx", "http_close", json!({ "id": ids.pop().unwrap() }));
    let again = host_fn(&t, "fx", "http_open", json!({ "url": s.url("/forever") }));
    assert_eq!(again["success"], true, "{again}");
    // Revoking the grant closes every stream of the plugin.
    t.host.revoke("fx", a2e_abi::GrantSpec::parse("http:http://127.0.0.1:*").unwrap()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !s.seen.dropped.load(Ordering::SeqCst) {
        assert!(Instant::now() < deadline, "streams outlived the revoked grant");
        std::thread::sleep(Duration::from_millis(20));
    }
    t.host.grant("fx", &[a2e_abi::GrantSpec::parse("http:http://127.0.0.1:*").unwrap()]).unwrap();
    assert_eq!(code(&host_fn(&t, "fx", "http_read", json!({ "id": ids[0] }))), "NOT_FOUND");
}
