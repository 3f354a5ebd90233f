//! Event subscriptions: exports that a manifest subscribes to event kinds.
//!
//! Each subscription has a bounded queue and one task that delivers its events in order (so
//! events of one emitter arrive in the order they were emitted). Emitting never waits: a full
//! queue drops the event, counts it and logs it, and the next delivery says how many were
//! missed. A delivery checks the `subscribe:<kinds>` grant first, so a revocation applies to the
//! next event.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::time::{Duration, Instant};

use a2e_abi::{kind_matches, EventDelivery};
use tokio::sync::mpsc;

use super::counters::{add, Counters};
use super::HostLink;
use crate::manifest::PluginManifest;
use crate::runtime::Inner;
use crate::Host;

/// Events queued per subscription before new ones are dropped.
pub const SUBSCRIPTION_QUEUE: usize = 256;

struct Subscriber {
    plugin: String,
    export: String,
    kinds: Vec<String>,
    tx: mpsc::Sender<EventDelivery>,
    dropped: Arc<AtomicU64>,
    counters: Arc<Counters>,
    task: tokio::task::JoinHandle<()>,
}

/// Every subscription of every enabled plugin.
#[derive(Default)]
pub(crate) struct Subscribers {
    list: RwLock<Vec<Subscriber>>,
    pending: Arc<AtomicUsize>,
}

impl Subscribers {
    /// Replaces `plugin`'s subscriptions with those of `manifest` (none when `None`).
    pub(crate) fn reconcile(
        &self,
        handle: Option<&tokio::runtime::Handle>,
        link: &HostLink,
        plugin: &str,
        manifest: Option<&PluginManifest>,
        counters: Arc<Counters>,
    ) {
        let mut list = self.list.write().unwrap_or_else(PoisonError::into_inner);
        list.retain(|s| {
            let keep = s.plugin != plugin;
            if !keep {
                s.task.abort();
            }
            keep
        });
        let (Some(handle), Some(manifest)) = (handle, manifest) else { return };
        for sub in &manifest.subscriptions {
            let (tx, rx) = mpsc::channel(SUBSCRIPTION_QUEUE);
            let dropped = Arc::new(AtomicU64::new(0));
            let worker = Worker {
                link: link.weak(),
                plugin: plugin.to_owned(),
                export: sub.export.clone(),
                counters: counters.clone(),
                pending: self.pending.clone(),
            };
            let task = handle.spawn(worker.run(rx));
            list.push(Subscriber {
                plugin: plugin.to_owned(),
                export: sub.export.clone(),
                kinds: sub.kinds.clone(),
                tx,
                dropped,
                counters: counters.clone(),
                task,
            });
        }
    }

    /// Queues `event` for every subscription whose kinds cover it. Never waits.
    pub(crate) fn deliver(&self, event: &EventDelivery) {
        let list = self.list.read().unwrap_or_else(PoisonError::into_inner);
        for sub in list.iter().filter(|s| s.kinds.iter().any(|k| kind_matches(k, &event.kind))) {
            let mut copy = event.clone();
            copy.dropped = sub.dropped.load(Ordering::Relaxed);
            self.pending.fetch_add(1, Ordering::SeqCst);
            if sub.tx.try_send(copy).is_err() {
                self.pending.fetch_sub(1, Ordering::SeqCst);
                let dropped = sub.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                add(&sub.counters.events_dropped, 1);
                tracing::warn!(plugin = %sub.plugin, export = %sub.export, kind = %event.kind, dropped, "event dropped: the subscription's queue is full");
            }
        }
    }

    /// Whether any subscription exists.
    pub(crate) fn is_empty(&self) -> bool {
        self.list.read().unwrap_or_else(PoisonError::into_inner).is_empty()
    }

    /// Waits until every queued event was handled, or `timeout` passed; returns whether all were.
    pub(crate) fn flush(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.pending.load(Ordering::SeqCst) > 0 {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        true
    }
}

struct Worker {
    link: Weak<Inner>,
    plugin: String,
    export: String,
    counters: Arc<Counters>,
    pending: Arc<AtomicUsize>,
}

impl Worker {
    async fn run(self, mut rx: mpsc::Receiver<EventDelivery>) {
        while let Some(event) = rx.recv().await {
            self.deliver(event).await;
            self.pending.fetch_sub(1, Ordering::SeqCst);
        }
    }

    async fn deliver(&self, event: EventDelivery) {
        let Some(host) = self.link.upgrade().map(Host::from_inner) else { return };
        match host.state().grants.get(&host.state().db, &self.plugin) {
            Ok(grants) if grants.receives(&event.kind) => {}
            Ok(_) => {
                tracing::debug!(plugin = %self.plugin, kind = %event.kind, "event not delivered: no subscribe grant covers it");
                return;
            }
            Err(err) => {
                add(&self.counters.events_failed, 1);
                tracing::warn!(plugin = %self.plugin, error = %err, "event not delivered: grants could not be read");
                return;
            }
        }
        let input = serde_json::to_vec(&event).unwrap_or_default();
        match super::call_export(host, &self.plugin, &self.export, input).await {
            None => add(&self.counters.events_delivered, 1),
            Some(error) => {
                add(&self.counters.events_failed, 1);
                tracing::warn!(plugin = %self.plugin, export = %self.export, kind = %event.kind, %error, "event delivery failed");
            }
        }
    }
}
