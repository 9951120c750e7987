//! The topology, kept in the JetStream KV bucket `miroir-topology` and mirrored in memory.
//!
//! Every service opens a [`TopologyStore`]: it loads the bucket, then follows its changes, so an
//! operator's `nats kv put miroir-topology nodes.n4 '{...}'` reaches every service without a
//! restart. Writers that can race (two routers creating an index, a rebalancer cutting over a
//! shard) use the entry's revision: `create` fails if the key exists, `update` if it moved on.
//! A value that does not parse (a bad hand edit) is logged and ignored, never applied half-way.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::kv::{self, Operation};
use miroir_proto::subjects::{
    CLUSTER_KEY, INDEX_KEY_PREFIX, NODE_KEY_PREFIX, TOPOLOGY_BUCKET, index_key, node_key,
};
use miroir_proto::topology::{
    Availability, ClusterDefaults, IndexRecord, NodeRecord, ShardPlacement,
};
use tokio::sync::watch;

use crate::kv_json;
use crate::kv_mirror::{self, MirrorState};

/// An in-memory snapshot of the topology bucket.
#[derive(Clone, Debug, Default)]
pub struct Topology {
    pub nodes: BTreeMap<String, NodeRecord>,
    /// Index records with the KV revision they were read at.
    pub indexes: BTreeMap<String, (IndexRecord, u64)>,
    pub defaults: ClusterDefaults,
    /// Highest KV revision applied.
    pub revision: u64,
}

impl Topology {
    pub fn index(&self, uid: &str) -> Option<&IndexRecord> {
        self.indexes.get(uid).map(|(r, _)| r)
    }

    pub fn node_url(&self, id: &str) -> Option<&str> {
        self.nodes.get(id).map(|n| n.url.as_str())
    }

    /// Whether `node`'s copy of a shard can take a write now, directly: its node is not down and
    /// the copy is not behind (or has caught up). A write to any other copy goes to its queue.
    pub fn takes_writes(&self, placement: &ShardPlacement, node: &str) -> bool {
        placement.writes_directly(node)
            && self
                .nodes
                .get(node)
                .is_some_and(|r| r.availability() != Availability::Down)
    }

    /// The nodes holding a *live full copy* of a shard: listed in its `nodes` (not `incoming`),
    /// not behind (any `lagging` reason), on a node whose availability is not down. What a read
    /// can be served from, what a copy can be built from, and what must remain when a copy is
    /// dropped.
    pub fn live_full_copies<'a>(&self, placement: &'a ShardPlacement) -> Vec<&'a str> {
        placement
            .nodes
            .iter()
            .filter(|n| placement.lag_of(n).is_none())
            .filter(|n| {
                self.nodes
                    .get(n.as_str())
                    .is_some_and(|r| r.availability() != Availability::Down)
            })
            .map(String::as_str)
            .collect()
    }
}

impl MirrorState for Topology {
    fn revision(&self) -> u64 {
        self.revision
    }

    fn set_revision(&mut self, revision: u64) {
        self.revision = revision;
    }

    fn apply(&mut self, key: &str, op: Operation, value: &[u8], revision: u64) {
        self.revision = self.revision.max(revision);
        let deleted = !matches!(op, Operation::Put);
        if key == CLUSTER_KEY {
            self.defaults = if deleted {
                ClusterDefaults::default()
            } else {
                parse_or_keep(key, value, self.defaults.clone())
            };
        } else if let Some(id) = key
            .strip_prefix(NODE_KEY_PREFIX)
            .and_then(|k| k.strip_prefix('.'))
        {
            if deleted {
                self.nodes.remove(id);
            } else if let Some(rec) = parse::<NodeRecord>(key, value) {
                match rec.validate() {
                    Ok(()) if rec.id == id => {
                        self.nodes.insert(id.to_string(), rec);
                    }
                    Ok(()) => {
                        tracing::error!(%key, id = %rec.id, "ignoring a node record whose id is not its key")
                    }
                    Err(e) => tracing::error!(%key, error = %e, "ignoring a node record"),
                }
            }
        } else if let Some(uid) = key
            .strip_prefix(INDEX_KEY_PREFIX)
            .and_then(|k| k.strip_prefix('.'))
        {
            if deleted {
                self.indexes.remove(uid);
            } else if let Some(rec) = parse::<IndexRecord>(key, value) {
                self.indexes.insert(uid.to_string(), (rec, revision));
            }
        }
    }
}

fn parse<T: serde::de::DeserializeOwned>(key: &str, value: &[u8]) -> Option<T> {
    match serde_json::from_slice(value) {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::error!(%key, error = %e, "ignoring a topology value that does not parse");
            None
        }
    }
}

fn parse_or_keep<T: serde::de::DeserializeOwned>(key: &str, value: &[u8], keep: T) -> T {
    parse(key, value).unwrap_or(keep)
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the key `{0}` already exists")]
    Exists(String),
    #[error("the key `{0}` changed since it was read")]
    Conflict(String),
    #[error("JetStream KV: {0}")]
    Kv(String),
    #[error("cannot encode or decode a topology value: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("refused: {0}")]
    Invalid(String),
}

/// How many times a compare-and-set is retried against concurrent writers before giving up.
const CAS_ATTEMPTS: usize = 64;

/// The topology bucket and a live mirror of it.
#[derive(Clone)]
pub struct TopologyStore {
    kv: kv::Store,
    rx: watch::Receiver<Arc<Topology>>,
}

impl TopologyStore {
    /// Open (creating if needed) the bucket, load it and follow its changes.
    pub async fn open(js: &async_nats::jetstream::Context) -> anyhow::Result<Self> {
        let kv = kv_mirror::open_bucket(
            js,
            kv::Config {
                bucket: TOPOLOGY_BUCKET.to_string(),
                description: "Miroir topology: nodes, indexes, shard placements (JSON)".into(),
                history: 10,
                ..Default::default()
            },
        )
        .await?;
        let rx = kv_mirror::mirror(&kv).await?;
        Ok(TopologyStore { kv, rx })
    }

    /// The latest snapshot.
    pub fn current(&self) -> Arc<Topology> {
        self.rx.borrow().clone()
    }

    /// A receiver that wakes on every change.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Topology>> {
        self.rx.clone()
    }

    /// Wait until the mirror has applied `revision` (after one of our own writes), with a deadline.
    pub async fn wait_for_revision(&self, revision: u64, timeout: Duration) -> bool {
        kv_mirror::wait_for_revision(&self.rx, revision, timeout).await
    }

    /// Write a node record as an operator (or bootstrap) does: compare-and-set on its revision,
    /// creating it if absent. The operator's fields (`url`, `zone`, `state`) are taken from
    /// `node`; the observed health (`health`, `healthSince`) is the health-checker's and is kept
    /// from the stored record, so an operator's edit never undoes a probe's finding.
    pub async fn put_node(&self, node: &NodeRecord) -> Result<u64, StoreError> {
        node.validate().map_err(StoreError::Invalid)?;
        let key = node_key(&node.id);
        for _ in 0..CAS_ATTEMPTS {
            let written = match kv_json::read::<NodeRecord>(&self.kv, &key).await {
                Ok(Some((stored, rev))) => {
                    let merged = NodeRecord {
                        health: stored.health,
                        health_since: stored.health_since.clone(),
                        ..node.clone()
                    };
                    kv_json::update(&self.kv, &key, &merged, rev).await
                }
                // A stored value that does not parse (a bad hand edit) is replaced, by revision.
                Err(StoreError::Encode(_)) => match self.kv.entry(&key).await {
                    Ok(Some(e)) => kv_json::update(&self.kv, &key, node, e.revision).await,
                    Ok(None) => kv_json::create(&self.kv, &key, node).await,
                    Err(e) => return Err(StoreError::Kv(e.to_string())),
                },
                Ok(None) => kv_json::create(&self.kv, &key, node).await,
                Err(e) => return Err(e),
            };
            match written {
                Ok(rev) => return Ok(rev),
                Err(StoreError::Conflict(_) | StoreError::Exists(_)) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Conflict(key))
    }

    /// Change a node record with compare-and-set: `change` edits the record read from KV and says
    /// whether it changed anything; retried on conflict. `Ok(None)`: no such node (or its stored
    /// value does not parse, which is left for the operator to fix).
    pub async fn modify_node(
        &self,
        id: &str,
        mut change: impl FnMut(&mut NodeRecord) -> bool,
    ) -> Result<Option<NodeRecord>, StoreError> {
        let key = node_key(id);
        for _ in 0..CAS_ATTEMPTS {
            let Some((mut record, rev)) = kv_json::read::<NodeRecord>(&self.kv, &key).await? else {
                return Ok(None);
            };
            if !change(&mut record) {
                return Ok(Some(record));
            }
            record.validate().map_err(StoreError::Invalid)?;
            match kv_json::update(&self.kv, &key, &record, rev).await {
                Ok(_) => return Ok(Some(record)),
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Conflict(key))
    }

    /// Change an index record with compare-and-set, as [`modify_node`](Self::modify_node) does;
    /// returns the record written (or unchanged) and its revision.
    pub async fn modify_index(
        &self,
        uid: &str,
        mut change: impl FnMut(&mut IndexRecord) -> bool,
    ) -> Result<Option<(IndexRecord, u64)>, StoreError> {
        let key = index_key(uid);
        for _ in 0..CAS_ATTEMPTS {
            let Some((mut record, rev)) = kv_json::read::<IndexRecord>(&self.kv, &key).await?
            else {
                return Ok(None);
            };
            if !change(&mut record) {
                return Ok(Some((record, rev)));
            }
            match kv_json::update(&self.kv, &key, &record, rev).await {
                Ok(new_rev) => return Ok(Some((record, new_rev))),
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Conflict(key))
    }

    pub async fn put_defaults(&self, defaults: &ClusterDefaults) -> Result<u64, StoreError> {
        let value = serde_json::to_vec_pretty(defaults)?;
        self.kv
            .put(CLUSTER_KEY, value.into())
            .await
            .map_err(|e| StoreError::Kv(e.to_string()))
    }

    /// Write the defaults only if the `cluster` key does not exist yet (an operator's edit wins
    /// over a service's configured defaults). Returns whether they were written.
    pub async fn create_defaults(&self, defaults: &ClusterDefaults) -> Result<bool, StoreError> {
        let value = serde_json::to_vec_pretty(defaults)?;
        match self.kv.create(CLUSTER_KEY, value.into()).await {
            Ok(rev) => {
                self.wait_for_revision(rev, Duration::from_secs(2)).await;
                Ok(true)
            }
            Err(e) if matches!(e.kind(), kv::CreateErrorKind::AlreadyExists) => Ok(false),
            Err(e) => Err(StoreError::Kv(e.to_string())),
        }
    }

    /// Create an index record; fails with [`StoreError::Exists`] if another writer was first.
    pub async fn create_index(&self, index: &IndexRecord) -> Result<u64, StoreError> {
        kv_json::create(&self.kv, &index_key(&index.uid), index).await
    }

    /// Replace an index record read at `revision`; fails with [`StoreError::Conflict`] if it moved on.
    pub async fn update_index(
        &self,
        index: &IndexRecord,
        revision: u64,
    ) -> Result<u64, StoreError> {
        kv_json::update(&self.kv, &index_key(&index.uid), index, revision).await
    }

    /// Delete an index record read at `revision`.
    pub async fn delete_index(&self, uid: &str, revision: u64) -> Result<(), StoreError> {
        kv_json::delete(&self.kv, &index_key(uid), revision).await
    }

    /// Read one index record straight from KV (not the mirror), with its revision.
    pub async fn read_index(&self, uid: &str) -> Result<Option<(IndexRecord, u64)>, StoreError> {
        kv_json::read(&self.kv, &index_key(uid)).await
    }
}
