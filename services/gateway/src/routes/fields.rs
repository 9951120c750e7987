//! `POST /indexes/{uid}/fields`: the index's fields and what its settings make of them, merged
//! over the shards by the merger.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use miroir_proto::MeiliError;
use miroir_proto::rpc::FieldsList;

use super::PathParams;
use crate::body::{expect_object, json_body};
use crate::errors::raw_json;
use crate::params::check_index_uid;
use crate::state::AppState;

pub async fn list(
    State(state): State<AppState>,
    PathParams(uid): PathParams<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, MeiliError> {
    let (raw, value) = json_body(&headers, body, state.config().max_payload_bytes).await?;
    expect_object(&value)?;
    check_index_uid(&uid)?;
    state.existing_index(&uid).await?;
    let request = FieldsList {
        index_uid: uid.clone(),
        body: raw,
    };
    let reply = state
        .call(&request, state.config().read_timeout(), Some(&uid))
        .await?;
    Ok(raw_json(StatusCode::OK, reply.body))
}
