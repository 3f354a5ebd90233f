//! The lobby: matches to list, create and be matched into, and stored results.

use a2e_pdk::abi::{Empty, Page, RoomClose, RoomCreate};
use a2e_pdk::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::{config_num, invalid, Match, GAME};

/// A match as the lobby lists it.
#[derive(Debug, Serialize, Deserialize)]
pub struct Listing {
    id: String,
    name: String,
    capacity: u32,
    players: u32,
    spectators: u32,
    status: String,
    created_ms: i64,
    time_left_ms: i64,
}

fn listing(m: &Match) -> Listing {
    Listing {
        id: m.id.clone(),
        name: m.name.clone(),
        capacity: m.capacity,
        players: m.players.values().filter(|s| !s.removed).count() as u32,
        spectators: m.members.values().filter(|s| s.spectator).count() as u32,
        status: m.status.clone(),
        created_ms: m.created_ms,
        time_left_ms: m.left_ms,
    }
}

/// Writes the match's lobby entry.
pub(crate) fn publish(m: &Match) -> Result<()> {
    let bytes = serde_json::to_vec(&listing(m)).map_err(|e| error(a2e_pdk::codes::INTERNAL, e.to_string()))?;
    kv::set(&format!("match:{}", m.id), bytes)
}

fn all(prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
    let mut rows: Vec<(String, Vec<u8>)> = Vec::new();
    loop {
        let after = rows.last().map_or_else(|| prefix.to_owned(), |(k, _)| k.clone());
        let page = kv::list_after(prefix, &after, 1000)?;
        let n = page.len();
        rows.extend(page);
        if n < 1000 {
            return Ok(rows);
        }
    }
}

/// Open matches, as stored; matches whose room is gone are left out.
fn open_matches() -> Result<Vec<Listing>> {
    let rooms: Vec<String> = rooms::list(&Empty {})?.into_iter().map(|r| r.room).collect();
    Ok(all("match:")?
        .into_iter()
        .filter_map(|(_, bytes)| serde_json::from_slice::<Listing>(&bytes).ok())
        .filter(|l| rooms.contains(&l.id))
        .collect())
}

/// The open matches, newest first.
#[plugin_fn]
pub fn list_matches(input: Vec<u8>) -> FnResult<Vec<u8>> {
    handle(&input, |_: Value| {
        let mut list = open_matches()?;
        list.sort_by_key(|l| std::cmp::Reverse(l.created_ms));
        Ok(list)
    })
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct NewMatch {
    name: Option<String>,
    capacity: Option<u32>,
    duration_s: Option<u64>,
}

/// Opens a match: `{name?, capacity? (2-32, default 8), duration_s? (10-1800, default 180)}`.
#[plugin_fn]
pub fn create_match(input: Vec<u8>) -> FnResult<Vec<u8>> {
    handle(&input, |req: Option<NewMatch>| create(req.unwrap_or_default()))
}

fn create(req: NewMatch) -> Result<Listing> {
    let capacity = req.capacity.unwrap_or(8);
    if !(2..=32).contains(&capacity) {
        return Err(invalid(format!("capacity must be 2 to 32 players, not {capacity}")));
    }
    let duration_s = req.duration_s.unwrap_or(180);
    if !(10..=1800).contains(&duration_s) {
        return Err(invalid(format!("duration_s must be 10 to 1800 seconds, not {duration_s}")));
    }
    let name = req.name.map(|n| n.trim().to_owned()).unwrap_or_default();
    if name.chars().count() > 40 || name.chars().any(char::is_control) {
        return Err(invalid("a match name is at most 40 characters, without control characters"));
    }
    let bytes = random::bytes(12)?;
    let id = format!("m-{}", bytes[..4].iter().map(|b| format!("{b:02x}")).collect::<String>());
    let seed = u64::from_le_bytes(bytes[4..12].try_into().unwrap_or([0; 8]));
    let name = if name.is_empty() { format!("Match {}", &id[2..6]) } else { name };
    let game: Box<serde_json::value::RawValue> =
        plugins::call(GAME, "new_match", &json!({ "seed": seed, "duration_ms": duration_s * 1000 }))?;
    let tick_hz = config_num("tick_hz", 20).clamp(1, 60) as u32;
    let m = Match {
        id: id.clone(),
        name,
        capacity,
        created_ms: time::now()?,
        status: "waiting".into(),
        tick_hz,
        grace_ms: config_num("grace_s", 15).min(600) as i64 * 1000,
        nonce_every_ms: config_num("nonce_every_ms", 2000).clamp(250, 60_000) as i64,
        game: Some(game),
        left_ms: duration_s as i64 * 1000,
        ..Match::default()
    };
    let state = serde_json::to_value(&m).map_err(|e| error(a2e_pdk::codes::INTERNAL, e.to_string()))?;
    rooms::create(&RoomCreate {
        room: Some(id),
        tick_hz,
        max_clients: capacity + 16,
        input_queue: capacity * 16,
        // Three seconds of failing ticks (a game plugin being replaced, say) before the match closes.
        max_failures: tick_hz * 3,
        state,
    })?;
    publish(&m)?;
    Ok(listing(&m))
}

/// Finds a match to play in: the fullest open one with room and at least 30 s left, or a new one.
#[plugin_fn]
pub fn matchmake(input: Vec<u8>) -> FnResult<Vec<u8>> {
    handle(&input, |_: Value| {
        let best = open_matches()?
            .into_iter()
            .filter(|l| l.status != "ended" && l.players < l.capacity && l.time_left_ms >= 30_000)
            .max_by_key(|l| (l.players, -l.created_ms));
        match best {
            Some(found) => Ok(found),
            None => create(NewMatch::default()),
        }
    })
}

/// Stores a finished match's result and records `game.match_ended`.
pub(crate) fn record_result(m: &Match, ended: &Value, now: i64) -> Result<Value> {
    let mut scores: Vec<Value> = ended["scores"]
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(id, score)| {
                    let name = m.players.get(id).map(|s| s.name.clone()).unwrap_or_default();
                    json!({ "player": id, "name": name, "score": score })
                })
                .collect()
        })
        .unwrap_or_default();
    scores.sort_by(|a, b| b["score"].as_i64().cmp(&a["score"].as_i64()));
    let result = json!({
        "match": m.id, "name": m.name, "scores": scores,
        "duration_ms": ended["duration_ms"], "ended_at": now,
    });
    // Keys sort newest first, so the latest results are the first page.
    kv::set(&format!("result:{:019}:{}", i64::MAX - now, m.id), result.to_string())?;
    events::emit("game.match_ended", None, result.clone())?;
    Ok(result)
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct ResultsQuery {
    limit: Option<usize>,
}

/// Results of finished matches, newest first: `{limit? (1-100, default 20)}`.
#[plugin_fn]
pub fn results(input: Vec<u8>) -> FnResult<Vec<u8>> {
    handle(&input, |q: Option<ResultsQuery>| {
        let limit = q.unwrap_or_default().limit.unwrap_or(20);
        if !(1..=100).contains(&limit) {
            return Err(invalid(format!("limit must be 1 to 100, not {limit}")));
        }
        let rows: Vec<Value> = kv::list("result:", Page { limit: limit as u32, offset: 0 })?
            .into_iter()
            .filter_map(|(_, bytes)| serde_json::from_slice(&bytes).ok())
            .collect();
        Ok(rows)
    })
}

/// On a schedule: forgets lobby entries of matches whose room is gone.
#[plugin_fn]
pub fn tidy_lobby(input: Vec<u8>) -> FnResult<Vec<u8>> {
    handle(&input, |_: Value| {
        let rooms: Vec<String> = rooms::list(&Empty {})?.into_iter().map(|r| r.room).collect();
        let mut removed = 0;
        for (key, _) in all("match:")? {
            if !rooms.iter().any(|r| key.strip_prefix("match:") == Some(r.as_str())) {
                kv::delete(&key)?;
                removed += 1;
            }
        }
        Ok(json!({ "removed": removed }))
    })
}

/// Closes a match early (administrators): `{match, reason?}`.
#[plugin_fn]
pub fn close_match(input: Vec<u8>) -> FnResult<Vec<u8>> {
    #[derive(Deserialize)]
    struct Req {
        #[serde(rename = "match")]
        id: String,
        reason: Option<String>,
    }
    handle(&input, |req: Req| {
        let reason = req.reason.unwrap_or_else(|| "an administrator closed the match".into());
        rooms::close(&RoomClose { room: req.id, reason: Some(reason) })
    })
}
