//! The one place where failures become HTTP answers: `{code, message}` with the matching status.

use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use a2e_abi::codes;
use a2e_host::HostError;

/// An error answer of the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Machine-readable code, such as `INVALID_INPUT`.
    pub code: String,
    /// What went wrong, for people.
    pub message: String,
}

/// The JSON body of every error answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Machine-readable code, such as `INVALID_INPUT` or `UNAUTHENTICATED`.
    pub code: String,
    /// What went wrong, for people.
    pub message: String,
}

impl ApiError {
    /// An error with the status that belongs to `code`.
    pub fn new(code: &str, message: impl Into<String>) -> ApiError {
        ApiError { status: status_for(code), code: code.to_owned(), message: message.into() }
    }

    /// 400 `INVALID_INPUT`.
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(codes::INVALID_INPUT, message)
    }

    /// 401 `UNAUTHENTICATED`.
    pub fn unauthenticated(message: impl Into<String>) -> ApiError {
        ApiError::new(codes::UNAUTHENTICATED, message)
    }

    /// 403 `PERMISSION_DENIED`.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(codes::PERMISSION_DENIED, message)
    }

    /// 500 `INTERNAL`; the cause goes to the log, not to the client.
    pub fn internal(context: &str, cause: impl std::fmt::Display) -> ApiError {
        tracing::error!(%cause, "{context}");
        ApiError::new(codes::INTERNAL, format!("{context} failed; see the server log"))
    }
}

/// The HTTP status of an error code (host, plugin or server).
pub fn status_for(code: &str) -> StatusCode {
    match code {
        codes::INVALID_INPUT | "TOKEN_IN_URL" => StatusCode::BAD_REQUEST,
        codes::UNAUTHENTICATED => StatusCode::UNAUTHORIZED,
        codes::PERMISSION_DENIED | "CSRF" => StatusCode::FORBIDDEN,
        codes::NOT_FOUND | "UNKNOWN_PLUGIN" | "UNKNOWN_FUNCTION" => StatusCode::NOT_FOUND,
        codes::USER_EXISTS | codes::ALREADY_EXISTS | codes::CONFLICT | "NAME_TAKEN" | "PLUGIN_DISABLED" => {
            StatusCode::CONFLICT
        }
        "PAYLOAD_TOO_LARGE" | codes::TOO_LARGE => StatusCode::PAYLOAD_TOO_LARGE,
        codes::RATE_LIMITED => StatusCode::TOO_MANY_REQUESTS,
        "PLUGIN_FAILED" => StatusCode::BAD_GATEWAY,
        codes::UNAVAILABLE | "PLUGIN_BUSY" | "NOT_BUILT" => StatusCode::SERVICE_UNAVAILABLE,
        "TIMEOUT" => StatusCode::REQUEST_TIMEOUT,
        codes::INTERNAL => StatusCode::INTERNAL_SERVER_ERROR,
        // Codes a plugin defines for its own input checks (EMPTY_NAME, COUNT_TOO_LARGE, ...).
        _ => StatusCode::BAD_REQUEST,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(ErrorBody { code: self.code, message: self.message })).into_response()
    }
}

impl From<HostError> for ApiError {
    fn from(err: HostError) -> ApiError {
        let message = err.to_string();
        match err {
            HostError::UnknownPlugin(_) => ApiError::new("UNKNOWN_PLUGIN", message),
            HostError::UnknownFunction { .. } => ApiError::new("UNKNOWN_FUNCTION", message),
            HostError::Disabled(_) => ApiError::new("PLUGIN_DISABLED", message),
            HostError::Invalid(_) => ApiError::invalid(message),
            HostError::AlreadyInstalled(_) => ApiError::new(codes::ALREADY_EXISTS, message),
            HostError::CallFailed { .. } => ApiError::new("PLUGIN_FAILED", message),
            HostError::Busy(_) => ApiError::new("PLUGIN_BUSY", message),
            HostError::Db(db) => ApiError::from(db),
            HostError::Io { .. } | HostError::Internal(_) => ApiError::internal("plugin host", message),
        }
    }
}

impl From<a2e_db::Error> for ApiError {
    fn from(err: a2e_db::Error) -> ApiError {
        use a2e_db::Error as E;
        match err {
            E::NotFound { entity } => ApiError::new(codes::NOT_FOUND, format!("{entity} not found")),
            E::AlreadyExists { field } => ApiError::new(codes::ALREADY_EXISTS, format!("{field} already exists")),
            E::InvalidInput(message) => ApiError::invalid(message),
            E::Busy => ApiError::new(codes::UNAVAILABLE, "database busy; retry"),
            refused @ (E::DiskFull(_) | E::ReadOnly(_)) => {
                tracing::error!(error = %refused, "database write refused");
                ApiError::new(
                    codes::UNAVAILABLE,
                    "the server cannot save data right now (disk full or read-only); nothing was changed",
                )
            }
            other => ApiError::internal("database operation", other),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> ApiError {
        let status = rejection.status();
        let code = if status == StatusCode::PAYLOAD_TOO_LARGE { "PAYLOAD_TOO_LARGE" } else { codes::INVALID_INPUT };
        ApiError { status: status_for(code), code: code.to_owned(), message: rejection.body_text() }
    }
}

/// A JSON request body whose rejections are [`ApiError`]s.
#[derive(Debug, Clone, Copy, Default, axum::extract::FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

impl<T: Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        Json(self.0).into_response()
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;
