//! `POST /multi-search`: the envelope is checked here ([`envelope`]), each query goes through
//! the tenant token's search rules, and the merger runs the queries (plain or federated) and
//! answers with the JSON handed back byte for byte.

pub(crate) mod envelope;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use miroir_proto::MeiliError;
use miroir_proto::rpc_search::{MultiSearch, MultiSearchQuery};
use serde_json::Value;

use crate::auth::{AuthContext, apply_search_rules};
use crate::body::json_body;
use crate::errors::raw_json;
use crate::state::AppState;

/// Meilisearch refuses a query on an index the key or token does not open before it runs any,
/// naming the query.
fn inside_query(e: MeiliError, i: usize) -> MeiliError {
    let message = format!("Inside `.queries[{i}]`: {}", e.message);
    e.with_message(message)
}

pub async fn multi_search(
    State(state): State<AppState>,
    auth: AuthContext,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, MeiliError> {
    searched(&state, &auth, &headers, body).await
}

/// `POST /multi-search` once let in (also answered before routing, see [`super::Api::routed`]).
pub(super) async fn searched(
    state: &AppState,
    auth: &AuthContext,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, MeiliError> {
    let (_, value) = json_body(headers, body, state.config().max_payload_bytes).await?;
    crate::limits::check_multi_search(state.config(), &value)?;
    let parsed = envelope::parse(&value)?;
    let mut queries = Vec::with_capacity(parsed.queries.len());
    for (i, query) in parsed.queries.into_iter().enumerate() {
        let mut body = Value::Object(query.body);
        // Tenant tokens: every query's index must be open to the request, and a token's filter
        // is ANDed with the query's own before it leaves the gateway.
        apply_search_rules(auth, &query.index_uid, &mut body).map_err(|e| inside_query(e, i))?;
        let body = serde_json::to_vec(&body).map_err(|e| MeiliError::internal(e.to_string()))?;
        queries.push(MultiSearchQuery {
            index_uid: query.index_uid,
            body: Bytes::from(body),
            weight: query.weight,
        });
    }
    let timeout = state.config().search_timeout();
    // The merger gets a little less than the client waits, so that its own answer (possibly an
    // explicit error about missing shards) arrives before the gateway gives up.
    let deadline_ms = u64::try_from(timeout.as_millis())
        .unwrap_or(u64::MAX)
        .saturating_mul(9)
        / 10;
    let request = MultiSearch {
        queries,
        federation: parsed.federation,
        deadline_ms,
    };
    let reply = state.call(&request, timeout, None).await?;
    Ok(raw_json(StatusCode::OK, reply.body))
}
