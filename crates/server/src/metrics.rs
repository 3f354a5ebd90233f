//! Counters behind `/metrics`, rendered in the Prometheus text format: requests and latency
//! histograms by route and status, plugin calls by plugin and outcome.

use std::collections::BTreeMap;
use std::fmt::Write as _;
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

fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}
