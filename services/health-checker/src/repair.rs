//! Catching copies up: hinted-handoff replay, run by the active health-checker only.
//!
//! A copy is *behind* when it is listed in its shard's `lagging` (the router put it there when a
//! write missed it; [`mark_node_lagging`] puts every copy of a node there when the node goes
//! down). Behind copies are never read. For each node that is available again, the replayer:
//!
//! 1. replays every handoff queue of the node in order (the hints the router queued), purging
//!    each hint once the node has enqueued it; a document hint names its batch in the WAL and the
//!    replayer sends the shard's part of it;
//! 2. for each behind copy of the node, checks that it caught up: its queue is empty, the node
//!    still holds the shard index (a node restarted empty does not: the copy is marked `lost`
//!    and stays out of reads until it is rebuilt from another copy), and the node has no task of
//!    that index still enqueued or processing (what was sent is applied);
//! 3. takes the copy out of `lagging` with compare-and-set, only if its queue watermark
//!    (`hintSeq`) did not move meanwhile: a write queued while the check ran keeps it behind.
//!
//! Ordering guarantee: the router queues a hint and marks the copy behind *before* it answers the
//! client, and never sends a copy directly while it is behind, so a copy that left `lagging` holds
//! every acknowledged write, applied in the order its queue received them.
//!
//! Bounds: a queue with more than `max_queue_hints` hints, or whose oldest hint is older than
//! `max_queue_age`, is reported (log and metric) and its copy handed to re-replication (marked
//! `lost`: rebuilt from a live copy instead of replayed). A document hint whose batch has left
//! the WAL (kept 24 h) is handled the same way.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use miroir_cluster::handoff::HandoffQueues;
use miroir_cluster::node::{NodeClient, NodeError};
use miroir_cluster::topology::TopologyStore;
use miroir_placement::{ShardCount, ShardId};
use miroir_proto::MeiliError;
use miroir_proto::handoff::{Hint, HintBody};
use miroir_proto::topology::{Availability, LagReason};
use reqwest::Method;
use serde_json::Value;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Bounds of a copy's handoff queue and the pace of replays.
#[derive(Clone, Debug)]
pub struct RepairConfig {
    /// A queue holding more hints than this is reported and the copy handed to re-replication.
    pub max_queue_hints: u64,
    /// A queue whose oldest hint is older than this is reported and handed to re-replication.
    pub max_queue_age: Duration,
    /// How often the replayer looks for work.
    pub interval: Duration,
}

impl Default for RepairConfig {
    fn default() -> Self {
        RepairConfig {
            max_queue_hints: 100_000,
            max_queue_age: Duration::from_secs(3600),
            interval: Duration::from_millis(500),
        }
    }
}

/// What the replayer works with.
#[derive(Clone)]
pub struct RepairContext {
    pub queues: HandoffQueues,
    /// The WAL, where document hints find their batches.
    pub wal: async_nats::jetstream::stream::Stream,
    pub topology: TopologyStore,
    pub nodes: NodeClient,
    pub config: RepairConfig,
}

/// Documents go to a node in requests of about this size during a replay.
const PART_BYTES: usize = 4 * 1024 * 1024;

/// Why a queue's replay stopped.
#[derive(Debug, thiserror::Error)]
enum ReplayError {
    #[error("node unreachable: {0}")]
    Unreachable(String),
    #[error("the copy lost its shard index")]
    Lost,
    #[error("{0}")]
    Queue(String),
}

/// Replay the handoff queues of copies whose node is back, while `active` is true (this replica
/// holds the lease), until `shutdown`.
pub async fn run(
    ctx: Arc<RepairContext>,
    mut active: watch::Receiver<bool>,
    shutdown: CancellationToken,
) {
    let repairer = Repairer {
        ctx,
        caught_up: std::sync::Mutex::new(HashMap::new()),
    };
    loop {
        if *active.borrow() {
            repairer.pass().await;
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = active.changed() => {}
            _ = tokio::time::sleep(repairer.ctx.config.interval) => {}
        }
    }
}

/// Mark every copy `node` holds as behind (its node went down): none of them is read again
/// until the replayer has checked it caught up. Returns how many index records changed.
pub async fn mark_node_lagging(topology: &TopologyStore, node: &str) -> anyhow::Result<usize> {
    let uids: Vec<String> = topology
        .current()
        .indexes
        .values()
        .filter(|(r, _)| r.shards.iter().any(|p| p.nodes.iter().any(|n| n == node)))
        .map(|(r, _)| r.uid.clone())
        .collect();
    let mut changed = 0;
    for uid in uids {
        let written = topology
            .modify_index(&uid, |record| {
                let mut any = false;
                for p in &mut record.shards {
                    if p.nodes.iter().any(|n| n == node) {
                        any |= p.mark_lagging(node, LagReason::MissedWrites, 0);
                    }
                }
                any
            })
            .await?;
        if written.is_some() {
            changed += 1;
        }
    }
    Ok(changed)
}

struct Repairer {
    ctx: Arc<RepairContext>,
    /// When each copy (index, shard, node) was seen caught up by this replica.
    caught_up: std::sync::Mutex<HashMap<(String, usize, String), tokio::time::Instant>>,
}

/// How long a caught-up copy is written to directly before it is read again: a router whose
/// view of the topology lags may still queue a write for it meanwhile, and that write is replayed
/// (the copy goes back to `missedWrites`) before any reader can see the copy. Well above the
/// time a KV change takes to reach every service.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

impl Repairer {
    /// One look at every queue and every behind copy.
    async fn pass(&self) {
        let topo = self.ctx.topology.current();
        let pending = match self.ctx.queues.all_pending().await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "repair: cannot list the handoff queues");
                return;
            }
        };
        let mut per_node: BTreeMap<String, u64> = BTreeMap::new();
        for (node, _, count) in &pending {
            *per_node.entry(node.clone()).or_default() += count;
        }
        for (node, hints) in &per_node {
            metrics::gauge!("miroir_handoff_queue_hints", "node" => node.clone())
                .set(*hints as f64);
        }
        // Nodes whose queues emptied since the last pass read zero.
        for node in topo.nodes.keys().filter(|n| !per_node.contains_key(*n)) {
            metrics::gauge!("miroir_handoff_queue_hints", "node" => node.clone()).set(0.0);
        }

        let lost: HashSet<(String, String)> = lost_copies(&topo);
        for (node, shard_index, count) in pending {
            let Some(record) = topo.nodes.get(&node) else {
                continue;
            };
            if self.over_bound(&node, &shard_index, count).await {
                continue;
            }
            if lost.contains(&(node.clone(), shard_index.clone())) {
                // Kept for the rebuild, which replays the queue after copying a live copy.
                continue;
            }
            if record.availability() == Availability::Down {
                continue;
            }
            match self.replay(&node, &record.url, &shard_index).await {
                Ok(()) => {}
                Err(ReplayError::Lost) => self.mark_lost(&node, &shard_index).await,
                Err(e) => {
                    tracing::info!(%node, index = %shard_index, error = %e, "repair: replay paused")
                }
            }
        }

        // Behind copies on available nodes: have they caught up?
        let topo = self.ctx.topology.current();
        for (record, _) in topo.indexes.values() {
            for (s, placement) in record.shards.iter().enumerate() {
                for lag in &placement.lagging {
                    let Some(node) = topo.nodes.get(&lag.node) else {
                        continue;
                    };
                    if node.availability() == Availability::Down || lag.reason == LagReason::Lost {
                        continue;
                    }
                    let Some(shard) = ShardId::new(s as u16) else {
                        continue;
                    };
                    let name = miroir_cluster::shard_name(record, shard);
                    self.try_clear(
                        &record.uid,
                        s,
                        &lag.node,
                        &node.url,
                        &name,
                        lag.hint_seq,
                        lag.reason,
                    )
                    .await;
                }
            }
        }
    }

    /// Whether the queue is past its bounds; if so it is reported, dropped and its copy handed
    /// to re-replication.
    async fn over_bound(&self, node: &str, shard_index: &str, count: u64) -> bool {
        let cfg = &self.ctx.config;
        let mut why = None;
        if count > cfg.max_queue_hints {
            why = Some(format!("{count} hints (bound {})", cfg.max_queue_hints));
        } else if let Ok(Some((_, oldest))) = self.ctx.queues.next(node, shard_index, None).await
            && let Some(age) = miroir_proto::age_of(&oldest.deferred_at)
            && age > cfg.max_queue_age
        {
            why = Some(format!(
                "oldest hint {} s old (bound {} s)",
                age.as_secs(),
                cfg.max_queue_age.as_secs()
            ));
        }
        let Some(why) = why else { return false };
        metrics::counter!("miroir_handoff_queue_over_bound_total", "node" => node.to_string())
            .increment(1);
        tracing::error!(%node, index = %shard_index, %why, "repair: handoff queue past its bound; the copy is handed to re-replication");
        self.mark_lost(node, shard_index).await;
        if let Err(e) = self.ctx.queues.drop_queue(node, shard_index).await {
            tracing::warn!(%node, index = %shard_index, error = %e, "repair: cannot drop an over-bound queue");
        }
        true
    }

    /// Send a queue's hints to the node in order, purging each once the node enqueued it.
    async fn replay(&self, node: &str, url: &str, shard_index: &str) -> Result<(), ReplayError> {
        let mut from = None;
        let mut checked_exists = false;
        while let Some((seq, hint)) = self
            .ctx
            .queues
            .next(node, shard_index, from)
            .await
            .map_err(|e| ReplayError::Queue(e.to_string()))?
        {
            let creates_index = hint.method == "POST" && hint.path == "/indexes";
            if !creates_index && !checked_exists {
                // A node back empty would re-create the shard from this write alone and then look
                // caught up with a fraction of its documents: such a copy is lost, not behind.
                if !self.index_exists(url, shard_index).await? {
                    return Err(ReplayError::Lost);
                }
                checked_exists = true;
            }
            let documents = self.apply(url, &hint).await?;
            self.ctx
                .queues
                .ack_through(node, shard_index, seq)
                .await
                .map_err(|e| ReplayError::Queue(e.to_string()))?;
            metrics::counter!("miroir_handoff_replayed_total", "node" => node.to_string())
                .increment(1);
            metrics::counter!("miroir_handoff_replayed_documents_total", "node" => node.to_string()).increment(documents);
            tracing::debug!(%node, index = %shard_index, seq, task = ?hint.task_uid, "repair: hint replayed");
            from = Some(seq + 1);
        }
        Ok(())
    }

    /// Send one hint; how many documents it carried.
    async fn apply(&self, url: &str, hint: &Hint) -> Result<u64, ReplayError> {
        let method = Method::from_bytes(hint.method.as_bytes())
            .map_err(|e| ReplayError::Queue(format!("bad method in a hint: {e}")))?;
        match &hint.body {
            HintBody::Empty => self.send(url, method, &hint.path, None).await.map(|()| 0),
            HintBody::Inline {
                content_type,
                bytes,
            } => {
                let content_type: &'static str = if content_type.contains("ndjson") {
                    "application/x-ndjson"
                } else {
                    "application/json"
                };
                self.send(url, method, &hint.path, Some((content_type, bytes.clone())))
                    .await
                    .map(|()| 0)
            }
            HintBody::WalShard {
                batch_id,
                chunks,
                shard_count,
                primary_key,
            } => {
                let shards = ShardCount::new(*shard_count)
                    .ok_or_else(|| ReplayError::Queue("bad shard count in a hint".into()))?;
                let mut part: Vec<u8> = Vec::new();
                let mut parts: Vec<Bytes> = Vec::new();
                let mut documents = 0u64;
                miroir_cluster::wal::read_batch(&self.ctx.wal, batch_id, *chunks, |chunk| {
                    for line in chunk.ndjson.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                        if miroir_placement::shard_of_json_line(line, primary_key, shards).map(ShardId::get) == Some(hint.shard) {
                            part.extend_from_slice(line);
                            part.push(b'\n');
                            documents += 1;
                            if part.len() >= PART_BYTES {
                                parts.push(Bytes::from(std::mem::take(&mut part)));
                            }
                        }
                    }
                    async { Ok(()) }
                })
                .await
                .map_err(|e: MeiliError| {
                    // The batch left the WAL: this copy cannot be replayed, only rebuilt.
                    tracing::error!(node = %hint.node, batch = %batch_id, error = %e.message, "repair: a hinted batch is gone from the WAL");
                    ReplayError::Lost
                })?;
                if !part.is_empty() {
                    parts.push(Bytes::from(part));
                }
                for body in parts {
                    self.send(
                        url,
                        method.clone(),
                        &hint.path,
                        Some(("application/x-ndjson", body)),
                    )
                    .await?;
                }
                Ok(documents)
            }
        }
    }

    /// One node call. A refusal (4xx) is logged and passed over: the copies that applied the
    /// write live were sent the same call, and the node decides the same way for all of them.
    async fn send(
        &self,
        url: &str,
        method: Method,
        path: &str,
        body: Option<(&'static str, Bytes)>,
    ) -> Result<(), ReplayError> {
        match self.ctx.nodes.send(url, method, path, body).await {
            Ok(_) => Ok(()),
            Err(NodeError::Unreachable { reason, .. }) => Err(ReplayError::Unreachable(reason)),
            Err(NodeError::Meili(e)) if e.status >= 500 => Err(ReplayError::Unreachable(format!(
                "HTTP {} {}",
                e.status, e.code
            ))),
            Err(NodeError::Meili(e)) => {
                tracing::warn!(%path, code = %e.code, message = %e.message, "repair: a node refused a replayed write");
                Ok(())
            }
        }
    }

    /// Whether the node holds the shard index (or has its creation pending).
    async fn index_exists(&self, url: &str, shard_index: &str) -> Result<bool, ReplayError> {
        self.ctx
            .nodes
            .index_present(url, shard_index)
            .await
            .map_err(|e| match e {
                NodeError::Unreachable { reason, .. } => ReplayError::Unreachable(reason),
                NodeError::Meili(e) => {
                    ReplayError::Unreachable(format!("HTTP {} {}", e.status, e.code))
                }
            })
    }

    /// Take a behind copy out of `lagging` if it has caught up (see the module doc), in two
    /// steps: `missedWrites` -> `caughtUp` (written to directly from then on, still not read),
    /// then, once it stayed caught up for [`CLOSE_GRACE`], out of `lagging`.
    #[allow(clippy::too_many_arguments)]
    async fn try_clear(
        &self,
        uid: &str,
        shard: usize,
        node: &str,
        url: &str,
        shard_index: &str,
        hint_seq: u64,
        reason: LagReason,
    ) {
        let key = (uid.to_string(), shard, node.to_string());
        if reason == LagReason::CaughtUp {
            let since = *self
                .caught_up
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .entry(key.clone())
                .or_insert_with(tokio::time::Instant::now);
            if since.elapsed() < CLOSE_GRACE {
                return;
            }
        }
        match self.ctx.queues.next(node, shard_index, None).await {
            Ok(None) => {}
            Ok(Some(_)) => return,
            Err(e) => {
                tracing::warn!(%node, error = %e, "repair: cannot read a handoff queue");
                return;
            }
        }
        match self.index_exists(url, shard_index).await {
            Ok(true) => {}
            Ok(false) => {
                self.mark_lost(node, shard_index).await;
                return;
            }
            Err(_) => return,
        }
        let busy = format!("/tasks?indexUids={shard_index}&statuses=enqueued,processing&limit=1");
        match self.ctx.nodes.json(url, Method::GET, &busy, None).await {
            Ok(v)
                if v.get("results")
                    .and_then(Value::as_array)
                    .is_some_and(Vec::is_empty) => {}
            _ => return,
        }
        let cleared =
            self.ctx
                .topology
                .modify_index(uid, |record| {
                    let Some(p) = record.shards.get_mut(shard) else {
                        return false;
                    };
                    // Only the entry we checked: a hint queued since raised `hintSeq` (and turned a
                    // caught-up copy back into `missedWrites`).
                    match p.lagging.iter().position(|l| {
                        l.node == node && l.hint_seq == hint_seq && l.reason == reason
                    }) {
                        Some(i) if reason == LagReason::CaughtUp => {
                            p.lagging.remove(i);
                            true
                        }
                        Some(i) => {
                            p.lagging[i].reason = LagReason::CaughtUp;
                            true
                        }
                        None => false,
                    }
                })
                .await;
        if reason == LagReason::MissedWrites {
            if let Ok(Some((record, _))) = &cleared
                && record
                    .shards
                    .get(shard)
                    .and_then(|p| p.lag_of(node))
                    .is_some_and(|l| l.reason == LagReason::CaughtUp)
            {
                self.caught_up
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert(key, tokio::time::Instant::now());
                tracing::debug!(%node, index = %uid, shard, "repair: copy caught up; written to directly, read after the grace");
            }
            return;
        }
        self.caught_up
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&key);
        match cleared {
            Ok(Some((record, _)))
                if record
                    .shards
                    .get(shard)
                    .is_some_and(|p| p.lag_of(node).is_none()) =>
            {
                metrics::counter!("miroir_handoff_caught_up_total", "node" => node.to_string())
                    .increment(1);
                tracing::info!(%node, index = %uid, shard, "repair: copy caught up; it serves reads again");
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(%node, index = %uid, error = %e, "repair: cannot mark a copy caught up")
            }
        }
    }

    /// Mark the copy named by (`node`, node-local `shard_index`) lost: out of reads until rebuilt.
    async fn mark_lost(&self, node: &str, shard_index: &str) {
        let topo = self.ctx.topology.current();
        for (record, _) in topo.indexes.values() {
            for s in 0..record.shards.len() {
                let Some(shard) = ShardId::new(s as u16) else {
                    continue;
                };
                if miroir_cluster::shard_name(record, shard) != shard_index
                    || !record.shards[s].nodes.iter().any(|n| n == node)
                {
                    continue;
                }
                let result = self
                    .ctx
                    .topology
                    .modify_index(&record.uid, |r| {
                        r.shards
                            .get_mut(s)
                            .is_some_and(|p| p.mark_lagging(node, LagReason::Lost, 0))
                    })
                    .await;
                match result {
                    Ok(_) => {
                        metrics::counter!("miroir_handoff_lost_copies_total", "node" => node.to_string()).increment(1);
                        tracing::error!(%node, index = %record.uid, shard = s, "repair: copy lost (its node no longer holds it or it cannot be replayed); out of reads until rebuilt");
                    }
                    Err(e) => tracing::warn!(%node, error = %e, "repair: cannot mark a copy lost"),
                }
            }
        }
    }
}

/// Copies marked lost, as (node, node-local shard index).
fn lost_copies(topo: &miroir_cluster::topology::Topology) -> HashSet<(String, String)> {
    let mut out = HashSet::new();
    for (record, _) in topo.indexes.values() {
        for (s, p) in record.shards.iter().enumerate() {
            let Some(shard) = ShardId::new(s as u16) else {
                continue;
            };
            for l in p.lagging.iter().filter(|l| l.reason == LagReason::Lost) {
                out.insert((l.node.clone(), miroir_cluster::shard_name(record, shard)));
            }
        }
    }
    out
}
