//! a2e-pdk: what a plugin author uses to write an a2e plugin.
//!
//! Typed functions over a2e's host functions (`db`, `kv`, `time`, `random`, `log`, `config`,
//! `events`, `crypto`, `token`, `email`, `ratelimit`): a plugin never handles memory offsets or
//! JSON by hand. Each returns `Result<T, HostError>`; a missing grant is an ordinary
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
        config, context, crypto, db, email, error, events, handle, http, info, kv, log, plugins, random, ratelimit,
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
        ($($name:ident),* $(,)?) => {
            mod import {
                #[link(wasm_import_module = "extism:host/user")]
                extern "C" {
                    $(pub fn $name(input: u64) -> u64;)*
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
            )*

            /// The raw import called `name`, if a2e provides one.
            pub fn by_name(name: &str) -> Option<unsafe fn(Vec<u8>) -> Result<Vec<u8>, Error>> {
                match name {
                    $(stringify!($name) => Some($name),)*
                    _ => None,
                }
            }
        };
    }

    imports!(
        db_create_user,
        db_get_user_by_email,
        db_get_user_by_uuid,
        db_update_user_password,
        db_replace_user_password_hash,
        db_update_user_email_verified,
        db_update_user_profile,
        db_create_session,
        db_get_session,
        db_touch_session,
        db_list_user_sessions,
        db_delete_session,
        db_delete_user_sessions,
        db_cleanup_expired_sessions,
        db_create_email_verification_token,
        db_get_email_verification_token,
        db_delete_email_verification_token,
        db_consume_email_verification_token,
        db_delete_user_email_verification_tokens,
        db_create_password_reset_token,
        db_get_password_reset_token,
        db_delete_password_reset_token,
        db_consume_password_reset_token,
        db_replace_password_reset_token,
        db_delete_user_password_reset_tokens,
        db_create_refresh_token,
        db_get_refresh_token,
        db_rotate_refresh_token,
        db_revoke_refresh_family,
        db_revoke_user_refresh_tokens,
        db_create_agent,
        db_get_agent,
        db_update_agent,
        db_delete_agent,
        db_list_agents,
        db_create_chat_session,
        db_get_chat_session,
        db_update_chat_session_title,
        db_delete_chat_session,
        db_list_chat_sessions,
        db_add_chat_message,
        db_update_chat_message,
        db_search_chat_messages,
        db_get_chat_message,
        db_list_chat_messages,
        db_delete_chat_message,
        db_get_setting,
        db_set_setting,
        db_delete_setting,
        db_list_settings,
        db_create_agent_execution,
        db_update_agent_execution,
        db_get_agent_execution,
        db_list_agent_executions,
        kv_get,
        kv_set,
        kv_delete,
        kv_list,
        ratelimit_hit,
        ratelimit_peek,
        ratelimit_reset,
        time_now,
        random_bytes,
        log,
        config_get,
        context_get,
        event_emit,
        crypto_hash_password,
        crypto_verify_password,
        token_sign,
        token_verify,
        email_send,
        room_create,
        room_close,
        room_list,
        room_send,
        room_kick,
        plugin_call,
        http_request,
        http_open,
        http_read,
        http_close,
    );
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

macro_rules! host {
    ($(#[$doc:meta])* $raw:ident => fn $name:ident($req:ty) -> $resp:ty) => {
        $(#[$doc])*
        pub fn $name(req: &$req) -> $crate::Result<$resp> {
            $crate::call($crate::raw::$raw, req)
        }
    };
}

/// Users, sessions, tokens, agents, chat, settings and executions (grants `db:*`).
pub mod db {
    use crate::abi::*;

    host!(/// Creates a user (`USER_EXISTS` on a taken email or name).
        db_create_user => fn create_user(CreateUser) -> User);
    host!(/// Finds a user by email (normalised).
        db_get_user_by_email => fn get_user_by_email(ByEmail) -> User);
    host!(/// Finds a user by uuid.
        db_get_user_by_uuid => fn get_user_by_uuid(ByUuid) -> User);
    host!(/// Replaces a user's password hash.
        db_update_user_password => fn update_user_password(UpdatePassword) -> Empty);
    host!(/// Replaces the hash only if it still equals `expected`.
        db_replace_user_password_hash => fn replace_user_password_hash(ReplacePasswordHash) -> Replaced);
    host!(/// Sets whether the email is verified.
        db_update_user_email_verified => fn update_user_email_verified(UpdateEmailVerified) -> Empty);
    host!(/// Updates name, avatar and bio.
        db_update_user_profile => fn update_user_profile(UpdateProfile) -> User);
    host!(/// Stores a session.
        db_create_session => fn create_session(CreateSession) -> Session);
    host!(/// Fetches a session.
        db_get_session => fn get_session(ById) -> Session);
    host!(/// Moves a live session's expiry.
        db_touch_session => fn touch_session(TouchSession) -> Empty);
    host!(/// Lists a user's sessions.
        db_list_user_sessions => fn list_user_sessions(ByUserUuid) -> Vec<Session>);
    host!(/// Deletes a session.
        db_delete_session => fn delete_session(ById) -> Deleted);
    host!(/// Deletes every session of a user.
        db_delete_user_sessions => fn delete_user_sessions(ByUserUuid) -> Count);
    host!(/// Deletes expired sessions.
        db_cleanup_expired_sessions => fn cleanup_expired_sessions(Empty) -> Count);
    host!(/// Stores an email-verification token hash.
        db_create_email_verification_token => fn create_email_verification_token(CreateOneTimeToken) -> OneTimeToken);
    host!(/// Fetches an email-verification token.
        db_get_email_verification_token => fn get_email_verification_token(ByTokenHash) -> OneTimeToken);
    host!(/// Deletes an email-verification token.
        db_delete_email_verification_token => fn delete_email_verification_token(ByTokenHash) -> Deleted);
    host!(/// Consumes an email-verification token (single use).
        db_consume_email_verification_token => fn consume_email_verification_token(ByTokenHash) -> OneTimeToken);
    host!(/// Deletes a user's email-verification tokens.
        db_delete_user_email_verification_tokens => fn delete_user_email_verification_tokens(ByUserUuid) -> Count);
    host!(/// Stores a password-reset token hash.
        db_create_password_reset_token => fn create_password_reset_token(CreateOneTimeToken) -> OneTimeToken);
    host!(/// Fetches a password-reset token.
        db_get_password_reset_token => fn get_password_reset_token(ByTokenHash) -> OneTimeToken);
    host!(/// Deletes a password-reset token.
        db_delete_password_reset_token => fn delete_password_reset_token(ByTokenHash) -> Deleted);
    host!(/// Consumes a password-reset token (single use).
        db_consume_password_reset_token => fn consume_password_reset_token(ByTokenHash) -> OneTimeToken);
    host!(/// Replaces a user's password-reset tokens with a new one, atomically.
        db_replace_password_reset_token => fn replace_password_reset_token(CreateOneTimeToken) -> OneTimeToken);
    host!(/// Deletes a user's password-reset tokens.
        db_delete_user_password_reset_tokens => fn delete_user_password_reset_tokens(ByUserUuid) -> Count);
    host!(/// Stores the first refresh token of a family.
        db_create_refresh_token => fn create_refresh_token(CreateRefreshToken) -> RefreshToken);
    host!(/// Fetches a refresh token.
        db_get_refresh_token => fn get_refresh_token(ByTokenHash) -> RefreshToken);
    host!(/// Rotates a refresh token (reuse revokes the family).
        db_rotate_refresh_token => fn rotate_refresh_token(RotateRefreshToken) -> Rotation);
    host!(/// Revokes a refresh family.
        db_revoke_refresh_family => fn revoke_refresh_family(ByFamily) -> Count);
    host!(/// Revokes a user's refresh tokens.
        db_revoke_user_refresh_tokens => fn revoke_user_refresh_tokens(ByUserUuid) -> Count);
    host!(/// Creates an agent.
        db_create_agent => fn create_agent(AgentInput) -> Agent);
    host!(/// Fetches an agent.
        db_get_agent => fn get_agent(ById) -> Agent);
    host!(/// Replaces an agent's fields.
        db_update_agent => fn update_agent(AgentInput) -> Agent);
    host!(/// Deletes an agent.
        db_delete_agent => fn delete_agent(ById) -> Deleted);
    host!(/// Lists agents.
        db_list_agents => fn list_agents(ListAgents) -> Vec<Agent>);
    host!(/// Creates a chat session.
        db_create_chat_session => fn create_chat_session(CreateChatSession) -> ChatSession);
    host!(/// Fetches a chat session.
        db_get_chat_session => fn get_chat_session(ById) -> ChatSession);
    host!(/// Renames a chat session.
        db_update_chat_session_title => fn update_chat_session_title(UpdateTitle) -> ChatSession);
    host!(/// Deletes a chat session.
        db_delete_chat_session => fn delete_chat_session(ById) -> Deleted);
    host!(/// Lists chat sessions.
        db_list_chat_sessions => fn list_chat_sessions(ListChatSessions) -> Vec<ChatSession>);
    host!(/// Adds a chat message.
        db_add_chat_message => fn add_chat_message(AddChatMessage) -> ChatMessage);
    host!(/// Fetches a chat message.
        db_get_chat_message => fn get_chat_message(ById) -> ChatMessage);
    host!(/// Lists a session's messages.
        db_list_chat_messages => fn list_chat_messages(ListChatMessages) -> Vec<ChatMessage>);
    host!(/// Deletes a chat message.
        db_delete_chat_message => fn delete_chat_message(ById) -> Deleted);
    host!(/// Replaces a message's content and status.
        db_update_chat_message => fn update_chat_message(UpdateChatMessage) -> ChatMessage);
    host!(/// Full-text search of messages, best match first.
        db_search_chat_messages => fn search_chat_messages(SearchChatMessages) -> Vec<ChatMessage>);
    host!(/// Reads a setting.
        db_get_setting => fn get_setting(ByKey) -> Setting);
    host!(/// Writes a setting.
        db_set_setting => fn set_setting(SetSetting) -> Setting);
    host!(/// Deletes a setting.
        db_delete_setting => fn delete_setting(ByKey) -> Deleted);
    host!(/// Lists settings.
        db_list_settings => fn list_settings(Page) -> Vec<Setting>);
    host!(/// Records the start of an agent run.
        db_create_agent_execution => fn create_agent_execution(CreateAgentExecution) -> AgentExecution);
    host!(/// Updates an agent run.
        db_update_agent_execution => fn update_agent_execution(UpdateAgentExecution) -> AgentExecution);
    host!(/// Fetches an agent run.
        db_get_agent_execution => fn get_agent_execution(ById) -> AgentExecution);
    host!(/// Lists agent runs.
        db_list_agent_executions => fn list_agent_executions(ListAgentExecutions) -> Vec<AgentExecution>);
}

/// The plugin's own key-value store (grant `kv`).
pub mod kv {
    use base64::engine::general_purpose::STANDARD as B64;
    use base64::Engine;

    use crate::abi::*;
    use crate::{codes, error, Result};

    /// Reads a key.
    pub fn get(key: &str) -> Result<Option<Vec<u8>>> {
        let value: KvValue = crate::call(crate::raw::kv_get, &ByKey { key: key.into() })?;
        value.value.map(|v| B64.decode(v).map_err(|e| error(codes::INTERNAL, e.to_string()))).transpose()
    }

    /// Reads a key as UTF-8 text.
    pub fn get_string(key: &str) -> Result<Option<String>> {
        get(key)?.map(|b| String::from_utf8(b).map_err(|e| error(codes::INVALID_INPUT, e.to_string()))).transpose()
    }

    /// Writes a key.
    pub fn set(key: &str, value: impl AsRef<[u8]>) -> Result<()> {
        let _: Empty = crate::call(crate::raw::kv_set, &KvSet { key: key.into(), value: B64.encode(value) })?;
        Ok(())
    }

    /// Deletes a key; returns whether it existed.
    pub fn delete(key: &str) -> Result<bool> {
        let d: Deleted = crate::call(crate::raw::kv_delete, &ByKey { key: key.into() })?;
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
        let entries: Vec<KvEntry> = crate::call(crate::raw::kv_list, req)?;
        entries
            .into_iter()
            .map(|e| B64.decode(e.value).map(|v| (e.key, v)).map_err(|err| error(codes::INTERNAL, err.to_string())))
            .collect()
    }
}

/// Rate-limit counters in the plugin's own namespace (grant `ratelimit`).
pub mod ratelimit {
    use crate::abi::*;

    host!(/// Counts a hit against a fixed window, atomically.
        ratelimit_hit => fn hit(RateLimitHit) -> RateDecision);
    host!(/// Reads a counter without counting.
        ratelimit_peek => fn peek(RateLimitKey) -> Count);
    host!(/// Clears a counter.
        ratelimit_reset => fn reset(RateLimitKey) -> Empty);
}

/// The host clock (grant `time`).
pub mod time {
    /// Unix time in milliseconds from the host clock.
    pub fn now() -> crate::Result<i64> {
        let now: crate::abi::Now = crate::call(crate::raw::time_now, &crate::abi::Empty {})?;
        Ok(now.unix_ms)
    }
}

/// The host CSPRNG (grant `random`).
pub mod random {
    use base64::engine::general_purpose::STANDARD as B64;
    use base64::Engine;

    /// `len` random bytes (1 to 65536).
    pub fn bytes(len: u32) -> crate::Result<Vec<u8>> {
        let r: crate::abi::RandomBytes = crate::call(crate::raw::random_bytes, &crate::abi::RandomRequest { len })?;
        B64.decode(r.bytes).map_err(|e| crate::error(crate::codes::INTERNAL, e.to_string()))
    }
}

/// The host log (grant `log`). Prefer the [`info!`] and [`warn!`] macros.
pub mod log {
    /// Writes `message` at `level` ("trace", "debug", "info", "warn", "error").
    pub fn write(level: &str, message: &str) -> crate::Result<()> {
        let _: crate::abi::Empty =
            crate::call(crate::raw::log, &crate::abi::LogRequest { level: level.into(), message: message.into() })?;
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
        let v: crate::abi::ConfigValue = crate::call(crate::raw::config_get, &crate::abi::ByKey { key: key.into() })?;
        Ok(v.value)
    }
}

/// Facts about the current call (grant `config`).
pub mod context {
    /// The client address of the request that led to this call, when the host knows it.
    pub fn client_addr() -> crate::Result<Option<String>> {
        let c: crate::abi::CallContext = crate::call(crate::raw::context_get, &crate::abi::Empty {})?;
        Ok(c.client_addr)
    }

    /// The signed-in user whose request led to this call, when there is one.
    pub fn user() -> crate::Result<Option<crate::abi::CallUser>> {
        let c: crate::abi::CallContext = crate::call(crate::raw::context_get, &crate::abi::Empty {})?;
        Ok(c.user)
    }
}

/// Audit events (grant `events`).
pub mod events {
    /// Records an audit event; returns its id.
    pub fn emit(kind: &str, user_uuid: Option<&str>, data: serde_json::Value) -> crate::Result<i64> {
        let req = crate::abi::EmitEvent { kind: kind.into(), user_uuid: user_uuid.map(Into::into), data };
        let id: crate::abi::EventId = crate::call(crate::raw::event_emit, &req)?;
        Ok(id.id)
    }
}

/// Password hashing (grant `crypto`).
pub mod crypto {
    use crate::abi::*;

    host!(/// Hashes a password with argon2id.
        crypto_hash_password => fn hash_password(HashPassword) -> PasswordHash);
    host!(/// Verifies a password against a stored hash (or none, at the same cost).
        crypto_verify_password => fn verify_password(VerifyPassword) -> PasswordCheck);
}

/// Tokens signed with the host-held key (grant `token`).
pub mod token {
    use crate::abi::*;

    host!(/// Signs claims as an HS256 JWT.
        token_sign => fn sign(SignToken) -> SignedToken);
    host!(/// Verifies a JWT.
        token_verify => fn verify(VerifyToken) -> VerifiedClaims);
}

/// The host mailer (grant `email`).
pub mod email {
    use crate::abi::*;

    host!(/// Sends a plain-text email.
        email_send => fn send(SendEmail) -> EmailSent);
}

/// Realtime rooms of this plugin (grant `rooms`).
pub mod rooms {
    use crate::abi::*;

    host!(/// Creates a room: `tick_hz` 1-60 for a ticking room (export `room_tick`), 0 for one
        /// whose messages go to `room_message` one by one.
        room_create => fn create(RoomCreate) -> RoomInfo);
    host!(/// Closes a room; its clients are told the reason.
        room_close => fn close(RoomClose) -> Deleted);
    host!(/// Lists this plugin's rooms.
        room_list => fn list(Empty) -> Vec<RoomInfo>);
    host!(/// Removes a client from a room.
        room_kick => fn kick(RoomKick) -> Deleted);

    /// Sends `data` to every client of `room`, or to the clients in `to`; returns how many it reached.
    pub fn send(room: &str, to: Option<Vec<String>>, data: &impl serde::Serialize) -> crate::Result<u64> {
        let data = serde_json::to_value(data).map_err(|e| crate::error(crate::codes::INVALID_INPUT, e.to_string()))?;
        let count: Count = crate::call(crate::raw::room_send, &RoomSend { room: room.into(), to, data })?;
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

    host!(/// Sends a request and reads the whole response (redirects followed, each checked).
        http_request => fn request(HttpRequest) -> HttpResponse);
    host!(/// Sends a request and answers the response head; read the body with `read`.
        http_open => fn open(HttpRequest) -> HttpStream);
    host!(/// Reads what arrived of a stream's body, waiting up to `wait_ms` when nothing did.
        http_read => fn read(HttpRead) -> HttpChunk);
    host!(/// Closes a stream and drops its connection.
        http_close => fn close(HttpClose) -> Deleted);

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
