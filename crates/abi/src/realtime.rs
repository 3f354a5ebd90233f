//! Realtime types: the requests of the room and plugin-call host functions, and what the host
//! sends to the exports a plugin provides for its rooms (`room_join`, `room_leave`,
//! `room_message`, `room_tick`), schedules and event subscriptions.
//!
//! Room state is JSON the host keeps between calls: each room export receives the current state
//! and may answer with a new one. A call that fails leaves the state as it was.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Export called when a client asks to join a room (accept or refuse; default: accept).
pub const EXPORT_JOIN: &str = "room_join";
/// Export called when a client leaves a room or disconnects.
pub const EXPORT_LEAVE: &str = "room_leave";
/// Export called for each client message of a room without ticks.
pub const EXPORT_MESSAGE: &str = "room_message";
/// Export called on every tick of a ticking room.
pub const EXPORT_TICK: &str = "room_tick";

/// Request of `room_create`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RoomCreate {
    /// Room id within the plugin (1 to 64 of A-Z, a-z, 0-9, '-', '_', '.', ':'); a random id when absent.
    #[serde(default)]
    pub room: Option<String>,
    /// Ticks per second, 1 to 60; 0 (the default) for a room without ticks, whose client
    /// messages go to `room_message` one by one.
    #[serde(default)]
    pub tick_hz: u32,
    /// Most clients at once; 0 for the host's default (1000).
    #[serde(default)]
    pub max_clients: u32,
    /// Client messages buffered between ticks; 0 for the default (128). On overflow the oldest
    /// are dropped and the next tick is told how many.
    #[serde(default)]
    pub input_queue: u32,
    /// Consecutive failed calls after which the room closes; 0 for the default (5).
    #[serde(default)]
    pub max_failures: u32,
    /// The initial state.
    #[serde(default)]
    pub state: Value,
}

/// Counters of one room.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RoomStats {
    /// Ticks run.
    pub ticks: u64,
    /// Ticks skipped because they could not start in their period.
    pub skipped: u64,
    /// Ticks that started more than a quarter period after their intended time.
    pub late: u64,
    /// Room calls (join, leave, message, tick) that failed.
    pub failed: u64,
    /// Client messages received.
    pub messages_in: u64,
    /// Messages sent to clients (one per client reached).
    pub messages_out: u64,
    /// Bytes sent to clients.
    pub bytes_out: u64,
    /// Client messages dropped because the input queue was full.
    pub dropped_inputs: u64,
}

/// Response of `room_create`, element of `room_list`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RoomInfo {
    /// Room id.
    pub room: String,
    /// Ticks per second (0: no ticks).
    pub tick_hz: u32,
    /// Clients in the room now.
    pub clients: u32,
    /// Most clients at once.
    pub max_clients: u32,
    /// The next tick's number.
    pub tick: u64,
    /// Counters.
    pub stats: RoomStats,
}

/// Request of `room_close`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RoomClose {
    /// Room id.
    pub room: String,
    /// What the room's clients are told.
    #[serde(default)]
    pub reason: Option<String>,
}

/// A message for clients of a room.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Outgoing {
    /// Client ids; absent for everyone in the room.
    #[serde(default)]
    pub to: Option<Vec<String>>,
    /// The message.
    pub data: Value,
}

/// Request of `room_send`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RoomSend {
    /// Room id.
    pub room: String,
    /// Client ids; absent for everyone in the room.
    #[serde(default)]
    pub to: Option<Vec<String>>,
    /// The message.
    pub data: Value,
}

/// Request of `room_kick`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RoomKick {
    /// Room id.
    pub room: String,
    /// The client to remove.
    pub client: String,
    /// What the client is told.
    pub reason: String,
}

/// A room of the calling plugin (request of `room_pending`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RoomRef {
    /// Room id.
    pub room: String,
}

/// What waits for a room's next turn (answer of `room_pending`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RoomPending {
    /// Clients asking to join; each waits until the room's current call returns.
    pub joins: u64,
    /// Client messages not yet handed to the plugin (for the next tick, or for `room_message`).
    pub messages: u64,
}

/// Request of `plugin_call`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PluginCall {
    /// The plugin to call; the caller needs the grant `call:<plugin>`.
    pub plugin: String,
    /// One of its exports.
    pub function: String,
    /// Its input, sent as JSON.
    #[serde(default)]
    pub input: Value,
    /// Longest to wait for a free instance of the callee, in ms (default 1000, at most 30000).
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

/// Response of `plugin_call`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PluginOutput {
    /// The callee's output: its JSON, or a string when it is not JSON.
    pub output: Value,
}

/// A client as a room's plugin sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RoomClient {
    /// Connection id, unique while the host runs.
    pub client: String,
    /// The signed-in user's uuid; absent for an anonymous client.
    #[serde(default)]
    pub user: Option<String>,
    /// The user's name.
    #[serde(default)]
    pub name: Option<String>,
}

/// What a room call may change: its state, messages to send, closing the room.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RoomEffects {
    /// The new state; absent to keep the current one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<Value>,
    /// Messages to send.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub send: Vec<Outgoing>,
    /// Close the room with this reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub close: Option<String>,
}

/// Input of `room_join`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct JoinRequest {
    /// Room id.
    pub room: String,
    /// Who asks.
    pub client: RoomClient,
    /// What the client sent with its join.
    #[serde(default)]
    pub data: Value,
    /// The room's state.
    #[serde(default)]
    pub state: Value,
}

/// Output (`data`) of `room_join`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct JoinAnswer {
    /// Whether the client may join.
    pub accept: bool,
    /// Why not; the client sees it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// State change and messages.
    #[serde(flatten)]
    pub effects: RoomEffects,
}

/// Input of `room_leave`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct LeaveRequest {
    /// Room id.
    pub room: String,
    /// Who left.
    pub client: RoomClient,
    /// Why: "left", "disconnected" or "kicked".
    pub reason: String,
    /// The room's state.
    #[serde(default)]
    pub state: Value,
}

/// A client message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ClientMessage {
    /// The sender.
    pub client: String,
    /// What it sent.
    pub data: Value,
}

/// Input of `room_message` (rooms without ticks).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct MessageRequest {
    /// Room id.
    pub room: String,
    /// The sender.
    pub client: RoomClient,
    /// What it sent.
    pub data: Value,
    /// The room's state.
    #[serde(default)]
    pub state: Value,
}

/// Input of `room_tick`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TickRequest {
    /// Room id.
    pub room: String,
    /// Tick number, from 0; skipped ticks leave gaps.
    pub tick: u64,
    /// When the tick was meant to start (host clock, Unix ms).
    pub intended_ms: i64,
    /// The host clock now (Unix ms).
    pub now_ms: i64,
    /// Real time since the previous tick started, in ms (0 for the first).
    pub elapsed_ms: f64,
    /// The room's state after the last good call.
    #[serde(default)]
    pub state: Value,
    /// Clients that joined since the last tick.
    #[serde(default)]
    pub joins: Vec<RoomClient>,
    /// Clients that left since the last tick.
    #[serde(default)]
    pub leaves: Vec<RoomClient>,
    /// Client messages since the last tick, oldest first.
    #[serde(default)]
    pub messages: Vec<ClientMessage>,
    /// Messages dropped since the last tick because the input queue was full.
    #[serde(default)]
    pub dropped: u64,
}

/// Input of an export run on a schedule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ScheduleRun {
    /// The export.
    pub export: String,
    /// Run number, from 0.
    pub run: u64,
    /// When the run was meant to start (host clock, Unix ms).
    pub intended_ms: i64,
    /// Runs skipped so far because the previous one was still running or the host was late.
    pub skipped: u64,
}

/// Input of an export subscribed to events.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct EventDelivery {
    /// Audit event id (0 for events that are not stored, such as room joins).
    pub id: i64,
    /// Event kind.
    pub kind: String,
    /// The plugin that emitted it; absent for the host.
    #[serde(default)]
    pub plugin: Option<String>,
    /// The user it concerns.
    #[serde(default)]
    pub user_uuid: Option<String>,
    /// Details.
    #[serde(default)]
    pub data: Value,
    /// When it happened (Unix ms).
    pub at: i64,
    /// Events this subscriber missed so far because its queue was full.
    pub dropped: u64,
}
