//! Sending one write to many nodes and keeping the cluster task's books.

use bytes::Bytes;
use miroir_cluster::node::NodeError;
use miroir_placement::{NodeId, NodeInfo, ReplicationFactor, ShardCount, ShardId, Zone};
use miroir_proto::tasks::{ClusterTask, FinishedTask};
use miroir_proto::topology::{IndexRecord, IndexState, NodeState, ShardPlacement};
use miroir_proto::{rpc::EnqueuedTask, MeiliError};
use reqwest::Method;

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
}

impl Router {
    /// A fresh task record, enqueued now.
    pub(crate) async fn new_task(&self, index_uid: Option<&str>, task_type: &str, details: serde_json::Value) -> Result<ClusterTask, MeiliError> {
        let uid = self.tasks.next_uid().await.map_err(|e| MeiliError::internal(e.to_string()))?;
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
        })
    }

    /// Store the task and answer the client's 202.
    pub(crate) async fn enqueued(&self, task: &ClusterTask) -> Result<EnqueuedTask, MeiliError> {
        self.tasks.put(task).await.map_err(|e| MeiliError::internal(e.to_string()))?;
        metrics::counter!("miroir_router_tasks_total", "type" => task.task_type.clone()).increment(1);
        Ok(EnqueuedTask {
            task_uid: task.uid,
            index_uid: task.index_uid.clone(),
            status: "enqueued".into(),
            task_type: task.task_type.clone(),
            enqueued_at: task.enqueued_at.clone(),
        })
    }

    /// Settle a task as failed without touching any node, the way Meilisearch fails a task.
    pub(crate) async fn fail(&self, mut task: ClusterTask, error: MeiliError) -> Result<EnqueuedTask, MeiliError> {
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
            .filter(|n| matches!(n.state, NodeState::Up | NodeState::Suspect))
            .filter_map(|n| {
                let id = NodeId::new(n.id.clone()).ok()?;
                Some(match n.zone.as_ref().and_then(|z| Zone::new(z.clone()).ok()) {
                    Some(z) => NodeInfo::in_zone(id, z),
                    None => NodeInfo::new(id),
                })
            })
            .collect()
    }

    /// Place a new index over the live nodes and record it in KV. `Err(Exists)` maps to
    /// Meilisearch's `index_already_exists`.
    pub(crate) async fn create_index_record(&self, uid: &str, primary_key: Option<String>) -> Result<IndexRecord, MeiliError> {
        let topo = self.topology.current();
        let defaults = topo.defaults.clone();
        let shards = ShardCount::new(defaults.shard_count).ok_or_else(|| MeiliError::internal("the cluster's default shard count is invalid"))?;
        let rf = ReplicationFactor::new(defaults.replication_factor).ok_or_else(|| MeiliError::internal("the cluster's replication factor is invalid"))?;
        let nodes = self.placeable_nodes();
        if nodes.is_empty() {
            return Err(MeiliError::new(503, "no_node_available", miroir_proto::ErrorType::System, "No Meilisearch node of the cluster is up: the index cannot be placed."));
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
                .map(|(_, nodes)| ShardPlacement { nodes: nodes.iter().map(|n| n.as_str().to_string()).collect(), incoming: Vec::new(), lagging: Vec::new() })
                .collect(),
            state: IndexState::Ready,
            storage_uid: None,
        };
        match self.topology.create_index(&record).await {
            Ok(rev) => {
                self.topology.wait_for_revision(rev, std::time::Duration::from_secs(2)).await;
                Ok(record)
            }
            Err(miroir_cluster::topology::StoreError::Exists(_)) => Err(MeiliError::index_already_exists(uid)),
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
            let Some(shard) = ShardId::new(s as u16) else { continue };
            let name = miroir_cluster::shard_name(record, shard);
            for (node, replica) in copies(placement) {
                let (method, path, body) = make(&name);
                calls.push(Call { node: node.to_string(), shard: s as u16, replica, method, path, body });
            }
        }
        calls
    }

    /// Send every call in parallel; collect the node task uids and the first transport failure.
    pub(crate) async fn fan_out(&self, task: &mut ClusterTask, calls: Vec<Call>) {
        self.fan_out_inner(task, calls, false).await
    }

    /// [`fan_out`](Self::fan_out) for writes that would create a missing shard index on the
    /// node (Meilisearch creates an index on a documents or settings write): a copy that lost its
    /// shard (a node back from a crash with an empty disk) is skipped instead of being given a
    /// partial shard, which reads would then take for a whole one. The task reports the skip.
    pub(crate) async fn fan_out_to_existing(&self, task: &mut ClusterTask, calls: Vec<Call>) {
        self.fan_out_inner(task, calls, true).await
    }

    async fn fan_out_inner(&self, task: &mut ClusterTask, calls: Vec<Call>, existing_only: bool) {
        let results = self.send_calls(calls, existing_only).await;
        Self::record(task, results);
    }

    /// Send every call in parallel; the node task uid each copy answered, or why it did not.
    pub(crate) async fn send_calls(&self, calls: Vec<Call>, existing_only: bool) -> Vec<(Call, Result<u64, NodeError>)> {
        let topo = self.topology.current();
        let futures = calls.into_iter().map(|call| {
            let url = topo.node_url(&call.node).map(str::to_string);
            let state = topo.nodes.get(&call.node).map(|n| n.state);
            async move {
                let Some(url) = url else {
                    return (call, Err(NodeError::Unreachable { url: String::new(), reason: "node is not in the topology".into() }));
                };
                if state == Some(NodeState::Down) {
                    return (call, Err(NodeError::Unreachable { url, reason: "node is marked down".into() }));
                }
                if existing_only {
                    if let Some(name) = shard_index_of(&call.path) {
                        if !self.copy_exists(&url, name).await {
                            metrics::counter!("miroir_router_missing_copies_total").increment(1);
                            let err = MeiliError::new(
                                503,
                                "shard_copy_missing",
                                miroir_proto::ErrorType::System,
                                format!("Node `{}` no longer holds shard {} (it lost its data): the write skipped that copy, which needs a repair.", call.node, call.shard),
                            );
                            return (call, Err(NodeError::Meili(err)));
                        }
                    }
                }
                let r = self.nodes.send(&url, call.method.clone(), &call.path, call.body.clone()).await;
                (call, r)
            }
        });
        futures::future::join_all(futures)
            .await
            .into_iter()
            .map(|(call, result)| {
                let uid = result.and_then(|(_, body)| task_uid_of(&body));
                (call, uid)
            })
            .collect()
    }

    /// Book the answers of [`send_calls`](Self::send_calls) in the task.
    pub(crate) fn record(task: &mut ClusterTask, results: Vec<(Call, Result<u64, NodeError>)>) {
        for (call, result) in results {
            match result {
                Ok(uid) => task.node_tasks.push(miroir_proto::tasks::NodeTaskRef {
                    node: call.node,
                    shard: call.shard,
                    replica: call.replica,
                    task_uid: uid,
                }),
                Err(e) => {
                    metrics::counter!("miroir_router_fanout_errors_total").increment(1);
                    tracing::warn!(node = %call.node, shard = call.shard, error = %e, "write not accepted by a replica");
                    if task.fanout_error.is_none() {
                        let err = e.into_meili();
                        task.fanout_error = Some(err.body());
                    }
                }
            }
        }
    }
}

impl Router {
    /// Whether the node still holds the shard index `name`, or has its creation queued.
    /// Unreachable nodes count as holding it: the write itself will report them.
    pub(crate) async fn copy_exists(&self, url: &str, name: &str) -> bool {
        match self.nodes.send(url, reqwest::Method::GET, &format!("/indexes/{name}"), None).await {
            Ok(_) | Err(NodeError::Unreachable { .. }) => true,
            Err(NodeError::Meili(e)) if e.code == "index_not_found" => {
                let path = format!("/tasks?indexUids={name}&types=indexCreation&statuses=enqueued,processing&limit=1");
                let pending = match self.nodes.json(url, reqwest::Method::GET, &path, None).await {
                    Ok(v) => v["results"].as_array().is_some_and(|r| !r.is_empty()),
                    Err(_) => true,
                };
                // The creation may have finished between the two looks: look at the index again.
                pending || !matches!(
                    self.nodes.send(url, reqwest::Method::GET, &format!("/indexes/{name}"), None).await,
                    Err(NodeError::Meili(ref e)) if e.code == "index_not_found"
                )
            }
            Err(_) => true,
        }
    }
}

/// The node-local index a call's path names (`/indexes/<name>/...`).
fn shard_index_of(path: &str) -> Option<&str> {
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
        .chain(placement.incoming.iter().map(|n| (n.as_str(), INCOMING_REPLICA)))
}

pub(crate) fn json_body(v: &serde_json::Value) -> (&'static str, Bytes) {
    ("application/json", Bytes::from(serde_json::to_vec(v).unwrap_or_default()))
}

fn task_uid_of(body: &[u8]) -> Result<u64, NodeError> {
    let v: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| NodeError::Unreachable { url: String::new(), reason: format!("enqueue answer is not JSON: {e}") })?;
    v.get("taskUid")
        .and_then(|u| u.as_u64())
        .ok_or_else(|| NodeError::Unreachable { url: String::new(), reason: "enqueue answer has no taskUid".into() })
}

