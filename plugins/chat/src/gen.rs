//! Writing one answer: a ticking room per answer (`g.<message id>`). While queued, its ticks wait
//! for their turn at the provider and model (one answer at a time each); then they read the
//! model's stream as it arrives, send each piece to the clients in the room, and store the text
//! as it grows, so a reload or reconnect picks the answer up where it is. Stop, a provider
//! failure or the end of the answer finish the message, the execution row and the room.

use a2e_pdk::abi::{
    Empty, HttpClose, HttpRead, HttpRequest, Page, RoomCreate, RoomRef, UpdateAgentExecution, UpdateChatMessage,
};
use a2e_pdk::codes;
use a2e_pdk::prelude::*;
use a2e_pdk::room::{Effects, Join, JoinAnswer, Leave, Tick};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::config_num;
use crate::providers::{self, Parsed};

/// How often the room state's text is written to the database while an answer grows, in ms.
const FLUSH_MS: i64 = 250;
/// The longest one read of the model's stream waits, in ms.
const READ_SLICE_MS: i64 = 5;
/// How long a client joining a streaming answer with no text yet waits for the first piece, in ms.
const JOIN_WAIT_MS: i64 = 30;
/// How long a finished answer's room stays open, so a client that joins late (the answer was
/// quick, or its connection slow) still gets the final text, in ms.
const LINGER_MS: i64 = 5_000;

/// The state of one answer's room (kept by the host between ticks).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Gen {
    pub message_id: String,
    pub session_id: String,
    pub user_uuid: String,
    pub exec_id: String,
    pub provider: String,
    /// "openai" or "ollama".
    pub kind: String,
    pub model: String,
    /// This answer's entry in its provider and model's queue.
    pub queue_key: String,
    /// "queued", then "streaming".
    pub phase: String,
    /// The request to send when its turn comes.
    pub request: Option<HttpRequest>,
    pub stream: Option<String>,
    pub content: String,
    /// A partial line of the stream.
    pub pending: String,
    pub created_ms: i64,
    pub started_ms: i64,
    pub first_ms: Option<i64>,
    pub flushed_ms: i64,
    pub prompt_tokens: Option<i64>,
    pub completion_tokens: Option<i64>,
    /// When the answer finished, and how ("done", "stopped", "failed").
    pub finished_ms: Option<i64>,
    pub error: Option<String>,
}

/// The room of an answer.
pub fn room_id(message_id: &str) -> String {
    format!("g.{message_id}")
}

/// The queue prefix of a provider and model.
pub fn queue_prefix(provider: &str, model: &str) -> String {
    format!("q:{provider}|{model}|")
}

fn stop_key(message_id: &str) -> String {
    format!("stop:{message_id}")
}

/// Queues an answer and opens its room. Refuses with UNAVAILABLE when the queue is full.
pub fn start(mut g: Gen, now: i64) -> Result<()> {
    let prefix = queue_prefix(&g.provider, &g.model);
    let max_queue = config_num("max_queue", 8);
    let queued = kv::list(&prefix, Page { limit: 1000, offset: 0 })?;
    if queued.len() as u64 >= max_queue {
        return Err(error(
            codes::UNAVAILABLE,
            format!("busy: {} answers are waiting for {} on {}; retry in a moment", queued.len(), g.model, g.provider),
        ));
    }
    g.queue_key = format!("{prefix}{now:015}|{}", g.message_id);
    kv::set(&g.queue_key, b"1")?;
    g.phase = "queued".into();
    g.created_ms = now;
    let hz = config_num("tick_hz", 25).clamp(1, 60) as u32;
    let state = serde_json::to_value(&g).map_err(|e| error(codes::INTERNAL, e.to_string()))?;
    let created = rooms::create(&RoomCreate {
        room: Some(room_id(&g.message_id)),
        tick_hz: hz,
        state,
        max_failures: 3,
        ..Default::default()
    });
    if let Err(err) = created {
        let _ = kv::delete(&g.queue_key);
        return Err(err);
    }
    Ok(())
}

/// Asks the room of `message_id` to stop at its next tick.
pub fn request_stop(message_id: &str) -> Result<()> {
    kv::set(&stop_key(message_id), b"1")
}

/// `room_join`: only the session's owner may follow an answer; they get the text so far. A
/// client that joins a streaming answer with no text yet waits here, up to JOIN_WAIT_MS, for the
/// first piece rather than for the room's next tick.
pub fn join(j: Join<Gen>) -> Result<JoinAnswer<Gen>> {
    if j.client.user.as_deref() != Some(j.state.user_uuid.as_str()) {
        return Ok(JoinAnswer::Refuse("this answer belongs to another user's chat".into()));
    }
    let to = vec![j.client.client.clone()];
    let mut g = j.state;
    if g.phase == "streaming" && g.content.is_empty() && g.finished_ms.is_none() {
        let now = time::now()?;
        let pumped = pump(&mut g, now + JOIN_WAIT_MS, None)?;
        let effects = settle(g, pumped, now)?;
        let snapshot = effects.state.as_ref().map(snapshot).unwrap_or_default();
        return Ok(JoinAnswer::Accept(effects.send_to(to, &snapshot)));
    }
    Ok(JoinAnswer::Accept(Effects::none().send_to(to, &snapshot(&g))))
}

/// The text so far and the answer's status, for a client that joins.
fn snapshot(g: &Gen) -> serde_json::Value {
    let status = match g.phase.as_str() {
        "queued" | "streaming" => g.phase.as_str(),
        finished => finished,
    };
    json!({ "type": "snapshot", "message_id": g.message_id, "content": g.content, "status": status, "error": g.error })
}

/// `room_leave`: nothing to do; the answer goes on without watchers.
pub fn leave(_l: Leave<Gen>) -> Result<Effects<Gen>> {
    Ok(Effects::none())
}

/// `room_tick`.
pub fn tick(t: Tick<Gen>) -> Result<Effects<Gen>> {
    let mut g = t.state;
    if let Some(finished) = g.finished_ms {
        if t.now_ms - finished >= LINGER_MS {
            let reason = format!("answer {}", g.phase);
            return Ok(Effects::none().close(reason));
        }
        return Ok(Effects::none());
    }
    if kv::get(&stop_key(&g.message_id))?.is_some() {
        return finish(g, "stopped", None);
    }
    if g.phase == "queued" {
        if !my_turn(&g, t.tick)? {
            return Ok(Effects::state(g));
        }
        if let Err(err) = open(&mut g) {
            return finish(g, "failed", Some(err));
        }
    }
    // Read for most of the tick's period, forwarding each piece as soon as it arrives (through
    // room_send, not at the end of the tick), so the gap between ticks is the only wait added.
    // Until the first text, the window starts now: opening the stream may have taken most of
    // the tick (the model server answers the head when its first token is ready).
    let hz = config_num("tick_hz", 25).clamp(1, 60) as i64;
    let window = 1000 * 3 / (4 * hz);
    let start = if g.first_ms.is_none() { time::now()?.max(t.now_ms) } else { t.now_ms };
    let waiting = RoomRef { room: room_id(&g.message_id) };
    let pumped = pump(&mut g, start + window, Some(&waiting))?;
    settle(g, pumped, t.now_ms)
}

/// What reading the model's stream gave.
struct Pumped {
    totals: Parsed,
    /// The stream has ended.
    ended: bool,
    /// The stream could not be read.
    broken: Option<String>,
}

/// Reads the model's stream until `deadline` (Unix ms) and forwards each piece of text to the
/// room's clients as it arrives. Reads wait at most READ_SLICE_MS. With `waiting` (a tick), it
/// stops early when a client asks to join, which waits for the tick to return; without (a
/// join), it stops at the first text.
fn pump(g: &mut Gen, deadline: i64, waiting: Option<&RoomRef>) -> Result<Pumped> {
    let mut out = Pumped { totals: Parsed::default(), ended: false, broken: None };
    let Some(stream) = g.stream.clone() else {
        out.broken = Some("the answer's stream is missing".into());
        return Ok(out);
    };
    let room = room_id(&g.message_id);
    for _ in 0..200 {
        let now = time::now()?;
        let wait_ms = (deadline - now).clamp(0, READ_SLICE_MS) as u32;
        let chunk = match http::read(&HttpRead { id: stream.clone(), max_bytes: 0, wait_ms }) {
            Ok(chunk) => chunk,
            Err(err) => {
                g.stream = None;
                out.broken = Some(format!("the model server's stream broke: {}", err.message));
                return Ok(out);
            }
        };
        let mut parsed = Parsed::default();
        g.pending.push_str(&chunk.data);
        providers::parse(&g.kind, &mut g.pending, &mut parsed);
        if chunk.done {
            g.stream = None;
            g.pending.push('\n');
            providers::parse(&g.kind, &mut g.pending, &mut parsed);
            out.ended = true;
        }
        let got_text = !parsed.text.is_empty();
        if got_text {
            if g.first_ms.is_none() {
                g.first_ms = Some(time::now()?);
            }
            g.content.push_str(&parsed.text);
            let delta = json!({ "type": "delta", "message_id": g.message_id, "text": parsed.text });
            rooms::send(&room, None, &delta)?;
        }
        let totals = &mut out.totals;
        totals.prompt_tokens = parsed.prompt_tokens.or(totals.prompt_tokens);
        totals.completion_tokens = parsed.completion_tokens.or(totals.completion_tokens);
        totals.error = parsed.error.or(totals.error.take());
        totals.done |= parsed.done;
        if out.ended || totals.done || totals.error.is_some() || (chunk.data.is_empty() && wait_ms == 0) {
            break;
        }
        let stop = match waiting {
            Some(room) => rooms::pending(room)?.joins > 0,
            None => got_text,
        };
        if stop {
            break;
        }
    }
    Ok(out)
}

/// Applies what a read gave: finishes the answer when the stream ended, failed or the model
/// reported an error; otherwise writes the text so far every FLUSH_MS.
fn settle(mut g: Gen, pumped: Pumped, now: i64) -> Result<Effects<Gen>> {
    if let Some(broken) = pumped.broken {
        return finish(g, "failed", Some(broken));
    }
    let totals = pumped.totals;
    g.prompt_tokens = totals.prompt_tokens.or(g.prompt_tokens);
    g.completion_tokens = totals.completion_tokens.or(g.completion_tokens);
    if let Some(err) = totals.error {
        return finish(g, "failed", Some(format!("the model server reported: {err}")));
    }
    if totals.done || pumped.ended {
        return finish(g, "done", None);
    }
    if now - g.flushed_ms >= FLUSH_MS && g.first_ms.is_some() {
        g.flushed_ms = now;
        let update =
            UpdateChatMessage { id: g.message_id.clone(), content: g.content.clone(), status: "streaming".into() };
        host::db_update_chat_message(&update)?;
    }
    Ok(Effects::state(g))
}

/// Whether this answer is first in its queue; drops entries whose rooms are gone (a room that
/// failed too often), checked about once a second.
fn my_turn(g: &Gen, tick: u64) -> Result<bool> {
    let prefix = queue_prefix(&g.provider, &g.model);
    let queued = kv::list(&prefix, Page { limit: 50, offset: 0 })?;
    match queued.first() {
        Some((key, _)) if *key == g.queue_key => return Ok(true),
        None => return Ok(true),
        Some(_) => {}
    }
    if !queued.iter().any(|(k, _)| *k == g.queue_key) {
        kv::set(&g.queue_key, b"1")?;
    }
    if tick.is_multiple_of(25) {
        let live: Vec<String> = rooms::list(&Empty {})?.into_iter().map(|r| r.room).collect();
        for (key, _) in &queued {
            let message = key.rsplit('|').next().unwrap_or("");
            if *key != g.queue_key && !live.iter().any(|r| *r == room_id(message)) {
                kv::delete(key)?;
            }
        }
    }
    Ok(false)
}

fn open(g: &mut Gen) -> std::result::Result<(), String> {
    let provider = providers::get(&g.provider).map_err(|e| e.message)?;
    let req = g.request.take().ok_or("the answer's request is missing")?;
    g.started_ms = time::now().map_err(|e| e.message)?;
    g.flushed_ms = g.started_ms;
    let head = http::open(&req).map_err(|e| providers::explain(&provider, e).message)?;
    if head.status != 200 {
        let mut body = String::new();
        for _ in 0..10 {
            match http::read(&HttpRead { id: head.id.clone(), max_bytes: 4096, wait_ms: 500 }) {
                Ok(c) => {
                    body.push_str(&c.data);
                    if c.done || body.len() >= 300 {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        let _ = http::close(&HttpClose { id: head.id });
        return Err(format!("{} answered {}: {}", provider.name, head.status, providers::cut(body.trim(), 300)));
    }
    g.stream = Some(head.id);
    g.phase = "streaming".into();
    Ok(())
}

/// Ends the answer: the message, the execution row, the queue entry and the room.
fn finish(mut g: Gen, status: &str, err: Option<String>) -> Result<Effects<Gen>> {
    if let Some(id) = g.stream.take() {
        let _ = http::close(&HttpClose { id });
    }
    let now = time::now()?;
    let message_status = match status {
        "done" => "done",
        "stopped" => "stopped",
        _ => "failed",
    };
    host::db_update_chat_message(&UpdateChatMessage {
        id: g.message_id.clone(),
        content: g.content.clone(),
        status: message_status.into(),
    })?;
    let started = if g.started_ms > 0 { g.started_ms } else { g.created_ms };
    let exec_status = match status {
        "done" => "completed",
        other => other,
    };
    let update = UpdateAgentExecution {
        id: g.exec_id.clone(),
        status: exec_status.into(),
        output: Some(g.content.clone()),
        error: err.clone(),
        first_token_ms: g.first_ms.map(|f| f - started),
        total_ms: Some(now - started),
        prompt_tokens: g.prompt_tokens,
        completion_tokens: g.completion_tokens,
    };
    if let Err(e) = host::db_update_agent_execution(&update) {
        warn!("execution {} not updated: {}", g.exec_id, e.message);
    }
    kv::delete(&g.queue_key)?;
    kv::delete(&stop_key(&g.message_id))?;
    if let Some(e) = &err {
        warn!("answer {} failed: {e}", g.message_id);
    }
    let done = json!({
        "type": "done", "message_id": g.message_id, "status": message_status, "error": err,
        "content": g.content,
    });
    g.phase = message_status.into();
    g.finished_ms = Some(now);
    g.error = err;
    Ok(Effects::state(g).broadcast(&done))
}
