//! `POST /tasks/cancel` and `DELETE /tasks`: the matching cluster tasks are found in the task
//! index, and the work is done before the answer (the task is stored already finished), so a
//! router that dies half-way leaves no task that claims to be running.
//!
//! Canceling a cluster task cancels its node tasks (`POST /tasks/cancel?uids=...` on each node)
//! and records who asked (`canceledBy`); the task is `canceled` once its nodes say so. A task
//! whose shards had partly finished before the cancelation reached them keeps what those shards
//! wrote: nodes cannot roll back a finished task, and neither can Miroir.
//!
//! Deleting removes the records of finished cluster tasks (never enqueued or processing ones,
//! like Meilisearch) and, best effort, their node tasks.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use miroir_cluster::topology::StoreError;
use miroir_proto::MeiliError;
use miroir_proto::rpc::EnqueuedTask;
use miroir_proto::rpc_tasks::{TaskCancel, TaskDelete};
use miroir_proto::tasks::{ClusterTask, FinishedTask};
use reqwest::Method;
use serde_json::json;

use crate::Router;
use crate::task_filter::{Dynamic, Filter};

/// How long a cancelation waits for its nodes to settle the tasks it canceled.
const CANCEL_WAIT: Duration = Duration::from_secs(10);
/// Node task uids per `?uids=` request, to keep URLs short.
const UIDS_PER_REQUEST: usize = 256;

fn is_final(status: &str) -> bool {
    matches!(status, "succeeded" | "failed" | "canceled")
}

impl Router {
    pub(crate) async fn task_cancel(&self, req: TaskCancel) -> Result<EnqueuedTask, MeiliError> {
        let filter = Filter::new(req.filter)?;
        let matched: Vec<u64> = self
            .matching(&filter, true)
            .await
            .into_iter()
            .map(|(u, _)| u)
            .collect();
        let mut task = self
            .new_task(None, "taskCancelation", json!({"matchedTasks": matched.len(), "canceledTasks": null, "originalFilter": req.original_filter}))
            .await?;
        let started = miroir_cluster::now_rfc3339();
        let unfinished: HashSet<u64> = self.task_index.unfinished().into_iter().collect();
        let mut targets = Vec::new();
        let mut per_node: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        for uid in matched.iter().copied().filter(|u| unfinished.contains(u)) {
            if let Some(record) = self.mark_canceled(uid, task.uid).await {
                for t in &record.node_tasks {
                    per_node.entry(t.node.clone()).or_default().push(t.task_uid);
                }
                targets.push(uid);
            }
        }
        self.on_each_node(Method::POST, "/tasks/cancel", per_node)
            .await;
        let canceled = self
            .wait_final(&targets)
            .await
            .iter()
            .filter(|s| s.as_str() == "canceled")
            .count();
        crate::metrics::tasks_canceled(canceled);
        task.details = json!({"matchedTasks": matched.len(), "canceledTasks": canceled, "originalFilter": task.details["originalFilter"]});
        self.settle(&mut task, started);
        self.enqueued(&task).await
    }

    pub(crate) async fn task_delete(&self, req: TaskDelete) -> Result<EnqueuedTask, MeiliError> {
        let filter = Filter::new(req.filter)?;
        let matched = self.matching(&filter, true).await;
        let mut task = self
            .new_task(None, "taskDeletion", json!({"matchedTasks": matched.len(), "deletedTasks": null, "originalFilter": req.original_filter}))
            .await?;
        let started = miroir_cluster::now_rfc3339();
        let mut deleted = 0usize;
        let mut per_node: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        for (uid, view) in matched.iter() {
            let Ok(Some((record, revision))) = self.tasks.get(*uid).await else {
                continue;
            };
            let status = match (&record.finished, view) {
                (Some(f), _) => f.status.clone(),
                (None, Some(v)) => Dynamic::of_view(v).status,
                (None, None) => {
                    Dynamic::of_view(&self.task_view(record.clone(), revision).await).status
                }
            };
            if !is_final(&status) {
                continue;
            }
            match self.tasks.delete(*uid).await {
                Ok(()) => {
                    deleted += 1;
                    for t in &record.node_tasks {
                        per_node.entry(t.node.clone()).or_default().push(t.task_uid);
                    }
                }
                Err(e) => tracing::warn!(uid, error = %e, "cannot delete a task record"),
            }
        }
        // The node tasks go too, so that nodes do not fill their own task queues.
        self.on_each_node(Method::DELETE, "/tasks", per_node).await;
        task.details = json!({"matchedTasks": matched.len(), "deletedTasks": deleted, "originalFilter": task.details["originalFilter"]});
        self.settle(&mut task, started);
        self.enqueued(&task).await
    }

    /// A task done by the router itself: succeeded, between `started` and now.
    pub(crate) fn settle(&self, task: &mut ClusterTask, started: String) {
        task.finished = Some(FinishedTask {
            status: "succeeded".into(),
            details: task.details.clone(),
            error: None,
            started_at: started,
            finished_at: miroir_cluster::now_rfc3339(),
        });
    }

    /// Record that `by` cancels task `uid`, unless it is final already. The record as written.
    async fn mark_canceled(&self, uid: u64, by: u64) -> Option<ClusterTask> {
        for _ in 0..8 {
            let (mut record, revision) = self.tasks.get(uid).await.ok().flatten()?;
            if record.finished.is_some() {
                return None;
            }
            if record.canceled_by.is_none() {
                record.canceled_by = Some(by);
            }
            match self.tasks.update(&record, revision).await {
                Ok(_) => return Some(record),
                // Someone cached its final view meanwhile: look again.
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => {
                    tracing::warn!(uid, error = %e, "cannot mark a task canceled");
                    return None;
                }
            }
        }
        None
    }

    /// `POST /tasks/cancel?uids=...` or `DELETE /tasks?uids=...` on every node, best effort.
    async fn on_each_node(&self, method: Method, path: &str, per_node: BTreeMap<String, Vec<u64>>) {
        let topology = self.topology.current();
        let calls = per_node.into_iter().flat_map(|(node, uids)| {
            let url = topology.node_url(&node).map(str::to_string);
            uids.chunks(UIDS_PER_REQUEST)
                .map(|chunk| {
                    let list: Vec<String> = chunk.iter().map(u64::to_string).collect();
                    (
                        node.clone(),
                        url.clone(),
                        format!("{path}?uids={}", list.join(",")),
                    )
                })
                .collect::<Vec<_>>()
        });
        let sent = calls.map(|(node, url, target)| {
            let method = method.clone();
            async move {
                let Some(url) = url else { return };
                if let Err(e) = self.nodes.send(&url, method, &target, None).await {
                    tracing::warn!(%node, %target, error = %e, "a node refused to cancel or delete its tasks");
                }
            }
        });
        futures::future::join_all(sent).await;
    }

    /// Poll the tasks until each is final or the wait is over; their last statuses.
    async fn wait_final(&self, uids: &[u64]) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + CANCEL_WAIT;
        loop {
            let mut statuses = Vec::with_capacity(uids.len());
            for uid in uids {
                statuses.push(match self.view_of(*uid).await {
                    Some(view) => Dynamic::of_view(&view).status,
                    // Deleted meanwhile: nothing left to wait for.
                    None => "deleted".to_string(),
                });
            }
            if statuses.iter().all(|s| is_final(s) || s == "deleted")
                || tokio::time::Instant::now() >= deadline
            {
                return statuses;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
