//! The rebalancer: one active replica (the KV lease `rebalancer`) keeps every index at the
//! placement rendezvous hashing gives over the target nodes ([`miroir_cluster::plan`]), moving
//! shard copies live while the other copies serve reads and writes.
//!
//! Each pass computes the plan from the topology and acts on it, within limits (`max_moves` in
//! the cluster, `max_moves_per_node` onto or from one node, `copy_docs_per_sec` per copy):
//! - an **add** (a target node without a copy of the shard) puts the node into the shard's
//!   `nodes`, marked behind with reason `lost`, by compare-and-set: from then on the router queues
//!   every write for it, and the merger never reads it;
//! - a **rebuild** (a copy marked `lost`) is built from a live full copy ([`build`]) and handed
//!   to the health-checker's replayer, which replays the queued writes; once the copy caught up it
//!   is read like the others;
//! - a **drop** (a copy on a node that is no longer a target: draining, removed, or down for
//!   longer than `reallocate_after_ms`) leaves the placement by compare-and-set once the shard has
//!   enough full copies without it, and its shard index is deleted from the node after
//!   `drop_grace_ms` (searches in flight may still read it).
//!
//! Every step is recorded in the index record itself, so a standby that takes over resumes from
//! the topology: a copy still `lost` is built again from scratch, a built one is dropped.

pub mod build;
mod config;
mod metrics;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use miroir_cluster::bus::ServiceRunner;
use miroir_cluster::handoff::HandoffQueues;
use miroir_cluster::lease::Lease;
use miroir_cluster::migrations::MigrationStore;
use miroir_cluster::node::NodeClient;
use miroir_cluster::plan::{self, CopyStep};
use miroir_cluster::topology::TopologyStore;
use miroir_placement::ShardId;
use miroir_proto::migrations::{MigrationPhase, MigrationRecord};
use miroir_proto::subjects::Service;
use miroir_proto::topology::LagReason;
use reqwest::Method;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use config::Config;

/// The lease key in `miroir-leases` that makes one replica the active one.
pub const LEASE_NAME: &str = "rebalancer";

/// What a build works with.
pub struct Ctx {
    pub config: Config,
    pub topology: TopologyStore,
    pub migrations: MigrationStore,
    pub handoff: HandoffQueues,
    pub nodes: NodeClient,
}

/// Campaign for the lease and, while holding it, move copies until `shutdown`; then stop the
/// builds in flight (they restart from scratch on the next active replica) and release the lease.
pub async fn run(
    config: Config,
    nats: async_nats::Client,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    config.validate()?;
    let js = async_nats::jetstream::new(nats.clone());
    let topology = TopologyStore::open(&js).await?;
    let migrations = MigrationStore::open(&js).await?;
    let handoff = HandoffQueues::open(&js).await?;
    let nodes = NodeClient::new(
        config.node_api_key.clone(),
        Duration::from_millis(config.node_timeout_ms),
    )?;
    let mut service = ServiceRunner::start(
        &nats,
        Service::Rebalancer,
        env!("CARGO_PKG_VERSION"),
        "Miroir rebalancer: live shard moves",
    )
    .await?;
    service.ready().await?;
    let holder = format!("rebalancer-{}-{}", std::process::id(), uuid::Uuid::new_v4());
    let lease_stop = CancellationToken::new();
    let mut active = Lease::new(
        &js,
        LEASE_NAME,
        &holder,
        Duration::from_millis(config.lease_ttl_ms),
    )
    .await?
    .spawn(lease_stop.clone());
    let grace = Duration::from_millis(config.shutdown_grace_ms);
    let interval = Duration::from_millis(config.interval_ms);
    let ctx = Arc::new(Ctx {
        config,
        topology,
        migrations,
        handoff,
        nodes,
    });
    let mut rebalancer = Rebalancer {
        ctx: ctx.clone(),
        running: HashMap::new(),
        backoff: HashMap::new(),
    };
    let mut changes = ctx.topology.subscribe();
    metrics::describe();
    tracing::info!(%holder, "rebalancer started");
    loop {
        if *active.borrow() {
            rebalancer.pass().await;
        } else {
            rebalancer.stop_all();
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = active.changed() => {}
            _ = changes.changed() => {
                // A burst of writes moves the topology often: look at most every 100 ms for it.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            _ = tokio::time::sleep(interval) => {}
        }
    }
    rebalancer.stop_all();
    lease_stop.cancel();
    let _ = tokio::time::timeout(grace, async {
        while *active.borrow() {
            if active.changed().await.is_err() {
                break;
            }
        }
    })
    .await;
    service.shutdown(grace).await;
    Ok(())
}

struct Rebalancer {
    ctx: Arc<Ctx>,
    running: HashMap<(String, u16, String), JoinHandle<Result<u64, build::BuildError>>>,
    /// Builds that failed: not tried again before the instant, with the failures so far.
    backoff: HashMap<(String, u16, String), (tokio::time::Instant, u32)>,
}

impl Rebalancer {
    /// One look at the plan, and the steps it allows now.
    async fn pass(&mut self) {
        self.reap().await;
        let topo = self.ctx.topology.current();
        let now = time::OffsetDateTime::now_utc();
        let plan = plan::plan(&topo, now, self.ctx.config.reallocate_after());
        ::metrics::gauge!("miroir_rebalancer_moves_planned")
            .set((plan.adds.len() + plan.rebuilds.len() + plan.drops.len()) as f64);
        ::metrics::gauge!("miroir_rebalancer_under_replicated_shards")
            .set(plan.under_replicated.len() as f64);

        for step in &plan.drops {
            self.drop_copy(step).await;
        }
        let now = tokio::time::Instant::now();
        self.backoff
            .retain(|k, _| plan.rebuilds.iter().any(|s| key(s) == *k));
        for step in &plan.rebuilds {
            let waiting = self
                .backoff
                .get(&key(step))
                .is_some_and(|(until, _)| *until > now);
            if !waiting && !self.running.contains_key(&key(step)) && self.room_for(step) {
                self.start(step.clone());
            }
        }
        for step in &plan.adds {
            if self.room_for(step) && self.add_copy(step).await {
                self.start(step.clone());
            }
        }
        ::metrics::gauge!("miroir_rebalancer_moves_in_flight").set(self.running.len() as f64);
    }

    /// Whether another build may start onto `step.node`.
    fn room_for(&self, step: &CopyStep) -> bool {
        let cfg = &self.ctx.config;
        if self.running.len() >= cfg.max_moves {
            return false;
        }
        let onto_node = self
            .running
            .keys()
            .filter(|(_, _, n)| *n == step.node)
            .count();
        onto_node < cfg.max_moves_per_node
    }

    fn start(&mut self, step: CopyStep) {
        let ctx = self.ctx.clone();
        let k = key(&step);
        self.running
            .insert(k, tokio::spawn(build::build(ctx, step)));
    }

    /// Collect the builds that ended.
    async fn reap(&mut self) {
        let done: Vec<_> = self
            .running
            .iter()
            .filter(|(_, r)| r.is_finished())
            .map(|(k, _)| k.clone())
            .collect();
        for k in done {
            let Some(r) = self.running.remove(&k) else {
                continue;
            };
            match r.await {
                Ok(Ok(docs)) => {
                    self.backoff.remove(&k);
                    tracing::debug!(index = %k.0, shard = k.1, node = %k.2, docs, "rebalancer: copied; the replayer catches it up");
                }
                Ok(Err(e)) => {
                    ::metrics::counter!("miroir_rebalancer_moves_failed_total").increment(1);
                    let failures = self.backoff.get(&k).map_or(0, |(_, n)| *n) + 1;
                    let pause = Duration::from_millis(250 * 2u64.pow(failures.min(7)));
                    self.backoff
                        .insert(k.clone(), (tokio::time::Instant::now() + pause, failures));
                    tracing::warn!(index = %k.0, shard = k.1, node = %k.2, error = %e, "rebalancer: a copy could not be built; it will be tried again");
                    let failed = MigrationRecord {
                        index: k.0.clone(),
                        shard: k.1,
                        node: k.2.clone(),
                        source: String::new(),
                        phase: MigrationPhase::Failed,
                        copied: 0,
                        total: 0,
                        started_at: miroir_cluster::now_rfc3339(),
                        updated_at: miroir_cluster::now_rfc3339(),
                        error: Some(e.to_string()),
                    };
                    build::report(&self.ctx, &failed).await;
                }
                Err(e) => tracing::warn!(error = %e, "rebalancer: a build task ended abnormally"),
            }
        }
    }

    /// Stop every build (lease lost or shutdown): they restart from scratch on the next holder.
    fn stop_all(&mut self) {
        for (_, r) in self.running.drain() {
            r.abort();
        }
    }

    /// Put `step.node` into its shard's `nodes`, behind (lost): it receives writes through its
    /// queue from now on. Returns whether the copy is now there to be built.
    async fn add_copy(&self, step: &CopyStep) -> bool {
        let s = usize::from(step.shard);
        let node = step.node.clone();
        let written = self
            .ctx
            .topology
            .modify_index(&step.index, |r| {
                let Some(p) = r.shards.get_mut(s) else {
                    return false;
                };
                if p.nodes.contains(&node) {
                    return false;
                }
                p.nodes.push(node.clone());
                p.mark_lagging(&node, LagReason::Lost, 0);
                true
            })
            .await;
        match written {
            Ok(Some((r, rev))) => {
                let there = r.shards.get(s).is_some_and(|p| p.nodes.contains(&node));
                if there {
                    self.ctx
                        .topology
                        .wait_for_revision(rev, Duration::from_secs(2))
                        .await;
                    ::metrics::counter!("miroir_rebalancer_copies_added_total").increment(1);
                    tracing::info!(index = %step.index, shard = step.shard, node = %step.node, "rebalancer: new copy placed; building it");
                }
                there
            }
            Ok(None) => false,
            Err(e) => {
                tracing::warn!(index = %step.index, error = %e, "rebalancer: cannot place a new copy");
                false
            }
        }
    }

    /// Take a copy out of the placement (compare-and-set, re-checking that the shard keeps a full
    /// copy on an available node besides it), then delete its shard index after the grace.
    async fn drop_copy(&self, step: &CopyStep) {
        let topo = self.ctx.topology.current();
        let s = usize::from(step.shard);
        let node = step.node.clone();
        let written = self
            .ctx
            .topology
            .modify_index(&step.index, |r| {
                let Some(p) = r.shards.get_mut(s) else {
                    return false;
                };
                if !p.nodes.contains(&node) {
                    return false;
                }
                if topo.live_full_copies(p).iter().all(|n| *n == node) {
                    return false;
                }
                p.nodes.retain(|n| *n != node);
                p.lagging.retain(|l| l.node != node);
                true
            })
            .await;
        let Ok(Some((record, _))) = written else {
            return;
        };
        if record
            .shards
            .get(s)
            .is_some_and(|p| p.nodes.contains(&node))
        {
            return;
        }
        ::metrics::counter!("miroir_rebalancer_copies_dropped_total").increment(1);
        tracing::info!(index = %step.index, shard = step.shard, node = %step.node, "rebalancer: copy left the placement");
        let Some(shard) = ShardId::new(step.shard) else {
            return;
        };
        let name = miroir_cluster::shard_name(&record, shard);
        let url = topo.node_url(&node).map(str::to_string);
        let ctx = self.ctx.clone();
        let grace = Duration::from_millis(ctx.config.drop_grace_ms);
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            if let Err(e) = ctx.handoff.drop_queue(&node, &name).await {
                tracing::warn!(%node, index = %name, error = %e, "rebalancer: cannot drop a dropped copy's queue");
            }
            if let Some(url) = url {
                // A dead node keeps its stale index; it is never read (not in the placement).
                if let Err(e) = ctx
                    .nodes
                    .send(&url, Method::DELETE, &format!("/indexes/{name}"), None)
                    .await
                {
                    tracing::info!(%node, index = %name, error = %e, "rebalancer: the dropped copy's index was not deleted");
                }
            }
        });
    }
}

fn key(step: &CopyStep) -> (String, u16, String) {
    (step.index.clone(), step.shard, step.node.clone())
}
