//! The arena game's match manager. It owns the match rooms and runs them: a lobby (list,
//! create, matchmaking), joins with a capacity, spectators, and each match's ticks (20 Hz by
//! default). Each tick passes the players' inputs to `anticheat.check`, the accepted ones to
//! `game-logic.step`, and sends clients what changed (a full snapshot on join and on request).
//! A player who disconnects keeps their place for `grace_s` seconds and gets it back on
//! rejoining. When a match ends its result is stored and a `game.match_ended` event recorded.
//!
//! Client messages in a match room: `{"input": {seq, dir: [x, y], dt, dash, echo}}` (players)
//! and `{"snapshot": true}`. Server messages: `{"snap": …}` (full state), `{"u": …}` (one
//! tick's changes), `{"ended": …}` and `{"notice": …}`.

use std::collections::BTreeMap;

use a2e_pdk::abi::RoomKick;
use a2e_pdk::codes;
use a2e_pdk::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{json, Value};

mod lobby;

pub use lobby::*;

const GAME: &str = "game-logic";
const ANTICHEAT: &str = "anticheat";

fn config_num(key: &str, default: u64) -> u64 {
    config::get(key).ok().flatten().and_then(|v| v.trim().parse().ok()).unwrap_or(default)
}

/// A match room's state (kept by the host between calls).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Match {
    id: String,
    name: String,
    capacity: u32,
    created_ms: i64,
    /// "waiting" (nobody has joined yet), "playing" or "ended".
    status: String,
    tick_hz: u32,
    grace_ms: i64,
    nonce_every_ms: i64,
    /// game-logic's state, passed through unread.
    game: Option<Box<RawValue>>,
    /// anticheat's state, passed through unread.
    #[serde(default)]
    ac: Option<Box<RawValue>>,
    /// Game time left, ms (from the last step).
    #[serde(default)]
    left_ms: i64,
    /// Connected clients: client id -> member.
    members: BTreeMap<String, Member>,
    /// Players by user id.
    players: BTreeMap<String, Slot>,
    /// Players to add to the simulation on the next tick.
    joining: Vec<String>,
    /// Recent nonces (newest last).
    nonces: Vec<u64>,
    nonce_ms: i64,
    /// What the clients were last sent, per player number: [x, y, score, flags].
    sent: BTreeMap<u32, [i64; 4]>,
    sent_coins: Vec<[i64; 3]>,
    sent_acks: BTreeMap<u32, u64>,
    last_tick: u64,
    started_ms: i64,
    ended_ms: i64,
    /// Clients to send a full snapshot to on the next tick.
    want_snapshot: Vec<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Member {
    user: String,
    spectator: bool,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Slot {
    name: String,
    client: Option<String>,
    /// When the player's connection went away (host clock, ms).
    away_since: Option<i64>,
    /// Removed by anticheat: may not come back to this match.
    removed: bool,
    /// In the simulation.
    #[serde(default)]
    in_game: bool,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JoinData {
    spectate: bool,
}

/// Lets a signed-in client in as a player (while there is room and the match has not ended)
/// or as a spectator; a player coming back within the grace period gets their place back.
#[plugin_fn]
pub fn room_join(input: Vec<u8>) -> FnResult<Vec<u8>> {
    room::join(&input, |j: room::Join<Match>| {
        let mut m = j.state;
        let Some(user) = j.client.user.clone() else {
            return Ok(room::JoinAnswer::Refuse("sign in to join a match".into()));
        };
        let data: JoinData = match j.data {
            Value::Null => JoinData::default(),
            other => match serde_json::from_value(other) {
                Ok(d) => d,
                Err(e) => return Ok(room::JoinAnswer::Refuse(format!("the join data is not valid: {e}"))),
            },
        };
        let name = j.client.name.clone().unwrap_or_else(|| "player".into());
        if m.status == "ended" {
            return Ok(room::JoinAnswer::Refuse("this match has ended".into()));
        }
        if data.spectate {
            m.members.insert(j.client.client.clone(), Member { user, spectator: true });
            m.want_snapshot.push(j.client.client);
            lobby::publish(&m)?;
            return Ok(room::JoinAnswer::Accept(room::Effects::state(m)));
        }
        if let Some(slot) = m.players.get(&user) {
            if slot.removed {
                return Ok(room::JoinAnswer::Refuse("you were removed from this match".into()));
            }
        } else if m.players.len() as u32 >= m.capacity {
            return Ok(room::JoinAnswer::Refuse(format!("this match is full ({} players)", m.capacity)));
        }
        let admit: Value = plugins::call(ANTICHEAT, "admit", &json!({ "player": user }))?;
        if admit["allowed"] == Value::Bool(false) {
            let reason = admit["reason"].as_str().unwrap_or("anticheat refused the join").to_owned();
            return Ok(room::JoinAnswer::Refuse(reason));
        }
        let slot = m.players.entry(user.clone()).or_insert_with(|| Slot { name: name.clone(), ..Slot::default() });
        if let Some(old) = slot.client.replace(j.client.client.clone()) {
            // The same player from a new connection: the old one leaves.
            m.members.remove(&old);
            rooms::kick(&RoomKick {
                room: j.room.clone(),
                client: old,
                reason: "you joined from another window".into(),
            })?;
        } else if slot.away_since.is_none() && !slot.in_game && !m.joining.contains(&user) {
            m.joining.push(user.clone());
        }
        slot.away_since = None;
        m.members.insert(j.client.client.clone(), Member { user, spectator: false });
        m.want_snapshot.push(j.client.client);
        if m.status == "waiting" {
            m.status = "playing".into();
        }
        lobby::publish(&m)?;
        Ok(room::JoinAnswer::Accept(room::Effects::state(m)))
    })
}

/// One input, as the client sent it; anticheat judges it.
#[derive(Serialize)]
struct RawInput<'a> {
    player: &'a str,
    input: &'a Value,
}

#[derive(Serialize)]
struct CheckRequest<'a> {
    state: &'a Option<Box<RawValue>>,
    #[serde(rename = "match")]
    match_id: &'a str,
    now_ms: i64,
    joins: &'a [Value],
    leaves: &'a [String],
    inputs: &'a [RawInput<'a>],
    nonces: &'a [u64],
}

#[derive(Serialize)]
struct StepRequest<'a> {
    state: &'a Option<Box<RawValue>>,
    dt_ms: u64,
    joins: &'a [Value],
    leaves: &'a [String],
    inputs: &'a RawValue,
}

#[derive(Deserialize)]
struct CheckResult {
    state: Box<RawValue>,
    accepted: Box<RawValue>,
    acks: BTreeMap<String, u64>,
    setbacks: Vec<String>,
    kicks: Vec<KickOrder>,
}

#[derive(Deserialize)]
struct KickOrder {
    player: String,
    reason: String,
}

#[derive(Deserialize)]
struct StepResult {
    state: Box<RawValue>,
    outcomes: Vec<Value>,
    view: View,
}

/// What game-logic shows of a match (see its `view`).
#[derive(Deserialize)]
struct View {
    left_ms: i64,
    players: Vec<ViewPlayer>,
    coins: Vec<[i64; 3]>,
}

#[derive(Deserialize)]
struct ViewPlayer {
    n: u32,
    id: String,
    name: String,
    x: i64,
    y: i64,
    score: i64,
    flags: i64,
}

impl ViewPlayer {
    fn row(&self) -> [i64; 4] {
        [self.x, self.y, self.score, self.flags]
    }
}

/// One tick of a match.
#[plugin_fn]
pub fn room_tick(input: Vec<u8>) -> FnResult<Vec<u8>> {
    room::tick(&input, |t: room::Tick<Match>| {
        let mut m = t.state;
        let now = t.now_ms;
        let room_id = t.room.clone();
        let mut out = room::Effects::none();

        for client in &t.leaves {
            let Some(member) = m.members.remove(&client.client) else { continue };
            if let Some(slot) = m.players.get_mut(&member.user) {
                if slot.client.as_deref() == Some(client.client.as_str()) {
                    slot.client = None;
                    slot.away_since = Some(now);
                }
            }
        }
        if m.status == "ended" {
            let closing = now - m.ended_ms >= 10_000;
            return Ok(if closing {
                room::Effects::state(m).close("the match is over")
            } else {
                room::Effects::state(m)
            });
        }
        if m.status == "waiting" {
            return Ok(room::Effects::state(m));
        }
        if m.started_ms == 0 {
            m.started_ms = now;
            events::emit("game.match_started", None, json!({ "match": m.id, "name": m.name }))?;
        }

        // Who enters and who goes (after the grace period, or removed by anticheat).
        let joins: Vec<Value> = m
            .joining
            .drain(..)
            .filter_map(|id| m.players.get(&id).map(|s| json!({ "id": id, "name": s.name })))
            .collect();
        for join in &joins {
            if let Some(slot) = join["id"].as_str().and_then(|id| m.players.get_mut(id)) {
                slot.in_game = true;
            }
        }
        let grace = m.grace_ms;
        let gone: Vec<String> = m
            .players
            .iter()
            .filter(|(_, s)| s.away_since.is_some_and(|since| now - since >= grace))
            .map(|(id, _)| id.clone())
            .collect();
        for id in &gone {
            m.players.remove(id);
        }

        // Inputs of connected players.
        let mut snapshot_for: Vec<String> = std::mem::take(&mut m.want_snapshot);
        let mut raw = Vec::new();
        for msg in &t.messages {
            let Some(member) = m.members.get(&msg.client) else { continue };
            if let Some(input) = msg.data.get("input") {
                if !member.spectator {
                    raw.push(RawInput { player: &member.user, input });
                }
            } else if msg.data.get("snapshot").is_some() && !snapshot_for.contains(&msg.client) {
                snapshot_for.push(msg.client.clone());
            }
        }
        let check: CheckResult = plugins::call(
            ANTICHEAT,
            "check",
            &CheckRequest {
                state: &m.ac,
                match_id: &m.id,
                now_ms: now,
                joins: &joins,
                leaves: &gone,
                inputs: &raw,
                nonces: &m.nonces,
            },
        )?;
        m.ac = Some(check.state);
        let mut leaves = gone.clone();
        for kick in &check.kicks {
            if let Some(slot) = m.players.get_mut(&kick.player) {
                slot.removed = true;
                if let Some(client) = slot.client.take() {
                    // The client is told the reason in the `left` frame.
                    m.members.remove(&client);
                    rooms::kick(&RoomKick { room: room_id.clone(), client, reason: kick.reason.clone() })?;
                }
                leaves.push(kick.player.clone());
            }
        }
        let dt_ms = if m.last_tick == 0 { 0 } else { (t.tick - m.last_tick) * 1000 / u64::from(m.tick_hz.max(1)) };
        m.last_tick = t.tick;
        let step: StepResult = plugins::call(
            GAME,
            "step",
            &StepRequest { state: &m.game, dt_ms, joins: &joins, leaves: &leaves, inputs: &check.accepted },
        )?;
        m.game = Some(step.state);
        m.left_ms = step.view.left_ms;

        // Nonces for the heartbeat check.
        let mut nonce = None;
        if now - m.nonce_ms >= m.nonce_every_ms {
            let bytes = random::bytes(4)?;
            let n = u64::from(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]));
            m.nonces.push(n);
            if m.nonces.len() > 4 {
                m.nonces.remove(0);
            }
            m.nonce_ms = now;
            nonce = Some(n);
        }

        let update = delta(&mut m, &step.view, &check.acks, &check.setbacks, &step.outcomes, nonce);
        if let Some(update) = update {
            out = out.broadcast(&json!({ "u": update }));
        }
        if !snapshot_for.is_empty() {
            let snap = snapshot(&m, &step.view);
            out = out.send_to(snapshot_for, &json!({ "snap": snap }));
        }
        for setback in &check.setbacks {
            if let Some(client) = m.players.get(setback).and_then(|s| s.client.clone()) {
                let notice = json!({ "notice": { "kind": "setback", "message": "The server set you back: that move was not possible." } });
                out = out.send_to(vec![client], &notice);
            }
        }
        if !joins.is_empty() || !leaves.is_empty() || !t.leaves.is_empty() {
            lobby::publish(&m)?;
        }
        if let Some(ended) = step.outcomes.iter().find(|o| o["kind"] == "ended") {
            m.status = "ended".into();
            m.ended_ms = now;
            let result = lobby::record_result(&m, ended, now)?;
            out = out.broadcast(&json!({ "ended": result }));
            lobby::publish(&m)?;
        }
        out.state = Some(m);
        Ok(out)
    })
}

/// What changed since the last update, or nothing when nothing did. Players are their short
/// numbers.
fn delta(
    m: &mut Match,
    view: &View,
    acks: &BTreeMap<String, u64>,
    setbacks: &[String],
    outcomes: &[Value],
    nonce: Option<u64>,
) -> Option<Value> {
    let number = |id: &str| view.players.iter().find(|p| p.id == id).map(|p| p.n);
    let mut changed = Vec::new();
    for p in &view.players {
        let r = p.row();
        // Players set back always get their position, so the client can snap back.
        if m.sent.get(&p.n) != Some(&r) || setbacks.contains(&p.id) {
            changed.push(json!([p.n, r[0], r[1], r[2], r[3]]));
            m.sent.insert(p.n, r);
        }
    }
    let removed: Vec<u32> = m.sent.keys().copied().filter(|n| !view.players.iter().any(|p| p.n == *n)).collect();
    for n in &removed {
        m.sent.remove(n);
        m.sent_acks.remove(n);
    }
    let mut ack_rows = Vec::new();
    for (id, seq) in acks {
        let Some(n) = number(id) else { continue };
        if m.sent_acks.get(&n) != Some(seq) {
            ack_rows.push(json!([n, seq]));
            m.sent_acks.insert(n, *seq);
        }
    }
    let coins_changed = view.coins != m.sent_coins;
    if coins_changed {
        m.sent_coins = view.coins.clone();
    }
    let fx: Vec<Value> = outcomes
        .iter()
        .filter_map(|o| {
            let n = |key: &str| number(o[key].as_str().unwrap_or(""));
            match o["kind"].as_str()? {
                "coin" => Some(json!(["coin", n("player")?])),
                "tag" => Some(json!(["tag", n("by")?, n("victim")?])),
                "dash" => Some(json!(["dash", n("player")?])),
                _ => None,
            }
        })
        .collect();
    let joined = outcomes.iter().any(|o| matches!(o["kind"].as_str(), Some("joined" | "left")));
    let left = view.left_ms;
    let second = left / 1000 != (left + 50) / 1000;
    if changed.is_empty()
        && removed.is_empty()
        && ack_rows.is_empty()
        && !coins_changed
        && fx.is_empty()
        && nonce.is_none()
        && !joined
        && !second
    {
        return None;
    }
    let mut u = serde_json::Map::new();
    if !changed.is_empty() {
        u.insert("p".into(), json!(changed));
    }
    if !removed.is_empty() {
        u.insert("x".into(), json!(removed));
    }
    if !ack_rows.is_empty() {
        u.insert("k".into(), json!(ack_rows));
    }
    if coins_changed {
        u.insert("c".into(), json!(view.coins));
    }
    if !fx.is_empty() {
        u.insert("fx".into(), json!(fx));
    }
    if let Some(nonce) = nonce {
        u.insert("n".into(), json!(nonce));
    }
    if joined {
        u.insert("names".into(), Value::Array(view.players.iter().map(|p| json!([p.n, p.name])).collect()));
    }
    if second || joined {
        u.insert("left".into(), json!(left));
    }
    Some(Value::Object(u))
}

/// The whole match as a client needs it to start drawing.
fn snapshot(m: &Match, view: &View) -> Value {
    let rows: Vec<Value> = view
        .players
        .iter()
        .map(|p| {
            json!({ "n": p.n, "id": p.id, "name": p.name, "x": p.x, "y": p.y, "score": p.score, "flags": p.flags,
                    "ack": m.sent_acks.get(&p.n).copied().unwrap_or(0) })
        })
        .collect();
    json!({
        "match": m.id, "name": m.name, "status": m.status, "capacity": m.capacity, "tick_hz": m.tick_hz,
        "players": rows, "coins": view.coins, "left": view.left_ms, "nonce": m.nonces.last(),
        "away": m.players.iter().filter(|(_, s)| s.away_since.is_some()).map(|(id, _)| id).collect::<Vec<_>>(),
    })
}

/// An error value for bad lobby requests.
fn invalid(message: impl Into<String>) -> HostError {
    error(codes::INVALID_INPUT, message)
}
