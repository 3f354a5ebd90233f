//! Exports a manifest asks to run on a schedule: every N seconds or on a cron expression.
//!
//! Each schedule is one task that sleeps until the next intended time, runs the export and
//! waits for it, so runs of one schedule never overlap. Times that passed while a run was still
//! going are skipped and counted, never made up in a burst.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use a2e_abi::ScheduleRun;

use super::counters::{add, Counters};
use super::HostLink;
use crate::manifest::PluginManifest;
use crate::runtime::Inner;
use crate::Host;

/// One parsed schedule of a manifest.
#[derive(Clone, Debug)]
pub(crate) enum ScheduleSpec {
    Every { export: String, every: Duration },
    Cron { export: String, schedule: Box<cron::Schedule> },
}

/// Parses a cron expression: five fields (minute hour day month weekday), or six or seven with
/// seconds first (and a year last).
pub(crate) fn parse_cron(expr: &str) -> Result<cron::Schedule, String> {
    let fields = expr.split_whitespace().count();
    let full = match fields {
        5 => format!("0 {expr}"),
        6 | 7 => expr.to_owned(),
        _ => return Err(format!("cron expression `{expr}` has {fields} fields; use 5 (minute hour day month weekday), or 6-7 with seconds first")),
    };
    cron::Schedule::from_str(&full).map_err(|e| format!("cron expression `{expr}`: {e}"))
}

/// The schedules of a manifest (validated when the manifest was).
pub(crate) fn specs_of(manifest: &PluginManifest) -> Vec<ScheduleSpec> {
    manifest
        .schedules
        .iter()
        .filter_map(|s| match (&s.every_secs, &s.cron) {
            (Some(secs), None) => {
                Some(ScheduleSpec::Every { export: s.export.clone(), every: Duration::from_secs(*secs) })
            }
            (None, Some(expr)) => parse_cron(expr)
                .ok()
                .map(|schedule| ScheduleSpec::Cron { export: s.export.clone(), schedule: Box::new(schedule) }),
            _ => None,
        })
        .collect()
}

/// The running schedule tasks, by plugin.
#[derive(Default)]
pub(crate) struct Schedules {
    tasks: Mutex<HashMap<String, Vec<tokio::task::JoinHandle<()>>>>,
}

impl Schedules {
    pub(crate) fn reconcile(
        &self,
        handle: Option<&tokio::runtime::Handle>,
        link: &HostLink,
        plugin: &str,
        specs: Vec<ScheduleSpec>,
        counters: Arc<Counters>,
    ) {
        let mut tasks = self.tasks.lock().unwrap_or_else(PoisonError::into_inner);
        for task in tasks.remove(plugin).unwrap_or_default() {
            task.abort();
        }
        let Some(handle) = handle.filter(|_| !specs.is_empty()) else { return };
        let started: Vec<_> = specs
            .into_iter()
            .map(|spec| handle.spawn(run(link.weak(), plugin.to_owned(), spec, counters.clone())))
            .collect();
        tasks.insert(plugin.to_owned(), started);
    }
}

async fn run(link: Weak<Inner>, plugin: String, spec: ScheduleSpec, counters: Arc<Counters>) {
    let Some(start_ms) = link.upgrade().map(|inner| Host::from_inner(inner).state().clock.now_ms()) else { return };
    let start = Instant::now();
    let export = match &spec {
        ScheduleSpec::Every { export, .. } | ScheduleSpec::Cron { export, .. } => export.clone(),
    };
    let mut runs = Runs { link, plugin, export, counters, run: 0, skipped: 0 };
    match spec {
        ScheduleSpec::Every { every, .. } => {
            let mut k = 1u64;
            loop {
                let offset = every * u32::try_from(k).unwrap_or(u32::MAX);
                tokio::time::sleep_until((start + offset).into()).await;
                if !runs.once(start_ms + i64::try_from(offset.as_millis()).unwrap_or(i64::MAX)).await {
                    return;
                }
                let next = (start.elapsed().as_nanos() / every.as_nanos().max(1)) as u64 + 1;
                runs.missed(next.saturating_sub(k + 1));
                k = next.max(k + 1);
            }
        }
        ScheduleSpec::Cron { schedule, .. } => {
            let Some(mut due) = schedule.upcoming(chrono::Utc).next() else { return };
            loop {
                tokio::time::sleep((due - chrono::Utc::now()).to_std().unwrap_or_default()).await;
                if !runs.once(due.timestamp_millis()).await {
                    return;
                }
                let now = chrono::Utc::now();
                runs.missed(schedule.after(&due).take_while(|t| *t <= now).take(100_000).count() as u64);
                let Some(next) = schedule.after(&now).next() else { return };
                due = next;
            }
        }
    }
}

/// The runs of one schedule: numbers them, counts what was skipped, and makes each call.
struct Runs {
    link: Weak<Inner>,
    plugin: String,
    export: String,
    counters: Arc<Counters>,
    run: u64,
    skipped: u64,
}

impl Runs {
    /// Runs the export once and waits for it; false when the host is gone.
    async fn once(&mut self, intended_ms: i64) -> bool {
        let Some(host) = self.link.upgrade().map(Host::from_inner) else { return false };
        let run = ScheduleRun { export: self.export.clone(), run: self.run, intended_ms, skipped: self.skipped };
        let input = serde_json::to_vec(&run).unwrap_or_default();
        let failure = super::call_export(host, &self.plugin, &self.export, input).await;
        self.run += 1;
        add(&self.counters.schedule_runs, 1);
        if let Some(failure) = failure {
            add(&self.counters.schedule_failed, 1);
            tracing::warn!(plugin = %self.plugin, export = %self.export, error = %failure, "scheduled run failed");
        }
        true
    }

    /// Counts `n` runs whose time passed while the previous one was still going.
    fn missed(&mut self, n: u64) {
        if n > 0 {
            self.skipped += n;
            add(&self.counters.schedule_skipped, n);
            tracing::warn!(plugin = %self.plugin, export = %self.export, missed = n, "scheduled runs skipped: the previous run overran");
        }
    }
}
