//! `/indexes/{uid}/documents...`: uploads are streamed to the WAL (see `upload`), reads go to
//! the merger, deletions to the router.

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use miroir_proto::rpc::{
    DeleteSelector, DocumentGet, DocumentsDelete, DocumentsFetch, WriteMethod,
};
use miroir_proto::{ErrorCode, MeiliError};
use serde_json::Value;

use super::PathParams;
use super::upload::add_documents;
use crate::auth::AuthContext;
use crate::body::{expect_object, json_body};
use crate::errors::{enqueued, raw_json};
use crate::params::{QueryParams, check_index_uid, documents_body, unknown_field};
use crate::state::AppState;
use crate::upload_slots::Uploader;

/// An upload, once its key has a free slot (`max_concurrent_uploads_per_key`); the slot is held
/// until the upload's answer, or until the handler is dropped with the client's connection.
async fn upload(
    state: AppState,
    auth: AuthContext,
    uid: String,
    method: WriteMethod,
    headers: HeaderMap,
    query: Option<String>,
    body: Body,
) -> Result<Response, MeiliError> {
    let uploader = Uploader::of(auth.key_uid());
    let _permit = match state.uploads().try_acquire(uploader) {
        Ok(permit) => permit,
        Err(refused) => {
            metrics::counter!("miroir_gateway_uploads_refused_total", "code" => refused.to_meili().code.as_str().to_string())
                .increment(1);
            tracing::debug!(
                ?uploader,
                "upload refused: the key has every upload slot taken"
            );
            return Ok(refused.into_response());
        }
    };
    add_documents(state, uid, method, headers, query, body).await
}

pub async fn replace(
    State(state): State<AppState>,
    auth: AuthContext,
    PathParams(uid): PathParams<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, MeiliError> {
    upload(state, auth, uid, WriteMethod::Replace, headers, query, body).await
}

pub async fn update(
    State(state): State<AppState>,
    auth: AuthContext,
    PathParams(uid): PathParams<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, MeiliError> {
    upload(state, auth, uid, WriteMethod::Update, headers, query, body).await
}

pub async fn get_one(
    State(state): State<AppState>,
    PathParams((uid, id)): PathParams<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Response, MeiliError> {
    check_index_uid(&uid)?;
    state.existing_index(&uid).await?;
    let request = DocumentGet {
        index_uid: uid.clone(),
        document_id: id,
        query: query.unwrap_or_default(),
    };
    let reply = state
        .call(&request, state.config().read_timeout(), Some(&uid))
        .await?;
    Ok(raw_json(StatusCode::OK, reply.body))
}

async fn fetch_documents(
    state: &AppState,
    uid: String,
    body: Bytes,
) -> Result<Response, MeiliError> {
    check_index_uid(&uid)?;
    state.existing_index(&uid).await?;
    let reply = state
        .call(
            &DocumentsFetch {
                index_uid: uid.clone(),
                body,
            },
            state.config().read_timeout(),
            Some(&uid),
        )
        .await?;
    Ok(raw_json(StatusCode::OK, reply.body))
}

pub async fn list(
    State(state): State<AppState>,
    PathParams(uid): PathParams<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, MeiliError> {
    let body = documents_body(query.as_deref())?;
    let body = serde_json::to_vec(&body).map_err(|e| MeiliError::internal(e.to_string()))?;
    fetch_documents(&state, uid, Bytes::from(body)).await
}

pub async fn fetch(
    State(state): State<AppState>,
    PathParams(uid): PathParams<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, MeiliError> {
    let (raw, value) = json_body(&headers, body, state.config().max_payload_bytes).await?;
    expect_object(&value)?;
    fetch_documents(&state, uid, raw).await
}

/// `?customMetadata=` of a write route that takes no other parameter (Meilisearch's
/// `CustomMetadataQuery`: any other parameter is refused, a repeated one too).
pub(super) fn custom_metadata_param(raw_query: Option<&str>) -> Result<Option<String>, MeiliError> {
    let params = QueryParams::parse(raw_query);
    Ok(params
        .entries(&[("customMetadata", ErrorCode::InvalidIndexCustomMetadata)])?
        .into_iter()
        .next()
        .map(|(_, v)| v.to_string()))
}

async fn delete(
    state: &AppState,
    uid: String,
    selector: DeleteSelector,
    custom_metadata: Option<String>,
) -> Result<Response, MeiliError> {
    check_index_uid(&uid)?;
    let request = DocumentsDelete {
        index_uid: uid.clone(),
        selector,
        custom_metadata,
    };
    let task = state
        .call(&request, state.config().write_timeout(), Some(&uid))
        .await?;
    Ok(enqueued(task))
}

pub async fn delete_one(
    State(state): State<AppState>,
    PathParams((uid, id)): PathParams<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Response, MeiliError> {
    let meta = custom_metadata_param(query.as_deref())?;
    delete(&state, uid, DeleteSelector::Ids(vec![id]), meta).await
}

pub async fn delete_all(
    State(state): State<AppState>,
    PathParams(uid): PathParams<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, MeiliError> {
    let meta = custom_metadata_param(query.as_deref())?;
    delete(&state, uid, DeleteSelector::All, meta).await
}

pub async fn delete_batch(
    State(state): State<AppState>,
    PathParams(uid): PathParams<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, MeiliError> {
    let meta = custom_metadata_param(query.as_deref())?;
    let (raw, _) = json_body(&headers, body, state.config().max_payload_bytes).await?;
    // Meilisearch reads this body with serde (not deserr): its message is serde_json's.
    let ids: Vec<Value> = serde_json::from_slice(&raw)
        .map_err(|e| MeiliError::bad_request(format!("Json deserialize error: {e}")))?;
    let ids = ids
        .iter()
        .map(|v| {
            v.as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string())
        })
        .collect();
    delete(&state, uid, DeleteSelector::Ids(ids), meta).await
}

/// A filter that selects nothing to delete: `null`, an empty string or an empty array.
fn is_empty_filter(filter: &Value) -> bool {
    match filter {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        Value::Array(items) => items.is_empty(),
        _ => false,
    }
}

pub async fn delete_by_filter(
    State(state): State<AppState>,
    PathParams(uid): PathParams<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, MeiliError> {
    let meta = custom_metadata_param(query.as_deref())?;
    let (_, value) = json_body(&headers, body, state.config().max_payload_bytes).await?;
    let mut filter = None;
    for (key, v) in expect_object(&value)? {
        match key.as_str() {
            "filter" => filter = Some(v.clone()),
            other => return Err(unknown_field(other, &["filter"])),
        }
    }
    let Some(filter) = filter else {
        return Err(MeiliError::new(
            ErrorCode::MissingDocumentFilter,
            "Missing field `filter`",
        ));
    };
    if is_empty_filter(&filter) {
        return Err(MeiliError::new(
            ErrorCode::InvalidDocumentFilter,
            "Sending an empty filter is forbidden.",
        ));
    }
    delete(
        &state,
        uid,
        DeleteSelector::Filter(filter.to_string()),
        meta,
    )
    .await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn custom_metadata_is_the_only_parameter_of_a_deletion() {
        assert_eq!(custom_metadata_param(None).unwrap(), None);
        assert_eq!(
            custom_metadata_param(Some("customMetadata=fix%20titles"))
                .unwrap()
                .as_deref(),
            Some("fix titles")
        );
        let e = custom_metadata_param(Some("customMetadata=a&customMetadata=b")).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidIndexCustomMetadata);
        let e = custom_metadata_param(Some("skipCreation=true")).unwrap_err();
        assert_eq!(
            (e.code.as_str(), e.message.as_str()),
            (
                "bad_request",
                "Unknown parameter `skipCreation`: expected one of `customMetadata`"
            )
        );
    }
}
