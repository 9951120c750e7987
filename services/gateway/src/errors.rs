//! Meilisearch-shaped answers for everything the framework would otherwise answer on its own
//! (unknown route, wrong method, a rejection with a text body) and the 202 summary of a task.
//! Shard index names in errors are rewritten by `miroir_cluster::rewrite_shard_names`.

use axum::body::Body;
use axum::extract::Request;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use miroir_proto::rpc::EnqueuedTask;
use miroir_proto::{ErrorCode, MeiliError};

pub fn route_not_found(method: &str, path: &str) -> MeiliError {
    MeiliError::new(
        ErrorCode::NotFound,
        format!("The route `{method} {path}` does not exist."),
    )
}

pub fn method_not_allowed(method: &str, path: &str) -> MeiliError {
    MeiliError::new(
        ErrorCode::MethodNotAllowed,
        format!("The method `{method}` is not allowed on `{path}`."),
    )
}

/// Marks the answer to a request no route matched (its metrics family is `unknown`).
#[derive(Clone, Copy, Debug)]
pub struct Unrouted;

/// Fallback of the router: Meilisearch's 404 for a route that does not exist.
pub async fn not_found(req: Request) -> Response {
    let mut response = route_not_found(req.method().as_str(), req.uri().path()).into_response();
    response.extensions_mut().insert(Unrouted);
    response
}

/// Fallback for a known path with a method it does not serve.
pub async fn wrong_method(req: Request) -> Response {
    method_not_allowed(req.method().as_str(), req.uri().path()).into_response()
}

/// Last line of defence: an error response that is not JSON (an axum rejection, a panic caught
/// by a layer...) becomes a Meilisearch-shaped error with the same status. `method` and `path`
/// are the request's, for the 404 and 405 wording.
pub async fn shape(method: &Method, path: &str, response: Response) -> Response {
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
        StatusCode::METHOD_NOT_ALLOWED => method_not_allowed(method.as_str(), path),
        s if s.is_server_error() => MeiliError::internal(if text.is_empty() {
            "An internal error occurred.".to_string()
        } else {
            text
        }),
        s => MeiliError::new(
            ErrorCode::BadRequest,
            if text.is_empty() {
                format!("The request to `{path}` is invalid.")
            } else {
                text
            },
        )
        .with_status(s.as_u16()),
    };
    error.into_response()
}

/// Meilisearch's 202 answer to an asynchronous route.
pub fn enqueued(task: EnqueuedTask) -> Response {
    let mut body = serde_json::json!({
        "taskUid": task.task_uid,
        "indexUid": task.index_uid,
        "status": task.status,
        "type": task.task_type,
        "enqueuedAt": task.enqueued_at,
    });
    // Last, and only when the client gave one, as a node answers.
    if let (Some(meta), Some(map)) = (task.custom_metadata, body.as_object_mut()) {
        map.insert("customMetadata".into(), serde_json::Value::String(meta));
    }
    (StatusCode::ACCEPTED, axum::Json(body)).into_response()
}

/// A JSON body from the router or the merger, handed to the client byte for byte.
pub fn raw_json(status: StatusCode, body: Bytes) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
