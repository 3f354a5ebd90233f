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

/// The HTTP status of an error code (host, plugin or server): the one table is
/// [`a2e_abi::ErrorCode`]; codes a plugin defines for its own input checks answer 400.
pub fn status_for(code: &str) -> StatusCode {
    StatusCode::from_u16(a2e_abi::http_status(code)).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
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
            HostError::UnknownPlugin(_) => ApiError::new(codes::UNKNOWN_PLUGIN, message),
            HostError::UnknownFunction { .. } => ApiError::new(codes::UNKNOWN_FUNCTION, message),
            HostError::Disabled(_) => ApiError::new(codes::PLUGIN_DISABLED, message),
            HostError::Invalid(_) | HostError::InvalidSecret(_) => ApiError::invalid(message),
            HostError::AlreadyInstalled(_) => ApiError::new(codes::ALREADY_EXISTS, message),
            HostError::CallFailed { ref failure, .. } => ApiError::new(failure.code().as_str(), message),
            HostError::Busy(_) => ApiError::new(codes::PLUGIN_BUSY, message),
            HostError::Db(db) => ApiError::from(db),
            HostError::Io { .. } | HostError::Internal(_) => ApiError::internal("plugin host", message),
        }
    }
}

impl From<a2e_db::Error> for ApiError {
    fn from(err: a2e_db::Error) -> ApiError {
        let (code, message) = a2e_host::storage_error(err);
        ApiError::new(code.as_str(), message)
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> ApiError {
        let code = match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => codes::PAYLOAD_TOO_LARGE,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => codes::UNSUPPORTED_MEDIA_TYPE,
            _ => codes::INVALID_INPUT,
        };
        ApiError::new(code, rejection.body_text())
    }
}

/// A JSON request body whose rejections are [`ApiError`]s. The body must be a JSON object (serde
/// would also read a struct from an array of its fields, which no route documents).
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> axum::extract::FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        let is_json = request
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|mime| mime.trim().to_ascii_lowercase())
            .is_some_and(|mime| {
                mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
            });
        if !is_json {
            return Err(ApiError::new(
                codes::UNSUPPORTED_MEDIA_TYPE,
                "send the body as `Content-Type: application/json`",
            ));
        }
        let bytes = axum::body::Bytes::from_request(request, state).await.map_err(|e| {
            let code = if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                codes::PAYLOAD_TOO_LARGE
            } else {
                codes::INVALID_INPUT
            };
            ApiError::new(code, e.body_text())
        })?;
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(ApiError::invalid("the request body must be a JSON object"));
        }
        // Parsed straight into the type, so duplicate fields are refused as before.
        let Json(value) = Json::<T>::from_bytes(&bytes)?;
        Ok(ApiJson(value))
    }
}

impl<T: Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        Json(self.0).into_response()
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;
