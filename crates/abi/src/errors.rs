//! Every error code of the host and the server, defined once with its HTTP status.

/// Defines [`ErrorCode`] and [`codes`] from one list: variant, wire text, HTTP status, doc.
macro_rules! error_codes {
    ($($(#[doc = $doc:literal])+ $variant:ident = $konst:ident => $status:literal,)+) => {
        /// An error code of the host or the server. Plugins may return codes of their own as
        /// well (`EMPTY_NAME`, ...): those travel as text and answer HTTP 400.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[doc = $doc])+ $variant,)+
        }

        impl ErrorCode {
            /// Every code, in definition order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)+];

            /// The code as it travels on the wire (`INVALID_INPUT`).
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => stringify!($konst),)+
                }
            }

            /// The HTTP status an API answer with this code carries.
            pub const fn http_status(self) -> u16 {
                match self {
                    $(ErrorCode::$variant => $status,)+
                }
            }

            /// What the code means, in one sentence.
            pub fn doc(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => concat!($($doc),+),)+
                }
                .trim()
            }

            /// The code of a wire text, or `None` for a code a plugin defined.
            pub fn parse(text: &str) -> Option<ErrorCode> {
                match text {
                    $(stringify!($konst) => Some(ErrorCode::$variant),)+
                    _ => None,
                }
            }
        }

        /// The codes as text constants, for matching and for building error values.
        pub mod codes {
            use super::ErrorCode;
            $(
                $(#[doc = $doc])+
                pub const $konst: &str = ErrorCode::$variant.as_str();
            )+
        }
    };
}

error_codes! {
    /// A user with this email or name exists.
    UserExists = USER_EXISTS => 409,
    /// Another account has this display name.
    NameTaken = NAME_TAKEN => 409,
    /// A row with this key exists.
    AlreadyExists = ALREADY_EXISTS => 409,
    /// The row does not exist (or the token expired or was used).
    NotFound = NOT_FOUND => 404,
    /// The request is malformed or breaks a rule.
    InvalidInput = INVALID_INPUT => 400,
    /// The caller lacks the grant or role this needs.
    PermissionDenied = PERMISSION_DENIED => 403,
    /// Too many attempts; try later.
    RateLimited = RATE_LIMITED => 429,
    /// The operation conflicts with the current state.
    Conflict = CONFLICT => 409,
    /// Credentials are missing or wrong.
    Unauthenticated = UNAUTHENTICATED => 401,
    /// A resource is temporarily unavailable (database busy or read-only, disk full).
    Unavailable = UNAVAILABLE => 503,
    /// A plugin called through `plugin_call` failed (a trap, a memory or fuel limit); the message says how.
    CallFailed = CALL_FAILED => 502,
    /// An operation ran out of time (an outbound HTTP request, or the whole API request).
    Timeout = TIMEOUT => 504,
    /// A request or response is larger than allowed.
    TooLarge = TOO_LARGE => 413,
    /// The host failed; details are in the host's log.
    Internal = INTERNAL => 500,
    /// An API request carried a credential in its URL, where logs and history keep it.
    TokenInUrl = TOKEN_IN_URL => 400,
    /// A cookie-authenticated request came without an allowed `Origin`.
    Csrf = CSRF => 403,
    /// No plugin of that name is installed.
    UnknownPlugin = UNKNOWN_PLUGIN => 404,
    /// The plugin does not export that function.
    UnknownFunction = UNKNOWN_FUNCTION => 404,
    /// The plugin is installed but disabled.
    PluginDisabled = PLUGIN_DISABLED => 409,
    /// The plugin signs people in: disabling, removing it or revoking the grants it needs would
    /// lock every account out.
    SignInProvider = SIGN_IN_PROVIDER => 409,
    /// The request body is larger than the server accepts.
    PayloadTooLarge = PAYLOAD_TOO_LARGE => 413,
    /// The request body has a media type the route does not accept.
    UnsupportedMediaType = UNSUPPORTED_MEDIA_TYPE => 415,
    /// The plugin reported an error instead of an answer.
    PluginFailed = PLUGIN_FAILED => 502,
    /// The plugin trapped (a panic, an abort, an out-of-bounds access, a stack overflow).
    PluginTrapped = PLUGIN_TRAPPED => 502,
    /// The plugin ran longer than its manifest's `timeout_ms`.
    PluginTimeout = PLUGIN_TIMEOUT => 504,
    /// The plugin used up its manifest's fuel limit.
    PluginOutOfFuel = PLUGIN_OUT_OF_FUEL => 502,
    /// The plugin asked for more memory than its manifest's `memory_pages`.
    PluginOutOfMemory = PLUGIN_OUT_OF_MEMORY => 502,
    /// The plugin's answer was larger than the host accepts.
    PluginOutputTooLarge = PLUGIN_OUTPUT_TOO_LARGE => 502,
    /// Every instance of the plugin stayed busy for the whole wait.
    PluginBusy = PLUGIN_BUSY => 503,
    /// The desktop app's UI asked for a command the app does not have.
    UnknownCommand = UNKNOWN_COMMAND => 404,
    /// A realtime room is at capacity.
    RoomFull = ROOM_FULL => 409,
    /// A realtime room's plugin refused the join; the message is its reason.
    Refused = REFUSED => 409,
    /// A realtime client sent to a room it has not joined.
    NotJoined = NOT_JOINED => 409,
}

/// The HTTP status of any code: a known code's own, 400 for a code a plugin defined (plugins use
/// their own codes for their input checks).
pub fn http_status(code: &str) -> u16 {
    ErrorCode::parse(code).map_or(400, ErrorCode::http_status)
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_and_is_unique() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            assert!(seen.insert(code.as_str()), "{code} twice");
            assert_eq!(ErrorCode::parse(code.as_str()), Some(*code));
            assert!((400..600).contains(&code.http_status()), "{code}");
            assert!(!code.doc().is_empty());
        }
    }

    #[test]
    fn plugin_defined_codes_answer_400() {
        assert_eq!(ErrorCode::parse("EMPTY_NAME"), None);
        assert_eq!(http_status("EMPTY_NAME"), 400);
        assert_eq!(http_status(codes::PLUGIN_TIMEOUT), 504);
        assert_eq!(http_status(codes::RATE_LIMITED), 429);
    }
}
