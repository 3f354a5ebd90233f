//! a2e-pdk: what a plugin author uses to write an a2e plugin.
//!
//! Typed functions over a2e's host functions: [`host`] has every one, generated from the ABI
//! table (`host::db_get_user_by_uuid`, `host::room_send`, ...), and the modules `kv`, `time`,
//! `random`, `log`, `config`, `context`, `events`, `crypto`, `token`, `email`, `ratelimit`,
//! `rooms`, `http` and `plugins` give shorter forms of the common ones. A plugin never handles
//! memory offsets or JSON by hand. Each returns `Result<T, HostError>`; a missing grant is an ordinary
//! `PERMISSION_DENIED` error, never a trap. [`handle`] turns a plugin function into the envelope
//! protocol: JSON request in, `{success, data, error}` out.
//!
//! ```ignore
//! use a2e_pdk::prelude::*;
//!
//! #[derive(serde::Deserialize)]
//! struct Greet { name: String }
//!
//! #[plugin_fn]
//! pub fn greet(input: Vec<u8>) -> FnResult<Vec<u8>> {
//!     handle(&input, |req: Greet| {
//!         let now = time::now()?;
//!         info!("greeting {}", req.name);
//!         Ok(serde_json::json!({ "message": format!("Hello, {}!", req.name), "at": now }))
//!     })
//! }
//! ```

pub use a2e_abi as abi;
pub use a2e_abi::codes;
pub use extism_pdk;

use serde::de::DeserializeOwned;
use serde::Serialize;

/// The error every host function and plugin handler returns: a code and a message.
pub type HostError = a2e_abi::ErrorBody;

/// Shorthand for results of host functions.
pub type Result<T, E = HostError> = std::result::Result<T, E>;

/// Everything a plugin usually needs.
pub mod prelude {
    pub use crate::{
        config, context, crypto, email, error, events, handle, host, http, info, kv, log, plugins, random, ratelimit,
        room, rooms, time, token, warn, HostError, Result,
    };
    pub use extism_pdk::{plugin_fn, FnResult};
}

/// Builds a [`HostError`] with a code of the plugin's choosing.
pub fn error(code: impl Into<String>, message: impl Into<String>) -> HostError {
    HostError { code: code.into(), message: message.into() }
}

mod raw {
    use extism_pdk::{Error, ManagedMemory, Memory, ToMemory};

    macro_rules! imports {
        ($($name:ident: $grant:ident, $req:ident => $resp:tt, $errors:expr, $summary:literal;)+) => {
            mod import {
                #[link(wasm_import_module = "extism:host/user")]
                extern "C" {
                    $(pub fn $name(input: u64) -> u64;)+
                }
            }

            $(
                /// Calls the import: the request is copied into host memory (freed on return),
                /// the answer copied out and its host memory freed at once, so a call that makes
                /// many host calls (paging through a long list, say) does not hold every
                /// answer until it returns.
                pub unsafe fn $name(input: Vec<u8>) -> Result<Vec<u8>, Error> {
                    let request = ManagedMemory::from(ToMemory::to_memory(&&input)?);
                    // SAFETY: the a2e host provides this import with this signature.
                    let offset = unsafe { import::$name(request.offset()) };
                    drop(request);
                    let answer = Memory::from(offset);
                    let bytes = answer.to_vec();
                    answer.free();
                    Ok(bytes)
                }
            )+

            /// The raw import called `name`, if a2e provides one.
            pub fn by_name(name: &str) -> Option<unsafe fn(Vec<u8>) -> Result<Vec<u8>, Error>> {
                match name {
                    $(stringify!($name) => Some($name),)+
                    _ => None,
                }
            }
        };
    }

    a2e_abi::host_function_table!(imports);
}

/// Calls a host function by name with raw request bytes and returns the raw envelope bytes.
/// For tools and tests; plugins normally use the typed modules.
pub fn call_raw(function: &str, request: Vec<u8>) -> Result<Vec<u8>> {
    let f =
        raw::by_name(function).ok_or_else(|| error(codes::INVALID_INPUT, format!("no host function `{function}`")))?;
    // SAFETY: as in `call`.
    unsafe { f(request) }.map_err(|e| error(codes::INTERNAL, e.to_string()))
}

/// Calls a raw host function with a typed request and decodes the envelope.
fn call<Req: Serialize + ?Sized, Resp: DeserializeOwned>(
    f: unsafe fn(Vec<u8>) -> std::result::Result<Vec<u8>, extism_pdk::Error>,
    req: &Req,
) -> Result<Resp> {
    let input = serde_json::to_vec(req).map_err(|e| error(codes::INVALID_INPUT, e.to_string()))?;
    // SAFETY: the import is provided by the a2e host with this exact signature (one memory
    // offset in, one out); the host checks the request before using it.
    let output = unsafe { f(input) }.map_err(|e| error(codes::INTERNAL, e.to_string()))?;
    let envelope: abi::Envelope<Resp> = serde_json::from_slice(&output)
        .map_err(|e| error(codes::INTERNAL, format!("host answered with an unexpected shape: {e}")))?;
    envelope.into_result()
}

/// Generates [`host`]: one typed function per host function of the ABI table, named as the
/// table names it, taking the table's request type and answering its response type.
macro_rules! typed_wrappers {
    ($($name:ident: $grant:ident, $req:ident => $resp:tt, $errors:expr, $summary:literal;)+) => {
        $(
            #[doc = $summary]
            #[doc = ""]
            #[doc = concat!("Needs the grant [`Grant::", stringify!($grant), "`](crate::abi::Grant::", stringify!($grant), "); its errors are listed in docs/plugin-abi.md.")]
            pub fn $name(req: &crate::abi::$req) -> crate::Result<typed_wrappers!(@type $resp)> {
                crate::call(crate::raw::$name, req)
            }
        )+
    };
    (@type [$t:ident]) => { Vec<crate::abi::$t> };
    (@type $t:ident) => { crate::abi::$t };
}

/// Every host function, typed, under the name the ABI table gives it (`db_create_user`,
/// `room_send`, ...). The modules below add shorter forms for the common ones.
pub mod host {
    a2e_abi::host_function_table!(typed_wrappers);
}

/// The plugin's own key-value store (grant `kv`).
pub mod kv {
    use base64::engine::general_purpose::STANDARD as B64;
    use base64::Engine;

    use crate::abi::*;
    use crate::{codes, error, Result};

    /// Reads a key.
    pub fn get(key: &str) -> Result<Option<Vec<u8>>> {
        let value: KvValue = crate::host::kv_get(&ByKey { key: key.into() })?;
        value.value.map(|v| B64.decode(v).map_err(|e| error(codes::INTERNAL, e.to_string()))).transpose()
    }

    /// Reads a key as UTF-8 text.
    pub fn get_string(key: &str) -> Result<Option<String>> {
        get(key)?.map(|b| String::from_utf8(b).map_err(|e| error(codes::INVALID_INPUT, e.to_string()))).transpose()
    }

    /// Writes a key.
    pub fn set(key: &str, value: impl AsRef<[u8]>) -> Result<()> {
        let _: Empty = crate::host::kv_set(&KvSet { key: key.into(), value: B64.encode(value) })?;
        Ok(())
    }

    /// Deletes a key; returns whether it existed.
    pub fn delete(key: &str) -> Result<bool> {
        let d: Deleted = crate::host::kv_delete(&ByKey { key: key.into() })?;
        Ok(d.deleted)
    }

    /// Lists keys with `prefix` as (key, value) pairs.
    pub fn list(prefix: &str, page: Page) -> Result<Vec<(String, Vec<u8>)>> {
        list_request(&KvList { prefix: prefix.into(), page, after: None })
    }

    /// Lists up to `limit` keys with `prefix` that sort after `after`, in key order: keyset
    /// paging, as fast on the millionth key as on the first.
    pub fn list_after(prefix: &str, after: &str, limit: u32) -> Result<Vec<(String, Vec<u8>)>> {
        list_request(&KvList { prefix: prefix.into(), page: Page { limit, offset: 0 }, after: Some(after.into()) })
    }

    fn list_request(req: &KvList) -> Result<Vec<(String, Vec<u8>)>> {
        let entries: Vec<KvEntry> = crate::host::kv_list(req)?;
        entries
            .into_iter()
            .map(|e| B64.decode(e.value).map(|v| (e.key, v)).map_err(|err| error(codes::INTERNAL, err.to_string())))
            .collect()
    }
}

/// Rate-limit counters in the plugin's own namespace (grant `ratelimit`).
pub mod ratelimit {
    pub use crate::host::{ratelimit_hit as hit, ratelimit_peek as peek, ratelimit_reset as reset};
}

/// The host clock (grant `time`).
pub mod time {
    /// Unix time in milliseconds from the host clock.
    pub fn now() -> crate::Result<i64> {
        let now: crate::abi::Now = crate::host::time_now(&crate::abi::Empty {})?;
        Ok(now.unix_ms)
    }
}

/// The host CSPRNG (grant `random`).
pub mod random {
    use base64::engine::general_purpose::STANDARD as B64;
    use base64::Engine;

    /// `len` random bytes (1 to 65536).
    pub fn bytes(len: u32) -> crate::Result<Vec<u8>> {
        let r: crate::abi::RandomBytes = crate::host::random_bytes(&crate::abi::RandomRequest { len })?;
        B64.decode(r.bytes).map_err(|e| crate::error(crate::codes::INTERNAL, e.to_string()))
    }
}

/// The host log (grant `log`). Prefer the [`info!`] and [`warn!`] macros.
pub mod log {
    /// Writes `message` at `level` ("trace", "debug", "info", "warn", "error").
    pub fn write(level: &str, message: &str) -> crate::Result<()> {
        let _: crate::abi::Empty =
            crate::host::log(&crate::abi::LogRequest { level: level.into(), message: message.into() })?;
        Ok(())
    }
}

/// Logs at info level; a failure to log (such as a missing grant) is ignored.
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => { let _ = $crate::log::write("info", &format!($($arg)*)); };
}

/// Logs at warn level; a failure to log is ignored.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => { let _ = $crate::log::write("warn", &format!($($arg)*)); };
}

/// The plugin's configuration (grant `config`).
pub mod config {
    /// Reads a configuration value.
    pub fn get(key: &str) -> crate::Result<Option<String>> {
        let v: crate::abi::ConfigValue = crate::host::config_get(&crate::abi::ByKey { key: key.into() })?;
        Ok(v.value)
    }
}

/// Facts about the current call (grant `config`).
pub mod context {
    /// The client address of the request that led to this call, when the host knows it.
    pub fn client_addr() -> crate::Result<Option<String>> {
        let c: crate::abi::CallContext = crate::host::context_get(&crate::abi::Empty {})?;
        Ok(c.client_addr)
    }

    /// The signed-in user whose request led to this call, when there is one.
    pub fn user() -> crate::Result<Option<crate::abi::CallUser>> {
        let c: crate::abi::CallContext = crate::host::context_get(&crate::abi::Empty {})?;
        Ok(c.user)
    }

    /// The plugin that called this one through `plugin_call`, when one did (`None` when the
    /// host called it).
    pub fn caller() -> crate::Result<Option<String>> {
        let c: crate::abi::CallContext = crate::host::context_get(&crate::abi::Empty {})?;
        Ok(c.caller)
    }
}

/// Audit events (grant `events`).
pub mod events {
    /// Records an audit event; returns its id.
    pub fn emit(kind: &str, user_uuid: Option<&str>, data: serde_json::Value) -> crate::Result<i64> {
        let req = crate::abi::EmitEvent { kind: kind.into(), user_uuid: user_uuid.map(Into::into), data };
        let id: crate::abi::EventId = crate::host::event_emit(&req)?;
        Ok(id.id)
    }
}

/// Password hashing (grant `crypto`).
pub mod crypto {
    pub use crate::host::{crypto_hash_password as hash_password, crypto_verify_password as verify_password};
}

/// Tokens signed with the host-held key (grant `token`).
pub mod token {
    pub use crate::host::{token_sign as sign, token_verify as verify};
}

/// The host mailer (grant `email`).
pub mod email {
    pub use crate::host::email_send as send;
}

/// Realtime rooms of this plugin (grant `rooms`).
pub mod rooms {
    pub use crate::host::{
        room_close as close, room_create as create, room_kick as kick, room_list as list, room_pending as pending,
    };

    /// Sends `data` to every client of `room`, or to the clients in `to`; returns how many it reached.
    pub fn send(room: &str, to: Option<Vec<String>>, data: &impl serde::Serialize) -> crate::Result<u64> {
        let data = serde_json::to_value(data).map_err(|e| crate::error(crate::codes::INVALID_INPUT, e.to_string()))?;
        let count = crate::host::room_send(&crate::abi::RoomSend { room: room.into(), to, data })?;
        Ok(count.count)
    }
}

/// Outbound HTTP(S) to the origins the plugin's `http:` grants cover.
///
/// ```ignore
/// let resp = http::request(&HttpRequest::get("https://api.example.com/v1/models"))?;
/// let mut stream = http::Stream::open(&HttpRequest::post_json(url, &body))?;
/// while let Some(text) = stream.next(250)? { /* forward text */ }
/// ```
pub mod http {
    use crate::abi::*;

    pub use crate::host::{http_close as close, http_open as open, http_read as read, http_request as request};

    /// An open response body, closed when dropped.
    #[derive(Debug)]
    pub struct Stream {
        /// The response head.
        pub head: HttpStream,
        done: bool,
    }

    impl Stream {
        /// Sends `req` and keeps its body open.
        pub fn open(req: &HttpRequest) -> crate::Result<Stream> {
            Ok(Stream { head: open(req)?, done: false })
        }

        /// The next piece of the body: `Some(text)` (possibly empty when nothing arrived within
        /// `wait_ms`), `None` once the body ended.
        pub fn next(&mut self, wait_ms: u32) -> crate::Result<Option<String>> {
            if self.done {
                return Ok(None);
            }
            let chunk = read(&HttpRead { id: self.head.id.clone(), max_bytes: 0, wait_ms })?;
            self.done = chunk.done;
            Ok(if chunk.done && chunk.data.is_empty() { None } else { Some(chunk.data) })
        }

        /// Whether the body ended.
        pub fn is_done(&self) -> bool {
            self.done
        }
    }

    impl Drop for Stream {
        fn drop(&mut self) {
            if !self.done {
                let _ = close(&HttpClose { id: self.head.id.clone() });
            }
        }
    }
}

/// Calls into other plugins (grant `call:<plugin>` per callee).
pub mod plugins {
    use serde::de::DeserializeOwned;
    use serde::{Deserialize, Serialize};
    use serde_json::value::RawValue;

    #[derive(Serialize)]
    struct Call<'a, T: ?Sized> {
        plugin: &'a str,
        function: &'a str,
        input: &'a T,
    }

    #[derive(Deserialize)]
    struct Output {
        output: Box<RawValue>,
    }

    #[derive(Deserialize)]
    struct CalleeEnvelope {
        success: bool,
        #[serde(default)]
        data: Option<Box<RawValue>>,
        #[serde(default)]
        error: Option<crate::HostError>,
    }

    /// Calls `function` of `plugin` with `input` as JSON and decodes its output. When the callee
    /// answers with an envelope, its `data` is decoded and its error becomes this call's error.
    ///
    /// The JSON is passed through as text (no intermediate value tree), so a response type may
    /// keep parts it only forwards as `Box<RawValue>`.
    pub fn call<Req: Serialize + ?Sized, Resp: DeserializeOwned>(
        plugin: &str,
        function: &str,
        input: &Req,
    ) -> crate::Result<Resp> {
        let request = serde_json::to_vec(&Call { plugin, function, input })
            .map_err(|e| crate::error(crate::codes::INVALID_INPUT, e.to_string()))?;
        // SAFETY: as in `crate::call`.
        let answer = unsafe { crate::raw::plugin_call(request) }
            .map_err(|e| crate::error(crate::codes::INTERNAL, e.to_string()))?;
        let envelope: crate::abi::Envelope<Output> = serde_json::from_slice(&answer).map_err(|e| {
            crate::error(crate::codes::INTERNAL, format!("host answered with an unexpected shape: {e}"))
        })?;
        let output = envelope.into_result()?.output;
        let unexpected = |e: serde_json::Error| {
            crate::error(crate::codes::INTERNAL, format!("{plugin}.{function} answered an unexpected shape: {e}"))
        };
        match serde_json::from_str::<CalleeEnvelope>(output.get()) {
            Ok(env) if env.success => {
                serde_json::from_str(env.data.as_deref().map_or("null", RawValue::get)).map_err(unexpected)
            }
            Ok(env) => Err(env.error.unwrap_or_else(|| {
                crate::error(crate::codes::CALL_FAILED, format!("{plugin}.{function} failed without saying why"))
            })),
            Err(_) => serde_json::from_str(output.get()).map_err(unexpected),
        }
    }
}

/// Handlers for the exports the host calls for rooms, with the room state typed as `S`.
///
/// ```ignore
/// #[plugin_fn]
/// pub fn room_tick(input: Vec<u8>) -> FnResult<Vec<u8>> {
///     room::tick(&input, |mut t: room::Tick<Counter>| {
///         for m in &t.messages { t.state.total += 1; }
///         Ok(room::Effects::state(t.state).broadcast(&serde_json::json!({ "total": 1 })))
///     })
/// }
/// ```
pub mod room {
    use serde::de::DeserializeOwned;
    use serde::Serialize;
    use serde_json::Value;

    pub use crate::abi::{ClientMessage, RoomClient};

    /// What a room call changes: the new state (none keeps the current one), messages, closing.
    #[derive(Debug)]
    pub struct Effects<S> {
        /// The new state.
        pub state: Option<S>,
        /// Messages to send.
        pub send: Vec<crate::abi::Outgoing>,
        /// Close the room with this reason.
        pub close: Option<String>,
    }

    impl<S> Default for Effects<S> {
        fn default() -> Self {
            Effects { state: None, send: Vec::new(), close: None }
        }
    }

    impl<S> Effects<S> {
        /// Nothing changes.
        pub fn none() -> Self {
            Effects::default()
        }

        /// The state becomes `state`.
        pub fn state(state: S) -> Self {
            Effects { state: Some(state), ..Effects::default() }
        }

        /// Also sends `data` to everyone in the room.
        pub fn broadcast(mut self, data: &impl Serialize) -> Self {
            self.send.push(crate::abi::Outgoing { to: None, data: serde_json::to_value(data).unwrap_or(Value::Null) });
            self
        }

        /// Also sends `data` to the clients in `to`.
        pub fn send_to(mut self, to: Vec<String>, data: &impl Serialize) -> Self {
            self.send
                .push(crate::abi::Outgoing { to: Some(to), data: serde_json::to_value(data).unwrap_or(Value::Null) });
            self
        }

        /// Also closes the room.
        pub fn close(mut self, reason: impl Into<String>) -> Self {
            self.close = Some(reason.into());
            self
        }
    }

    impl<S: Serialize> Effects<S> {
        fn into_abi(self) -> crate::Result<crate::abi::RoomEffects> {
            let state = self
                .state
                .map(|s| serde_json::to_value(s))
                .transpose()
                .map_err(|e| crate::error(crate::codes::INTERNAL, format!("encoding the room state: {e}")))?;
            Ok(crate::abi::RoomEffects { state, send: self.send, close: self.close })
        }
    }

    fn state<S: DeserializeOwned + Default>(value: Value) -> crate::Result<S> {
        if value.is_null() {
            return Ok(S::default());
        }
        serde_json::from_value(value)
            .map_err(|e| crate::error(crate::codes::INVALID_INPUT, format!("the room state does not decode: {e}")))
    }

    /// A tick of a ticking room.
    #[derive(Debug)]
    pub struct Tick<S> {
        /// Room id.
        pub room: String,
        /// Tick number.
        pub tick: u64,
        /// When it was meant to start (host clock, Unix ms).
        pub intended_ms: i64,
        /// The host clock now.
        pub now_ms: i64,
        /// Real time since the previous tick, in ms.
        pub elapsed_ms: f64,
        /// The room state (`S::default()` before the first one is stored).
        pub state: S,
        /// Clients that joined since the last tick.
        pub joins: Vec<RoomClient>,
        /// Clients that left since the last tick.
        pub leaves: Vec<RoomClient>,
        /// Client messages, oldest first.
        pub messages: Vec<ClientMessage>,
        /// Messages dropped from the full input queue since the last tick.
        pub dropped: u64,
    }

    /// A join request.
    #[derive(Debug)]
    pub struct Join<S> {
        /// Room id.
        pub room: String,
        /// Who asks.
        pub client: RoomClient,
        /// What it sent with the join.
        pub data: Value,
        /// The room state.
        pub state: S,
    }

    /// A client that left ("left", "disconnected" or "kicked").
    #[derive(Debug)]
    pub struct Leave<S> {
        /// Room id.
        pub room: String,
        /// Who left.
        pub client: RoomClient,
        /// Why.
        pub reason: String,
        /// The room state.
        pub state: S,
    }

    /// A client message in a room without ticks.
    #[derive(Debug)]
    pub struct Message<S> {
        /// Room id.
        pub room: String,
        /// The sender.
        pub client: RoomClient,
        /// What it sent.
        pub data: Value,
        /// The room state.
        pub state: S,
    }

    /// Answer to a join: accept with effects, or refuse with a reason the client sees.
    #[derive(Debug)]
    pub enum JoinAnswer<S> {
        /// Let the client in.
        Accept(Effects<S>),
        /// Keep it out.
        Refuse(String),
    }

    /// Runs a `room_tick` export.
    pub fn tick<S, F>(input: &[u8], f: F) -> extism_pdk::FnResult<Vec<u8>>
    where
        S: DeserializeOwned + Serialize + Default,
        F: FnOnce(Tick<S>) -> crate::Result<Effects<S>>,
    {
        crate::handle(input, |req: crate::abi::TickRequest| {
            let tick = Tick {
                state: state(req.state)?,
                room: req.room,
                tick: req.tick,
                intended_ms: req.intended_ms,
                now_ms: req.now_ms,
                elapsed_ms: req.elapsed_ms,
                joins: req.joins,
                leaves: req.leaves,
                messages: req.messages,
                dropped: req.dropped,
            };
            f(tick)?.into_abi()
        })
    }

    /// Runs a `room_join` export.
    pub fn join<S, F>(input: &[u8], f: F) -> extism_pdk::FnResult<Vec<u8>>
    where
        S: DeserializeOwned + Serialize + Default,
        F: FnOnce(Join<S>) -> crate::Result<JoinAnswer<S>>,
    {
        crate::handle(input, |req: crate::abi::JoinRequest| {
            let join = Join { state: state(req.state)?, room: req.room, client: req.client, data: req.data };
            Ok(match f(join)? {
                JoinAnswer::Accept(effects) => {
                    crate::abi::JoinAnswer { accept: true, reason: None, effects: effects.into_abi()? }
                }
                JoinAnswer::Refuse(reason) => {
                    crate::abi::JoinAnswer { accept: false, reason: Some(reason), effects: Default::default() }
                }
            })
        })
    }

    /// Runs a `room_leave` export.
    pub fn leave<S, F>(input: &[u8], f: F) -> extism_pdk::FnResult<Vec<u8>>
    where
        S: DeserializeOwned + Serialize + Default,
        F: FnOnce(Leave<S>) -> crate::Result<Effects<S>>,
    {
        crate::handle(input, |req: crate::abi::LeaveRequest| {
            let leave = Leave { state: state(req.state)?, room: req.room, client: req.client, reason: req.reason };
            f(leave)?.into_abi()
        })
    }

    /// Runs a `room_message` export.
    pub fn message<S, F>(input: &[u8], f: F) -> extism_pdk::FnResult<Vec<u8>>
    where
        S: DeserializeOwned + Serialize + Default,
        F: FnOnce(Message<S>) -> crate::Result<Effects<S>>,
    {
        crate::handle(input, |req: crate::abi::MessageRequest| {
            let message = Message { state: state(req.state)?, room: req.room, client: req.client, data: req.data };
            f(message)?.into_abi()
        })
    }
}

/// Runs a plugin function in the envelope protocol: decodes the JSON request (a decode failure is
/// `INVALID_INPUT`), runs `f`, and encodes `{success, data, error}`. Errors are returned as data,
/// so the instance stays healthy and the caller sees the code.
pub fn handle<Req, Resp, F>(input: &[u8], f: F) -> extism_pdk::FnResult<Vec<u8>>
where
    Req: DeserializeOwned,
    Resp: Serialize,
    F: FnOnce(Req) -> Result<Resp>,
{
    let result = serde_json::from_slice::<Req>(if input.is_empty() { b"null" } else { input })
        .map_err(|e| error(codes::INVALID_INPUT, format!("malformed request: {e}")))
        .and_then(f);
    let envelope = match result {
        Ok(data) => abi::Envelope::ok(data),
        Err(err) => abi::Envelope { success: false, data: None, error: Some(err) },
    };
    Ok(serde_json::to_vec(&envelope)?)
}
