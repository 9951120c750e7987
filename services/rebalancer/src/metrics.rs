//! The rebalancer's Prometheus metrics, described in one place (recorded where the plan is
//! applied, in `lib.rs`, and where copies are built, in `build`).
//!
//! - `miroir_rebalancer_moves_planned`: steps (adds, rebuilds, drops) the plan wants now;
//! - `miroir_rebalancer_moves_in_flight`: copies being built;
//! - `miroir_rebalancer_under_replicated_shards`: shards that cannot reach their replication
//!   factor with the target nodes there are;
//! - `miroir_rebalancer_moves_done_total`, `_moves_failed_total`, `_copies_added_total`,
//!   `_copies_dropped_total`: migration steps;
//! - `miroir_rebalancer_documents_copied_total`, `_bytes_copied_total`: what copies moved.
//!
//! Only the replica holding the lease plans, so only it reports the gauges.

/// Describe every metric (the exporter's `# HELP` lines), register the build, and start the
/// counters and gauges at 0 so that their series exist before the first migration.
pub fn describe() {
    miroir_cluster::telemetry::register("rebalancer", env!("CARGO_PKG_VERSION"));
    ::metrics::describe_gauge!(
        "miroir_rebalancer_moves_planned",
        "Copies the plan wants added, rebuilt or dropped now"
    );
    ::metrics::describe_gauge!("miroir_rebalancer_moves_in_flight", "Copies being built");
    ::metrics::describe_gauge!(
        "miroir_rebalancer_under_replicated_shards",
        "Shards that cannot reach their replication factor with the target nodes there are"
    );
    ::metrics::describe_counter!(
        "miroir_rebalancer_moves_done_total",
        "Copies built and caught up"
    );
    ::metrics::describe_counter!(
        "miroir_rebalancer_moves_failed_total",
        "Copy builds that failed (tried again)"
    );
    ::metrics::describe_counter!("miroir_rebalancer_copies_added_total", "New copies placed");
    ::metrics::describe_counter!(
        "miroir_rebalancer_copies_dropped_total",
        "Copies taken out of the placement"
    );
    ::metrics::describe_counter!(
        "miroir_rebalancer_documents_copied_total",
        "Documents copied from source copies"
    );
    ::metrics::describe_counter!(
        "miroir_rebalancer_bytes_copied_total",
        ::metrics::Unit::Bytes,
        "Bytes of documents copied from source copies"
    );
    for name in [
        "miroir_rebalancer_moves_done_total",
        "miroir_rebalancer_moves_failed_total",
        "miroir_rebalancer_copies_added_total",
        "miroir_rebalancer_copies_dropped_total",
        "miroir_rebalancer_documents_copied_total",
        "miroir_rebalancer_bytes_copied_total",
    ] {
        ::metrics::counter!(name).increment(0);
    }
}
