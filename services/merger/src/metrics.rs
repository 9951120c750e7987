//! The merger's Prometheus metrics, named in one place.
//!
//! - `miroir_merger_requests_total{op, outcome}`: requests served (`ok`, `client_error`,
//!   `unavailable`, `error`);
//! - `miroir_merger_request_seconds{op}`: wall time of each request, the search latency
//!   histogram among them (`op="search"`);
//! - `miroir_merger_shard_request_seconds{op, node}`: each answered request to one shard copy;
//! - `miroir_merger_retries_total{op}`: another copy asked after one failed;
//! - `miroir_merger_hedges_total{op}`: another copy asked because one was slow;
//! - `miroir_merger_hedges_won_total{op}`: a hedge whose copy answered first (the others are
//!   extra node work that bought nothing);
//! - `miroir_merger_hedge_patience_deviations`: how many deviations past a node's mean latency a
//!   read waits before it is hedged ([`crate::latency::Patience`]: 4, raised while hedges lose),
//!   as of the last hedge settled (it fades back towards 4 between);
//! - `miroir_merger_hedges_refused_total{op}`: a hedge that was due but not sent, the hedge budget
//!   being spent (counted once per wait, however often the budget is asked again);
//! - `miroir_merger_node_latency_ewma_seconds{node}`: the merger's running estimate of a node's
//!   shard-request latency (errors and timeouts count as slow), which steers reads and hedges;
//! - `miroir_merger_shard_unavailable_total{op}`: a shard for which no copy answered;
//! - `miroir_merger_facet_values_cut_total`: a count-ordered facet whose counts may be short
//!   because a shard listed as many values as its limit allows.

use std::time::Duration;

use metrics::Unit;
use miroir_proto::MeiliError;

/// Describe every metric, for the exporter's `# HELP` lines; register the build; start the
/// counters that only move on a fault at 0 (for searches), so that their series exist before
/// the first fault.
pub fn describe() {
    miroir_cluster::telemetry::register("merger", env!("CARGO_PKG_VERSION"));
    for name in [
        "miroir_merger_retries_total",
        "miroir_merger_hedges_total",
        "miroir_merger_hedges_won_total",
        "miroir_merger_hedges_refused_total",
        "miroir_merger_shard_unavailable_total",
    ] {
        metrics::counter!(name, "op" => "search").increment(0);
    }
    metrics::counter!("miroir_merger_facet_values_cut_total").increment(0);
    metrics::counter!("miroir_merger_searches_deepened_total").increment(0);
    metrics::counter!("miroir_merger_shards_deepened_total").increment(0);
    metrics::describe_counter!(
        "miroir_merger_searches_deepened_total",
        "Searches that asked some shards again for the whole window, their share used up"
    );
    metrics::describe_counter!(
        "miroir_merger_shards_deepened_total",
        "Shards asked again for the whole window, their share used up"
    );
    metrics::describe_counter!(
        "miroir_merger_requests_total",
        "Requests served, by op and outcome"
    );
    metrics::describe_histogram!(
        "miroir_merger_request_seconds",
        Unit::Seconds,
        "Wall time of each request, by op"
    );
    metrics::describe_histogram!(
        "miroir_merger_shard_request_seconds",
        Unit::Seconds,
        "Each answered request to one shard copy, by op and node"
    );
    metrics::describe_counter!(
        "miroir_merger_retries_total",
        "Another copy asked after one failed"
    );
    metrics::describe_counter!(
        "miroir_merger_hedges_total",
        "Another copy asked because one was slow"
    );
    metrics::describe_counter!(
        "miroir_merger_hedges_won_total",
        "Hedges whose copy answered before the copy it was sent beside"
    );
    metrics::describe_gauge!(
        "miroir_merger_hedge_patience_deviations",
        "How many deviations past a node's mean latency a read waits before it is hedged"
    );
    metrics::gauge!("miroir_merger_hedge_patience_deviations").set(crate::latency::Patience::FLOOR);
    metrics::describe_counter!(
        "miroir_merger_hedges_refused_total",
        "Hedges not sent because the hedge budget was spent"
    );
    metrics::describe_gauge!(
        "miroir_merger_node_latency_ewma_seconds",
        Unit::Seconds,
        "Running estimate (EWMA) of a node's shard-request latency, faults counted as slow"
    );
    metrics::describe_counter!(
        "miroir_merger_shard_unavailable_total",
        "Shards for which no copy answered"
    );
    metrics::describe_counter!(
        "miroir_merger_facet_values_cut_total",
        "Count-ordered facets whose counts may be short"
    );
}

pub fn request(op: &'static str, elapsed: Duration, result: &Result<impl Sized, MeiliError>) {
    let outcome = match result {
        Ok(_) => "ok",
        Err(e) if e.status < 500 => "client_error",
        Err(e) if e.status == 503 || e.status == 504 => "unavailable",
        Err(_) => "error",
    };
    metrics::counter!("miroir_merger_requests_total", "op" => op, "outcome" => outcome)
        .increment(1);
    metrics::histogram!("miroir_merger_request_seconds", "op" => op).record(elapsed.as_secs_f64());
}

/// The histogram of one node's answers to `op` requests (kept by [`crate::latency::Tracker`]).
pub fn shard_answered(op: &'static str, node: &str) -> metrics::Histogram {
    metrics::histogram!("miroir_merger_shard_request_seconds", "op" => op, "node" => node.to_owned())
}

pub fn retry(op: &'static str) {
    metrics::counter!("miroir_merger_retries_total", "op" => op).increment(1);
}

pub fn hedge(op: &'static str) {
    metrics::counter!("miroir_merger_hedges_total", "op" => op).increment(1);
}

pub fn hedge_won(op: &'static str) {
    metrics::counter!("miroir_merger_hedges_won_total", "op" => op).increment(1);
}

pub fn hedge_patience(deviations: f64) {
    metrics::gauge!("miroir_merger_hedge_patience_deviations").set(deviations);
}

pub fn hedge_refused(op: &'static str) {
    metrics::counter!("miroir_merger_hedges_refused_total", "op" => op).increment(1);
}

/// The gauge of one node's latency estimate (kept by [`crate::latency::Tracker`]).
pub fn node_latency(node: &str) -> metrics::Gauge {
    metrics::gauge!("miroir_merger_node_latency_ewma_seconds", "node" => node.to_owned())
}

pub fn shard_unavailable(op: &'static str) {
    metrics::counter!("miroir_merger_shard_unavailable_total", "op" => op).increment(1);
}

/// A search whose merge used up the hits of `shards` shards asked for their share of the
/// window, so asked them again for the whole of it.
pub fn searches_deepened(shards: usize) {
    metrics::counter!("miroir_merger_searches_deepened_total").increment(1);
    metrics::counter!("miroir_merger_shards_deepened_total").increment(shards as u64);
}

pub fn facet_values_cut() {
    metrics::counter!("miroir_merger_facet_values_cut_total").increment(1);
}
