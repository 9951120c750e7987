//! The health-checker's Prometheus metrics, named in one place.
//!
//! - `miroir_health_probe_seconds{node, outcome}`: latency of each probe (both requests);
//! - `miroir_health_probes_total{node, outcome}`: probes sent, by what they found (`ok`,
//!   `unreachable`, `timeout`, `unhealthy`, `unauthorized`, `bad_status`);
//! - `miroir_health_transitions_total{node, from, to}`: observed-health changes (`up`, `suspect`,
//!   `down`);
//! - `miroir_health_node_state{node}`: observed health as the active replica sees it: 0 up,
//!   1 suspect, 2 down.
//!
//! Only the replica holding the lease probes, so only it reports these (the lease itself is
//! `miroir_lease_held{lease="health-checker"}`).

use std::sync::Once;
use std::time::Duration;

use miroir_proto::topology::NodeHealth;

use crate::health::{self, Transition};
use crate::probe::ProbeResult;

pub const PROBE_SECONDS: &str = "miroir_health_probe_seconds";
pub const PROBES_TOTAL: &str = "miroir_health_probes_total";
pub const TRANSITIONS_TOTAL: &str = "miroir_health_transitions_total";
pub const NODE_STATE: &str = "miroir_health_node_state";

/// Register the help texts (once per process, however many replicas run in it).
pub fn describe() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        metrics::describe_histogram!(PROBE_SECONDS, metrics::Unit::Seconds, "Latency of one probe of a node (GET /health then GET /version), by node and outcome.");
        metrics::describe_counter!(PROBES_TOTAL, "Probes sent to nodes, by node and outcome (ok, unreachable, timeout, unhealthy, unauthorized, bad_status).");
        metrics::describe_counter!(TRANSITIONS_TOTAL, "Changes of a node's observed health, by node, from and to (up, suspect, down).");
        metrics::describe_gauge!(NODE_STATE, "Observed health of a node as the active health-checker sees it: 0 up, 1 suspect, 2 down.");
    });
}

pub fn probe(node: &str, result: ProbeResult, elapsed: Duration) {
    let outcome = result.label();
    metrics::histogram!(PROBE_SECONDS, "node" => node.to_owned(), "outcome" => outcome)
        .record(elapsed.as_secs_f64());
    metrics::counter!(PROBES_TOTAL, "node" => node.to_owned(), "outcome" => outcome).increment(1);
}

pub fn transition(node: &str, t: Transition) {
    metrics::counter!(TRANSITIONS_TOTAL, "node" => node.to_owned(), "from" => health::label(t.from), "to" => health::label(t.to))
        .increment(1);
}

pub fn state(node: &str, h: NodeHealth) {
    metrics::gauge!(NODE_STATE, "node" => node.to_owned()).set(health::gauge_value(h));
}
