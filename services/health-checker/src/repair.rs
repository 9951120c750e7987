//! Catching copies up (hinted handoff replay). Written by the router's owner; see the doc of
//! [`run`]. Placeholder until filled in: does nothing.

use std::sync::Arc;
use std::time::Duration;

use miroir_cluster::node::NodeClient;
use miroir_cluster::topology::TopologyStore;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Bounds of a copy's handoff queue and the pace of replays.
#[derive(Clone, Debug)]
pub struct RepairConfig {
    /// A queue holding more hints than this is reported and the copy handed to re-replication.
    pub max_queue_hints: u64,
    /// A queue whose oldest hint is older than this is reported and handed to re-replication.
    pub max_queue_age: Duration,
    /// How often the replayer looks for work when nothing woke it.
    pub interval: Duration,
}

impl Default for RepairConfig {
    fn default() -> Self {
        RepairConfig { max_queue_hints: 100_000, max_queue_age: Duration::from_secs(3600), interval: Duration::from_millis(500) }
    }
}

/// What the replayer works with.
#[derive(Clone)]
pub struct RepairContext {
    pub js: async_nats::jetstream::Context,
    pub topology: TopologyStore,
    pub nodes: NodeClient,
    pub config: RepairConfig,
}

/// Replay the handoff queues of copies whose node is back, while `active` is true (this replica
/// holds the lease), until `shutdown`.
pub async fn run(ctx: Arc<RepairContext>, active: watch::Receiver<bool>, shutdown: CancellationToken) {
    let _ = (ctx, active);
    shutdown.cancelled().await;
}

/// Mark every copy `node` holds as lagging (its node went down): none of them is read again
/// until the replayer has checked it caught up. Returns how many index records changed.
pub async fn mark_node_lagging(topology: &TopologyStore, node: &str) -> anyhow::Result<usize> {
    let _ = (topology, node);
    Ok(0)
}
