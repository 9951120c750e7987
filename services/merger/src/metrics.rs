//! The merger's Prometheus metrics, named in one place.
//!
//! - `miroir_merger_requests_total{op, outcome}`: requests served (`ok`, `client_error`,
//!   `unavailable`, `error`);
//! - `miroir_merger_request_seconds{op}`: wall time of each request, the search latency
//!   histogram among them (`op="search"`);
//! - `miroir_merger_shard_request_seconds{op, node}`: each answered request to one shard copy;
//! - `miroir_merger_retries_total{op}`: another copy asked after one failed;
//! - `miroir_merger_hedges_total{op}`: another copy asked because one was slow;
//! - `miroir_merger_shard_unavailable_total{op}`: a shard for which no copy answered;
//! - `miroir_merger_facet_values_cut_total`: a count-ordered facet whose counts may be short
//!   because a shard listed as many values as its limit allows.

use std::time::Duration;

use miroir_proto::MeiliError;

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

pub fn shard_answered(op: &'static str, node: &str, elapsed: Duration) {
    metrics::histogram!("miroir_merger_shard_request_seconds", "op" => op, "node" => node.to_owned())
        .record(elapsed.as_secs_f64());
}

pub fn retry(op: &'static str) {
    metrics::counter!("miroir_merger_retries_total", "op" => op).increment(1);
}

pub fn hedge(op: &'static str) {
    metrics::counter!("miroir_merger_hedges_total", "op" => op).increment(1);
}

pub fn shard_unavailable(op: &'static str) {
    metrics::counter!("miroir_merger_shard_unavailable_total", "op" => op).increment(1);
}

pub fn facet_values_cut() {
    metrics::counter!("miroir_merger_facet_values_cut_total").increment(1);
}
