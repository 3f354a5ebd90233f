//! `/metrics` in the OpenMetrics text format, on the `prometheus-client` crate: requests and
//! latency histograms by route and status, plugin calls by plugin and outcome (counted as they
//! happen, in label families without a global lock), and the host's realtime and event counters
//! (read at scrape time).

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use std::time::Duration;

/// Upper bounds of the latency histogram buckets, in seconds.
const BUCKETS: [f64; 12] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

fn latency_histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    plugin: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PluginLabels {
    plugin: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CloseLabels {
    code: u16,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// Request, plugin-call and connection metrics of one server.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Histograms<RouteLabels>,
    plugin_calls: Family<CallLabels, Counter>,
    plugin_latency: Histograms<PluginLabels>,
    rt_connections: Gauge,
    rt_closes: Family<CloseLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        let mut registry = Registry::default();
        let requests = Family::default();
        let latency: Histograms<RouteLabels> = Family::new_with_constructor(latency_histogram);
        let plugin_calls = Family::default();
        let plugin_latency: Histograms<PluginLabels> = Family::new_with_constructor(latency_histogram);
        let rt_connections = Gauge::default();
        let rt_closes = Family::default();
        registry.register("a2e_http_requests", "HTTP requests by method, route and status.", requests.clone());
        registry.register(
            "a2e_http_request_duration_seconds",
            "HTTP request latency by method and route.",
            latency.clone(),
        );
        registry.register(
            "a2e_plugin_calls",
            "Plugin calls by plugin and outcome (ok, error, failed).",
            plugin_calls.clone(),
        );
        registry.register("a2e_plugin_call_duration_seconds", "Plugin call latency by plugin.", plugin_latency.clone());
        registry.register("a2e_rt_connections", "Open realtime connections.", rt_connections.clone());
        registry.register(
            "a2e_rt_closed",
            "Realtime connections closed by the server, by close code.",
            rt_closes.clone(),
        );
        Metrics { registry, requests, latency, plugin_calls, plugin_latency, rt_connections, rt_closes }
    }
}

impl Metrics {
    /// Counts a request to `route` (the matched route pattern, not the raw path).
    pub fn request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let route = route.to_owned();
        let method = method.to_owned();
        self.latency
            .get_or_create(&RouteLabels { method: method.clone(), route: route.clone() })
            .observe(elapsed.as_secs_f64());
        self.requests.get_or_create(&RequestLabels { method, route, status }).inc();
    }

    /// Counts a plugin call; `outcome` is "ok", "error" (the plugin answered with an error) or
    /// "failed" (trap, timeout, limit, unknown function).
    pub fn plugin_call(&self, plugin: &str, outcome: &'static str, elapsed: Duration) {
        self.plugin_calls.get_or_create(&CallLabels { plugin: plugin.to_owned(), outcome }).inc();
        self.plugin_latency.get_or_create(&PluginLabels { plugin: plugin.to_owned() }).observe(elapsed.as_secs_f64());
    }

    /// Counts an open realtime connection.
    pub fn rt_connected(&self) {
        self.rt_connections.inc();
    }

    /// Counts a realtime connection that ended.
    pub fn rt_disconnected(&self) {
        self.rt_connections.dec();
    }

    /// Counts a realtime connection the server closed, by close code.
    pub fn rt_closed(&self, code: u16) {
        self.rt_closes.get_or_create(&CloseLabels { code }).inc();
    }

    /// Every metric in the OpenMetrics text format: this server's, then the host's realtime and
    /// event counters as they are now.
    pub fn render(&self, host: &a2e_host::Host) -> String {
        let mut scrape = Registry::default();
        scrape.register_collector(Box::new(HostCounters::read(host)));
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode_registry(&mut out, &self.registry);
        let _ = prometheus_client::encoding::text::encode_registry(&mut out, &scrape);
        let _ = prometheus_client::encoding::text::encode_eof(&mut out);
        out
    }
}

/// Reads one counter of a snapshot.
type Field = fn(&a2e_host::rt::CountersSnapshot) -> u64;

/// The host's counters, read once per scrape.
#[derive(Debug)]
struct HostCounters {
    event_subscribers: usize,
    rooms: Vec<(String, String, a2e_host::rt::CountersSnapshot)>,
    plugins: Vec<(String, a2e_host::rt::CountersSnapshot)>,
}

impl HostCounters {
    fn read(host: &a2e_host::Host) -> HostCounters {
        HostCounters {
            event_subscribers: host.state().events.subscriber_count(),
            rooms: host.realtime().room_counters(),
            plugins: host.realtime().all_plugin_counters(),
        }
    }
}

const ROOM_SERIES: [(&str, MetricType, &str, Field); 9] = [
    ("a2e_room_ticks", MetricType::Counter, "Ticks run, by room.", |c| c.ticks),
    ("a2e_room_ticks_skipped", MetricType::Counter, "Ticks skipped (could not start in their period).", |c| c.skipped),
    ("a2e_room_ticks_late", MetricType::Counter, "Ticks started over a quarter period late.", |c| c.late),
    ("a2e_room_calls_failed", MetricType::Counter, "Room calls that failed (trap, timeout, error).", |c| c.failed),
    ("a2e_room_clients", MetricType::Gauge, "Clients in the room.", |c| c.clients),
    ("a2e_room_messages_in", MetricType::Counter, "Client messages received.", |c| c.messages_in),
    ("a2e_room_messages_out", MetricType::Counter, "Messages sent to clients.", |c| c.messages_out),
    ("a2e_room_bytes_out", MetricType::Counter, "Bytes sent to clients.", |c| c.bytes_out),
    ("a2e_room_dropped_inputs", MetricType::Counter, "Client messages dropped from the full input queue.", |c| {
        c.dropped_inputs
    }),
];

const PLUGIN_SERIES: [(&str, &str, Field); 8] = [
    ("a2e_plugin_ticks", "Ticks run in the plugin's rooms.", |c| c.ticks),
    ("a2e_plugin_ticks_skipped", "Ticks skipped in the plugin's rooms.", |c| c.skipped),
    ("a2e_plugin_events_delivered", "Events delivered to the plugin's subscriptions.", |c| c.events_delivered),
    ("a2e_plugin_events_failed", "Event deliveries that failed.", |c| c.events_failed),
    ("a2e_plugin_events_dropped", "Events dropped from full subscription queues.", |c| c.events_dropped),
    ("a2e_plugin_schedule_runs", "Scheduled runs.", |c| c.schedule_runs),
    ("a2e_plugin_schedule_skipped", "Scheduled runs skipped.", |c| c.schedule_skipped),
    ("a2e_plugin_schedule_failed", "Scheduled runs that failed.", |c| c.schedule_failed),
];

/// One value: a counter or a gauge.
fn encode_value(encoder: prometheus_client::encoding::MetricEncoder, kind: MetricType, value: u64) -> std::fmt::Result {
    match kind {
        MetricType::Gauge => ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX)).encode(encoder),
        _ => ConstCounter::new(value).encode(encoder),
    }
}

impl Collector for HostCounters {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        let subscribers = ConstGauge::new(i64::try_from(self.event_subscribers).unwrap_or(i64::MAX));
        let metric =
            encoder.encode_descriptor("a2e_event_subscribers", "Live event subscribers.", None, MetricType::Gauge)?;
        subscribers.encode(metric)?;
        for (name, kind, help, get) in ROOM_SERIES {
            let mut family = encoder.encode_descriptor(name, help, None, kind)?;
            for (plugin, room, counters) in &self.rooms {
                let labels = [("plugin", plugin.as_str()), ("room", room.as_str())];
                encode_value(family.encode_family(&labels)?, kind, get(counters))?;
            }
        }
        for (name, help, get) in PLUGIN_SERIES {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for (plugin, counters) in &self.plugins {
                let labels = [("plugin", plugin.as_str())];
                encode_value(family.encode_family(&labels)?, MetricType::Counter, get(counters))?;
            }
        }
        let mut family = encoder.encode_descriptor(
            "a2e_plugin_tick_duration_seconds",
            "Tick duration by plugin.",
            None,
            MetricType::Histogram,
        )?;
        for (plugin, counters) in &self.plugins {
            let buckets: Vec<(f64, u64)> = a2e_host::rt::TICK_BUCKETS_MS
                .iter()
                .map(|ms| ms / 1000.0)
                .chain([f64::MAX]) // the +Inf bucket, as the encoder spells it
                .zip(counters.tick_buckets.iter().copied())
                .collect();
            let count: u64 = counters.tick_buckets.iter().sum();
            let labels = [("plugin", plugin.as_str())];
            family.encode_family(&labels)?.encode_histogram::<prometheus_client::encoding::NoLabelSet>(
                counters.tick_sum_us as f64 / 1e6,
                count,
                &buckets,
                None,
            )?;
        }
        Ok(())
    }
}
