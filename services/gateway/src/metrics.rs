//! Request metrics by route family and status: `miroir_gateway_requests_total` (also by
//! method) and `miroir_gateway_request_seconds`. Upload figures are counted where uploads are
//! handled (`miroir_gateway_upload_bytes_total`, `miroir_gateway_documents_total`,
//! `miroir_gateway_uploads_refused_total`, `miroir_gateway_uploads_in_flight`), slow clients
//! where they are cut (`miroir_gateway_header_timeouts_total` in `serve`,
//! `miroir_gateway_body_timeouts_total` in `body_timeout`).

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
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

/// The family a matched route belongs to; unmatched paths are `unknown`.
pub fn family(matched: Option<&str>) -> &'static str {
    let Some(path) = matched else {
        return "unknown";
    };
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        [""] => "root",
        ["health"] => "health",
        ["version"] => "version",
        ["stats"] => "stats",
        ["tasks", ..] => "tasks",
        ["indexes"] | ["indexes", _] => "indexes",
        ["indexes", _, "stats"] => "stats",
        ["indexes", _, "documents", ..] => "documents",
        ["indexes", _, "search"] => "search",
        ["indexes", _, "settings", ..] => "settings",
        _ => "other",
    }
}

pub async fn record(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let family = family(
        req.extensions()
            .get::<MatchedPath>()
            .map(MatchedPath::as_str),
    );
    let method = req.method().as_str().to_string();
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    metrics::histogram!("miroir_gateway_request_seconds", "family" => family, "status" => status.clone())
        .record(started.elapsed().as_secs_f64());
    metrics::counter!("miroir_gateway_requests_total", "family" => family, "method" => method, "status" => status)
        .increment(1);
    response
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
    }
}
