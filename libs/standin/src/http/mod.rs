//! The node's HTTP API: the router, and what every route shares (authentication, reading and
//! validating bodies the way Meilisearch's extractors do, Meilisearch-shaped answers for
//! anything the framework itself would have answered: unknown routes, wrong methods...).

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use miroir_proto::error::{ErrorCode, MeiliError};
use serde_json::Value;

use crate::auth::Access;
use crate::node::Node;

mod documents;
mod fields;
mod indexes;
mod keys;
mod misc;
mod search;
mod settings;
mod stats;
mod tasks;
mod vectors;

pub(crate) type HttpResult = Result<Response, MeiliError>;
pub(crate) type Shared = State<Arc<Node>>;

/// The router of a node.
pub fn router(node: Arc<Node>) -> Router {
    let mut r = Router::new();
    let routes: Vec<(&str, MethodRouter<Arc<Node>>)> = vec![
        ("/", get(misc::running)),
        ("/health", get(misc::health)),
        ("/version", get(misc::version)),
        ("/stats", get(misc::stats)),
        ("/indexes", get(indexes::list).post(indexes::create)),
        (
            "/indexes/{uid}",
            get(indexes::get_one)
                .patch(indexes::update)
                .delete(indexes::delete),
        ),
        ("/indexes/{uid}/stats", get(indexes::stats)),
        ("/indexes/{uid}/compact", post(misc::compact)),
        ("/indexes/{uid}/fields", post(fields::fields)),
        (
            "/indexes/{uid}/documents",
            get(documents::list)
                .post(documents::replace)
                .put(documents::update)
                .delete(documents::clear),
        ),
        ("/indexes/{uid}/documents/fetch", post(documents::fetch)),
        (
            "/indexes/{uid}/documents/delete-batch",
            post(documents::delete_batch),
        ),
        (
            "/indexes/{uid}/documents/delete",
            post(documents::delete_by_filter),
        ),
        ("/indexes/{uid}/documents/edit", post(documents::edit)),
        (
            "/indexes/{uid}/documents/{id}",
            get(documents::get_one).delete(documents::delete_one),
        ),
        (
            "/indexes/{uid}/settings",
            get(settings::get_all)
                .patch(settings::update_all)
                .delete(settings::reset_all),
        ),
        (
            "/indexes/{uid}/settings/{name}",
            get(settings::get_one)
                .put(settings::put_one)
                .patch(settings::patch_one)
                .delete(settings::reset_one),
        ),
        (
            "/indexes/{uid}/search",
            get(search::search_get).post(search::search_post),
        ),
        ("/indexes/{uid}/facet-search", post(search::facet_search)),
        (
            "/indexes/{uid}/similar",
            get(search::similar_get).post(search::similar_post),
        ),
        ("/multi-search", post(search::multi_search)),
        ("/swap-indexes", post(indexes::swap)),
        ("/tasks", get(tasks::list).delete(tasks::delete)),
        ("/tasks/cancel", post(tasks::cancel)),
        ("/tasks/{uid}", get(tasks::get_one)),
        ("/tasks/{uid}/documents", get(misc::task_documents)),
        ("/tasks/compact", post(misc::compact_tasks)),
        ("/batches", get(tasks::list_batches)),
        ("/batches/{uid}", get(tasks::get_batch)),
        ("/keys", get(keys::list).post(keys::create)),
        (
            "/keys/{key}",
            get(keys::get_one).patch(keys::update).delete(keys::delete),
        ),
        (
            "/experimental-features",
            get(misc::features_get).patch(misc::features_patch),
        ),
        ("/dumps", post(misc::dump)),
        ("/snapshots", post(misc::snapshot)),
        ("/network", get(misc::network).patch(misc::network)),
        ("/metrics", get(misc::metrics)),
        ("/logs/stream", post(misc::logs).delete(misc::logs)),
        ("/logs/stderr", post(misc::logs)),
        ("/export", post(misc::export)),
        ("/webhooks", get(misc::webhooks).post(misc::webhooks)),
        (
            "/webhooks/{id}",
            get(misc::webhooks)
                .patch(misc::webhooks)
                .delete(misc::webhooks),
        ),
        ("/chats", get(misc::chats)),
        (
            "/chats/{*rest}",
            get(misc::chats)
                .post(misc::chats)
                .patch(misc::chats)
                .delete(misc::chats),
        ),
    ];
    for (path, route) in routes {
        // Meilisearch trims a trailing slash before routing.
        if path != "/" && !path.contains("{*") {
            r = r.route(&format!("{path}/"), route.clone());
        }
        r = r.route(path, route);
    }
    r.fallback(misc::not_found)
        .layer(middleware::from_fn_with_state(node.clone(), guard))
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(node)
}

/// Starts the task worker with the first request, and gives every error the framework answers
/// on its own (a path that does not decode, a wrong method...) Meilisearch's shape.
async fn guard(State(node): Shared, req: Request, next: Next) -> Response {
    node.start_worker();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    // Meilisearch allows any origin, header and method (actix-cors, wildcard, 24 h preflight).
    let cors = req.headers().contains_key(axum::http::header::ORIGIN);
    if cors && method == axum::http::Method::OPTIONS {
        let requested = req
            .headers()
            .get(axum::http::header::ACCESS_CONTROL_REQUEST_HEADERS)
            .cloned();
        let mut preflight = StatusCode::OK.into_response();
        let h = preflight.headers_mut();
        h.insert(
            axum::http::header::ACCESS_CONTROL_ALLOW_ORIGIN,
            axum::http::HeaderValue::from_static("*"),
        );
        h.insert(
            axum::http::header::ACCESS_CONTROL_ALLOW_METHODS,
            axum::http::HeaderValue::from_static("GET, POST, PUT, PATCH, DELETE, OPTIONS"),
        );
        if let Some(requested) = requested {
            h.insert(axum::http::header::ACCESS_CONTROL_ALLOW_HEADERS, requested);
        }
        h.insert(
            axum::http::header::ACCESS_CONTROL_MAX_AGE,
            axum::http::HeaderValue::from_static("86400"),
        );
        return preflight;
    }
    let mut response = shaped(&node, &method, &path, next.run(req).await).await;
    if cors {
        response.headers_mut().insert(
            axum::http::header::ACCESS_CONTROL_ALLOW_ORIGIN,
            axum::http::HeaderValue::from_static("*"),
        );
    }
    response
}

async fn shaped(
    node: &Node,
    method: &axum::http::Method,
    path: &str,
    response: Response,
) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let text = axum::body::to_bytes(response.into_body(), 64 * 1024)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&text).trim().to_string();
    let error = match status {
        StatusCode::NOT_FOUND => route_not_found(method.as_str(), path),
        StatusCode::METHOD_NOT_ALLOWED => MeiliError::new(
            ErrorCode::MethodNotAllowed,
            format!("The method `{method}` is not allowed on `{path}`."),
        ),
        StatusCode::PAYLOAD_TOO_LARGE => {
            MeiliError::payload_too_large(node.config.max_payload_bytes)
        }
        s if s.is_server_error() => MeiliError::internal(if text.is_empty() {
            "An internal error occurred.".into()
        } else {
            text
        }),
        _ => MeiliError::bad_request(if text.is_empty() {
            format!("The request to `{path}` is invalid.")
        } else {
            text
        }),
    };
    error.into_response()
}

pub(crate) fn route_not_found(method: &str, path: &str) -> MeiliError {
    MeiliError::new(
        ErrorCode::NotFound,
        format!("The route `{method} {path}` does not exist."),
    )
}

pub(crate) fn not_implemented(what: &str) -> MeiliError {
    MeiliError::new(
        ErrorCode::NotImplemented,
        format!("The Miroir stand-in node does not implement `{what}`."),
    )
}

pub(crate) fn json(status: StatusCode, v: Value) -> Response {
    (status, axum::Json(v)).into_response()
}

pub(crate) fn ok(v: Value) -> HttpResult {
    Ok(json(StatusCode::OK, v))
}

pub(crate) fn accepted(v: Value) -> HttpResult {
    Ok(json(StatusCode::ACCEPTED, v))
}

/// Authenticates a request for `action` (on the route's index, if it has one).
pub(crate) fn auth(
    node: &Node,
    headers: &HeaderMap,
    action: &str,
    index: Option<&str>,
) -> Result<Access, MeiliError> {
    let header = headers
        .get(AUTHORIZATION)
        .map(|h| h.to_str().unwrap_or_default());
    node.keys().authenticate(header, action, index)
}

fn is_length_limit(e: &axum::Error) -> bool {
    let mut source: Option<&dyn std::error::Error> = Some(e);
    while let Some(err) = source {
        if err.to_string().contains("length limit exceeded") {
            return true;
        }
        source = err.source();
    }
    false
}

/// Reads a body within the payload limit.
pub(crate) async fn read_body(
    node: &Node,
    headers: &HeaderMap,
    body: Body,
) -> Result<Bytes, MeiliError> {
    let limit = usize::try_from(node.config.max_payload_bytes).unwrap_or(usize::MAX);
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > node.config.max_payload_bytes) {
        return Err(MeiliError::payload_too_large(node.config.max_payload_bytes));
    }
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        if is_length_limit(&e) {
            MeiliError::payload_too_large(node.config.max_payload_bytes)
        } else {
            MeiliError::bad_request("The provided payload is incomplete and cannot be parsed")
        }
    })
}

/// A JSON body as Meilisearch's JSON extractor reads it: `Content-Type: application/json`
/// required, an empty body is a missing payload, a syntax error a malformed one.
pub(crate) async fn json_body(
    node: &Node,
    headers: &HeaderMap,
    body: Body,
) -> Result<Value, MeiliError> {
    const ACCEPTED: &[&str] = &["application/json"];
    let Some(raw) = headers.get(CONTENT_TYPE) else {
        return Err(MeiliError::missing_content_type(ACCEPTED));
    };
    let raw = String::from_utf8_lossy(raw.as_bytes()).to_string();
    if crate::documents::media_type(&raw).as_deref() != Some("application/json") {
        return Err(MeiliError::invalid_content_type(&raw, ACCEPTED));
    }
    let bytes = read_body(node, headers, body).await?;
    parse_json(&bytes)
}

pub(crate) fn parse_json(bytes: &[u8]) -> Result<Value, MeiliError> {
    serde_json::from_slice(bytes).map_err(|e| {
        if e.is_eof() && e.line() == 1 && e.column() == 0 {
            MeiliError::new(ErrorCode::MissingPayload, "A json payload is missing.")
        } else if e.is_data() {
            MeiliError::bad_request(format!("Json deserialize error: {e}"))
        } else {
            MeiliError::new(
                ErrorCode::MalformedPayload,
                format!("The json payload provided is malformed. `{e}`."),
            )
        }
    })
}

/// The documents routes and the search routes check the index uid of their path.
pub(crate) fn check_uid(uid: &str) -> Result<(), MeiliError> {
    crate::store::check_path_uid(uid)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_router_builds() {
        // Route conflicts panic when the router is built: building it is the test.
        let _router = super::router(crate::node::Node::new(crate::Config::default()));
    }
}
