//! The router's Prometheus metrics, named and described in one place (the write path's own; its
//! NATS requests and leases are described by `miroir_cluster::telemetry`).
//!
//! - `miroir_router_tasks_total{type}`: cluster tasks enqueued, by Meilisearch task type;
//! - `miroir_router_tasks_unfinished`: tasks whose final state nobody has seen yet (the settler's
//!   backlog: a growing value is task lag);
//! - `miroir_router_tasks_canceled_total`: tasks canceled by a `taskCancelation`;
//! - `miroir_router_fanout_errors_total`: writes a shard copy refused (the task reports them);
//! - `miroir_router_deferred_writes_total{node}`: writes queued in a copy's handoff queue
//!   because its node was down or did not answer (replayed by the health-checker);
//! - `miroir_router_missing_copies_total`: writes to a copy whose index is gone from its node;
//! - `miroir_router_settings_drift_checks_total`, `_drift_total`, `_drift_unresolved_total`:
//!   settings drift checks, copies repaired, and indexes whose copies have no majority;
//! - `miroir_router_index_swaps_total`: index swaps committed;
//! - `miroir_router_index_renames_total`: index renames (`PATCH /indexes/{uid}` with a new uid);
//! - `miroir_router_feature_syncs_total`: nodes given the cluster's experimental features;
//! - `miroir_router_id_checks_skipped_total`: document batches whose ids the gateway already
//!   checked under the same primary key (the router does not read them again).
//! - `miroir_router_webhook_deliveries_total`, `_failures_total`, `_retries_total`,
//!   `_dropped_total`: task notifications a webhook accepted, gave up on after every retry,
//!   retried, and dropped because the queue was full; `miroir_router_webhook_queue_depth`:
//!   notifications waiting in this replica's queue (`webhooks.rs`).

use metrics::{counter, describe_counter, describe_gauge, gauge};

pub const TASKS_TOTAL: &str = "miroir_router_tasks_total";
pub const TASKS_UNFINISHED: &str = "miroir_router_tasks_unfinished";
pub const TASKS_CANCELED_TOTAL: &str = "miroir_router_tasks_canceled_total";
pub const FANOUT_ERRORS_TOTAL: &str = "miroir_router_fanout_errors_total";
pub const DEFERRED_WRITES_TOTAL: &str = "miroir_router_deferred_writes_total";
pub const MISSING_COPIES_TOTAL: &str = "miroir_router_missing_copies_total";
pub const DRIFT_CHECKS_TOTAL: &str = "miroir_router_settings_drift_checks_total";
pub const DRIFT_TOTAL: &str = "miroir_router_settings_drift_total";
pub const DRIFT_UNRESOLVED_TOTAL: &str = "miroir_router_settings_drift_unresolved_total";
pub const INDEX_SWAPS_TOTAL: &str = "miroir_router_index_swaps_total";
pub const INDEX_RENAMES_TOTAL: &str = "miroir_router_index_renames_total";
pub const FEATURE_SYNCS_TOTAL: &str = "miroir_router_feature_syncs_total";
pub const ID_CHECKS_SKIPPED_TOTAL: &str = "miroir_router_id_checks_skipped_total";
pub const WEBHOOK_DELIVERIES_TOTAL: &str = "miroir_router_webhook_deliveries_total";
pub const WEBHOOK_FAILURES_TOTAL: &str = "miroir_router_webhook_failures_total";
pub const WEBHOOK_RETRIES_TOTAL: &str = "miroir_router_webhook_retries_total";
pub const WEBHOOK_DROPPED_TOTAL: &str = "miroir_router_webhook_dropped_total";
pub const WEBHOOK_QUEUE_DEPTH: &str = "miroir_router_webhook_queue_depth";

/// Describe every metric (the exporter's `# HELP` lines), register the build, and start the
/// failure counters at 0 so that their series exist before the first failure.
pub fn describe() {
    miroir_cluster::telemetry::register("router", env!("CARGO_PKG_VERSION"));
    describe_counter!(TASKS_TOTAL, "Cluster tasks enqueued, by task type");
    describe_gauge!(
        TASKS_UNFINISHED,
        "Tasks whose final state has not been seen yet (the settler's backlog)"
    );
    describe_counter!(TASKS_CANCELED_TOTAL, "Tasks canceled by a taskCancelation");
    describe_counter!(
        WEBHOOK_DELIVERIES_TOTAL,
        "Task notifications a webhook accepted"
    );
    describe_counter!(
        WEBHOOK_FAILURES_TOTAL,
        "Task notifications given up on after every retry"
    );
    describe_counter!(WEBHOOK_RETRIES_TOTAL, "Task notifications sent again");
    describe_counter!(
        WEBHOOK_DROPPED_TOTAL,
        "Task notifications dropped because the webhook queue was full"
    );
    describe_gauge!(
        WEBHOOK_QUEUE_DEPTH,
        "Task notifications waiting in this router's webhook queue"
    );
    describe_counter!(FANOUT_ERRORS_TOTAL, "Writes a shard copy refused");
    describe_counter!(
        DEFERRED_WRITES_TOTAL,
        "Writes queued in a copy's handoff queue (node down or not answering), by node"
    );
    describe_counter!(
        MISSING_COPIES_TOTAL,
        "Writes to a copy whose index is gone from its node"
    );
    describe_counter!(DRIFT_CHECKS_TOTAL, "Settings drift checks run");
    describe_counter!(
        DRIFT_TOTAL,
        "Shard copies whose drifted settings were re-applied"
    );
    describe_counter!(
        DRIFT_UNRESOLVED_TOTAL,
        "Indexes whose copies hold different settings with no majority (an operator must choose)"
    );
    describe_counter!(INDEX_SWAPS_TOTAL, "Index swaps committed");
    describe_counter!(INDEX_RENAMES_TOTAL, "Index renames committed");
    describe_counter!(
        FEATURE_SYNCS_TOTAL,
        "Nodes given the cluster's experimental features"
    );
    describe_counter!(
        ID_CHECKS_SKIPPED_TOTAL,
        "Document batches whose ids the gateway already checked under the same primary key"
    );
    for name in [
        TASKS_CANCELED_TOTAL,
        FANOUT_ERRORS_TOTAL,
        MISSING_COPIES_TOTAL,
        DRIFT_CHECKS_TOTAL,
        DRIFT_TOTAL,
        DRIFT_UNRESOLVED_TOTAL,
        INDEX_SWAPS_TOTAL,
        INDEX_RENAMES_TOTAL,
        FEATURE_SYNCS_TOTAL,
        ID_CHECKS_SKIPPED_TOTAL,
        WEBHOOK_DELIVERIES_TOTAL,
        WEBHOOK_FAILURES_TOTAL,
        WEBHOOK_RETRIES_TOTAL,
        WEBHOOK_DROPPED_TOTAL,
    ] {
        counter!(name).increment(0);
    }
    gauge!(TASKS_UNFINISHED).set(0.0);
    gauge!(WEBHOOK_QUEUE_DEPTH).set(0.0);
}

pub fn task_enqueued(task_type: &str) {
    counter!(TASKS_TOTAL, "type" => task_type.to_owned()).increment(1);
}

pub fn tasks_unfinished(count: usize) {
    gauge!(TASKS_UNFINISHED).set(count as f64);
}

pub fn tasks_canceled(count: usize) {
    counter!(TASKS_CANCELED_TOTAL).increment(count as u64);
}

pub fn fanout_error() {
    counter!(FANOUT_ERRORS_TOTAL).increment(1);
}

pub fn deferred_write(node: &str) {
    counter!(DEFERRED_WRITES_TOTAL, "node" => node.to_owned()).increment(1);
}

pub fn missing_copy() {
    counter!(MISSING_COPIES_TOTAL).increment(1);
}

pub fn drift_check() {
    counter!(DRIFT_CHECKS_TOTAL).increment(1);
}

pub fn drift_repaired() {
    counter!(DRIFT_TOTAL).increment(1);
}

pub fn drift_unresolved() {
    counter!(DRIFT_UNRESOLVED_TOTAL).increment(1);
}

pub fn index_swapped() {
    counter!(INDEX_SWAPS_TOTAL).increment(1);
}

pub fn index_renamed() {
    counter!(INDEX_RENAMES_TOTAL).increment(1);
}

pub fn features_synced() {
    counter!(FEATURE_SYNCS_TOTAL).increment(1);
}

pub fn id_check_skipped() {
    counter!(ID_CHECKS_SKIPPED_TOTAL).increment(1);
}

pub fn webhook_delivered() {
    counter!(WEBHOOK_DELIVERIES_TOTAL).increment(1);
}

pub fn webhook_failed() {
    counter!(WEBHOOK_FAILURES_TOTAL).increment(1);
}

pub fn webhook_retry() {
    counter!(WEBHOOK_RETRIES_TOTAL).increment(1);
}

pub fn webhook_dropped() {
    counter!(WEBHOOK_DROPPED_TOTAL).increment(1);
}

pub fn webhook_queue_depth(depth: usize) {
    gauge!(WEBHOOK_QUEUE_DEPTH).set(depth as f64);
}
