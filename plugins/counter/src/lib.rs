//! A shared counter in a realtime room: the a2e realtime template.
//!
//! Signed-in clients join a room over the `/api/rt` WebSocket and send `{"add": n}` (n from -10
//! to 10). The room ticks 10 times a second: each tick adds up what arrived since the last one
//! and, when the count changed or someone came or went, sends everyone
//! `{"count": …, "clients": …, "tick": …}`. A joining client gets the count at once. Rooms
//! are opened with the public function `open_room`, and a schedule closes rooms nobody is in.

use a2e_pdk::abi::{Empty, RoomClose, RoomCreate};
use a2e_pdk::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// What the room remembers between ticks (the host keeps it; a failed tick leaves it as it was).
#[derive(Serialize, Deserialize, Default)]
struct Counter {
    count: i64,
    clients: u32,
}

#[derive(Deserialize)]
struct OpenRoom {
    room: String,
}

/// Opens a counter room (answers the room, or ALREADY_EXISTS when it is open).
#[plugin_fn]
pub fn open_room(input: Vec<u8>) -> FnResult<Vec<u8>> {
    handle(&input, |req: OpenRoom| {
        rooms::create(&RoomCreate { room: Some(req.room), tick_hz: 10, ..Default::default() })
    })
}

/// Welcomes a client with the current count.
#[plugin_fn]
pub fn room_join(input: Vec<u8>) -> FnResult<Vec<u8>> {
    room::join(&input, |j: room::Join<Counter>| {
        let mut state = j.state;
        state.clients += 1;
        let hello = json!({ "count": state.count, "clients": state.clients });
        Ok(room::JoinAnswer::Accept(room::Effects::state(state).send_to(vec![j.client.client], &hello)))
    })
}

/// Counts the client out.
#[plugin_fn]
pub fn room_leave(input: Vec<u8>) -> FnResult<Vec<u8>> {
    room::leave(&input, |l: room::Leave<Counter>| {
        let mut state = l.state;
        state.clients = state.clients.saturating_sub(1);
        Ok(room::Effects::state(state))
    })
}

/// Adds up the inputs of one tick and tells everyone when something changed.
#[plugin_fn]
pub fn room_tick(input: Vec<u8>) -> FnResult<Vec<u8>> {
    room::tick(&input, |t: room::Tick<Counter>| {
        let mut state = t.state;
        let before = state.count;
        for message in &t.messages {
            // Bad input (a missing or out-of-range "add") is ignored, never trusted.
            let add = message.data["add"].as_i64().unwrap_or(0).clamp(-10, 10);
            state.count = state.count.saturating_add(add);
        }
        let changed = state.count != before || !t.joins.is_empty() || !t.leaves.is_empty();
        let update = json!({ "count": state.count, "clients": state.clients, "tick": t.tick });
        let effects = room::Effects::state(state);
        Ok(if changed { effects.broadcast(&update) } else { effects })
    })
}

/// Runs on the schedule in Cargo.toml: closes rooms nobody is in.
#[plugin_fn]
pub fn close_empty_rooms(input: Vec<u8>) -> FnResult<Vec<u8>> {
    handle(&input, |_: Value| {
        let mut closed = 0;
        for info in rooms::list(&Empty {})? {
            if info.clients == 0 {
                rooms::close(&RoomClose { room: info.room, reason: Some("nobody was here".into()) })?;
                closed += 1;
            }
        }
        Ok(json!({ "closed": closed }))
    })
}
