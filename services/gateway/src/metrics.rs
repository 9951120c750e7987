//! Request metrics by route family and status: `miroir_gateway_requests_total` (also by
//! method) and `miroir_gateway_request_seconds`. Upload figures are counted where uploads are
//! handled (`miroir_gateway_upload_bytes_total`, `miroir_gateway_documents_total`,
//! `miroir_gateway_uploads_refused_total`, `miroir_gateway_uploads_in_flight`), slow clients
//! where they are cut (`miroir_gateway_header_timeouts_total` in `serve`,
//! `miroir_gateway_body_timeouts_total` in `body_timeout`).

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::Instant;

use axum::http::Method;
use metrics::Unit;

/// Describe every metric of the gateway (the exporter's `# HELP` lines), register the build, and
/// start the NATS failure counters for the services it calls at 0.
pub fn describe() {
    miroir_cluster::telemetry::register("gateway", env!("CARGO_PKG_VERSION"));
    miroir_cluster::telemetry::zero_bus_failures(&["router", "merger"]);
    metrics::describe_counter!(
        "miroir_gateway_requests_total",
        "HTTP requests answered, by route family, method and status"
    );
    metrics::describe_histogram!(
        "miroir_gateway_request_seconds",
        Unit::Seconds,
        "Wall time of each HTTP request, by route family and status"
    );
    metrics::describe_counter!(
        "miroir_gateway_upload_bytes_total",
        Unit::Bytes,
        "Bytes of document uploads received"
    );
    metrics::describe_counter!(
        "miroir_gateway_documents_total",
        "Documents spooled to the WAL by accepted uploads"
    );
    metrics::describe_counter!(
        "miroir_gateway_uploads_refused_total",
        "Document uploads refused, by error code"
    );
    metrics::describe_gauge!(
        "miroir_gateway_uploads_in_flight",
        "Document uploads in flight, all keys together (each key is bounded by max_concurrent_uploads_per_key)"
    );
    metrics::describe_counter!(
        "miroir_gateway_header_timeouts_total",
        "Connections closed because a request's headers were still incomplete after header_timeout_ms (idle connections that sent nothing are closed too, uncounted)"
    );
    metrics::describe_counter!(
        "miroir_gateway_body_timeouts_total",
        "Request bodies cut (408) because they stalled (kind idle) or took too long (kind total)"
    );
    metrics::counter!("miroir_gateway_header_timeouts_total").increment(0);
    for kind in ["idle", "total"] {
        metrics::counter!("miroir_gateway_body_timeouts_total", "kind" => kind).increment(0);
    }
    metrics::gauge!("miroir_gateway_uploads_in_flight").increment(0.0);
    metrics::counter!("miroir_gateway_upload_bytes_total").increment(0);
    metrics::counter!("miroir_gateway_documents_total").increment(0);
}

/// The family of a routed request's path (its route's template, or the path itself: they agree
/// segment by segment); `None`, a path no route matched, is `unknown`.
pub fn family(routed: Option<&str>) -> &'static str {
    let Some(path) = routed else {
        return "unknown";
    };
    let mut segments = path.trim_start_matches('/').split('/');
    let segments = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    );
    match segments {
        (Some(""), None, ..) => "root",
        (Some("health"), None, ..) => "health",
        (Some("version"), None, ..) => "version",
        (Some("stats"), None, ..) => "stats",
        (Some("tasks"), ..) => "tasks",
        (Some("indexes"), None, ..) | (Some("indexes"), Some(_), None, _) => "indexes",
        (Some("indexes"), Some(_), Some("stats"), None) => "stats",
        (Some("indexes"), Some(_), Some("documents"), _) => "documents",
        (Some("indexes"), Some(_), Some("search"), None) => "search",
        (Some("indexes"), Some(_), Some("settings"), _) => "settings",
        _ => "other",
    }
}

/// Count a request answered with `status` and record its wall time since `started`.
pub fn record(family: &'static str, method: Method, status: u16, started: Instant) {
    let (seconds, requests) = handles(family, method, status);
    seconds.record(started.elapsed().as_secs_f64());
    requests.increment(1);
}

/// The most (family, method, status) series whose handles are kept; past it a request's
/// handles are looked up each time (a client sending made-up methods cannot grow the map).
const MAX_KEPT_SERIES: usize = 512;

type Series = (metrics::Histogram, metrics::Counter);
/// A request's series: route family, method, status.
type SeriesKey = (&'static str, Method, u16);

/// The request metrics' handles for one (family, method, status), looked up in the recorder
/// once and then kept: building both metrics' keys (labels as strings) and finding them in the
/// recorder on every request were about 3.5% of the gateway's CPU in the cluster bench's profile.
fn handles(family: &'static str, method: Method, status: u16) -> Series {
    static KEPT: LazyLock<Mutex<HashMap<SeriesKey, Series>>> = LazyLock::new(Mutex::default);
    let key = (family, method, status);
    let mut kept = KEPT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(series) = kept.get(&key) {
        return series.clone();
    }
    let status = status.to_string();
    let series = (
        metrics::histogram!("miroir_gateway_request_seconds", "family" => family, "status" => status.clone()),
        metrics::counter!("miroir_gateway_requests_total", "family" => family, "method" => key.1.as_str().to_string(), "status" => status),
    );
    if kept.len() < MAX_KEPT_SERIES {
        kept.insert(key, series.clone());
    }
    series
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::family;

    #[test]
    fn families() {
        assert_eq!(family(Some("/indexes/{uid}/search")), "search");
        assert_eq!(family(Some("/indexes/{uid}/documents/{id}")), "documents");
        assert_eq!(family(Some("/indexes")), "indexes");
        assert_eq!(family(Some("/indexes/{uid}/stats")), "stats");
        assert_eq!(family(None), "unknown");
        // Paths as requested name the same families as their templates.
        for (path, expected) in [
            ("/", "root"),
            ("/health", "health"),
            ("/version", "version"),
            ("/stats", "stats"),
            ("/tasks", "tasks"),
            ("/tasks/12/documents", "tasks"),
            ("/indexes", "indexes"),
            ("/indexes/npm", "indexes"),
            ("/indexes/npm/stats", "stats"),
            ("/indexes/npm/documents", "documents"),
            ("/indexes/npm/documents/a%2Fb", "documents"),
            ("/indexes/npm/documents/delete-batch", "documents"),
            ("/indexes/npm/search", "search"),
            ("/indexes/npm/settings", "settings"),
            ("/indexes/npm/settings/synonyms", "settings"),
            ("/indexes/npm/facet-search", "other"),
            ("/indexes/npm/search/more", "other"),
            ("/multi-search", "other"),
            ("/keys/abc", "other"),
        ] {
            assert_eq!(family(Some(path)), expected, "{path}");
        }
    }
}
