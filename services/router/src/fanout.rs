//! Sending one write to many nodes and keeping the cluster task's books.

use bytes::Bytes;
use miroir_cluster::node::NodeError;
use miroir_cluster::trace;
use miroir_placement::{NodeId, NodeInfo, ReplicationFactor, ShardCount, ShardId, Zone};
use miroir_proto::tasks::{ClusterTask, FinishedTask};
use std::collections::HashSet;

use miroir_proto::handoff::{Hint, HintBody};
use miroir_proto::topology::{Availability, IndexRecord, IndexState, LagReason, ShardPlacement};
use miroir_proto::{ErrorCode, MeiliError, rpc::EnqueuedTask};
use reqwest::Method;
use tracing::Instrument;

use crate::Router;

/// Replica number recorded for a migration target (not yet a read copy).
pub const INCOMING_REPLICA: u8 = u8::MAX;

/// One HTTP write to one node for one shard.
pub struct Call {
    pub node: String,
    pub shard: u16,
    pub replica: u8,
    pub method: Method,
    pub path: String,
    pub body: Option<(&'static str, Bytes)>,
    /// For a part of a document batch: the batch in the WAL, so that a hint names it instead of
    /// copying the documents.
    pub wal: Option<WalRef>,
}

/// A document batch in the WAL and how to find one shard's part of it.
#[derive(Clone, Debug)]
pub struct WalRef {
    pub batch_id: String,
    pub chunks: u32,
    pub shard_count: u16,
    pub primary_key: String,
}

/// What became of one call.
pub enum Sent {
    /// The node enqueued it as this task.
    Task(u64),
    /// Not sent, or not taken: queued in the copy's handoff queue instead. `lost`: the copy's
    /// node no longer holds the shard (it must be rebuilt, not just replayed).
    Deferred { lost: bool, reason: String },
    /// The node refused it (the client's error, as every copy would say).
    Refused(NodeError),
}

impl Router {
    /// A fresh task record, enqueued now.
    pub(crate) async fn new_task(
        &self,
        index_uid: Option<&str>,
        task_type: &str,
        details: serde_json::Value,
    ) -> Result<ClusterTask, MeiliError> {
        let uid = self
            .tasks
            .next_uid()
            .await
            .map_err(|e| MeiliError::internal(e.to_string()))?;
        Ok(ClusterTask {
            uid,
            index_uid: index_uid.map(str::to_string),
            task_type: task_type.to_string(),
            enqueued_at: miroir_cluster::now_rfc3339(),
            details,
            node_tasks: Vec::new(),
            finished: None,
            fanout_error: None,
            canceled_by: None,
            deferred: Vec::new(),
            custom_metadata: None,
        })
    }

    /// Store the task and answer the client's 202.
    pub(crate) async fn enqueued(&self, task: &ClusterTask) -> Result<EnqueuedTask, MeiliError> {
        self.tasks
            .put(task)
            .await
            .map_err(|e| MeiliError::internal(e.to_string()))?;
        crate::metrics::task_enqueued(&task.task_type);
        Ok(EnqueuedTask {
            task_uid: task.uid,
            index_uid: task.index_uid.clone(),
            status: "enqueued".into(),
            task_type: task.task_type.clone(),
            enqueued_at: task.enqueued_at.clone(),
            custom_metadata: task.custom_metadata.clone(),
        })
    }

    /// Settle a task as failed without touching any node, the way Meilisearch fails a task.
    pub(crate) async fn fail(
        &self,
        mut task: ClusterTask,
        error: MeiliError,
    ) -> Result<EnqueuedTask, MeiliError> {
        let now = miroir_cluster::now_rfc3339();
        task.finished = Some(FinishedTask {
            status: "failed".into(),
            details: task.details.clone(),
            error: Some(error.body()),
            started_at: now.clone(),
            finished_at: now,
        });
        self.enqueued(&task).await
    }

    /// The nodes that can take new shards.
    pub(crate) fn placeable_nodes(&self) -> Vec<NodeInfo> {
        let topo = self.topology.current();
        topo.nodes
            .values()
            .filter(|n| n.placeable())
            .filter_map(|n| {
                let id = NodeId::new(n.id.clone()).ok()?;
                Some(
                    match n.zone.as_ref().and_then(|z| Zone::new(z.clone()).ok()) {
                        Some(z) => NodeInfo::in_zone(id, z),
                        None => NodeInfo::new(id),
                    },
                )
            })
            .collect()
    }

    /// How many copies of a shard with `copies` copies (its replication factor) must take a write.
    pub(crate) fn write_quorum(&self, copies: usize) -> usize {
        let wanted = match self.config.write_quorum {
            Some(w) => usize::from(w),
            None if copies >= 3 => copies / 2 + 1,
            None => 1,
        };
        wanted.clamp(1, copies.max(1))
    }

    /// Refuse a write that cannot reach its quorum: some shard of `record` has fewer copies that
    /// can take it now (node not down, copy not behind) than the write quorum. Checked before any
    /// node is touched, so such a write fails whole and nothing of it is applied anywhere.
    pub(crate) fn check_quorum(&self, record: &IndexRecord) -> Result<(), MeiliError> {
        let topo = self.topology.current();
        for (s, placement) in record.shards.iter().enumerate() {
            let writable = placement
                .nodes
                .iter()
                .filter(|n| topo.takes_writes(placement, n))
                .count();
            // The replication factor, not the copy count: a copy being built (a migration
            // target, behind until it caught up) does not raise the quorum.
            let quorum = self
                .write_quorum(usize::from(record.replication_factor).min(placement.nodes.len()));
            if writable < quorum {
                return Err(MeiliError::new(
                    ErrorCode::ShardUnavailable,
                    format!(
                        "Shard {s} of index `{}` has {writable} writable cop{} ({} needed): its other copies are down or catching up. Nothing was written; retry once a node is back.",
                        record.uid,
                        if writable == 1 { "y" } else { "ies" },
                        quorum
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Place a new index over the live nodes and record it in KV. `Err(Exists)` maps to
    /// Meilisearch's `index_already_exists`.
    pub(crate) async fn create_index_record(
        &self,
        uid: &str,
        primary_key: Option<String>,
    ) -> Result<IndexRecord, MeiliError> {
        let topo = self.topology.current();
        let defaults = topo.defaults.clone();
        let shards = ShardCount::new(defaults.shard_count)
            .ok_or_else(|| MeiliError::internal("the cluster's default shard count is invalid"))?;
        let rf = ReplicationFactor::new(defaults.replication_factor)
            .ok_or_else(|| MeiliError::internal("the cluster's replication factor is invalid"))?;
        let nodes = self.placeable_nodes();
        if nodes.is_empty() {
            return Err(MeiliError::new(
                ErrorCode::NoNodeAvailable,
                "No Meilisearch node of the cluster is up: the index cannot be placed.",
            ));
        }
        let placement = miroir_placement::place_index(uid, shards, &nodes, rf);
        let now = miroir_cluster::now_rfc3339();
        let record = IndexRecord {
            uid: uid.to_string(),
            primary_key,
            shard_count: shards.get(),
            replication_factor: rf.get(),
            created_at: now.clone(),
            updated_at: now,
            shards: placement
                .iter()
                .map(|(_, nodes)| ShardPlacement {
                    nodes: nodes.iter().map(|n| n.as_str().to_string()).collect(),
                    incoming: Vec::new(),
                    lagging: Vec::new(),
                })
                .collect(),
            state: IndexState::Ready,
            storage_uid: None,
        };
        match self.topology.create_index(&record).await {
            Ok(rev) => {
                self.topology
                    .wait_for_revision(rev, std::time::Duration::from_secs(2))
                    .await;
                Ok(record)
            }
            Err(miroir_cluster::topology::StoreError::Exists(_)) => {
                Err(MeiliError::index_already_exists(uid))
            }
            Err(e) => Err(MeiliError::internal(e.to_string())),
        }
    }

    /// The node calls that create every shard of `record` on its nodes.
    pub(crate) fn shard_creation_calls(&self, record: &IndexRecord) -> Vec<Call> {
        self.for_every_copy(record, |shard_name| {
            let body = serde_json::json!({ "uid": shard_name, "primaryKey": record.primary_key });
            (Method::POST, "/indexes".to_string(), Some(json_body(&body)))
        })
    }

    /// One call per copy (replicas and migration targets) of every shard of `record`.
    pub(crate) fn for_every_copy(
        &self,
        record: &IndexRecord,
        mut make: impl FnMut(&str) -> (Method, String, Option<(&'static str, Bytes)>),
    ) -> Vec<Call> {
        let mut calls = Vec::new();
        for (s, placement) in record.shards.iter().enumerate() {
            let Some(shard) = ShardId::new(s as u16) else {
                continue;
            };
            let name = miroir_cluster::shard_name(record, shard);
            for (node, replica) in copies(placement) {
                let (method, path, body) = make(&name);
                calls.push(Call {
                    node: node.to_string(),
                    shard: s as u16,
                    replica,
                    method,
                    path,
                    body,
                    wal: None,
                });
            }
        }
        calls
    }

    /// Send every call in parallel and book the outcome in the task: node task uids, deferred
    /// copies (queued in their handoff queue, and marked behind in the index record before this
    /// returns), and the first refusal.
    pub(crate) async fn fan_out(
        &self,
        task: &mut ClusterTask,
        calls: Vec<Call>,
    ) -> Result<(), MeiliError> {
        let results = self
            .send_calls(task.index_uid.as_deref(), calls, false)
            .await;
        self.book(task, results, &mut HashSet::new()).await
    }

    /// [`fan_out`](Self::fan_out) for writes that would create a missing shard index on the
    /// node (Meilisearch creates an index on a documents or settings write): a copy that lost its
    /// shard (a node back from a crash with an empty disk) is not given a partial shard, which
    /// reads would then take for a whole one: it is marked lost (to be rebuilt) and the write
    /// is queued for it.
    pub(crate) async fn fan_out_to_existing(
        &self,
        task: &mut ClusterTask,
        calls: Vec<Call>,
    ) -> Result<(), MeiliError> {
        let results = self
            .send_calls(task.index_uid.as_deref(), calls, true)
            .await;
        self.book(task, results, &mut HashSet::new()).await
    }

    /// Send every call in parallel, except to copies that cannot take it now (node down or
    /// unknown, copy behind: those are deferred without a try, so that a copy's queue keeps its
    /// writes in order).
    /// `index_uid`: the index the calls write to, whose record says which copies are behind.
    /// The calls are a `fan_out` span of the request's trace, each a `node_write` span under it,
    /// sent to the node as its `traceparent`.
    pub(crate) async fn send_calls(
        &self,
        index_uid: Option<&str>,
        calls: Vec<Call>,
        existing_only: bool,
    ) -> Vec<(Call, Sent)> {
        let topo = self.topology.current();
        let record = index_uid.and_then(|uid| topo.index(uid));
        let (fan_out, parent) = trace::child_of_current();
        let span = tracing::debug_span!(
            target: trace::TARGET,
            "fan_out",
            index = index_uid.unwrap_or(""),
            calls = calls.len(),
            trace_id = %fan_out.context.trace_id(),
            span_id = %fan_out.context.span_id(),
            parent_span_id = tracing::field::Empty,
        );
        trace::record_parent(&span, parent);
        let futures = calls.into_iter().map(|call| {
            let node = topo.nodes.get(&call.node).cloned();
            let behind = record
                .and_then(|r| r.shards.get(usize::from(call.shard)))
                .is_some_and(|p| !p.writes_directly(&call.node));
            // Each write to a node is a span of its own: the node gets it as its `traceparent`.
            let active = fan_out.child();
            let span = tracing::debug_span!(
                target: trace::TARGET,
                "node_write",
                node = %call.node,
                shard = call.shard,
                replica = call.replica,
                method = %call.method,
                path = %call.path,
                trace_id = %active.context.trace_id(),
                span_id = %active.context.span_id(),
                parent_span_id = %fan_out.context.span_id(),
            );
            let write = async move {
                let Some(node) = node else {
                    return (
                        call,
                        Sent::Deferred {
                            lost: false,
                            reason: "node is not in the topology".into(),
                        },
                    );
                };
                if node.availability() == Availability::Down {
                    return (
                        call,
                        Sent::Deferred {
                            lost: false,
                            reason: "node is down".into(),
                        },
                    );
                }
                if behind {
                    return (
                        call,
                        Sent::Deferred {
                            lost: false,
                            reason: "copy is catching up".into(),
                        },
                    );
                }
                if existing_only
                    && let Some(name) = shard_index_of(&call.path)
                    && !self.copy_exists(&node.url, name).await
                {
                    crate::metrics::missing_copy();
                    return (
                        call,
                        Sent::Deferred {
                            lost: true,
                            reason: "the node no longer holds the shard".into(),
                        },
                    );
                }
                match self
                    .nodes
                    .send(
                        &node.url,
                        call.method.clone(),
                        &call.path,
                        call.body.clone(),
                    )
                    .await
                    .and_then(|(_, body)| task_uid_of(&body))
                {
                    Ok(uid) => (call, Sent::Task(uid)),
                    Err(NodeError::Unreachable { reason, .. }) => (
                        call,
                        Sent::Deferred {
                            lost: false,
                            reason,
                        },
                    ),
                    Err(NodeError::Meili(e)) if e.status >= 500 => (
                        call,
                        Sent::Deferred {
                            lost: false,
                            reason: format!("HTTP {} {}", e.status, e.code),
                        },
                    ),
                    Err(e) => (call, Sent::Refused(e)),
                }
            };
            trace::scope(active, write.instrument(span))
        });
        let all = futures::future::join_all(futures);
        trace::scope(fan_out, all.instrument(span)).await
    }

    /// Book the outcome of [`send_calls`](Self::send_calls) in the task. Deferred calls are
    /// queued (durably: JetStream acknowledges each hint) and their copies marked behind in the
    /// index record, both before this returns, so that the write is acknowledged to the client
    /// only once no stale copy can be read without it. `hinted`: copies already given a hint for
    /// this task's WAL batch (a batch's later parts need no hint of their own).
    pub(crate) async fn book(
        &self,
        task: &mut ClusterTask,
        results: Vec<(Call, Sent)>,
        hinted: &mut HashSet<(String, u16)>,
    ) -> Result<(), MeiliError> {
        let mut marks: Vec<(u16, String, bool, u64)> = Vec::new();
        for (call, sent) in results {
            match sent {
                Sent::Task(uid) => task.node_tasks.push(miroir_proto::tasks::NodeTaskRef {
                    node: call.node,
                    shard: call.shard,
                    replica: call.replica,
                    task_uid: uid,
                }),
                Sent::Refused(e) => {
                    crate::metrics::fanout_error();
                    tracing::warn!(node = %call.node, shard = call.shard, error = %e, "write refused by a copy");
                    if task.fanout_error.is_none() {
                        task.fanout_error = Some(e.into_meili().body());
                    }
                }
                Sent::Deferred { lost, reason } => {
                    let key = (call.node.clone(), call.shard);
                    if call.wal.is_some() && hinted.contains(&key) {
                        continue;
                    }
                    let seq = self.queue_hint(task, &call).await?;
                    hinted.insert(key);
                    crate::metrics::deferred_write(&call.node);
                    tracing::info!(node = %call.node, shard = call.shard, task = task.uid, %reason, "write deferred to the copy's handoff queue");
                    if !task
                        .deferred
                        .iter()
                        .any(|d| d.node == call.node && d.shard == call.shard)
                    {
                        task.deferred.push(miroir_proto::tasks::DeferredCopy {
                            node: call.node.clone(),
                            shard: call.shard,
                            since: None,
                        });
                    }
                    if call.replica != INCOMING_REPLICA {
                        marks.push((call.shard, call.node, lost, seq));
                    }
                }
            }
        }
        if !marks.is_empty()
            && let Some(uid) = task.index_uid.clone()
            && let Some(record) = self.mark_behind(&uid, &marks).await?
        {
            // When each copy left the read set: the task is acknowledged only once that is the
            // settle period old (`tasks::derive`).
            for d in &mut task.deferred {
                let lag = record
                    .shards
                    .get(usize::from(d.shard))
                    .and_then(|p| p.lag_of(&d.node));
                if let Some(since) = lag.and_then(|l| l.since.clone()) {
                    d.since = Some(since);
                }
            }
        }
        Ok(())
    }

    /// Queue one deferred call in its copy's handoff queue; its stream sequence.
    async fn queue_hint(&self, task: &ClusterTask, call: &Call) -> Result<u64, MeiliError> {
        let body = match (&call.wal, &call.body) {
            (Some(w), _) => HintBody::WalShard {
                batch_id: w.batch_id.clone(),
                chunks: w.chunks,
                shard_count: w.shard_count,
                primary_key: w.primary_key.clone(),
            },
            (None, Some((content_type, bytes))) => HintBody::Inline {
                content_type: (*content_type).to_string(),
                bytes: bytes.clone(),
            },
            (None, None) => HintBody::Empty,
        };
        let hint = Hint {
            task_uid: Some(task.uid),
            index_uid: task.index_uid.clone().unwrap_or_default(),
            node: call.node.clone(),
            shard: call.shard,
            replica: call.replica,
            method: call.method.as_str().to_string(),
            path: call.path.clone(),
            body,
            deferred_at: miroir_cluster::now_rfc3339(),
        };
        let shard_index = shard_index_of(&call.path).unwrap_or_default();
        self.handoff.append(&hint, shard_index).await.map_err(|e| {
            tracing::error!(node = %call.node, error = %e, "cannot queue a write for a copy that missed it");
            MeiliError::new(ErrorCode::HandoffUnavailable, format!("A copy missed this write and it could not be queued for it: {e}. Retry the write."))
        })
    }

    /// Mark copies behind in the index record (compare-and-set), raising their queue watermark,
    /// and wait until this router's mirror shows it. The record as marked (as this router sees
    /// it when nothing needed writing; none if the index is gone).
    async fn mark_behind(
        &self,
        uid: &str,
        marks: &[(u16, String, bool, u64)],
    ) -> Result<Option<IndexRecord>, MeiliError> {
        let mut change = |record: &mut IndexRecord| {
            let mut changed = false;
            for (shard, node, lost, seq) in marks {
                if let Some(p) = record.shards.get_mut(usize::from(*shard))
                    && p.nodes.iter().any(|n| n == node)
                {
                    let reason = if *lost {
                        LagReason::Lost
                    } else {
                        LagReason::MissedWrites
                    };
                    changed |= p.mark_lagging(node, reason, *seq);
                }
            }
            changed
        };
        let failed =
            |e| MeiliError::internal(format!("cannot mark copies that missed a write: {e}"));
        let mut written = self
            .topology
            .modify_index(uid, &mut change)
            .await
            .map_err(failed)?;
        if written.is_none() {
            // Renamed while the write was in flight: its shards, and so the copies to mark,
            // kept their names, and the record that holds them now has them as storage base.
            let moved = self
                .topology
                .current()
                .indexes
                .values()
                .find(|(r, _)| r.storage_base() == uid)
                .map(|(r, _)| r.uid.clone());
            if let Some(now) = moved {
                written = self
                    .topology
                    .modify_index(&now, &mut change)
                    .await
                    .map_err(failed)?;
            }
        }
        match written {
            Some((record, rev)) => {
                self.topology
                    .wait_for_revision(rev, std::time::Duration::from_secs(2))
                    .await;
                Ok(Some(record))
            }
            None => Ok(self.topology.current().index(uid).cloned()),
        }
    }
}

impl Router {
    /// Whether the node still holds the shard index `name`, or has its creation queued.
    /// Unreachable nodes count as holding it: the write itself will report them.
    pub(crate) async fn copy_exists(&self, url: &str, name: &str) -> bool {
        self.nodes.index_present(url, name).await.unwrap_or(true)
    }
}

/// The node-local index a call's path names (`/indexes/<name>/...`).
pub(crate) fn shard_index_of(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/indexes/")?;
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    Some(&rest[..end]).filter(|n| !n.is_empty())
}

/// Every copy of a shard: its replicas (numbered) and its migration targets.
pub(crate) fn copies(placement: &ShardPlacement) -> impl Iterator<Item = (&str, u8)> {
    placement
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i.min(usize::from(INCOMING_REPLICA - 1)) as u8))
        .chain(
            placement
                .incoming
                .iter()
                .map(|n| (n.as_str(), INCOMING_REPLICA)),
        )
}

pub(crate) fn json_body(v: &serde_json::Value) -> (&'static str, Bytes) {
    (
        "application/json",
        Bytes::from(serde_json::to_vec(v).unwrap_or_default()),
    )
}

pub(crate) fn task_uid_of(body: &[u8]) -> Result<u64, NodeError> {
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| NodeError::Unreachable {
            url: String::new(),
            reason: format!("enqueue answer is not JSON: {e}"),
        })?;
    v.get("taskUid")
        .and_then(|u| u.as_u64())
        .ok_or_else(|| NodeError::Unreachable {
            url: String::new(),
            reason: "enqueue answer has no taskUid".into(),
        })
}
