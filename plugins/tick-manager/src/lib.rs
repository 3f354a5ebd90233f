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
    /// game-logic's state.
    game: Value,
    /// anticheat's state.
    ac: Value,
    /// Connected clients: client id -> member.
    members: BTreeMap<String, Member>,
    /// Players by user id.
    players: BTreeMap<String, Slot>,
    /// Players to add to / remove from the simulation on the next tick.
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
        } else if slot.away_since.is_none() && !m.joining.contains(&user) {
            let in_game = m.game["players"].get(&user).is_some();
            if !in_game {
                m.joining.push(user.clone());
            }
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

#[derive(Deserialize, Default)]
struct CheckResult {
    state: Value,
    accepted: Vec<Value>,
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
    state: Value,
    outcomes: Vec<Value>,
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
            &json!({ "state": m.ac, "match": m.id, "now_ms": now, "joins": joins, "leaves": gone,
                     "inputs": raw, "nonces": m.nonces }),
        )?;
        m.ac = check.state;
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
        let game = std::mem::take(&mut m.game);
        let step: StepResult = plugins::call(
            GAME,
            "step",
            &json!({ "state": game, "dt_ms": dt_ms, "joins": joins, "leaves": leaves, "inputs": check.accepted }),
        )?;
        m.game = step.state;

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

        let update = delta(&mut m, &check.acks, &check.setbacks, &step.outcomes, nonce);
        if let Some(update) = update {
            out = out.broadcast(&json!({ "u": update }));
        }
        if !snapshot_for.is_empty() {
            let snap = snapshot(&m);
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

fn time_left(m: &Match) -> i64 {
    let time = m.game["time_ms"].as_i64().unwrap_or(0);
    let duration = m.game["duration_ms"].as_i64().unwrap_or(0);
    (duration - time).max(0)
}

fn row(p: &Value, now: u64) -> [i64; 4] {
    let stunned = p["stunned_until"].as_u64().unwrap_or(0) > now;
    let dashing = p["dash_left"].as_f64().unwrap_or(0.0) > 0.0;
    [
        p["x"].as_f64().unwrap_or(0.0).round() as i64,
        p["y"].as_f64().unwrap_or(0.0).round() as i64,
        p["score"].as_i64().unwrap_or(0),
        i64::from(stunned) | (i64::from(dashing) << 1),
    ]
}

/// What changed since the last update, or nothing when nothing did. Positions are rounded to
/// whole units; players are their short numbers.
fn delta(
    m: &mut Match,
    acks: &BTreeMap<String, u64>,
    setbacks: &[String],
    outcomes: &[Value],
    nonce: Option<u64>,
) -> Option<Value> {
    let now = m.game["time_ms"].as_u64().unwrap_or(0);
    let players = m.game["players"].as_object().cloned().unwrap_or_default();
    let mut changed = Vec::new();
    let mut present = Vec::new();
    for p in players.values() {
        let n = p["n"].as_u64().unwrap_or(0) as u32;
        present.push(n);
        let r = row(p, now);
        // Setback players always get their position, so the client can snap back.
        let forced = setbacks.iter().any(|id| players.get(id).is_some_and(|q| q["n"] == p["n"]));
        if m.sent.get(&n) != Some(&r) || forced {
            changed.push(json!([n, r[0], r[1], r[2], r[3]]));
            m.sent.insert(n, r);
        }
    }
    let removed: Vec<u32> = m.sent.keys().copied().filter(|n| !present.contains(n)).collect();
    for n in &removed {
        m.sent.remove(n);
        m.sent_acks.remove(n);
    }
    let mut ack_rows = Vec::new();
    for (id, seq) in acks {
        let Some(n) = players.get(id).and_then(|p| p["n"].as_u64()) else { continue };
        let n = n as u32;
        if m.sent_acks.get(&n) != Some(seq) {
            ack_rows.push(json!([n, seq]));
            m.sent_acks.insert(n, *seq);
        }
    }
    let coins: Vec<[i64; 3]> = m.game["coins"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| {
                    [
                        c["id"].as_i64().unwrap_or(0),
                        c["x"].as_f64().unwrap_or(0.0).round() as i64,
                        c["y"].as_f64().unwrap_or(0.0).round() as i64,
                    ]
                })
                .collect()
        })
        .unwrap_or_default();
    let coins_changed = coins != m.sent_coins;
    if coins_changed {
        m.sent_coins = coins.clone();
    }
    let fx: Vec<Value> = outcomes
        .iter()
        .filter_map(|o| {
            let n = |key: &str| players.get(o[key].as_str().unwrap_or("")).map(|p| p["n"].clone());
            match o["kind"].as_str()? {
                "coin" => Some(json!(["coin", n("player")?])),
                "tag" => Some(json!(["tag", n("by")?, n("victim")?])),
                "dash" => Some(json!(["dash", n("player")?])),
                _ => None,
            }
        })
        .collect();
    let joined = outcomes.iter().any(|o| matches!(o["kind"].as_str(), Some("joined" | "left")));
    let second = now / 1000 != now.saturating_sub(50) / 1000;
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
        u.insert("c".into(), json!(coins));
    }
    if !fx.is_empty() {
        u.insert("fx".into(), json!(fx));
    }
    if let Some(nonce) = nonce {
        u.insert("n".into(), json!(nonce));
    }
    if joined {
        u.insert("names".into(), names(&players));
    }
    if second || joined {
        u.insert("left".into(), json!(time_left(m)));
    }
    Some(Value::Object(u))
}

fn names(players: &serde_json::Map<String, Value>) -> Value {
    Value::Array(players.values().map(|p| json!([p["n"], p["name"]])).collect())
}

/// The whole match as a client needs it to start drawing.
fn snapshot(m: &Match) -> Value {
    let now = m.game["time_ms"].as_u64().unwrap_or(0);
    let players = m.game["players"].as_object().cloned().unwrap_or_default();
    let rows: Vec<Value> = players
        .iter()
        .map(|(id, p)| {
            let r = row(p, now);
            json!({ "n": p["n"], "id": id, "name": p["name"], "x": r[0], "y": r[1], "score": r[2], "flags": r[3],
                    "ack": m.sent_acks.get(&(p["n"].as_u64().unwrap_or(0) as u32)).copied().unwrap_or(0) })
        })
        .collect();
    json!({
        "match": m.id, "name": m.name, "status": m.status, "capacity": m.capacity, "tick_hz": m.tick_hz,
        "players": rows, "coins": m.sent_coins, "left": time_left(m), "nonce": m.nonces.last(),
        "away": m.players.iter().filter(|(_, s)| s.away_since.is_some()).map(|(id, _)| id).collect::<Vec<_>>(),
    })
}

/// An error value for bad lobby requests.
fn invalid(message: impl Into<String>) -> HostError {
    error(codes::INVALID_INPUT, message)
}
