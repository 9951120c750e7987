//! An in-memory index of every cluster task, so that `GET /tasks` (and cancel, delete, batches)
//! filter in memory instead of reading every task record from KV on every call.
//!
//! The index follows the tasks bucket with a KV watch: on start it replays the last value of
//! every key (one pass over the bucket per router process), then applies each change as it is
//! written, by any router. Each entry keeps only what filters need (about 150 bytes a task, so
//! a million tasks, Meilisearch's own task-queue limit, is ~150 MB per router). A listing waits
//! until the index has applied the bucket's last revision, so that a task enqueued through
//! another router a moment ago is listed.
//!
//! Costs of `GET /tasks`: one stream-info request (freshness), one pass over the in-memory
//! index (total counts every match, as Meilisearch's does), one KV read per task on the page,
//! and node round-trips only for tasks not yet known to be final (kept few by the settler below,
//! which asks nodes about unfinished tasks in the background and caches their final state).

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_nats::jetstream::kv::{self, Operation};
use futures::StreamExt;
use miroir_proto::subjects::{TASK_KEY_PREFIX, TASKS_BUCKET, kv_stream_name};
use miroir_proto::tasks::ClusterTask;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// What the filters of a task listing need to know of one task.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskSummary {
    pub uid: u64,
    pub task_type: String,
    /// The index of the task, or both indexes of every pair of an `indexSwap`.
    pub indexes: Vec<String>,
    pub enqueued_at: Option<OffsetDateTime>,
    pub canceled_by: Option<u64>,
    /// Known once the final view is cached in the record.
    pub done: Option<Progress>,
}

/// The part of a task that changes while it runs.
#[derive(Clone, Debug, PartialEq)]
pub struct Progress {
    pub status: String,
    pub started_at: Option<OffsetDateTime>,
    pub finished_at: Option<OffsetDateTime>,
}

pub fn parse_time(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

impl TaskSummary {
    pub fn of(task: &ClusterTask) -> Self {
        let indexes = match (&task.index_uid, task.task_type.as_str()) {
            (Some(uid), _) => vec![uid.clone()],
            (None, "indexSwap") => swap_indexes(&task.details),
            (None, _) => Vec::new(),
        };
        TaskSummary {
            uid: task.uid,
            task_type: task.task_type.clone(),
            indexes,
            enqueued_at: parse_time(&task.enqueued_at),
            canceled_by: task.canceled_by,
            done: task.finished.as_ref().map(|f| Progress {
                status: f.status.clone(),
                started_at: parse_time(&f.started_at),
                finished_at: parse_time(&f.finished_at),
            }),
        }
    }
}

/// The indexes named by the `swaps` of an `indexSwap` task's details.
pub fn swap_indexes(details: &serde_json::Value) -> Vec<String> {
    details
        .get("swaps")
        .and_then(|s| s.as_array())
        .into_iter()
        .flatten()
        .filter_map(|s| s.get("indexes")?.as_array())
        .flatten()
        .filter_map(|i| i.as_str().map(str::to_string))
        .collect()
}

#[derive(Default)]
struct State {
    tasks: BTreeMap<u64, TaskSummary>,
}

/// The index and the revision of the tasks bucket it has applied.
#[derive(Clone)]
pub struct TaskIndex {
    state: Arc<RwLock<State>>,
    applied: watch::Receiver<u64>,
    stream: async_nats::jetstream::stream::Stream,
}

impl TaskIndex {
    /// Start following the tasks bucket (which must exist), until `shutdown`.
    pub async fn open(
        js: &async_nats::jetstream::Context,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Self> {
        let store = js
            .get_key_value(TASKS_BUCKET)
            .await
            .map_err(|e| anyhow::anyhow!("cannot open KV bucket {TASKS_BUCKET}: {e}"))?;
        let stream = js
            .get_stream(kv_stream_name(TASKS_BUCKET))
            .await
            .map_err(|e| anyhow::anyhow!("cannot open the stream of the tasks bucket: {e}"))?;
        let mut watch = store
            .watch_all()
            .await
            .map_err(|e| anyhow::anyhow!("cannot watch the tasks bucket: {e}"))?;
        let state = Arc::new(RwLock::new(State::default()));
        let (tx, applied) = watch::channel(0u64);
        let writer = state.clone();
        tokio::spawn(async move {
            loop {
                let entry = tokio::select! {
                    _ = shutdown.cancelled() => break,
                    entry = watch.next() => entry,
                };
                let Some(entry) = entry else { break };
                let Ok(entry) = entry else { continue };
                apply(&writer, &entry);
                tx.send_modify(|r| *r = (*r).max(entry.revision));
            }
        });
        Ok(TaskIndex {
            state,
            applied,
            stream,
        })
    }

    /// Wait (at most `timeout`) until every write made to the bucket before this call is applied.
    /// `false` when the index is behind: the caller answers from it anyway.
    pub async fn catch_up(&self, timeout: Duration) -> bool {
        let mut stream = self.stream.clone();
        let last = match stream.info().await {
            Ok(info) => info.state.last_sequence,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the tasks bucket's revision");
                return false;
            }
        };
        let mut rx = self.applied.clone();
        tokio::time::timeout(timeout, async {
            loop {
                if *rx.borrow_and_update() >= last {
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

    /// The summaries `keep` selects, in uid order (descending unless `ascending`).
    pub fn select<T>(
        &self,
        ascending: bool,
        mut keep: impl FnMut(&TaskSummary) -> Option<T>,
    ) -> Vec<T> {
        let Ok(state) = self.state.read() else {
            return Vec::new();
        };
        if ascending {
            state.tasks.values().filter_map(&mut keep).collect()
        } else {
            state.tasks.values().rev().filter_map(&mut keep).collect()
        }
    }

    /// The uids of the tasks not known to be final yet.
    pub fn unfinished(&self) -> Vec<u64> {
        self.select(true, |s| s.done.is_none().then_some(s.uid))
    }
}

fn apply(state: &RwLock<State>, entry: &kv::Entry) {
    let Some(uid) = entry
        .key
        .strip_prefix(TASK_KEY_PREFIX)
        .and_then(|k| k.strip_prefix('.'))
        .and_then(|k| k.parse::<u64>().ok())
    else {
        return;
    };
    let Ok(mut state) = state.write() else { return };
    match entry.operation {
        Operation::Put => match serde_json::from_slice::<ClusterTask>(&entry.value) {
            Ok(task) => {
                state.tasks.insert(uid, TaskSummary::of(&task));
            }
            Err(e) => {
                tracing::error!(key = %entry.key, error = %e, "ignoring a task record that does not parse")
            }
        },
        Operation::Delete | Operation::Purge => {
            state.tasks.remove(&uid);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use miroir_proto::tasks::FinishedTask;
    use serde_json::json;

    #[test]
    fn summaries_keep_what_filters_need() {
        let mut task = ClusterTask {
            uid: 4,
            index_uid: None,
            task_type: "indexSwap".into(),
            enqueued_at: "2026-11-21T05:01:17.389565454Z".into(),
            details: json!({"swaps": [{"indexes": ["a", "b"], "rename": false}, {"indexes": ["c", "d"], "rename": true}]}),
            node_tasks: Vec::new(),
            finished: None,
            fanout_error: None,
            canceled_by: None,
            deferred: Vec::new(),
            custom_metadata: None,
        };
        let s = TaskSummary::of(&task);
        assert_eq!(s.indexes, vec!["a", "b", "c", "d"]);
        assert!(s.enqueued_at.is_some());
        assert!(s.done.is_none());
        task.finished = Some(FinishedTask {
            status: "succeeded".into(),
            details: json!({}),
            error: None,
            started_at: "2026-11-21T05:01:17.390053507Z".into(),
            finished_at: "2026-11-21T05:01:17.390735675Z".into(),
        });
        task.index_uid = Some("movies".into());
        let s = TaskSummary::of(&task);
        assert_eq!(s.indexes, vec!["movies"]);
        assert_eq!(s.done.unwrap().status, "succeeded");
    }
}
