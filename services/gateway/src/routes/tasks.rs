//! `/tasks`, `/tasks/{uid}`, `POST /tasks/cancel`, `DELETE /tasks`, `/batches` and
//! `/batches/{uid}`: cluster tasks, kept by the router. Query parameters are checked here
//! ([`task_params`](super::task_params)); the router gets them parsed. An API key restricted to
//! some indexes sees only the tasks of those indexes, as with Meilisearch.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use miroir_proto::rpc::{EnqueuedTask, JsonBody, TaskGet};
use miroir_proto::rpc_tasks::{
    BatchGet, BatchList, TaskCancel, TaskDelete, TaskFilter, TaskIndexUids, TaskPage, TaskSearch,
};
use miroir_proto::{ErrorCode, MeiliError};
use serde_json::Value;

use super::PathParams;
use super::task_params::{Route, parse};
use crate::auth::AuthContext;
use crate::errors::raw_json;
use crate::state::AppState;

/// The indexes whose tasks the request may see, `None` for all.
async fn visible_indexes(
    state: &AppState,
    ctx: &AuthContext,
) -> Result<Option<Vec<String>>, MeiliError> {
    if ctx.all_indexes_authorized() {
        return Ok(None);
    }
    let reply = state
        .call(&TaskIndexUids {}, state.config().read_timeout(), None)
        .await?;
    let uids: Vec<String> = serde_json::from_slice(&reply.body)
        .map_err(|e| MeiliError::internal(format!("unreadable index list: {e}")))?;
    Ok(Some(
        uids.into_iter()
            .filter(|uid| ctx.is_index_authorized(uid))
            .collect(),
    ))
}

/// The only result of a one-uid listing of a restricted key, or `None`.
fn only_result(reply: &JsonBody) -> Option<Value> {
    let v: Value = serde_json::from_slice(&reply.body).ok()?;
    v.get("results")?.as_array()?.first().cloned()
}

/// Meilisearch's task uids are `u32`; anything else is refused before asking anyone.
pub fn parse_task_uid(raw: &str) -> Result<u32, MeiliError> {
    raw.parse::<u32>().map_err(|_| {
        MeiliError::new(
            ErrorCode::InvalidTaskUids,
            format!("Task uid `{raw}` is invalid. It should only contain numeric characters."),
        )
    })
}

pub async fn get(
    State(state): State<AppState>,
    ctx: AuthContext,
    PathParams(raw): PathParams<String>,
) -> Result<Response, MeiliError> {
    let uid = u64::from(parse_task_uid(&raw)?);
    if let Some(visible) = visible_indexes(&state, &ctx).await? {
        // A task of an index the key does not open does not exist for it.
        let filter = TaskFilter {
            uids: Some(vec![uid]),
            visible_indexes: Some(visible),
            ..Default::default()
        };
        let page = TaskPage {
            limit: 1,
            ..Default::default()
        };
        let reply = state
            .call(
                &TaskSearch { filter, page },
                state.config().read_timeout(),
                None,
            )
            .await?;
        let task = only_result(&reply).ok_or_else(|| MeiliError::task_not_found(uid))?;
        return Ok(axum::Json(task).into_response());
    }
    let reply = state
        .call(&TaskGet { uid }, state.config().read_timeout(), None)
        .await?;
    Ok(raw_json(StatusCode::OK, reply.body))
}

pub async fn list(
    State(state): State<AppState>,
    ctx: AuthContext,
    RawQuery(query): RawQuery,
) -> Result<Response, MeiliError> {
    let (mut filter, page) = parse(query.as_deref(), Route::List)?;
    filter.visible_indexes = visible_indexes(&state, &ctx).await?;
    let reply = state
        .call(
            &TaskSearch { filter, page },
            state.config().read_timeout(),
            None,
        )
        .await?;
    Ok(raw_json(StatusCode::OK, reply.body))
}

/// Meilisearch answers `200` (not `202`) to a cancelation or a deletion of tasks.
fn summary(task: EnqueuedTask) -> Response {
    let body = serde_json::json!({
        "taskUid": task.task_uid,
        "indexUid": task.index_uid,
        "status": task.status,
        "type": task.task_type,
        "enqueuedAt": task.enqueued_at,
    });
    (StatusCode::OK, axum::Json(body)).into_response()
}

/// The query string as the client sent it, for the task's `originalFilter`.
fn original_filter(query: Option<&str>) -> String {
    format!("?{}", query.unwrap_or_default())
}

pub async fn cancel(
    State(state): State<AppState>,
    ctx: AuthContext,
    RawQuery(query): RawQuery,
) -> Result<Response, MeiliError> {
    let (mut filter, _) = parse(query.as_deref(), Route::Cancel)?;
    filter.visible_indexes = visible_indexes(&state, &ctx).await?;
    let request = TaskCancel {
        filter,
        original_filter: original_filter(query.as_deref()),
    };
    let task = state
        .call(&request, state.config().write_timeout(), None)
        .await?;
    Ok(summary(task))
}

pub async fn delete(
    State(state): State<AppState>,
    ctx: AuthContext,
    RawQuery(query): RawQuery,
) -> Result<Response, MeiliError> {
    let (mut filter, _) = parse(query.as_deref(), Route::Delete)?;
    filter.visible_indexes = visible_indexes(&state, &ctx).await?;
    let request = TaskDelete {
        filter,
        original_filter: original_filter(query.as_deref()),
    };
    let task = state
        .call(&request, state.config().write_timeout(), None)
        .await?;
    Ok(summary(task))
}

pub async fn list_batches(
    State(state): State<AppState>,
    ctx: AuthContext,
    RawQuery(query): RawQuery,
) -> Result<Response, MeiliError> {
    let (mut filter, page) = parse(query.as_deref(), Route::List)?;
    filter.visible_indexes = visible_indexes(&state, &ctx).await?;
    let reply = state
        .call(
            &BatchList { filter, page },
            state.config().read_timeout(),
            None,
        )
        .await?;
    Ok(raw_json(StatusCode::OK, reply.body))
}

pub async fn get_batch(
    State(state): State<AppState>,
    ctx: AuthContext,
    PathParams(raw): PathParams<String>,
) -> Result<Response, MeiliError> {
    let uid = u64::from(raw.parse::<u32>().map_err(|_| {
        MeiliError::new(
            ErrorCode::InvalidBatchUids,
            format!("Batch uid `{raw}` is invalid. It should only contain numeric characters."),
        )
    })?);
    if let Some(visible) = visible_indexes(&state, &ctx).await? {
        let filter = TaskFilter {
            batch_uids: Some(vec![uid]),
            visible_indexes: Some(visible),
            ..Default::default()
        };
        let page = TaskPage {
            limit: 1,
            ..Default::default()
        };
        let reply = state
            .call(
                &BatchList { filter, page },
                state.config().read_timeout(),
                None,
            )
            .await?;
        let batch = only_result(&reply).ok_or_else(|| {
            MeiliError::new(
                ErrorCode::BatchNotFound,
                format!("Batch `{uid}` not found."),
            )
        })?;
        return Ok(axum::Json(batch).into_response());
    }
    let reply = state
        .call(&BatchGet { uid }, state.config().read_timeout(), None)
        .await?;
    Ok(raw_json(StatusCode::OK, reply.body))
}
