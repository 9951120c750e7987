//! A cluster task's status, derived from its node tasks: failed with the node's error when any
//! failed, succeeded when all did, processing while any runs. Counts in `details` are summed over
//! one copy of each shard (the first replica), so RF copies of a document count once. A final view
//! is cached in the task record, so a finished task costs no node round-trip afterwards.
//! Listings, cancelation and deletion are in [`crate::task_list`] and [`crate::task_admin`].

use std::collections::{BTreeMap, HashSet};

use miroir_proto::rpc::{JsonBody, TaskGet};
use miroir_proto::tasks::{ClusterTask, FinishedTask};
use miroir_proto::{MeiliError, MeiliErrorBody};
use reqwest::Method;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::Router;

/// What the nodes said of one node task.
#[derive(Clone, Debug)]
struct NodeView {
    shard: u16,
    replica: u8,
    status: String,
    task_type: String,
    details: Value,
    error: Option<Value>,
    started_at: Option<String>,
    finished_at: Option<String>,
}

impl Router {
    pub(crate) async fn task_get(&self, req: TaskGet) -> Result<JsonBody, MeiliError> {
        let (task, revision) = self
            .tasks
            .get(req.uid)
            .await
            .map_err(|e| MeiliError::internal(e.to_string()))?
            .ok_or_else(|| MeiliError::task_not_found(req.uid))?;
        let view = self.task_view(task, revision).await;
        Ok(JsonBody {
            body: serde_json::to_vec(&view).unwrap_or_default().into(),
        })
    }

    /// The Meilisearch view of a cluster task, asking its nodes if it is not final yet.
    pub async fn task_view(&self, mut task: ClusterTask, revision: u64) -> Value {
        if let Some(f) = &task.finished {
            return render(
                &task,
                &f.status,
                &f.details,
                f.error.as_ref(),
                Some(&f.started_at),
                Some(&f.finished_at),
            );
        }
        if task.task_type == crate::dump::TASK_TYPE {
            // Written by the router that took it, which records its end (`dump.rs`).
            return crate::dump::unfinished_view(&task);
        }
        let views = self.node_views(&task).await;
        let topo = self.topology.current();
        let record = task.index_uid.as_deref().and_then(|uid| topo.index(uid));
        let storage = record.map(|r| r.storage_base().to_string());
        let rf = record.map(|r| usize::from(r.replication_factor));
        let writes = Writes {
            behind: record
                .map(|r| {
                    r.shards
                        .iter()
                        .enumerate()
                        .flat_map(|(s, p)| {
                            p.lagging.iter().map(move |l| (l.node.clone(), s as u16))
                        })
                        .collect()
                })
                .unwrap_or_default(),
            quorum: &|copies| self.write_quorum(rf.map_or(copies, |rf| rf.min(copies))),
            settling: settling(
                &task,
                OffsetDateTime::now_utc(),
                std::time::Duration::from_millis(self.config.lag_settle_ms),
            ),
        };
        let (status, details, error, started, finished) =
            derive(&task, &views, storage.as_deref(), &writes);
        if matches!(status.as_str(), "succeeded" | "failed" | "canceled") {
            let (Some(s), Some(f)) = (started.clone(), finished.clone()) else {
                return render(
                    &task,
                    &status,
                    &details,
                    error.as_ref(),
                    started.as_deref(),
                    finished.as_deref(),
                );
            };
            task.finished = Some(FinishedTask {
                status: status.clone(),
                details: details.clone(),
                error: error.clone(),
                started_at: s,
                finished_at: f,
            });
            // Cache the final view; a concurrent cache by another router is as good.
            let _ = self.tasks.update(&task, revision).await;
            if status == "failed" && task.task_type == "settingsUpdate" {
                // Some shard may have the new settings and another not: converge them now.
                self.drift.notify_one();
            }
        }
        render(
            &task,
            &status,
            &details,
            error.as_ref(),
            started.as_deref(),
            finished.as_deref(),
        )
    }

    async fn node_views(&self, task: &ClusterTask) -> Vec<Option<NodeView>> {
        let topo = self.topology.current();
        let mut by_node: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
        for t in &task.node_tasks {
            by_node.entry(t.node.as_str()).or_default().push(t.task_uid);
        }
        let lookups = by_node.into_iter().map(|(node, uids)| {
            let url = topo.node_url(node).map(str::to_string);
            async move {
                let Some(url) = url else { return (node, None) };
                let list: Vec<String> = uids.iter().map(u64::to_string).collect();
                let path = format!("/tasks?uids={}&limit={}", list.join(","), uids.len());
                let answer = self.nodes.json(&url, Method::GET, &path, None).await.ok();
                let by_uid: Option<BTreeMap<u64, Value>> = answer.and_then(|a| {
                    let results = a.get("results")?.as_array()?.clone();
                    Some(
                        results
                            .into_iter()
                            .filter_map(|t| Some((t.get("uid")?.as_u64()?, t)))
                            .collect(),
                    )
                });
                (node, by_uid)
            }
        });
        let answers: BTreeMap<&str, Option<BTreeMap<u64, Value>>> =
            futures::future::join_all(lookups)
                .await
                .into_iter()
                .collect();
        task.node_tasks
            .iter()
            .map(|t| {
                let known = answers.get(t.node.as_str())?.as_ref()?;
                let Some(v) = known.get(&t.task_uid) else {
                    // The node answered but no longer knows the task.
                    return Some(NodeView {
                        shard: t.shard,
                        replica: t.replica,
                        status: "failed".into(),
                        task_type: task.task_type.clone(),
                        details: Value::Null,
                        error: Some(
                            MeiliError::internal(format!(
                                "node {} lost task {}",
                                t.node, t.task_uid
                            ))
                            .to_json(),
                        ),
                        started_at: None,
                        finished_at: None,
                    });
                };
                Some(NodeView {
                    shard: t.shard,
                    replica: t.replica,
                    status: v
                        .get("status")
                        .and_then(Value::as_str)
                        .unwrap_or("processing")
                        .to_string(),
                    task_type: v
                        .get("type")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                    details: v.get("details").cloned().unwrap_or(Value::Null),
                    error: v.get("error").filter(|e| !e.is_null()).cloned(),
                    started_at: v
                        .get("startedAt")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    finished_at: v
                        .get("finishedAt")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                })
            })
            .collect()
    }
}

type Derived = (
    String,
    Value,
    Option<MeiliErrorBody>,
    Option<String>,
    Option<String>,
);

/// What the derivation needs to know of the index's copies now.
pub(crate) struct Writes<'a> {
    /// Copies `(node, shard)` that are behind (catching up through their handoff queue).
    pub behind: HashSet<(String, u16)>,
    /// The write quorum of a shard with that many copies.
    pub quorum: &'a (dyn Fn(usize) -> usize + Sync),
    /// Some copy the task was deferred to left the read set less than the settle period ago:
    /// a merger may not have seen it leave yet.
    pub settling: bool,
}

/// Whether a copy the task was deferred to left the read set less than `settle` before `now` (a
/// `since` ahead of this clock, another machine's clock being ahead, holds the task until this
/// clock has passed it by the settle period).
pub(crate) fn settling(
    task: &ClusterTask,
    now: OffsetDateTime,
    settle: std::time::Duration,
) -> bool {
    task.deferred.iter().any(|d| {
        d.since
            .as_deref()
            .and_then(crate::task_index::parse_time)
            .is_some_and(|since| now - since < settle)
    })
}

/// The pure part: node views -> status, details, error, start and end. `storage` is the base of
/// the index's node-local shard names when it is not the index uid (after a swap).
///
/// Hinted handoff: a copy the write was deferred to counts as having applied it once it is no
/// longer behind (its queue was replayed past the write); a node task on a node that does not
/// answer does not hold the task back when its copy is behind (it will be checked when the copy
/// catches up). The task succeeds once every shard has `quorum` copies that applied it.
fn derive(
    task: &ClusterTask,
    views: &[Option<NodeView>],
    storage: Option<&str>,
    writes: &Writes<'_>,
) -> Derived {
    let index_uid = task.index_uid.clone().unwrap_or_default();
    let shard_count = views
        .iter()
        .flatten()
        .map(|v| v.shard + 1)
        .chain(task.deferred.iter().map(|d| d.shard + 1))
        .max()
        .unwrap_or(0);
    let unknown = views
        .iter()
        .zip(&task.node_tasks)
        .any(|(v, t)| v.is_none() && !writes.behind.contains(&(t.node.clone(), t.shard)));
    let known: Vec<&NodeView> = views.iter().flatten().collect();
    let short_of_quorum = (0..shard_count).any(|s| {
        let copies: HashSet<&str> = task
            .node_tasks
            .iter()
            .filter(|t| t.shard == s && t.replica != crate::fanout::INCOMING_REPLICA)
            .map(|t| t.node.as_str())
            .chain(
                task.deferred
                    .iter()
                    .filter(|d| d.shard == s)
                    .map(|d| d.node.as_str()),
            )
            .collect();
        if copies.is_empty() {
            return false;
        }
        let applied = known
            .iter()
            .filter(|v| {
                v.shard == s
                    && v.replica != crate::fanout::INCOMING_REPLICA
                    && v.status == "succeeded"
            })
            .count()
            + task
                .deferred
                .iter()
                .filter(|d| d.shard == s && !writes.behind.contains(&(d.node.clone(), d.shard)))
                .count();
        applied < (writes.quorum)(copies.len())
    });
    let running = known
        .iter()
        .filter(|v| matches!(v.status.as_str(), "enqueued" | "processing"))
        .count();
    let started = known.iter().filter_map(|v| v.started_at.clone()).min();
    let failed_now = known
        .iter()
        .any(|v| matches!(v.status.as_str(), "failed" | "canceled"));
    // A copy that missed the write left the read set a moment ago: a merger whose view of the
    // topology lags could still read it, so the write is not acknowledged yet.
    let holding = short_of_quorum || writes.settling;
    if unknown || running > 0 || (holding && !failed_now && task.fanout_error.is_none()) {
        let all_enqueued =
            !unknown && !known.is_empty() && known.iter().all(|v| v.status == "enqueued");
        let status = if all_enqueued {
            "enqueued"
        } else {
            "processing"
        };
        return (
            status.into(),
            task.details.clone(),
            None,
            if all_enqueued { None } else { started },
            None,
        );
    }
    let finished = known.iter().filter_map(|v| v.finished_at.clone()).max();
    let failed = known.iter().find(|v| v.status == "failed");
    let canceled = known.iter().any(|v| v.status == "canceled");
    let (status, error) = match (failed, canceled, &task.fanout_error) {
        (Some(v), _, _) => {
            let err = v
                .error
                .as_ref()
                .and_then(|e| serde_json::from_value::<MeiliErrorBody>(e.clone()).ok())
                .map(|b| {
                    let e = MeiliError {
                        status: 400,
                        code: b.code,
                        error_type: b.error_type,
                        message: b.message,
                    };
                    miroir_cluster::rewrite_shard_names(
                        e,
                        storage.unwrap_or(&index_uid),
                        &index_uid,
                    )
                    .body()
                });
            ("failed", err)
        }
        (None, true, _) => ("canceled", None),
        (None, false, Some(e)) => ("failed", Some(e.clone())),
        (None, false, None) => ("succeeded", None),
    };
    let details = merge_details(task, &known, status != "succeeded");
    let now = miroir_cluster::now_rfc3339();
    (
        status.into(),
        details,
        error,
        Some(started.unwrap_or_else(|| now.clone())),
        Some(finished.unwrap_or(now)),
    )
}

/// Counts are summed over the first replica of each shard, for the node tasks of the cluster
/// task's own type (an implicit index creation is not part of a document task's counts). A task
/// that failed or was canceled counts zero, as Meilisearch's do.
fn merge_details(task: &ClusterTask, views: &[&NodeView], failed: bool) -> Value {
    let mut details = match &task.details {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    let own: Vec<&&NodeView> = views
        .iter()
        .filter(|v| v.task_type == task.task_type && v.replica == 0)
        .collect();
    for key in ["indexedDocuments", "deletedDocuments"] {
        if details.contains_key(key) {
            let sum: u64 = if failed {
                0
            } else {
                own.iter()
                    .filter_map(|v| v.details.get(key)?.as_u64())
                    .sum()
            };
            details.insert(key.into(), json!(sum));
        }
    }
    if task.task_type == "settingsUpdate"
        && let Some(Value::Object(first)) = own.first().map(|v| v.details.clone())
    {
        details = first;
    }
    if task.task_type == "indexCompaction" && !failed {
        // Every copy compacted its own files: the cluster's sizes are the sums over all copies.
        let copies: Vec<&&NodeView> = views
            .iter()
            .filter(|v| v.task_type == task.task_type)
            .collect();
        for key in ["preCompactionSize", "postCompactionSize"] {
            let sizes: Option<Vec<u64>> = copies
                .iter()
                .map(|v| crate::sizes::parse(v.details.get(key)?))
                .collect();
            if let Some(sizes) = sizes.filter(|s| !s.is_empty()) {
                details.insert(key.into(), json!(crate::sizes::human(sizes.iter().sum())));
            }
        }
    }
    Value::Object(details)
}

pub(crate) fn render(
    task: &ClusterTask,
    status: &str,
    details: &Value,
    error: Option<&MeiliErrorBody>,
    started: Option<&str>,
    finished: Option<&str>,
) -> Value {
    let duration = match (started, finished) {
        (Some(s), Some(f)) => iso_duration(s, f).map(Value::String).unwrap_or(Value::Null),
        _ => Value::Null,
    };
    // One batch per cluster task, numbered as the task.
    let batch_uid = if status == "enqueued" {
        Value::Null
    } else {
        json!(task.uid)
    };
    let canceled_by = task.canceled_by.filter(|_| status == "canceled");
    let mut view = json!({
        "uid": task.uid,
        "batchUid": batch_uid,
        "indexUid": task.index_uid,
        "status": status,
        "type": task.task_type,
        "canceledBy": canceled_by,
        "details": details,
        "error": error.map(|e| serde_json::to_value(e).unwrap_or(Value::Null)),
        "duration": duration,
        "enqueuedAt": task.enqueued_at,
        "startedAt": started,
        "finishedAt": finished,
    });
    // Last, and only when the client gave one, as a node shows it.
    if let (Some(meta), Value::Object(map)) = (&task.custom_metadata, &mut view) {
        map.insert("customMetadata".into(), json!(meta));
    }
    view
}

/// `PT0.003621261S`, as Meilisearch prints durations.
pub(crate) fn iso_duration(start: &str, end: &str) -> Option<String> {
    let s = OffsetDateTime::parse(start, &Rfc3339).ok()?;
    let e = OffsetDateTime::parse(end, &Rfc3339).ok()?;
    let d = (e - s).max(time::Duration::ZERO);
    Some(format!(
        "PT{}.{:09}S",
        d.whole_seconds(),
        d.subsec_nanoseconds()
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use miroir_proto::ErrorCode;
    use miroir_proto::tasks::NodeTaskRef;

    fn task(kind: &str, details: Value) -> ClusterTask {
        ClusterTask {
            uid: 7,
            index_uid: Some("movies".into()),
            task_type: kind.into(),
            enqueued_at: "2026-11-21T05:01:17.2Z".into(),
            details,
            node_tasks: (0..4)
                .map(|i| NodeTaskRef {
                    node: format!("n{i}"),
                    shard: i / 2,
                    replica: (i % 2) as u8,
                    task_uid: 1,
                })
                .collect(),
            finished: None,
            fanout_error: None,
            canceled_by: None,
            deferred: Vec::new(),
            custom_metadata: None,
        }
    }

    fn writes() -> Writes<'static> {
        Writes {
            behind: HashSet::new(),
            quorum: &|_| 1,
            settling: false,
        }
    }

    /// A document write whose shard 1 second copy (n3) was down: deferred, no node task; out of
    /// the reads since `since`.
    fn deferred_to_n3(since: Option<&str>) -> ClusterTask {
        let mut t = task(
            "documentAdditionOrUpdate",
            json!({"receivedDocuments": 5, "indexedDocuments": null}),
        );
        t.node_tasks.retain(|n| n.node != "n3");
        t.deferred.push(miroir_proto::tasks::DeferredCopy {
            node: "n3".into(),
            shard: 1,
            since: since.map(str::to_string),
        });
        t
    }

    /// Every copy but n3 applied the write.
    fn all_but_n3() -> Vec<Option<NodeView>> {
        vec![
            view(0, 0, "succeeded", 2),
            view(0, 1, "succeeded", 2),
            view(1, 0, "succeeded", 3),
        ]
    }

    #[test]
    fn a_deferred_copy_counts_once_caught_up_and_all_deferred_waits() {
        let mut t = deferred_to_n3(None);
        let views = all_but_n3();
        let mut w = writes();
        w.behind.insert(("n3".into(), 1));
        assert_eq!(
            derive(&t, &views, None, &w).0,
            "succeeded",
            "quorum 1 met by n2 while n3 catches up"
        );
        let all = |_: usize| 2;
        let strict = Writes {
            behind: w.behind.clone(),
            quorum: &all,
            settling: false,
        };
        assert_eq!(
            derive(&t, &views, None, &strict).0,
            "processing",
            "quorum 2 waits for n3"
        );
        let caught_up = Writes {
            behind: HashSet::new(),
            quorum: &all,
            settling: false,
        };
        assert_eq!(
            derive(&t, &views, None, &caught_up).0,
            "succeeded",
            "n3 caught up"
        );
        // Shard 1 entirely deferred: not final until one copy catches up; nothing is reported failed.
        t.node_tasks.retain(|n| n.shard != 1);
        t.deferred.push(miroir_proto::tasks::DeferredCopy {
            node: "n2".into(),
            shard: 1,
            since: None,
        });
        let views = vec![view(0, 0, "succeeded", 2), view(0, 1, "succeeded", 2)];
        let mut both = writes();
        both.behind.insert(("n3".into(), 1));
        both.behind.insert(("n2".into(), 1));
        assert_eq!(derive(&t, &views, None, &both).0, "processing");
        both.behind.remove(&("n2".to_string(), 1));
        assert_eq!(derive(&t, &views, None, &both).0, "succeeded");
    }

    #[test]
    fn a_write_deferred_to_a_copy_that_just_left_the_reads_waits_out_the_settle() {
        let mut t = deferred_to_n3(Some("2026-12-05T10:00:00.5Z"));
        let at = |s: &str| crate::task_index::parse_time(s).unwrap();
        let settle = std::time::Duration::from_secs(1);
        let views = all_but_n3();
        let mut w = writes();
        w.behind.insert(("n3".into(), 1));
        for (now, status) in [
            ("2026-12-05T10:00:00.2Z", "processing"), // another clock ahead: just now
            ("2026-12-05T10:00:01.4Z", "processing"),
            ("2026-12-05T10:00:01.5Z", "succeeded"),
            ("2026-12-05T10:05:00Z", "succeeded"),
        ] {
            w.settling = settling(&t, at(now), settle);
            assert_eq!(derive(&t, &views, None, &w).0, status, "at {now}");
        }
        // Copies out of the reads since before the stamp existed, or never marked (a migration
        // target): nothing to wait for.
        t.deferred[0].since = None;
        assert!(!settling(&t, at("2026-12-05T10:00:00.6Z"), settle));
        // A failure is reported at once: nothing was acknowledged.
        w.settling = true;
        let failed = vec![
            view(0, 0, "succeeded", 2),
            view(0, 1, "succeeded", 2),
            view(1, 0, "failed", 0),
        ];
        assert_eq!(derive(&t, &failed, None, &w).0, "failed");
    }

    #[test]
    fn an_unanswering_node_holds_the_task_only_while_its_copy_is_read() {
        let t = task(
            "documentAdditionOrUpdate",
            json!({"receivedDocuments": 5, "indexedDocuments": null}),
        );
        let views = vec![
            view(0, 0, "succeeded", 2),
            view(0, 1, "succeeded", 2),
            view(1, 0, "succeeded", 3),
            None,
        ];
        assert_eq!(derive(&t, &views, None, &writes()).0, "processing");
        let mut w = writes();
        w.behind.insert(("n3".into(), 1));
        assert_eq!(derive(&t, &views, None, &w).0, "succeeded");
    }

    fn view(shard: u16, replica: u8, status: &str, indexed: u64) -> Option<NodeView> {
        Some(NodeView {
            shard,
            replica,
            status: status.into(),
            task_type: "documentAdditionOrUpdate".into(),
            details: json!({"receivedDocuments": indexed, "indexedDocuments": indexed}),
            error: (status == "failed").then(|| {
                MeiliError::new(
                    ErrorCode::InvalidDocumentFilter,
                    "Index `movies__s1`: Attribute `title` is not filterable.",
                )
                .to_json()
            }),
            started_at: Some(format!("2026-11-21T05:01:17.{}Z", 3 + shard)),
            finished_at: Some(format!("2026-11-21T05:01:18.{}Z", 1 + shard)),
        })
    }

    #[test]
    fn succeeded_counts_one_copy_per_shard() {
        let t = task(
            "documentAdditionOrUpdate",
            json!({"receivedDocuments": 5, "indexedDocuments": null}),
        );
        let views = vec![
            view(0, 0, "succeeded", 2),
            view(0, 1, "succeeded", 2),
            view(1, 0, "succeeded", 3),
            view(1, 1, "succeeded", 3),
        ];
        let (status, details, error, started, finished) = derive(&t, &views, None, &writes());
        assert_eq!(status, "succeeded");
        assert_eq!(
            details,
            json!({"receivedDocuments": 5, "indexedDocuments": 5})
        );
        assert!(error.is_none());
        assert_eq!(started.as_deref(), Some("2026-11-21T05:01:17.3Z"));
        assert_eq!(finished.as_deref(), Some("2026-11-21T05:01:18.2Z"));
        assert_eq!(
            iso_duration("2026-11-21T05:01:17.3Z", "2026-11-21T05:01:18.2Z").unwrap(),
            "PT0.900000000S"
        );
    }

    #[test]
    fn one_failure_fails_the_task_with_the_clients_index_name() {
        let t = task(
            "documentAdditionOrUpdate",
            json!({"receivedDocuments": 5, "indexedDocuments": null}),
        );
        let views = vec![
            view(0, 0, "succeeded", 2),
            view(0, 1, "succeeded", 2),
            view(1, 0, "failed", 0),
            view(1, 1, "failed", 0),
        ];
        let (status, details, error, _, _) = derive(&t, &views, None, &writes());
        assert_eq!(status, "failed");
        assert_eq!(details["indexedDocuments"], json!(0));
        assert_eq!(
            error.unwrap().message,
            "Index `movies`: Attribute `title` is not filterable."
        );
    }

    #[test]
    fn running_or_unreachable_is_not_final() {
        let t = task(
            "documentAdditionOrUpdate",
            json!({"receivedDocuments": 5, "indexedDocuments": null}),
        );
        let views = vec![
            view(0, 0, "enqueued", 0),
            view(0, 1, "enqueued", 0),
            view(1, 0, "enqueued", 0),
            view(1, 1, "enqueued", 0),
        ];
        assert_eq!(derive(&t, &views, None, &writes()).0, "enqueued");
        let views = vec![
            view(0, 0, "succeeded", 2),
            view(0, 1, "processing", 0),
            view(1, 0, "enqueued", 0),
            None,
        ];
        assert_eq!(derive(&t, &views, None, &writes()).0, "processing");
    }

    #[test]
    fn swapped_shard_names_become_the_clients_index() {
        let e = MeiliError::new(
            ErrorCode::InvalidDocumentFilter,
            "Index `a__s1`: Attribute `title` is not filterable.",
        );
        assert_eq!(
            miroir_cluster::rewrite_shard_names(e, "a", "b").message,
            "Index `b`: Attribute `title` is not filterable."
        );
        let t = task(
            "documentAdditionOrUpdate",
            json!({"receivedDocuments": 5, "indexedDocuments": null}),
        );
        let mut v = view(1, 0, "failed", 0);
        if let Some(v) = v.as_mut() {
            v.error = Some(
                MeiliError::new(
                    ErrorCode::InvalidDocumentFilter,
                    "Index `old__s1`: Attribute `title` is not filterable.",
                )
                .to_json(),
            );
        }
        let views = vec![view(0, 0, "succeeded", 2), v];
        let (_, _, error, _, _) = derive(&t, &views, Some("old"), &writes());
        assert_eq!(
            error.unwrap().message,
            "Index `movies`: Attribute `title` is not filterable."
        );
    }

    #[test]
    fn compaction_sums_the_sizes_of_every_copy_and_shows_custom_metadata() {
        let mut t = task(
            "indexCompaction",
            json!({"preCompactionSize": null, "postCompactionSize": null}),
        );
        t.custom_metadata = Some("nightly".into());
        let views: Vec<Option<NodeView>> = (0..4u16)
            .map(|i| {
                Some(NodeView {
                    shard: i / 2,
                    replica: (i % 2) as u8,
                    status: "succeeded".into(),
                    task_type: "indexCompaction".into(),
                    details: json!({"preCompactionSize": "208 KiB", "postCompactionSize": "76 KiB"}),
                    error: None,
                    started_at: Some("2026-11-21T05:01:17.3Z".into()),
                    finished_at: Some("2026-11-21T05:01:17.4Z".into()),
                })
            })
            .collect();
        let (status, details, _, started, finished) = derive(&t, &views, None, &writes());
        assert_eq!(status, "succeeded");
        assert_eq!(
            details,
            json!({"preCompactionSize": "832 KiB", "postCompactionSize": "304 KiB"})
        );
        let v = render(
            &t,
            &status,
            &details,
            None,
            started.as_deref(),
            finished.as_deref(),
        );
        assert_eq!(v["customMetadata"], json!("nightly"));
        let last = v.as_object().and_then(|m| m.keys().next_back().cloned());
        assert_eq!(last.as_deref(), Some("customMetadata"));
        t.custom_metadata = None;
        let v = render(
            &t,
            &status,
            &details,
            None,
            started.as_deref(),
            finished.as_deref(),
        );
        assert!(v.get("customMetadata").is_none());
    }

    #[test]
    fn a_canceled_task_counts_nothing_and_names_its_canceler() {
        let mut t = task(
            "documentAdditionOrUpdate",
            json!({"receivedDocuments": 5, "indexedDocuments": null}),
        );
        t.canceled_by = Some(9);
        let views = vec![
            view(0, 0, "succeeded", 2),
            view(0, 1, "succeeded", 2),
            view(1, 0, "canceled", 0),
            view(1, 1, "canceled", 0),
        ];
        let (status, details, _, started, finished) = derive(&t, &views, None, &writes());
        assert_eq!(status, "canceled");
        assert_eq!(details["indexedDocuments"], json!(0));
        let v = render(
            &t,
            &status,
            &details,
            None,
            started.as_deref(),
            finished.as_deref(),
        );
        assert_eq!(v["canceledBy"], json!(9));
        assert_eq!(v["batchUid"], json!(7));
        let v = render(
            &t,
            "succeeded",
            &details,
            None,
            started.as_deref(),
            finished.as_deref(),
        );
        assert_eq!(v["canceledBy"], Value::Null);
    }
}
