//! Calls into plugins from async handlers: off the async threads, counted in the metrics, with
//! the envelope protocol turned into [`ApiError`]s.

use std::time::Instant;

use a2e_abi::codes;
use a2e_host::{CallOptions, HostError};
use serde_json::Value;

use crate::auth::Authed;
use crate::error::{ApiError, ApiResult};
use crate::AppState;

/// The plugin serving the auth API.
pub(crate) const AUTH_PLUGIN: &str = "auth";

/// How a plugin's output reads.
pub(crate) enum Output {
    /// An envelope that succeeded, with its `data`.
    Ok(Value),
    /// An envelope that failed.
    Failed(ApiError),
    /// Not an envelope: the bytes as they are.
    Raw(Vec<u8>),
}

/// Calls `plugin.function` on a blocking thread; host-level failures (unknown plugin, trap,
/// timeout) are errors, the plugin's own answer is returned as it is.
pub(crate) async fn call_raw(
    state: &AppState,
    plugin: &str,
    function: &str,
    input: Vec<u8>,
    options: CallOptions,
) -> Result<Vec<u8>, HostError> {
    let host = state.host().clone();
    let (p, f) = (plugin.to_owned(), function.to_owned());
    let started = Instant::now();
    let result =
        tokio::task::spawn_blocking(move || host.call(&p, &f, &input, &options)).await.unwrap_or_else(|join| {
            Err(HostError::Internal(format!("the call task of {plugin}.{function} ended abnormally: {join}")))
        });
    let outcome = match &result {
        Ok(bytes) if is_failed_envelope(bytes) => "error",
        Ok(_) => "ok",
        Err(_) => "failed",
    };
    state.metrics().plugin_call(plugin, outcome, started.elapsed());
    result
}

fn is_failed_envelope(bytes: &[u8]) -> bool {
    bytes.starts_with(b"{\"success\":false")
}

/// Reads a plugin's output as an envelope when it is one.
pub(crate) fn read_output(bytes: Vec<u8>) -> Output {
    let Ok(Value::Object(mut map)) = serde_json::from_slice::<Value>(&bytes) else {
        return Output::Raw(bytes);
    };
    match map.get("success") {
        Some(Value::Bool(true)) => Output::Ok(map.remove("data").unwrap_or(Value::Null)),
        Some(Value::Bool(false)) => {
            let error = map.remove("error").unwrap_or(Value::Null);
            let code = error["code"].as_str().unwrap_or(codes::INTERNAL);
            let message = error["message"].as_str().unwrap_or("the plugin reported an error without a message");
            Output::Failed(ApiError::new(code, message))
        }
        _ => Output::Raw(bytes),
    }
}

/// Calls a function of the auth plugin with a JSON request; its error envelope becomes the error.
pub(crate) async fn auth(state: &AppState, function: &str, request: Value, client: Option<String>) -> ApiResult<Value> {
    auth_with(state, function, request, CallOptions { client_addr: client, ..Default::default() }).await
}

/// Calls a function of the auth plugin for a signed-in caller: the plugin reads who with
/// `context_get`.
pub(crate) async fn auth_for(state: &AppState, function: &str, request: Value, authed: &Authed) -> ApiResult<Value> {
    auth_with(state, function, request, authed.call_options()).await
}

async fn auth_with(state: &AppState, function: &str, request: Value, options: CallOptions) -> ApiResult<Value> {
    let input = serde_json::to_vec(&request).map_err(|e| ApiError::internal("encoding a request", e))?;
    let bytes = call_raw(state, AUTH_PLUGIN, function, input, options).await.map_err(|err| match err {
        HostError::UnknownPlugin(_) | HostError::Disabled(_) => ApiError::new(
            codes::UNAVAILABLE,
            "accounts are unavailable: the auth plugin is not installed or is disabled",
        ),
        other => ApiError::from(other),
    })?;
    match read_output(bytes) {
        Output::Ok(data) => Ok(data),
        Output::Failed(err) => Err(err),
        Output::Raw(_) => Err(ApiError::internal("the auth plugin", "it answered without an envelope")),
    }
}

/// Runs blocking work (database maintenance, installs) off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> ApiResult<T> + Send + 'static) -> ApiResult<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| ApiError::internal("a background task", e))?
}
