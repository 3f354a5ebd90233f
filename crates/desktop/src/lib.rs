//! a2e-desktop: the a2e desktop app. A Tauri 2 shell around the a2e host running in-process (no
//! server, no socket) and the same web UI as `a2e serve`.
//!
//! Every command of the UI's `api.ts` is a Tauri command here. A command is handed, in process,
//! to the very router `a2e serve` uses (`a2e_server::app`), as the request the UI would have sent
//! over HTTP; so arguments, results and `{code, message}` errors are identical by construction,
//! and every rule of the server (grants, roles, validation, limits) applies unchanged. The session
//! token stays in Rust: the webview never sees a cookie or holds the token for later requests.
//! Audit events are pushed to the window as `audit-event` Tauri events while an administrator is
//! signed in. Realtime rooms use the same protocol as the server's `/api/rt` without a socket:
//! the window sends each frame with the `rt_send` command and receives frames as `rt-frame`
//! events.
//!
//! ```no_run
//! let dir = std::path::Path::new("/tmp/a2e-desktop-example");
//! let desktop = a2e_desktop::Desktop::open(dir, a2e_desktop::keys::key_source(dir).unwrap()).unwrap();
//! let app = a2e_desktop::builder(tauri::Builder::default(), desktop.clone())
//!     .build(tauri::generate_context!())
//!     .unwrap();
//! a2e_desktop::forward_events(app.handle().clone(), desktop);
//! app.run(|_, _| {});
//! ```

pub mod keys;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use a2e_host::{Host, HostConfig};
use a2e_server::{AppState, ServerConfig};
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request};
use http_body_util::BodyExt;
use serde::Serialize;
use serde_json::{json, Value};
use tauri::{Emitter, Runtime, State};
use tower::ServiceExt;

/// The origin the in-process requests claim; the server config allows it.
const ORIGIN: &str = "tauri://localhost";

/// The error every command returns: the API's `{code, message}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct CommandError {
    /// Machine-readable code, such as `UNAUTHENTICATED`.
    pub code: String,
    /// What went wrong, for people.
    pub message: String,
}

impl CommandError {
    fn invalid(message: impl Into<String>) -> CommandError {
        CommandError { code: "INVALID_INPUT".into(), message: message.into() }
    }
}

/// The app's state: the host behind the server's router, and who is signed in.
pub struct Desktop {
    host: Host,
    router: axum::Router,
    session: Mutex<Option<String>>,
    admin: Mutex<bool>,
    rt: Mutex<Option<Realtime>>,
    rt_emit: Mutex<Option<Emit>>,
}

/// Pushes a realtime frame to the window.
type Emit = Arc<dyn Fn(Value) + Send + Sync>;

/// The window's realtime session: the same protocol as `/api/rt`, with the session's frames
/// pushed to the window as `rt-frame` events by a task.
struct Realtime {
    session: a2e_server::rt::RtSession,
    forwarder: tokio::task::JoinHandle<()>,
}

impl Drop for Realtime {
    fn drop(&mut self) {
        self.forwarder.abort();
    }
}

/// Frames queued for the window before the realtime session is dropped as too slow.
const RT_QUEUE: usize = 1024;

impl Desktop {
    /// Opens (creating on first use) the encrypted database in `data_dir`, starts the host and
    /// installs the bundled plugins.
    pub fn open(data_dir: &Path, key_source: a2e_db::KeySource) -> Result<Arc<Desktop>, String> {
        let db = a2e_db::Db::open(data_dir, &key_source)
            .map_err(|e| format!("opening the database in {}: {e}", data_dir.display()))?;
        let host = Host::open(db, HostConfig::new(data_dir)).map_err(|e| format!("starting the plugin host: {e}"))?;
        a2e_server::bundled::install(&host).map_err(|e| format!("installing the bundled plugins: {e}"))?;
        Ok(Desktop::new(host, key_source))
    }

    /// The app over an open host.
    pub fn new(host: Host, key_source: a2e_db::KeySource) -> Arc<Desktop> {
        let mut config = ServerConfig::new(ORIGIN);
        // One local user: the per-address limit would only count the desktop itself.
        config.auth_per_ip_per_minute = 10_000;
        let router = a2e_server::app(AppState::new(host.clone(), key_source, config));
        Arc::new(Desktop {
            host,
            router,
            session: Mutex::new(None),
            admin: Mutex::new(false),
            rt: Mutex::new(None),
            rt_emit: Mutex::new(None),
        })
    }

    /// The host.
    pub fn host(&self) -> &Host {
        &self.host
    }

    fn session(&self) -> Option<String> {
        self.session.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn is_admin(&self) -> bool {
        *self.admin.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn signed_in(&self, token: Option<String>, admin: bool) {
        *self.session.lock().unwrap_or_else(PoisonError::into_inner) = token;
        *self.admin.lock().unwrap_or_else(PoisonError::into_inner) = admin;
        // Whoever signs in or out starts a new realtime session: rooms joined under the previous
        // identity are left.
        self.rt.lock().unwrap_or_else(PoisonError::into_inner).take();
    }

    /// Sets where realtime frames go (the window, as `rt-frame` events; see [`forward_events`]).
    pub fn set_realtime_sink(&self, emit: impl Fn(Value) + Send + Sync + 'static) {
        *self.rt_emit.lock().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(emit));
    }

    /// `rt_send`: one frame of the realtime protocol (`{"type":"join",...}`), as the UI would
    /// send it on `/api/rt`. The first frame opens the window's session as the signed-in user (or
    /// anonymously), whose frames, starting with `welcome`, arrive as `rt-frame` events. Answers
    /// the frame's immediate reply (an error, a pong), or null.
    async fn realtime(&self, args: Value) -> Result<Value, CommandError> {
        let frame = args.get("frame").filter(|f| f.is_object()).ok_or_else(|| {
            CommandError::invalid("`frame` must be a realtime request object, such as {\"type\":\"ping\"}")
        })?;
        let emit = self.rt_emit.lock().unwrap_or_else(PoisonError::into_inner).clone().ok_or_else(|| CommandError {
            code: "UNAVAILABLE".into(),
            message: "realtime frames have nowhere to go: the app's window is not ready".into(),
        })?;
        let open = self.rt.lock().unwrap_or_else(PoisonError::into_inner).is_some();
        if !open {
            let caller = match self.session() {
                Some(_) => {
                    let who = self.dispatch("session", json!({})).await?;
                    a2e_server::rt::Caller {
                        user: who["user"]["uuid"].as_str().map(str::to_owned),
                        name: who["user"]["name"].as_str().map(str::to_owned),
                        admin: who["user"]["role"] == "admin",
                    }
                }
                None => a2e_server::rt::Caller::default(),
            };
            let (session, mut frames) = a2e_server::rt::RtSession::open(&self.host, caller, RT_QUEUE, false, 0);
            emit(session.welcome(json!({ "out_queue": RT_QUEUE })));
            let client = session.client().clone();
            let sink = emit.clone();
            let host = self.host.clone();
            let forwarder = tokio::spawn(async move {
                loop {
                    tokio::select! {
                        biased;
                        _ = client.overflowed() => {
                            host.realtime().disconnect(&client);
                            sink(json!({ "type": "disconnected", "reason": "too slow: the window did not take its frames" }));
                            break;
                        }
                        frame = frames.recv() => match frame {
                            Some(text) => sink(serde_json::from_str(&text).unwrap_or(Value::Null)),
                            None => break,
                        },
                    }
                }
            });
            let mut rt = self.rt.lock().unwrap_or_else(PoisonError::into_inner);
            if rt.is_none() {
                *rt = Some(Realtime { session, forwarder });
            }
        }
        let mut rt = self.rt.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(realtime) = rt.as_mut() else {
            return Err(CommandError { code: "UNAVAILABLE".into(), message: "the realtime session closed".into() });
        };
        if realtime.forwarder.is_finished() {
            rt.take();
            return Err(CommandError {
                code: "UNAVAILABLE".into(),
                message: "the realtime session was closed (too slow); send again to open a new one".into(),
            });
        }
        Ok(realtime.session.handle(&frame.to_string()).unwrap_or(Value::Null))
    }

    /// Runs `command` with `args` (the JSON object the UI passes) against the server's router.
    pub async fn dispatch(&self, command: &str, args: Value) -> Result<Value, CommandError> {
        if command == "rt_send" {
            return Box::pin(self.realtime(args)).await;
        }
        let (method, uri, body) = route(command, &args)?;
        let mut builder =
            Request::builder().method(method).uri(uri).header("host", "desktop.a2e").header("origin", ORIGIN);
        if let Some(token) = self.session() {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        let body = match body {
            Payload::None => Body::empty(),
            Payload::Json(v) => {
                builder = builder.header("content-type", "application/json");
                Body::from(v.to_string())
            }
            Payload::Multipart { boundary, bytes } => {
                builder = builder.header("content-type", format!("multipart/form-data; boundary={boundary}"));
                Body::from(bytes)
            }
        };
        let mut request = builder.body(body).map_err(|e| CommandError::invalid(format!("bad request: {e}")))?;
        request.extensions_mut().insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 0))));
        let response = self.router.clone().oneshot(request).await.unwrap_or_else(|never| match never {});
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| CommandError { code: "INTERNAL".into(), message: format!("reading the answer: {e}") })?
            .to_bytes();
        let value: Value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        if !status.is_success() {
            return Err(CommandError {
                code: value["code"].as_str().unwrap_or("INTERNAL").to_owned(),
                message: value["message"].as_str().map(str::to_owned).unwrap_or_else(|| format!("status {status}")),
            });
        }
        self.after(command, &value);
        Ok(value)
    }

    /// Keeps the session token in Rust after commands that start or end a session.
    fn after(&self, command: &str, value: &Value) {
        match command {
            "login" | "setup" => {
                let token = value["session_token"].as_str().map(str::to_owned);
                self.signed_in(token, value["user"]["role"] == "admin");
            }
            "session" => {
                let admin = value["user"]["role"] == "admin";
                *self.admin.lock().unwrap_or_else(PoisonError::into_inner) = admin;
            }
            "logout" | "logout_all" | "change_password" => self.signed_in(None, false),
            "revoke_session" if value["current"] == true => self.signed_in(None, false),
            _ => {}
        }
    }
}

enum Payload {
    None,
    Json(Value),
    Multipart { boundary: String, bytes: Vec<u8> },
}

/// Percent-encodes one path segment or query value.
fn enc(value: &Value) -> String {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn required<'a>(args: &'a Value, key: &str) -> Result<&'a Value, CommandError> {
    match args.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Ok(&args[key]),
        _ => Err(CommandError::invalid(format!("`{key}` is required"))),
    }
}

/// The HTTP route of each command: the same table as `ROUTES` in frontend/src/api.ts.
fn route(command: &str, a: &Value) -> Result<(Method, String, Payload), CommandError> {
    let body = || Payload::Json(if a.is_null() { json!({}) } else { a.clone() });
    let name = || required(a, "name").map(enc);
    Ok(match command {
        "setup_status" => (Method::GET, "/api/setup".into(), Payload::None),
        "setup" => (Method::POST, "/api/setup".into(), body()),
        "signup" => (Method::POST, "/api/auth/signup".into(), body()),
        "login" => (Method::POST, "/api/auth/login".into(), body()),
        "logout" => (Method::POST, "/api/auth/logout".into(), Payload::None),
        "logout_all" => (Method::POST, "/api/auth/logout-all".into(), Payload::None),
        "session" => (Method::GET, "/api/auth/session".into(), Payload::None),
        "verify_email" => (Method::POST, "/api/auth/verify-email".into(), body()),
        "resend_verification" => (Method::POST, "/api/auth/resend-verification".into(), body()),
        "password_reset_request" => (Method::POST, "/api/auth/password-reset/request".into(), body()),
        "password_reset_confirm" => (Method::POST, "/api/auth/password-reset/confirm".into(), body()),
        "change_password" => (Method::POST, "/api/auth/change-password".into(), body()),
        "profile" => (Method::GET, "/api/auth/profile".into(), Payload::None),
        "update_profile" => (Method::PATCH, "/api/auth/profile".into(), body()),
        "sessions" => (Method::GET, "/api/auth/sessions".into(), Payload::None),
        "revoke_session" => (Method::DELETE, format!("/api/auth/sessions/{}", enc(required(a, "id")?)), Payload::None),
        "plugins" => (Method::GET, "/api/plugins".into(), Payload::None),
        "plugin_install" => (Method::POST, "/api/plugins".into(), multipart(a)?),
        "plugin_remove" => {
            let purge = if a["purge"] == true { "?purge=true" } else { "" };
            (Method::DELETE, format!("/api/plugins/{}{purge}", name()?), Payload::None)
        }
        "plugin_enable" => (Method::POST, format!("/api/plugins/{}/enable", name()?), Payload::None),
        "plugin_disable" => (Method::POST, format!("/api/plugins/{}/disable", name()?), Payload::None),
        "plugin_grant" => {
            (Method::POST, format!("/api/plugins/{}/grants", name()?), Payload::Json(json!({ "grant": a["grant"] })))
        }
        "plugin_revoke" => {
            (Method::DELETE, format!("/api/plugins/{}/grants/{}", name()?, enc(required(a, "grant")?)), Payload::None)
        }
        "execute_plugin" => (
            Method::POST,
            format!("/api/plugins/{}/call/{}", name()?, enc(required(a, "function")?)),
            Payload::Json(a.get("input").cloned().unwrap_or(json!({}))),
        ),
        "db_status" => (Method::GET, "/api/admin/db/status".into(), Payload::None),
        "db_stats" => (Method::GET, "/api/admin/db/stats".into(), Payload::None),
        "db_verify" => (Method::POST, "/api/admin/db/verify".into(), Payload::None),
        "db_backup" => (Method::POST, "/api/admin/db/backup".into(), Payload::None),
        "audit_events" => {
            let query: Vec<String> = ["kind", "plugin", "user_uuid", "before_id", "limit"]
                .iter()
                .filter(|k| !matches!(a.get(**k), None | Some(Value::Null)) && a[**k] != "")
                .map(|k| format!("{k}={}", enc(&a[*k])))
                .collect();
            let qs = if query.is_empty() { String::new() } else { format!("?{}", query.join("&")) };
            (Method::GET, format!("/api/admin/audit{qs}"), Payload::None)
        }
        other => {
            return Err(CommandError { code: "UNKNOWN_COMMAND".into(), message: format!("unknown command `{other}`") })
        }
    })
}

/// The upload form of `plugin_install`: `wasm` (the module's bytes as an array of numbers),
/// `file_name`, `manifest` (plugin.json text, optional), `replace`, `grant`.
fn multipart(a: &Value) -> Result<Payload, CommandError> {
    let wasm: Vec<u8> = a
        .get("wasm")
        .and_then(Value::as_array)
        .map(|bytes| {
            bytes.iter().map(|b| b.as_u64().filter(|b| *b < 256).map(|b| b as u8)).collect::<Option<Vec<u8>>>()
        })
        .unwrap_or(None)
        .ok_or_else(|| CommandError::invalid("`wasm` must be the module's bytes (an array of numbers 0-255)"))?;
    let file_name = a["file_name"].as_str().unwrap_or("plugin.wasm").replace(['"', '\r', '\n'], "_");
    let boundary = format!("a2e-{:016x}", rand::random::<u64>());
    let mut bytes = Vec::new();
    let mut part = |name: &str, file: Option<&str>, content: &[u8]| {
        bytes.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match file {
            Some(f) => bytes.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
            ),
            None => bytes.extend_from_slice(format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes()),
        }
        bytes.extend_from_slice(content);
        bytes.extend_from_slice(b"\r\n");
    };
    part("wasm", Some(&file_name), &wasm);
    if let Some(manifest) = a["manifest"].as_str() {
        part("manifest", Some("plugin.json"), manifest.as_bytes());
    }
    part("replace", None, if a["replace"] == true { b"true" } else { b"false" });
    part("grant", None, if a["grant"] == true { b"true" } else { b"false" });
    bytes.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    Ok(Payload::Multipart { boundary, bytes })
}

macro_rules! commands {
    ($($name:ident),* $(,)?) => {
        /// The Tauri commands, one per entry of `commands.txt`.
        pub mod cmd {
            use super::*;
            $(
                #[doc = concat!("The `", stringify!($name), "` command (see frontend/src/api.ts).")]
                #[tauri::command]
                pub async fn $name(
                    desktop: State<'_, Arc<Desktop>>,
                    request: tauri::ipc::Request<'_>,
                ) -> Result<Value, CommandError> {
                    let args = match request.body() {
                        tauri::ipc::InvokeBody::Json(v) => v.clone(),
                        tauri::ipc::InvokeBody::Raw(_) => {
                            return Err(CommandError::invalid("arguments must be a JSON object"))
                        }
                    };
                    desktop.dispatch(stringify!($name), args).await
                }
            )*
        }
        /// Registers every command and the app state on `builder`. Once the app is built, start
        /// [`forward_events`] for it.
        pub fn builder<R: Runtime>(builder: tauri::Builder<R>, desktop: Arc<Desktop>) -> tauri::Builder<R> {
            builder.manage(desktop).invoke_handler(tauri::generate_handler![$(cmd::$name),*])
        }
        /// Every command name, in registration order.
        pub const COMMANDS: &[&str] = &[$(stringify!($name)),*];
    };
}

commands!(
    setup_status,
    setup,
    signup,
    login,
    logout,
    logout_all,
    session,
    verify_email,
    resend_verification,
    password_reset_request,
    password_reset_confirm,
    change_password,
    profile,
    update_profile,
    sessions,
    revoke_session,
    plugins,
    plugin_install,
    plugin_remove,
    plugin_enable,
    plugin_disable,
    plugin_grant,
    plugin_revoke,
    execute_plugin,
    db_status,
    db_stats,
    db_verify,
    db_backup,
    audit_events,
    rt_send,
);

/// Pushes audit events to the app's windows as `audit-event` while an administrator is signed in.
pub fn forward_events<R: Runtime>(app: tauri::AppHandle<R>, desktop: Arc<Desktop>) {
    let window = app.clone();
    desktop.set_realtime_sink(move |frame| {
        if let Err(err) = window.emit("rt-frame", frame) {
            tracing::warn!(%err, "could not push a realtime frame to the window");
        }
    });
    let mut events = desktop.host().subscribe(1024);
    std::thread::spawn(move || {
        while let Some(event) = events.blocking_recv() {
            if desktop.is_admin() {
                let view = a2e_server::admin::AuditEventView::from(event);
                if let Err(err) = app.emit("audit-event", view) {
                    tracing::warn!(%err, "could not push an audit event to the window");
                }
            }
        }
    });
}

/// The app's identifier (tauri.conf.json); its data lives in the platform's data dir under it.
pub const IDENTIFIER: &str = "dev.a2e.desktop";

/// The data dir: `A2E_DATA_DIR`, else the platform's app data dir for this app (what Tauri's
/// `app_data_dir` names: `~/.local/share/dev.a2e.desktop` on Linux).
pub fn data_dir() -> Result<std::path::PathBuf, String> {
    if let Some(dir) = std::env::var_os("A2E_DATA_DIR") {
        return Ok(dir.into());
    }
    directories::BaseDirs::new()
        .map(|dirs| dirs.data_dir().join(IDENTIFIER))
        .ok_or_else(|| "no home directory; set A2E_DATA_DIR".to_owned())
}
