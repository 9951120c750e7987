//! Logs and metrics set-up shared by every binary, and the metrics every service exports alike.
//!
//! A binary calls [`init`] once, after its configuration is validated: logs go to stderr as text
//! or as one JSON object a line (`log_format = "json"`, for a log pipeline), filtered by
//! `RUST_LOG` (default `info`); with a `metrics_addr` the Prometheus endpoint serves `/metrics`
//! there. Every service's `run` calls [`register`], so that its build and the metrics of the
//! shared code (NATS requests, leases) are described wherever it runs, in a binary or in-process
//! in a test whose recorder is [`prometheus_builder`]'s.
//!
//! Histograms are exported as Prometheus histograms (`_bucket`, `_sum`, `_count`) with
//! [`LATENCY_BUCKETS`], so that dashboards aggregate quantiles across replicas with
//! `histogram_quantile`; the exporter's default (summaries) cannot be aggregated.

use std::net::SocketAddr;

use metrics::Unit;
use serde::Deserialize;

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines (the default).
    #[default]
    Text,
    /// One JSON object a line: `timestamp`, `level`, `target`, the event's fields (`message`
    /// among them) and the current span's fields.
    Json,
}

/// Bucket bounds (seconds) of every latency histogram: from a cached shard answer (1 ms) to a
/// write that waits on its quorum (30 s).
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// `miroir_build_info{service, version, git_sha}`, always 1.
pub const BUILD_INFO: &str = "miroir_build_info";

/// The exporter every binary installs, with histogram buckets; tests install the same one.
pub fn prometheus_builder() -> metrics_exporter_prometheus::PrometheusBuilder {
    metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets(LATENCY_BUCKETS)
        // Cannot fail: the bucket list is not empty.
        .unwrap_or_else(|_| metrics_exporter_prometheus::PrometheusBuilder::new())
}

/// Set up logs and, when `metrics_addr` is given, the Prometheus endpoint. Logs are set up once
/// per process (later calls keep the first set-up: tests start several services in one process).
pub fn init(log_format: LogFormat, metrics_addr: Option<SocketAddr>) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    use tracing_subscriber::util::SubscriberInitExt;
    // Also forwards the `log` records of dependencies to it. Colours only on a terminal: a log
    // file or a pod's log would carry the escape codes, and writing them costs every span.
    let ansi = std::io::stderr().is_terminal();
    let _ = subscriber(log_format, std::io::stderr, ansi).try_init();
    if let Some(addr) = metrics_addr {
        prometheus_builder()
            .with_http_listener(addr)
            .install()
            .map_err(|e| anyhow::anyhow!("cannot start the metrics endpoint on {addr}: {e}"))?;
    }
    Ok(())
}

/// The log subscriber [`init`] installs, writing to `writer`: `RUST_LOG` (default `info`), text
/// (with colours when `ansi`) or JSON lines.
pub fn subscriber<W>(
    log_format: LogFormat,
    writer: W,
    ansi: bool,
) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(ansi && log_format == LogFormat::Text);
    match log_format {
        LogFormat::Text => Box::new(builder.finish()),
        LogFormat::Json => Box::new(
            builder
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .with_span_list(false)
                .finish(),
        ),
    }
}

/// What every service does when it starts: `miroir_build_info` for `service` at `version` (the
/// git revision comes from `MIROIR_GIT_SHA` at build time, `unknown` without it), and the help
/// texts of the shared metrics.
pub fn register(service: &'static str, version: &'static str) {
    describe_shared();
    metrics::gauge!(
        BUILD_INFO,
        "service" => service,
        "version" => version,
        "git_sha" => option_env!("MIROIR_GIT_SHA").unwrap_or("unknown"),
    )
    .set(1.0);
}

/// Help texts of the metrics recorded by shared code (`bus`, `lease`, `node`).
fn describe_shared() {
    metrics::describe_gauge!(
        BUILD_INFO,
        "Always 1; its labels name the service, its version and the git revision it was built from"
    );
    metrics::describe_histogram!(
        "miroir_bus_request_seconds",
        Unit::Seconds,
        "NATS request-reply to another service, answered (whatever the answer), by called service and op"
    );
    metrics::describe_counter!(
        "miroir_bus_requests_total",
        "NATS requests to another service that got no answer, by called service and outcome (timeout, no_responders)"
    );
    metrics::describe_counter!(
        "miroir_bus_resends_total",
        "NATS requests sent again because no replica acknowledged them in time, by called service"
    );
    metrics::describe_counter!(
        "miroir_node_connections_opened_total",
        "Keep-alive connections opened to nodes by this process's node client"
    );
    metrics::describe_gauge!(
        "miroir_lease_held",
        "1 while this replica holds the named lease (it is the active one), else 0"
    );
}

/// Counters that only move on a failure start at 0 for the label values given, so that their
/// series exist (and dashboards and alerts see a rate of 0) before the first failure.
pub fn zero_bus_failures(called: &[&'static str]) {
    for &service in called {
        for outcome in ["timeout", "no_responders"] {
            metrics::counter!("miroir_bus_requests_total", "service" => service, "outcome" => outcome)
                .increment(0);
        }
        metrics::counter!("miroir_bus_resends_total", "service" => service).increment(0);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    #[test]
    fn log_format_is_text_or_json() {
        #[derive(Deserialize)]
        struct C {
            f: LogFormat,
        }
        let c: C = toml::from_str("f = \"json\"").unwrap();
        assert_eq!(c.f, LogFormat::Json);
        let c: C = toml::from_str("f = \"text\"").unwrap();
        assert_eq!(c.f, LogFormat::Text);
        assert!(toml::from_str::<C>("f = \"yaml\"").is_err());
    }

    /// A writer into a shared buffer, for reading the log lines back.
    #[derive(Clone, Default)]
    struct Buffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// What the subscriber writes while `log` runs.
    fn capture(log_format: LogFormat, ansi: bool, log: impl FnOnce()) -> String {
        let buffer = Buffer::default();
        let out = buffer.clone();
        let subscriber = subscriber(log_format, move || out.clone(), ansi);
        tracing::subscriber::with_default(subscriber, log);
        String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn json_logs_are_one_object_a_line_with_the_span_fields() {
        let text = capture(LogFormat::Json, false, || {
            let span = tracing::info_span!("request", request_id = "req-1");
            let _in = span.enter();
            tracing::info!(node = "n1", "node health changed");
            tracing::debug!("filtered out unless RUST_LOG asks for it");
        });
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        // RUST_LOG may let the debug line through; the info line is there either way.
        let line = lines
            .iter()
            .find(|l| l["message"] == "node health changed")
            .unwrap_or_else(|| panic!("{text}"));
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["message"], "node health changed");
        assert_eq!(line["node"], "n1");
        assert_eq!(line["span"]["request_id"], "req-1");
        assert!(line["timestamp"].is_string(), "{line}");
    }

    #[test]
    fn text_logs_have_colours_only_when_asked() {
        for ansi in [false, true] {
            let text = capture(LogFormat::Text, ansi, || {
                let span = tracing::info_span!("request", request_id = "req-1");
                let _in = span.enter();
                tracing::warn!(node = "n1", "node health changed");
            });
            assert!(text.contains("node health changed"), "{text}");
            assert!(text.contains("req-1"), "{text}");
            assert_eq!(text.contains('\x1b'), ansi, "{text:?}");
        }
    }

    #[test]
    fn histograms_have_buckets_and_build_info_is_one() {
        let recorder = prometheus_builder().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            register("router", "9.9.9");
            metrics::histogram!("miroir_bus_request_seconds", "service" => "merger", "op" => "search")
                .record(0.003);
        });
        let text = handle.render();
        assert!(
            text.contains("miroir_build_info{service=\"router\",version=\"9.9.9\",git_sha="),
            "{text}"
        );
        assert!(
            text.contains(
                "miroir_bus_request_seconds_bucket{service=\"merger\",op=\"search\",le=\"0.005\"} 1"
            ),
            "{text}"
        );
        assert!(text.contains("# HELP miroir_build_info"), "{text}");
    }
}
