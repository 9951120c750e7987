//! What every read handler shares: the topology mirror, the shard reader, the settings cache
//! (refreshed in the background: [`context`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use miroir_cluster::node::NodeClient;
use miroir_cluster::topology::{Topology, TopologyStore};
use miroir_merge::IndexMergeContext;
use miroir_placement::{ShardCount, ShardId};
use miroir_proto::MeiliError;
use miroir_proto::topology::{IndexRecord, IndexState};
use reqwest::Method;
use tokio::time::Instant;

use crate::config::Config;
use crate::context::{self, ContextCache, Lookup};
use crate::fetch::{Reader, ShardCall};
use crate::replicas::{self, Replica};

/// A request's time budget: the instant the merger must have answered by, and the caller's
/// figure for error messages.
#[derive(Clone, Copy, Debug)]
pub struct Deadline {
    pub at: Instant,
    pub millis: u64,
}

pub struct Merger {
    pub config: Config,
    topology: TopologyStore,
    nodes: NodeClient,
    reader: Reader,
    contexts: Arc<ContextCache>,
    turn: AtomicUsize,
}

impl Merger {
    pub fn new(
        config: Config,
        topology: TopologyStore,
    ) -> Result<Self, miroir_cluster::node::NodeError> {
        let nodes = NodeClient::new(config.node_api_key.clone(), config.node_timeout())?;
        let reader = Reader::new(nodes.clone(), config.hedging());
        let contexts = Arc::new(ContextCache::new(config.settings_ttl()));
        Ok(Merger {
            config,
            topology,
            nodes,
            reader,
            contexts,
            turn: AtomicUsize::new(0),
        })
    }

    /// The caller waits `deadline_ms` for the reply, so the merger answers a little before
    /// that: an explicit "shard unavailable" beats the caller's own timeout, which cannot say
    /// which shard was missing.
    pub fn deadline(&self, deadline_ms: u64) -> Deadline {
        // A day bounds any deadline, so that instant arithmetic cannot overflow.
        const LONGEST_MS: u64 = 24 * 3600 * 1000;
        let millis = if deadline_ms == 0 {
            self.config.default_deadline_ms
        } else {
            deadline_ms
        }
        .min(LONGEST_MS);
        let margin = (millis / 20).clamp(5, 100).min(millis / 2);
        Deadline {
            at: Instant::now() + Duration::from_millis(millis - margin),
            millis,
        }
    }

    /// The HTTP client to nodes, for requests about a node rather than a shard.
    pub fn nodes(&self) -> &NodeClient {
        &self.nodes
    }

    pub fn topology(&self) -> Arc<Topology> {
        self.topology.current()
    }

    /// The index record, or Meilisearch's `index_not_found` with the client's uid. An index
    /// being deleted is already gone for readers: its deletion was acknowledged.
    pub fn index(&self, topology: &Topology, uid: &str) -> Result<IndexRecord, MeiliError> {
        match topology.index(uid) {
            Some(record) if record.state != IndexState::Deleting => Ok(record.clone()),
            _ => Err(MeiliError::index_not_found(uid)),
        }
    }

    /// A new turn: the random source of the read order, so that successive requests spread over
    /// the healthy copies (by their latency).
    pub fn next_turn(&self) -> usize {
        self.turn.fetch_add(1, Ordering::Relaxed)
    }

    /// The copies of one shard in read order: by health, then by the latency this merger has
    /// measured.
    /// The copies of `shard` in the order to try them, ranked on `latency`: take it once per
    /// request with [`latency`](Self::latency), not once per shard.
    pub fn replicas(
        &self,
        topology: &Topology,
        record: &IndexRecord,
        shard: ShardId,
        latency: &crate::latency::Snapshot,
        turn: usize,
    ) -> Vec<Replica> {
        replicas::read_order(topology, record, shard, latency, turn)
    }

    /// The merger's latency figures now, for [`replicas`](Self::replicas).
    pub fn latency(&self) -> crate::latency::Snapshot {
        self.reader.latency()
    }

    /// Ask one copy of `shard` (retrying and hedging over the others). Errors are the client's:
    /// node errors with shard names rewritten, or an explicit unavailable/timeout naming the shard.
    pub async fn read_shard(
        &self,
        replicas: &[Replica],
        record: &IndexRecord,
        shard: ShardId,
        call: &ShardCall<'_>,
        deadline: Deadline,
    ) -> Result<Bytes, MeiliError> {
        self.reader
            .read(replicas, shard, call, deadline.at)
            .await
            .map_err(|failure| {
                failure.into_error(
                    &record.uid,
                    record.storage_base(),
                    shard,
                    deadline.millis,
                    call.op,
                )
            })
    }

    /// The shards of an index, refusing a record whose shard count is not a valid one.
    pub fn shards(&self, record: &IndexRecord) -> Result<Vec<ShardId>, MeiliError> {
        let count = ShardCount::try_from(record.shard_count).map_err(|e| {
            MeiliError::internal(format!(
                "the topology record of index `{}` is invalid: {e}",
                record.uid
            ))
        })?;
        Ok(count.shards().collect())
    }

    /// Every copy of every shard, shard 0's first, for reads any shard can answer (settings);
    /// with the first shard, which errors name.
    pub fn any_shard_replicas(
        &self,
        topology: &Topology,
        record: &IndexRecord,
    ) -> Result<(ShardId, Vec<Replica>), MeiliError> {
        let turn = self.next_turn();
        let shards = self.shards(record)?;
        let first = shards.first().copied().ok_or_else(|| {
            MeiliError::internal(format!(
                "the topology record of index `{}` has no shard",
                record.uid
            ))
        })?;
        let latency = self.latency();
        Ok((
            first,
            shards
                .into_iter()
                .flat_map(|s| self.replicas(topology, record, s, &latency, turn))
                .collect(),
        ))
    }

    /// The merge context of an index. Only the first search of an index waits for its settings
    /// (concurrent first searches share one read); afterwards the cached context is used, and
    /// once it is older than the TTL one background re-read refreshes it (see [`context`]).
    pub async fn merge_context(
        &self,
        topology: &Topology,
        record: &IndexRecord,
        deadline: Deadline,
    ) -> Result<IndexMergeContext, MeiliError> {
        if let Some(ctx) = self.cached_context(topology, record) {
            return Ok(ctx);
        }
        let gate = self.contexts.first_read_gate(&record.uid);
        let _first = gate.lock().await;
        if let Some(ctx) = self.cached_context(topology, record) {
            return Ok(ctx);
        }
        let (first, replicas) = self.any_shard_replicas(topology, record)?;
        let ctx = read_context(&self.reader, &replicas, record, first, deadline).await?;
        self.contexts.put(record, ctx.clone());
        self.contexts.first_read_done(&record.uid);
        Ok(ctx)
    }

    /// The cached context, starting its background refresh when it is due; `None` when the
    /// index was never read.
    fn cached_context(
        &self,
        topology: &Topology,
        record: &IndexRecord,
    ) -> Option<IndexMergeContext> {
        match self.contexts.lookup(record) {
            Lookup::Fresh(ctx) => Some(ctx),
            Lookup::Stale { context, refresh } => {
                if refresh {
                    self.refresh_context(topology, record);
                }
                Some(context)
            }
            Lookup::Missing => None,
        }
    }

    /// Re-read an index's settings in the background and cache them; on failure the old
    /// context stays and a later search tries again.
    fn refresh_context(&self, topology: &Topology, record: &IndexRecord) {
        let replicas = match self.any_shard_replicas(topology, record) {
            Ok(r) => r,
            Err(_) => {
                self.contexts.refresh_failed(record);
                return;
            }
        };
        let reader = self.reader.clone();
        let contexts = self.contexts.clone();
        let record = record.clone();
        let deadline = self.deadline(0);
        tokio::spawn(async move {
            let (first, replicas) = replicas;
            match read_context(&reader, &replicas, &record, first, deadline).await {
                Ok(ctx) => contexts.put(&record, ctx),
                Err(e) => {
                    tracing::warn!(index = %record.uid, error = %e, "settings refresh failed; keeping the previous ones");
                    contexts.refresh_failed(&record);
                }
            }
        });
    }
}

/// Read an index's merge context from one copy of any shard.
async fn read_context(
    reader: &Reader,
    replicas: &[Replica],
    record: &IndexRecord,
    first: ShardId,
    deadline: Deadline,
) -> Result<IndexMergeContext, MeiliError> {
    let call = ShardCall {
        op: "settings",
        method: Method::GET,
        suffix: "/settings",
        body: None,
    };
    let body = reader
        .read(replicas, first, &call, deadline.at)
        .await
        .map_err(|failure| {
            failure.into_error(
                &record.uid,
                record.storage_base(),
                first,
                deadline.millis,
                call.op,
            )
        })?;
    let settings: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| MeiliError::internal(format!("a node's settings are not JSON: {e}")))?;
    Ok(context::from_settings(
        record.primary_key.clone(),
        &settings,
    ))
}
