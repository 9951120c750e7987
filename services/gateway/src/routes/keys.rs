//! `/keys` and `/keys/{uidOrKey}`: Meilisearch's API key routes, on the cluster's `miroir-keys`
//! KV bucket, so that every gateway serves the same keys. A key is named by its uid or by its
//! value; values are derived from the master key and never stored.

use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use miroir_cluster::keys::ApiKeyRecord;
use miroir_cluster::topology::StoreError;
use miroir_proto::{ErrorCode, MeiliError};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use super::PathParams;
use super::keys_input::{parse_create, parse_patch};
use crate::auth::{Keyring, RingKey};
use crate::body::json_body;
use crate::params::{QueryParams, param_usize};
use crate::state::AppState;

/// How long a write waits for this gateway's mirror to show it, so that the next request sees it.
const OWN_WRITE_WAIT: Duration = Duration::from_secs(2);

fn not_found(uid_or_key: &str) -> MeiliError {
    MeiliError::new(
        ErrorCode::ApiKeyNotFound,
        format!("API key `{uid_or_key}` not found."),
    )
}

fn store_error(e: StoreError) -> MeiliError {
    MeiliError::internal(format!("cannot reach the API keys store: {e}"))
}

fn format_time(at: OffsetDateTime) -> String {
    at.format(&Rfc3339)
        .unwrap_or_else(|_| at.unix_timestamp().to_string())
}

/// A key as Meilisearch shows it (field order included).
fn view(keys: &Keyring, record: &ApiKeyRecord) -> Value {
    let value = Uuid::parse_str(&record.uid)
        .map(|uid| keys.value_of(&uid))
        .unwrap_or_default();
    json!({
        "name": record.name,
        "description": record.description,
        "key": value,
        "uid": record.uid,
        "actions": record.actions,
        "indexes": record.indexes,
        "expiresAt": record.expires_at,
        "createdAt": record.created_at,
        "updatedAt": record.updated_at,
    })
}

/// The key named by a uid (any form the uuid crate parses, as Meilisearch) or by its value,
/// read from KV with its revision so that it can be changed with compare-and-set.
async fn find(keys: &Keyring, uid_or_key: &str) -> Result<(ApiKeyRecord, u64), MeiliError> {
    let uid = match Uuid::parse_str(uid_or_key) {
        Ok(uid) => uid,
        Err(_) => {
            let ring = keys.fresh_ring().await;
            let found = ring.by_value(uid_or_key).map(|k: &RingKey| k.uid);
            found.ok_or_else(|| not_found(uid_or_key))?
        }
    };
    let uid = uid.hyphenated().to_string();
    keys.store()
        .read(&uid)
        .await
        .map_err(store_error)?
        .ok_or_else(|| not_found(&uid))
}

pub async fn list(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Response, MeiliError> {
    let params = QueryParams::parse(query.as_deref());
    let (mut offset, mut limit) = (0usize, 20usize);
    for (name, value) in params.entries(&[
        ("offset", ErrorCode::InvalidApiKeyOffset),
        ("limit", ErrorCode::InvalidApiKeyLimit),
    ])? {
        match name {
            "offset" => offset = param_usize(ErrorCode::InvalidApiKeyOffset, name, value)?,
            _ => limit = param_usize(ErrorCode::InvalidApiKeyLimit, name, value)?,
        }
    }
    let keys = state.keys();
    let ring = keys.fresh_ring().await;
    let results: Vec<Value> = ring
        .keys
        .iter()
        .skip(offset)
        .take(limit)
        .map(|k| view(keys, &k.record))
        .collect();
    Ok(Json(json!({
        "results": results,
        "offset": offset,
        "limit": limit,
        "total": ring.keys.len(),
    }))
    .into_response())
}

pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, MeiliError> {
    let (_, value) = json_body(&headers, body, state.config().max_payload_bytes).await?;
    let now = OffsetDateTime::now_utc();
    let new = parse_create(&value, now)?;
    let at = format_time(now);
    let record = ApiKeyRecord {
        uid: new.uid.hyphenated().to_string(),
        name: new.name,
        description: new.description,
        actions: new.actions,
        indexes: new.indexes,
        expires_at: new.expires_at.map(format_time),
        created_at: at.clone(),
        updated_at: at,
    };
    let keys = state.keys();
    let revision = match keys.store().create(&record).await {
        Ok(revision) => revision,
        Err(StoreError::Exists(_)) => {
            return Err(MeiliError::new(
                ErrorCode::ApiKeyAlreadyExists,
                format!(
                    "`uid` field value `{}` is already an existing API key.",
                    record.uid
                ),
            ));
        }
        Err(e) => return Err(store_error(e)),
    };
    keys.store()
        .wait_for_revision(revision, OWN_WRITE_WAIT)
        .await;
    Ok((StatusCode::CREATED, Json(view(keys, &record))).into_response())
}

pub async fn get(
    State(state): State<AppState>,
    PathParams(uid_or_key): PathParams<String>,
) -> Result<Response, MeiliError> {
    let keys = state.keys();
    let (record, _) = find(keys, &uid_or_key).await?;
    Ok(Json(view(keys, &record)).into_response())
}

pub async fn update(
    State(state): State<AppState>,
    PathParams(uid_or_key): PathParams<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, MeiliError> {
    let (_, value) = json_body(&headers, body, state.config().max_payload_bytes).await?;
    let patch = parse_patch(&value)?;
    let keys = state.keys();
    // Two gateways patching the same key: the loser reads it again and applies its change on top.
    for _ in 0..16 {
        let (mut record, revision) = find(keys, &uid_or_key).await?;
        if let Some(name) = &patch.name {
            record.name = name.clone();
        }
        if let Some(description) = &patch.description {
            record.description = description.clone();
        }
        record.updated_at = format_time(OffsetDateTime::now_utc());
        match keys.store().update(&record, revision).await {
            Ok(revision) => {
                keys.store()
                    .wait_for_revision(revision, OWN_WRITE_WAIT)
                    .await;
                return Ok(Json(view(keys, &record)).into_response());
            }
            Err(StoreError::Conflict(_)) => continue,
            Err(e) => return Err(store_error(e)),
        }
    }
    Err(MeiliError::internal(
        "the API key kept changing while it was being updated",
    ))
}

pub async fn delete(
    State(state): State<AppState>,
    PathParams(uid_or_key): PathParams<String>,
) -> Result<Response, MeiliError> {
    let keys = state.keys();
    for _ in 0..16 {
        let (record, revision) = find(keys, &uid_or_key).await?;
        match keys.store().delete(&record.uid, revision).await {
            Ok(()) => {
                if let Ok(last) = keys.store().last_revision().await {
                    keys.store().wait_for_revision(last, OWN_WRITE_WAIT).await;
                }
                return Ok(StatusCode::NO_CONTENT.into_response());
            }
            Err(StoreError::Conflict(_)) => continue,
            Err(e) => return Err(store_error(e)),
        }
    }
    Err(MeiliError::internal(
        "the API key kept changing while it was being deleted",
    ))
}
