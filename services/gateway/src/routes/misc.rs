//! `/`, `/health`, `/version` and the stats routes.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use miroir_proto::MeiliError;
use miroir_proto::rpc::Stats;
use serde_json::json;

use super::PathParams;
use crate::errors::raw_json;
use crate::params::check_index_uid;
use crate::state::AppState;

/// The Meilisearch version the gateway speaks, so that SDK version checks pass.
pub const MEILISEARCH_VERSION: &str = "1.50.0";

pub async fn root() -> Response {
    Json(json!({"status": "Meilisearch is running"})).into_response()
}

/// Available while the gateway is connected to NATS: without it no request could be served,
/// and a load balancer should send clients to another gateway.
pub async fn health(State(state): State<AppState>) -> Response {
    match state.nats().connection_state() {
        async_nats::connection::State::Connected => {
            Json(json!({"status": "available"})).into_response()
        }
        _ => MeiliError::service_unavailable("nats").into_response(),
    }
}

pub async fn version() -> Response {
    Json(json!({
        "commitSha": option_env!("MIROIR_COMMIT_SHA").unwrap_or("unknown"),
        "commitDate": option_env!("MIROIR_COMMIT_DATE").unwrap_or("unknown"),
        "pkgVersion": MEILISEARCH_VERSION,
    }))
    .into_response()
}

pub async fn stats(State(state): State<AppState>) -> Result<Response, MeiliError> {
    let reply = state
        .call(
            &Stats { index_uid: None },
            state.config().read_timeout(),
            None,
        )
        .await?;
    Ok(raw_json(StatusCode::OK, reply.body))
}

pub async fn index_stats(
    State(state): State<AppState>,
    PathParams(uid): PathParams<String>,
) -> Result<Response, MeiliError> {
    check_index_uid(&uid)?;
    state.existing_index(&uid).await?;
    let reply = state
        .call(
            &Stats {
                index_uid: Some(uid.clone()),
            },
            state.config().read_timeout(),
            Some(&uid),
        )
        .await?;
    Ok(raw_json(StatusCode::OK, reply.body))
}
