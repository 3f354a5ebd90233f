//! State shared by every plugin call: the database, clock, randomness, signing key, event bus
//! and mailer. Host functions reach the outside world only through this.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use a2e_abi::GrantSpec;

use a2e_db::{AuditEvent, Db};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::mpsc::{Receiver, Sender};
use zeroize::Zeroizing;

use crate::clock::{Clock, RandomSource};
use crate::host_fns::GrantSet;
use crate::mail::QueuedMailer;

/// Shared state behind every host function.
pub struct HostState {
    /// The database.
    pub db: Db,
    /// The clock plugins see.
    pub clock: Arc<dyn Clock>,
    /// The randomness plugins get.
    pub random: Arc<dyn RandomSource>,
    /// The mailer behind `email_send`: a queue in front of the configured backend.
    pub mailer: Arc<QueuedMailer>,
    /// Audit and plugin events, published to subscribers.
    pub events: EventBus,
    /// Key for `token_sign`/`token_verify`; never leaves the host.
    pub(crate) signing_key: Zeroizing<Vec<u8>>,
    /// Grants per plugin.
    pub(crate) grants: GrantCache,
    /// Rooms, clients, schedules and event subscriptions.
    pub rt: crate::rt::Realtime,
    /// Open outbound HTTP streams.
    pub http: crate::host_fns::HttpStreams,
}

impl HostState {
    /// Publishes a recorded event to live subscribers and to plugins subscribed to its kind.
    pub fn publish(&self, event: &AuditEvent) {
        self.events.publish(event);
        if !self.rt.subscribers.is_empty() {
            self.rt.subscribers.deliver(&a2e_abi::EventDelivery {
                id: event.id,
                kind: event.kind.clone(),
                plugin: event.plugin.clone(),
                user_uuid: event.user_uuid.clone(),
                data: event.data.clone(),
                at: event.at,
                dropped: 0,
            });
        }
    }
}

/// An in-process publish/subscribe channel for audit events.
///
/// Each subscriber has a bounded queue; a subscriber whose queue is full is dropped, so one slow
/// consumer never holds up the others or the plugin that emitted the event.
///
/// Receivers are tokio channels: async consumers await them, threads use `blocking_recv`.
#[derive(Default)]
pub struct EventBus {
    subscribers: Mutex<Vec<Sender<AuditEvent>>>,
}

impl EventBus {
    /// Subscribes with a queue of `capacity` events.
    pub fn subscribe(&self, capacity: usize) -> Receiver<AuditEvent> {
        let (tx, rx) = tokio::sync::mpsc::channel(capacity.max(1));
        self.subscribers.lock().unwrap_or_else(PoisonError::into_inner).push(tx);
        rx
    }

    /// Publishes to every live subscriber, dropping the full and the disconnected.
    pub fn publish(&self, event: &AuditEvent) {
        self.subscribers.lock().unwrap_or_else(PoisonError::into_inner).retain(|tx| match tx.try_send(event.clone()) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                tracing::warn!("dropping a slow event subscriber");
                false
            }
            Err(TrySendError::Closed(_)) => false,
        });
    }

    /// Number of live subscribers.
    pub fn subscriber_count(&self) -> usize {
        self.subscribers.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

/// Grants per plugin, reloaded after any commit to the database (by this process or another), so
/// a revocation takes effect on the next call without a database read on every call.
#[derive(Default)]
pub(crate) struct GrantCache {
    state: std::sync::Mutex<(i64, BTreeMap<String, Arc<GrantSet>>)>,
}

impl GrantCache {
    pub(crate) fn get(&self, db: &Db, plugin: &str) -> Result<Arc<GrantSet>, a2e_db::Error> {
        let version = db.data_version()?;
        {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            if state.0 != version {
                *state = (version, BTreeMap::new());
            } else if let Some(set) = state.1.get(plugin) {
                return Ok(set.clone());
            }
        }
        let set =
            Arc::new(GrantSet::of(db.list_grants(plugin)?.iter().filter_map(|g| GrantSpec::parse(&g.grant).ok())));
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.0 == version {
            state.1.insert(plugin.to_owned(), set.clone());
        }
        Ok(set)
    }
}
