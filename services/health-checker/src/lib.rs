//! The health-checker: Miroir's view of which Meilisearch nodes answer. Any number of replicas
//! run; the one holding the KV lease `health-checker` probes every node of the topology on an
//! interval (`GET /health`, then `GET /version` with the node key), turns the outcomes into an
//! observed health with hysteresis (the pure state machine in [`health`]: up, suspect, down) and
//! records it in the node's KV record (`health`, `healthSince`; never the operator's `state`).
//! Reads avoid suspect nodes and skip down ones; writes for a down node are queued (hinted
//! handoff) and its copies marked lagging. The same replica runs the replayer ([`repair`]) that
//! catches those copies up once their node is back. A standby replica takes over within
//! 2 x the lease TTL of the active one dying, continuing from the health recorded in KV.

pub mod checker;
pub mod config;
pub mod health;
mod metrics;
pub mod probe;
pub mod repair;

use std::sync::Arc;
use std::time::Duration;

use miroir_cluster::bus::ServiceRunner;
use miroir_cluster::lease::Lease;
use miroir_cluster::node::NodeClient;
use miroir_cluster::topology::TopologyStore;
use miroir_proto::subjects::Service;
use tokio_util::sync::CancellationToken;

pub use config::Config;
pub use metrics::{NODE_STATE, PROBE_SECONDS, PROBES_TOTAL, TRANSITIONS_TOTAL};

use checker::Checker;
use probe::Prober;
use repair::RepairContext;

/// The lease key in `miroir-leases` that makes one replica the active one.
pub const LEASE_NAME: &str = "health-checker";

/// Timeout of the replayer's requests to nodes: a replayed batch is only enqueued by the node,
/// but a node that just came back may be slow to answer.
const REPAIR_NODE_TIMEOUT: Duration = Duration::from_secs(10);

/// A holder id unique to this replica (two replicas in one process differ).
pub fn new_holder_id() -> String {
    format!(
        "health-checker-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4()
    )
}

/// Campaign for the lease and, while holding it, probe the nodes and replay handoff queues,
/// until `shutdown` is cancelled; then release the lease (a standby takes over at once) and give
/// the replayer the grace period to stop.
pub async fn run(
    config: Config,
    nats: async_nats::Client,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    run_as(&new_holder_id(), config, nats, shutdown).await
}

/// [`run`] with a chosen lease holder id (tests and status displays tell replicas apart by it;
/// [`miroir_cluster::lease::holder`] shows the active one's).
///
/// Dropping the returned future stops what it started too (the lease is then released as on a
/// shutdown); only a process that dies leaves its lease to expire.
pub async fn run_as(
    holder: &str,
    config: Config,
    nats: async_nats::Client,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    config.validate()?;
    metrics::describe();
    let grace = config.shutdown_grace();
    let js = async_nats::jetstream::new(nats.clone());
    let topology = TopologyStore::open(&js).await?;
    let mut runner = ServiceRunner::start(
        &nats,
        Service::HealthChecker,
        env!("CARGO_PKG_VERSION"),
        "Miroir health-checker: probes nodes, records their health, replays missed writes",
    )
    .await?;

    let local = shutdown.child_token();
    let _stop_on_drop = local.clone().drop_guard();
    let mut active = Lease::new(&js, LEASE_NAME, holder, config.lease_ttl())
        .await?
        .spawn(local.clone());
    let ctx = Arc::new(RepairContext {
        queues: miroir_cluster::handoff::HandoffQueues::open(&js).await?,
        wal: miroir_cluster::wal::open(&js).await?,
        topology: topology.clone(),
        nodes: NodeClient::new(config.node_api_key.clone(), REPAIR_NODE_TIMEOUT)?,
        config: config.repair(),
    });
    let repair = tokio::spawn(repair::run(ctx, active.clone(), local.clone()));
    runner.ready().await?;
    tracing::info!(%holder, "health-checker started: campaigning for the lease");

    let prober = Prober::new(config.node_api_key.clone(), config.probe_timeout());
    let checker = Checker::new(
        topology,
        prober,
        config.thresholds(),
        config.probe_interval(),
        config.probe_jitter(),
    );
    checker.run(active.clone(), local.clone()).await;

    tracing::info!(%holder, "health-checker stopping");
    local.cancel();
    let deadline = tokio::time::Instant::now() + grace;
    // The lease task closes the channel once it has released the lease.
    while let Ok(Ok(())) = tokio::time::timeout_at(deadline, active.changed()).await {}
    if tokio::time::timeout_at(deadline, repair).await.is_err() {
        tracing::warn!("the replayer did not stop within the grace period");
    }
    runner
        .shutdown(deadline.saturating_duration_since(tokio::time::Instant::now()))
        .await;
    Ok(())
}
