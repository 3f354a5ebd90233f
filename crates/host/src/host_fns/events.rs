//! `event_emit`: records an audit event (with the plugin name and client address of the call)
//! and publishes it to in-process subscribers.

use a2e_abi as abi;

use super::CallCtx;
use crate::error::FnError;

pub(super) fn event_emit(ctx: &CallCtx, req: abi::EmitEvent) -> Result<abi::EventId, FnError> {
    if !req.data.is_null() && !req.data.is_object() {
        return Err(FnError::invalid("data must be a JSON object"));
    }
    let event = a2e_db::NewAuditEvent {
        kind: req.kind,
        plugin: Some(ctx.plugin.to_string()),
        user_uuid: req.user_uuid,
        client_addr: ctx.client_addr.as_deref().map(str::to_owned),
        data: req.data,
    };
    let recorded = ctx.state.db.record_audit_event(&event, ctx.state.clock.now_ms())?;
    ctx.state.publish(&recorded);
    Ok(abi::EventId { id: recorded.id })
}
