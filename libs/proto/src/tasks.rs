//! The JSON values of the cluster tasks KV bucket ([`crate::subjects::TASKS_BUCKET`]).
//!
//! A cluster task is what a client sees as one Meilisearch task; it fans out to node tasks, one per
//! shard replica, and its status is derived from theirs. Once every node task is final the derived
//! view is stored in `finished`, so that later reads touch no node.

use serde::{Deserialize, Serialize};

use crate::error::MeiliErrorBody;

/// One node task the cluster task fanned out to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeTaskRef {
    pub node: String,
    pub shard: u16,
    /// Position of the node in the shard's replica list when written (0 = first copy).
    pub replica: u8,
    pub task_uid: u64,
}

/// A copy that did not take the write when it fanned out (its node was down, unreachable or
/// behind): the write waits in the copy's handoff queue and is applied when the copy catches up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeferredCopy {
    pub node: String,
    pub shard: u16,
    /// When the copy went out of the read set (its `lagging` entry's `since`): the task is not
    /// reported succeeded before this is the router's `lag_settle_ms` old, so that no reader
    /// still takes the copy for a full one when the client sees the write acknowledged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
}

/// The derived, final view of a cluster task.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FinishedTask {
    pub status: String,
    pub details: serde_json::Value,
    pub error: Option<MeiliErrorBody>,
    pub started_at: String,
    pub finished_at: String,
}

/// `task.<uid>`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterTask {
    pub uid: u64,
    pub index_uid: Option<String>,
    #[serde(rename = "type")]
    pub task_type: String,
    pub enqueued_at: String,
    /// Details known before fan-out (e.g. `receivedDocuments`, `primaryKey`).
    pub details: serde_json::Value,
    #[serde(default)]
    pub node_tasks: Vec<NodeTaskRef>,
    /// Set when the task was settled without any node (e.g. no primary key could be inferred),
    /// or once every node task is final (a cache of the derived view).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished: Option<FinishedTask>,
    /// A replica that could not be reached when the task fanned out: the task fails with this
    /// error once the other node tasks are final.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fanout_error: Option<MeiliErrorBody>,
    /// The `taskCancelation` task that asked for this one to stop; shown as `canceledBy` once
    /// the task is `canceled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canceled_by: Option<u64>,
    /// Copies that were sent the write through their handoff queue instead of directly.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deferred: Vec<DeferredCopy>,
    /// The client's `?customMetadata=`, shown with the task as a node shows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_metadata: Option<String>,
}
