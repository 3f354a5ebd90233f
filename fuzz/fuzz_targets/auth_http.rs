//! The HTTP request bodies of the auth routes, through the server's router (every middleware,
//! the auth plugin, the real database), without a socket.
//!
//! Input: selector byte (bits 0-3: which route; bit 4: send the harness's session as a bearer
//! token; bit 5: a non-JSON content type), then the body. `$SESSION` and `$REFRESH` in the body
//! are replaced with live tokens of the harness's account.
//! Properties: no answer is a 5xx; every error answer is JSON `{code, message}`; every success
//! answer with a body is JSON.

#![no_main]

use std::net::SocketAddr;
use std::sync::{Mutex, OnceLock};

use a2e_fuzz::{host_with_auth, split_selector, substitute};
use a2e_server::{app, AppState, ServerConfig};
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};
use tower::ServiceExt;

const ORIGIN: &str = "http://a2e.test";
const EMAIL: &str = "harness-5c1e@fuzz.a2e.test";
const PASSWORD: &str = "harness password 5c1e long enough";

const ROUTES: &[(&str, &str)] = &[
    ("POST", "/api/setup"),
    ("POST", "/api/auth/signup"),
    ("POST", "/api/auth/login"),
    ("POST", "/api/auth/verify-email"),
    ("POST", "/api/auth/resend-verification"),
    ("POST", "/api/auth/password-reset/request"),
    ("POST", "/api/auth/password-reset/confirm"),
    ("POST", "/api/auth/change-password"),
    ("POST", "/api/auth/refresh"),
    ("PATCH", "/api/auth/profile"),
];

struct Tokens {
    session: String,
    refresh: String,
}

struct Harness {
    runtime: tokio::runtime::Runtime,
    app: Router,
    tokens: Mutex<Tokens>,
    _dir: tempfile::TempDir,
}

impl Harness {
    fn send(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        bearer: Option<&str>,
        body: Vec<u8>,
    ) -> (StatusCode, Vec<u8>) {
        let mut builder = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).expect("method"))
            .uri(path)
            .header("host", "a2e.test")
            .header("origin", ORIGIN)
            .header("content-type", content_type);
        if let Some(token) = bearer {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        let mut request = builder.body(Body::from(body)).expect("request");
        let client: SocketAddr = "192.0.2.44:50000".parse().expect("address");
        request.extensions_mut().insert(ConnectInfo(client));
        self.runtime.block_on(async {
            let response = self.app.clone().oneshot(request).await.expect("the router is infallible");
            let status = response.status();
            let bytes = response.into_body().collect().await.expect("reading the answer").to_bytes().to_vec();
            (status, bytes)
        })
    }

    fn login(&self) -> Option<Tokens> {
        let body = json!({ "email": EMAIL, "password": PASSWORD }).to_string().into_bytes();
        let (status, bytes) = self.send("POST", "/api/auth/login", "application/json", None, body);
        if !status.is_success() {
            return None;
        }
        let value: Value = serde_json::from_slice(&bytes).ok()?;
        Some(Tokens {
            session: value["session_token"].as_str()?.to_owned(),
            refresh: value["refresh_token"].as_str()?.to_owned(),
        })
    }
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let (host, _clock, dir) = host_with_auth();
        let source = a2e_db::KeySource::KeyFile(dir.path().join("db.key"));
        let mut config = ServerConfig::new(ORIGIN);
        config.auth_per_ip_per_minute = u32::MAX;
        config.auth_per_account_per_minute = u32::MAX;
        // The floor is a sleep; it would only slow the fuzzer down.
        config.min_answer_time = std::time::Duration::ZERO;
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
        let state = runtime.block_on(async { AppState::new(host, source, config) });
        let placeholder = Tokens { session: String::new(), refresh: String::new() };
        let harness = Harness { runtime, app: app(state), tokens: Mutex::new(placeholder), _dir: dir };
        let setup = json!({ "name": "harness", "email": EMAIL, "password": PASSWORD }).to_string().into_bytes();
        let (status, bytes) = harness.send("POST", "/api/setup", "application/json", None, setup);
        assert!(status.is_success(), "setup failed: {status} {}", String::from_utf8_lossy(&bytes));
        let tokens = harness.login().expect("the harness account logs in");
        *harness.tokens.lock().expect("fresh lock") = tokens;
        harness
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((selector, body)) = split_selector(data) else { return };
    let (method, path) = ROUTES[usize::from(selector & 0x0f) % ROUTES.len()];
    let with_session = selector & 0x10 != 0;
    let content_type = if selector & 0x20 != 0 { "text/plain" } else { "application/json" };
    let h = harness();
    let mut tokens = h.tokens.lock().unwrap_or_else(|e| e.into_inner());
    let body = substitute(body, &[("$SESSION", &tokens.session), ("$REFRESH", &tokens.refresh)]);
    let names_a_token = with_session || body.as_slice() != data.get(1..).unwrap_or_default();
    let bearer = with_session.then(|| tokens.session.clone());
    let (status, bytes) = h.send(method, path, content_type, bearer.as_deref(), body);
    assert!(!status.is_server_error(), "{method} {path} answered {status}: {}", String::from_utf8_lossy(&bytes));
    if !bytes.is_empty() {
        let value: Value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("{method} {path} answered non-JSON ({e}): {}", String::from_utf8_lossy(&bytes)));
        if !status.is_success() {
            assert!(
                value["code"].is_string() && value["message"].is_string(),
                "{method} {path} answered {status} without {{code, message}}: {value}"
            );
        }
    }
    let revoking = path.ends_with("change-password") || path.ends_with("refresh") || path.ends_with("confirm");
    if names_a_token && revoking {
        if let Some(fresh) = h.login() {
            *tokens = fresh;
        }
    }
});
