//! Counters of rooms and plugins: ticks run, skipped, late and failed, a tick-duration
//! histogram, messages and bytes, dropped inputs and events, schedule runs.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// Tick durations kept per counter set for percentiles.
const RECENT_TICKS: usize = 8192;

/// Upper bounds of the tick-duration histogram's buckets, in ms (the last bucket is +Inf).
pub const TICK_BUCKETS_MS: [f64; 11] = [0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0];

/// Live counters; every field only grows.
#[derive(Debug, Default)]
pub struct Counters {
    pub(crate) ticks: AtomicU64,
    pub(crate) skipped: AtomicU64,
    pub(crate) late: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) clients: AtomicU64,
    pub(crate) joins: AtomicU64,
    pub(crate) messages_in: AtomicU64,
    pub(crate) messages_out: AtomicU64,
    pub(crate) bytes_out: AtomicU64,
    pub(crate) dropped_inputs: AtomicU64,
    pub(crate) events_delivered: AtomicU64,
    pub(crate) events_failed: AtomicU64,
    pub(crate) events_dropped: AtomicU64,
    pub(crate) schedule_runs: AtomicU64,
    pub(crate) schedule_skipped: AtomicU64,
    pub(crate) schedule_failed: AtomicU64,
    tick_buckets: [AtomicU64; 12],
    tick_sum_us: AtomicU64,
    recent_ticks_us: Mutex<VecDeque<u32>>,
}

/// A copy of [`Counters`] at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CountersSnapshot {
    /// Ticks run.
    pub ticks: u64,
    /// Ticks skipped because they could not start within their period.
    pub skipped: u64,
    /// Ticks started more than a quarter period late.
    pub late: u64,
    /// Room calls that failed (trap, timeout, error answer).
    pub failed: u64,
    /// Clients in rooms now.
    pub clients: u64,
    /// Joins accepted.
    pub joins: u64,
    /// Client messages received.
    pub messages_in: u64,
    /// Messages sent to clients.
    pub messages_out: u64,
    /// Bytes sent to clients.
    pub bytes_out: u64,
    /// Client messages dropped from full input queues.
    pub dropped_inputs: u64,
    /// Events delivered to the plugin's subscriptions.
    pub events_delivered: u64,
    /// Event deliveries that failed.
    pub events_failed: u64,
    /// Events dropped because a subscription's queue was full.
    pub events_dropped: u64,
    /// Scheduled runs.
    pub schedule_runs: u64,
    /// Scheduled runs skipped.
    pub schedule_skipped: u64,
    /// Scheduled runs that failed.
    pub schedule_failed: u64,
    /// Tick durations: counts per bucket of [`TICK_BUCKETS_MS`] (not cumulative), then +Inf.
    pub tick_buckets: Vec<u64>,
    /// Sum of tick durations in microseconds.
    pub tick_sum_us: u64,
}

pub(crate) fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

pub(crate) fn sub(counter: &AtomicU64, n: u64) {
    let _ = counter.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| Some(v.saturating_sub(n)));
}

impl Counters {
    pub(crate) fn tick_took(&self, took: Duration) {
        let ms = took.as_secs_f64() * 1000.0;
        let bucket = TICK_BUCKETS_MS.iter().position(|b| ms <= *b).unwrap_or(TICK_BUCKETS_MS.len());
        add(&self.tick_buckets[bucket], 1);
        add(&self.tick_sum_us, u64::try_from(took.as_micros()).unwrap_or(u64::MAX));
        let mut recent = self.recent_ticks_us.lock().unwrap_or_else(PoisonError::into_inner);
        if recent.len() == RECENT_TICKS {
            recent.pop_front();
        }
        recent.push_back(u32::try_from(took.as_micros()).unwrap_or(u32::MAX));
    }

    /// The durations of the most recent ticks (up to 8192), in microseconds, oldest first.
    pub fn recent_ticks_us(&self) -> Vec<u32> {
        self.recent_ticks_us.lock().unwrap_or_else(PoisonError::into_inner).iter().copied().collect()
    }

    /// Forgets the recent tick durations (a benchmark's warm-up, say).
    pub fn clear_recent_ticks(&self) {
        self.recent_ticks_us.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }

    /// A copy of every counter.
    pub fn snapshot(&self) -> CountersSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CountersSnapshot {
            ticks: get(&self.ticks),
            skipped: get(&self.skipped),
            late: get(&self.late),
            failed: get(&self.failed),
            clients: get(&self.clients),
            joins: get(&self.joins),
            messages_in: get(&self.messages_in),
            messages_out: get(&self.messages_out),
            bytes_out: get(&self.bytes_out),
            dropped_inputs: get(&self.dropped_inputs),
            events_delivered: get(&self.events_delivered),
            events_failed: get(&self.events_failed),
            events_dropped: get(&self.events_dropped),
            schedule_runs: get(&self.schedule_runs),
            schedule_skipped: get(&self.schedule_skipped),
            schedule_failed: get(&self.schedule_failed),
            tick_buckets: self.tick_buckets.iter().map(get).collect(),
            tick_sum_us: get(&self.tick_sum_us),
        }
    }
}
