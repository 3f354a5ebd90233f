//! Counters behind `/metrics`, rendered in the Prometheus text format: requests and latency
//! histograms by route and status, plugin calls by plugin and outcome.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// Upper bounds of the latency histogram buckets, in seconds.
const BUCKETS: [f64; 12] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

#[derive(Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        for (bound, count) in BUCKETS.iter().zip(self.counts.iter_mut()) {
            if secs <= *bound {
                *count += 1;
            }
        }
        self.count += 1;
        self.sum += secs;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        for (bound, count) in BUCKETS.iter().zip(self.counts.iter()) {
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {count}");
        }
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", self.count);
    }
}

#[derive(Default)]
struct Counters {
    requests: BTreeMap<(String, String, u16), u64>,
    latency: BTreeMap<(String, String), Histogram>,
    plugin_calls: BTreeMap<(String, &'static str), u64>,
    plugin_latency: BTreeMap<String, Histogram>,
}

/// Request and plugin-call counters of one server.
#[derive(Default)]
pub struct Metrics {
    counters: Mutex<Counters>,
    rt_connections: AtomicU64,
    rt_closes: Mutex<BTreeMap<u16, u64>>,
}

impl Metrics {
    /// Counts a request to `route` (the matched route pattern, not the raw path).
    pub fn request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let mut c = self.counters.lock().unwrap_or_else(PoisonError::into_inner);
        *c.requests.entry((method.to_owned(), route.to_owned(), status)).or_default() += 1;
        c.latency.entry((method.to_owned(), route.to_owned())).or_default().observe(elapsed);
    }

    /// Counts a plugin call; `outcome` is "ok", "error" (the plugin answered with an error) or
    /// "failed" (trap, timeout, limit, unknown function).
    pub fn plugin_call(&self, plugin: &str, outcome: &'static str, elapsed: Duration) {
        let mut c = self.counters.lock().unwrap_or_else(PoisonError::into_inner);
        *c.plugin_calls.entry((plugin.to_owned(), outcome)).or_default() += 1;
        c.plugin_latency.entry(plugin.to_owned()).or_default().observe(elapsed);
    }

    /// Counts an open realtime connection.
    pub fn rt_connected(&self) {
        self.rt_connections.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a realtime connection that ended.
    pub fn rt_disconnected(&self) {
        let _ = self.rt_connections.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| Some(n.saturating_sub(1)));
    }

    /// Counts a realtime connection the server closed, by close code.
    pub fn rt_closed(&self, code: u16) {
        *self.rt_closes.lock().unwrap_or_else(PoisonError::into_inner).entry(code).or_default() += 1;
    }

    /// The realtime counters of the host and the connections, in the Prometheus text format.
    pub fn render_realtime(&self, rt: &a2e_host::rt::Realtime) -> String {
        let mut out = String::new();
        out.push_str("# HELP a2e_rt_connections Open realtime connections.\n# TYPE a2e_rt_connections gauge\n");
        let _ = writeln!(out, "a2e_rt_connections {}", self.rt_connections.load(Ordering::Relaxed));
        out.push_str("# HELP a2e_rt_closed_total Realtime connections closed by the server, by close code.\n");
        out.push_str("# TYPE a2e_rt_closed_total counter\n");
        for (code, n) in self.rt_closes.lock().unwrap_or_else(PoisonError::into_inner).iter() {
            let _ = writeln!(out, "a2e_rt_closed_total{{code=\"{code}\"}} {n}");
        }
        let rooms = rt.room_counters();
        let room_series: [(&str, &str, &str, Field); 9] = [
            ("a2e_room_ticks_total", "counter", "Ticks run, by room.", |c| c.ticks),
            ("a2e_room_ticks_skipped_total", "counter", "Ticks skipped (could not start in their period).", |c| {
                c.skipped
            }),
            ("a2e_room_ticks_late_total", "counter", "Ticks started over a quarter period late.", |c| c.late),
            ("a2e_room_calls_failed_total", "counter", "Room calls that failed (trap, timeout, error).", |c| c.failed),
            ("a2e_room_clients", "gauge", "Clients in the room.", |c| c.clients),
            ("a2e_room_messages_in_total", "counter", "Client messages received.", |c| c.messages_in),
            ("a2e_room_messages_out_total", "counter", "Messages sent to clients.", |c| c.messages_out),
            ("a2e_room_bytes_out_total", "counter", "Bytes sent to clients.", |c| c.bytes_out),
            ("a2e_room_dropped_inputs_total", "counter", "Client messages dropped from the full input queue.", |c| {
                c.dropped_inputs
            }),
        ];
        for (name, kind, help, get) in room_series {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (plugin, room, c) in &rooms {
                let _ = writeln!(out, "{name}{{plugin=\"{}\",room=\"{}\"}} {}", escape(plugin), escape(room), get(c));
            }
        }
        let plugins = rt.all_plugin_counters();
        let plugin_series: [(&str, &str, Field); 8] = [
            ("a2e_plugin_ticks_total", "Ticks run in the plugin's rooms.", |c| c.ticks),
            ("a2e_plugin_ticks_skipped_total", "Ticks skipped in the plugin's rooms.", |c| c.skipped),
            ("a2e_plugin_events_delivered_total", "Events delivered to the plugin's subscriptions.", |c| {
                c.events_delivered
            }),
            ("a2e_plugin_events_failed_total", "Event deliveries that failed.", |c| c.events_failed),
            ("a2e_plugin_events_dropped_total", "Events dropped from full subscription queues.", |c| c.events_dropped),
            ("a2e_plugin_schedule_runs_total", "Scheduled runs.", |c| c.schedule_runs),
            ("a2e_plugin_schedule_skipped_total", "Scheduled runs skipped.", |c| c.schedule_skipped),
            ("a2e_plugin_schedule_failed_total", "Scheduled runs that failed.", |c| c.schedule_failed),
        ];
        for (name, help, get) in plugin_series {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (plugin, c) in &plugins {
                let _ = writeln!(out, "{name}{{plugin=\"{}\"}} {}", escape(plugin), get(c));
            }
        }
        let name = "a2e_plugin_tick_duration_seconds";
        let _ = writeln!(out, "# HELP {name} Tick duration by plugin.\n# TYPE {name} histogram");
        for (plugin, c) in &plugins {
            let plugin = escape(plugin);
            let mut cumulative = 0;
            for (bound, n) in a2e_host::rt::TICK_BUCKETS_MS.iter().zip(&c.tick_buckets) {
                cumulative += n;
                let _ = writeln!(out, "{name}_bucket{{plugin=\"{plugin}\",le=\"{}\"}} {cumulative}", bound / 1000.0);
            }
            let total: u64 = c.tick_buckets.iter().sum();
            let _ = writeln!(out, "{name}_bucket{{plugin=\"{plugin}\",le=\"+Inf\"}} {total}");
            let _ = writeln!(out, "{name}_sum{{plugin=\"{plugin}\"}} {}", c.tick_sum_us as f64 / 1e6);
            let _ = writeln!(out, "{name}_count{{plugin=\"{plugin}\"}} {total}");
        }
        out
    }

    /// The Prometheus text exposition of every counter.
    pub fn render(&self, event_subscribers: usize) -> String {
        let c = self.counters.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out = String::new();
        out.push_str("# HELP a2e_http_requests_total HTTP requests by method, route and status.\n");
        out.push_str("# TYPE a2e_http_requests_total counter\n");
        for ((method, route, status), n) in &c.requests {
            let _ = writeln!(
                out,
                "a2e_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {n}",
                escape(route)
            );
        }
        out.push_str("# HELP a2e_http_request_duration_seconds HTTP request latency by method and route.\n");
        out.push_str("# TYPE a2e_http_request_duration_seconds histogram\n");
        for ((method, route), h) in &c.latency {
            h.render(
                &mut out,
                "a2e_http_request_duration_seconds",
                &format!("method=\"{method}\",route=\"{}\"", escape(route)),
            );
        }
        out.push_str("# HELP a2e_plugin_calls_total Plugin calls by plugin and outcome (ok, error, failed).\n");
        out.push_str("# TYPE a2e_plugin_calls_total counter\n");
        for ((plugin, outcome), n) in &c.plugin_calls {
            let _ = writeln!(out, "a2e_plugin_calls_total{{plugin=\"{}\",outcome=\"{outcome}\"}} {n}", escape(plugin));
        }
        out.push_str("# HELP a2e_plugin_call_duration_seconds Plugin call latency by plugin.\n");
        out.push_str("# TYPE a2e_plugin_call_duration_seconds histogram\n");
        for (plugin, h) in &c.plugin_latency {
            h.render(&mut out, "a2e_plugin_call_duration_seconds", &format!("plugin=\"{}\"", escape(plugin)));
        }
        out.push_str("# HELP a2e_event_subscribers Live event subscribers.\n# TYPE a2e_event_subscribers gauge\n");
        let _ = writeln!(out, "a2e_event_subscribers {event_subscribers}");
        out
    }
}

/// Reads one counter of a snapshot.
type Field = fn(&a2e_host::rt::CountersSnapshot) -> u64;

fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}
