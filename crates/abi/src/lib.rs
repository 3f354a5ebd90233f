//! a2e-abi: the wire contract between the a2e host and its WebAssembly plugins.
//!
//! Every host function takes one JSON request and answers with an [`Envelope`]:
//! `{"success": bool, "data": T | null, "error": {"code": "...", "message": "..."} | null}`.
//! Denials, bad input and missing rows are error values in the envelope, never traps.
//! [`HOST_FUNCTIONS`] lists every host function with the grant it needs.
//!
//! ```
//! use a2e_abi::{Envelope, codes};
//! let ok: Envelope<u32> = Envelope::ok(7);
//! assert_eq!(serde_json::to_string(&ok).unwrap(), r#"{"success":true,"data":7,"error":null}"#);
//! let denied: Envelope<u32> = Envelope::err(codes::PERMISSION_DENIED, "needs grant kv");
//! assert!(denied.into_result().is_err());
//! ```

mod errors;
pub mod functions;
mod http;
pub mod realtime;
pub mod types;

pub use errors::{codes, http_status, ErrorCode};
pub use functions::{HostFunction, HOST_FUNCTIONS};
pub use http::{
    canonical_ip, is_public_ip, HostPattern, HttpChunk, HttpClose, HttpRead, HttpRequest, HttpResponse, HttpStream,
    OriginPattern, SecretInfo,
};
pub use realtime::*;
pub use types::*;

use serde::{Deserialize, Serialize};

/// Version of this contract. A plugin built for another version is refused at install.
pub const ABI_VERSION: u32 = 1;

/// Namespace of a2e's host functions as seen by the guest (Extism's user namespace).
pub const HOST_NAMESPACE: &str = "extism:host/user";

/// The error part of an envelope.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ErrorBody {
    /// Machine-readable code, one of [`codes`] or a plugin's own.
    pub code: String,
    /// Human-readable message; never contains secrets.
    pub message: String,
}

impl ErrorBody {
    /// The code as an [`ErrorCode`], or `None` for a code a plugin defined.
    pub fn kind(&self) -> Option<ErrorCode> {
        ErrorCode::parse(&self.code)
    }
}

impl std::fmt::Display for ErrorBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ErrorBody {}

/// The response of every host function (and the recommended shape of plugin outputs).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Envelope<T> {
    /// Whether the call succeeded.
    pub success: bool,
    /// The result, when it succeeded.
    pub data: Option<T>,
    /// The error, when it failed.
    pub error: Option<ErrorBody>,
}

impl<T> Envelope<T> {
    /// A successful envelope.
    pub fn ok(data: T) -> Self {
        Envelope { success: true, data: Some(data), error: None }
    }

    /// A failed envelope.
    pub fn err(code: impl Into<String>, message: impl Into<String>) -> Self {
        Envelope { success: false, data: None, error: Some(ErrorBody { code: code.into(), message: message.into() }) }
    }

    /// Turns the envelope into a `Result`. A success without data, or a failure without an error
    /// body, is reported as an `INTERNAL` error.
    pub fn into_result(self) -> Result<T, ErrorBody> {
        match (self.success, self.data, self.error) {
            (true, Some(data), _) => Ok(data),
            (false, _, Some(error)) => Err(error),
            _ => Err(ErrorBody { code: codes::INTERNAL.into(), message: "malformed envelope".into() }),
        }
    }
}

/// Capabilities a plugin can be granted. Every host function needs exactly one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum Grant {
    /// Users: create, read, update.
    #[serde(rename = "db:users")]
    DbUsers,
    /// Login sessions.
    #[serde(rename = "db:sessions")]
    DbSessions,
    /// Email-verification, password-reset and refresh tokens.
    #[serde(rename = "db:tokens")]
    DbTokens,
    /// Agents, chat sessions and messages, settings, agent executions.
    #[serde(rename = "db:chat")]
    DbChat,
    /// The plugin's own key-value store.
    #[serde(rename = "kv")]
    Kv,
    /// Fixed-window rate-limit counters in the plugin's own namespace.
    #[serde(rename = "ratelimit")]
    RateLimit,
    /// The host clock.
    #[serde(rename = "time")]
    Time,
    /// The host CSPRNG.
    #[serde(rename = "random")]
    Random,
    /// Writing to the host log.
    #[serde(rename = "log")]
    Log,
    /// Reading the plugin's configuration.
    #[serde(rename = "config")]
    Config,
    /// Emitting audit and plugin events.
    #[serde(rename = "events")]
    Events,
    /// Password hashing and verification.
    #[serde(rename = "crypto")]
    Crypto,
    /// Signing and verifying tokens with the host-held key.
    #[serde(rename = "token")]
    Token,
    /// Sending email through the host mailer.
    #[serde(rename = "email")]
    Email,
    /// Realtime rooms: create, close, list, send to clients, remove clients.
    #[serde(rename = "rooms")]
    Rooms,
    /// Calling other plugins. Held as `call:<plugin>`, one grant per callee (see [`GrantSpec`]).
    #[serde(rename = "call:<plugin>")]
    Call,
    /// Outbound HTTP(S). Held as `http:<origin pattern>`, one grant per pattern (see [`GrantSpec`]).
    #[serde(rename = "http:<origin>")]
    Http,
}

impl Grant {
    /// Every grant, in a stable order.
    pub const ALL: [Grant; 17] = [
        Grant::DbUsers,
        Grant::DbSessions,
        Grant::DbTokens,
        Grant::DbChat,
        Grant::Kv,
        Grant::RateLimit,
        Grant::Time,
        Grant::Random,
        Grant::Log,
        Grant::Config,
        Grant::Events,
        Grant::Crypto,
        Grant::Token,
        Grant::Email,
        Grant::Rooms,
        Grant::Call,
        Grant::Http,
    ];

    /// The grant's name as written in plugin.json.
    pub fn as_str(self) -> &'static str {
        match self {
            Grant::DbUsers => "db:users",
            Grant::DbSessions => "db:sessions",
            Grant::DbTokens => "db:tokens",
            Grant::DbChat => "db:chat",
            Grant::Kv => "kv",
            Grant::RateLimit => "ratelimit",
            Grant::Time => "time",
            Grant::Random => "random",
            Grant::Log => "log",
            Grant::Config => "config",
            Grant::Events => "events",
            Grant::Crypto => "crypto",
            Grant::Token => "token",
            Grant::Email => "email",
            Grant::Rooms => "rooms",
            Grant::Call => "call:<plugin>",
            Grant::Http => "http:<origin>",
        }
    }

    /// Whether the grant is held per target (`call:<plugin>`) rather than by its plain name.
    pub fn is_scoped(self) -> bool {
        matches!(self, Grant::Call | Grant::Http)
    }

    /// Parses a plain grant name; `None` for an unknown one and for scoped grants (parse those
    /// with [`GrantSpec::parse`]).
    pub fn parse(name: &str) -> Option<Grant> {
        Grant::ALL.into_iter().find(|g| !g.is_scoped() && g.as_str() == name)
    }

    /// What the grant lets a plugin do, for the install prompt.
    pub fn describe(self) -> &'static str {
        match self {
            Grant::DbUsers => "create, read and update user accounts (including password hashes)",
            Grant::DbSessions => "create, read and delete login sessions",
            Grant::DbTokens => "manage email-verification, password-reset and refresh tokens",
            Grant::DbChat => "read and write agents, chats, settings and agent executions",
            Grant::Kv => "store data in its own key-value space",
            Grant::RateLimit => "keep rate-limit counters in its own namespace",
            Grant::Time => "read the clock",
            Grant::Random => "draw random bytes",
            Grant::Log => "write to the host log",
            Grant::Config => "read its configuration and the client address of a call",
            Grant::Events => "emit audit events",
            Grant::Crypto => "hash and verify passwords",
            Grant::Token => "sign and verify tokens with the host's key",
            Grant::Email => "send email",
            Grant::Rooms => "run realtime rooms and send to the clients in them",
            Grant::Call => "call the named plugin's functions",
            Grant::Http => "make HTTP requests to the named origins",
        }
    }
}

/// One grant as stored and shown: a plain capability (`kv`), a call grant naming its callee
/// (`call:auth`), or an event subscription naming the kinds it may receive (`subscribe:auth.`,
/// `subscribe:game.match_ended`, `subscribe:*`). A pattern ending in `.` covers every kind that
/// starts with it; `*` covers every kind. An HTTP grant names the origins a plugin may reach
/// (`http:https://api.example.com`, `http:https://*.example.com:8443`, `http:http://127.0.0.1:11434`);
/// see [`OriginPattern`].
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GrantSpec {
    /// A plain capability.
    Fixed(Grant),
    /// May call the named plugin.
    Call(String),
    /// May receive events whose kind the pattern covers.
    Subscribe(String),
    /// May make HTTP requests to the origins the pattern covers.
    Http(OriginPattern),
}

impl GrantSpec {
    /// Parses a grant as written in plugin.json, the CLI or the API; the error says what is wrong.
    pub fn parse(text: &str) -> Result<GrantSpec, String> {
        if let Some(callee) = text.strip_prefix("call:") {
            if !is_plugin_name(callee) {
                return Err(format!(
                    "`{text}` must name a plugin: call:<name>, the name in a-z, 0-9, '-' and '_', starting with a letter"
                ));
            }
            return Ok(GrantSpec::Call(callee.to_owned()));
        }
        if let Some(pattern) = text.strip_prefix("subscribe:") {
            if !is_kind_pattern(pattern) {
                return Err(format!(
                    "`{text}` must name event kinds: subscribe:<kind>, subscribe:<prefix>. or subscribe:*, kinds in a-z, 0-9, '_', '-', ':' and '.'"
                ));
            }
            return Ok(GrantSpec::Subscribe(pattern.to_owned()));
        }
        if let Some(pattern) = text.strip_prefix("http:") {
            return OriginPattern::parse(pattern).map(GrantSpec::Http).map_err(|e| format!("`{text}`: {e}"));
        }
        Grant::parse(text).map(GrantSpec::Fixed).ok_or_else(|| {
            let known: Vec<&str> = Grant::ALL.iter().filter(|g| !g.is_scoped()).map(|g| g.as_str()).collect();
            format!(
                "unknown grant `{text}` (known: {}, call:<plugin>, subscribe:<kinds>, http:<scheme>://<host>[:<port>])",
                known.join(", ")
            )
        })
    }

    /// The grant as written.
    pub fn as_string(&self) -> String {
        match self {
            GrantSpec::Fixed(grant) => grant.as_str().to_owned(),
            GrantSpec::Call(callee) => format!("call:{callee}"),
            GrantSpec::Subscribe(pattern) => format!("subscribe:{pattern}"),
            GrantSpec::Http(pattern) => format!("http:{pattern}"),
        }
    }

    /// What it lets a plugin do, for the install prompt.
    pub fn describe(&self) -> String {
        match self {
            GrantSpec::Fixed(grant) => grant.describe().to_owned(),
            GrantSpec::Call(callee) => format!("call the functions of plugin `{callee}`"),
            GrantSpec::Subscribe(pattern) if pattern == "*" => "receive every event".to_owned(),
            GrantSpec::Subscribe(pattern) if pattern.ends_with('.') => {
                format!("receive events whose kind starts with `{pattern}`")
            }
            GrantSpec::Subscribe(pattern) => format!("receive `{pattern}` events"),
            GrantSpec::Http(pattern) => pattern.describe(),
        }
    }
}

impl From<Grant> for GrantSpec {
    fn from(grant: Grant) -> Self {
        GrantSpec::Fixed(grant)
    }
}

impl std::fmt::Display for GrantSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.as_string())
    }
}

/// Whether an event-kind pattern (`kind`, `prefix.` or `*`) covers `kind`.
pub fn kind_matches(pattern: &str, kind: &str) -> bool {
    pattern == "*" || pattern == kind || (pattern.ends_with('.') && kind.starts_with(pattern))
}

/// Whether `name` is a valid plugin name: a lower-case letter, then a-z, 0-9, '-' and '_', at most 64.
pub fn is_plugin_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 64
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

fn is_kind_pattern(pattern: &str) -> bool {
    pattern == "*"
        || (!pattern.is_empty()
            && pattern.len() <= 128
            && !pattern.starts_with('.')
            && pattern.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_-:.".contains(c)))
}

impl std::fmt::Display for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grant_names_round_trip_through_serde_and_parse() {
        for grant in Grant::ALL {
            let json = serde_json::to_string(&grant).unwrap();
            assert_eq!(json, format!("\"{}\"", grant.as_str()));
            let parsed = Grant::parse(grant.as_str());
            assert_eq!(parsed, (!grant.is_scoped()).then_some(grant));
        }
        assert_eq!(Grant::parse("db:everything"), None);
    }

    #[test]
    fn scoped_grants_parse_and_refuse_what_names_nothing() {
        assert_eq!(GrantSpec::parse("call:auth"), Ok(GrantSpec::Call("auth".into())));
        assert_eq!(GrantSpec::parse("subscribe:auth."), Ok(GrantSpec::Subscribe("auth.".into())));
        assert_eq!(GrantSpec::parse("kv"), Ok(GrantSpec::Fixed(Grant::Kv)));
        for bad in
            ["call:", "call:Auth", "call:../x", "subscribe:", "subscribe:.x", "subscribe:A", "call:<plugin>", "nope"]
        {
            let err = GrantSpec::parse(bad).unwrap_err();
            assert!(err.contains(bad), "{bad}: {err}");
        }
        for text in ["call:game-logic", "subscribe:*", "subscribe:game.match_ended", "rooms"] {
            assert_eq!(GrantSpec::parse(text).unwrap().as_string(), text);
        }
    }

    #[test]
    fn kind_patterns_cover_exact_kinds_prefixes_and_everything() {
        assert!(kind_matches("auth.", "auth.login") && kind_matches("*", "x") && kind_matches("a.b", "a.b"));
        assert!(
            !kind_matches("auth.", "authx.login") && !kind_matches("a.b", "a.bc") && !kind_matches("auth.", "auth")
        );
    }

    #[test]
    fn envelope_into_result() {
        assert_eq!(Envelope::ok(1).into_result(), Ok(1));
        let err = Envelope::<u8>::err(codes::NOT_FOUND, "x").into_result().unwrap_err();
        assert_eq!(err.code, "NOT_FOUND");
        let malformed = Envelope::<u8> { success: true, data: None, error: None };
        assert_eq!(malformed.into_result().unwrap_err().code, codes::INTERNAL);
    }
}
