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
    #[error("plugin `{plugin}` failed in `{function}`: {message}")]
    CallFailed {
        /// Plugin name.
        plugin: String,
        /// Function name.
        function: String,
        /// What happened.
        message: String,
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

/// The single mapping from storage errors to envelope error codes.
impl From<a2e_db::Error> for FnError {
    fn from(err: a2e_db::Error) -> Self {
        use a2e_db::Error as E;
        match err {
            E::NotFound { entity } => FnError::new(codes::NOT_FOUND, format!("{entity} not found")),
            E::AlreadyExists { field } => FnError::new(codes::ALREADY_EXISTS, format!("{field} already exists")),
            E::InvalidInput(message) => FnError::invalid(message),
            E::Busy => FnError::new(codes::UNAVAILABLE, "database busy; retry"),
            E::DiskFull(_) => FnError::new(codes::UNAVAILABLE, "the host's disk is full; the write was not saved"),
            E::ReadOnly(_) => {
                FnError::new(codes::UNAVAILABLE, "the host's database is read-only; the write was not saved")
            }
            other => FnError::internal("database operation", other),
        }
    }
}
