//! Realtime: rooms owned by plugins, ticks, schedules and event subscriptions.
//!
//! The host runs these on a small tokio runtime of its own (`a2e-rt` threads), created on first
//! use; plugin calls go to that runtime's blocking pool, so nothing here blocks a front end's
//! async threads. A front end (the server's `/api/rt`, the desktop app) makes a [`Client`] per
//! connection, joins rooms with [`Realtime::join`] and forwards the frames the client's queue
//! receives. Frames are JSON text, built once per message and shared by every recipient.
//!
//! Nothing here holds the [`crate::Host`] strongly: rooms, schedules and subscribers reach it
//! through a weak link, so dropping the last `Host` stops them.

mod client;
mod counters;
mod room;
mod schedule;
mod subscribe;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};

use a2e_abi::{codes, RoomCreate, RoomInfo};
use serde_json::Value;

pub use client::{Client, Frame};
pub use counters::{Counters, CountersSnapshot, TICK_BUCKETS_MS};
pub(crate) use room::Room;
pub(crate) use schedule::parse_cron;
pub(crate) use subscribe::Subscribers;

use crate::runtime::Inner;
use crate::Host;

/// Defaults and caps of rooms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoomLimits {
    /// Clients per room when the plugin does not say (and the most it may ask for).
    pub max_clients: u32,
    /// Client messages buffered between ticks when the plugin does not say (at most 4096).
    pub input_queue: u32,
    /// Consecutive failed calls that close a room when the plugin does not say (at most 100).
    pub max_failures: u32,
    /// Rooms one plugin may have open.
    pub max_rooms_per_plugin: u32,
}

impl Default for RoomLimits {
    fn default() -> Self {
        RoomLimits { max_clients: 1000, input_queue: 128, max_failures: 5, max_rooms_per_plugin: 1000 }
    }
}

/// Why a client's request about a room was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RtError {
    /// One of [`a2e_abi::codes`] or `ROOM_FULL`, `REFUSED`, `NOT_JOINED`.
    pub code: &'static str,
    /// What the client is told.
    pub message: String,
}

impl RtError {
    pub(crate) fn new(code: &'static str, message: impl Into<String>) -> RtError {
        RtError { code, message: message.into() }
    }
}

impl std::fmt::Display for RtError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// The host's weak link to itself, for work that runs after the call that started it.
#[derive(Default)]
pub(crate) struct HostLink(OnceLock<Weak<Inner>>);

impl HostLink {
    pub(crate) fn set(&self, inner: Weak<Inner>) {
        let _ = self.0.set(inner);
    }

    /// The host, while it is alive.
    pub(crate) fn host(&self) -> Option<Host> {
        self.0.get()?.upgrade().map(Host::from_inner)
    }

    pub(crate) fn weak(&self) -> Weak<Inner> {
        self.0.get().cloned().unwrap_or_default()
    }
}

/// Key of a room: (plugin, room id).
pub(crate) type RoomKey = (Arc<str>, Arc<str>);

/// Rooms, clients and counters of one host.
pub struct Realtime {
    runtime: Mutex<Slot>,
    pub(crate) link: HostLink,
    rooms: Mutex<HashMap<RoomKey, Arc<Room>>>,
    next_client: AtomicU64,
    next_room: AtomicU64,
    limits: RoomLimits,
    plugin_counters: Mutex<BTreeMap<String, Arc<Counters>>>,
    pub(crate) subscribers: Subscribers,
    schedules: schedule::Schedules,
}

impl Realtime {
    pub(crate) fn new(limits: RoomLimits) -> Realtime {
        Realtime {
            runtime: Mutex::new(Slot::NotStarted),
            link: HostLink::default(),
            rooms: Mutex::new(HashMap::new()),
            next_client: AtomicU64::new(1),
            next_room: AtomicU64::new(1),
            limits,
            plugin_counters: Mutex::new(BTreeMap::new()),
            subscribers: Subscribers::default(),
            schedules: schedule::Schedules::default(),
        }
    }

    /// The realtime runtime, started on first use; `None` once the host has shut down.
    pub(crate) fn handle(&self) -> Option<tokio::runtime::Handle> {
        let mut slot = self.runtime.lock().unwrap_or_else(PoisonError::into_inner);
        if matches!(*slot, Slot::NotStarted) {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name(THREAD_NAME)
                .enable_time()
                .build()
                .expect("the realtime runtime starts");
            *slot = Slot::Running(runtime);
        }
        match &*slot {
            Slot::Running(runtime) => Some(runtime.handle().clone()),
            Slot::NotStarted | Slot::Stopped => None,
        }
    }

    /// Stops realtime work for good: closes every room (its clients are told `reason`), ends
    /// schedules and subscriptions, and waits up to `grace` for plugin calls in flight to return.
    /// Answers whether they all returned in time. Called from one of the runtime's own threads
    /// it cannot wait, and does not.
    pub(crate) fn shutdown(&self, reason: &str, grace: std::time::Duration) -> bool {
        let slot = std::mem::replace(&mut *self.runtime.lock().unwrap_or_else(PoisonError::into_inner), Slot::Stopped);
        let rooms: Vec<Arc<Room>> =
            self.rooms.lock().unwrap_or_else(PoisonError::into_inner).drain().map(|(_, room)| room).collect();
        for room in rooms {
            room.close(reason);
        }
        let Slot::Running(runtime) = slot else { return true };
        if std::thread::current().name() == Some(THREAD_NAME) {
            runtime.shutdown_background();
            return false;
        }
        // Waiting inside an async context would panic; a thread of its own may always wait.
        let cell = Arc::new(Mutex::new(Some(runtime)));
        let taken = cell.clone();
        let waiter = std::thread::Builder::new().name("a2e-rt-stop".into()).spawn(move || {
            let Some(runtime) = taken.lock().unwrap_or_else(PoisonError::into_inner).take() else { return false };
            let started = std::time::Instant::now();
            runtime.shutdown_timeout(grace);
            started.elapsed() < grace
        });
        match waiter {
            Ok(waiter) => waiter.join().unwrap_or(false),
            Err(_) => {
                if let Some(runtime) = cell.lock().unwrap_or_else(PoisonError::into_inner).take() {
                    runtime.shutdown_background();
                }
                false
            }
        }
    }

    /// Counters of `plugin`'s rooms, schedules and subscriptions (created on first use).
    pub fn plugin_counters(&self, plugin: &str) -> Arc<Counters> {
        let mut all = self.plugin_counters.lock().unwrap_or_else(PoisonError::into_inner);
        all.entry(plugin.to_owned()).or_default().clone()
    }

    /// Every plugin's counters, by name.
    pub fn all_plugin_counters(&self) -> Vec<(String, CountersSnapshot)> {
        let all = self.plugin_counters.lock().unwrap_or_else(PoisonError::into_inner);
        all.iter().map(|(name, c)| (name.clone(), c.snapshot())).collect()
    }

    /// Makes a client for a connection; frames for it arrive on the returned receiver, which
    /// holds at most `queue` frames (a client that lets it fill is told to go: see
    /// [`Client::overflowed`]).
    pub fn connect(
        &self,
        user: Option<String>,
        name: Option<String>,
        queue: usize,
    ) -> (Arc<Client>, tokio::sync::mpsc::Receiver<Frame>) {
        let id = format!("c{}", self.next_client.fetch_add(1, Ordering::Relaxed));
        Client::new(id, user, name, queue)
    }

    fn room(&self, plugin: &str, room: &str) -> Option<Arc<Room>> {
        let rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
        rooms.get(&(Arc::from(plugin), Arc::from(room))).cloned()
    }

    /// Asks `plugin` to let `client` into `room`; `reference` is echoed in the `joined` frame.
    /// Resolves once the plugin has decided; on success the client has the `joined` frame.
    pub async fn join(
        &self,
        plugin: &str,
        room: &str,
        client: &Arc<Client>,
        data: Value,
        reference: Option<Value>,
    ) -> Result<(), RtError> {
        let host = self.link.host().ok_or_else(stopping)?;
        let found = self.room(plugin, room).ok_or_else(|| no_room(plugin, room))?;
        if client.user.is_none() && !host.allows_anonymous(plugin) {
            return Err(RtError::new(
                codes::UNAUTHENTICATED,
                format!("rooms of plugin `{plugin}` need a signed-in user; sign in first"),
            ));
        }
        if client.is_in(&found.key) {
            return Err(RtError::new(codes::CONFLICT, format!("already in room `{room}` of `{plugin}`")));
        }
        found.join(client.clone(), data, reference).await
    }

    /// Takes `client` out of a room, telling the plugin. Unknown rooms and non-members are
    /// reported as errors.
    pub fn leave(&self, plugin: &str, room: &str, client: &Arc<Client>) -> Result<(), RtError> {
        let found = self.room(plugin, room).ok_or_else(|| no_room(plugin, room))?;
        if !client.is_in(&found.key) {
            return Err(not_joined(plugin, room));
        }
        found.leave(client, "left");
        Ok(())
    }

    /// Hands a client message to a room: buffered for the next tick, or queued for
    /// `room_message` in rooms without ticks.
    pub fn message(&self, plugin: &str, room: &str, client: &Arc<Client>, data: Value) -> Result<(), RtError> {
        let found = self.room(plugin, room).ok_or_else(|| no_room(plugin, room))?;
        if !client.is_in(&found.key) {
            return Err(not_joined(plugin, room));
        }
        found.message(client, data)
    }

    /// Takes a closed connection out of every room it was in.
    pub fn disconnect(&self, client: &Arc<Client>) {
        for key in client.take_rooms() {
            if let Some(room) = self.room(&key.0, &key.1) {
                room.leave(client, "disconnected");
            }
        }
    }

    /// Creates a room of `plugin` (for the `room_create` host function).
    pub(crate) fn create(&self, plugin: &Arc<str>, req: RoomCreate) -> Result<RoomInfo, RtError> {
        if req.tick_hz > 60 {
            return Err(RtError::new(codes::INVALID_INPUT, "tick_hz must be 0 (no ticks) or 1 to 60"));
        }
        let limits = self.limits;
        let max_clients = pick(req.max_clients, limits.max_clients, limits.max_clients, "max_clients")?;
        let input_queue = pick(req.input_queue, limits.input_queue, 4096, "input_queue")?;
        let max_failures = pick(req.max_failures, limits.max_failures, 100, "max_failures")?;
        let id = match req.room {
            Some(id) => {
                check_room_id(&id)?;
                id
            }
            None => format!("r{}", self.next_room.fetch_add(1, Ordering::Relaxed)),
        };
        let key: RoomKey = (plugin.clone(), Arc::from(id.as_str()));
        let handle = self.handle().ok_or_else(stopping)?;
        let mut rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
        if rooms.contains_key(&key) {
            return Err(RtError::new(codes::ALREADY_EXISTS, format!("room `{id}` exists")));
        }
        let open = rooms.keys().filter(|k| k.0 == *plugin).count();
        if open >= limits.max_rooms_per_plugin as usize {
            return Err(RtError::new(
                codes::UNAVAILABLE,
                format!("plugin `{plugin}` has {open} rooms open, the most allowed; close one first"),
            ));
        }
        let settings = room::Settings { tick_hz: req.tick_hz, max_clients, input_queue, max_failures };
        let room = Room::new(key.clone(), settings, self.plugin_counters(plugin));
        rooms.insert(key, room.clone());
        drop(rooms);
        room::start(&handle, room.clone(), self.link.weak(), req.state);
        Ok(room.info())
    }

    /// Closes a room of `plugin`; returns whether it was open.
    pub(crate) fn close(&self, plugin: &str, room: &str, reason: &str) -> bool {
        let removed = {
            let mut rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
            rooms.remove(&(Arc::from(plugin), Arc::from(room)))
        };
        match removed {
            Some(room) => {
                room.close(reason);
                true
            }
            None => false,
        }
    }

    /// Closes every room of `plugin` (removed or disabled).
    pub(crate) fn close_plugin_rooms(&self, plugin: &str, reason: &str) {
        let removed: Vec<Arc<Room>> = {
            let mut rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
            let keys: Vec<RoomKey> = rooms.keys().filter(|k| &*k.0 == plugin).cloned().collect();
            keys.iter().filter_map(|k| rooms.remove(k)).collect()
        };
        for room in removed {
            room.close(reason);
        }
    }

    /// Called by a room that closed itself (after failures or at its plugin's request).
    pub(crate) fn forget(&self, key: &RoomKey, room: &Arc<Room>) {
        let mut rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
        if rooms.get(key).is_some_and(|r| Arc::ptr_eq(r, room)) {
            rooms.remove(key);
        }
    }

    /// The rooms of `plugin`, by id.
    pub fn rooms_of(&self, plugin: &str) -> Vec<RoomInfo> {
        let rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
        let mut list: Vec<RoomInfo> = rooms.values().filter(|r| &*r.key.0 == plugin).map(|r| r.info()).collect();
        drop(rooms);
        list.sort_by(|a, b| a.room.cmp(&b.room));
        list
    }

    /// Every room as (plugin, info), by plugin and id.
    pub fn all_rooms(&self) -> Vec<(String, RoomInfo)> {
        let rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
        let mut list: Vec<(String, RoomInfo)> = rooms.values().map(|r| (r.key.0.to_string(), r.info())).collect();
        drop(rooms);
        list.sort_by(|a, b| (&a.0, &a.1.room).cmp(&(&b.0, &b.1.room)));
        list
    }

    /// The room's tick-duration histogram and counters (for metrics).
    pub fn room_counters(&self) -> Vec<(String, String, CountersSnapshot)> {
        let rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
        rooms.values().map(|r| (r.key.0.to_string(), r.key.1.to_string(), r.counters.snapshot())).collect()
    }

    /// Sends to clients of a room (for the `room_send` host function); answers how many it reached.
    pub(crate) fn send(&self, plugin: &str, room: &str, to: Option<&[String]>, data: &Value) -> Result<u64, RtError> {
        let found = self.room(plugin, room).ok_or_else(|| no_room(plugin, room))?;
        Ok(found.deliver(to, data))
    }

    /// What waits for a room's next turn (for the `room_pending` host function).
    pub(crate) fn pending(&self, plugin: &str, room: &str) -> Result<a2e_abi::RoomPending, RtError> {
        Ok(self.room(plugin, room).ok_or_else(|| no_room(plugin, room))?.pending())
    }

    /// Removes a client from a room (for the `room_kick` host function).
    pub(crate) fn kick(&self, plugin: &str, room: &str, client: &str, reason: &str) -> Result<bool, RtError> {
        let found = self.room(plugin, room).ok_or_else(|| no_room(plugin, room))?;
        Ok(found.kick(client, reason))
    }

    /// Starts, restarts or stops the schedules and subscriptions of `plugin` after it was
    /// installed, replaced, enabled, disabled or removed. Schedules run only once
    /// [`crate::Host::start_background`] was called.
    pub(crate) fn reconcile(&self, plugin: &str, manifest: Option<&crate::PluginManifest>, background: bool) {
        let specs = if background { manifest.map(schedule::specs_of).unwrap_or_default() } else { Vec::new() };
        let needs_runtime = !specs.is_empty() || manifest.is_some_and(|m| !m.subscriptions.is_empty());
        let handle = needs_runtime.then(|| self.handle()).flatten();
        let counters = self.plugin_counters(plugin);
        self.subscribers.reconcile(handle.as_ref(), &self.link, plugin, manifest, counters.clone());
        self.schedules.reconcile(handle.as_ref(), &self.link, plugin, specs, counters);
    }
}

impl Drop for Realtime {
    fn drop(&mut self) {
        self.shutdown("the server is stopping", SHUTDOWN_GRACE);
    }
}

/// Name of the realtime runtime's threads.
const THREAD_NAME: &str = "a2e-rt";

/// How long dropping the last handle of a host waits for realtime calls in flight.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// The realtime runtime's lifecycle.
enum Slot {
    NotStarted,
    Running(tokio::runtime::Runtime),
    Stopped,
}

fn stopping() -> RtError {
    RtError::new(codes::UNAVAILABLE, "the host is stopping")
}

/// Calls `export` of `plugin` on a blocking thread; returns what went wrong, if anything (a
/// failed call, or an answer that is an error envelope).
pub(crate) async fn call_export(host: Host, plugin: &str, export: &str, input: Vec<u8>) -> Option<String> {
    let (p, e) = (plugin.to_owned(), export.to_owned());
    let result = tokio::task::spawn_blocking(move || host.call(&p, &e, &input, &crate::CallOptions::default())).await;
    match result {
        Ok(Ok(output)) => {
            // An answer that is not an envelope is the export's own protocol, not a failure.
            let answer: Value = serde_json::from_slice(&output).unwrap_or(Value::Null);
            (answer["success"] == false).then(|| {
                let error = &answer["error"];
                format!("{}: {}", error["code"].as_str().unwrap_or("ERROR"), error["message"].as_str().unwrap_or(""))
            })
        }
        Ok(Err(err)) => Some(err.to_string()),
        Err(join) => Some(format!("the call ended abnormally: {join}")),
    }
}

fn pick(asked: u32, default: u32, max: u32, what: &str) -> Result<u32, RtError> {
    match asked {
        0 => Ok(default),
        n if n <= max => Ok(n),
        _ => Err(RtError::new(codes::INVALID_INPUT, format!("{what} must be at most {max}"))),
    }
}

fn check_room_id(id: &str) -> Result<(), RtError> {
    let ok = !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c));
    if ok {
        Ok(())
    } else {
        Err(RtError::new(codes::INVALID_INPUT, "room ids are 1 to 64 of A-Z, a-z, 0-9, '-', '_', '.' and ':'"))
    }
}

fn no_room(plugin: &str, room: &str) -> RtError {
    RtError::new(codes::NOT_FOUND, format!("plugin `{plugin}` has no room `{room}`"))
}

fn not_joined(plugin: &str, room: &str) -> RtError {
    RtError::new(a2e_abi::codes::NOT_JOINED, format!("join room `{room}` of `{plugin}` first"))
}
