//! `/indexes`, `/indexes/{uid}`, `/indexes/{uid}/stats` and `/swap-indexes`.

use axum::body::Body;
use axum::extract::{Path, RawQuery};
use axum::http::HeaderMap;
use miroir_proto::error::{ErrorCode, MeiliError};
use serde_json::{Value, json};

use super::{HttpResult, Shared, accepted, auth, check_uid, json_body, ok};
use crate::deserr::{self, QueryParams};
use crate::store::{invalid_index_uid_message, valid_index_uid};
use crate::tasks::TaskContent;

/// `offset` and `limit` of a listing, with the route's error codes.
pub(super) fn offset_limit(
    raw: Option<&str>,
    offset_code: ErrorCode,
    limit_code: ErrorCode,
) -> Result<(usize, usize), MeiliError> {
    let params = QueryParams::parse(raw);
    let (mut offset, mut limit) = (0, 20);
    for (name, value) in params.entries(&[("offset", offset_code), ("limit", limit_code)])? {
        match name {
            "offset" => offset = deserr::param_usize(offset_code, name, value)?,
            _ => limit = deserr::param_usize(limit_code, name, value)?,
        }
    }
    Ok((offset, limit))
}

pub(super) async fn list(node: Shared, headers: HeaderMap, RawQuery(q): RawQuery) -> HttpResult {
    let access = auth(&node, &headers, "indexes.get", None)?;
    let (offset, limit) = offset_limit(
        q.as_deref(),
        ErrorCode::InvalidIndexOffset,
        ErrorCode::InvalidIndexLimit,
    )?;
    let store = node.store();
    let visible: Vec<Value> = store
        .indexes
        .values()
        .filter(|i| access.allows_index(&i.uid))
        .map(|i| i.info())
        .collect();
    let total = visible.len();
    let results: Vec<Value> = visible.into_iter().skip(offset).take(limit).collect();
    ok(json!({"results": results, "offset": offset, "limit": limit, "total": total}))
}

fn optional_primary_key(loc: &str, v: &Value) -> Result<Option<String>, MeiliError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        other => Err(deserr::invalid_type(
            ErrorCode::InvalidIndexPrimaryKey,
            loc,
            "a string",
            other,
        )),
    }
}

fn body_uid(loc: &str, v: &Value) -> Result<String, MeiliError> {
    let uid = deserr::json_string(ErrorCode::InvalidIndexUid, loc, v)?;
    if valid_index_uid(&uid) {
        Ok(uid)
    } else {
        Err(deserr::invalid_value(
            ErrorCode::InvalidIndexUid,
            loc,
            invalid_index_uid_message(&uid),
        ))
    }
}

pub(super) async fn create(node: Shared, headers: HeaderMap, body: Body) -> HttpResult {
    let access = auth(&node, &headers, "indexes.create", None)?;
    let body = json_body(&node, &headers, body).await?;
    let map = deserr::json_object(ErrorCode::BadRequest, "", &body)?;
    let (mut uid, mut primary_key) = (None, None);
    for (k, v) in map {
        match k.as_str() {
            "uid" => uid = Some(body_uid(".uid", v)?),
            "primaryKey" => primary_key = optional_primary_key(".primaryKey", v)?,
            other => {
                return Err(deserr::unknown_field(
                    ErrorCode::BadRequest,
                    "",
                    other,
                    &["uid", "primaryKey"],
                ));
            }
        }
    }
    let uid = uid.ok_or_else(|| deserr::missing_field(ErrorCode::MissingIndexUid, "", "uid"))?;
    if !access.allows_index(&uid) {
        return Err(MeiliError::invalid_api_key());
    }
    accepted(node.enqueue(Some(uid), TaskContent::IndexCreation { primary_key }))
}

pub(super) async fn get_one(
    node: Shared,
    headers: HeaderMap,
    Path(uid): Path<String>,
) -> HttpResult {
    auth(&node, &headers, "indexes.get", Some(&uid))?;
    check_uid(&uid)?;
    ok(node.store().index(&uid)?.info())
}

pub(super) async fn update(
    node: Shared,
    headers: HeaderMap,
    Path(uid): Path<String>,
    body: Body,
) -> HttpResult {
    auth(&node, &headers, "indexes.update", Some(&uid))?;
    let body = json_body(&node, &headers, body).await?;
    let map = deserr::json_object(ErrorCode::BadRequest, "", &body)?;
    let (mut primary_key, mut new_uid) = (None, None);
    for (k, v) in map {
        match k.as_str() {
            "primaryKey" => primary_key = optional_primary_key(".primaryKey", v)?,
            "uid" => new_uid = Some(body_uid(".uid", v)?),
            other => {
                return Err(deserr::unknown_field(
                    ErrorCode::BadRequest,
                    "",
                    other,
                    &["primaryKey", "uid"],
                ));
            }
        }
    }
    check_uid(&uid)?;
    accepted(node.enqueue(
        Some(uid),
        TaskContent::IndexUpdate {
            primary_key,
            new_uid,
        },
    ))
}

pub(super) async fn delete(
    node: Shared,
    headers: HeaderMap,
    Path(uid): Path<String>,
) -> HttpResult {
    auth(&node, &headers, "indexes.delete", Some(&uid))?;
    check_uid(&uid)?;
    accepted(node.enqueue(Some(uid), TaskContent::IndexDeletion))
}

pub(super) async fn stats(
    node: Shared,
    headers: HeaderMap,
    Path(uid): Path<String>,
    RawQuery(q): RawQuery,
) -> HttpResult {
    auth(&node, &headers, "stats.get", Some(&uid))?;
    let query = super::stats::StatsQuery::parse(q.as_deref())?;
    check_uid(&uid)?;
    let indexing = node.queue().is_indexing(&uid);
    let store = node.store();
    let index = store.index(&uid)?;
    ok(query.index(index, index.stats(indexing)))
}

pub(super) async fn swap(node: Shared, headers: HeaderMap, body: Body) -> HttpResult {
    let access = auth(&node, &headers, "indexes.swap", None)?;
    let body = json_body(&node, &headers, body).await?;
    let Value::Array(items) = &body else {
        return Err(deserr::invalid_type(
            ErrorCode::BadRequest,
            "",
            "an array",
            &body,
        ));
    };
    let mut swaps = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let loc = format!("[{i}]");
        let map = deserr::json_object(ErrorCode::BadRequest, &loc, item)?;
        let (mut pair, mut rename) = (None, false);
        for (k, v) in map {
            let at = format!("{loc}.{k}");
            match k.as_str() {
                "indexes" => {
                    let Value::Array(uids) = v else {
                        return Err(deserr::invalid_type(
                            ErrorCode::InvalidSwapIndexes,
                            &at,
                            "an array",
                            v,
                        ));
                    };
                    let mut names = Vec::with_capacity(uids.len());
                    for (j, u) in uids.iter().enumerate() {
                        names.push(body_uid(&format!("{at}[{j}]"), u)?);
                    }
                    if names.len() != 2 {
                        let listed: Vec<String> =
                            names.iter().map(|n| format!("\"{n}\"")).collect();
                        return Err(MeiliError::new(
                            ErrorCode::InvalidSwapIndexes,
                            format!(
                                "Two indexes must be given for each swap. The list `[{}]` contains {} indexes.",
                                listed.join(", "),
                                names.len()
                            ),
                        ));
                    }
                    pair = Some((names[0].clone(), names[1].clone()));
                }
                "rename" => rename = deserr::json_bool(ErrorCode::InvalidSwapRename, &at, v)?,
                other => {
                    return Err(deserr::unknown_field(
                        ErrorCode::BadRequest,
                        &loc,
                        other,
                        &["indexes", "rename"],
                    ));
                }
            }
        }
        let (a, b) = pair
            .ok_or_else(|| deserr::missing_field(ErrorCode::MissingSwapIndexes, &loc, "indexes"))?;
        swaps.push((a, b, rename));
    }
    let mut seen: Vec<&str> = Vec::new();
    let mut duplicates: Vec<&str> = Vec::new();
    for (a, b, _) in &swaps {
        for name in [a.as_str(), b.as_str()] {
            if seen.contains(&name) {
                if !duplicates.contains(&name) {
                    duplicates.push(name);
                }
            } else {
                seen.push(name);
            }
        }
    }
    match duplicates.as_slice() {
        [] => {}
        [one] => {
            return Err(MeiliError::new(
                ErrorCode::InvalidSwapDuplicateIndexFound,
                format!(
                    "Indexes must be declared only once during a swap. `{one}` was specified several times."
                ),
            ));
        }
        many => {
            let listed: Vec<String> = many.iter().map(|m| format!("`{m}`")).collect();
            return Err(MeiliError::new(
                ErrorCode::InvalidSwapDuplicateIndexFound,
                format!(
                    "Indexes must be declared only once during a swap. {} were specified several times.",
                    listed.join(", ")
                ),
            ));
        }
    }
    if seen.iter().any(|uid| !access.allows_index(uid)) {
        return Err(MeiliError::invalid_api_key());
    }
    accepted(node.enqueue(None, TaskContent::IndexSwap { swaps }))
}
