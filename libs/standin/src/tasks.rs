//! The task queue: what each asynchronous operation carries, its lifecycle (`enqueued` ->
//! `processing` -> `succeeded` | `failed` | `canceled`), its `details` as Meilisearch shows them,
//! the batches that processed them, and the filters of `/tasks` and `/batches`.

use std::collections::BTreeMap;
use std::sync::Arc;

use miroir_proto::error::{ErrorCode, MeiliError};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::auth::Access;
use crate::deserr::{self, QueryParams};
use crate::engine::Document;
use crate::settings::SettingsPatch;
use crate::store::{invalid_index_uid_message, valid_index_uid};
use crate::time_fmt::{iso_duration, rfc3339, rfc3339_value};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Enqueued,
    Processing,
    Succeeded,
    Failed,
    Canceled,
}

pub const STATUSES: &[&str] = &["enqueued", "processing", "succeeded", "failed", "canceled"];

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Enqueued => "enqueued",
            Status::Processing => "processing",
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
            Status::Canceled => "canceled",
        }
    }

    pub fn is_finished(self) -> bool {
        matches!(self, Status::Succeeded | Status::Failed | Status::Canceled)
    }

    fn parse(s: &str) -> Option<Status> {
        let all = [
            Status::Enqueued,
            Status::Processing,
            Status::Succeeded,
            Status::Failed,
            Status::Canceled,
        ];
        all.into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s))
    }
}

/// Every task type of Meilisearch 1.50, in its order.
pub const TYPES: &[&str] = &[
    "documentAdditionOrUpdate",
    "documentEdition",
    "documentDeletion",
    "settingsUpdate",
    "indexCreation",
    "indexDeletion",
    "indexUpdate",
    "indexSwap",
    "taskCancelation",
    "taskDeletion",
    "dumpCreation",
    "snapshotCreation",
    "export",
    "upgradeDatabase",
    "indexCompaction",
    "networkTopologyChange",
];

/// What a task does.
#[derive(Clone, Debug)]
pub enum TaskContent {
    DocumentAdditionOrUpdate {
        documents: Arc<Vec<Document>>,
        primary_key: Option<String>,
        merge: bool,
        /// `?skipCreation=true`: only documents the index holds are updated.
        skip_creation: bool,
    },
    DocumentDeletion {
        ids: Vec<String>,
    },
    DocumentDeletionByFilter {
        filter: Value,
    },
    DocumentClear,
    SettingsUpdate {
        patch: Box<SettingsPatch>,
    },
    IndexCreation {
        primary_key: Option<String>,
    },
    IndexUpdate {
        primary_key: Option<String>,
        new_uid: Option<String>,
    },
    IndexDeletion,
    IndexSwap {
        swaps: Vec<(String, String, bool)>,
    },
    TaskCancelation {
        query: String,
        tasks: Vec<u32>,
    },
    TaskDeletion {
        query: String,
        tasks: Vec<u32>,
    },
    DumpCreation,
    IndexCompaction,
}

impl TaskContent {
    pub fn type_name(&self) -> &'static str {
        match self {
            TaskContent::DocumentAdditionOrUpdate { .. } => "documentAdditionOrUpdate",
            TaskContent::DocumentDeletion { .. }
            | TaskContent::DocumentDeletionByFilter { .. }
            | TaskContent::DocumentClear => "documentDeletion",
            TaskContent::SettingsUpdate { .. } => "settingsUpdate",
            TaskContent::IndexCreation { .. } => "indexCreation",
            TaskContent::IndexUpdate { .. } => "indexUpdate",
            TaskContent::IndexDeletion => "indexDeletion",
            TaskContent::IndexSwap { .. } => "indexSwap",
            TaskContent::TaskCancelation { .. } => "taskCancelation",
            TaskContent::TaskDeletion { .. } => "taskDeletion",
            TaskContent::DumpCreation => "dumpCreation",
            TaskContent::IndexCompaction => "indexCompaction",
        }
    }

    /// The details a task shows while it waits.
    fn initial_details(&self) -> Map<String, Value> {
        let m = |v: Value| v.as_object().cloned().unwrap_or_default();
        match self {
            TaskContent::DocumentAdditionOrUpdate { documents, .. } => {
                m(json!({"receivedDocuments": documents.len(), "indexedDocuments": null}))
            }
            TaskContent::DocumentDeletion { ids } => m(
                json!({"providedIds": ids.len(), "deletedDocuments": null, "originalFilter": null}),
            ),
            TaskContent::DocumentDeletionByFilter { filter } => m(
                json!({"providedIds": 0, "deletedDocuments": null, "originalFilter": filter.to_string()}),
            ),
            TaskContent::DocumentClear | TaskContent::IndexDeletion => {
                m(json!({"deletedDocuments": null}))
            }
            TaskContent::SettingsUpdate { patch } => patch.details(),
            TaskContent::IndexCreation { primary_key } => m(json!({"primaryKey": primary_key})),
            TaskContent::IndexUpdate {
                primary_key,
                new_uid,
            } => {
                let mut d = m(json!({"primaryKey": primary_key}));
                if let Some(new_uid) = new_uid {
                    d.insert("newIndexUid".into(), json!(new_uid));
                }
                d
            }
            TaskContent::IndexSwap { swaps } => m(json!({
                "swaps": swaps.iter().map(|(a, b, rename)| json!({"indexes": [a, b], "rename": rename})).collect::<Vec<_>>()
            })),
            TaskContent::TaskCancelation { query, tasks } => m(
                json!({"matchedTasks": tasks.len(), "canceledTasks": null, "originalFilter": query}),
            ),
            TaskContent::TaskDeletion { query, tasks } => m(
                json!({"matchedTasks": tasks.len(), "deletedTasks": null, "originalFilter": query}),
            ),
            TaskContent::DumpCreation => m(json!({"dumpUid": null})),
            TaskContent::IndexCompaction => {
                m(json!({"preCompactionSize": null, "postCompactionSize": null}))
            }
        }
    }

    fn indexes(&self, index_uid: Option<&str>) -> Vec<String> {
        match self {
            TaskContent::IndexSwap { swaps } => swaps
                .iter()
                .flat_map(|(a, b, _)| [a.clone(), b.clone()])
                .collect(),
            _ => index_uid.map(|u| vec![u.to_string()]).unwrap_or_default(),
        }
    }
}

/// One task.
#[derive(Clone, Debug)]
pub struct Task {
    pub uid: u32,
    pub batch_uid: Option<u32>,
    pub index_uid: Option<String>,
    pub status: Status,
    pub content: TaskContent,
    pub details: Map<String, Value>,
    pub error: Option<MeiliError>,
    pub canceled_by: Option<u32>,
    pub enqueued_at: OffsetDateTime,
    pub started_at: Option<OffsetDateTime>,
    pub finished_at: Option<OffsetDateTime>,
    /// The client's `?customMetadata=`, shown last in the task and its 202.
    pub custom_metadata: Option<String>,
}

impl Task {
    fn with_custom_metadata(&self, mut v: Value) -> Value {
        if let (Some(meta), Value::Object(map)) = (&self.custom_metadata, &mut v) {
            map.insert("customMetadata".into(), json!(meta));
        }
        v
    }

    /// `GET /tasks/{uid}`.
    pub fn view(&self) -> Value {
        self.with_custom_metadata(json!({
            "uid": self.uid,
            "batchUid": self.batch_uid,
            "indexUid": self.index_uid,
            "status": self.status.as_str(),
            "type": self.content.type_name(),
            "canceledBy": self.canceled_by,
            "details": self.details,
            "error": self.error.as_ref().map(MeiliError::to_json),
            "duration": self.duration(),
            "enqueuedAt": rfc3339(self.enqueued_at),
            "startedAt": rfc3339_value(self.started_at),
            "finishedAt": rfc3339_value(self.finished_at),
        }))
    }

    /// The 202 answer to the request that enqueued it.
    pub fn summary(&self) -> Value {
        self.with_custom_metadata(json!({
            "taskUid": self.uid,
            "indexUid": self.index_uid,
            "status": self.status.as_str(),
            "type": self.content.type_name(),
            "enqueuedAt": rfc3339(self.enqueued_at),
        }))
    }

    fn duration(&self) -> Option<String> {
        match (self.started_at, self.finished_at) {
            (Some(s), Some(f)) => iso_duration(f - s),
            _ => None,
        }
    }

    pub fn indexes(&self) -> Vec<String> {
        self.content.indexes(self.index_uid.as_deref())
    }

    /// A failed or canceled task's counters read zero, as Meilisearch's `to_failed` makes them.
    pub fn zero_counters(&mut self) {
        for key in [
            "indexedDocuments",
            "deletedDocuments",
            "canceledTasks",
            "deletedTasks",
        ] {
            if let Some(v) = self.details.get_mut(key) {
                *v = json!(0);
            }
        }
    }

    fn visible_to(&self, access: &Access) -> bool {
        if access.indexes.is_none() {
            return true;
        }
        let indexes = self.indexes();
        !indexes.is_empty() && indexes.iter().all(|i| access.allows_index(i))
    }
}

/// One batch. The stand-in processes one task per batch.
#[derive(Clone, Debug)]
pub struct Batch {
    pub uid: u32,
    pub tasks: Vec<u32>,
    pub started_at: OffsetDateTime,
    pub finished_at: Option<OffsetDateTime>,
    pub strategy: String,
    pub trace: Map<String, Value>,
}

impl Batch {
    fn view(&self, queue: &Queue) -> Value {
        let tasks: Vec<&Task> = self
            .tasks
            .iter()
            .filter_map(|t| queue.tasks.get(t))
            .collect();
        let mut details = Map::new();
        let (mut statuses, mut types, mut indexes) = (Map::new(), Map::new(), Map::new());
        for t in &tasks {
            for (k, v) in &t.details {
                details.entry(k.clone()).or_insert_with(|| v.clone());
            }
            bump(&mut statuses, t.status.as_str());
            bump(&mut types, t.content.type_name());
            if let Some(uid) = &t.index_uid {
                bump(&mut indexes, uid);
            }
        }
        let progress = match self.finished_at {
            Some(_) => Value::Null,
            None => {
                json!({"steps": [{"currentStep": "processing tasks", "finished": 0, "total": 1}], "percentage": 0.0})
            }
        };
        json!({
            "uid": self.uid,
            "progress": progress,
            "details": details,
            "stats": {
                "totalNbTasks": tasks.len(),
                "status": statuses,
                "types": types,
                "indexUids": indexes,
                "progressTrace": self.trace,
            },
            "duration": self.finished_at.and_then(|f| iso_duration(f - self.started_at)),
            "startedAt": rfc3339(self.started_at),
            "finishedAt": rfc3339_value(self.finished_at),
            "batchStrategy": self.strategy,
        })
    }
}

fn bump(map: &mut Map<String, Value>, key: &str) {
    let n = map.get(key).and_then(Value::as_u64).unwrap_or(0);
    map.insert(key.to_string(), json!(n + 1));
}

/// Why Meilisearch's scheduler stops a batch after this task, when it is the only one.
pub fn batch_strategy(task: &Task) -> String {
    let kind = task.content.type_name();
    match &task.content {
        TaskContent::IndexCreation { .. } | TaskContent::IndexUpdate { .. } => format!(
            "created batch containing only task with id {} of type `{kind}` that cannot be batched with any other task.",
            task.uid
        ),
        TaskContent::IndexDeletion => format!(
            "stopped after task with id {} because it deletes the index",
            task.uid
        ),
        TaskContent::DocumentAdditionOrUpdate { .. }
        | TaskContent::DocumentDeletion { .. }
        | TaskContent::DocumentDeletionByFilter { .. }
        | TaskContent::DocumentClear
        | TaskContent::SettingsUpdate { .. } => match &task.index_uid {
            Some(uid) => format!("batched all enqueued tasks for index `{uid}`"),
            None => "batched all enqueued tasks".to_string(),
        },
        _ => format!(
            "stopped after the last task of type `{kind}` because they cannot be batched with tasks of any other type."
        ),
    }
}

/// Every task and batch of the node.
#[derive(Default)]
pub struct Queue {
    pub tasks: BTreeMap<u32, Task>,
    pub batches: BTreeMap<u32, Batch>,
    next_task: u32,
    next_batch: u32,
}

impl Queue {
    /// Enqueues a task and returns it.
    pub fn register(&mut self, index_uid: Option<String>, content: TaskContent) -> &Task {
        let uid = self.next_task;
        self.next_task = self.next_task.saturating_add(1);
        let mut details = content.initial_details();
        if let (
            TaskContent::IndexUpdate {
                new_uid: Some(_), ..
            },
            Some(old),
        ) = (&content, &index_uid)
        {
            // A rename names both uids, the old one first.
            let new = details.remove("newIndexUid");
            details.insert("oldIndexUid".into(), json!(old));
            if let Some(new) = new {
                details.insert("newIndexUid".into(), new);
            }
        }
        let task = Task {
            uid,
            batch_uid: None,
            index_uid,
            status: Status::Enqueued,
            details,
            content,
            error: None,
            canceled_by: None,
            enqueued_at: crate::time_fmt::now(),
            started_at: None,
            finished_at: None,
            custom_metadata: None,
        };
        self.tasks.entry(uid).or_insert(task)
    }

    /// The next task to process, with Meilisearch's priorities: cancelations, then deletions,
    /// then dumps, then everything else in order.
    pub fn next_to_process(&self) -> Option<u32> {
        let enqueued = || self.tasks.values().filter(|t| t.status == Status::Enqueued);
        let of = |pred: &dyn Fn(&TaskContent) -> bool| {
            enqueued().find(|t| pred(&t.content)).map(|t| t.uid)
        };
        of(&|c| matches!(c, TaskContent::TaskCancelation { .. }))
            .or_else(|| of(&|c| matches!(c, TaskContent::TaskDeletion { .. })))
            .or_else(|| of(&|c| matches!(c, TaskContent::DumpCreation)))
            .or_else(|| enqueued().next().map(|t| t.uid))
    }

    /// Marks a task processing in a batch of its own; returns the batch uid.
    pub fn start(&mut self, uid: u32, at: OffsetDateTime) -> Option<u32> {
        let task = self.tasks.get_mut(&uid)?;
        let batch_uid = self.next_batch;
        self.next_batch = self.next_batch.saturating_add(1);
        task.status = Status::Processing;
        task.started_at = Some(at);
        task.batch_uid = Some(batch_uid);
        let strategy = batch_strategy(task);
        self.batches.insert(
            batch_uid,
            Batch {
                uid: batch_uid,
                tasks: vec![uid],
                started_at: at,
                finished_at: None,
                strategy,
                trace: Map::new(),
            },
        );
        Some(batch_uid)
    }

    /// Puts a task interrupted before it changed anything back in the queue.
    pub fn abort(&mut self, uid: u32) {
        if let Some(task) = self.tasks.get_mut(&uid) {
            if let Some(batch) = task.batch_uid.take() {
                self.batches.remove(&batch);
                if batch.checked_add(1) == Some(self.next_batch) {
                    self.next_batch = batch;
                }
            }
            task.status = Status::Enqueued;
            task.started_at = None;
        }
    }

    /// Records how a task ended, and closes its batch.
    pub fn finish(
        &mut self,
        uid: u32,
        outcome: Result<Map<String, Value>, MeiliError>,
        at: OffsetDateTime,
    ) {
        let Some(task) = self.tasks.get_mut(&uid) else {
            return;
        };
        match outcome {
            Ok(details) => {
                task.status = Status::Succeeded;
                for (k, v) in details {
                    task.details.insert(k, v);
                }
            }
            Err(e) => {
                task.status = Status::Failed;
                task.zero_counters();
                task.error = Some(e);
            }
        }
        task.finished_at = Some(at);
        if let TaskContent::DocumentAdditionOrUpdate { documents, .. } = &mut task.content {
            // The payload is not needed once processed.
            *documents = Arc::new(Vec::new());
        }
        if let Some(batch) = task.batch_uid.and_then(|b| self.batches.get_mut(&b)) {
            batch.finished_at = Some(at);
            let took = crate::time_fmt::short_duration(at - batch.started_at);
            batch.trace.insert("processing tasks".into(), json!(took));
            batch.trace.insert(
                "writing tasks to disk".into(),
                json!(crate::time_fmt::short_duration(time::Duration::ZERO)),
            );
        }
    }

    /// Cancels the listed tasks still waiting; returns how many.
    pub fn cancel(
        &mut self,
        uids: &[u32],
        by: u32,
        batch_uid: Option<u32>,
        started: OffsetDateTime,
        at: OffsetDateTime,
    ) -> u64 {
        let mut canceled = 0;
        for uid in uids {
            if let Some(task) = self.tasks.get_mut(uid)
                && matches!(task.status, Status::Enqueued | Status::Processing)
                && task.uid != by
            {
                task.status = Status::Canceled;
                task.canceled_by = Some(by);
                task.started_at = Some(started);
                task.finished_at = Some(at);
                task.batch_uid = batch_uid;
                task.zero_counters();
                if let Some(batch) = batch_uid.and_then(|b| self.batches.get_mut(&b)) {
                    batch.tasks.push(task.uid);
                }
                canceled += 1;
            }
        }
        canceled
    }

    /// Deletes the listed tasks that are finished; returns how many. Batches left without
    /// tasks go with them.
    pub fn delete(&mut self, uids: &[u32]) -> u64 {
        let mut deleted = 0;
        for uid in uids {
            if self.tasks.get(uid).is_some_and(|t| t.status.is_finished()) {
                self.tasks.remove(uid);
                deleted += 1;
            }
        }
        let tasks = &self.tasks;
        for batch in self.batches.values_mut() {
            batch.tasks.retain(|t| tasks.contains_key(t));
        }
        self.batches.retain(|_, b| !b.tasks.is_empty());
        deleted
    }

    /// After an index swap, the history follows the indexes: tasks enqueued before the swap
    /// name the index under its new uid.
    pub fn rename_indexes(&mut self, before: u32, swaps: &[(String, String, bool)]) {
        for task in self.tasks.values_mut().filter(|t| t.uid < before) {
            if let Some(uid) = &task.index_uid {
                for (a, b, rename) in swaps {
                    if uid == a {
                        task.index_uid = Some(b.clone());
                        break;
                    }
                    if uid == b && !rename {
                        task.index_uid = Some(a.clone());
                        break;
                    }
                }
            }
        }
    }

    pub fn is_indexing(&self, index_uid: &str) -> bool {
        self.tasks
            .values()
            .any(|t| t.status == Status::Processing && t.index_uid.as_deref() == Some(index_uid))
    }

    pub fn matching(&self, filter: &TaskFilter, access: &Access) -> Vec<u32> {
        self.tasks
            .values()
            .filter(|t| filter.matches(t) && t.visible_to(access))
            .map(|t| t.uid)
            .collect()
    }

    /// `GET /tasks`.
    pub fn list(&self, filter: &TaskFilter, page: &Page, access: &Access) -> Value {
        let tasks: Vec<&Task> = self
            .tasks
            .values()
            .filter(|t| filter.matches(t) && t.visible_to(access))
            .collect();
        paginate(tasks.iter().map(|t| (t.uid, t.view())).collect(), page)
    }

    /// `GET /batches`.
    pub fn list_batches(&self, filter: &TaskFilter, page: &Page, access: &Access) -> Value {
        let batches: Vec<(u32, Value)> = self
            .batches
            .values()
            .filter(|b| {
                let tasks: Vec<&Task> = b.tasks.iter().filter_map(|t| self.tasks.get(t)).collect();
                filter.matches_batch(b.uid, &tasks) && tasks.iter().all(|t| t.visible_to(access))
            })
            .map(|b| (b.uid, b.view(self)))
            .collect();
        paginate(batches, page)
    }

    pub fn batch_view(&self, uid: u32) -> Option<Value> {
        self.batches.get(&uid).map(|b| b.view(self))
    }
}

/// `limit`, `from` and `reverse` of a listing.
#[derive(Clone, Debug)]
pub struct Page {
    pub limit: u32,
    pub from: Option<u32>,
    pub reverse: bool,
}

fn paginate(mut items: Vec<(u32, Value)>, page: &Page) -> Value {
    let total = items.len();
    if !page.reverse {
        items.reverse();
    }
    let start = match page.from {
        Some(from) if page.reverse => items
            .iter()
            .position(|(uid, _)| *uid >= from)
            .unwrap_or(items.len()),
        Some(from) => items
            .iter()
            .position(|(uid, _)| *uid <= from)
            .unwrap_or(items.len()),
        None => 0,
    };
    let limit = page.limit as usize;
    let window: Vec<&(u32, Value)> = items
        .iter()
        .skip(start)
        .take(limit.saturating_add(1))
        .collect();
    let next = if window.len() > limit {
        window.last().map(|(uid, _)| *uid)
    } else {
        None
    };
    let results: Vec<Value> = window.iter().take(limit).map(|(_, v)| v.clone()).collect();
    let from = window.first().filter(|_| limit > 0).map(|(uid, _)| *uid);
    json!({"results": results, "total": total, "limit": page.limit, "from": from, "next": next})
}

/// The filters of `/tasks`, `/tasks/cancel`, `DELETE /tasks` and `/batches`.
#[derive(Clone, Debug, Default)]
pub struct TaskFilter {
    uids: Option<Vec<u32>>,
    batch_uids: Option<Vec<u32>>,
    canceled_by: Option<Vec<u32>>,
    types: Option<Vec<String>>,
    statuses: Option<Vec<Status>>,
    index_uids: Option<Vec<String>>,
    after_enqueued_at: Option<OffsetDateTime>,
    before_enqueued_at: Option<OffsetDateTime>,
    after_started_at: Option<OffsetDateTime>,
    before_started_at: Option<OffsetDateTime>,
    after_finished_at: Option<OffsetDateTime>,
    before_finished_at: Option<OffsetDateTime>,
}

fn after(value: Option<OffsetDateTime>, bound: Option<OffsetDateTime>) -> bool {
    bound.is_none_or(|b| value.is_some_and(|v| v > b))
}

fn before(value: Option<OffsetDateTime>, bound: Option<OffsetDateTime>) -> bool {
    bound.is_none_or(|b| value.is_some_and(|v| v < b))
}

impl TaskFilter {
    fn matches(&self, t: &Task) -> bool {
        self.uids.as_ref().is_none_or(|u| u.contains(&t.uid))
            && self
                .batch_uids
                .as_ref()
                .is_none_or(|b| t.batch_uid.is_some_and(|id| b.contains(&id)))
            && self.common(t)
    }

    fn common(&self, t: &Task) -> bool {
        self.canceled_by
            .as_ref()
            .is_none_or(|c| t.canceled_by.is_some_and(|id| c.contains(&id)))
            && self
                .types
                .as_ref()
                .is_none_or(|ty| ty.iter().any(|x| x == t.content.type_name()))
            && self.statuses.as_ref().is_none_or(|s| s.contains(&t.status))
            && self
                .index_uids
                .as_ref()
                .is_none_or(|ix| t.indexes().iter().any(|i| ix.contains(i)))
            && after(Some(t.enqueued_at), self.after_enqueued_at)
            && before(Some(t.enqueued_at), self.before_enqueued_at)
            && after(t.started_at, self.after_started_at)
            && before(t.started_at, self.before_started_at)
            && after(t.finished_at, self.after_finished_at)
            && before(t.finished_at, self.before_finished_at)
    }

    fn matches_batch(&self, batch_uid: u32, tasks: &[&Task]) -> bool {
        self.batch_uids
            .as_ref()
            .is_none_or(|b| b.contains(&batch_uid))
            && self
                .uids
                .as_ref()
                .is_none_or(|u| tasks.iter().any(|t| u.contains(&t.uid)))
            && tasks.iter().any(|t| self.common(t))
    }
}

/// Which route's parameters are being parsed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum FilterRoute {
    List,
    CancelOrDelete,
}

const DATE_PARAMS: &[(&str, ErrorCode)] = &[
    ("afterEnqueuedAt", ErrorCode::InvalidTaskAfterEnqueuedAt),
    ("beforeEnqueuedAt", ErrorCode::InvalidTaskBeforeEnqueuedAt),
    ("afterStartedAt", ErrorCode::InvalidTaskAfterStartedAt),
    ("beforeStartedAt", ErrorCode::InvalidTaskBeforeStartedAt),
    ("afterFinishedAt", ErrorCode::InvalidTaskAfterFinishedAt),
    ("beforeFinishedAt", ErrorCode::InvalidTaskBeforeFinishedAt),
];

/// Parses the query string of a task route. `Ok(None)` for the page when the route has none.
pub fn parse_filter(
    params: &QueryParams,
    route: FilterRoute,
) -> Result<(TaskFilter, Page), MeiliError> {
    let mut accepted: Vec<(&str, ErrorCode)> = Vec::new();
    if route == FilterRoute::List {
        accepted.extend([
            ("limit", ErrorCode::InvalidTaskLimit),
            ("from", ErrorCode::InvalidTaskFrom),
            ("reverse", ErrorCode::InvalidTaskReverse),
        ]);
    }
    accepted.extend([
        ("batchUids", ErrorCode::InvalidBatchUids),
        ("uids", ErrorCode::InvalidTaskUids),
        ("canceledBy", ErrorCode::InvalidTaskCanceledBy),
        ("types", ErrorCode::InvalidTaskTypes),
        ("statuses", ErrorCode::InvalidTaskStatuses),
        ("indexUids", ErrorCode::InvalidIndexUid),
    ]);
    accepted.extend_from_slice(DATE_PARAMS);
    let mut filter = TaskFilter::default();
    let mut page = Page {
        limit: 20,
        from: None,
        reverse: false,
    };
    for (name, value) in params.entries(&accepted)? {
        let code = accepted
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(ErrorCode::BadRequest, |(_, c)| *c);
        match name {
            "limit" => page.limit = deserr::param_u32(code, name, value)?,
            "from" => page.from = Some(deserr::param_u32(code, name, value)?),
            "reverse" => page.reverse = deserr::param_bool(code, name, value)?,
            "batchUids" => filter.batch_uids = uid_list(code, name, value)?,
            "uids" => filter.uids = uid_list(code, name, value)?,
            "canceledBy" => filter.canceled_by = uid_list(code, name, value)?,
            "types" => {
                filter.types = match deserr::star_or_list(value) {
                    None => None,
                    Some(items) => Some(
                        items
                            .into_iter()
                            .map(|t| match TYPES.iter().find(|k| k.eq_ignore_ascii_case(&t)) {
                                Some(k) => Ok(k.to_string()),
                                None => Err(deserr::invalid_param(
                                    code,
                                    name,
                                    format!("`{t}` is not a valid task type. Available types are {}.", deserr::quoted(TYPES)),
                                )),
                            })
                            .collect::<Result<_, _>>()?,
                    ),
                }
            }
            "statuses" => {
                filter.statuses = match deserr::star_or_list(value) {
                    None => None,
                    Some(items) => Some(
                        items
                            .into_iter()
                            .map(|s| {
                                Status::parse(&s).ok_or_else(|| {
                                    deserr::invalid_param(
                                        code,
                                        name,
                                        format!("`{s}` is not a valid task status. Available statuses are {}.", deserr::quoted(STATUSES)),
                                    )
                                })
                            })
                            .collect::<Result<_, _>>()?,
                    ),
                }
            }
            "indexUids" => {
                filter.index_uids = match deserr::star_or_list(value) {
                    None => None,
                    Some(items) => {
                        if let Some(bad) = items.iter().find(|u| !valid_index_uid(u)) {
                            return Err(deserr::invalid_param(code, name, invalid_index_uid_message(bad)));
                        }
                        Some(items)
                    }
                }
            }
            date => {
                let after_kind = date.starts_with("after");
                let parsed = if value == "*" { None } else { Some(parse_date(value, after_kind).ok_or_else(|| {
                    deserr::invalid_param(code, name, format!("`{value}` is an invalid date-time. It should follow the YYYY-MM-DD or RFC 3339 date-time format."))
                })?) };
                match date {
                    "afterEnqueuedAt" => filter.after_enqueued_at = parsed,
                    "beforeEnqueuedAt" => filter.before_enqueued_at = parsed,
                    "afterStartedAt" => filter.after_started_at = parsed,
                    "beforeStartedAt" => filter.before_started_at = parsed,
                    "afterFinishedAt" => filter.after_finished_at = parsed,
                    _ => filter.before_finished_at = parsed,
                }
            }
        }
    }
    Ok((filter, page))
}

fn uid_list(code: ErrorCode, name: &str, value: &str) -> Result<Option<Vec<u32>>, MeiliError> {
    match deserr::star_or_list(value) {
        None => Ok(None),
        Some(items) => items
            .iter()
            .map(|i| deserr::param_u32(code, name, i))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
    }
}

/// RFC 3339, or a bare date: midnight for `before*`, the next midnight for `after*`.
fn parse_date(value: &str, after_kind: bool) -> Option<OffsetDateTime> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = OffsetDateTime::parse(value, &Rfc3339) {
        return Some(t);
    }
    let date = time::Date::parse(
        value,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .ok()?;
    let midnight = date.midnight().assume_utc();
    Some(if after_kind {
        midnight
            .checked_add(time::Duration::days(1))
            .unwrap_or(midnight)
    } else {
        midnight
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn listing_pages_newest_first() {
        let mut q = Queue::default();
        for _ in 0..5 {
            q.register(Some("a".into()), TaskContent::IndexDeletion);
        }
        let page = Page {
            limit: 2,
            from: None,
            reverse: false,
        };
        let v = q.list(&TaskFilter::default(), &page, &Access::all());
        assert_eq!(v["from"], json!(4));
        assert_eq!(v["next"], json!(2));
        assert_eq!(v["total"], json!(5));
        let page = Page {
            limit: 2,
            from: Some(1),
            reverse: false,
        };
        let v = q.list(&TaskFilter::default(), &page, &Access::all());
        assert_eq!(v["from"], json!(1));
        assert_eq!(v["next"], Value::Null);
    }

    #[test]
    fn filter_parsing_errors() {
        let e = parse_filter(&QueryParams::parse(Some("uids=a")), FilterRoute::List).unwrap_err();
        assert_eq!(
            e.message,
            "Invalid value in parameter `uids`: could not parse `a` as a positive integer"
        );
        let e = parse_filter(
            &QueryParams::parse(Some("statuses=done")),
            FilterRoute::List,
        )
        .unwrap_err();
        assert_eq!(e.code, "invalid_task_statuses");
        let e = parse_filter(
            &QueryParams::parse(Some("limit=1")),
            FilterRoute::CancelOrDelete,
        )
        .unwrap_err();
        assert_eq!(e.code, "bad_request");
        let e = parse_filter(
            &QueryParams::parse(Some("afterEnqueuedAt=yesterday")),
            FilterRoute::List,
        )
        .unwrap_err();
        assert_eq!(e.code, "invalid_task_after_enqueued_at");
    }
}
