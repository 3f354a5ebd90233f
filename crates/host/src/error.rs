//! Errors of the runtime's own operations (install, remove, call) and of host functions.

use a2e_abi::codes;

/// What can go wrong installing, managing or calling a plugin.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The plugin is not installed.
    #[error("plugin `{0}` is not installed")]
    UnknownPlugin(String),
    /// The plugin is installed but disabled.
    #[error("plugin `{0}` is disabled; enable it with `a2e plugin enable {0}`")]
    Disabled(String),
    /// The plugin does not export the function.
    #[error("plugin `{plugin}` has no exported function `{function}`")]
    UnknownFunction {
        /// Plugin name.
        plugin: String,
        /// Function name.
        function: String,
    },
    /// The manifest or module is not acceptable; the message names the problem.
    #[error("invalid plugin: {0}")]
    Invalid(String),
    /// A plugin of that name is installed already.
    #[error("plugin `{0}` is already installed; use --replace to replace it")]
    AlreadyInstalled(String),
    /// The call failed inside the plugin: a trap, panic, timeout, memory or fuel limit.
    #[error("plugin `{plugin}` failed in `{function}`: {failure}")]
    CallFailed {
        /// Plugin name.
        plugin: String,
        /// Function name.
        function: String,
        /// How it failed.
        failure: CallFailure,
    },
    /// Every instance of the plugin stayed busy for the whole checkout timeout.
    #[error("plugin `{0}` is busy: no instance became free in time")]
    Busy(String),
    /// A storage failure.
    #[error(transparent)]
    Db(#[from] a2e_db::Error),
    /// A file-system failure.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path involved.
        path: std::path::PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// An internal failure of the runtime.
    #[error("internal error: {0}")]
    Internal(String),
    /// A plugin secret's name, value or origin was refused.
    #[error("invalid secret: {0}")]
    InvalidSecret(String),
}

/// How a plugin call failed, decided from typed values (wasmtime's trap code, the fuel meter,
/// the call's clock), never from an error's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallFailure {
    /// The call ran past the manifest's `timeout_ms` and was interrupted.
    Timeout {
        /// The limit, in milliseconds.
        limit_ms: u64,
    },
    /// The call used up the manifest's fuel limit.
    OutOfFuel {
        /// The limit.
        limit: u64,
    },
    /// The call asked for more linear memory than the manifest's `memory_pages` allow.
    OutOfMemory {
        /// The limit, in 64 KiB pages.
        limit_pages: u32,
    },
    /// The plugin trapped: a panic or abort (`unreachable`), an out-of-bounds access, a stack
    /// overflow, a division by zero.
    Trap {
        /// wasmtime's description of the trap.
        trap: String,
        /// The innermost wasm function, when the module names its functions.
        function: Option<String>,
    },
    /// The answer was larger than the host accepts.
    OutputTooLarge {
        /// The answer's size.
        bytes: usize,
        /// The host's limit.
        limit: usize,
    },
    /// The plugin reported an error of its own (through Extism's error channel) instead of an answer.
    Reported(String),
}

impl CallFailure {
    /// The error code of this failure (`PLUGIN_TIMEOUT`, `PLUGIN_TRAPPED`, ...).
    pub fn code(&self) -> a2e_abi::ErrorCode {
        use a2e_abi::ErrorCode as C;
        match self {
            CallFailure::Timeout { .. } => C::PluginTimeout,
            CallFailure::OutOfFuel { .. } => C::PluginOutOfFuel,
            CallFailure::OutOfMemory { .. } => C::PluginOutOfMemory,
            CallFailure::Trap { .. } => C::PluginTrapped,
            CallFailure::OutputTooLarge { .. } => C::PluginOutputTooLarge,
            CallFailure::Reported(_) => C::PluginFailed,
        }
    }
}

impl std::fmt::Display for CallFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallFailure::Timeout { limit_ms } => write!(f, "timed out after {limit_ms} ms"),
            CallFailure::OutOfFuel { limit } => write!(f, "ran out of fuel (limit {limit})"),
            CallFailure::OutOfMemory { limit_pages } => {
                write!(f, "exceeded its memory limit of {limit_pages} pages ({} MiB)", limit_pages / 16)
            }
            CallFailure::Trap { trap, function: Some(function) } => write!(f, "trapped in `{function}`: {trap}"),
            CallFailure::Trap { trap, function: None } => write!(f, "trapped: {trap}"),
            CallFailure::OutputTooLarge { bytes, limit } => {
                write!(f, "output of {bytes} bytes exceeds the {limit}-byte limit")
            }
            CallFailure::Reported(message) => write!(f, "reported an error: {message}"),
        }
    }
}

impl HostError {
    pub(crate) fn io(action: &'static str, path: impl Into<std::path::PathBuf>, source: std::io::Error) -> Self {
        HostError::Io { action, path: path.into(), source }
    }
}

/// Shorthand for runtime results.
pub type Result<T, E = HostError> = std::result::Result<T, E>;

/// An error a host function returns to the plugin inside the envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FnError {
    /// One of [`a2e_abi::codes`].
    pub code: &'static str,
    /// Message for the plugin; never contains secrets.
    pub message: String,
}

impl FnError {
    /// An error with a code and message.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        FnError { code, message: message.into() }
    }

    /// INVALID_INPUT.
    pub fn invalid(message: impl Into<String>) -> Self {
        FnError::new(codes::INVALID_INPUT, message)
    }

    /// INTERNAL, logging the cause on the host.
    pub fn internal(context: &str, cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "{context}");
        FnError::new(codes::INTERNAL, format!("{context} failed; see the host log"))
    }
}

/// The single mapping from storage errors to error codes, for host functions and the API alike:
/// the code and the message a caller sees. Unexpected failures are logged here, with their cause,
/// and reach the caller as `INTERNAL` without it.
pub fn storage_error(err: a2e_db::Error) -> (a2e_abi::ErrorCode, String) {
    use a2e_abi::ErrorCode as C;
    use a2e_db::Error as E;
    match err {
        E::NotFound { entity } => (C::NotFound, format!("{entity} not found")),
        E::AlreadyExists { field } => (C::AlreadyExists, format!("{field} already exists")),
        E::InvalidInput(message) => (C::InvalidInput, message),
        busy @ (E::Busy | E::ReadersBusy(_)) => (C::Unavailable, busy.to_string()),
        E::DiskFull(cause) => {
            tracing::error!(%cause, "database write refused: the disk is full");
            (C::Unavailable, "the disk is full; the write was not saved, and nothing was changed".into())
        }
        E::ReadOnly(cause) => {
            tracing::error!(%cause, "database write refused: the database is read-only");
            (C::Unavailable, "the database is read-only; the write was not saved, and nothing was changed".into())
        }
        other => {
            tracing::error!(cause = %other, "database operation failed");
            (C::Internal, "database operation failed; see the host log".into())
        }
    }
}

impl From<a2e_db::Error> for FnError {
    fn from(err: a2e_db::Error) -> Self {
        let (code, message) = storage_error(err);
        FnError::new(code.as_str(), message)
    }
}
