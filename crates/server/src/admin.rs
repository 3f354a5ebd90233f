//! The admin API: database status, statistics, verification and backup; the audit log.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use a2e_db::{AuditEvent, AuditFilter, NewAuditEvent, Page};

use crate::auth::Admin;
use crate::call::blocking;
use crate::error::{ApiError, ApiJson, ApiResult, ErrorBody};
use crate::AppState;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(db_status))
        .routes(routes!(db_stats))
        .routes(routes!(db_verify))
        .routes(routes!(db_backup))
        .routes(routes!(audit))
}

/// Encryption and health of the database.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DbStatus {
    /// Database file.
    pub path: String,
    /// Whether SQLCipher encrypts it.
    pub encrypted: bool,
    /// Fingerprint of the data key (never the key).
    pub key_fingerprint: Option<String>,
    /// Where the key-encryption key comes from.
    pub key_source: String,
    /// Schema version.
    pub schema_version: u32,
    /// SQLCipher version.
    pub cipher_version: Option<String>,
    /// Whether the database answers.
    pub healthy: bool,
}

/// The schema and integrity reports of a database check.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DbVerifyReport {
    /// Whether the schema matches and every check passed.
    pub ok: bool,
    /// How the schema compares with the expected one.
    pub schema: a2e_db::SchemaReport,
    /// What the page checks found.
    pub integrity: a2e_db::IntegrityReport,
}

/// Filters and paging of the audit log.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only this event kind.
    pub kind: Option<String>,
    /// Only events of this plugin.
    pub plugin: Option<String>,
    /// Only events about this user.
    pub user_uuid: Option<String>,
    /// Only events older than this id (the next page).
    pub before_id: Option<i64>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// One audit event.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuditEventView {
    /// Sequence number.
    pub id: i64,
    /// Time, Unix ms.
    pub at: i64,
    /// Kind, such as `login.failed`.
    pub kind: String,
    /// Plugin that emitted it.
    pub plugin: Option<String>,
    /// User it concerns.
    pub user_uuid: Option<String>,
    /// Client address.
    pub client_addr: Option<String>,
    /// Details.
    pub data: serde_json::Value,
}

impl From<AuditEvent> for AuditEventView {
    fn from(e: AuditEvent) -> AuditEventView {
        AuditEventView {
            id: e.id,
            at: e.at,
            kind: e.kind,
            plugin: e.plugin,
            user_uuid: e.user_uuid,
            client_addr: e.client_addr,
            data: e.data,
        }
    }
}

/// Encryption status and health.
#[utoipa::path(get, path = "/api/admin/db/status", tag = "admin",
    responses((status = 200, body = DbStatus), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn db_status(State(state): State<AppState>, _: Admin) -> ApiResult<ApiJson<DbStatus>> {
    let db = state.host().db().clone();
    let (stats, healthy) = {
        let db = db.clone();
        blocking(move || Ok((db.stats()?, db.health().is_ok()))).await?
    };
    let key_source = match &state.inner.key_source {
        a2e_db::KeySource::Secret(_) => "secret (A2E_DB_KEY or A2E_DB_KEY_FILE)",
        a2e_db::KeySource::Passphrase(_) => "passphrase",
        a2e_db::KeySource::KeyFile(_) => "key file in the data dir (embedded default)",
    };
    Ok(ApiJson(DbStatus {
        path: db.path().display().to_string(),
        encrypted: db.is_encrypted(),
        key_fingerprint: db.key_fingerprint(),
        key_source: key_source.into(),
        schema_version: stats.schema_version,
        cipher_version: stats.cipher_version,
        healthy,
    }))
}

/// Sizes, row counts and cipher settings.
#[utoipa::path(get, path = "/api/admin/db/stats", tag = "admin",
    responses((status = 200, description = "statistics", body = a2e_db::Stats), (status = 403, body = ErrorBody)))]
async fn db_stats(State(state): State<AppState>, _: Admin) -> ApiResult<ApiJson<a2e_db::Stats>> {
    let db = state.host().db().clone();
    Ok(ApiJson(blocking(move || Ok(db.stats()?)).await?))
}

/// Checks the schema, every page (quick_check) and every page HMAC (cipher_integrity_check).
#[utoipa::path(post, path = "/api/admin/db/verify", tag = "admin",
    responses((status = 200, description = "schema and integrity reports", body = DbVerifyReport),
              (status = 403, body = ErrorBody)))]
async fn db_verify(State(state): State<AppState>, _: Admin) -> ApiResult<ApiJson<DbVerifyReport>> {
    let host = state.host().clone();
    blocking(move || {
        let db = host.db();
        let schema = db.verify_schema()?;
        let integrity = db.integrity_check()?;
        let ok = schema.ok && integrity.ok;
        Ok(ApiJson(DbVerifyReport { ok, schema, integrity }))
    })
    .await
}

/// Writes an encrypted online backup (with its key store) into `backups/` in the data dir.
#[utoipa::path(post, path = "/api/admin/db/backup", tag = "admin",
    responses((status = 200, description = "the backup report", body = a2e_db::BackupReport),
              (status = 403, body = ErrorBody)))]
async fn db_backup(State(state): State<AppState>, admin: Admin) -> ApiResult<ApiJson<a2e_db::BackupReport>> {
    let host = state.host().clone();
    let source = state.inner.key_source.clone();
    let dir = state.data_dir().join("backups");
    let now = host.state().clock.now_ms();
    let report = blocking(move || {
        let mut n = 0;
        let path = loop {
            let suffix = if n == 0 { String::new() } else { format!("-{n}") };
            let candidate = dir.join(format!("a2e-{now}{suffix}.db"));
            if !candidate.exists() {
                break candidate;
            }
            n += 1;
        };
        Ok(host.db().backup_to(&path, &source)?)
    })
    .await?;
    let event = NewAuditEvent {
        kind: "db.backup".into(),
        plugin: None,
        user_uuid: Some(admin.0.user.uuid.clone()),
        client_addr: admin.0.client.clone(),
        data: json!({ "path": report.path, "bytes": report.bytes }),
    };
    let host = state.host().clone();
    blocking(move || Ok(host.record_event(&event)?)).await?;
    Ok(ApiJson(report))
}

/// Audit events, newest first, with filters; page with `before_id`.
#[utoipa::path(get, path = "/api/admin/audit", tag = "admin", params(AuditQuery),
    responses((status = 200, body = Vec<AuditEventView>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn audit(
    State(state): State<AppState>,
    _: Admin,
    q: Result<Query<AuditQuery>, QueryRejection>,
) -> ApiResult<ApiJson<Vec<AuditEventView>>> {
    let Query(q) = q.map_err(|e| ApiError::invalid(e.body_text()))?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::invalid("limit must be between 1 and 500"));
    }
    let filter = AuditFilter { kind: q.kind, plugin: q.plugin, user_uuid: q.user_uuid, before_id: q.before_id };
    let db = state.host().db().clone();
    let events = blocking(move || Ok(db.list_audit_events(&filter, Page { limit, offset: 0 })?)).await?;
    Ok(ApiJson(events.into_iter().map(AuditEventView::from).collect()))
}
