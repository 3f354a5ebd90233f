//! One connected client: its identity, its bounded outgoing queue and the rooms it is in.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, Notify};

use super::RoomKey;

/// A frame for a client: JSON text, shared by every client it goes to.
pub type Frame = Arc<str>;

/// A connection as the host sees it. The front end owns the receiving end of its queue.
pub struct Client {
    /// Connection id, unique while the host runs ("c1", "c2", ...).
    pub id: Arc<str>,
    /// The signed-in user's uuid; `None` for an anonymous client.
    pub user: Option<String>,
    /// The user's name.
    pub name: Option<String>,
    tx: mpsc::Sender<Frame>,
    overflowed: AtomicBool,
    overflow: Notify,
    rooms: Mutex<Vec<RoomKey>>,
}

impl Client {
    pub(crate) fn new(
        id: String,
        user: Option<String>,
        name: Option<String>,
        queue: usize,
    ) -> (Arc<Client>, mpsc::Receiver<Frame>) {
        let (tx, rx) = mpsc::channel(queue.max(1));
        let client = Client {
            id: Arc::from(id),
            user,
            name,
            tx,
            overflowed: AtomicBool::new(false),
            overflow: Notify::new(),
            rooms: Mutex::new(Vec::new()),
        };
        (Arc::new(client), rx)
    }

    /// Queues a frame. A full queue marks the client as overflowed (its connection should close
    /// it: see [`Client::overflowed`]) and drops the frame; returns whether it was queued.
    pub fn push(&self, frame: Frame) -> bool {
        match self.tx.try_send(frame) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                if !self.overflowed.swap(true, Ordering::SeqCst) {
                    self.overflow.notify_one();
                }
                false
            }
            Err(TrySendError::Closed(_)) => false,
        }
    }

    /// Resolves once a frame could not be queued because the client does not read fast enough.
    pub async fn overflowed(&self) {
        loop {
            let notified = self.overflow.notified();
            if self.overflowed.load(Ordering::SeqCst) {
                return;
            }
            notified.await;
        }
    }

    /// Whether the queue overflowed.
    pub fn has_overflowed(&self) -> bool {
        self.overflowed.load(Ordering::SeqCst)
    }

    /// The rooms the client is in, as (plugin, room).
    pub fn rooms(&self) -> Vec<(String, String)> {
        let rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
        rooms.iter().map(|(p, r)| (p.to_string(), r.to_string())).collect()
    }

    pub(crate) fn is_in(&self, key: &RoomKey) -> bool {
        self.rooms.lock().unwrap_or_else(PoisonError::into_inner).contains(key)
    }

    pub(crate) fn entered(&self, key: &RoomKey) {
        let mut rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
        if !rooms.contains(key) {
            rooms.push(key.clone());
        }
    }

    pub(crate) fn exited(&self, key: &RoomKey) {
        self.rooms.lock().unwrap_or_else(PoisonError::into_inner).retain(|k| k != key);
    }

    pub(crate) fn take_rooms(&self) -> Vec<RoomKey> {
        std::mem::take(&mut *self.rooms.lock().unwrap_or_else(PoisonError::into_inner))
    }

    pub(crate) fn as_room_client(&self) -> a2e_abi::RoomClient {
        a2e_abi::RoomClient { client: self.id.to_string(), user: self.user.clone(), name: self.name.clone() }
    }
}
