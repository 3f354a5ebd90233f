//! `/api/rt`: the realtime WebSocket. Over one socket a client joins and leaves the rooms of
//! plugins, sends them messages, receives what rooms send it, and (administrators) follows the
//! live event stream.
//!
//! Each connection is one async task; nothing here blocks. The host decides joins (by asking
//! the room's plugin) and produces room frames; this module is the transport with its limits:
//! a bounded outgoing queue (a client that cannot keep up is closed with 1008), ping/pong
//! keep-alive (closed with 1001 when pongs stop), a maximum message size (1009) and a message
//! rate limit (1008). Every close carries a reason.
//!
//! Client frames (JSON text): `{"type":"join","plugin","room","data"?,"ref"?}`,
//! `{"type":"leave","plugin","room","ref"?}`, `{"type":"send","plugin","room","data"}`,
//! `{"type":"subscribe"|"unsubscribe","topic":"events","ref"?}`, `{"type":"ping","ref"?}`.
//! Server frames: `welcome`, `joined`, `message`, `left`, `closed`, `event`, `subscribed`,
//! `unsubscribed`, `pong`, and `error` (`{code, message, ref}`) for a request that failed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use a2e_abi::codes;
use a2e_host::rt::Client;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::response::Response;
use axum::Json;
use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::admin::AuditEventView;
use crate::auth::{Admin, Authed};
use crate::error::{ApiError, ErrorBody};
use crate::AppState;

/// Limits of realtime connections.
#[derive(Clone, Debug)]
pub struct RtConfig {
    /// Frames queued for one client; a client that lets the queue fill is disconnected.
    pub out_queue: usize,
    /// Largest message a client may send, in bytes.
    pub max_message_bytes: usize,
    /// Messages per second a client may send on average.
    pub messages_per_sec: u32,
    /// Messages a client may send in a burst above the average.
    pub burst: u32,
    /// How often the server pings.
    pub ping_interval: Duration,
    /// How long without a pong (or with a socket too full to write to) before the connection
    /// is closed.
    pub pong_timeout: Duration,
}

impl Default for RtConfig {
    fn default() -> Self {
        RtConfig {
            out_queue: 64,
            max_message_bytes: 16 * 1024,
            messages_per_sec: 60,
            burst: 120,
            ping_interval: Duration::from_secs(15),
            pong_timeout: Duration::from_secs(30),
        }
    }
}

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(realtime)).routes(routes!(rooms))
}

/// A room as administrators see it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RoomView {
    /// The plugin that owns it.
    pub plugin: String,
    /// Room id.
    pub room: String,
    /// Ticks per second (0: no ticks).
    pub tick_hz: u32,
    /// Clients in it now.
    pub clients: u32,
    /// Most clients at once.
    pub max_clients: u32,
    /// Ticks run.
    pub ticks: u64,
    /// Ticks skipped.
    pub ticks_skipped: u64,
    /// Ticks started late.
    pub ticks_late: u64,
    /// Room calls that failed.
    pub calls_failed: u64,
    /// Client messages received.
    pub messages_in: u64,
    /// Messages sent to clients.
    pub messages_out: u64,
    /// Client messages dropped from the full input queue.
    pub dropped_inputs: u64,
}

/// Every open room with its counters (administrators).
#[utoipa::path(get, path = "/api/rooms", tag = "realtime",
    responses((status = 200, body = Vec<RoomView>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn rooms(State(state): State<AppState>, _: Admin) -> Json<Vec<RoomView>> {
    let rooms = state.host().realtime().all_rooms();
    Json(
        rooms
            .into_iter()
            .map(|(plugin, r)| RoomView {
                plugin,
                room: r.room,
                tick_hz: r.tick_hz,
                clients: r.clients,
                max_clients: r.max_clients,
                ticks: r.stats.ticks,
                ticks_skipped: r.stats.skipped,
                ticks_late: r.stats.late,
                calls_failed: r.stats.failed,
                messages_in: r.stats.messages_in,
                messages_out: r.stats.messages_out,
                dropped_inputs: r.stats.dropped_inputs,
            })
            .collect(),
    )
}

/// The caller, if it presented credentials; anonymous otherwise. Credentials that do not check
/// out are refused rather than treated as anonymous.
pub(crate) struct MaybeAuthed(Option<Authed>);

impl FromRequestParts<AppState> for MaybeAuthed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<MaybeAuthed, ApiError> {
        if crate::auth::bearer(&parts.headers).is_none() && crate::auth::session_cookie(&parts.headers).is_none() {
            return Ok(MaybeAuthed(None));
        }
        Ok(MaybeAuthed(Some(Authed::from_request_parts(parts, state).await?)))
    }
}

/// Upgrades to the realtime WebSocket (rooms, messages, live events). Signed-in callers use the
/// session cookie or a bearer token; without credentials the client is anonymous and may join
/// only rooms of plugins whose manifest allows anonymous clients. The protocol is described in
/// docs/plugin-abi.md ("Realtime").
#[utoipa::path(get, path = "/api/rt", tag = "realtime",
    responses((status = 101, description = "switching to the realtime WebSocket protocol"),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn realtime(State(state): State<AppState>, who: MaybeAuthed, upgrade: WebSocketUpgrade) -> Response {
    let config = state.config().rt.clone();
    // The socket refuses frames far over the limit itself; messages between the limit and that
    // are read and refused with a close reason.
    let hard_cap = config.max_message_bytes.saturating_mul(4).max(64 * 1024);
    upgrade
        .max_message_size(hard_cap)
        .max_frame_size(hard_cap)
        .on_upgrade(move |socket| Connection::run(state, socket, who.0, config))
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Request {
    Join {
        plugin: String,
        room: String,
        #[serde(default)]
        data: Value,
        #[serde(default, rename = "ref")]
        reference: Option<Value>,
    },
    Leave {
        plugin: String,
        room: String,
        #[serde(default, rename = "ref")]
        reference: Option<Value>,
    },
    Send {
        plugin: String,
        room: String,
        #[serde(default)]
        data: Value,
        #[serde(default, rename = "ref")]
        reference: Option<Value>,
    },
    Subscribe {
        topic: String,
        #[serde(default, rename = "ref")]
        reference: Option<Value>,
    },
    Unsubscribe {
        topic: String,
        #[serde(default, rename = "ref")]
        reference: Option<Value>,
    },
    Ping {
        #[serde(default, rename = "ref")]
        reference: Option<Value>,
    },
}

/// Why a connection ends.
struct Close(u16, String);

/// WebSocket close codes used here.
mod close_code {
    pub const GOING_AWAY: u16 = 1001;
    pub const POLICY: u16 = 1008;
    pub const TOO_BIG: u16 = 1009;
}

struct Connection {
    state: AppState,
    config: RtConfig,
    session: RtSession,
    tokens: f64,
    refilled: Instant,
}

/// Who opens a realtime session: a signed-in user, or nobody (anonymous).
#[derive(Clone, Debug, Default)]
pub struct Caller {
    /// The user's uuid.
    pub user: Option<String>,
    /// The user's name.
    pub name: Option<String>,
    /// Whether the user is an administrator (may follow the events topic).
    pub admin: bool,
}

/// One realtime client's protocol state, whatever carries its frames: the server's WebSocket
/// and the desktop app's Tauri events both drive it. Requests go in as JSON text through
/// [`RtSession::handle`]; frames for the client come out of the receiver [`RtSession::open`]
/// returns (and, for the events topic, [`RtSession::next_event`]). Dropping the session takes
/// the client out of its rooms.
pub struct RtSession {
    host: a2e_host::Host,
    client: Arc<Client>,
    admin: bool,
    events_topic: bool,
    event_queue: usize,
    events: Option<tokio::sync::mpsc::Receiver<a2e_db::AuditEvent>>,
}

impl RtSession {
    /// Opens a session for `caller` with an outgoing queue of `queue` frames. Without
    /// `events_topic` the `events` topic is refused (for a front end that delivers audit events
    /// another way).
    pub fn open(
        host: &a2e_host::Host,
        caller: Caller,
        queue: usize,
        events_topic: bool,
        event_queue: usize,
    ) -> (RtSession, tokio::sync::mpsc::Receiver<a2e_host::rt::Frame>) {
        let (client, frames) = host.realtime().connect(caller.user, caller.name, queue);
        let session =
            RtSession { host: host.clone(), client, admin: caller.admin, events_topic, event_queue, events: None };
        (session, frames)
    }

    /// The client as the host sees it.
    pub fn client(&self) -> &Arc<Client> {
        &self.client
    }

    /// The first frame of a session: the client id, the user, and `limits`.
    pub fn welcome(&self, limits: Value) -> Value {
        json!({ "type": "welcome", "client": &*self.client.id, "user": self.client.user, "limits": limits })
    }

    /// Handles one client request; returns an immediate answer, if any. Joins are decided by the
    /// room's plugin in a task of their own, which answers through the client's queue.
    pub fn handle(&mut self, text: &str) -> Option<Value> {
        let request: Request = match serde_json::from_str(text) {
            Ok(request) => request,
            Err(err) => {
                return Some(error_frame(
                    codes::INVALID_INPUT,
                    format!("malformed message: {err}; expected {{\"type\": \"join\" | \"leave\" | \"send\" | \"subscribe\" | \"unsubscribe\" | \"ping\", ...}}"),
                    None,
                ))
            }
        };
        let rt = self.host.realtime();
        match request {
            Request::Join { plugin, room, data, reference } => {
                let host = self.host.clone();
                let client = self.client.clone();
                tokio::spawn(async move {
                    if let Err(err) = host.realtime().join(&plugin, &room, &client, data, reference.clone()).await {
                        let text = error_frame(err.code, err.message, reference).to_string();
                        client.push(Arc::from(text));
                    }
                });
                None
            }
            Request::Leave { plugin, room, reference } => {
                rt.leave(&plugin, &room, &self.client).err().map(|e| error_frame(e.code, e.message, reference))
            }
            Request::Send { plugin, room, data, reference } => {
                rt.message(&plugin, &room, &self.client, data).err().map(|e| error_frame(e.code, e.message, reference))
            }
            Request::Subscribe { topic, reference } => Some(self.subscribe(&topic, reference)),
            Request::Unsubscribe { topic, reference } => {
                if topic != "events" {
                    return Some(unknown_topic(&topic, reference));
                }
                self.events = None;
                Some(json!({ "type": "unsubscribed", "topic": "events", "ref": reference }))
            }
            Request::Ping { reference } => Some(json!({ "type": "pong", "ref": reference })),
        }
    }

    fn subscribe(&mut self, topic: &str, reference: Option<Value>) -> Value {
        if topic != "events" {
            return unknown_topic(topic, reference);
        }
        if !self.events_topic {
            return error_frame(
                codes::NOT_FOUND,
                "this front end delivers audit events on its own channel, not as a realtime topic",
                reference,
            );
        }
        if !self.admin {
            return error_frame(codes::PERMISSION_DENIED, "the events topic is for administrators", reference);
        }
        if self.events.is_none() {
            self.events = Some(self.host.subscribe(self.event_queue));
        }
        json!({ "type": "subscribed", "topic": "events", "ref": reference })
    }

    /// The next frame of the events topic; pending while not subscribed. When the event queue
    /// filled up, the subscription ends with an `unsubscribed` frame.
    pub async fn next_event(&mut self) -> Value {
        let Some(receiver) = &mut self.events else { return std::future::pending().await };
        match receiver.recv().await {
            Some(event) => json!({ "type": "event", "event": AuditEventView::from(event) }),
            None => {
                self.events = None;
                json!({ "type": "unsubscribed", "topic": "events", "reason": "the event queue filled up; subscribe again" })
            }
        }
    }
}

impl Drop for RtSession {
    fn drop(&mut self) {
        self.host.realtime().disconnect(&self.client);
    }
}

fn frame(value: Value) -> Message {
    Message::Text(value.to_string().into())
}

fn error_frame(code: &str, message: impl Into<String>, reference: Option<Value>) -> Value {
    json!({ "type": "error", "code": code, "message": message.into(), "ref": reference })
}

impl Connection {
    async fn run(state: AppState, socket: WebSocket, who: Option<Authed>, config: RtConfig) {
        let caller = match &who {
            Some(authed) => Caller {
                user: Some(authed.user.uuid.clone()),
                name: Some(authed.user.name.clone()),
                admin: authed.user.role == "admin",
            },
            None => Caller::default(),
        };
        let (session, mut frames) =
            RtSession::open(state.host(), caller, config.out_queue, true, state.config().event_queue);
        state.metrics().rt_connected();
        let mut conn = Connection { state, tokens: f64::from(config.burst), refilled: Instant::now(), config, session };
        let (mut sink, mut stream) = socket.split();
        let welcome = conn.session.welcome(json!({
            "max_message_bytes": conn.config.max_message_bytes,
            "messages_per_sec": conn.config.messages_per_sec,
            "burst": conn.config.burst,
            "out_queue": conn.config.out_queue,
        }));
        let mut ping = tokio::time::interval(conn.config.ping_interval);
        ping.tick().await;
        let mut last_pong = Instant::now();
        let client = conn.session.client().clone();
        let close: Option<Close> = if sink.send(frame(welcome)).await.is_err() {
            None
        } else {
            loop {
                tokio::select! {
                    biased;
                    _ = client.overflowed() => {
                        break Some(Close(close_code::POLICY, format!(
                            "too slow: {} messages were waiting to be read; reconnect and read faster",
                            conn.config.out_queue
                        )));
                    }
                    next = frames.recv() => match next {
                        Some(text) => {
                            // A client whose socket stays full as long as it may go without
                            // answering pings is as good as gone.
                            let wait = conn.config.pong_timeout;
                            match tokio::time::timeout(wait, sink.send(Message::Text(text.to_string().into()))).await {
                                Ok(Ok(())) => {}
                                Ok(Err(_)) => break None,
                                Err(_) => break Some(Close(close_code::POLICY, format!(
                                    "too slow: nothing could be written for {} s", wait.as_secs_f64()
                                ))),
                            }
                        }
                        None => break None,
                    },
                    event = conn.session.next_event() => {
                        if sink.send(frame(event)).await.is_err() {
                            break None;
                        }
                    }
                    _ = ping.tick() => {
                        if last_pong.elapsed() > conn.config.pong_timeout {
                            break Some(Close(close_code::GOING_AWAY, format!(
                                "no answer to pings for {} s", conn.config.pong_timeout.as_secs()
                            )));
                        }
                        if sink.send(Message::Ping(Vec::new().into())).await.is_err() {
                            break None;
                        }
                    }
                    incoming = stream.next() => match incoming {
                        None | Some(Ok(Message::Close(_))) => break None,
                        Some(Err(err)) => {
                            tracing::debug!(%err, "realtime socket read failed");
                            break Some(Close(close_code::TOO_BIG, format!(
                                "the connection broke: {err}; messages may be at most {} bytes",
                                conn.config.max_message_bytes
                            )));
                        }
                        Some(Ok(Message::Pong(_))) => last_pong = Instant::now(),
                        Some(Ok(Message::Ping(_))) => last_pong = Instant::now(),
                        Some(Ok(Message::Binary(_))) => {
                            let err = error_frame(codes::INVALID_INPUT, "binary messages are not accepted; send JSON text", None);
                            if sink.send(frame(err)).await.is_err() {
                                break None;
                            }
                        }
                        Some(Ok(Message::Text(text))) => {
                            last_pong = Instant::now();
                            if let Some(close) = conn.check_limits(text.len()) {
                                break Some(close);
                            }
                            if let Some(answer) = conn.session.handle(text.as_str()) {
                                if sink.send(frame(answer)).await.is_err() {
                                    break None;
                                }
                            }
                        }
                    },
                }
            }
        };
        // Counted before the client leaves its rooms, so whoever sees it gone sees why.
        if let Some(Close(code, _)) = &close {
            conn.state.metrics().rt_closed(*code);
        }
        conn.state.host().realtime().disconnect(&client);
        if let Some(Close(code, reason)) = close {
            // A close reason has room for 123 bytes.
            let mut reason = reason;
            while reason.len() > 123 {
                reason.pop();
            }
            let close = sink.send(Message::Close(Some(CloseFrame { code, reason: reason.into() })));
            if matches!(tokio::time::timeout(Duration::from_secs(1), close).await, Ok(Ok(()))) {
                // Wait for the client's answer, reading what it still sends, so the connection is
                // not reset with the close frame unread.
                let drain = async {
                    while let Some(Ok(message)) = stream.next().await {
                        if matches!(message, Message::Close(_)) {
                            break;
                        }
                    }
                };
                let _ = tokio::time::timeout(Duration::from_secs(2), drain).await;
            }
        }
        conn.state.metrics().rt_disconnected();
    }

    /// The size and rate limits; a breach closes the connection.
    fn check_limits(&mut self, len: usize) -> Option<Close> {
        if len > self.config.max_message_bytes {
            return Some(Close(
                close_code::TOO_BIG,
                format!("a message of {len} bytes is over the {}-byte limit", self.config.max_message_bytes),
            ));
        }
        let now = Instant::now();
        let rate = f64::from(self.config.messages_per_sec);
        self.tokens =
            (self.tokens + now.duration_since(self.refilled).as_secs_f64() * rate).min(f64::from(self.config.burst));
        self.refilled = now;
        if self.tokens < 1.0 {
            return Some(Close(
                close_code::POLICY,
                format!("message rate limit: at most {} messages per second", self.config.messages_per_sec),
            ));
        }
        self.tokens -= 1.0;
        None
    }
}

fn unknown_topic(topic: &str, reference: Option<Value>) -> Value {
    error_frame(codes::NOT_FOUND, format!("no topic `{topic}`; the one topic is `events`"), reference)
}
