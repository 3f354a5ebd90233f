//! Server-side anticheat for the arena game. tick-manager sends every tick's inputs to `check`,
//! which answers the inputs that may be applied, the players to set back or kick, and the
//! anticheat's own per-player state for the next tick (kept by the host with the room, so a
//! failed tick loses nothing). Trust scores and bans outlive a match in the key-value store.
//!
//! Checks on each input: the direction's length (speed hack), the time an input covers (no
//! more than `max_input_ms`: teleport), the input clock (the time inputs cover may not run ahead
//! of real time by more than `latency_ms`, or by what a stalled connection may deliver late,
//! `max_stall_ms`), token buckets per action kind (input flood, dash
//! spam), sequence numbers (replayed or out of order) and the heartbeat (inputs echo a nonce the
//! server sent within `heartbeat_ms`). A violation ignores the input (a movement violation also
//! sets the player back) and adds its weight to the player's trust score, which halves every
//! `half_life_s`. At `kick_score` the player is kicked; at `ban_score`, or at `kick_score` again
//! within `kick_memory_minutes` of a kick, banned for `ban_minutes`.
//! Each sanction is an event (`anticheat.sanction`), at most one per player and kind every
//! `event_every_ms`; kicks and bans always.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use a2e_pdk::codes;
use a2e_pdk::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Thresholds, from the plugin's `thresholds` config.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
struct Thresholds {
    latency_ms: f64,
    max_stall_ms: f64,
    max_input_ms: f64,
    max_dir: f64,
    input_rate: f64,
    input_burst: f64,
    dash_rate: f64,
    dash_burst: f64,
    heartbeat_ms: i64,
    half_life_s: f64,
    kick_score: f64,
    ban_score: f64,
    ban_minutes: i64,
    kick_memory_minutes: i64,
    event_every_ms: i64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            latency_ms: 400.0,
            max_stall_ms: 3000.0,
            max_input_ms: 250.0,
            max_dir: 1.01,
            input_rate: 40.0,
            input_burst: 100.0,
            dash_rate: 1.0,
            dash_burst: 2.0,
            heartbeat_ms: 8000,
            half_life_s: 20.0,
            kick_score: 8.0,
            ban_score: 16.0,
            ban_minutes: 10,
            kick_memory_minutes: 60,
            event_every_ms: 5000,
        }
    }
}

fn thresholds() -> Result<&'static Thresholds> {
    static CACHE: OnceLock<Thresholds> = OnceLock::new();
    if let Some(t) = CACHE.get() {
        return Ok(t);
    }
    let parsed = match config::get("thresholds")? {
        Some(text) => serde_json::from_str(&text)
            .map_err(|e| error(codes::INVALID_INPUT, format!("the anticheat `thresholds` config is not valid: {e}")))?,
        None => Thresholds::default(),
    };
    Ok(CACHE.get_or_init(|| parsed))
}

/// A violation kind and its weight on the trust score.
fn weight(kind: &str) -> f64 {
    match kind {
        "teleport" => 5.0,
        "speed" => 3.0,
        "timer" | "replay" => 2.0,
        "flood" => 0.5,
        _ => 1.0,
    }
}

fn moves(kind: &str) -> bool {
    matches!(kind, "teleport" | "speed" | "timer")
}

/// A token bucket.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Bucket {
    tokens: f64,
    at: i64,
}

impl Bucket {
    fn take(&mut self, now: i64, rate: f64, burst: f64) -> bool {
        if self.at == 0 {
            self.tokens = burst;
        } else {
            self.tokens = (self.tokens + (now - self.at).max(0) as f64 / 1000.0 * rate).min(burst);
        }
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// What anticheat tracks for one player during a match.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Track {
    name: String,
    last_seq: u64,
    /// Real time the player may still claim with its inputs, ms.
    bank_ms: f64,
    last_now: i64,
    joined_ms: i64,
    echo_ok_ms: i64,
    inputs: Bucket,
    dashes: Bucket,
    score: f64,
    score_at: i64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    violations: BTreeMap<String, u32>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    last_event: BTreeMap<String, i64>,
    #[serde(default)]
    kicks: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_kick_ms: Option<i64>,
    #[serde(default)]
    kicked: bool,
}

impl Track {
    fn decay(&mut self, now: i64, half_life_s: f64) {
        let dt = (now - self.score_at).max(0) as f64 / 1000.0;
        self.score *= 0.5f64.powf(dt / half_life_s.max(0.1));
        self.score_at = now;
    }
}

/// Per-match state, kept by the caller between ticks.
#[derive(Debug, Default, Serialize, Deserialize)]
struct MatchState {
    players: BTreeMap<String, Track>,
}

/// A player's record in the store (`player:<id>`).
#[derive(Debug, Default, Serialize, Deserialize)]
struct Record {
    name: String,
    score: f64,
    score_at: i64,
    violations: BTreeMap<String, u32>,
    sanctions: Vec<Sanction>,
    kicks: u32,
    #[serde(default)]
    last_kick_ms: Option<i64>,
    banned_until: Option<i64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Sanction {
    kind: String,
    violation: String,
    #[serde(rename = "match")]
    match_id: String,
    score: f64,
    at: i64,
}

#[derive(Debug, Deserialize)]
struct PlayerRef {
    id: String,
    #[serde(default)]
    name: String,
}

/// An input as the client sent it (untrusted: every field is checked).
#[derive(Debug, Deserialize)]
struct RawInput {
    player: String,
    #[serde(default)]
    input: Value,
}

#[derive(Debug, Deserialize)]
struct CheckRequest {
    #[serde(default)]
    state: Option<MatchState>,
    #[serde(rename = "match")]
    match_id: String,
    now_ms: i64,
    #[serde(default)]
    joins: Vec<PlayerRef>,
    #[serde(default)]
    leaves: Vec<String>,
    #[serde(default)]
    inputs: Vec<RawInput>,
    /// Nonces sent to clients recently; inputs echo one of them.
    #[serde(default)]
    nonces: Vec<u64>,
}

#[derive(Debug, Serialize)]
struct Accepted {
    player: String,
    dir: [f64; 2],
    dt: f64,
    dash: bool,
}

#[derive(Debug, Serialize)]
struct Kick {
    player: String,
    reason: String,
    ban: bool,
}

#[derive(Debug, Default, Serialize)]
struct CheckResult {
    state: MatchState,
    accepted: Vec<Accepted>,
    /// Highest sequence number seen per player (accepted or not), for the client's reconciliation.
    acks: BTreeMap<String, u64>,
    setbacks: Vec<String>,
    kicks: Vec<Kick>,
    /// Violations found this tick, by player.
    violations: BTreeMap<String, Vec<String>>,
}

/// Checks one tick's inputs.
#[plugin_fn]
pub fn check(input: Vec<u8>) -> FnResult<Vec<u8>> {
    handle(&input, |req: CheckRequest| run_check(req))
}

fn run_check(req: CheckRequest) -> Result<CheckResult> {
    let t = thresholds()?;
    let now = req.now_ms;
    let mut state = req.state.unwrap_or_default();
    for join in &req.joins {
        if state.players.contains_key(&join.id) {
            continue;
        }
        let record = load(&join.id)?;
        let mut track = Track {
            name: join.name.clone(),
            bank_ms: t.latency_ms,
            last_now: now,
            joined_ms: now,
            echo_ok_ms: now,
            score: record.score,
            score_at: record.score_at.max(0),
            kicks: record.kicks,
            last_kick_ms: record.last_kick_ms,
            ..Track::default()
        };
        track.decay(now, t.half_life_s);
        state.players.insert(join.id.clone(), track);
    }
    for id in &req.leaves {
        state.players.remove(id);
    }
    for track in state.players.values_mut() {
        let passed = (now - track.last_now).max(0) as f64;
        track.bank_ms = (track.bank_ms + passed).min(t.latency_ms + t.max_stall_ms);
        track.last_now = now;
        track.decay(now, t.half_life_s);
    }
    let mut out = CheckResult::default();
    for raw in req.inputs {
        let Some(track) = state.players.get_mut(&raw.player) else { continue };
        if track.kicked {
            continue;
        }
        if let Some(seq) = raw.input.get("seq").and_then(Value::as_u64) {
            let ack = out.acks.entry(raw.player.clone()).or_insert(0);
            *ack = (*ack).max(seq).max(track.last_seq);
        }
        match judge(track, &raw.input, now, &req.nonces, t) {
            Ok(accepted) => out.accepted.push(Accepted { player: raw.player, ..accepted }),
            Err(kind) => {
                track.score += weight(kind);
                *track.violations.entry(kind.to_owned()).or_default() += 1;
                out.violations.entry(raw.player.clone()).or_default().push(kind.to_owned());
                if moves(kind) && !out.setbacks.contains(&raw.player) {
                    out.setbacks.push(raw.player.clone());
                }
                let kicked_lately = track.last_kick_ms.is_some_and(|at| now - at < t.kick_memory_minutes * 60_000);
                let sanction = if track.score >= t.ban_score || (track.score >= t.kick_score && kicked_lately) {
                    "ban"
                } else if track.score >= t.kick_score {
                    "kick"
                } else if moves(kind) {
                    "setback"
                } else {
                    "ignore"
                };
                let last = track.last_event.get(sanction).copied().unwrap_or(i64::MIN / 2);
                let decisive = matches!(sanction, "kick" | "ban");
                if decisive {
                    track.kicked = true;
                    track.kicks += 1;
                    track.last_kick_ms = Some(now);
                    out.kicks.push(Kick {
                        player: raw.player.clone(),
                        reason: if sanction == "ban" {
                            format!("banned for {} minutes for cheating ({kind})", t.ban_minutes)
                        } else {
                            format!("kicked for cheating ({kind})")
                        },
                        ban: sanction == "ban",
                    });
                }
                if decisive || now - last >= t.event_every_ms {
                    track.last_event.insert(sanction.to_owned(), now);
                    sanction_event(&raw.player, track, sanction, kind, &req.match_id, now, t)?;
                }
            }
        }
    }
    out.state = state;
    Ok(out)
}

/// Judges one input: what to apply, or the violation.
fn judge(
    track: &mut Track,
    input: &Value,
    now: i64,
    nonces: &[u64],
    t: &Thresholds,
) -> std::result::Result<Accepted, &'static str> {
    let Some(obj) = input.as_object() else { return Err("malformed") };
    if obj.keys().any(|k| !matches!(k.as_str(), "seq" | "dir" | "dt" | "dash" | "echo")) {
        return Err("malformed");
    }
    let seq = obj.get("seq").and_then(Value::as_u64).ok_or("malformed")?;
    if seq <= track.last_seq {
        return Err("replay");
    }
    track.last_seq = seq;
    let dir = match obj.get("dir") {
        None => [0.0, 0.0],
        Some(Value::Array(a)) if a.len() == 2 => {
            let x = a[0].as_f64().ok_or("malformed")?;
            let y = a[1].as_f64().ok_or("malformed")?;
            [x, y]
        }
        Some(_) => return Err("malformed"),
    };
    let dt = obj.get("dt").and_then(Value::as_f64).ok_or("malformed")?;
    let dash = match obj.get("dash") {
        None => false,
        Some(v) => v.as_bool().ok_or("malformed")?,
    };
    if !(dir[0].is_finite() && dir[1].is_finite() && dt.is_finite()) || dt < 0.0 {
        return Err("malformed");
    }
    if let Some(echo) = obj.get("echo").and_then(Value::as_u64) {
        if nonces.contains(&echo) {
            track.echo_ok_ms = now;
        }
    }
    if now - track.echo_ok_ms > t.heartbeat_ms {
        // Flag once per window, not on every input.
        track.echo_ok_ms = now;
        return Err("heartbeat");
    }
    if !track.inputs.take(now, t.input_rate, t.input_burst) {
        return Err("flood");
    }
    if dash && !track.dashes.take(now, t.dash_rate, t.dash_burst) {
        return Err("flood");
    }
    if (dir[0] * dir[0] + dir[1] * dir[1]).sqrt() > t.max_dir {
        return Err("speed");
    }
    if dt > t.max_input_ms {
        return Err("teleport");
    }
    if dt > track.bank_ms + 1.0 {
        return Err("timer");
    }
    track.bank_ms -= dt;
    Ok(Accepted { player: String::new(), dir, dt, dash })
}

fn load(id: &str) -> Result<Record> {
    Ok(match kv::get(&format!("player:{id}"))? {
        Some(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
        None => Record::default(),
    })
}

fn save(id: &str, record: &Record) -> Result<()> {
    let bytes = serde_json::to_vec(record).map_err(|e| error(codes::INTERNAL, e.to_string()))?;
    kv::set(&format!("player:{id}"), bytes)
}

fn sanction_event(
    player: &str,
    track: &Track,
    sanction: &str,
    violation: &str,
    match_id: &str,
    now: i64,
    t: &Thresholds,
) -> Result<()> {
    let mut record = load(player)?;
    record.name = track.name.clone();
    record.score = track.score;
    record.score_at = now;
    record.violations = track.violations.clone();
    record.kicks = track.kicks;
    record.last_kick_ms = track.last_kick_ms;
    if sanction == "ban" {
        record.banned_until = Some(now + t.ban_minutes * 60_000);
    }
    let score = (track.score * 100.0).round() / 100.0;
    record.sanctions.push(Sanction {
        kind: sanction.into(),
        violation: violation.into(),
        match_id: match_id.into(),
        score,
        at: now,
    });
    let keep = record.sanctions.len().saturating_sub(20);
    record.sanctions.drain(..keep);
    save(player, &record)?;
    events::emit(
        "anticheat.sanction",
        Some(player),
        json!({ "player": player, "name": track.name, "sanction": sanction, "violation": violation,
                "match": match_id, "score": score, "banned_until": record.banned_until }),
    )?;
    Ok(())
}

#[derive(Deserialize)]
struct Who {
    player: String,
}

/// Whether a player may join a match now: `{allowed, reason?, banned_until?, score}`.
#[plugin_fn]
pub fn admit(input: Vec<u8>) -> FnResult<Vec<u8>> {
    handle(&input, |req: Who| {
        let now = time::now()?;
        let record = load(&req.player)?;
        let banned = record.banned_until.filter(|until| *until > now);
        Ok(json!({
            "allowed": banned.is_none(),
            "reason": banned.map(|_| "you are banned from matches for cheating"),
            "banned_until": banned,
            "score": record.score,
        }))
    })
}

/// Every player anticheat has a record of, highest trust score first (administrators).
#[plugin_fn]
pub fn players(input: Vec<u8>) -> FnResult<Vec<u8>> {
    handle(&input, |_: Value| {
        let t = thresholds()?;
        let now = time::now()?;
        let mut rows = Vec::new();
        let mut after = "player:".to_owned();
        loop {
            let page = kv::list_after("player:", &after, 1000)?;
            let n = page.len();
            if let Some((last, _)) = page.last() {
                after = last.clone();
            }
            for (key, bytes) in page {
                let Ok(record) = serde_json::from_slice::<Record>(&bytes) else { continue };
                let mut track = Track { score: record.score, score_at: record.score_at, ..Track::default() };
                track.decay(now, t.half_life_s);
                let id = key.trim_start_matches("player:").to_owned();
                rows.push(json!({
                    "player": id, "name": record.name, "score": (track.score * 100.0).round() / 100.0,
                    "violations": record.violations, "sanctions": record.sanctions, "kicks": record.kicks,
                    "banned_until": record.banned_until.filter(|u| *u > now),
                }));
            }
            if n < 1000 {
                break;
            }
        }
        rows.sort_by(|a, b| b["score"].as_f64().partial_cmp(&a["score"].as_f64()).unwrap_or(std::cmp::Ordering::Equal));
        Ok(rows)
    })
}

/// Lifts a player's ban and clears its trust score (administrators).
#[plugin_fn]
pub fn lift_ban(input: Vec<u8>) -> FnResult<Vec<u8>> {
    handle(&input, |req: Who| {
        let now = time::now()?;
        let Some(_) = kv::get(&format!("player:{}", req.player))? else {
            return Err(error(codes::NOT_FOUND, format!("anticheat has no record of player `{}`", req.player)));
        };
        let mut record = load(&req.player)?;
        let was = record.banned_until.filter(|u| *u > now);
        record.banned_until = None;
        record.score = 0.0;
        record.score_at = now;
        record.kicks = 0;
        record.last_kick_ms = None;
        save(&req.player, &record)?;
        events::emit(
            "anticheat.ban_lifted",
            Some(&req.player),
            json!({ "player": req.player, "was_banned_until": was }),
        )?;
        Ok(json!({ "player": req.player, "lifted": was.is_some() }))
    })
}
