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

use a2e_abi::codes;
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
        CommandError { code: codes::INVALID_INPUT.into(), message: message.into() }
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
            code: codes::UNAVAILABLE.into(),
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
            return Err(CommandError {
                code: codes::UNAVAILABLE.into(),
                message: "the realtime session closed".into(),
            });
        };
        if realtime.forwarder.is_finished() {
            rt.take();
            return Err(CommandError {
                code: codes::UNAVAILABLE.into(),
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
        if command == "plugin_install" {
            return Err(CommandError::invalid(
                "plugin_install takes the module's bytes as the raw body, with its options in headers",
            ));
        }
        let (method, uri, body) = route(command, &args)?;
        self.send(command, method, uri, body).await
    }

    /// Runs a command whose argument is raw bytes: `plugin_install` (the module, with its options
    /// in the `a2e-*` headers).
    pub async fn dispatch_raw(
        &self,
        command: &str,
        bytes: &[u8],
        headers: &tauri::http::HeaderMap,
    ) -> Result<Value, CommandError> {
        if command != "plugin_install" {
            return Err(CommandError::invalid(format!("`{command}` takes a JSON object, not raw bytes")));
        }
        let body = multipart(bytes, headers)?;
        self.send(command, Method::POST, "/api/plugins".into(), body).await
    }

    async fn send(&self, command: &str, method: Method, uri: String, body: Payload) -> Result<Value, CommandError> {
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
            .map_err(|e| CommandError { code: codes::INTERNAL.into(), message: format!("reading the answer: {e}") })?
            .to_bytes();
        let value: Value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        if !status.is_success() {
            return Err(CommandError {
                code: value["code"].as_str().unwrap_or(codes::INTERNAL).to_owned(),
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

/// What `encodeURIComponent` leaves as it is: letters, digits and `-_.!~*'()`.
const COMPONENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// Percent-encodes one path segment or query value as the UI's `encodeURIComponent` does.
fn enc(value: &Value) -> String {
    percent_encoding::utf8_percent_encode(&arg_text(value), COMPONENT).to_string()
}

/// An argument as the UI's `String(value)` writes it (null as nothing).
fn arg_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// What `URLSearchParams` leaves as it is in a query value: letters, digits and `*-._`.
const FORM: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'*').remove(b'-').remove(b'.').remove(b'_');

/// Encodes one query value as the UI's `URLSearchParams` does (a space is `+`).
fn form_enc(value: &Value) -> String {
    arg_text(value)
        .split(' ')
        .map(|part| percent_encoding::utf8_percent_encode(part, FORM).to_string())
        .collect::<Vec<_>>()
        .join("+")
}

fn required<'a>(args: &'a Value, key: &str) -> Result<&'a Value, CommandError> {
    match args.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Ok(&args[key]),
        _ => Err(CommandError::invalid(format!("`{key}` is required"))),
    }
}

/// One entry of the UI's route table, frontend/src/routes.json.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSpec {
    /// HTTP method.
    pub method: String,
    /// Path with `{arg}` placeholders, each filled with that (required) argument, encoded.
    pub path: String,
    /// What the body is: every argument (`"args"`), one argument's value (`"arg:NAME"`), or an
    /// object of the listed arguments; no body without it.
    #[serde(default)]
    pub body: Option<BodySpec>,
    /// Arguments put in the query string (null, "" and false left out).
    #[serde(default)]
    pub query: Vec<String>,
}

/// The body of a [`RouteSpec`].
#[derive(Debug, serde::Deserialize)]
#[serde(untagged)]
pub enum BodySpec {
    /// `"args"` or `"arg:NAME"`.
    Whole(String),
    /// The listed arguments as an object.
    Fields(Vec<String>),
}

/// The UI's route table, the one the browser uses: the desktop app routes each command exactly
/// as the UI would over HTTP.
pub fn routes() -> &'static std::collections::BTreeMap<String, RouteSpec> {
    static ROUTES: std::sync::OnceLock<std::collections::BTreeMap<String, RouteSpec>> = std::sync::OnceLock::new();
    ROUTES.get_or_init(|| {
        serde_json::from_str(include_str!("../../../frontend/src/routes.json"))
            .expect("frontend/src/routes.json is a valid route table (a test checks it)")
    })
}

/// The HTTP route of each command, from the UI's route table; `plugin_install` is the one
/// command with a raw body (the module's bytes), see [`multipart`].
fn route(command: &str, a: &Value) -> Result<(Method, String, Payload), CommandError> {
    let Some(spec) = routes().get(command) else {
        return Err(CommandError {
            code: codes::UNKNOWN_COMMAND.into(),
            message: format!("unknown command `{command}`"),
        });
    };
    let method = Method::from_bytes(spec.method.as_bytes())
        .map_err(|e| CommandError { code: codes::INTERNAL.into(), message: format!("route of `{command}`: {e}") })?;
    let mut path = String::new();
    let mut rest = spec.path.as_str();
    while let Some(open) = rest.find('{') {
        let close = rest[open..].find('}').map(|i| open + i).unwrap_or(rest.len() - 1);
        path.push_str(&rest[..open]);
        path.push_str(&enc(required(a, &rest[open + 1..close])?));
        rest = &rest[close + 1..];
    }
    path.push_str(rest);
    let query: Vec<String> = spec
        .query
        .iter()
        .filter(|k| {
            !matches!(a.get(k.as_str()), None | Some(Value::Null) | Some(Value::Bool(false))) && a[k.as_str()] != ""
        })
        .map(|k| format!("{k}={}", form_enc(&a[k.as_str()])))
        .collect();
    if !query.is_empty() {
        path = format!("{path}?{}", query.join("&"));
    }
    let payload = match &spec.body {
        None => Payload::None,
        Some(BodySpec::Whole(all)) if all == "args" => Payload::Json(if a.is_null() { json!({}) } else { a.clone() }),
        Some(BodySpec::Whole(one)) => {
            let name = one.strip_prefix("arg:").unwrap_or(one);
            Payload::Json(a.get(name).filter(|v| !v.is_null()).cloned().unwrap_or(json!({})))
        }
        Some(BodySpec::Fields(fields)) => Payload::Json(Value::Object(
            fields.iter().filter_map(|f| a.get(f).map(|v| (f.clone(), v.clone()))).collect(),
        )),
    };
    Ok((method, path, payload))
}

/// The headers of a `plugin_install` call, whose raw body is the module's bytes: the module's
/// file name, percent-encoded.
pub const INSTALL_FILE_NAME: &str = "a2e-file-name";
/// The plugin.json text, percent-encoded (header values are ASCII); absent without a manifest.
pub const INSTALL_MANIFEST: &str = "a2e-manifest";
/// `true` to hot-replace an installed version.
pub const INSTALL_REPLACE: &str = "a2e-replace";
/// `true` to grant what the manifest requests.
pub const INSTALL_GRANT: &str = "a2e-grant";

/// The upload form of `plugin_install` (the same multipart form the UI posts over HTTP), from the
/// module's bytes and the call's headers.
fn multipart(wasm: &[u8], headers: &tauri::http::HeaderMap) -> Result<Payload, CommandError> {
    let header = |name: &str| -> Result<Option<String>, CommandError> {
        match headers.get(name) {
            None => Ok(None),
            Some(value) => value
                .to_str()
                .map(|v| Some(v.to_owned()))
                .map_err(|_| CommandError::invalid(format!("header `{name}` must be ASCII"))),
        }
    };
    let file_name = header(INSTALL_FILE_NAME)?
        .map(|encoded| percent_encoding::percent_decode_str(&encoded).decode_utf8_lossy().into_owned())
        .unwrap_or_else(|| "plugin.wasm".into())
        .replace(['"', '\r', '\n'], "_");
    let manifest = match header(INSTALL_MANIFEST)? {
        Some(encoded) => Some(
            percent_encoding::percent_decode_str(&encoded)
                .decode_utf8()
                .map_err(|_| CommandError::invalid("the manifest is not UTF-8"))?
                .into_owned(),
        ),
        None => None,
    };
    let flag = |name: &str| header(name).map(|v| v.as_deref() == Some("true"));
    let (replace, grant) = (flag(INSTALL_REPLACE)?, flag(INSTALL_GRANT)?);
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
    part("wasm", Some(&file_name), wasm);
    if let Some(manifest) = &manifest {
        part("manifest", Some("plugin.json"), manifest.as_bytes());
    }
    part("replace", None, if replace { b"true" } else { b"false" });
    part("grant", None, if grant { b"true" } else { b"false" });
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
                    match request.body() {
                        tauri::ipc::InvokeBody::Json(args) => desktop.dispatch(stringify!($name), args.clone()).await,
                        tauri::ipc::InvokeBody::Raw(bytes) => {
                            desktop.dispatch_raw(stringify!($name), bytes, request.headers()).await
                        }
                    }
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
    plugin_secrets,
    plugin_secret_set,
    plugin_secret_delete,
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
