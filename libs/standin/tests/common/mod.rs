//! Starts a stand-in node in-process on an ephemeral port, for the integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use miroir_standin::Config;
use serde_json::Value;
use tokio::sync::oneshot;

pub struct Server {
    pub base: String,
    pub client: reqwest::Client,
    pub master_key: Option<String>,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Server {
    pub async fn start(config: Config) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = oneshot::channel::<()>();
        let master_key = config.master_key.clone();
        let handle = tokio::spawn(miroir_standin::run(config, listener, async move {
            let _ = rx.await;
        }));
        let server = Server {
            base,
            client: reqwest::Client::new(),
            master_key,
            stop: Some(tx),
            handle: Some(handle),
        };
        server.wait_healthy().await;
        server
    }

    async fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(r) = self
                .client
                .get(format!("{}/health", self.base))
                .send()
                .await
                && r.status().is_success()
            {
                return;
            }
            let ended = self.handle.as_ref().is_some_and(|h| h.is_finished());
            assert!(
                !ended && Instant::now() < deadline,
                "the stand-in did not become healthy"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Sends a request and returns the status and the body as JSON (`""` for an empty body,
    /// as the recordings write it; a non-JSON body is returned as a string).
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        body: Option<Vec<u8>>,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self
            .client
            .request(method, format!("{}{}", self.base, path));
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        if let Some(body) = body {
            req = req.body(body);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.unwrap();
        let body = if bytes.is_empty() {
            Value::String(String::new())
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        (status, body)
    }

    pub fn auth(&self) -> Vec<(&'static str, String)> {
        match &self.master_key {
            Some(k) => vec![("Authorization", format!("Bearer {k}"))],
            None => vec![],
        }
    }

    pub async fn json(&self, method: &str, path: &str, body: &Value) -> (u16, Value) {
        let mut h = self.auth();
        h.push(("Content-Type", "application/json".into()));
        self.send(method, path, &h, Some(serde_json::to_vec(body).unwrap()))
            .await
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let h = self.auth();
        self.send("GET", path, &h, None).await
    }

    /// Polls `GET /tasks/{uid}` until the task has finished (or the answer is not a task),
    /// with a deadline.
    pub async fn poll_task(&self, uid: u64) -> (u16, Value) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (status, task) = self.get(&format!("/tasks/{uid}")).await;
            if status != 200
                || matches!(
                    task["status"].as_str(),
                    Some("succeeded" | "failed" | "canceled")
                )
            {
                return (status, task);
            }
            assert!(
                Instant::now() < deadline,
                "task {uid} did not finish: {task}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Waits for a task that must exist.
    pub async fn wait_task(&self, uid: u64) -> Value {
        let (status, task) = self.poll_task(uid).await;
        assert_eq!(status, 200, "GET /tasks/{uid}: {task}");
        task
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            h.await.unwrap().unwrap();
        }
    }
}

/// `libs/testkit/fixtures/`, the repository's copy of the recordings and the npm corpus.
pub fn fixtures_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testkit/fixtures")
}

pub fn npm_corpus_path() -> std::path::PathBuf {
    fixtures_dir().join("npm-10k.ndjson")
}

/// One recorded exchange with a real Meilisearch 1.50 node.
#[derive(Clone, Debug, serde::Deserialize)]
pub struct Exchange {
    pub name: String,
    pub request: RecordedRequest,
    pub response: RecordedResponse,
}

#[derive(Clone, Debug, serde::Deserialize)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    #[serde(default)]
    pub headers: serde_json::Map<String, Value>,
    #[serde(default)]
    pub body: Value,
}

#[derive(Clone, Debug, serde::Deserialize)]
pub struct RecordedResponse {
    pub status: u16,
    #[serde(default)]
    pub body: Value,
}

pub fn load_recordings(file: &str) -> Vec<Exchange> {
    let path = fixtures_dir().join("meilisearch-1.50").join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}
