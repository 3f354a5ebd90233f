//! The table of every host function: its name, the grant it needs, and its request and response
//! types. The host registers exactly these; docs/plugin-abi.md is checked against this table.

use crate::Grant;

/// One host function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostFunction {
    /// Import name in the `extism:host/user` namespace.
    pub name: &'static str,
    /// The grant a plugin needs to call it.
    pub grant: Grant,
    /// Name of the request type (a type of this crate).
    pub request: &'static str,
    /// Name of the response (`data`) type; `[T]` is a list of `T`.
    pub response: &'static str,
    /// Error codes it can return besides PERMISSION_DENIED, INVALID_INPUT and INTERNAL.
    pub errors: &'static [&'static str],
    /// What it does.
    pub summary: &'static str,
}

const fn f(
    name: &'static str,
    grant: Grant,
    request: &'static str,
    response: &'static str,
    errors: &'static [&'static str],
    summary: &'static str,
) -> HostFunction {
    HostFunction { name, grant, request, response, errors, summary }
}

const NF: &[&str] = &["NOT_FOUND"];
const NONE: &[&str] = &[];
const EXISTS: &[&str] = &["ALREADY_EXISTS"];
const BUSY: &[&str] = &["UNAVAILABLE"];

use Grant::*;

/// Defines the table once: each line names the function, its grant, its request and response
/// types (as Rust types, so a wrong name does not compile; `[T]` is a list), the error codes it
/// returns besides PERMISSION_DENIED, INVALID_INPUT and INTERNAL, and what it does. From it come
/// [`HOST_FUNCTIONS`] and, with the `schema` feature, the JSON Schema of every type it names.
macro_rules! host_functions {
    ($($name:ident: $grant:ident, $req:ident => $resp:tt, $errors:expr, $summary:literal;)+) => {
        /// Every host function a2e provides.
        pub const HOST_FUNCTIONS: &[HostFunction] = &[
            $(f(stringify!($name), $grant, stringify!($req), host_functions!(@name $resp), $errors, $summary),)+
        ];

        /// Registers every request and response type of the table with `generator` and answers
        /// each one's schema (a reference into the generator's definitions), by table name.
        #[cfg(feature = "schema")]
        pub fn type_schemas(
            generator: &mut schemars::SchemaGenerator,
        ) -> std::collections::BTreeMap<&'static str, schemars::Schema> {
            let mut out = std::collections::BTreeMap::new();
            $(
                out.insert(stringify!($req), generator.subschema_for::<crate::$req>());
                host_functions!(@schema out generator $resp);
            )+
            out
        }

        /// Each type's own, self-contained JSON Schema (with the types it uses), by table name.
        #[cfg(feature = "schema")]
        pub fn root_schemas() -> std::collections::BTreeMap<&'static str, schemars::Schema> {
            let mut out = std::collections::BTreeMap::new();
            $(
                out.insert(stringify!($req), schemars::schema_for!(crate::$req));
                host_functions!(@root out $resp);
            )+
            out
        }

        /// Reads `value` as the table's type `name` and writes it back: `None` when the table
        /// names no such type, `Some(Err)` when the value is not one. Checks the examples in
        /// docs/plugin-abi.md against the real types.
        #[cfg(feature = "schema")]
        pub fn round_trip(name: &str, value: &serde_json::Value) -> Option<Result<serde_json::Value, String>> {
            $(
                if name == stringify!($req) {
                    return Some(round_trip_as::<crate::$req>(value));
                }
                host_functions!(@trip name value $resp);
            )+
            None
        }

        // Every type the table names exists, with or without the `schema` feature.
        #[allow(dead_code)]
        fn types_exist() {
            $(
                let _: Option<crate::$req> = None;
                host_functions!(@exists $resp);
            )+
        }
    };
    (@name [$t:ident]) => { concat!("[", stringify!($t), "]") };
    (@name $t:ident) => { stringify!($t) };
    (@schema $out:ident $g:ident [$t:ident]) => { $out.insert(stringify!($t), $g.subschema_for::<crate::$t>()); };
    (@schema $out:ident $g:ident $t:ident) => { $out.insert(stringify!($t), $g.subschema_for::<crate::$t>()); };
    (@root $out:ident [$t:ident]) => { $out.insert(stringify!($t), schemars::schema_for!(crate::$t)); };
    (@root $out:ident $t:ident) => { $out.insert(stringify!($t), schemars::schema_for!(crate::$t)); };
    (@trip $n:ident $v:ident [$t:ident]) => { host_functions!(@trip $n $v $t); };
    (@trip $n:ident $v:ident $t:ident) => {
        if $n == stringify!($t) {
            return Some(round_trip_as::<crate::$t>($v));
        }
    };
    (@exists [$t:ident]) => { let _: Option<crate::$t> = None; };
    (@exists $t:ident) => { let _: Option<crate::$t> = None; };
}

/// Hands the table of every host function to `$callback`, a `macro_rules!` macro taking lines of
/// the form `name: Grant, Request => Response, errors, "summary";` (`Response` is `T` or `[T]`,
/// both types of this crate). This crate derives [`HOST_FUNCTIONS`] and the JSON Schemas from it,
/// the host its dispatch and the PDK its typed wrappers, so adding a host function is one line
/// here, one handler and one test.
#[macro_export]
macro_rules! host_function_table {
    ($callback:ident) => {
        $callback! {
    db_create_user: DbUsers, CreateUser => User, &["USER_EXISTS"], "Create a user; USER_EXISTS names the colliding field (email or name).";
    db_get_user_by_email: DbUsers, ByEmail => User, NF, "Find a user by email (normalised: trim, NFC, Unicode lower case).";
    db_get_user_by_uuid: DbUsers, ByUuid => User, NF, "Find a user by uuid.";
    db_update_user_password: DbUsers, UpdatePassword => Empty, NF, "Replace a user's password hash.";
    db_replace_user_password_hash: DbUsers, ReplacePasswordHash => Replaced, NONE, "Replace the hash only if it still equals `expected` (re-hash on login).";
    db_update_user_email_verified: DbUsers, UpdateEmailVerified => Empty, NF, "Set whether the email is verified.";
    db_update_user_profile: DbUsers, UpdateProfile => User, &["NOT_FOUND", "USER_EXISTS"], "Update name, avatar and bio.";
    db_create_session: DbSessions, CreateSession => Session, EXISTS, "Store a session under the SHA-256 of its token.";
    db_get_session: DbSessions, ById => Session, NF, "Fetch a session (the caller checks expires_at).";
    db_touch_session: DbSessions, TouchSession => Empty, NF, "Record use and move the expiry of a live session.";
    db_list_user_sessions: DbSessions, ByUserUuid => [Session], NONE, "List a user's sessions, newest first.";
    db_delete_session: DbSessions, ById => Deleted, NONE, "Delete one session.";
    db_delete_user_sessions: DbSessions, ByUserUuid => Count, NONE, "Delete every session of a user.";
    db_cleanup_expired_sessions: DbSessions, Empty => Count, NONE, "Delete sessions expired by the host clock.";
    db_create_email_verification_token: DbTokens, CreateOneTimeToken => OneTimeToken, EXISTS, "Store an email-verification token hash.";
    db_get_email_verification_token: DbTokens, ByTokenHash => OneTimeToken, NF, "Fetch an email-verification token.";
    db_delete_email_verification_token: DbTokens, ByTokenHash => Deleted, NONE, "Delete an email-verification token.";
    db_consume_email_verification_token: DbTokens, ByTokenHash => OneTimeToken, NF, "Delete and return a live token atomically (single use).";
    db_delete_user_email_verification_tokens: DbTokens, ByUserUuid => Count, NONE, "Delete a user's email-verification tokens.";
    db_create_password_reset_token: DbTokens, CreateOneTimeToken => OneTimeToken, EXISTS, "Store a password-reset token hash.";
    db_get_password_reset_token: DbTokens, ByTokenHash => OneTimeToken, NF, "Fetch a password-reset token.";
    db_delete_password_reset_token: DbTokens, ByTokenHash => Deleted, NONE, "Delete a password-reset token.";
    db_consume_password_reset_token: DbTokens, ByTokenHash => OneTimeToken, NF, "Delete and return a live token atomically (single use).";
    db_replace_password_reset_token: DbTokens, CreateOneTimeToken => OneTimeToken, EXISTS, "Replace a user's reset tokens with a new one, atomically.";
    db_delete_user_password_reset_tokens: DbTokens, ByUserUuid => Count, NONE, "Delete a user's password-reset tokens.";
    db_create_refresh_token: DbTokens, CreateRefreshToken => RefreshToken, EXISTS, "Store the first refresh token of a family.";
    db_get_refresh_token: DbTokens, ByTokenHash => RefreshToken, NF, "Fetch a refresh token.";
    db_rotate_refresh_token: DbTokens, RotateRefreshToken => Rotation, NONE, "Use a refresh token once and issue its successor; reuse revokes the family.";
    db_revoke_refresh_family: DbTokens, ByFamily => Count, NONE, "Revoke every live token of a family.";
    db_revoke_user_refresh_tokens: DbTokens, ByUserUuid => Count, NONE, "Revoke every live refresh token of a user.";
    db_create_agent: DbChat, AgentInput => Agent, EXISTS, "Create an agent.";
    db_get_agent: DbChat, ById => Agent, NF, "Fetch an agent.";
    db_update_agent: DbChat, AgentInput => Agent, NF, "Replace an agent's fields.";
    db_delete_agent: DbChat, ById => Deleted, NONE, "Delete an agent and its executions.";
    db_list_agents: DbChat, ListAgents => [Agent], NONE, "List agents by name.";
    db_create_chat_session: DbChat, CreateChatSession => ChatSession, EXISTS, "Create a chat session.";
    db_get_chat_session: DbChat, ById => ChatSession, NF, "Fetch a chat session.";
    db_update_chat_session_title: DbChat, UpdateTitle => ChatSession, NF, "Rename a chat session.";
    db_delete_chat_session: DbChat, ById => Deleted, NONE, "Delete a chat session and its messages.";
    db_list_chat_sessions: DbChat, ListChatSessions => [ChatSession], NONE, "List chat sessions (all, or one user's), most recently updated first.";
    db_add_chat_message: DbChat, AddChatMessage => ChatMessage, EXISTS, "Add a message to a chat session.";
    db_get_chat_message: DbChat, ById => ChatMessage, NF, "Fetch a message.";
    db_list_chat_messages: DbChat, ListChatMessages => [ChatMessage], NONE, "List a session's messages, oldest first.";
    db_update_chat_message: DbChat, UpdateChatMessage => ChatMessage, NF, "Replace a message's content and status (an answer as it is written).";
    db_search_chat_messages: DbChat, SearchChatMessages => [ChatMessage], NONE, "Full-text search of messages (all, or one user's sessions), best match first.";
    db_delete_chat_message: DbChat, ById => Deleted, NONE, "Delete a message and the messages that follow it.";
    db_get_setting: DbChat, ByKey => Setting, NF, "Read a setting.";
    db_set_setting: DbChat, SetSetting => Setting, NONE, "Create or replace a setting.";
    db_delete_setting: DbChat, ByKey => Deleted, NONE, "Delete a setting.";
    db_list_settings: DbChat, Page => [Setting], NONE, "List settings by key.";
    db_create_agent_execution: DbChat, CreateAgentExecution => AgentExecution, EXISTS, "Record the start of an agent run.";
    db_update_agent_execution: DbChat, UpdateAgentExecution => AgentExecution, NF, "Update a run's status, output or error.";
    db_get_agent_execution: DbChat, ById => AgentExecution, NF, "Fetch a run.";
    db_list_agent_executions: DbChat, ListAgentExecutions => [AgentExecution], NONE, "List runs, newest first, with filters.";
    kv_get: Kv, ByKey => KvValue, NONE, "Read a key of the calling plugin's store.";
    kv_set: Kv, KvSet => Empty, NONE, "Write a key of the calling plugin's store.";
    kv_delete: Kv, ByKey => Deleted, NONE, "Delete a key of the calling plugin's store.";
    kv_list: Kv, KvList => [KvEntry], NONE, "List the calling plugin's keys with a prefix.";
    ratelimit_hit: RateLimit, RateLimitHit => RateDecision, BUSY, "Count a hit against a fixed window, atomically.";
    ratelimit_peek: RateLimit, RateLimitKey => Count, NONE, "Read a counter without counting.";
    ratelimit_reset: RateLimit, RateLimitKey => Empty, NONE, "Clear a counter.";
    time_now: Time, Empty => Now, NONE, "The host clock, Unix ms.";
    random_bytes: Random, RandomRequest => RandomBytes, NONE, "Bytes from the host CSPRNG.";
    log: Log, LogRequest => Empty, NONE, "Write to the host log, tagged with the plugin name.";
    config_get: Config, ByKey => ConfigValue, NONE, "Read a value of the plugin's configuration.";
    context_get: Config, Empty => CallContext, NONE, "Facts about the current call: the client address and the signed-in user.";
    event_emit: Events, EmitEvent => EventId, NONE, "Record an audit event and publish it to subscribers.";
    crypto_hash_password: Crypto, HashPassword => PasswordHash, NONE, "Hash a password with argon2id (OWASP parameters).";
    crypto_verify_password: Crypto, VerifyPassword => PasswordCheck, NONE, "Verify a password against argon2id or legacy bcrypt, in constant time.";
    token_sign: Token, SignToken => SignedToken, NONE, "Sign claims as an HS256 JWT with the host-held key.";
    token_verify: Token, VerifyToken => VerifiedClaims, &["UNAUTHENTICATED"], "Verify a JWT's signature, algorithm, exp, nbf, iss and aud.";
    email_send: Email, SendEmail => EmailSent, &["RATE_LIMITED", "UNAVAILABLE"], "Send a plain-text email through the host mailer.";
    room_create: Rooms, RoomCreate => RoomInfo, &["ALREADY_EXISTS", "UNAVAILABLE"], "Create a room of the calling plugin, ticking at 1-60 Hz or not at all.";
    room_close: Rooms, RoomClose => Deleted, NONE, "Close a room; its clients are told the reason.";
    room_list: Rooms, Empty => [RoomInfo], NONE, "List the calling plugin's rooms with their counters.";
    room_send: Rooms, RoomSend => Count, NF, "Send a message to some or all clients of a room; answers how many it reached.";
    room_kick: Rooms, RoomKick => Deleted, NF, "Remove a client from a room, telling it why.";
    room_pending: Rooms, RoomRef => RoomPending, NF, "What waits for a room's next turn: clients asking to join and messages not yet handed to the plugin (a long tick may end early for them).";
    plugin_call: Call, PluginCall => PluginOutput, &["NOT_FOUND", "UNAVAILABLE", "CONFLICT", "TIMEOUT", "CALL_FAILED"], "Call an export of another plugin under its own grants and limits (CONFLICT: a call cycle or depth over 4; TIMEOUT: the callee ran past its time limit).";
    http_request: Http, HttpRequest => HttpResponse, &["NOT_FOUND", "TIMEOUT", "TOO_LARGE", "UNAVAILABLE"], "Make an HTTP(S) request to an origin an `http:` grant covers and read the whole response (NOT_FOUND: a header names a secret the plugin does not have).";
    http_open: Http, HttpRequest => HttpStream, &["NOT_FOUND", "TIMEOUT", "UNAVAILABLE", "RATE_LIMITED"], "Send an HTTP(S) request and return the response head; read the body with http_read.";
    http_read: Http, HttpRead => HttpChunk, &["NOT_FOUND", "CONFLICT", "TIMEOUT", "TOO_LARGE", "UNAVAILABLE"], "Read what arrived of a stream's body, waiting up to wait_ms for more.";
    http_close: Http, HttpClose => Deleted, NONE, "Close a stream; the connection is dropped.";
    secret_list: Http, Empty => [SecretInfo], NONE, "List the secrets an administrator gave the plugin (names and origins, never values).";
        }
    };
}

host_function_table!(host_functions);

#[cfg(feature = "schema")]
fn round_trip_as<T: serde::de::DeserializeOwned + serde::Serialize>(
    value: &serde_json::Value,
) -> Result<serde_json::Value, String> {
    let typed: T = serde_json::from_value(value.clone()).map_err(|e| e.to_string())?;
    serde_json::to_value(typed).map_err(|e| e.to_string())
}

/// Looks a host function up by name.
pub fn find(name: &str) -> Option<&'static HostFunction> {
    HOST_FUNCTIONS.iter().find(|f| f.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique() {
        let mut names: Vec<_> = HOST_FUNCTIONS.iter().map(|f| f.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), HOST_FUNCTIONS.len());
    }

    #[test]
    fn every_grant_guards_at_least_one_function() {
        for grant in Grant::ALL {
            assert!(HOST_FUNCTIONS.iter().any(|f| f.grant == grant), "{grant}");
        }
    }
}
