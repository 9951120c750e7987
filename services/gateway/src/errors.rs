//! Meilisearch-shaped answers for everything the framework would otherwise answer on its own
//! (unknown route, wrong method, a rejection with a text body), the 202 summary of a task, and
//! the rewriting of node-local shard index names in errors.

use axum::body::Body;
use axum::extract::Request;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use miroir_proto::rpc::EnqueuedTask;
use miroir_proto::{ErrorType, MeiliError};

pub fn route_not_found(method: &str, path: &str) -> MeiliError {
    MeiliError::legacy(
        404,
        "not_found",
        ErrorType::InvalidRequest,
        format!("The route `{method} {path}` does not exist."),
    )
}

pub fn method_not_allowed(method: &str, path: &str) -> MeiliError {
    MeiliError::legacy(
        405,
        "method_not_allowed",
        ErrorType::InvalidRequest,
        format!("The method `{method}` is not allowed on `{path}`."),
    )
}

/// Fallback of the router: Meilisearch's 404 for a route that does not exist.
pub async fn not_found(req: Request) -> Response {
    route_not_found(req.method().as_str(), req.uri().path()).into_response()
}

/// Fallback for a known path with a method it does not serve.
pub async fn wrong_method(req: Request) -> Response {
    method_not_allowed(req.method().as_str(), req.uri().path()).into_response()
}

/// Last line of defence: an error response that is not JSON (an axum rejection, a panic caught
/// by a layer...) becomes a Meilisearch-shaped error with the same status.
pub async fn shape_errors(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let response = next.run(req).await;
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
        StatusCode::NOT_FOUND => route_not_found(method.as_str(), &path),
        StatusCode::METHOD_NOT_ALLOWED => method_not_allowed(method.as_str(), &path),
        s if s.is_server_error() => MeiliError::internal(if text.is_empty() {
            "An internal error occurred.".to_string()
        } else {
            text
        }),
        s => MeiliError::legacy(
            s.as_u16(),
            "bad_request",
            ErrorType::InvalidRequest,
            if text.is_empty() {
                format!("The request to `{path}` is invalid.")
            } else {
                text
            },
        ),
    };
    error.into_response()
}

/// Meilisearch's 202 answer to an asynchronous route.
pub fn enqueued(task: EnqueuedTask) -> Response {
    let body = serde_json::json!({
        "taskUid": task.task_uid,
        "indexUid": task.index_uid,
        "status": task.status,
        "type": task.task_type,
        "enqueuedAt": task.enqueued_at,
    });
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

fn is_uid_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// Replace every node-local shard index name of `uid` (`books__s3`) in the message by `uid`:
/// a client never sees how its index is striped.
pub fn rewrite_shard_names(error: MeiliError, uid: &str) -> MeiliError {
    rewrite_storage_names(error, uid, uid)
}

/// Replace every node-local shard name built on `base` (`books__s3`) by `uid`. After an index
/// swap the shards of `uid` carry another base name (the record's `storageUid`).
pub fn rewrite_storage_names(mut error: MeiliError, base: &str, uid: &str) -> MeiliError {
    let pattern = format!("{base}{}", miroir_placement::SHARD_SUFFIX_SEPARATOR);
    if !error.message.contains(&pattern) {
        return error;
    }
    let message = error.message.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(message.len());
    let mut i = 0;
    while i < message.len() {
        let rest = message.get(i..).unwrap_or_default();
        let preceded_by_uid_byte = i > 0 && message.get(i - 1).is_some_and(|&b| is_uid_byte(b));
        if !preceded_by_uid_byte && rest.starts_with(pattern.as_bytes()) {
            let after = rest.get(pattern.len()..).unwrap_or_default();
            let digits = after.iter().take_while(|b| b.is_ascii_digit()).count();
            let followed_by_uid_byte = after.get(digits).is_some_and(|&b| is_uid_byte(b));
            if digits > 0 && !followed_by_uid_byte {
                out.extend_from_slice(uid.as_bytes());
                i += pattern.len() + digits;
                continue;
            }
        }
        if let Some(&b) = message.get(i) {
            out.push(b);
        }
        i += 1;
    }
    error.message = String::from_utf8(out)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    error
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn shard_names_become_the_client_uid() {
        let e = MeiliError::legacy_invalid(
            "invalid_search_filter",
            "Index `npm__s2`: Attribute `version` is not filterable. (npm__s12, npm__s2x, xnpm__s1)",
        );
        let e = rewrite_shard_names(e, "npm");
        assert_eq!(
            e.message,
            "Index `npm`: Attribute `version` is not filterable. (npm, npm__s2x, xnpm__s1)"
        );
        let untouched = rewrite_shard_names(MeiliError::index_not_found("npm"), "npm");
        assert_eq!(untouched.message, "Index `npm` not found.");
    }
}
