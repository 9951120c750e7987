//! The HTTP client Miroir's services use to talk to Meilisearch nodes (real ones or the stand-in).
//!
//! A node's non-2xx answer is turned back into the [`MeiliError`] it carries, so that a node's
//! validation error reaches the client exactly as Meilisearch worded it. Transport failures are
//! [`NodeError::Unreachable`], which callers treat as "try another replica". A request made inside
//! a trace carries `traceparent` (the calling span) and `tracestate`.

use std::time::Duration;

use bytes::Bytes;
use miroir_proto::{ErrorCode, MeiliError};
use reqwest::Method;

// W3C trace context headers, sent on every request made inside a trace: the node sees the
// calling span as its parent.
use crate::trace::{TRACEPARENT, TRACESTATE};

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The node answered with a Meilisearch error.
    #[error("{0}")]
    Meili(MeiliError),
    /// The node could not be reached or did not answer in time.
    #[error("node {url} unreachable: {reason}")]
    Unreachable { url: String, reason: String },
}

impl NodeError {
    /// As a client-facing error: an unreachable node is a 503.
    pub fn into_meili(self) -> MeiliError {
        match self {
            NodeError::Meili(e) => e,
            NodeError::Unreachable { url, reason } => MeiliError::new(
                ErrorCode::NodeUnavailable,
                format!("A Meilisearch node of the cluster ({url}) is unreachable: {reason}"),
            ),
        }
    }
}

#[derive(Clone)]
pub struct NodeClient {
    http: reqwest::Client,
    /// `Bearer <master key>`, built once (marked sensitive: never logged by the HTTP stack).
    authorization: Option<reqwest::header::HeaderValue>,
}

impl NodeClient {
    /// `api_key`: the nodes' master key (never shown to clients). Fails only when the HTTP
    /// client cannot be built (no TLS backend): a client without the timeout is never used.
    pub fn new(api_key: Option<String>, timeout: Duration) -> Result<Self, NodeError> {
        let cannot = |what: String| NodeError::Unreachable {
            url: String::new(),
            reason: format!("cannot build the HTTP client for nodes: {what}"),
        };
        // A node never redirects; one that did would be misconfigured, and following it would
        // send the master key elsewhere.
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .pool_max_idle_per_host(64)
            .tcp_nodelay(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| cannot(e.to_string()))?;
        let authorization = match api_key {
            Some(key) => {
                let mut value = reqwest::header::HeaderValue::try_from(format!("Bearer {key}"))
                    .map_err(|_| cannot("the node API key is not a valid header value".into()))?;
                value.set_sensitive(true);
                Some(value)
            }
            None => None,
        };
        Ok(NodeClient {
            http,
            authorization,
        })
    }

    /// Send a request and return the raw body of a 2xx answer.
    pub async fn send(
        &self,
        base_url: &str,
        method: Method,
        path_and_query: &str,
        body: Option<(&'static str, Bytes)>,
    ) -> Result<(u16, Bytes), NodeError> {
        let url = format!("{}{}", base_url.trim_end_matches('/'), path_and_query);
        let mut req = self.http.request(method, &url);
        if let Some(authorization) = &self.authorization {
            req = req.header(reqwest::header::AUTHORIZATION, authorization.clone());
        }
        if let Some(active) = crate::trace::current() {
            req = req.header(TRACEPARENT, active.context.header_value());
            if let Some(state) = active.state {
                req = req.header(TRACESTATE, state);
            }
        }
        if let Some((content_type, bytes)) = body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(bytes);
        }
        let resp = req.send().await.map_err(|e| NodeError::Unreachable {
            url: base_url.to_string(),
            reason: e.to_string(),
        })?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(|e| NodeError::Unreachable {
            url: base_url.to_string(),
            reason: e.to_string(),
        })?;
        if (200..300).contains(&status) {
            Ok((status, bytes))
        } else if status >= 500
            && serde_json::from_slice::<miroir_proto::MeiliErrorBody>(&bytes).is_err()
        {
            Err(NodeError::Unreachable {
                url: base_url.to_string(),
                reason: format!("HTTP {status}"),
            })
        } else {
            Err(NodeError::Meili(MeiliError::from_node_body(status, &bytes)))
        }
    }

    /// Send JSON (or nothing) and parse a JSON answer.
    pub async fn json(
        &self,
        base_url: &str,
        method: Method,
        path_and_query: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<serde_json::Value, NodeError> {
        let body = body.map(|v| {
            (
                "application/json",
                Bytes::from(serde_json::to_vec(v).unwrap_or_default()),
            )
        });
        let (_, bytes) = self.send(base_url, method, path_and_query, body).await?;
        if bytes.is_empty() {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_slice(&bytes).map_err(|e| NodeError::Unreachable {
            url: base_url.to_string(),
            reason: format!("answer is not JSON: {e}"),
        })
    }

    /// Whether the node holds the index `name`, or has its creation enqueued or processing (a
    /// replayed or just-sent creation that the node has not applied yet). `index_not_found`
    /// with no creation pending is `Ok(false)`; other failures are returned, for the caller to
    /// decide what an unreachable node means.
    pub async fn index_present(&self, base_url: &str, name: &str) -> Result<bool, NodeError> {
        let missing = |r: &Result<(u16, Bytes), NodeError>| matches!(r, Err(NodeError::Meili(e)) if e.code == ErrorCode::IndexNotFound);
        let index = format!("/indexes/{name}");
        let first = self.send(base_url, Method::GET, &index, None).await;
        if !missing(&first) {
            return first.map(|_| true);
        }
        let pending = format!(
            "/tasks?indexUids={name}&types=indexCreation&statuses=enqueued,processing&limit=1"
        );
        let tasks = self.json(base_url, Method::GET, &pending, None).await?;
        if tasks["results"].as_array().is_some_and(|r| !r.is_empty()) {
            return Ok(true);
        }
        // The creation may have finished between the two looks: look at the index again.
        let again = self.send(base_url, Method::GET, &index, None).await;
        if missing(&again) {
            Ok(false)
        } else {
            again.map(|_| true)
        }
    }
}
