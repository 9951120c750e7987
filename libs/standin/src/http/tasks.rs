//! `/tasks`, `/tasks/{uid}`, `/tasks/cancel`, `DELETE /tasks`, `/batches`, `/batches/{uid}`.

use axum::extract::{Path, RawQuery};
use axum::http::HeaderMap;
use miroir_proto::error::{ErrorCode, MeiliError};

use super::{HttpResult, Shared, auth, ok};
use crate::deserr::QueryParams;
use crate::tasks::{FilterRoute, TaskContent, parse_filter};

pub(super) async fn list(node: Shared, headers: HeaderMap, RawQuery(q): RawQuery) -> HttpResult {
    let access = auth(&node, &headers, "tasks.get", None)?;
    let (filter, page) = parse_filter(&QueryParams::parse(q.as_deref()), FilterRoute::List)?;
    ok(node.queue().list(&filter, &page, &access))
}

pub(super) async fn get_one(
    node: Shared,
    headers: HeaderMap,
    Path(uid): Path<String>,
) -> HttpResult {
    let access = auth(&node, &headers, "tasks.get", None)?;
    let Ok(task_uid) = uid.parse::<u32>() else {
        return Err(MeiliError::new(
            ErrorCode::InvalidTaskUids,
            format!("Task uid `{uid}` is invalid. It should only contain numeric characters."),
        ));
    };
    let queue = node.queue();
    let task = queue
        .tasks
        .get(&task_uid)
        .filter(|t| {
            access.indexes.is_none()
                || t.indexes().iter().all(|i| access.allows_index(i)) && !t.indexes().is_empty()
        })
        .ok_or_else(|| MeiliError::task_not_found(u64::from(task_uid)))?;
    ok(task.view())
}

/// `POST /tasks/cancel` and `DELETE /tasks`: both answer 200 with the enqueued task.
async fn cancel_or_delete(
    node: Shared,
    headers: HeaderMap,
    raw: Option<String>,
    cancel: bool,
) -> HttpResult {
    let action = if cancel {
        "tasks.cancel"
    } else {
        "tasks.delete"
    };
    let access = auth(&node, &headers, action, None)?;
    let params = QueryParams::parse(raw.as_deref());
    let (filter, _) = parse_filter(&params, FilterRoute::CancelOrDelete)?;
    if params.is_empty() {
        let what = if cancel { "cancel" } else { "delete" };
        return Err(MeiliError::new(
            ErrorCode::MissingTaskFilters,
            format!(
                "Query parameters to filter the tasks to {what} are missing. Available query parameters are: `uids`, `indexUids`, `statuses`, `types`, `canceledBy`, `beforeEnqueuedAt`, `afterEnqueuedAt`, `beforeStartedAt`, `afterStartedAt`, `beforeFinishedAt`, `afterFinishedAt`."
            ),
        ));
    }
    let tasks = node.queue().matching(&filter, &access);
    let query = format!("?{}", raw.unwrap_or_default());
    let content = if cancel {
        TaskContent::TaskCancelation { query, tasks }
    } else {
        TaskContent::TaskDeletion { query, tasks }
    };
    ok(node.enqueue(None, content))
}

pub(super) async fn cancel(node: Shared, headers: HeaderMap, RawQuery(q): RawQuery) -> HttpResult {
    cancel_or_delete(node, headers, q, true).await
}

pub(super) async fn delete(node: Shared, headers: HeaderMap, RawQuery(q): RawQuery) -> HttpResult {
    cancel_or_delete(node, headers, q, false).await
}

pub(super) async fn list_batches(
    node: Shared,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> HttpResult {
    let access = auth(&node, &headers, "tasks.get", None)?;
    let (filter, page) = parse_filter(&QueryParams::parse(q.as_deref()), FilterRoute::List)?;
    ok(node.queue().list_batches(&filter, &page, &access))
}

pub(super) async fn get_batch(
    node: Shared,
    headers: HeaderMap,
    Path(uid): Path<String>,
) -> HttpResult {
    auth(&node, &headers, "tasks.get", None)?;
    let Ok(batch_uid) = uid.parse::<u32>() else {
        return Err(MeiliError::new(
            ErrorCode::InvalidBatchUids,
            format!("Batch uid `{uid}` is invalid. It should only contain numeric characters."),
        ));
    };
    let view = node.queue().batch_view(batch_uid);
    view.map_or_else(
        || {
            Err(MeiliError::new(
                ErrorCode::BatchNotFound,
                format!("Batch `{batch_uid}` not found."),
            ))
        },
        ok,
    )
}
