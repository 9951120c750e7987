//! The JSON values of the topology KV bucket ([`crate::subjects::TOPOLOGY_BUCKET`]).
//!
//! An operator reads and edits these with `nats kv get/put miroir-topology nodes.n1`, so they are
//! plain camelCase JSON, unknown fields are kept out (a typo in a hand edit is refused loudly by the
//! services that read it) and every field has a documented meaning in `docs/topology.md`.

use serde::{Deserialize, Serialize};

/// Liveness of a node as the health-checker (or an operator) sets it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum NodeState {
    /// Serving reads and writes.
    #[default]
    Up,
    /// Missed health checks: reads avoid it when another copy exists; writes still go to it.
    Suspect,
    /// Not answering: reads and writes skip it; the rebalancer re-replicates after a delay.
    Down,
    /// Being emptied by the rebalancer: still serves, gets no new shards.
    Draining,
}

/// `nodes.<id>`: one Meilisearch node of the fleet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeRecord {
    pub id: String,
    /// Base URL of the node's HTTP API, e.g. `http://10.0.0.7:7700`.
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    #[serde(default)]
    pub state: NodeState,
}

/// Where one shard lives.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ShardPlacement {
    /// Node ids holding a copy, best first (reads prefer the first live one).
    pub nodes: Vec<String>,
    /// Nodes receiving a copy during a migration: written to, not yet read from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub incoming: Vec<String>,
}

/// Lifecycle of an index in the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum IndexState {
    #[default]
    Ready,
    Deleting,
}

/// `indexes.<uid>`: a sharded index.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IndexRecord {
    pub uid: String,
    pub primary_key: Option<String>,
    pub shard_count: u16,
    pub replication_factor: u8,
    /// RFC 3339 timestamps, as Meilisearch shows them.
    pub created_at: String,
    pub updated_at: String,
    /// One entry per shard, `shards[s]` is shard `s`.
    pub shards: Vec<ShardPlacement>,
    #[serde(default)]
    pub state: IndexState,
    /// Base of the node-local names of this index's shards (`{storageUid}__s{n}`), when it is
    /// not `uid`: after an index swap or rename the records trade places while the shards keep
    /// their names on the nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_uid: Option<String>,
}

impl IndexRecord {
    /// The base name of the node-local shard indexes: `storage_uid`, else `uid`. Every node-local
    /// shard name is built from this, never from `uid`.
    pub fn storage_base(&self) -> &str {
        self.storage_uid.as_deref().unwrap_or(&self.uid)
    }
}

/// `cluster`: defaults for new indexes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterDefaults {
    pub shard_count: u16,
    pub replication_factor: u8,
}

impl Default for ClusterDefaults {
    fn default() -> Self {
        ClusterDefaults { shard_count: 4, replication_factor: 2 }
    }
}
