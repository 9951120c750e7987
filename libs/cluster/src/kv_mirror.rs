//! A live in-memory mirror of a JetStream KV bucket, the one mechanism behind the topology and
//! key stores: open (creating if needed) the bucket, load every key, then follow the bucket's
//! changes from just after what was loaded, and publish each new state on a `watch` channel.
//!
//! An entry is applied only if it is newer than what the mirror already holds for its key, so a
//! write landing between the initial load and the start of the watch is never applied twice
//! or out of order.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::kv::{self, Operation};
use futures::StreamExt;
use tokio::sync::watch;

/// What a bucket's values build up to.
pub trait MirrorState: Default + Clone + Send + Sync + 'static {
    /// Take one entry into account (a put, or a delete/purge of `key`), read at `revision`;
    /// raises [`revision`](Self::revision) to it.
    fn apply(&mut self, key: &str, op: Operation, value: &[u8], revision: u64);
    /// Highest KV revision applied.
    fn revision(&self) -> u64;
    fn set_revision(&mut self, revision: u64);
}

/// Open the bucket described by `config`, creating it if it does not exist.
pub async fn open_bucket(js: &async_nats::jetstream::Context, config: kv::Config) -> anyhow::Result<kv::Store> {
    match js.get_key_value(config.bucket.clone()).await {
        Ok(kv) => Ok(kv),
        Err(_) => {
            let bucket = config.bucket.clone();
            js.create_key_value(config).await.map_err(|e| anyhow::anyhow!("cannot create KV bucket {bucket}: {e}"))
        }
    }
}

/// The bucket's latest revision (its stream's last sequence).
pub async fn last_revision(kv: &kv::Store) -> anyhow::Result<u64> {
    let mut stream = kv.stream.clone();
    let info = stream.info().await.map_err(|e| anyhow::anyhow!("cannot read a KV bucket's stream: {e}"))?;
    Ok(info.state.last_sequence)
}

/// Load the bucket into `S` and keep it current.
pub async fn mirror<S: MirrorState>(kv: &kv::Store) -> anyhow::Result<watch::Receiver<Arc<S>>> {
    // Everything up to `last` is loaded below; the watch delivers what comes after.
    let last = last_revision(kv).await?;
    let mut state = S::default();
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut listed = kv.keys().await.map_err(|e| anyhow::anyhow!("cannot list a KV bucket: {e}"))?;
    let mut names = Vec::new();
    while let Some(k) = listed.next().await {
        if let Ok(k) = k {
            names.push(k);
        }
    }
    for k in names {
        if let Ok(Some(entry)) = kv.entry(k).await {
            seen.insert(entry.key.clone(), entry.revision);
            state.apply(&entry.key, entry.operation, &entry.value, entry.revision);
        }
    }
    state.set_revision(state.revision().max(last));
    let mut watcher = kv
        .watch_all_from_revision(last + 1)
        .await
        .map_err(|e| anyhow::anyhow!("cannot watch a KV bucket: {e}"))?;
    let (tx, rx) = watch::channel(Arc::new(state));
    tokio::spawn(async move {
        while let Some(entry) = watcher.next().await {
            let Ok(entry) = entry else { continue };
            if seen.get(&entry.key).is_some_and(|r| *r >= entry.revision) {
                continue;
            }
            seen.insert(entry.key.clone(), entry.revision);
            let mut next = (**tx.borrow()).clone();
            next.apply(&entry.key, entry.operation, &entry.value, entry.revision);
            if tx.send(Arc::new(next)).is_err() {
                break;
            }
        }
    });
    Ok(rx)
}

/// Wait until the mirror has applied `revision` (after one of our own writes), with a deadline.
pub async fn wait_for_revision<S: MirrorState>(rx: &watch::Receiver<Arc<S>>, revision: u64, timeout: Duration) -> bool {
    let mut rx = rx.clone();
    tokio::time::timeout(timeout, async {
        loop {
            if rx.borrow().revision() >= revision {
                return;
            }
            if rx.changed().await.is_err() {
                return;
            }
        }
    })
    .await
    .is_ok()
}
