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
pub async fn open_bucket(
    js: &async_nats::jetstream::Context,
    config: kv::Config,
) -> anyhow::Result<kv::Store> {
    match js.get_key_value(config.bucket.clone()).await {
        Ok(kv) => Ok(kv),
        Err(_) => {
            let bucket = config.bucket.clone();
            js.create_key_value(config)
                .await
                .map_err(|e| anyhow::anyhow!("cannot create KV bucket {bucket}: {e}"))
        }
    }
}

/// The bucket's latest revision (its stream's last sequence).
pub async fn last_revision(kv: &kv::Store) -> anyhow::Result<u64> {
    let mut stream = kv.stream.clone();
    let info = stream
        .info()
        .await
        .map_err(|e| anyhow::anyhow!("cannot read a KV bucket's stream: {e}"))?;
    Ok(info.state.last_sequence)
}

/// Load the bucket into `S` and keep it current.
pub async fn mirror<S: MirrorState>(kv: &kv::Store) -> anyhow::Result<watch::Receiver<Arc<S>>> {
    // Everything up to `last` is loaded below; the watch delivers what comes after.
    let last = last_revision(kv).await?;
    let mut state = S::default();
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut listed = kv
        .keys()
        .await
        .map_err(|e| anyhow::anyhow!("cannot list a KV bucket: {e}"))?;
    let mut names = Vec::new();
    while let Some(k) = listed.next().await {
        names.push(k.map_err(|e| anyhow::anyhow!("cannot list a KV bucket: {e}"))?);
    }
    for k in names {
        let entry = kv
            .entry(&k)
            .await
            .map_err(|e| anyhow::anyhow!("cannot read the KV key `{k}`: {e}"))?;
        if let Some(entry) = entry {
            seen.insert(entry.key.clone(), entry.revision);
            state.apply(&entry.key, entry.operation, &entry.value, entry.revision);
        }
    }
    state.set_revision(state.revision().max(last));
    let watcher = kv
        .watch_all_from_revision(last + 1)
        .await
        .map_err(|e| anyhow::anyhow!("cannot watch a KV bucket: {e}"))?;
    let (tx, rx) = watch::channel(Arc::new(state));
    tokio::spawn(follow(kv.clone(), watcher, seen, tx));
    Ok(rx)
}

/// Apply the bucket's changes as they come. A watch that fails or ends (NATS restarted, the
/// consumer was lost) is logged and opened again from just after the last revision applied, with
/// a growing pause, so the mirror never freezes silently; it stops only when nobody listens.
async fn follow<S: MirrorState>(
    kv: kv::Store,
    mut watcher: kv::Watch,
    mut seen: HashMap<String, u64>,
    tx: watch::Sender<Arc<S>>,
) {
    let bucket = kv.name.clone();
    let mut pause = Duration::from_millis(100);
    loop {
        loop {
            let entry = match watcher.next().await {
                None => {
                    tracing::warn!(%bucket, "the KV watch ended; opening it again");
                    break;
                }
                Some(Err(e)) => {
                    tracing::warn!(%bucket, error = %e, "the KV watch failed; opening it again");
                    break;
                }
                Some(Ok(entry)) => entry,
            };
            pause = Duration::from_millis(100);
            if seen.get(&entry.key).is_some_and(|r| *r >= entry.revision) {
                continue;
            }
            seen.insert(entry.key.clone(), entry.revision);
            let mut next = (**tx.borrow()).clone();
            next.apply(&entry.key, entry.operation, &entry.value, entry.revision);
            if tx.send(Arc::new(next)).is_err() {
                return;
            }
        }
        loop {
            if tx.is_closed() {
                return;
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(5));
            let from = tx.borrow().revision() + 1;
            match kv.watch_all_from_revision(from).await {
                Ok(w) => {
                    tracing::info!(%bucket, from, "the KV watch is open again");
                    watcher = w;
                    break;
                }
                Err(e) => tracing::warn!(%bucket, error = %e, "cannot open the KV watch yet"),
            }
        }
    }
}

/// Wait until the mirror has applied `revision` (after one of our own writes), with a deadline.
pub async fn wait_for_revision<S: MirrorState>(
    rx: &watch::Receiver<Arc<S>>,
    revision: u64,
    timeout: Duration,
) -> bool {
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
