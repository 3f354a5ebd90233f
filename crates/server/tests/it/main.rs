//! Route tests of the a2e server through `app()` (no socket), with the real host, the real auth
//! plugin, a real encrypted database in a temp dir and the file outbox; plus socket tests for
//! the WebSocket and graceful shutdown.
//!
//! The plugins are built from `plugins/` for wasm32 by `cargo xtask test` (or `cargo build
//! --release --target wasm32-unknown-unknown` in `plugins/` with the same target dir).

mod admin; // database status, stats, verify, backup; audit log
mod auth; // the auth API, cookies, bearer tokens, setup
mod chat; // the chat plugin against a real model server: streaming, stop, resume, branches, search, export, errors
mod guard; // CSRF, tokens in URLs, body limits, rate limits, headers, health, metrics, OpenAPI
mod plugins; // upload, grants, calls, roles
mod realtime; // the realtime socket: rooms, limits, close reasons, events topic, metrics
mod socket; // live events over WebSocket, graceful shutdown

use std::net::SocketAddr;
use std::path::PathBuf;

use a2e_db::{Db, KeySource};
use a2e_host::{Host, HostConfig, ManualClock};
use a2e_server::{app, AppState, ServerConfig};
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tempfile::TempDir;
use tower::ServiceExt;

/// The fixed start of every test clock.
pub const T0: i64 = 1_700_000_000_000;
/// The origin the test server believes it is served at.
pub const ORIGIN: &str = "http://a2e.test";
/// A password that passes the policy.
pub const PASSWORD: &str = "correct horse battery staple";

/// Directory holding the plugins built for wasm32.
pub fn wasm_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let target = exe.ancestors().nth(3).expect("target dir").to_owned();
    let dir = target.join("wasm32-unknown-unknown").join("release");
    assert!(
        dir.join("template.wasm").is_file(),
        "plugins missing in {}: run `cargo xtask test`, or build plugins/ for wasm32-unknown-unknown with the same CARGO_TARGET_DIR",
        dir.display()
    );
    dir
}

/// A server over a fresh data dir with the bundled plugins installed.
pub struct TestServer {
    /// The data dir.
    pub dir: TempDir,
    /// The state behind the router.
    pub state: AppState,
    /// The router.
    pub app: Router,
    /// The host's clock.
    pub clock: ManualClock,
}

/// Starts a test server with the default configuration.
pub fn server() -> TestServer {
    server_with(|_| {})
}

/// Starts a test server with the configuration adjusted by `configure`.
pub fn server_with(configure: impl FnOnce(&mut ServerConfig)) -> TestServer {
    server_with_host(|_| {}, configure)
}

/// Starts a test server with the host's and the server's configuration adjusted.
pub fn server_with_host(
    configure_host: impl FnOnce(&mut HostConfig),
    configure: impl FnOnce(&mut ServerConfig),
) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let source = KeySource::KeyFile(dir.path().join("db.key"));
    let db = Db::open(dir.path(), &source).unwrap();
    let clock = ManualClock::new(T0);
    let mut host_config = HostConfig::new(dir.path());
    host_config.clock = std::sync::Arc::new(clock.clone());
    host_config.cache_dir = Some(std::env::temp_dir().join("a2e-test-module-cache"));
    host_config.config_overrides.insert("auth".into(), [("base_url".to_owned(), ORIGIN.to_owned())].into());
    configure_host(&mut host_config);
    let host = Host::open(db, host_config).unwrap();
    let outcomes = a2e_server::bundled::install(&host).unwrap();
    assert!(
        outcomes.iter().all(|o| !matches!(o, a2e_server::bundled::Outcome::Missing(_))),
        "a bundled plugin was not built into this build ({outcomes:?}): build plugins/ first (`cargo xtask test`)"
    );
    let mut config = ServerConfig::new(ORIGIN);
    config.auth_per_ip_per_minute = 10_000;
    config.auth_per_account_per_minute = 10_000;
    configure(&mut config);
    let state = AppState::new(host, source, config);
    TestServer { app: app(state.clone()), dir, state, clock }
}

/// A request under construction.
pub struct Req {
    builder: axum::http::request::Builder,
    body: Body,
    client: Option<SocketAddr>,
}

/// Starts a request; state-changing ones carry the server's own Origin unless told otherwise.
pub fn req(method: Method, path: &str) -> Req {
    let mut builder = Request::builder().method(method.clone()).uri(path).header("host", "a2e.test");
    if method != Method::GET {
        builder = builder.header("origin", ORIGIN);
    }
    Req { builder, body: Body::empty(), client: Some("127.0.0.1:50000".parse().unwrap()) }
}

/// Starts a request with no Origin header.
pub fn raw_req(method: Method, path: &str) -> Req {
    let builder = Request::builder().method(method).uri(path).header("host", "a2e.test");
    Req { builder, body: Body::empty(), client: Some("127.0.0.1:50000".parse().unwrap()) }
}

impl Req {
    /// A JSON body.
    pub fn json(mut self, value: Value) -> Req {
        self.builder = self.builder.header("content-type", "application/json");
        self.body = Body::from(value.to_string());
        self
    }

    /// A raw body with a content type.
    pub fn raw(mut self, content_type: &str, bytes: impl Into<Vec<u8>>) -> Req {
        self.builder = self.builder.header("content-type", content_type);
        self.body = Body::from(bytes.into());
        self
    }

    /// Any header.
    pub fn header(mut self, name: &str, value: &str) -> Req {
        self.builder = self.builder.header(name, value);
        self
    }

    /// The session cookie.
    pub fn cookie(self, session: &str) -> Req {
        self.header("cookie", &format!("a2e_session={session}"))
    }

    /// `Authorization: Bearer`.
    pub fn bearer(self, token: &str) -> Req {
        self.header("authorization", &format!("Bearer {token}"))
    }

    /// The client address of the connection.
    pub fn from_addr(mut self, addr: &str) -> Req {
        self.client = Some(addr.parse().unwrap());
        self
    }

    /// Sends it through the router.
    pub async fn send(self, app: &Router) -> Resp {
        let mut request = self.builder.body(self.body).unwrap();
        if let Some(addr) = self.client {
            request.extensions_mut().insert(ConnectInfo(addr));
        }
        let response = app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Resp { status, headers, body, text }
    }
}

/// A response, read.
#[derive(Debug)]
pub struct Resp {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// The body as JSON (Null when not JSON).
    pub body: Value,
    /// The body as text.
    pub text: String,
}

impl Resp {
    /// Asserts the status and returns self.
    #[track_caller]
    pub fn expect(self, status: StatusCode) -> Resp {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.text);
        self
    }

    /// Asserts an error answer with `status` and `code`.
    #[track_caller]
    pub fn expect_error(self, status: StatusCode, code: &str) -> Resp {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.text);
        assert_eq!(self.body["code"], code, "unexpected code; body: {}", self.text);
        assert!(self.body["message"].as_str().is_some_and(|m| !m.is_empty()), "no message: {}", self.text);
        self
    }

    /// The session cookie set by this response.
    pub fn session_cookie(&self) -> Option<String> {
        self.headers.get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).find_map(|c| {
            let value = c.strip_prefix("a2e_session=")?.split(';').next()?;
            (!value.is_empty()).then(|| value.to_owned())
        })
    }
}

impl TestServer {
    /// Creates the first administrator through the setup route; returns their session.
    pub async fn admin(&self) -> String {
        let r = req(Method::POST, "/api/setup")
            .json(json!({ "name": "Admin", "email": "admin@example.com", "password": PASSWORD }))
            .send(&self.app)
            .await
            .expect(StatusCode::OK);
        r.session_cookie().expect("setup sets the session cookie")
    }

    /// Signs up `name` and logs them in; returns the login answer (tokens and user).
    pub async fn user(&self, name: &str) -> Value {
        let email = format!("{name}@example.com");
        req(Method::POST, "/api/auth/signup")
            .json(json!({ "name": name, "email": email, "password": PASSWORD }))
            .send(&self.app)
            .await
            .expect(StatusCode::OK);
        self.login(&email, PASSWORD).await.expect(StatusCode::OK).body
    }

    /// Logs in.
    pub async fn login(&self, email: &str, password: &str) -> Resp {
        req(Method::POST, "/api/auth/login").json(json!({ "email": email, "password": password })).send(&self.app).await
    }

    /// The token in the newest mail to `to` whose link goes to `path`.
    pub fn mailed_token(&self, to: &str, path: &str) -> String {
        self.state.host().flush_mail();
        let outbox = self.dir.path().join("outbox");
        let mut files: Vec<_> = std::fs::read_dir(&outbox).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        let marker = format!("{ORIGIN}{path}?token=");
        files
            .iter()
            .rev()
            .map(|f| std::fs::read_to_string(f).unwrap())
            .filter(|text| text.contains(&format!("To: {to}")) || text.contains(&format!("<{to}>")))
            .find_map(|text| {
                let start = text.find(&marker)? + marker.len();
                Some(
                    text[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect(),
                )
            })
            .unwrap_or_else(|| panic!("no mail to {to} with a {path} link in {}", outbox.display()))
    }
}
