//! The plugin API: list, upload-install, remove, enable/disable, grants and secrets
//! (administrators), and calls (administrators: any export; other users: the functions a plugin marks public).

use axum::body::Bytes;
use axum::extract::multipart::MultipartRejection;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use a2e_abi::{codes, GrantSpec};
use a2e_db::NewAuditEvent;
use a2e_host::{InstallOptions, PluginInfo};

use crate::auth::{Admin, Authed};
use crate::call::{self, blocking, Output};
use crate::error::{ApiError, ApiJson, ApiResult, ErrorBody};
use crate::AppState;

pub(crate) fn routes(upload_limit: usize) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .merge(OpenApiRouter::new().routes(routes!(install)).layer(DefaultBodyLimit::max(upload_limit)))
        .routes(routes!(info, remove))
        .routes(routes!(enable))
        .routes(routes!(disable))
        .routes(routes!(grants, add_grant))
        .routes(routes!(revoke_grant))
        .routes(routes!(call_function))
        .routes(routes!(secrets))
        .routes(routes!(set_secret, delete_secret))
}

/// An installed plugin as the API shows it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PluginView {
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Description.
    pub description: String,
    /// Exported functions.
    pub exports: Vec<String>,
    /// Functions any signed-in user may call.
    pub public: Vec<String>,
    /// Grants the manifest asks for.
    pub requested_grants: Vec<String>,
    /// Grants held now.
    pub granted: Vec<String>,
    /// Whether calls are accepted.
    pub enabled: bool,
    /// SHA-256 of the module.
    pub sha256: String,
    /// Module size, bytes.
    pub wasm_bytes: usize,
    /// Realtime activity: rooms, ticks, clients, messages, events, schedule runs.
    pub realtime: RealtimeView,
}

/// A plugin's realtime counters (since the server started).
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct RealtimeView {
    /// Rooms open now.
    pub rooms: usize,
    /// Clients in its rooms now.
    pub clients: u64,
    /// Ticks run.
    pub ticks: u64,
    /// Ticks skipped because they could not start within their period.
    pub ticks_skipped: u64,
    /// Ticks started more than a quarter period late.
    pub ticks_late: u64,
    /// Room calls (join, leave, message, tick) that failed.
    pub room_calls_failed: u64,
    /// Client messages received.
    pub messages_in: u64,
    /// Messages sent to clients.
    pub messages_out: u64,
    /// Bytes sent to clients.
    pub bytes_out: u64,
    /// Client messages dropped from full input queues.
    pub dropped_inputs: u64,
    /// Events delivered to its subscriptions.
    pub events_delivered: u64,
    /// Event deliveries that failed.
    pub events_failed: u64,
    /// Events dropped from its full subscription queues.
    pub events_dropped: u64,
    /// Scheduled runs.
    pub schedule_runs: u64,
    /// Scheduled runs skipped.
    pub schedule_skipped: u64,
    /// Scheduled runs that failed.
    pub schedule_failed: u64,
}

impl From<PluginInfo> for PluginView {
    fn from(p: PluginInfo) -> PluginView {
        PluginView {
            name: p.name,
            version: p.version,
            description: p.description,
            exports: p.exports,
            public: p.public,
            requested_grants: p.requested_grants,
            granted: p.granted,
            enabled: p.enabled,
            sha256: p.sha256,
            wasm_bytes: p.wasm_bytes,
            realtime: RealtimeView {
                rooms: p.rooms,
                clients: p.realtime.clients,
                ticks: p.realtime.ticks,
                ticks_skipped: p.realtime.skipped,
                ticks_late: p.realtime.late,
                room_calls_failed: p.realtime.failed,
                messages_in: p.realtime.messages_in,
                messages_out: p.realtime.messages_out,
                bytes_out: p.realtime.bytes_out,
                dropped_inputs: p.realtime.dropped_inputs,
                events_delivered: p.realtime.events_delivered,
                events_failed: p.realtime.events_failed,
                events_dropped: p.realtime.events_dropped,
                schedule_runs: p.realtime.schedule_runs,
                schedule_skipped: p.realtime.schedule_skipped,
                schedule_failed: p.realtime.schedule_failed,
            },
        }
    }
}

/// A grant to give.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct GrantRequest {
    /// Grant name, such as `kv`, `db:users`, `call:auth` or `subscribe:auth.`.
    pub grant: String,
}

/// The answer to a removal.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PluginRemoved {
    /// Name of the plugin that was removed.
    pub removed: String,
}

/// The grants a plugin holds and the ones its manifest asks for.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PluginGrants {
    /// Grants held now.
    pub granted: Vec<String>,
    /// Grants the manifest asks for.
    pub requested: Vec<String>,
}

/// Options of a removal.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RemoveQuery {
    /// Also delete the plugin's key-value data and grants.
    #[serde(default)]
    pub purge: bool,
}

fn parse_grant(name: &str) -> ApiResult<GrantSpec> {
    GrantSpec::parse(name).map_err(ApiError::invalid)
}

async fn audit(state: &AppState, admin: &Admin, kind: &'static str, plugin: &str, data: serde_json::Value) {
    let event = NewAuditEvent {
        kind: kind.into(),
        plugin: Some(plugin.into()),
        user_uuid: Some(admin.0.user.uuid.clone()),
        client_addr: admin.0.client.clone(),
        data,
    };
    let host = state.host().clone();
    let recorded = blocking(move || Ok(host.record_event(&event)?)).await;
    if let Err(err) = recorded {
        tracing::warn!(err = %err.message, kind, "could not record an audit event");
    }
}

/// A change to an installed plugin that could take away the way people sign in.
#[derive(Debug, Clone)]
pub enum PluginChange {
    /// Disabling it.
    Disable,
    /// Removing it.
    Remove,
    /// Revoking one of its grants.
    Revoke(GrantSpec),
}

/// Why `change` to plugin `name` would lock every account out, or `None` when it would not. The
/// plugin that signs people in may not be disabled or removed, nor lose a grant its manifest asks
/// for, through the API; the CLI may, with `--force`, from a shell on the machine.
pub fn sign_in_lockout(host: &a2e_host::Host, name: &str, change: &PluginChange) -> Option<String> {
    if name != call::AUTH_PLUGIN {
        return None;
    }
    let what = match change {
        PluginChange::Disable => "disabling it".to_owned(),
        PluginChange::Remove => "removing it".to_owned(),
        PluginChange::Revoke(grant) => {
            let requested = host.manifest(name).ok()?.grant_set().ok()?;
            if !requested.contains(grant) {
                return None;
            }
            format!("revoking `{}`, which it needs,", grant.as_string())
        }
    };
    Some(format!(
        "plugin `{name}` signs people in: {what} would lock every account out, the administrators' \
         included; from a shell on the server, `a2e plugin` can do it with --force"
    ))
}

fn refuse_lockout(state: &AppState, name: &str, change: &PluginChange) -> ApiResult<()> {
    match sign_in_lockout(state.host(), name, change) {
        Some(message) => Err(ApiError::new(codes::SIGN_IN_PROVIDER, message)),
        None => Ok(()),
    }
}

/// Installed plugins. Every signed-in user may list them (to find public functions).
#[utoipa::path(get, path = "/api/plugins", tag = "plugins",
    responses((status = 200, body = Vec<PluginView>), (status = 401, body = ErrorBody)))]
async fn list(State(state): State<AppState>, _: Authed) -> ApiResult<ApiJson<Vec<PluginView>>> {
    let host = state.host().clone();
    let list = blocking(move || Ok(host.list()?)).await?;
    Ok(ApiJson(list.into_iter().map(PluginView::from).collect()))
}

/// A yes/no field of the upload form: `true` or `false`.
fn form_bool(name: &str, value: &[u8]) -> ApiResult<bool> {
    match value {
        b"true" => Ok(true),
        b"false" => Ok(false),
        _ => Err(ApiError::invalid(format!("the `{name}` field must be `true` or `false`"))),
    }
}

/// The fields of a plugin upload (`multipart/form-data`).
#[derive(ToSchema)]
#[allow(dead_code)] // describes the form for the OpenAPI document; `install` reads it field by field
struct PluginUpload {
    /// The WebAssembly module (a file field; its name should end in `.wasm`).
    #[schema(value_type = String, format = Binary)]
    wasm: Vec<u8>,
    /// The plugin.json that goes with it; without it the module is installed with no grants and
    /// every export.
    #[schema(value_type = String, format = Binary, required = false)]
    manifest: Option<Vec<u8>>,
    /// `true` to hot-replace an installed version.
    #[schema(value_type = bool, required = false)]
    replace: Option<bool>,
    /// `true` to grant what the manifest requests.
    #[schema(value_type = bool, required = false)]
    grant: Option<bool>,
}

/// Installs a plugin from a multipart upload: `wasm` (the module, required), `manifest` (its
/// plugin.json; without it the module is installed with no grants and every export),
/// `replace` ("true" to hot-replace an installed version) and `grant` ("true" to grant what the
/// manifest requests).
#[utoipa::path(post, path = "/api/plugins", tag = "plugins",
    request_body(content = PluginUpload, content_type = "multipart/form-data"),
    responses((status = 200, body = PluginView), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 413, body = ErrorBody)))]
async fn install(
    State(state): State<AppState>,
    admin: Admin,
    form: Result<Multipart, MultipartRejection>,
) -> ApiResult<ApiJson<PluginView>> {
    let mut form = form.map_err(|e| ApiError::invalid(e.body_text()))?;
    let mut wasm: Option<(String, Bytes)> = None;
    let mut manifest: Option<Bytes> = None;
    let mut options = InstallOptions::default();
    let field_error = |e: axum::extract::multipart::MultipartError| {
        let status = e.status();
        if status == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(codes::PAYLOAD_TOO_LARGE, e.body_text())
        } else {
            ApiError::invalid(format!("bad upload: {}", e.body_text()))
        }
    };
    while let Some(field) = form.next_field().await.map_err(field_error)? {
        let name = field.name().unwrap_or_default().to_owned();
        let file_name = field.file_name().map(str::to_owned);
        let bytes = field.bytes().await.map_err(field_error)?;
        match name.as_str() {
            "wasm" => wasm = Some((file_name.unwrap_or_else(|| "plugin.wasm".into()), bytes)),
            "manifest" => manifest = Some(bytes),
            "replace" => options.replace = form_bool("replace", &bytes)?,
            "grant" => options.grant_requested = form_bool("grant", &bytes)?,
            other => return Err(ApiError::invalid(format!("unexpected form field `{other}`"))),
        }
    }
    let (file_name, wasm) = wasm.ok_or_else(|| ApiError::invalid("the upload needs a `wasm` file field"))?;
    let file_name: String = std::path::Path::new(&file_name)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".wasm"))
        .unwrap_or_else(|| "plugin.wasm".into());
    let manifest = match manifest {
        Some(bytes) => {
            Some(String::from_utf8(bytes.to_vec()).map_err(|_| ApiError::invalid("plugin.json is not UTF-8"))?)
        }
        None => None,
    };
    let host = state.host().clone();
    let info = blocking(move || {
        let source = host.inspect_bytes(manifest.as_deref(), &file_name, wasm.to_vec())?;
        Ok(host.install_source(source, &options)?)
    })
    .await?;
    audit(&state, &admin, "plugin.installed", &info.name, json!({ "version": info.version, "sha256": info.sha256 }))
        .await;
    Ok(ApiJson(info.into()))
}

/// One installed plugin.
#[utoipa::path(get, path = "/api/plugins/{name}", tag = "plugins", params(("name" = String, Path, description = "Plugin name")),
    responses((status = 200, body = PluginView), (status = 404, body = ErrorBody)))]
async fn info(State(state): State<AppState>, _: Authed, Path(name): Path<String>) -> ApiResult<ApiJson<PluginView>> {
    Ok(ApiJson(plugin_view(&state, name).await?))
}

async fn plugin_view(state: &AppState, name: String) -> ApiResult<PluginView> {
    let host = state.host().clone();
    blocking(move || Ok(host.info(&name)?.into())).await
}

/// Removes a plugin (`?purge=true` also deletes its data and grants).
#[utoipa::path(delete, path = "/api/plugins/{name}", tag = "plugins",
    params(("name" = String, Path, description = "Plugin name"), RemoveQuery),
    responses((status = 200, description = "removed", body = PluginRemoved), (status = 404, body = ErrorBody),
              (status = 403, body = ErrorBody),
              (status = 409, description = "SIGN_IN_PROVIDER: the plugin signs people in", body = ErrorBody)))]
async fn remove(
    State(state): State<AppState>,
    admin: Admin,
    Path(name): Path<String>,
    q: Result<Query<RemoveQuery>, QueryRejection>,
) -> ApiResult<ApiJson<PluginRemoved>> {
    let Query(q) = q.map_err(|e| ApiError::invalid(e.body_text()))?;
    refuse_lockout(&state, &name, &PluginChange::Remove)?;
    let host = state.host().clone();
    let n = name.clone();
    blocking(move || Ok(host.remove(&n, q.purge)?)).await?;
    audit(&state, &admin, "plugin.removed", &name, json!({ "purge": q.purge })).await;
    Ok(ApiJson(PluginRemoved { removed: name }))
}

/// Accepts calls again.
#[utoipa::path(post, path = "/api/plugins/{name}/enable", tag = "plugins", params(("name" = String, Path, description = "Plugin name")),
    responses((status = 200, body = PluginView), (status = 404, body = ErrorBody)))]
async fn enable(
    State(state): State<AppState>,
    admin: Admin,
    Path(name): Path<String>,
) -> ApiResult<ApiJson<PluginView>> {
    let host = state.host().clone();
    let n = name.clone();
    let info = blocking(move || Ok(host.set_enabled(&n, true)?)).await?;
    audit(&state, &admin, "plugin.enabled", &name, json!({})).await;
    Ok(ApiJson(info.into()))
}

/// Refuses calls until enabled.
#[utoipa::path(post, path = "/api/plugins/{name}/disable", tag = "plugins", params(("name" = String, Path, description = "Plugin name")),
    responses((status = 200, body = PluginView), (status = 404, body = ErrorBody),
              (status = 409, description = "SIGN_IN_PROVIDER: the plugin signs people in", body = ErrorBody)))]
async fn disable(
    State(state): State<AppState>,
    admin: Admin,
    Path(name): Path<String>,
) -> ApiResult<ApiJson<PluginView>> {
    refuse_lockout(&state, &name, &PluginChange::Disable)?;
    let host = state.host().clone();
    let n = name.clone();
    let info = blocking(move || Ok(host.set_enabled(&n, false)?)).await?;
    audit(&state, &admin, "plugin.disabled", &name, json!({})).await;
    Ok(ApiJson(info.into()))
}

/// Grants held and requested.
#[utoipa::path(get, path = "/api/plugins/{name}/grants", tag = "plugins", params(("name" = String, Path, description = "Plugin name")),
    responses((status = 200, description = "granted and requested grants", body = PluginGrants),
              (status = 404, body = ErrorBody)))]
async fn grants(State(state): State<AppState>, _: Admin, Path(name): Path<String>) -> ApiResult<ApiJson<PluginGrants>> {
    let info = plugin_view(&state, name).await?;
    Ok(ApiJson(PluginGrants { granted: info.granted, requested: info.requested_grants }))
}

/// Gives a grant.
#[utoipa::path(post, path = "/api/plugins/{name}/grants", tag = "plugins", params(("name" = String, Path, description = "Plugin name")),
    request_body = GrantRequest,
    responses((status = 200, body = PluginView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn add_grant(
    State(state): State<AppState>,
    admin: Admin,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<GrantRequest>,
) -> ApiResult<ApiJson<PluginView>> {
    let grant = parse_grant(&req.grant)?;
    let host = state.host().clone();
    let (n, g) = (name.clone(), grant.clone());
    blocking(move || Ok(host.grant(&n, std::slice::from_ref(&g))?)).await?;
    audit(&state, &admin, "grant.added", &name, json!({ "grant": grant.as_string() })).await;
    Ok(ApiJson(plugin_view(&state, name).await?))
}

/// Revokes a grant; the plugin's next call sees PERMISSION_DENIED from the host functions it covers.
#[utoipa::path(delete, path = "/api/plugins/{name}/grants/{grant}", tag = "plugins",
    params(("name" = String, Path, description = "Plugin name"), ("grant" = String, Path, description = "Grant name")),
    responses((status = 200, body = PluginView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, description = "SIGN_IN_PROVIDER: the plugin signs people in", body = ErrorBody)))]
async fn revoke_grant(
    State(state): State<AppState>,
    admin: Admin,
    Path((name, grant)): Path<(String, String)>,
) -> ApiResult<ApiJson<PluginView>> {
    let grant = parse_grant(&grant)?;
    refuse_lockout(&state, &name, &PluginChange::Revoke(grant.clone()))?;
    let host = state.host().clone();
    let (n, g) = (name.clone(), grant.clone());
    if !blocking(move || Ok(host.revoke(&n, g)?)).await? {
        return Err(ApiError::new(codes::NOT_FOUND, format!("plugin `{name}` does not hold `{}`", grant.as_string())));
    }
    audit(&state, &admin, "grant.revoked", &name, json!({ "grant": grant.as_string() })).await;
    Ok(ApiJson(plugin_view(&state, name).await?))
}

/// A secret an administrator gave a plugin, as the API shows it: never its value.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SecretInfo {
    /// The secret's name.
    pub name: String,
    /// The only origin (`scheme://host[:port]`) the host sends it to.
    pub origin: String,
    /// When it was last set, Unix ms.
    pub updated_at: i64,
}

impl From<a2e_abi::SecretInfo> for SecretInfo {
    fn from(s: a2e_abi::SecretInfo) -> SecretInfo {
        SecretInfo { name: s.name, origin: s.origin, updated_at: s.updated_at }
    }
}

/// A secret to store for a plugin.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SecretRequest {
    /// The value, such as an API key: 1-4096 visible ASCII characters or spaces. It is never
    /// returned by the API and never enters the plugin's memory.
    #[schema(min_length = 1, max_length = 4096, pattern = "^[ -~]+$")]
    pub value: String,
    /// `scheme://host[:port]` (http or https, no path): the only origin the host sends it to.
    #[schema(min_length = 1, max_length = 2048, pattern = "^https?://[^/?#@\\s]+/?$")]
    pub origin: String,
}

/// The plugin and the secret a route names.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct SecretPath {
    /// Plugin name.
    pub name: String,
    /// Secret name: 1-64 of a-z, 0-9, '.', '_' and '-', starting with a letter or digit.
    #[param(pattern = "^[a-z0-9][a-z0-9._-]{0,63}$")]
    pub secret: String,
}

/// Whether a secret was deleted.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SecretDeleted {
    /// True when the secret existed.
    pub deleted: bool,
}

/// The secrets of a plugin: names and origins, never values.
#[utoipa::path(get, path = "/api/plugins/{name}/secrets", tag = "plugins",
    params(("name" = String, Path, description = "Plugin name")),
    responses((status = 200, body = Vec<SecretInfo>), (status = 404, body = ErrorBody)))]
async fn secrets(
    State(state): State<AppState>,
    _: Admin,
    Path(name): Path<String>,
) -> ApiResult<ApiJson<Vec<SecretInfo>>> {
    let host = state.host().clone();
    let list = blocking(move || Ok(host.secrets(&name)?)).await?;
    Ok(ApiJson(list.into_iter().map(SecretInfo::from).collect()))
}

/// Stores (or replaces) a secret of a plugin, such as a model provider's API key. A request
/// header of the plugin that contains `{{secret:<name>}}` gets the value in its place, only when
/// the request goes to the secret's origin.
#[utoipa::path(put, path = "/api/plugins/{name}/secrets/{secret}", tag = "plugins", params(SecretPath),
    request_body = SecretRequest,
    responses((status = 200, body = SecretInfo), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn set_secret(
    State(state): State<AppState>,
    admin: Admin,
    Path(path): Path<SecretPath>,
    ApiJson(req): ApiJson<SecretRequest>,
) -> ApiResult<ApiJson<SecretInfo>> {
    let host = state.host().clone();
    let (plugin, secret) = (path.name.clone(), path.secret.clone());
    let info = blocking(move || Ok(host.set_secret(&plugin, &secret, &req.value, &req.origin)?)).await?;
    audit(&state, &admin, "secret.set", &path.name, json!({ "name": info.name, "origin": info.origin })).await;
    Ok(ApiJson(info.into()))
}

/// Deletes a secret of a plugin.
#[utoipa::path(delete, path = "/api/plugins/{name}/secrets/{secret}", tag = "plugins", params(SecretPath),
    responses((status = 200, body = SecretDeleted), (status = 404, body = ErrorBody)))]
async fn delete_secret(
    State(state): State<AppState>,
    admin: Admin,
    Path(path): Path<SecretPath>,
) -> ApiResult<ApiJson<SecretDeleted>> {
    let host = state.host().clone();
    let (plugin, secret) = (path.name.clone(), path.secret.clone());
    let deleted = blocking(move || Ok(host.delete_secret(&plugin, &secret)?)).await?;
    if deleted {
        audit(&state, &admin, "secret.deleted", &path.name, json!({ "name": path.secret })).await;
    }
    Ok(ApiJson(SecretDeleted { deleted }))
}

/// Calls a plugin function with the request body as its input. Administrators may call every
/// export; other users only the functions the plugin marks public. A plugin's error envelope
/// becomes an error answer with its code; other output is returned as it is. Input and output are
/// free-form: each function defines its own, so the document gives them no schema.
#[utoipa::path(post, path = "/api/plugins/{name}/call/{function}", tag = "plugins",
    params(("name" = String, Path, description = "Plugin name"), ("function" = String, Path, description = "Exported function")),
    request_body(content = serde_json::Value, description = "the function's input: free-form JSON, no fixed schema"),
    responses((status = 200, description = "the function's own output: free-form, no fixed schema (JSON or raw bytes)"),
              (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 502, body = ErrorBody),
              (status = 409, description = "PLUGIN_DISABLED, or the plugin's own CONFLICT-class code", body = ErrorBody),
              (status = 429, description = "the plugin's RATE_LIMITED", body = ErrorBody),
              (status = 504, description = "PLUGIN_TIMEOUT: the call ran past the plugin's time limit", body = ErrorBody)))]
async fn call_function(
    State(state): State<AppState>,
    authed: Authed,
    Path((name, function)): Path<(String, String)>,
    input: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let input = input.map_err(|e| {
        let code = if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            codes::PAYLOAD_TOO_LARGE
        } else {
            codes::INVALID_INPUT
        };
        ApiError::new(code, e.body_text())
    })?;
    if authed.user.role != "admin" && !state.host().is_public(&name, &function)? {
        return Err(ApiError::forbidden(format!("`{name}.{function}` is not a public function")));
    }
    let output = call::call_raw(&state, &name, &function, input.to_vec(), authed.call_options()).await?;
    Ok(match call::read_output(output) {
        Output::Ok(data) => ApiJson(data).into_response(),
        Output::Failed(err) => err.into_response(),
        Output::Raw(bytes) => {
            let kind = if serde_json::from_slice::<serde_json::Value>(&bytes).is_ok() {
                "application/json"
            } else {
                "application/octet-stream"
            };
            ([(header::CONTENT_TYPE, kind)], bytes).into_response()
        }
    })
}
