//! `/indexes/{uid}/similar` (GET and POST): the documents nearest to a reference document by one
//! of the index's embedders, found over every shard by the merger (its reference shard's similar
//! query, the other shards searched with the reference's vector, merged by score).

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use miroir_proto::MeiliError;
use miroir_proto::rpc::Similar;

use super::PathParams;
use crate::body::{expect_object, json_body};
use crate::errors::raw_json;
use crate::params::{check_index_uid, similar_body};
use crate::state::AppState;

async fn similar(state: &AppState, uid: String, body: Bytes) -> Result<Response, MeiliError> {
    check_index_uid(&uid)?;
    state.existing_index(&uid).await?;
    let request = Similar {
        index_uid: uid.clone(),
        body,
    };
    let reply = state
        .call(&request, state.config().read_timeout(), Some(&uid))
        .await?;
    Ok(raw_json(StatusCode::OK, reply.body))
}

/// Meilisearch checks that `id` and `embedder` are there before anything else it does not parse
/// itself (the recorded answer to a request without `embedder`).
fn require(body: &serde_json::Value, missing: impl Fn(&str) -> String) -> Result<(), MeiliError> {
    for field in ["id", "embedder"] {
        if body.get(field).is_none() {
            return Err(MeiliError::bad_request(missing(field)));
        }
    }
    Ok(())
}

pub async fn get(
    State(state): State<AppState>,
    PathParams(uid): PathParams<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, MeiliError> {
    let body = similar_body(query.as_deref())?;
    require(&body, |f| format!("Missing parameter `{f}`"))?;
    let bytes = serde_json::to_vec(&body).map_err(|e| MeiliError::internal(e.to_string()))?;
    similar(&state, uid, Bytes::from(bytes)).await
}

pub async fn post(
    State(state): State<AppState>,
    PathParams(uid): PathParams<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, MeiliError> {
    let (raw, value) = json_body(&headers, body, state.config().max_payload_bytes).await?;
    expect_object(&value)?;
    require(&value, |f| format!("Missing field `{f}`"))?;
    similar(&state, uid, raw).await
}
