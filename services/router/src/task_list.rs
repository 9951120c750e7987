//! `GET /tasks`, `GET /batches` and `GET /batches/{uid}`, answered from the in-memory
//! [`TaskIndex`](crate::task_index::TaskIndex): filters run in memory, only the tasks shown are
//! read from KV, and nodes are asked only about tasks not yet known to be final.
//!
//! A cluster task is processed as one batch of its own, numbered as the task: a batch exists
//! once its task left `enqueued`, and shows that one task's type, status and index.

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt;
use miroir_proto::rpc::JsonBody;
use miroir_proto::rpc_tasks::{BatchGet, BatchList, TaskIndexUids, TaskPage, TaskSearch};
use miroir_proto::{ErrorCode, MeiliError};
use serde_json::{Map, Value, json};

use crate::Router;
use crate::task_filter::{Candidate, Dynamic, Filter, classify, page};

/// How long a listing waits for the task index to catch up with the bucket.
const FRESHNESS_WAIT: Duration = Duration::from_secs(2);
/// Tasks asked to their nodes at once while a listing resolves unfinished ones.
const VIEW_CONCURRENCY: usize = 16;

fn json_body(v: &Value) -> JsonBody {
    JsonBody {
        body: serde_json::to_vec(v).unwrap_or_default().into(),
    }
}

impl Router {
    /// The view of task `uid`, or `None` when it does not exist (any more).
    pub(crate) async fn view_of(&self, uid: u64) -> Option<Value> {
        match self.tasks.get(uid).await {
            Ok(Some((task, revision))) => Some(self.task_view(task, revision).await),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(uid, error = %e, "cannot read a task record");
                None
            }
        }
    }

    /// Every task matching `filter`, in uid order (descending unless `ascending`), with the view
    /// of those whose nodes had to be asked (so that a page can reuse it).
    pub(crate) async fn matching(
        &self,
        filter: &Filter,
        ascending: bool,
    ) -> Vec<(u64, Option<Value>)> {
        if !self.task_index.catch_up(FRESHNESS_WAIT).await {
            tracing::warn!("the task index is behind the tasks bucket; listing from it anyway");
        }
        let candidates = self.task_index.select(ascending, |s| classify(filter, s));
        let unknown: Vec<u64> = candidates
            .iter()
            .filter(|c| matches!(c, Candidate::Unknown(_)))
            .map(Candidate::uid)
            .collect();
        let mut resolved: HashMap<u64, Value> = futures::stream::iter(unknown)
            .map(|uid| async move { (uid, self.view_of(uid).await) })
            .buffer_unordered(VIEW_CONCURRENCY)
            .filter_map(|(uid, view)| async move { view.map(|v| (uid, v)) })
            .collect()
            .await;
        candidates
            .into_iter()
            .filter_map(|c| match c {
                Candidate::Match(uid) => Some((uid, None)),
                Candidate::Unknown(uid) => {
                    let view = resolved.remove(&uid)?;
                    filter
                        .matches_dynamic(&Dynamic::of_view(&view))
                        .then_some((uid, Some(view)))
                }
            })
            .collect()
    }

    /// One page of the tasks matching `filter`, each shown through `show`.
    async fn listing(
        &self,
        filter: Filter,
        page_asked: TaskPage,
        show: fn(&Value) -> Value,
    ) -> JsonBody {
        let TaskPage {
            limit,
            from,
            reverse,
        } = page_asked;
        let matches = self.matching(&filter, reverse).await;
        let uids: Vec<u64> = matches.iter().map(|(u, _)| *u).collect();
        let (shown, next) = page(&uids, from, limit as usize, reverse);
        let mut known: HashMap<u64, Value> = matches
            .into_iter()
            .filter_map(|(u, v)| v.map(|v| (u, v)))
            .collect();
        let mut results = Vec::with_capacity(shown.len());
        for uid in &shown {
            let view = match known.remove(uid) {
                Some(v) => Some(v),
                None => self.view_of(*uid).await,
            };
            // A task deleted between the scan and now is simply not shown.
            results.extend(view.as_ref().map(show));
        }
        let from = results
            .first()
            .and_then(|v| v.get("uid").cloned())
            .unwrap_or(Value::Null);
        json_body(
            &json!({ "results": results, "total": uids.len(), "limit": limit, "from": from, "next": next }),
        )
    }

    pub(crate) async fn task_search(&self, req: TaskSearch) -> Result<JsonBody, MeiliError> {
        Ok(self
            .listing(Filter::new(req.filter)?, req.page, Value::clone)
            .await)
    }

    pub(crate) async fn batch_list(&self, req: BatchList) -> Result<JsonBody, MeiliError> {
        Ok(self
            .listing(
                Filter::new(req.filter)?.started_only(),
                req.page,
                batch_view,
            )
            .await)
    }

    pub(crate) async fn task_index_uids(
        &self,
        _req: TaskIndexUids,
    ) -> Result<JsonBody, MeiliError> {
        self.task_index.catch_up(FRESHNESS_WAIT).await;
        let mut uids: Vec<String> = self
            .task_index
            .select(true, |s| Some(s.indexes.clone()))
            .into_iter()
            .flatten()
            .collect();
        uids.sort_unstable();
        uids.dedup();
        Ok(json_body(&json!(uids)))
    }

    pub(crate) async fn batch_get(&self, req: BatchGet) -> Result<JsonBody, MeiliError> {
        let view = self
            .view_of(req.uid)
            .await
            .filter(|v| v.get("status").and_then(Value::as_str) != Some("enqueued"));
        match view {
            Some(v) => Ok(json_body(&batch_view(&v))),
            None => Err(MeiliError::new(
                ErrorCode::BatchNotFound,
                format!("Batch `{}` not found.", req.uid),
            )),
        }
    }
}

fn one(key: &str) -> Value {
    let mut m = Map::new();
    m.insert(key.to_string(), json!(1));
    Value::Object(m)
}

/// The batch of one cluster task, in the shape of Meilisearch's `BatchView`. There is no
/// progress trace to show: the work happened on the nodes.
pub(crate) fn batch_view(task: &Value) -> Value {
    let get = |k: &str| task.get(k).cloned().unwrap_or(Value::Null);
    let status = task
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let kind = task.get("type").and_then(Value::as_str).unwrap_or_default();
    let index_uids = match task.get("indexUid").and_then(Value::as_str) {
        Some(uid) => one(uid),
        None => json!({}),
    };
    let progress = if matches!(status, "enqueued" | "processing") {
        json!({"steps": [{"currentStep": "processing tasks", "finished": 0, "total": 1}], "percentage": 0.0})
    } else {
        Value::Null
    };
    json!({
        "uid": get("uid"),
        "progress": progress,
        "details": get("details"),
        "stats": {
            "totalNbTasks": 1,
            "status": one(status),
            "types": one(kind),
            "indexUids": index_uids,
            "progressTrace": {},
        },
        "duration": get("duration"),
        "startedAt": get("startedAt"),
        "finishedAt": get("finishedAt"),
        "batchStrategy": batch_strategy(kind, task.get("uid").and_then(Value::as_u64).unwrap_or(0), task.get("indexUid").and_then(Value::as_str)),
    })
}

/// Why the batch holds this one task, worded as Meilisearch's scheduler words it.
fn batch_strategy(kind: &str, uid: u64, index: Option<&str>) -> String {
    match kind {
        "indexCreation" | "indexUpdate" => {
            format!(
                "created batch containing only task with id {uid} of type `{kind}` that cannot be batched with any other task."
            )
        }
        "indexDeletion" => format!("stopped after task with id {uid} because it deletes the index"),
        "documentAdditionOrUpdate" | "documentDeletion" | "documentEdition" | "settingsUpdate" => {
            match index {
                Some(i) => format!("batched all enqueued tasks for index `{i}`"),
                None => "batched all enqueued tasks".to_string(),
            }
        }
        _ => format!(
            "stopped after the last task of type `{kind}` because they cannot be batched with tasks of any other type."
        ),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_batch_has_the_recorded_shape() {
        let task = json!({"uid": 29, "batchUid": 29, "indexUid": null, "status": "succeeded", "type": "taskDeletion", "canceledBy": null,
            "details": {"matchedTasks": 2, "deletedTasks": 2, "originalFilter": "?uids=0,1"}, "error": null, "duration": "PT0.001880689S",
            "enqueuedAt": "2026-11-21T05:01:24.940423319Z", "startedAt": "2026-11-21T05:01:24.94101358Z", "finishedAt": "2026-11-21T05:01:24.942894269Z"});
        let b = batch_view(&task);
        let keys: Vec<&str> = b.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "uid",
                "progress",
                "details",
                "stats",
                "duration",
                "startedAt",
                "finishedAt",
                "batchStrategy"
            ]
        );
        assert_eq!(b["stats"]["types"], json!({"taskDeletion": 1}));
        assert_eq!(b["stats"]["indexUids"], json!({}));
        assert_eq!(
            b["batchStrategy"],
            json!(
                "stopped after the last task of type `taskDeletion` because they cannot be batched with tasks of any other type."
            )
        );
    }
}
