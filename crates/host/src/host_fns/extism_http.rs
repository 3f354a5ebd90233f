//! Extism's own HTTP functions (`http_request`, `http_status_code` and `http_headers` in
//! `extism:host/env`), defined again over a2e's outbound HTTP, so that a plugin built with
//! Extism's PDK (`extism_pdk::http::request`) gets the same rules as one calling a2e's
//! `http_request`: the `http:` grants, the address checks, every redirect checked, the time and
//! size limits. Extism's ABI has no error value for these functions, so a refusal or failure
//! fails the plugin call, with a2e's code and message (for example `PERMISSION_DENIED: plugin
//! `x` has no http: grant covering https://api.example.com`).

use std::collections::BTreeMap;

use a2e_abi::{self as abi, Envelope};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use extism::{CurrentPlugin, Function, UserData, Val, ValType};
use serde::Deserialize;

use super::{dispatch, CallCtx, HANDLERS};

/// The namespace of Extism's built-in functions.
const EXTISM_ENV: &str = "extism:host/env";

/// The head of the last response an Extism-PDK request got during the current call, which
/// `http_status_code` and `http_headers` answer.
#[derive(Debug, Default)]
pub struct LastResponse {
    status: u16,
    headers: BTreeMap<String, String>,
}

/// Extism's JSON request (`extism_manifest::HttpRequest`).
#[derive(Deserialize)]
struct ExtismRequest {
    url: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    method: Option<String>,
}

/// The three functions, in Extism's namespace; defined after Extism's own, they replace them.
pub(super) fn functions() -> Vec<Function> {
    vec![
        Function::new("http_request", [ValType::I64, ValType::I64], [ValType::I64], UserData::new(()), http_request)
            .with_namespace(EXTISM_ENV),
        Function::new("http_status_code", [], [ValType::I32], UserData::new(()), http_status_code)
            .with_namespace(EXTISM_ENV),
        Function::new("http_headers", [], [ValType::I64], UserData::new(()), http_headers).with_namespace(EXTISM_ENV),
    ]
}

/// Reads the bytes at the handle `offset` and frees them (Extism's functions own their inputs);
/// `None` for offset 0, Extism's "no body".
fn take(plugin: &mut CurrentPlugin, offset: Option<&Val>) -> Result<Option<Vec<u8>>, extism::Error> {
    let offset = match offset {
        Some(Val::I64(0)) | None => return Ok(None),
        Some(Val::I64(offset)) => *offset as u64,
        Some(other) => {
            return Err(extism::Error::msg(format!("INVALID_INPUT: expected a memory offset, got {other:?}")))
        }
    };
    let handle = plugin
        .memory_handle(offset)
        .ok_or_else(|| extism::Error::msg(format!("INVALID_INPUT: no memory block at offset {offset}")))?;
    let bytes = plugin.memory_bytes(handle)?.to_vec();
    plugin.memory_free(handle)?;
    Ok(Some(bytes))
}

fn http_request(
    plugin: &mut CurrentPlugin,
    inputs: &[Val],
    outputs: &mut [Val],
    _: UserData<()>,
) -> Result<(), extism::Error> {
    let request = take(plugin, inputs.first())?
        .ok_or_else(|| extism::Error::msg("INVALID_INPUT: http_request was called without a request"))?;
    let body = take(plugin, inputs.get(1))?;
    let request: ExtismRequest = serde_json::from_slice(&request).map_err(|e| {
        extism::Error::msg(format!("INVALID_INPUT: the HTTP request is not Extism's JSON request: {e}"))
    })?;
    let request = abi::HttpRequest {
        method: request.method.unwrap_or_else(|| "GET".into()).to_ascii_uppercase(),
        url: request.url,
        headers: request.headers,
        body: body.map(|bytes| B64.encode(bytes)),
        base64: true,
        timeout_ms: 0,
        max_bytes: 0,
    };
    let input = serde_json::to_vec(&request)?;
    let spec = a2e_abi::functions::find("http_request").expect("http_request is in the ABI table");
    let handler = HANDLERS.iter().find(|(name, _)| *name == spec.name).expect("every function has a handler").1;
    let ctx = plugin.host_context::<CallCtx>()?;
    let answer: Envelope<abi::HttpResponse> = serde_json::from_slice(&dispatch(spec, handler, ctx, &input))?;
    let response = answer.into_result().map_err(|err| extism::Error::msg(format!("{}: {}", err.code, err.message)))?;
    let body = B64.decode(response.body)?;
    ctx.last_http = LastResponse { status: response.status, headers: response.headers };
    let memory = plugin.memory_new(&body)?;
    let out = outputs.first_mut().ok_or_else(|| extism::Error::msg("http_request has no result slot"))?;
    *out = Val::I64(memory.offset() as i64);
    Ok(())
}

fn http_status_code(
    plugin: &mut CurrentPlugin,
    _: &[Val],
    outputs: &mut [Val],
    _: UserData<()>,
) -> Result<(), extism::Error> {
    let status = plugin.host_context::<CallCtx>()?.last_http.status;
    let out = outputs.first_mut().ok_or_else(|| extism::Error::msg("http_status_code has no result slot"))?;
    *out = Val::I32(i32::from(status));
    Ok(())
}

fn http_headers(
    plugin: &mut CurrentPlugin,
    _: &[Val],
    outputs: &mut [Val],
    _: UserData<()>,
) -> Result<(), extism::Error> {
    let headers = serde_json::to_string(&plugin.host_context::<CallCtx>()?.last_http.headers)?;
    let out = outputs.first_mut().ok_or_else(|| extism::Error::msg("http_headers has no result slot"))?;
    plugin.memory_set_val(out, headers)?;
    Ok(())
}
