//! `POST /swap-indexes`: the index records trade places, the shards stay where they are.
//!
//! An index record maps a client uid to its shards, which live on the nodes under names built
//! from the record's storage base (`a__s0`). Swapping `a` and `b` rewrites `indexes.a` with what
//! `indexes.b` held (shards, storage base, primary key, dates) and the other way round; renaming
//! `a` to `b` moves the record and deletes `indexes.a`. No document moves, so a swap of any size
//! takes one KV write.
//!
//! Every record of every pair is written in one atomic KV batch with compare-and-set on each
//! ([`crate::kv_batch`]): the swap happens whole or not at all, and a record changed meanwhile
//! (a write, a migration cut-over) makes it start again from fresh reads. Each index is always
//! served by exactly one complete set of shards; services that mirror the topology apply the
//! batch's entries one after the other, so for the instant between two entries one of two
//! swapped indexes may already answer with its new shards while the other still answers with
//! its old ones (never a mix of shards within one index).
//!
//! Tasks enqueued before the swap follow their data, as in Meilisearch: their `indexUid` (and the
//! pairs of earlier swaps) are renamed.

use std::collections::BTreeSet;

use async_nats::jetstream::kv::Operation;
use bytes::Bytes;
use miroir_proto::rpc::EnqueuedTask;
use miroir_proto::rpc_tasks::{IndexSwap, SwapPair};
use miroir_proto::subjects::{TOPOLOGY_BUCKET, index_key};
use miroir_proto::topology::{IndexRecord, IndexState};
use miroir_proto::{ErrorCode, MeiliError};
use serde_json::{Value, json};

use crate::Router;
use crate::kv_batch::{self, KvBatchError, KvWrite};

/// Fresh reads and retries when a record changes under a swap.
const ATTEMPTS: u32 = 5;

/// The state of one `indexes.<uid>` key: its record when it holds a live index, and the
/// revision a compare-and-set must name (`0` for a key never written).
#[derive(Clone, Debug, PartialEq)]
pub struct Slot {
    pub record: Option<IndexRecord>,
    pub revision: u64,
}

impl Router {
    pub(crate) async fn index_swap(&self, req: IndexSwap) -> Result<EnqueuedTask, MeiliError> {
        let details = json!({
            "swaps": req.swaps.iter().map(|p| json!({"indexes": [p.lhs, p.rhs], "rename": p.rename})).collect::<Vec<_>>()
        });
        let mut task = self.new_task(None, "indexSwap", details).await?;
        let started = miroir_cluster::now_rfc3339();
        if !req.swaps.is_empty() {
            if let Err(e) = self.swap_records(&req.swaps, task.uid).await {
                return if e.status < 500 {
                    self.fail(task, e).await
                } else {
                    Err(e)
                };
            }
            self.rename_history(task.uid, &req.swaps).await;
        }
        self.settle(&mut task, started);
        self.enqueued(&task).await
    }

    pub(crate) async fn swap_records(
        &self,
        swaps: &[SwapPair],
        task_uid: u64,
    ) -> Result<(), MeiliError> {
        let internal = |e: &dyn std::fmt::Display| {
            MeiliError::internal(format!("cannot swap the index records: {e}"))
        };
        kv_batch::enable(&self.js, TOPOLOGY_BUCKET)
            .await
            .map_err(|e| internal(&e))?;
        let kv = self
            .js
            .get_key_value(TOPOLOGY_BUCKET)
            .await
            .map_err(|e| internal(&e))?;
        for attempt in 0..ATTEMPTS {
            let mut slots = std::collections::BTreeMap::new();
            for name in swaps.iter().flat_map(|p| [&p.lhs, &p.rhs]) {
                let slot = match kv.entry(index_key(name)).await.map_err(|e| internal(&e))? {
                    Some(e) if e.operation == Operation::Put => {
                        let record: IndexRecord =
                            serde_json::from_slice(&e.value).map_err(|e| internal(&e))?;
                        let live = record.state == IndexState::Ready;
                        Slot {
                            record: live.then_some(record),
                            revision: e.revision,
                        }
                    }
                    Some(e) => Slot {
                        record: None,
                        revision: e.revision,
                    },
                    None => Slot {
                        record: None,
                        revision: 0,
                    },
                };
                slots.insert(name.clone(), slot);
            }
            let writes = plan(swaps, &slots)?;
            let batch_id = format!("swap-{task_uid}-{attempt}");
            match kv_batch::write_all(&self.js.client(), TOPOLOGY_BUCKET, &batch_id, &writes).await
            {
                Ok(()) => {
                    crate::metrics::index_swapped();
                    // Let this router's own mirror see the new records before the task is done.
                    let mut stream = self
                        .js
                        .get_stream(miroir_proto::subjects::kv_stream_name(TOPOLOGY_BUCKET))
                        .await
                        .map_err(|e| internal(&e))?;
                    if let Ok(info) = stream.info().await {
                        self.topology
                            .wait_for_revision(
                                info.state.last_sequence,
                                std::time::Duration::from_secs(2),
                            )
                            .await;
                    }
                    return Ok(());
                }
                Err(KvBatchError::Conflict(why)) => {
                    tracing::info!(attempt, %why, "an index record changed during a swap; reading again");
                }
                Err(e) => return Err(internal(&e)),
            }
        }
        Err(MeiliError::new(
            ErrorCode::SwapConflict,
            "The indexes kept changing while they were swapped; retry the swap.",
        ))
    }

    /// Tasks enqueued before the swap now name the index that holds their data.
    pub(crate) async fn rename_history(&self, swap_uid: u64, swaps: &[SwapPair]) {
        let names: BTreeSet<&str> = swaps
            .iter()
            .flat_map(|p| [p.lhs.as_str(), p.rhs.as_str()])
            .collect();
        let affected = self.task_index.select(true, |s| {
            (s.uid < swap_uid && s.indexes.iter().any(|i| names.contains(i.as_str())))
                .then_some(s.uid)
        });
        for uid in affected {
            for _ in 0..8 {
                let Ok(Some((mut record, revision))) = self.tasks.get(uid).await else {
                    break;
                };
                if let Some(index) = &record.index_uid {
                    record.index_uid = Some(renamed(index, swaps));
                }
                if record.task_type == "indexSwap" {
                    rename_pairs(&mut record.details, swaps);
                    if let Some(f) = record.finished.as_mut() {
                        rename_pairs(&mut f.details, swaps);
                    }
                }
                match self.tasks.update(&record, revision).await {
                    Ok(_) => break,
                    Err(miroir_cluster::topology::StoreError::Conflict(_)) => continue,
                    Err(e) => {
                        tracing::warn!(uid, error = %e, "cannot rename the index of a task after a swap");
                        break;
                    }
                }
            }
        }
    }
}

/// The uid an index of the history is known by after the swaps.
fn renamed(index: &str, swaps: &[SwapPair]) -> String {
    for p in swaps {
        if index == p.lhs {
            return p.rhs.clone();
        }
        if index == p.rhs && !p.rename {
            return p.lhs.clone();
        }
    }
    index.to_string()
}

fn rename_pairs(details: &mut Value, swaps: &[SwapPair]) {
    let Some(pairs) = details.get_mut("swaps").and_then(Value::as_array_mut) else {
        return;
    };
    for pair in pairs {
        if let Some(indexes) = pair.get_mut("indexes").and_then(Value::as_array_mut) {
            for i in indexes.iter_mut() {
                if let Some(name) = i.as_str() {
                    *i = Value::String(renamed(name, swaps));
                }
            }
        }
    }
}

fn quoted(names: &BTreeSet<&str>) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The KV writes of the swaps, or the error the swap task fails with (Meilisearch's checks: every
/// index to swap exists; the target of a rename does not).
pub fn plan(
    swaps: &[SwapPair],
    slots: &std::collections::BTreeMap<String, Slot>,
) -> Result<Vec<KvWrite>, MeiliError> {
    let live = |name: &str| slots.get(name).and_then(|s| s.record.as_ref());
    let mut missing = BTreeSet::new();
    let mut taken = BTreeSet::new();
    for p in swaps {
        if live(&p.lhs).is_none() {
            missing.insert(p.lhs.as_str());
        }
        match (live(&p.rhs).is_some(), p.rename) {
            (true, true) => {
                taken.insert((p.lhs.as_str(), p.rhs.as_str()));
            }
            (false, false) => {
                missing.insert(p.rhs.as_str());
            }
            _ => {}
        }
    }
    if let Some(one) = missing.iter().next().filter(|_| missing.len() == 1) {
        return Err(MeiliError::index_not_found(one));
    }
    if !missing.is_empty() {
        return Err(MeiliError::new(
            ErrorCode::IndexNotFound,
            format!("Indexes {} not found.", quoted(&missing)),
        ));
    }
    if let Some((lhs, rhs)) = taken.iter().next().filter(|_| taken.len() == 1) {
        return Err(MeiliError::new(
            ErrorCode::IndexAlreadyExists,
            format!("Cannot rename `{lhs}` to `{rhs}` as the index already exists"),
        ));
    }
    if !taken.is_empty() {
        let targets: BTreeSet<&str> = taken.iter().map(|(_, r)| *r).collect();
        return Err(MeiliError::new(
            ErrorCode::IndexAlreadyExists,
            format!(
                "Cannot rename indexes as the indexes {} already exist",
                quoted(&targets)
            ),
        ));
    }
    let mut writes = Vec::new();
    let now = miroir_cluster::now_rfc3339();
    let put =
        |uid: &str, mut record: IndexRecord, writes: &mut Vec<KvWrite>| -> Result<(), MeiliError> {
            let base = record.storage_base().to_string();
            record.storage_uid = (base != uid).then_some(base);
            record.uid = uid.to_string();
            record.updated_at.clone_from(&now);
            let value = serde_json::to_vec_pretty(&record)
                .map_err(|e| MeiliError::internal(e.to_string()))?;
            let revision = slots.get(uid).map_or(0, |s| s.revision);
            writes.push(KvWrite::Put {
                key: index_key(uid),
                value: Bytes::from(value),
                revision,
            });
            Ok(())
        };
    for p in swaps {
        let (Some(left), right) = (live(&p.lhs).cloned(), live(&p.rhs).cloned()) else {
            continue;
        };
        put(&p.rhs, left, &mut writes)?;
        match right {
            Some(right) if !p.rename => put(&p.lhs, right, &mut writes)?,
            _ => writes.push(KvWrite::Delete {
                key: index_key(&p.lhs),
                revision: slots.get(&p.lhs).map_or(0, |s| s.revision),
            }),
        }
    }
    Ok(writes)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::collections::BTreeMap;

    use super::*;
    use miroir_proto::topology::ShardPlacement;

    fn record(uid: &str, node: &str) -> IndexRecord {
        IndexRecord {
            uid: uid.into(),
            primary_key: Some(format!("{uid}_id")),
            shard_count: 1,
            replication_factor: 1,
            created_at: format!("created-{uid}"),
            updated_at: String::new(),
            shards: vec![ShardPlacement {
                nodes: vec![node.into()],
                incoming: vec![],
                lagging: vec![],
            }],
            state: IndexState::Ready,
            storage_uid: None,
        }
    }

    fn slots(entries: &[(&str, Option<IndexRecord>, u64)]) -> BTreeMap<String, Slot> {
        entries
            .iter()
            .map(|(n, r, rev)| {
                (
                    n.to_string(),
                    Slot {
                        record: r.clone(),
                        revision: *rev,
                    },
                )
            })
            .collect()
    }

    fn pair(lhs: &str, rhs: &str, rename: bool) -> SwapPair {
        SwapPair {
            lhs: lhs.into(),
            rhs: rhs.into(),
            rename,
        }
    }

    fn put_record(w: &KvWrite) -> (String, IndexRecord, u64) {
        let KvWrite::Put {
            key,
            value,
            revision,
        } = w
        else {
            return (String::new(), record("none", "none"), 0);
        };
        (
            key.clone(),
            serde_json::from_slice(value).unwrap(),
            *revision,
        )
    }

    #[test]
    fn a_swap_trades_records_and_keeps_shard_names() {
        let s = slots(&[
            ("a", Some(record("a", "n1")), 3),
            ("b", Some(record("b", "n2")), 5),
        ]);
        let writes = plan(&[pair("a", "b", false)], &s).unwrap();
        let (key, b, rev) = put_record(&writes[0]);
        assert_eq!((key.as_str(), rev), ("indexes.b", 5));
        assert_eq!(b.uid, "b");
        assert_eq!(b.storage_base(), "a");
        assert_eq!(b.shards[0].nodes, vec!["n1"]);
        assert_eq!(b.primary_key.as_deref(), Some("a_id"));
        let (key, a, rev) = put_record(&writes[1]);
        assert_eq!((key.as_str(), rev), ("indexes.a", 3));
        assert_eq!(a.storage_base(), "b");
        // Swapping back gives each index its own shards, named after itself again.
        let s = slots(&[("a", Some(a), 4), ("b", Some(b), 6)]);
        let writes = plan(&[pair("a", "b", false)], &s).unwrap();
        let (_, b, _) = put_record(&writes[0]);
        assert_eq!((b.storage_base(), b.storage_uid.as_deref()), ("b", None));
    }

    #[test]
    fn a_rename_moves_the_record_and_deletes_the_old_key() {
        let s = slots(&[("a", Some(record("a", "n1")), 3), ("c", None, 9)]);
        let writes = plan(&[pair("a", "c", true)], &s).unwrap();
        let (key, c, rev) = put_record(&writes[0]);
        assert_eq!((key.as_str(), rev, c.storage_base()), ("indexes.c", 9, "a"));
        assert_eq!(
            writes[1],
            KvWrite::Delete {
                key: "indexes.a".into(),
                revision: 3
            }
        );
    }

    #[test]
    fn missing_and_taken_indexes_fail_like_meilisearch() {
        let s = slots(&[
            ("a", Some(record("a", "n1")), 3),
            ("b", Some(record("b", "n1")), 4),
        ]);
        let e = plan(&[pair("a", "ghost", false)], &s).unwrap_err();
        assert_eq!(
            (e.code.as_str(), e.message.as_str()),
            ("index_not_found", "Index `ghost` not found.")
        );
        let e = plan(&[pair("x", "y", false)], &s).unwrap_err();
        assert_eq!(e.message, "Indexes `x`, `y` not found.");
        let e = plan(&[pair("a", "b", true)], &s).unwrap_err();
        assert_eq!(
            (e.code.as_str(), e.message.as_str()),
            (
                "index_already_exists",
                "Cannot rename `a` to `b` as the index already exists"
            )
        );
    }

    #[test]
    fn history_follows_the_data() {
        let swaps = [pair("a", "b", false), pair("c", "d", true)];
        assert_eq!(renamed("a", &swaps), "b");
        assert_eq!(renamed("b", &swaps), "a");
        assert_eq!(renamed("c", &swaps), "d");
        assert_eq!(renamed("d", &swaps), "d");
        let mut details = json!({"swaps": [{"indexes": ["b", "a"], "rename": false}]});
        rename_pairs(&mut details, &swaps);
        assert_eq!(details["swaps"][0]["indexes"], json!(["a", "b"]));
    }
}
