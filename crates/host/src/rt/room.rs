//! One room: its members, its input queue and the task that runs it.
//!
//! Every call into the room's plugin (join, leave, message, tick) is made by the room's own task,
//! one at a time, so calls of one room never overlap and each sees the state the previous one
//! left. Ticks are scheduled from their intended times (`start + n * period`); a tick that cannot
//! start before the next one is due is skipped and counted, never run late in a burst.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use a2e_abi::{
    codes, ClientMessage, Envelope, JoinAnswer, JoinRequest, LeaveRequest, MessageRequest, RoomClient, RoomEffects,
    RoomInfo, RoomPending, RoomStats, TickRequest, EXPORT_JOIN, EXPORT_LEAVE, EXPORT_MESSAGE, EXPORT_TICK,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use super::counters::{add, sub, Counters};
use super::{Client, Frame, RoomKey, RtError};
use crate::runtime::Inner;
use crate::{CallOptions, Host};

/// How a room was created.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Settings {
    pub(crate) tick_hz: u32,
    pub(crate) max_clients: u32,
    pub(crate) input_queue: u32,
    pub(crate) max_failures: u32,
}

#[derive(Default)]
struct Inputs {
    messages: VecDeque<ClientMessage>,
    joins: Vec<RoomClient>,
    leaves: Vec<RoomClient>,
    dropped: u64,
}

enum Cmd {
    Join { client: Arc<Client>, data: Value, reference: Option<Value>, reply: oneshot::Sender<Result<(), RtError>> },
    Leave { client: RoomClient, reason: &'static str },
    Message { client: RoomClient, data: Value },
    Close,
}

pub(crate) struct Room {
    pub(crate) key: RoomKey,
    settings: Settings,
    members: Mutex<HashMap<Arc<str>, Arc<Client>>>,
    inputs: Mutex<Inputs>,
    queued_messages: AtomicU64,
    queued_joins: AtomicU64,
    cmd: mpsc::UnboundedSender<Cmd>,
    cmd_rx: Mutex<Option<mpsc::UnboundedReceiver<Cmd>>>,
    pub(crate) counters: Arc<Counters>,
    plugin_counters: Arc<Counters>,
    next_tick: AtomicU64,
    closed: AtomicBool,
}

#[derive(Serialize)]
struct MessageFrame<'a> {
    r#type: &'static str,
    plugin: &'a str,
    room: &'a str,
    data: &'a Value,
}

#[derive(Serialize)]
struct NoticeFrame<'a> {
    r#type: &'static str,
    plugin: &'a str,
    room: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    client: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
    reference: Option<&'a Value>,
}

impl Room {
    pub(crate) fn new(key: RoomKey, settings: Settings, plugin_counters: Arc<Counters>) -> Arc<Room> {
        let (cmd, rx) = mpsc::unbounded_channel();
        Arc::new(Room {
            key,
            settings,
            members: Mutex::new(HashMap::new()),
            inputs: Mutex::new(Inputs::default()),
            queued_messages: AtomicU64::new(0),
            queued_joins: AtomicU64::new(0),
            cmd,
            cmd_rx: Mutex::new(Some(rx)),
            counters: Arc::new(Counters::default()),
            plugin_counters,
            next_tick: AtomicU64::new(0),
            closed: AtomicBool::new(false),
        })
    }

    fn ticking(&self) -> bool {
        self.settings.tick_hz > 0
    }

    fn count(&self, field: impl Fn(&Counters) -> &AtomicU64, n: u64) {
        add(field(&self.counters), n);
        add(field(&self.plugin_counters), n);
    }

    pub(crate) fn info(&self) -> RoomInfo {
        let s = self.counters.snapshot();
        RoomInfo {
            room: self.key.1.to_string(),
            tick_hz: self.settings.tick_hz,
            clients: self.members.lock().unwrap_or_else(PoisonError::into_inner).len() as u32,
            max_clients: self.settings.max_clients,
            tick: self.next_tick.load(Ordering::Relaxed),
            stats: RoomStats {
                ticks: s.ticks,
                skipped: s.skipped,
                late: s.late,
                failed: s.failed,
                messages_in: s.messages_in,
                messages_out: s.messages_out,
                bytes_out: s.bytes_out,
                dropped_inputs: s.dropped_inputs,
            },
        }
    }

    fn notice(
        &self,
        kind: &'static str,
        client: Option<&str>,
        reason: Option<&str>,
        reference: Option<&Value>,
    ) -> Frame {
        let frame = NoticeFrame { r#type: kind, plugin: &self.key.0, room: &self.key.1, client, reason, reference };
        Arc::from(serde_json::to_string(&frame).unwrap_or_default())
    }

    pub(crate) async fn join(&self, client: Arc<Client>, data: Value, reference: Option<Value>) -> Result<(), RtError> {
        self.check_capacity()?;
        let (reply, answer) = oneshot::channel();
        self.queued_joins.fetch_add(1, Ordering::SeqCst);
        if self.cmd.send(Cmd::Join { client, data, reference, reply }).is_err() {
            self.queued_joins.fetch_sub(1, Ordering::SeqCst);
            return Err(self.gone());
        }
        answer.await.map_err(|_| self.gone())?
    }

    /// What waits for the room's next turn (for the `room_pending` host function).
    pub(crate) fn pending(&self) -> RoomPending {
        let messages = if self.ticking() {
            self.inputs.lock().unwrap_or_else(PoisonError::into_inner).messages.len() as u64
        } else {
            self.queued_messages.load(Ordering::SeqCst)
        };
        RoomPending { joins: self.queued_joins.load(Ordering::SeqCst), messages }
    }

    fn check_capacity(&self) -> Result<(), RtError> {
        let members = self.members.lock().unwrap_or_else(PoisonError::into_inner).len();
        if members >= self.settings.max_clients as usize {
            return Err(RtError::new(
                a2e_abi::codes::ROOM_FULL,
                format!("room `{}` is full ({} clients)", self.key.1, self.settings.max_clients),
            ));
        }
        Ok(())
    }

    fn gone(&self) -> RtError {
        RtError::new(codes::NOT_FOUND, format!("room `{}` of `{}` has closed", self.key.1, self.key.0))
    }

    /// Takes a member out at once (no more frames reach it) and tells the plugin afterwards.
    pub(crate) fn leave(&self, client: &Arc<Client>, reason: &'static str) {
        if self.remove_member(&client.id).is_some() {
            client.exited(&self.key);
            if reason != "disconnected" {
                client.push(self.notice("left", None, Some(reason), None));
            }
            let _ = self.cmd.send(Cmd::Leave { client: client.as_room_client(), reason });
        }
    }

    pub(crate) fn kick(&self, client_id: &str, reason: &str) -> bool {
        let Some(client) = self.remove_member(client_id) else { return false };
        client.exited(&self.key);
        client.push(self.notice("left", None, Some(reason), None));
        let _ = self.cmd.send(Cmd::Leave { client: client.as_room_client(), reason: "kicked" });
        true
    }

    fn remove_member(&self, id: &str) -> Option<Arc<Client>> {
        let removed = self.members.lock().unwrap_or_else(PoisonError::into_inner).remove(id);
        if removed.is_some() {
            sub(&self.counters.clients, 1);
            sub(&self.plugin_counters.clients, 1);
        }
        removed
    }

    pub(crate) fn message(&self, client: &Arc<Client>, data: Value) -> Result<(), RtError> {
        self.count(|c| &c.messages_in, 1);
        let cap = u64::from(self.settings.input_queue);
        if self.ticking() {
            let mut inputs = self.inputs.lock().unwrap_or_else(PoisonError::into_inner);
            let full = inputs.messages.len() as u64 >= cap;
            if full {
                inputs.messages.pop_front();
                inputs.dropped += 1;
            }
            inputs.messages.push_back(ClientMessage { client: client.id.to_string(), data });
            drop(inputs);
            if full {
                self.count(|c| &c.dropped_inputs, 1);
            }
            return Ok(());
        }
        if self.queued_messages.fetch_add(1, Ordering::SeqCst) >= cap {
            self.queued_messages.fetch_sub(1, Ordering::SeqCst);
            self.count(|c| &c.dropped_inputs, 1);
            return Err(RtError::new(
                codes::UNAVAILABLE,
                format!("room `{}` has {cap} messages waiting; the message was dropped, retry later", self.key.1),
            ));
        }
        self.cmd.send(Cmd::Message { client: client.as_room_client(), data }).map_err(|_| self.gone())
    }

    /// Sends `data` to the members named in `to` (every member when `None`); returns how many
    /// it reached.
    pub(crate) fn deliver(&self, to: Option<&[String]>, data: &Value) -> u64 {
        let frame = MessageFrame { r#type: "message", plugin: &self.key.0, room: &self.key.1, data };
        let frame: Frame = Arc::from(serde_json::to_string(&frame).unwrap_or_default());
        let members = self.members.lock().unwrap_or_else(PoisonError::into_inner);
        let mut reached = 0u64;
        match to {
            None => {
                for client in members.values() {
                    reached += u64::from(client.push(frame.clone()));
                }
            }
            Some(ids) => {
                for id in ids {
                    if let Some(client) = members.get(id.as_str()) {
                        reached += u64::from(client.push(frame.clone()));
                    }
                }
            }
        }
        drop(members);
        self.count(|c| &c.messages_out, reached);
        self.count(|c| &c.bytes_out, reached * frame.len() as u64);
        reached
    }

    /// Closes the room: members are told `reason` and taken out; the room's task ends.
    pub(crate) fn close(&self, reason: &str) {
        if self.closed.swap(true, Ordering::SeqCst) {
            return;
        }
        let members: Vec<Arc<Client>> =
            self.members.lock().unwrap_or_else(PoisonError::into_inner).drain().map(|(_, c)| c).collect();
        let frame = self.notice("closed", None, Some(reason), None);
        for client in &members {
            client.exited(&self.key);
            client.push(frame.clone());
        }
        sub(&self.counters.clients, members.len() as u64);
        sub(&self.plugin_counters.clients, members.len() as u64);
        let _ = self.cmd.send(Cmd::Close);
        tracing::info!(plugin = %self.key.0, room = %self.key.1, %reason, "room closed");
    }
}

/// Starts the room's task on `handle`.
pub(crate) fn start(handle: &tokio::runtime::Handle, room: Arc<Room>, link: Weak<Inner>, state: Value) {
    let Some(rx) = room.cmd_rx.lock().unwrap_or_else(PoisonError::into_inner).take() else { return };
    handle.spawn(Runner { room, link, state, failures: 0 }.run(rx));
}

struct Runner {
    room: Arc<Room>,
    link: Weak<Inner>,
    state: Value,
    failures: u32,
}

/// What a failed room call was.
struct Failure(String);

impl Runner {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Cmd>) {
        let hz = self.room.settings.tick_hz;
        let period = Duration::from_nanos(if hz > 0 { 1_000_000_000 / u64::from(hz) } else { 0 });
        let start = Instant::now();
        let start_ms = self.host().map(|h| h.state().clock.now_ms()).unwrap_or_default();
        let mut tick: u64 = 0;
        let mut last_start: Option<Instant> = None;
        loop {
            if self.room.closed.load(Ordering::SeqCst) {
                break;
            }
            let due = start + period_times(period, tick);
            tokio::select! {
                biased;
                _ = tokio::time::sleep_until(due.into()), if hz > 0 => {
                    let now = Instant::now();
                    if now >= due + period {
                        // Not startable within its period: skip it and every other tick whose
                        // slot has passed, and carry on from the first that can still start.
                        let behind = ((now - due).as_nanos() / period.as_nanos()) as u64;
                        tick += behind;
                        self.room.count(|c| &c.skipped, behind);
                        self.room.next_tick.store(tick, Ordering::Relaxed);
                        continue;
                    }
                    if now - due > period / 4 {
                        self.room.count(|c| &c.late, 1);
                    }
                    let elapsed = last_start.map(|l| (now - l).as_secs_f64() * 1000.0).unwrap_or(0.0);
                    last_start = Some(now);
                    let intended_ms = start_ms + i64::try_from(period_times(period, tick).as_millis()).unwrap_or(i64::MAX);
                    self.tick(tick, intended_ms, elapsed).await;
                    tick += 1;
                    self.room.next_tick.store(tick, Ordering::Relaxed);
                }
                cmd = rx.recv() => match cmd {
                    None | Some(Cmd::Close) => break,
                    Some(Cmd::Join { client, data, reference, reply }) => {
                        self.room.queued_joins.fetch_sub(1, Ordering::SeqCst);
                        let result = self.join(client, data, reference).await;
                        let _ = reply.send(result);
                    }
                    Some(Cmd::Leave { client, reason }) => self.left(client, reason).await,
                    Some(Cmd::Message { client, data }) => {
                        self.room.queued_messages.fetch_sub(1, Ordering::SeqCst);
                        self.on_message(client, data).await;
                    }
                },
            }
        }
    }

    fn host(&self) -> Option<Host> {
        self.link.upgrade().map(Host::from_inner)
    }

    fn has_export(&self, export: &str) -> bool {
        self.host().is_some_and(|h| h.has_export(&self.room.key.0, export))
    }

    /// Calls `export` with `input` on a blocking thread and decodes its envelope.
    async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        export: &'static str,
        input: &Req,
    ) -> Result<Resp, Failure> {
        let host = self.host().ok_or_else(|| Failure("the host is stopping".into()))?;
        let bytes = serde_json::to_vec(input).map_err(|e| Failure(format!("encoding the {export} input: {e}")))?;
        let plugin = self.room.key.0.clone();
        let output = tokio::task::spawn_blocking(move || host.call(&plugin, export, &bytes, &CallOptions::default()))
            .await
            .map_err(|e| Failure(format!("the call ended abnormally: {e}")))?
            .map_err(|e| Failure(e.to_string()))?;
        let envelope: Envelope<Resp> = serde_json::from_slice(&output)
            .map_err(|e| Failure(format!("{export} answered something that is not its envelope: {e}")))?;
        envelope.into_result().map_err(|e| Failure(format!("{export} answered {e}")))
    }

    /// Books a failed call; closes the room after too many in a row.
    fn failed(&mut self, export: &str, failure: Failure) {
        self.failures += 1;
        self.room.count(|c| &c.failed, 1);
        let (plugin, room) = (&self.room.key.0, &self.room.key.1);
        tracing::warn!(%plugin, %room, export, error = %failure.0, failures = self.failures, "room call failed; the state is kept");
        if self.failures >= self.room.settings.max_failures {
            let reason = format!("the room closed after {} failed calls in a row; last: {}", self.failures, failure.0);
            self.close(&reason);
        }
    }

    fn close(&self, reason: &str) {
        if let Some(host) = self.host() {
            host.state().rt.forget(&self.room.key, &self.room);
        }
        self.room.close(reason);
    }

    /// Applies a good call's effects.
    fn apply(&mut self, effects: RoomEffects) {
        self.failures = 0;
        if let Some(state) = effects.state {
            self.state = state;
        }
        for out in &effects.send {
            self.room.deliver(out.to.as_deref(), &out.data);
        }
        if let Some(reason) = effects.close {
            self.close(&reason);
        }
    }

    async fn join(&mut self, client: Arc<Client>, data: Value, reference: Option<Value>) -> Result<(), RtError> {
        self.room.check_capacity()?;
        let who = client.as_room_client();
        let mut effects = RoomEffects::default();
        if self.has_export(EXPORT_JOIN) {
            let req = JoinRequest {
                room: self.room.key.1.to_string(),
                client: who.clone(),
                data,
                state: std::mem::take(&mut self.state),
            };
            let answer: Result<JoinAnswer, Failure> = self.call(EXPORT_JOIN, &req).await;
            self.state = req.state;
            match answer {
                Ok(answer) if !answer.accept => {
                    let reason = answer.reason.clone().unwrap_or_else(|| "the room refused the join".into());
                    self.apply(answer.effects);
                    return Err(RtError::new(a2e_abi::codes::REFUSED, reason));
                }
                Ok(answer) => effects = answer.effects,
                Err(failure) => {
                    let message = format!("the room could not decide on the join: {}", failure.0);
                    self.failed(EXPORT_JOIN, failure);
                    return Err(RtError::new(codes::UNAVAILABLE, message));
                }
            }
        }
        if self.room.closed.load(Ordering::SeqCst) {
            return Err(self.room.gone());
        }
        self.room.members.lock().unwrap_or_else(PoisonError::into_inner).insert(client.id.clone(), client.clone());
        client.entered(&self.room.key);
        self.room.count(|c| &c.clients, 1);
        self.room.count(|c| &c.joins, 1);
        client.push(self.room.notice("joined", Some(&client.id), None, reference.as_ref()));
        if self.room.ticking() {
            self.room.inputs.lock().unwrap_or_else(PoisonError::into_inner).joins.push(who.clone());
        }
        self.apply(effects);
        if let Some(host) = self.host() {
            host.publish_transient("room.joined", &self.room.key.0, who.user.as_deref(), room_event(&self.room, &who));
        }
        Ok(())
    }

    async fn left(&mut self, client: RoomClient, reason: &'static str) {
        if let Some(host) = self.host() {
            host.publish_transient(
                "room.left",
                &self.room.key.0,
                client.user.as_deref(),
                room_event(&self.room, &client),
            );
        }
        if self.room.ticking() {
            self.room.inputs.lock().unwrap_or_else(PoisonError::into_inner).leaves.push(client.clone());
        }
        if !self.has_export(EXPORT_LEAVE) {
            return;
        }
        let req = LeaveRequest {
            room: self.room.key.1.to_string(),
            client,
            reason: reason.into(),
            state: std::mem::take(&mut self.state),
        };
        let answer: Result<RoomEffects, Failure> = self.call(EXPORT_LEAVE, &req).await;
        self.state = req.state;
        match answer {
            Ok(effects) => self.apply(effects),
            Err(failure) => self.failed(EXPORT_LEAVE, failure),
        }
    }

    async fn on_message(&mut self, client: RoomClient, data: Value) {
        let req =
            MessageRequest { room: self.room.key.1.to_string(), client, data, state: std::mem::take(&mut self.state) };
        let answer: Result<RoomEffects, Failure> = self.call(EXPORT_MESSAGE, &req).await;
        self.state = req.state;
        match answer {
            Ok(effects) => self.apply(effects),
            Err(failure) => self.failed(EXPORT_MESSAGE, failure),
        }
    }

    async fn tick(&mut self, tick: u64, intended_ms: i64, elapsed_ms: f64) {
        let inputs = std::mem::take(&mut *self.room.inputs.lock().unwrap_or_else(PoisonError::into_inner));
        let now_ms = self.host().map(|h| h.state().clock.now_ms()).unwrap_or_default();
        let req = TickRequest {
            room: self.room.key.1.to_string(),
            tick,
            intended_ms,
            now_ms,
            elapsed_ms,
            state: std::mem::take(&mut self.state),
            joins: inputs.joins,
            leaves: inputs.leaves,
            messages: inputs.messages.into(),
            dropped: inputs.dropped,
        };
        let started = Instant::now();
        let answer: Result<RoomEffects, Failure> = self.call(EXPORT_TICK, &req).await;
        let took = started.elapsed();
        self.room.counters.tick_took(took);
        self.room.plugin_counters.tick_took(took);
        self.room.count(|c| &c.ticks, 1);
        self.state = req.state;
        match answer {
            Ok(effects) => self.apply(effects),
            Err(failure) => self.failed(EXPORT_TICK, failure),
        }
    }
}

fn period_times(period: Duration, n: u64) -> Duration {
    Duration::from_nanos(u64::try_from(period.as_nanos()).unwrap_or(u64::MAX).saturating_mul(n))
}

fn room_event(room: &Room, client: &RoomClient) -> Value {
    serde_json::json!({ "room": &*room.key.1, "client": client.client, "name": client.name })
}
