//! JSON values in a JetStream KV bucket with compare-and-set: the few operations every store of
//! this crate (topology, tasks, keys) is made of, with one mapping of KV errors to
//! [`StoreError`].

use async_nats::jetstream::kv::{self, Operation};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::topology::StoreError;

/// Create `key`; [`StoreError::Exists`] if another writer was first.
pub async fn create<T: Serialize>(
    store: &kv::Store,
    key: &str,
    value: &T,
) -> Result<u64, StoreError> {
    let bytes = serde_json::to_vec_pretty(value)?;
    store
        .create(key, bytes.into())
        .await
        .map_err(|e| match e.kind() {
            kv::CreateErrorKind::AlreadyExists => StoreError::Exists(key.to_string()),
            _ => StoreError::Kv(e.to_string()),
        })
}

/// Replace `key` read at `revision`; [`StoreError::Conflict`] if it moved on.
pub async fn update<T: Serialize>(
    store: &kv::Store,
    key: &str,
    value: &T,
    revision: u64,
) -> Result<u64, StoreError> {
    let bytes = serde_json::to_vec_pretty(value)?;
    store
        .update(key, bytes.into(), revision)
        .await
        .map_err(|e| match e.kind() {
            kv::UpdateErrorKind::WrongLastRevision => StoreError::Conflict(key.to_string()),
            _ => StoreError::Kv(e.to_string()),
        })
}

/// Delete `key` read at `revision`; [`StoreError::Conflict`] if it moved on.
pub async fn delete(store: &kv::Store, key: &str, revision: u64) -> Result<(), StoreError> {
    store
        .delete_expect_revision(key, Some(revision))
        .await
        .map_err(|e| match e.kind() {
            kv::DeleteErrorKind::WrongLastRevision => StoreError::Conflict(key.to_string()),
            _ => StoreError::Kv(e.to_string()),
        })
}

/// Read `key` straight from KV (not a mirror), with its revision; `None` when absent or deleted.
pub async fn read<T: DeserializeOwned>(
    store: &kv::Store,
    key: &str,
) -> Result<Option<(T, u64)>, StoreError> {
    match store
        .entry(key)
        .await
        .map_err(|e| StoreError::Kv(e.to_string()))?
    {
        Some(e) if matches!(e.operation, Operation::Put) => {
            Ok(Some((serde_json::from_slice(&e.value)?, e.revision)))
        }
        _ => Ok(None),
    }
}
