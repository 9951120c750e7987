//! `POST`/`GET /indexes/{uid}/search`: the merger answers, and its JSON goes back byte for byte.

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use miroir_proto::MeiliError;
use miroir_proto::rpc::Search;

use super::PathParams;
use crate::auth::{AuthContext, apply_search_rules, apply_search_rules_raw};
use crate::body::{expect_object, json_body};
use crate::errors::raw_json;
use crate::params::{check_index_uid, search_body};
use crate::state::AppState;

async fn search(state: &AppState, uid: String, body: Bytes) -> Result<Response, MeiliError> {
    check_index_uid(&uid)?;
    state.check_index_exists(&uid).await?;
    let timeout = state.config().search_timeout();
    // The merger gets a little less than the client waits, so that its own answer (possibly an
    // explicit error about missing shards) arrives before the gateway gives up.
    let deadline_ms = (timeout.as_millis() as u64).saturating_mul(9) / 10;
    let request = Search {
        index_uid: uid.clone(),
        body,
        deadline_ms,
    };
    let reply = state.call(&request, timeout, Some(&uid)).await?;
    Ok(raw_json(StatusCode::OK, reply.body))
}

pub async fn post(
    State(state): State<AppState>,
    auth: AuthContext,
    PathParams(uid): PathParams<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, MeiliError> {
    posted(&state, &auth, uid, &headers, body).await
}

/// `POST /indexes/{uid}/search` once let in (also answered before routing, see
/// [`super::Api::routed`]).
pub(super) async fn posted(
    state: &AppState,
    auth: &AuthContext,
    uid: String,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, MeiliError> {
    let (raw, value) = json_body(headers, body, state.config().max_payload_bytes).await?;
    expect_object(&value)?;
    crate::limits::check_search(state.config(), &value)?;
    // A tenant token's filter is ANDed with the request's own.
    let raw = apply_search_rules_raw(auth, &uid, raw, value)?;
    search(state, uid, raw).await
}

pub async fn get(
    State(state): State<AppState>,
    auth: AuthContext,
    PathParams(uid): PathParams<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, MeiliError> {
    got(&state, &auth, uid, query.as_deref()).await
}

/// `GET /indexes/{uid}/search` once let in (also answered before routing).
pub(super) async fn got(
    state: &AppState,
    auth: &AuthContext,
    uid: String,
    query: Option<&str>,
) -> Result<Response, MeiliError> {
    let mut body = search_body(query)?;
    crate::limits::check_search(state.config(), &body)?;
    apply_search_rules(auth, &uid, &mut body)?;
    let body = serde_json::to_vec(&body).map_err(|e| MeiliError::internal(e.to_string()))?;
    search(state, uid, Bytes::from(body)).await
}
