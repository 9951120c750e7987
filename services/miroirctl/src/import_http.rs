//! A small client of a Meilisearch-compatible HTTP API (a node, or the cluster's gateway) with
//! a bearer key: JSON in and out, NDJSON uploads, task waits. An answer that is not a 2xx is an
//! error carrying Meilisearch's `code` and `message`, so a refusal reads as the server said it.

use std::time::{Duration, Instant};

use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{method} {url}: {message}")]
    Transport {
        method: &'static str,
        url: String,
        message: String,
    },
    #[error("{method} {url} answered {status}: {message} ({code})")]
    Status {
        method: &'static str,
        url: String,
        status: u16,
        code: String,
        message: String,
    },
    #[error("task {uid} at {base} {status}: {error}")]
    TaskFailed {
        base: String,
        uid: u64,
        status: String,
        error: String,
    },
    #[error("task {uid} at {base} did not finish within {secs} s (last status `{status}`)")]
    TaskTimeout {
        base: String,
        uid: u64,
        secs: u64,
        status: String,
    },
}

impl HttpError {
    /// Meilisearch's error code, for a refusal.
    pub fn code(&self) -> Option<&str> {
        match self {
            HttpError::Status { code, .. } => Some(code),
            _ => None,
        }
    }
}

#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
    base: String,
    key: Option<String>,
    task_timeout: Duration,
}

impl Http {
    pub fn new(base: &str, key: Option<String>, task_timeout: Duration) -> Result<Self, HttpError> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(300))
            .build()
            .map_err(|e| HttpError::Transport {
                method: "-",
                url: base.to_string(),
                message: e.to_string(),
            })?;
        Ok(Http {
            client,
            base: base.trim_end_matches('/').to_string(),
            key: key.filter(|k| !k.is_empty()),
            task_timeout,
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    async fn send(
        &self,
        method: &'static str,
        path: &str,
        body: Option<(Vec<u8>, &'static str)>,
    ) -> Result<Value, HttpError> {
        let url = format!("{}{path}", self.base);
        let m = match method {
            "GET" => reqwest::Method::GET,
            "POST" => reqwest::Method::POST,
            "PATCH" => reqwest::Method::PATCH,
            "PUT" => reqwest::Method::PUT,
            _ => reqwest::Method::DELETE,
        };
        let mut req = self.client.request(m, &url);
        if let Some(key) = &self.key {
            req = req.bearer_auth(key);
        }
        if let Some((bytes, content_type)) = body {
            req = req.header("Content-Type", content_type).body(bytes);
        }
        let transport = |e: reqwest::Error| HttpError::Transport {
            method,
            url: url.clone(),
            message: e.to_string(),
        };
        let resp = req.send().await.map_err(transport)?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(transport)?;
        let value: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                Value::String(String::from_utf8_lossy(&bytes[..bytes.len().min(500)]).into())
            })
        };
        if !(200..300).contains(&status) {
            return Err(HttpError::Status {
                method,
                url,
                status,
                code: value["code"].as_str().unwrap_or("").to_string(),
                message: value["message"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| value.to_string()),
            });
        }
        Ok(value)
    }

    pub async fn get(&self, path: &str) -> Result<Value, HttpError> {
        self.send("GET", path, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, HttpError> {
        self.send("POST", path, Some((json_bytes(body), "application/json")))
            .await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Result<Value, HttpError> {
        self.send("PATCH", path, Some((json_bytes(body), "application/json")))
            .await
    }

    pub async fn post_ndjson(&self, path: &str, body: Vec<u8>) -> Result<Value, HttpError> {
        self.send("POST", path, Some((body, "application/x-ndjson")))
            .await
    }

    /// Wait for the task an answer enqueued to succeed; its final view.
    pub async fn wait_succeeded(&self, enqueued: &Value) -> Result<Value, HttpError> {
        let uid = enqueued["taskUid"]
            .as_u64()
            .ok_or_else(|| HttpError::Transport {
                method: "-",
                url: self.base.clone(),
                message: format!("the answer names no task: {enqueued}"),
            })?;
        self.wait_task(uid).await
    }

    /// Poll `GET /tasks/{uid}` until the task is final; an error unless it succeeded.
    pub async fn wait_task(&self, uid: u64) -> Result<Value, HttpError> {
        let started = Instant::now();
        let mut delay = Duration::from_millis(10);
        loop {
            let task = self.get(&format!("/tasks/{uid}")).await?;
            let status = task["status"].as_str().unwrap_or("").to_string();
            match status.as_str() {
                "succeeded" => return Ok(task),
                "failed" | "canceled" => {
                    return Err(HttpError::TaskFailed {
                        base: self.base.clone(),
                        uid,
                        status,
                        error: task["error"]["message"]
                            .as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| task["error"].to_string()),
                    });
                }
                _ => {}
            }
            if started.elapsed() > self.task_timeout {
                return Err(HttpError::TaskTimeout {
                    base: self.base.clone(),
                    uid,
                    secs: self.task_timeout.as_secs(),
                    status,
                });
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_millis(250));
        }
    }
}

fn json_bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}
