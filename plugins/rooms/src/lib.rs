//! Test guest for a2e's realtime tests and benchmark. Its rooms echo and count what clients
//! send, misbehave when a message asks (trap, spin, fail, busy-wait), and it records the events
//! and scheduled runs the host delivers into its key-value store, where tests read them.

use std::collections::BTreeMap;

use a2e_pdk::abi::*;
use a2e_pdk::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The state every room of this guest keeps.
#[derive(Serialize, Deserialize, Default, Debug)]
struct State {
    #[serde(default)]
    ticks: u64,
    #[serde(default)]
    inputs: u64,
    #[serde(default)]
    dropped: u64,
    #[serde(default)]
    joins: u64,
    #[serde(default)]
    leaves: u64,
    #[serde(default)]
    members: Vec<String>,
    #[serde(default)]
    denied: u64,
    #[serde(default)]
    version: Option<String>,
    /// Broadcast on every tick, not only when something happened.
    #[serde(default)]
    every_tick: bool,
    /// Positions by client (the benchmark's per-input work).
    #[serde(default)]
    positions: BTreeMap<String, [i64; 2]>,
}

fn busy_ms(ms: i64) -> Result<()> {
    let until = time::now()? + ms;
    while time::now()? < until {}
    Ok(())
}

/// Tells the room it is waiting, then waits (up to 5 s) until a client asks to join; answers
/// what `room_pending` saw then.
fn wait_for_join(room: &str) -> Result<RoomPending> {
    rooms::send(room, None, &json!({ "waiting": true }))?;
    let until = time::now()? + 5000;
    let waiting = RoomRef { room: room.to_owned() };
    loop {
        let pending = rooms::pending(&waiting)?;
        if pending.joins > 0 || time::now()? > until {
            return Ok(pending);
        }
    }
}

/// Applies one client command to the state; returns a reason to close the room, if asked.
fn command(state: &mut State, from: &str, data: &Value) -> Result<Option<String>> {
    match data["cmd"].as_str() {
        Some("trap") => panic!("trap requested by a client"),
        Some("spin") => loop {
            std::hint::black_box(0);
        },
        Some("fail") => return Err(error("FAILED", "a client asked this call to fail")),
        Some("busy_ms") => busy_ms(data["ms"].as_i64().unwrap_or(0))?,
        Some("now") if time::now().is_err() => state.denied += 1,
        Some("version") => state.version = config::get("version").ok().flatten(),
        Some("close") => return Ok(Some(data["reason"].as_str().unwrap_or("closed by request").to_owned())),
        _ => {}
    }
    if let Some([dx, dy]) = data["move"].as_array().map(|a| [a.first(), a.get(1)]) {
        let clamp = |v: Option<&Value>| v.and_then(Value::as_i64).unwrap_or(0).clamp(-5, 5);
        let p = state.positions.entry(from.to_owned()).or_insert([0, 0]);
        p[0] = (p[0] + clamp(dx)).clamp(-1000, 1000);
        p[1] = (p[1] + clamp(dy)).clamp(-1000, 1000);
    }
    Ok(None)
}

/// Counts joins and leaves, applies every message, and broadcasts a summary with the sequence
/// numbers it acknowledges per client.
#[plugin_fn]
pub fn room_tick(input: Vec<u8>) -> FnResult<Vec<u8>> {
    room::tick(&input, |t: room::Tick<State>| {
        let mut state = t.state;
        state.ticks += 1;
        state.joins += t.joins.len() as u64;
        state.leaves += t.leaves.len() as u64;
        state.dropped += t.dropped;
        state.inputs += t.messages.len() as u64;
        let mut acks = serde_json::Map::new();
        let mut close = None;
        let mut pending = None;
        for m in &t.messages {
            if let Some(seq) = m.data.get("seq") {
                acks.insert(m.client.clone(), seq.clone());
            }
            if m.data["cmd"] == "wait_join" {
                pending = Some(wait_for_join(&t.room)?);
            }
            if let Some(reason) = command(&mut state, &m.client, &m.data)? {
                close = Some(reason);
            }
        }
        let happened = !t.messages.is_empty() || !t.joins.is_empty() || !t.leaves.is_empty() || t.dropped > 0;
        let summary = json!({
            "tick": t.tick,
            "inputs": t.messages.len(),
            "dropped": t.dropped,
            "joins": t.joins.len(),
            "leaves": t.leaves.len(),
            "acks": acks,
            "version": state.version,
            "denied": state.denied,
            "pending": pending,
        });
        let every_tick = state.every_tick;
        let mut effects = room::Effects::state(state);
        if happened || every_tick {
            effects = effects.broadcast(&summary);
        }
        if let Some(reason) = close {
            effects = effects.close(reason);
        }
        Ok(effects)
    })
}

/// Refuses or traps when the join data asks; otherwise welcomes the client.
#[plugin_fn]
pub fn room_join(input: Vec<u8>) -> FnResult<Vec<u8>> {
    room::join(&input, |j: room::Join<State>| {
        if let Some(reason) = j.data["refuse"].as_str() {
            return Ok(room::JoinAnswer::Refuse(reason.to_owned()));
        }
        if j.data["trap"] == true {
            panic!("trap requested by a joining client");
        }
        let mut state = j.state;
        state.members.push(j.client.client.clone());
        let welcome = json!({ "welcome": j.client.client, "members": state.members.len(), "user": j.client.user });
        Ok(room::JoinAnswer::Accept(room::Effects::state(state).send_to(vec![j.client.client.clone()], &welcome)))
    })
}

/// Forgets the member and tells the others.
#[plugin_fn]
pub fn room_leave(input: Vec<u8>) -> FnResult<Vec<u8>> {
    room::leave(&input, |l: room::Leave<State>| {
        let mut state = l.state;
        state.members.retain(|m| *m != l.client.client);
        let notice = json!({ "left": l.client.client, "reason": l.reason });
        Ok(room::Effects::state(state).broadcast(&notice))
    })
}

/// Applies the message and echoes it to everyone (rooms without ticks).
#[plugin_fn]
pub fn room_message(input: Vec<u8>) -> FnResult<Vec<u8>> {
    room::message(&input, |m: room::Message<State>| {
        let mut state = m.state;
        state.inputs += 1;
        let close = command(&mut state, &m.client.client, &m.data)?;
        let echo = json!({ "echo": m.data, "from": m.client.client, "inputs": state.inputs, "version": state.version });
        let mut effects = room::Effects::state(state).broadcast(&echo);
        // A burst of broadcasts in one answer, delivered back to back.
        if m.data["cmd"] == "burst" {
            for i in 0..m.data["n"].as_u64().unwrap_or(0).min(10_000) {
                effects = effects.broadcast(&json!({ "burst": i }));
            }
        }
        if let Some(reason) = close {
            effects = effects.close(reason);
        }
        Ok(effects)
    })
}

/// Opens a room (the request is `room_create`'s).
#[plugin_fn]
pub fn open(input: Vec<u8>) -> FnResult<Vec<u8>> {
    handle(&input, |req: RoomCreate| rooms::create(&req))
}

/// Closes a room.
#[plugin_fn]
pub fn close(input: Vec<u8>) -> FnResult<Vec<u8>> {
    handle(&input, |req: RoomClose| rooms::close(&req))
}

/// Lists this plugin's rooms.
#[plugin_fn]
pub fn list(input: Vec<u8>) -> FnResult<Vec<u8>> {
    handle(&input, |_: Value| rooms::list(&Empty {}))
}

/// Sends to clients of a room.
#[plugin_fn]
pub fn send(input: Vec<u8>) -> FnResult<Vec<u8>> {
    handle(&input, |req: RoomSend| rooms::send(&req.room, req.to, &req.data))
}

/// Removes a client from a room.
#[plugin_fn]
pub fn kick(input: Vec<u8>) -> FnResult<Vec<u8>> {
    handle(&input, |req: RoomKick| rooms::kick(&req))
}

#[derive(Deserialize)]
struct CallOther {
    plugin: String,
    function: String,
    #[serde(default)]
    input: Value,
}

/// Calls another plugin and returns what it answered.
#[plugin_fn]
pub fn call_other(input: Vec<u8>) -> FnResult<Vec<u8>> {
    handle(&input, |req: CallOther| plugins::call::<Value, Value>(&req.plugin, &req.function, &req.input))
}

/// The configured "version" (to observe hot replace).
#[plugin_fn]
pub fn version(input: Vec<u8>) -> FnResult<Vec<u8>> {
    handle(&input, |_: Value| Ok(json!({ "version": config::get("version")? })))
}

fn record(prefix: &str, value: &impl Serialize) -> Result<()> {
    let n: u64 = kv::get_string(&format!("{prefix}count"))?.and_then(|v| v.parse().ok()).unwrap_or(0);
    kv::set(&format!("{prefix}{n:06}"), serde_json::to_vec(value).unwrap_or_default())?;
    kv::set(&format!("{prefix}count"), (n + 1).to_string())
}

/// Records each event it receives under `ev:NNNNNN` in its key-value store (after staying busy
/// for the event's `busy_ms`, if it has one).
#[plugin_fn]
pub fn on_event(input: Vec<u8>) -> FnResult<Vec<u8>> {
    handle(&input, |event: EventDelivery| {
        if let Some(ms) = event.data["busy_ms"].as_i64() {
            busy_ms(ms)?;
        }
        record("ev:", &event)
    })
}

/// Fails every delivery.
#[plugin_fn]
pub fn on_event_fail(input: Vec<u8>) -> FnResult<Vec<u8>> {
    handle(&input, |_: EventDelivery| -> Result<()> { Err(error("SUBSCRIBER_FAILED", "this subscriber always fails")) })
}

/// Records each scheduled run under `sched:NNNNNN`.
#[plugin_fn]
pub fn scheduled(input: Vec<u8>) -> FnResult<Vec<u8>> {
    handle(&input, |run: ScheduleRun| record("sched:", &run))
}

/// Records the run, then stays busy for 2.5 seconds (so later runs are missed).
#[plugin_fn]
pub fn scheduled_slow(input: Vec<u8>) -> FnResult<Vec<u8>> {
    handle(&input, |run: ScheduleRun| {
        record("slow:", &run)?;
        busy_ms(2500)
    })
}
