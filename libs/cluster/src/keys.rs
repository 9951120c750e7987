//! API keys, kept in the JetStream KV bucket `miroir-keys` (one JSON record per key under
//! `keys.<uid>`) and mirrored in memory, so that a key created through one gateway opens every
//! gateway of the cluster, and a deleted one closes them all.
//!
//! The record is what Meilisearch stores for a key; its secret value is not stored: it is
//! derived from the master key and the uid (`HMAC-SHA256`), as Meilisearch derives it, so an
//! operator reading the bucket with `nats kv get` learns no usable secret. Creation uses KV
//! `create`, so two gateways creating the same uid (the default keys, on a first start) cannot
//! both win; updates use the entry's revision.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::kv::{self, Operation};
use miroir_proto::subjects::{KEYS_BUCKET, api_key_key};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::kv_json;
use crate::kv_mirror::{self, MirrorState};
use crate::topology::StoreError;

/// One API key as Meilisearch describes it (dates are RFC 3339 strings, as it prints them).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyRecord {
    /// Hyphenated lowercase uuid.
    pub uid: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub actions: Vec<String>,
    /// Index uid patterns (`*`, `movies`, `movies_*`).
    pub indexes: Vec<String>,
    pub expires_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// The keys bucket as last seen: records by uid, with the KV revision each was read at.
#[derive(Clone, Debug, Default)]
pub struct Keys {
    pub keys: BTreeMap<String, (ApiKeyRecord, u64)>,
    /// Highest KV revision applied.
    pub revision: u64,
}

impl Keys {
    pub fn get(&self, uid: &str) -> Option<&ApiKeyRecord> {
        self.keys.get(uid).map(|(r, _)| r)
    }
}

impl MirrorState for Keys {
    fn revision(&self) -> u64 {
        self.revision
    }

    fn set_revision(&mut self, revision: u64) {
        self.revision = revision;
    }

    fn apply(&mut self, key: &str, op: Operation, value: &[u8], revision: u64) {
        self.revision = self.revision.max(revision);
        let prefix = api_key_key("");
        let Some(uid) = key.strip_prefix(prefix.as_str()) else {
            return;
        };
        if !matches!(op, Operation::Put) {
            self.keys.remove(uid);
            return;
        }
        match serde_json::from_slice::<ApiKeyRecord>(value) {
            Ok(record) if record.uid == uid => {
                self.keys.insert(uid.to_string(), (record, revision));
            }
            Ok(_) => tracing::error!(%key, "ignoring an API key record whose uid is not its key's"),
            Err(e) => {
                tracing::error!(%key, error = %e, "ignoring an API key record that does not parse")
            }
        }
    }
}

/// The keys bucket and a live mirror of it.
#[derive(Clone)]
pub struct KeyStore {
    kv: kv::Store,
    rx: watch::Receiver<Arc<Keys>>,
}

impl KeyStore {
    /// Open (creating if needed) the bucket, load it and follow its changes.
    pub async fn open(js: &async_nats::jetstream::Context) -> anyhow::Result<Self> {
        let kv = kv_mirror::open_bucket(
            js,
            kv::Config {
                bucket: KEYS_BUCKET.to_string(),
                description:
                    "Miroir API keys (JSON, one per uid; values derive from the master key)".into(),
                history: 5,
                ..Default::default()
            },
        )
        .await?;
        let rx = kv_mirror::mirror(&kv).await?;
        Ok(KeyStore { kv, rx })
    }

    /// The latest snapshot.
    pub fn current(&self) -> Arc<Keys> {
        self.rx.borrow().clone()
    }

    /// A receiver that wakes on every change.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Keys>> {
        self.rx.clone()
    }

    /// The bucket's latest revision (its stream's last sequence), to wait for the mirror.
    pub async fn last_revision(&self) -> Result<u64, StoreError> {
        kv_mirror::last_revision(&self.kv)
            .await
            .map_err(|e| StoreError::Kv(e.to_string()))
    }

    /// Wait until the mirror has applied `revision`, with a deadline.
    pub async fn wait_for_revision(&self, revision: u64, timeout: Duration) -> bool {
        kv_mirror::wait_for_revision(&self.rx, revision, timeout).await
    }

    /// Whether the bucket ever held a key (also a deleted one): default keys are created only
    /// in a bucket that never had any, as Meilisearch creates them only in an empty database.
    pub async fn is_pristine(&self) -> Result<bool, StoreError> {
        Ok(self.last_revision().await? == 0)
    }

    /// Create a key; fails with [`StoreError::Exists`] if its uid is taken.
    pub async fn create(&self, record: &ApiKeyRecord) -> Result<u64, StoreError> {
        kv_json::create(&self.kv, &api_key_key(&record.uid), record).await
    }

    /// Replace a key read at `revision`; fails with [`StoreError::Conflict`] if it moved on.
    pub async fn update(&self, record: &ApiKeyRecord, revision: u64) -> Result<u64, StoreError> {
        kv_json::update(&self.kv, &api_key_key(&record.uid), record, revision).await
    }

    /// Delete a key read at `revision`; fails with [`StoreError::Conflict`] if it moved on.
    pub async fn delete(&self, uid: &str, revision: u64) -> Result<(), StoreError> {
        kv_json::delete(&self.kv, &api_key_key(uid), revision).await
    }

    /// Read one key straight from KV (not the mirror), with its revision.
    pub async fn read(&self, uid: &str) -> Result<Option<(ApiKeyRecord, u64)>, StoreError> {
        kv_json::read(&self.kv, &api_key_key(uid)).await
    }
}
