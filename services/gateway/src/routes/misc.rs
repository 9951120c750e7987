//! `/`, `/health`, `/version` and the stats routes.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use miroir_proto::byte_size::SizeFormat;
use miroir_proto::rpc::Stats;
use miroir_proto::{ErrorCode, MeiliError};
use serde_json::json;

use super::PathParams;
use crate::auth::AuthContext;
use crate::errors::raw_json;
use crate::params::{QueryParams, check_index_uid, param_bool};
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

/// The release of Meilisearch whose API the gateway speaks: SDKs read `pkgVersion` to pick
/// features, so the commit is that release's, not Miroir's.
const MEILISEARCH_COMMIT_SHA: &str = "5cb2f2e94befc717bbea60fec4a31ee64d2f60fd";
const MEILISEARCH_COMMIT_DATE: &str = "2026-07-23T14:39:41.000000000Z";

pub async fn version() -> Response {
    Json(json!({
        "commitSha": MEILISEARCH_COMMIT_SHA,
        "commitDate": MEILISEARCH_COMMIT_DATE,
        "pkgVersion": MEILISEARCH_VERSION,
    }))
    .into_response()
}

/// `showInternalDatabaseSizes` and `sizeFormat` of both stats routes, into a request.
fn stats_request(index_uid: Option<String>, raw: Option<&str>) -> Result<Stats, MeiliError> {
    let mut request = Stats {
        index_uid,
        internal_sizes: false,
        human_sizes: false,
    };
    let params = QueryParams::parse(raw);
    for (name, value) in params.entries(&[
        (
            "showInternalDatabaseSizes",
            ErrorCode::InvalidStatsShowInternalDatabaseSizes,
        ),
        ("sizeFormat", ErrorCode::InvalidStatsSizeFormat),
    ])? {
        match name {
            "sizeFormat" => request.human_sizes = SizeFormat::parse(value)? == SizeFormat::Human,
            _ => {
                request.internal_sizes = param_bool(
                    ErrorCode::InvalidStatsShowInternalDatabaseSizes,
                    name,
                    value,
                )?
            }
        }
    }
    Ok(request)
}

pub async fn stats(
    State(state): State<AppState>,
    auth: AuthContext,
    RawQuery(query): RawQuery,
) -> Result<Response, MeiliError> {
    let request = stats_request(None, query.as_deref())?;
    let reply = state
        .call(&request, state.config().read_timeout(), None)
        .await?;
    if auth.all_indexes_authorized() {
        return Ok(raw_json(StatusCode::OK, reply.body));
    }
    // A key scoped to some indexes sees the stats of those only, as in Meilisearch.
    let mut stats: serde_json::Value = serde_json::from_slice(&reply.body)
        .map_err(|e| MeiliError::internal(format!("the stats answer is not JSON: {e}")))?;
    if let Some(indexes) = stats.get_mut("indexes").and_then(|v| v.as_object_mut()) {
        indexes.retain(|uid, _| auth.is_index_authorized(uid));
    }
    Ok(Json(stats).into_response())
}

pub async fn index_stats(
    State(state): State<AppState>,
    PathParams(uid): PathParams<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, MeiliError> {
    let request = stats_request(Some(uid.clone()), query.as_deref())?;
    check_index_uid(&uid)?;
    state.existing_index(&uid).await?;
    let reply = state
        .call(&request, state.config().read_timeout(), Some(&uid))
        .await?;
    Ok(raw_json(StatusCode::OK, reply.body))
}
