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
//! - `miroir_shard_live_copies{index, shard}`: live full copies of each shard (listed, not
//!   behind, on a node not down), what reads can be served from; 0 is a shard without a live copy;
//! - `miroir_shard_target_copies{index, shard}`: the copies the index's replication factor asks
//!   for (fewer live than target: the replication factor is not met);
//! - the handoff replayer's (counted in `repair`): `miroir_handoff_queue_hints{node}`,
//!   `miroir_handoff_replayed_total{node}`, `miroir_handoff_replayed_documents_total{node}`,
//!   `miroir_handoff_caught_up_total{node}`, `miroir_handoff_lost_copies_total{node}`,
//!   `miroir_handoff_queue_over_bound_total{node}`.
//!
//! Only the replica holding the lease probes and replays, so only it reports these (the lease
//! itself is `miroir_lease_held{lease="health-checker"}`).

use std::time::Duration;

use metrics::Unit;
use miroir_cluster::topology::Topology;
use miroir_proto::topology::NodeHealth;

use crate::health::{self, Transition};
use crate::probe::ProbeResult;

pub const PROBE_SECONDS: &str = "miroir_health_probe_seconds";
pub const PROBES_TOTAL: &str = "miroir_health_probes_total";
pub const TRANSITIONS_TOTAL: &str = "miroir_health_transitions_total";
pub const NODE_STATE: &str = "miroir_health_node_state";
pub const SHARD_LIVE_COPIES: &str = "miroir_shard_live_copies";
pub const SHARD_TARGET_COPIES: &str = "miroir_shard_target_copies";
pub const HANDOFF_QUEUE_HINTS: &str = "miroir_handoff_queue_hints";

/// Register the help texts and the build (every replica that starts: describing again is
/// harmless, and a recorder installed after the first replica still gets them).
pub fn describe() {
    miroir_cluster::telemetry::register("health-checker", env!("CARGO_PKG_VERSION"));
    metrics::describe_histogram!(
        PROBE_SECONDS,
        Unit::Seconds,
        "Latency of one probe of a node (GET /health then GET /version), by node and outcome."
    );
    metrics::describe_counter!(
        PROBES_TOTAL,
        "Probes sent to nodes, by node and outcome (ok, unreachable, timeout, unhealthy, unauthorized, bad_status)."
    );
    metrics::describe_counter!(
        TRANSITIONS_TOTAL,
        "Changes of a node's observed health, by node, from and to (up, suspect, down)."
    );
    metrics::describe_gauge!(
        NODE_STATE,
        "Observed health of a node as the active health-checker sees it: 0 up, 1 suspect, 2 down."
    );
    metrics::describe_gauge!(
        SHARD_LIVE_COPIES,
        "Live full copies of a shard (listed, not behind, node not down), by index and shard."
    );
    metrics::describe_gauge!(
        SHARD_TARGET_COPIES,
        "Copies of a shard its index's replication factor asks for, by index and shard."
    );
    metrics::describe_gauge!(
        HANDOFF_QUEUE_HINTS,
        "Writes waiting in a node's handoff queues to be replayed, by node."
    );
    metrics::describe_counter!(
        "miroir_handoff_replayed_total",
        "Handoff hints replayed onto their copy, by node."
    );
    metrics::describe_counter!(
        "miroir_handoff_replayed_documents_total",
        "Documents replayed onto copies from handoff queues, by node."
    );
    metrics::describe_counter!(
        "miroir_handoff_caught_up_total",
        "Copies that caught up with their handoff queue and serve reads again, by node."
    );
    metrics::describe_counter!(
        "miroir_handoff_lost_copies_total",
        "Copies found lost (index gone or not replayable), out of reads until rebuilt, by node."
    );
    metrics::describe_counter!(
        "miroir_handoff_queue_over_bound_total",
        "Handoff queues past their size or age bound, handed to re-replication, by node."
    );
}

/// The handoff counters by node, which only move when something happens to a node's copies.
const HANDOFF_COUNTERS: [&str; 5] = [
    "miroir_handoff_replayed_total",
    "miroir_handoff_replayed_documents_total",
    "miroir_handoff_caught_up_total",
    "miroir_handoff_lost_copies_total",
    "miroir_handoff_queue_over_bound_total",
];

/// The live and target copies of every shard of every index, from the topology the active
/// replica probes against; and the handoff counters of every node started at 0, so that their
/// series (and the alerts' rates over them) exist before the first event.
pub fn copies(topology: &Topology) {
    for node in topology.nodes.keys() {
        for name in HANDOFF_COUNTERS {
            metrics::counter!(name, "node" => node.clone()).increment(0);
        }
    }
    for (record, _) in topology.indexes.values() {
        for (shard, placement) in record.shards.iter().enumerate() {
            let labels = [("index", record.uid.clone()), ("shard", shard.to_string())];
            metrics::gauge!(SHARD_LIVE_COPIES, &labels)
                .set(topology.live_full_copies(placement).len() as f64);
            metrics::gauge!(SHARD_TARGET_COPIES, &labels).set(f64::from(record.replication_factor));
        }
    }
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
