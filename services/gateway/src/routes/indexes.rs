//! `/indexes` and `/indexes/{uid}`: listing and reading come from the topology KV mirror,
//! creation, update and deletion are enqueued by the router.

use axum::Json;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use miroir_proto::rpc::{IndexCompact, IndexCreate, IndexDelete, IndexUpdate};
use miroir_proto::topology::IndexRecord;
use miroir_proto::{ErrorCode, MeiliError};
use serde_json::{Value, json};

use super::PathParams;
use crate::auth::AuthContext;
use crate::body::{expect_object, json_body};
use crate::errors::enqueued;
use crate::params::{
    check_index_uid, index_page, index_uid_problem, invalid_type, quoted, unknown_field,
};
use crate::state::AppState;

fn view(record: &IndexRecord) -> Value {
    json!({
        "uid": record.uid,
        "createdAt": record.created_at,
        "updatedAt": record.updated_at,
        "primaryKey": record.primary_key,
    })
}

pub async fn list(
    State(state): State<AppState>,
    auth: AuthContext,
    RawQuery(query): RawQuery,
) -> Result<Response, MeiliError> {
    let (offset, limit) = index_page(query.as_deref())?;
    let topology = state.fresh_topology().await;
    // A key scoped to some indexes lists only those, and counts only those.
    let visible: Vec<&IndexRecord> = topology
        .indexes
        .values()
        .map(|(record, _)| record)
        .filter(|record| auth.is_index_authorized(&record.uid))
        .collect();
    let results: Vec<Value> = visible
        .iter()
        .skip(offset)
        .take(limit)
        .map(|record| view(record))
        .collect();
    Ok(Json(json!({
        "results": results,
        "offset": offset,
        "limit": limit,
        "total": visible.len(),
    }))
    .into_response())
}

pub async fn get(
    State(state): State<AppState>,
    PathParams(uid): PathParams<String>,
) -> Result<Response, MeiliError> {
    check_index_uid(&uid)?;
    // A fresh snapshot, so that a primary key set a moment ago is shown.
    let record = match state.fresh_topology().await.index(&uid) {
        Some(record) => record.clone(),
        None => state.existing_index(&uid).await?,
    };
    Ok(Json(view(&record)).into_response())
}

/// `primaryKey` of an index body: a string or null.
fn primary_key(v: &Value) -> Result<Option<String>, MeiliError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        other => Err(invalid_type(
            ErrorCode::InvalidIndexPrimaryKey,
            ".primaryKey",
            "a string",
            other,
        )),
    }
}

/// `uid` of an index body: a string that is a valid index uid.
fn body_uid(v: &Value) -> Result<String, MeiliError> {
    match v {
        Value::String(s) => match index_uid_problem(s) {
            Some(problem) => Err(MeiliError::new(
                ErrorCode::InvalidIndexUid,
                format!("Invalid value at `.uid`: {problem}"),
            )),
            None => Ok(s.clone()),
        },
        other => Err(invalid_type(
            ErrorCode::InvalidIndexUid,
            ".uid",
            "a string",
            other,
        )),
    }
}

pub async fn create(
    State(state): State<AppState>,
    auth: AuthContext,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, MeiliError> {
    let (_, value) = json_body(&headers, body, state.config().max_payload_bytes).await?;
    let fields = expect_object(&value)?;
    let mut uid = None;
    let mut pk = None;
    for (key, v) in fields {
        match key.as_str() {
            "uid" => uid = Some(body_uid(v)?),
            "primaryKey" => pk = primary_key(v)?,
            other => return Err(unknown_field(other, &["uid", "primaryKey"])),
        }
    }
    let Some(uid) = uid else {
        return Err(MeiliError::new(
            ErrorCode::MissingIndexUid,
            "Missing field `uid`",
        ));
    };
    // A key may create only indexes it opens, as in Meilisearch.
    if !auth.allow_index_creation(&uid) {
        return Err(MeiliError::invalid_api_key());
    }
    let task = state
        .call(
            &IndexCreate {
                uid: uid.clone(),
                primary_key: pk,
            },
            state.config().write_timeout(),
            Some(&uid),
        )
        .await?;
    Ok(enqueued(task))
}

pub async fn update(
    State(state): State<AppState>,
    PathParams(uid): PathParams<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, MeiliError> {
    let (_, value) = json_body(&headers, body, state.config().max_payload_bytes).await?;
    let fields = expect_object(&value)?;
    let mut pk = None;
    // `{"uid": "new"}` renames the index (Meilisearch 1.50).
    let mut new_uid = None;
    const ACCEPTED: &[&str] = &["primaryKey", "uid"];
    for (key, v) in fields {
        let immutable = match key.as_str() {
            "primaryKey" => {
                pk = primary_key(v)?;
                continue;
            }
            "uid" => {
                new_uid = Some(body_uid(v)?);
                continue;
            }
            "createdAt" => ErrorCode::ImmutableIndexCreatedAt,
            "updatedAt" => ErrorCode::ImmutableIndexUpdatedAt,
            other => return Err(unknown_field(other, ACCEPTED)),
        };
        return Err(MeiliError::new(
            immutable,
            format!(
                "Immutable field `{key}`: expected one of {}",
                quoted(ACCEPTED)
            ),
        ));
    }
    check_index_uid(&uid)?;
    let task = state
        .call(
            &IndexUpdate {
                uid: uid.clone(),
                primary_key: pk,
                new_uid,
            },
            state.config().write_timeout(),
            Some(&uid),
        )
        .await?;
    Ok(enqueued(task))
}

pub async fn delete(
    State(state): State<AppState>,
    PathParams(uid): PathParams<String>,
) -> Result<Response, MeiliError> {
    check_index_uid(&uid)?;
    let task = state
        .call(
            &IndexDelete { uid: uid.clone() },
            state.config().write_timeout(),
            Some(&uid),
        )
        .await?;
    Ok(enqueued(task))
}

/// `POST /indexes/{uid}/compact`: every copy of every shard compacts its files, as one task.
pub async fn compact(
    State(state): State<AppState>,
    PathParams(uid): PathParams<String>,
) -> Result<Response, MeiliError> {
    check_index_uid(&uid)?;
    let task = state
        .call(
            &IndexCompact { uid: uid.clone() },
            state.config().write_timeout(),
            Some(&uid),
        )
        .await?;
    Ok(enqueued(task))
}
