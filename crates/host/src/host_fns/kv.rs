//! The per-plugin key-value store: keys are namespaced by the calling plugin's name, so one
//! plugin can never read or write another's keys.

use a2e_abi as abi;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

use super::CallCtx;
use crate::error::FnError;

pub(super) fn kv_get(ctx: &CallCtx, req: abi::ByKey) -> Result<abi::KvValue, FnError> {
    let entry = ctx.state.db.kv_get(&ctx.plugin, &req.key)?;
    Ok(abi::KvValue { value: entry.map(|e| B64.encode(e.value)) })
}

pub(super) fn kv_set(ctx: &CallCtx, req: abi::KvSet) -> Result<abi::Empty, FnError> {
    let value = B64.decode(req.value.as_bytes()).map_err(|e| FnError::invalid(format!("value is not base64: {e}")))?;
    ctx.state.db.kv_set(&ctx.plugin, &req.key, &value, ctx.state.clock.now_ms())?;
    Ok(abi::Empty {})
}

pub(super) fn kv_delete(ctx: &CallCtx, req: abi::ByKey) -> Result<abi::Deleted, FnError> {
    Ok(abi::Deleted { deleted: ctx.state.db.kv_delete(&ctx.plugin, &req.key)? })
}

pub(super) fn kv_list(ctx: &CallCtx, req: abi::KvList) -> Result<Vec<abi::KvEntry>, FnError> {
    let page = a2e_db::Page { limit: req.page.limit, offset: req.page.offset };
    let entries = ctx.state.db.kv_list_after(&ctx.plugin, &req.prefix, req.after.as_deref(), page)?;
    Ok(entries
        .into_iter()
        .map(|e| abi::KvEntry { key: e.key, value: B64.encode(e.value), updated_at: e.updated_at })
        .collect())
}
