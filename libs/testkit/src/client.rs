//! A small HTTP client for tests that talk to a node or to the gateway the way an application
//! does: JSON in and out, `Authorization: Bearer <key>`, and waiting for a task to finish.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use reqwest::Method;
use serde_json::Value;

use crate::wait::{Attempt, until};

/// How long [`MeiliClient::wait_task`] waits before it gives up.
pub const TASK_TIMEOUT: Duration = Duration::from_secs(30);

/// A status and a body. The body is the parsed JSON, `Null` when empty, or the text as a JSON
/// string when it is not JSON.
#[derive(Clone, Debug, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    /// The `taskUid` of a summarized task (what an asynchronous route answers with `202`).
    pub fn task_uid(&self) -> Result<u64> {
        self.body
            .get("taskUid")
            .and_then(Value::as_u64)
            .with_context(|| format!("no taskUid in the {} answer {}", self.status, self.body))
    }
}

/// Talks to one Meilisearch-compatible endpoint.
#[derive(Clone, Debug)]
pub struct MeiliClient {
    base: String,
    key: Option<String>,
    http: reqwest::Client,
}

/// A client that never goes through a proxy (tests only talk to loopback) and never hangs.
pub(crate) fn http_client() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .context("building an HTTP client")
}

impl MeiliClient {
    /// `base` is like `http://127.0.0.1:7700`; `key` is sent as a bearer token when given.
    pub fn new(base: impl Into<String>, key: Option<String>) -> Self {
        // Building the client fails only when a TLS backend cannot start, and none is enabled.
        let http = http_client().unwrap_or_default();
        MeiliClient {
            base: base.into().trim_end_matches('/').to_string(),
            key,
            http,
        }
    }

    /// The same endpoint with another key (or none).
    pub fn with_key(&self, key: Option<String>) -> Self {
        MeiliClient {
            key,
            ..self.clone()
        }
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    pub async fn get(&self, path: &str) -> Result<Reply> {
        self.send(Method::GET, path, None).await
    }

    pub async fn delete(&self, path: &str) -> Result<Reply> {
        self.send(Method::DELETE, path, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Result<Reply> {
        self.send(Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Result<Reply> {
        self.send(Method::PUT, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Result<Reply> {
        self.send(Method::PATCH, path, Some(body)).await
    }

    /// Any method with a raw body and content type (NDJSON, CSV, malformed payloads).
    pub async fn send_raw(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<Reply> {
        let request = self
            .request(method, path)
            .header("Content-Type", content_type)
            .body(body);
        read_reply(
            request
                .send()
                .await
                .with_context(|| format!("{}{path}", self.base))?,
        )
        .await
    }

    async fn send(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Reply> {
        let mut request = self.request(method, path);
        if let Some(body) = body {
            request = request.json(body);
        }
        read_reply(
            request
                .send()
                .await
                .with_context(|| format!("{}{path}", self.base))?,
        )
        .await
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let request = self.http.request(method, format!("{}{path}", self.base));
        match &self.key {
            Some(key) => request.bearer_auth(key),
            None => request,
        }
    }

    /// Polls `GET /tasks/{uid}` until the task is `succeeded`, `failed` or `canceled`, and
    /// returns it; the caller checks which.
    pub async fn wait_task(&self, uid: u64) -> Result<Value> {
        let path = format!("/tasks/{uid}");
        until(
            &format!("task {uid} on {}", self.base),
            TASK_TIMEOUT,
            || async {
                let reply = self.get(&path).await?;
                if reply.status != 200 {
                    bail!("GET {path} answered {}: {}", reply.status, reply.body);
                }
                Ok(match reply.body.get("status").and_then(Value::as_str) {
                    Some("succeeded" | "failed" | "canceled") => Attempt::Ready(reply.body),
                    Some(status) => Attempt::Retry(format!("status {status}")),
                    None => bail!("GET {path} has no status: {}", reply.body),
                })
            },
        )
        .await
    }

    /// [`wait_task`](Self::wait_task) on the task of an asynchronous route's answer, failing
    /// unless the task succeeded.
    pub async fn wait_succeeded(&self, enqueued: &Reply) -> Result<Value> {
        if enqueued.status != 202 {
            bail!(
                "expected 202 with a task, got {}: {}",
                enqueued.status,
                enqueued.body
            );
        }
        let task = self.wait_task(enqueued.task_uid()?).await?;
        match task.get("status").and_then(Value::as_str) {
            Some("succeeded") => Ok(task),
            _ => bail!("task did not succeed: {task}"),
        }
    }
}

async fn read_reply(response: reqwest::Response) -> Result<Reply> {
    let status = response.status().as_u16();
    let bytes = response
        .bytes()
        .await
        .context("reading the answer's body")?;
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    Ok(Reply { status, body })
}
