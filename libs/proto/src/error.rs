//! Meilisearch's error shape: `{message, code, type, link}` plus the HTTP status it travels with.
//!
//! Every error that reaches a client, from any service or from the stand-in node, is a
//! [`MeiliError`]. It also travels between services inside replies, so it is serializable.
//! Its code, status and type come from the one table in [`crate::error_code`].

use serde::{Deserialize, Serialize};

pub use crate::error_code::{Code, ErrorCode, ErrorType};

/// A Meilisearch-shaped error with its HTTP status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct MeiliError {
    /// The code's status ([`ErrorCode::status`]), except for a node's error, which keeps the
    /// status the node answered with, and the few places Meilisearch itself overrides it.
    pub status: u16,
    pub code: Code,
    #[serde(rename = "type")]
    pub error_type: ErrorType,
    pub message: String,
}

/// The JSON body a client sees.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeiliErrorBody {
    pub message: String,
    pub code: Code,
    #[serde(rename = "type")]
    pub error_type: ErrorType,
    pub link: String,
}

pub const ERROR_LINK_BASE: &str = "https://docs.meilisearch.com/errors#";

impl MeiliError {
    /// An error with `code`'s status and type.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        MeiliError {
            status: code.status(),
            code: Code::Known(code),
            error_type: code.error_type(),
            message: message.into(),
        }
    }

    /// The same error answered with another status. Meilisearch does this in a few places (an
    /// error inside a multi-search query is a 400 whatever its code); say why where it is used.
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    /// The same error with another message (a location prefixed, a shard name rewritten).
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    pub fn link(&self) -> String {
        format!("{ERROR_LINK_BASE}{}", self.code)
    }

    pub fn body(&self) -> MeiliErrorBody {
        MeiliErrorBody {
            message: self.message.clone(),
            code: self.code.clone(),
            error_type: self.error_type,
            link: self.link(),
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "message": self.message,
            "code": self.code.as_str(),
            "type": self.error_type.as_str(),
            "link": self.link(),
        })
    }

    /// Rebuild an error from a status and a JSON body a Meilisearch node returned. The node's
    /// status, code and type are kept, whether or not Miroir knows the code.
    /// A body that is not Meilisearch-shaped becomes an internal error that quotes it.
    pub fn from_node_body(status: u16, body: &[u8]) -> Self {
        match serde_json::from_slice::<MeiliErrorBody>(body) {
            Ok(b) => MeiliError {
                status,
                code: b.code,
                error_type: b.error_type,
                message: b.message,
            },
            Err(_) => Self::internal(format!(
                "a node answered {status} with a body that is not a Meilisearch error: {}",
                String::from_utf8_lossy(&body[..body.len().min(200)])
            )),
        }
    }

    // Constructors for errors that several crates raise. Messages are Meilisearch 1.50's, verbatim.

    pub fn missing_authorization_header() -> Self {
        Self::new(
            ErrorCode::MissingAuthorizationHeader,
            "The Authorization header is missing. It must use the bearer authorization method.",
        )
    }

    pub fn invalid_api_key() -> Self {
        Self::new(ErrorCode::InvalidApiKey, "The provided API key is invalid.")
    }

    pub fn index_not_found(uid: &str) -> Self {
        Self::new(
            ErrorCode::IndexNotFound,
            format!("Index `{uid}` not found."),
        )
    }

    pub fn index_already_exists(uid: &str) -> Self {
        Self::new(
            ErrorCode::IndexAlreadyExists,
            format!("Index `{uid}` already exists."),
        )
    }

    pub fn document_not_found(id: &str) -> Self {
        Self::new(
            ErrorCode::DocumentNotFound,
            format!("Document `{id}` not found."),
        )
    }

    pub fn task_not_found(uid: u64) -> Self {
        Self::new(ErrorCode::TaskNotFound, format!("Task `{uid}` not found."))
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }

    pub fn malformed_payload(format: &str, detail: impl std::fmt::Display) -> Self {
        Self::new(
            ErrorCode::MalformedPayload,
            format!("The `{format}` payload provided is malformed. `{detail}`."),
        )
    }

    pub fn invalid_content_type(got: &str, accepted: &[&str]) -> Self {
        let accepted: Vec<String> = accepted.iter().map(|a| format!("`{a}`")).collect();
        Self::new(
            ErrorCode::InvalidContentType,
            format!(
                "The Content-Type `{got}` is invalid. Accepted values for the Content-Type header are: {}",
                accepted.join(", ")
            ),
        )
    }

    pub fn missing_content_type(accepted: &[&str]) -> Self {
        let accepted: Vec<String> = accepted.iter().map(|a| format!("`{a}`")).collect();
        Self::new(
            ErrorCode::MissingContentType,
            format!(
                "A Content-Type header is missing. Accepted values for the Content-Type header are: {}",
                accepted.join(", ")
            ),
        )
    }

    pub fn payload_too_large(limit_bytes: u64) -> Self {
        Self::new(
            ErrorCode::PayloadTooLarge,
            format!(
                "The provided payload reached the size limit. The maximum accepted payload size is {}.",
                human_bytes(limit_bytes)
            ),
        )
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }

    /// A Miroir service that a request needs has no live replica (NATS `NoResponders`).
    pub fn service_unavailable(service: &str) -> Self {
        Self::new(
            ErrorCode::ServiceUnavailable,
            format!(
                "The Miroir `{service}` service is not available: no replica answered. Retry later."
            ),
        )
    }

    /// A Miroir service did not answer within the request's deadline.
    pub fn timeout(service: &str, millis: u64) -> Self {
        Self::new(
            ErrorCode::ServiceTimeout,
            format!("The Miroir `{service}` service did not answer within {millis} ms."),
        )
    }
}

fn human_bytes(b: u64) -> String {
    const MB: u64 = 1_000_000;
    if b >= MB && b.is_multiple_of(MB) {
        format!("{} MB", b / MB)
    } else {
        format!("{b} B")
    }
}

#[cfg(feature = "axum")]
mod http {
    use super::MeiliError;
    use axum::response::{IntoResponse, Response};

    impl IntoResponse for MeiliError {
        fn into_response(self) -> Response {
            let status = axum::http::StatusCode::from_u16(self.status)
                .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
            (status, axum::Json(self.to_json())).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_meilisearch_shape() {
        let e = MeiliError::index_not_found("nope");
        assert_eq!(
            e.to_json(),
            serde_json::json!({
                "message": "Index `nope` not found.",
                "code": "index_not_found",
                "type": "invalid_request",
                "link": "https://docs.meilisearch.com/errors#index_not_found"
            })
        );
        assert_eq!(e.status, 404);
    }

    #[test]
    fn node_body_round_trips_and_garbage_is_internal() {
        let e = MeiliError::invalid_api_key();
        let body = serde_json::to_vec(&e.to_json()).unwrap_or_default();
        assert_eq!(MeiliError::from_node_body(403, &body), e);
        let g = MeiliError::from_node_body(502, b"<html>bad gateway</html>");
        assert_eq!(g.status, 500);
        assert_eq!(g.code, ErrorCode::Internal);
    }
}
