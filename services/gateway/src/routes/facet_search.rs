//! `POST /indexes/{uid}/facet-search`: the merger asks every shard and sums the counts; its JSON
//! goes back byte for byte.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use miroir_proto::MeiliError;
use miroir_proto::rpc_search::FacetSearch;

use super::PathParams;
use crate::auth::{AuthContext, apply_search_rules_raw};
use crate::body::{expect_object, json_body};
use crate::errors::raw_json;
use crate::params::check_index_uid;
use crate::state::AppState;

pub async fn facet_search(
    State(state): State<AppState>,
    auth: AuthContext,
    PathParams(uid): PathParams<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, MeiliError> {
    let (raw, value) = json_body(&headers, body, state.config().max_payload_bytes).await?;
    expect_object(&value)?;
    crate::limits::check_search(state.config(), &value)?;
    // Tenant tokens: a token's filter narrows the documents whose facet values are counted.
    let body = apply_search_rules_raw(&auth, &uid, raw, value)?;
    check_index_uid(&uid)?;
    state.check_index_exists(&uid).await?;
    let timeout = state.config().search_timeout();
    let deadline_ms = u64::try_from(timeout.as_millis())
        .unwrap_or(u64::MAX)
        .saturating_mul(9)
        / 10;
    let request = FacetSearch {
        index_uid: uid.clone(),
        body,
        deadline_ms,
    };
    let reply = state.call(&request, timeout, Some(&uid)).await?;
    Ok(raw_json(StatusCode::OK, reply.body))
}
