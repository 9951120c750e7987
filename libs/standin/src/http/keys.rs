//! `/keys` and `/keys/{uid or key}`.

use axum::body::Body;
use axum::extract::{Path, RawQuery};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::indexes::offset_limit;
use super::{HttpResult, Shared, auth, json, json_body, ok};
use crate::auth::{apply_patch, key_not_found, parse_create};
use miroir_proto::ErrorCode;

pub(super) async fn list(node: Shared, headers: HeaderMap, RawQuery(q): RawQuery) -> HttpResult {
    auth(&node, &headers, "keys.get", None)?;
    let (offset, limit) = offset_limit(
        q.as_deref(),
        ErrorCode::InvalidApiKeyOffset,
        ErrorCode::InvalidApiKeyLimit,
    )?;
    let keys = node.keys();
    let all = keys.list();
    let results: Vec<Value> = all
        .iter()
        .skip(offset)
        .take(limit)
        .map(|k| keys.view(k))
        .collect();
    ok(json!({"results": results, "offset": offset, "limit": limit, "total": all.len()}))
}

pub(super) async fn create(node: Shared, headers: HeaderMap, body: Body) -> HttpResult {
    auth(&node, &headers, "keys.create", None)?;
    let body = json_body(&node, &headers, body).await?;
    let key = parse_create(&body)?;
    let mut keys = node.keys_mut();
    let view = keys.view(&key);
    keys.insert(key)?;
    Ok(json(StatusCode::CREATED, view))
}

pub(super) async fn get_one(
    node: Shared,
    headers: HeaderMap,
    Path(key): Path<String>,
) -> HttpResult {
    auth(&node, &headers, "keys.get", None)?;
    let keys = node.keys();
    let found = keys.find(&key).ok_or_else(|| key_not_found(&key))?;
    ok(keys.view(found))
}

pub(super) async fn update(
    node: Shared,
    headers: HeaderMap,
    Path(key): Path<String>,
    body: Body,
) -> HttpResult {
    auth(&node, &headers, "keys.update", None)?;
    let body = json_body(&node, &headers, body).await?;
    let mut keys = node.keys_mut();
    let found = keys.find_mut(&key).ok_or_else(|| key_not_found(&key))?;
    apply_patch(found, &body)?;
    let updated = found.clone();
    ok(keys.view(&updated))
}

pub(super) async fn delete(
    node: Shared,
    headers: HeaderMap,
    Path(key): Path<String>,
) -> HttpResult {
    auth(&node, &headers, "keys.delete", None)?;
    if node.keys_mut().remove(&key) {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(key_not_found(&key))
    }
}
