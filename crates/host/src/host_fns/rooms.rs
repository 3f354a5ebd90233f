//! Realtime rooms: `room_create`, `room_close`, `room_list`, `room_send`, `room_kick`,
//! `room_pending`. A plugin reaches only its own rooms: every room id is looked up under the
//! calling plugin's name.

use a2e_abi as abi;

use super::CallCtx;
use crate::error::FnError;
use crate::rt::RtError;

impl From<RtError> for FnError {
    fn from(err: RtError) -> Self {
        let code = match err.code {
            abi::codes::ROOM_FULL | abi::codes::REFUSED | abi::codes::NOT_JOINED => abi::codes::CONFLICT,
            other => other,
        };
        FnError::new(code, err.message)
    }
}

pub(super) fn room_create(ctx: &CallCtx, req: abi::RoomCreate) -> Result<abi::RoomInfo, FnError> {
    let host = ctx.state.rt.link.host().ok_or_else(|| FnError::new(abi::codes::UNAVAILABLE, "the host is stopping"))?;
    let needed = if req.tick_hz > 0 { abi::EXPORT_TICK } else { abi::EXPORT_MESSAGE };
    if !host.has_export(&ctx.plugin, needed) {
        let what = if req.tick_hz > 0 { "a ticking room" } else { "a room without ticks" };
        return Err(FnError::invalid(format!("{what} needs the plugin to export `{needed}` (and list it in exports)")));
    }
    Ok(ctx.state.rt.create(&ctx.plugin, req)?)
}

pub(super) fn room_close(ctx: &CallCtx, req: abi::RoomClose) -> Result<abi::Deleted, FnError> {
    let reason = req.reason.unwrap_or_else(|| "the room was closed".into());
    Ok(abi::Deleted { deleted: ctx.state.rt.close(&ctx.plugin, &req.room, &reason) })
}

pub(super) fn room_list(ctx: &CallCtx, _: abi::Empty) -> Result<Vec<abi::RoomInfo>, FnError> {
    Ok(ctx.state.rt.rooms_of(&ctx.plugin))
}

pub(super) fn room_send(ctx: &CallCtx, req: abi::RoomSend) -> Result<abi::Count, FnError> {
    Ok(abi::Count { count: ctx.state.rt.send(&ctx.plugin, &req.room, req.to.as_deref(), &req.data)? })
}

pub(super) fn room_kick(ctx: &CallCtx, req: abi::RoomKick) -> Result<abi::Deleted, FnError> {
    Ok(abi::Deleted { deleted: ctx.state.rt.kick(&ctx.plugin, &req.room, &req.client, &req.reason)? })
}

pub(super) fn room_pending(ctx: &CallCtx, req: abi::RoomRef) -> Result<abi::RoomPending, FnError> {
    Ok(ctx.state.rt.pending(&ctx.plugin, &req.room)?)
}
