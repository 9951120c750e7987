//! Calls the cluster's webhooks (`miroir-webhooks` bucket) when a cluster task finishes, with the
//! payload a Meilisearch node sends: the finished task as `GET /tasks/{uid}` shows it, one JSON
//! object per line (`application/x-ndjson`), gzip-encoded (`Content-Encoding: gzip`), with the
//! webhook's headers. A cluster task is its own batch, so each request carries one task.
//!
//! Where tasks finish: a task becomes final when its record in `miroir-tasks` gets `finished`
//! (whichever code path writes it: the view cache in `tasks.rs`, a dump, a cancelation...). Every
//! router replica follows that bucket; for each finished record, the replicas race to create the
//! claim `delivered.<uid>` in the webhooks bucket, and only the one that creates it notifies.
//! Delivery is therefore at most once per task across the cluster, then retried with
//! exponential backoff per webhook (transport errors, 408, 429 and 5xx; other answers are final)
//! so a flaky endpoint gets it; an endpoint that took a request whose answer was lost may get it
//! twice. A replica that dies with notifications in its queue loses them, and tasks that finish
//! while no router runs are not notified. Order: in finishing order within one replica, none
//! across replicas.
//!
//! The queue is bounded ([`QUEUE`]): when it is full a notification is dropped (counted and
//! logged), never waited for; the write path does not go through here at all.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::kv::{self, Operation};
use flate2::Compression;
use flate2::write::GzEncoder;
use futures::StreamExt;
use miroir_cluster::webhooks::{Webhook, WebhookSet, WebhookStore};
use miroir_proto::subjects::{TASK_KEY_PREFIX, TASKS_BUCKET};
use miroir_proto::tasks::ClusterTask;
use reqwest::StatusCode;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

/// Notifications waiting to be sent by this replica.
pub const QUEUE: usize = 1024;
/// Attempts per webhook and notification (the first and its retries).
pub const ATTEMPTS: u32 = 6;
/// The first retry's pause; each next one doubles, up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(100);
const MAX_PAUSE: Duration = Duration::from_secs(5);
/// One request's deadline.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The pause before attempt `attempt` (1 = the first retry).
pub fn backoff(attempt: u32) -> Duration {
    FIRST_PAUSE
        .saturating_mul(
            1u32.checked_shl(attempt.saturating_sub(1))
                .unwrap_or(u32::MAX),
        )
        .min(MAX_PAUSE)
}

/// Whether a webhook's answer is worth another attempt.
pub fn retryable(status: StatusCode) -> bool {
    status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
}

/// The request body: the tasks as NDJSON, gzip-compressed.
pub fn payload(tasks: &[serde_json::Value]) -> std::io::Result<Vec<u8>> {
    use std::io::Write;
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    for t in tasks {
        serde_json::to_writer(&mut gz, t)?;
        gz.write_all(b"\n")?;
    }
    gz.finish()
}

/// The task uid of a `task.<uid>` key.
fn task_uid(key: &str) -> Option<u64> {
    key.strip_prefix(TASK_KEY_PREFIX)?
        .strip_prefix('.')?
        .parse()
        .ok()
}

struct Notification {
    uid: u64,
    body: Arc<Vec<u8>>,
}

/// Follow the tasks bucket and notify the webhooks until `shutdown`.
pub(crate) async fn run(js: async_nats::jetstream::Context, shutdown: CancellationToken) {
    if let Err(e) = serve(js, shutdown).await {
        tracing::error!(error = %e, "webhook notifications stopped");
    }
}

async fn serve(
    js: async_nats::jetstream::Context,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let store = WebhookStore::open(&js).await?;
    let hooks = store.mirror().await?;
    let tasks = js
        .get_key_value(TASKS_BUCKET)
        .await
        .map_err(|e| anyhow::anyhow!("cannot open the tasks bucket: {e}"))?;
    let client = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()?;
    let (tx, rx) = mpsc::channel::<Notification>(QUEUE);
    tokio::spawn(deliver(rx, hooks.clone(), client, shutdown.clone()));
    let mut from = miroir_cluster::kv_mirror::last_revision(&tasks).await? + 1;
    let mut pause = Duration::from_millis(100);
    loop {
        let mut watch = match tasks.watch_all_from_revision(from).await {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch the tasks bucket yet");
                tokio::select! {
                    _ = shutdown.cancelled() => return Ok(()),
                    _ = tokio::time::sleep(pause) => {}
                }
                pause = (pause * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        loop {
            let entry = tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                e = watch.next() => e,
            };
            let entry = match entry {
                Some(Ok(e)) => e,
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "the tasks watch failed; opening it again");
                    break;
                }
                None => break,
            };
            pause = Duration::from_millis(100);
            from = entry.revision + 1;
            on_task(&store, &hooks, &tx, &entry).await;
        }
    }
}

/// One change of the tasks bucket.
async fn on_task(
    store: &WebhookStore,
    hooks: &watch::Receiver<Arc<WebhookSet>>,
    tx: &mpsc::Sender<Notification>,
    entry: &kv::Entry,
) {
    let Some(uid) = task_uid(&entry.key) else {
        return;
    };
    if hooks.borrow().webhooks.is_empty() {
        return;
    }
    if !matches!(entry.operation, Operation::Put) {
        // The task was deleted: its claim goes too, so the bucket does not grow with old tasks.
        if let Ok(Some(_)) = store.claim_of(uid).await {
            let _ = store.release(uid).await;
        }
        return;
    }
    let Ok(task) = serde_json::from_slice::<ClusterTask>(&entry.value) else {
        return;
    };
    let Some(f) = &task.finished else { return };
    match store.claim(uid).await {
        Ok(true) => {}
        Ok(false) => return,
        Err(e) => {
            tracing::warn!(task = uid, error = %e, "cannot claim a task's webhook notification");
            return;
        }
    }
    let view = crate::tasks::render(
        &task,
        &f.status,
        &f.details,
        f.error.as_ref(),
        Some(&f.started_at),
        Some(&f.finished_at),
    );
    let body = match payload(&[view]) {
        Ok(b) => Arc::new(b),
        Err(e) => {
            tracing::error!(task = uid, error = %e, "cannot encode a webhook payload");
            return;
        }
    };
    match tx.try_send(Notification { uid, body }) {
        Ok(()) => crate::metrics::webhook_queue_depth(QUEUE - tx.capacity()),
        Err(_) => {
            crate::metrics::webhook_dropped();
            tracing::warn!(
                task = uid,
                queue = QUEUE,
                "webhook queue full: the task's notification is dropped"
            );
        }
    }
}

/// Send each notification to every webhook (concurrently, each with its retries), in order.
async fn deliver(
    mut rx: mpsc::Receiver<Notification>,
    hooks: watch::Receiver<Arc<WebhookSet>>,
    client: reqwest::Client,
    shutdown: CancellationToken,
) {
    loop {
        let n = tokio::select! {
            _ = shutdown.cancelled() => {
                if !rx.is_empty() {
                    tracing::warn!(pending = rx.len(), "stopping with webhook notifications unsent");
                }
                return;
            }
            n = rx.recv() => match n { Some(n) => n, None => return },
        };
        crate::metrics::webhook_queue_depth(rx.len());
        let targets: Vec<(String, Webhook)> = hooks
            .borrow()
            .webhooks
            .iter()
            .map(|(u, w)| (u.clone(), w.clone()))
            .collect();
        let sends = targets
            .iter()
            .map(|(uuid, w)| send(&client, uuid, w, n.uid, &n.body));
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = futures::future::join_all(sends) => {}
        }
    }
}

/// One notification to one webhook, retried.
async fn send(client: &reqwest::Client, uuid: &str, hook: &Webhook, uid: u64, body: &Arc<Vec<u8>>) {
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            crate::metrics::webhook_retry();
            tokio::time::sleep(backoff(attempt)).await;
        }
        let mut req = client
            .post(&hook.url)
            .header("Content-Type", "application/x-ndjson")
            .header("Content-Encoding", "gzip");
        for (name, value) in &hook.headers {
            req = req.header(name, value);
        }
        let outcome = req.body(body.as_ref().clone()).send().await;
        let again = match outcome {
            Ok(r) if r.status().is_success() => {
                crate::metrics::webhook_delivered();
                return;
            }
            Ok(r) => {
                let status = r.status();
                tracing::warn!(webhook = uuid, task = uid, %status, attempt, "a webhook refused a task notification");
                retryable(status)
            }
            Err(e) => {
                tracing::warn!(webhook = uuid, task = uid, error = %e, attempt, "cannot reach a webhook");
                true
            }
        };
        if !again {
            break;
        }
    }
    crate::metrics::webhook_failed();
    tracing::error!(
        webhook = uuid,
        task = uid,
        "giving up on a task notification"
    );
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::io::Read;

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        assert_eq!(backoff(1), Duration::from_millis(100));
        assert_eq!(backoff(2), Duration::from_millis(200));
        assert_eq!(backoff(5), Duration::from_millis(1600));
        assert_eq!(backoff(7), MAX_PAUSE);
        assert_eq!(backoff(200), MAX_PAUSE);
    }

    #[test]
    fn which_answers_are_retried() {
        assert!(retryable(StatusCode::INTERNAL_SERVER_ERROR));
        assert!(retryable(StatusCode::SERVICE_UNAVAILABLE));
        assert!(retryable(StatusCode::TOO_MANY_REQUESTS));
        assert!(!retryable(StatusCode::UNAUTHORIZED));
        assert!(!retryable(StatusCode::NOT_FOUND));
    }

    #[test]
    fn payload_is_gzipped_ndjson() {
        let body =
            payload(&[serde_json::json!({"uid": 1}), serde_json::json!({"uid": 2})]).unwrap();
        let mut text = String::new();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "{\"uid\":1}\n{\"uid\":2}\n");
    }

    #[test]
    fn task_keys() {
        assert_eq!(task_uid("task.42"), Some(42));
        assert_eq!(task_uid("seq"), None);
        assert_eq!(task_uid("task.x"), None);
    }
}
