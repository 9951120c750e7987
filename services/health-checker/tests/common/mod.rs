//! Shared by the health-checker's integration tests: a real `nats-server`, stand-in nodes, a
//! record of every write to the `nodes.*` keys of the topology bucket (so that a `suspect` that
//! lasted 100 ms is seen), and health-checker replicas that can crash like a killed process.
#![allow(dead_code, clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use async_nats::jetstream::{self, kv};
use futures::StreamExt;
use miroir_cluster::lease;
use miroir_health_checker::{Config, LEASE_NAME};
use miroir_proto::subjects::{NODE_KEY_PREFIX, TOPOLOGY_BUCKET};
use miroir_proto::topology::{NodeHealth, NodeRecord};
use miroir_testkit::wait::{Attempt, until};
use miroir_testkit::{DEFAULT_MASTER_KEY, NatsServer};
use tokio_util::sync::CancellationToken;

/// Probe timings fast enough for tests (a dead node is down after about 4 x 100 ms).
pub fn config(nats: &NatsServer) -> Config {
    Config {
        nats_url: nats.url(),
        node_api_key: Some(DEFAULT_MASTER_KEY.to_string()),
        probe_interval_ms: 100,
        probe_jitter_ms: 20,
        probe_timeout_ms: 100,
        suspect_after: 2,
        down_after: 2,
        up_after: 2,
        lease_ttl_ms: 1_000,
        repair_interval_ms: 100,
        shutdown_grace_ms: 1_000,
        ..Config::default()
    }
}

/// One write to a `nodes.<id>` key, as seen by a KV watcher.
#[derive(Clone, Debug)]
pub struct Seen {
    pub at: Instant,
    pub id: String,
    /// `None` for a value that is not a node record (or a delete).
    pub record: Option<NodeRecord>,
}

/// Every write to `nodes.*`, in order, from the first (history included) on.
#[derive(Clone)]
pub struct HealthLog {
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: CancellationToken,
}

impl HealthLog {
    pub async fn start(js: &jetstream::Context) -> Result<Self> {
        let kv = js.get_key_value(TOPOLOGY_BUCKET).await?;
        let mut watch = kv
            .watch_with_history(format!("{NODE_KEY_PREFIX}.>"))
            .await?;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = CancellationToken::new();
        let (s, token) = (seen.clone(), stop.clone());
        tokio::spawn(async move {
            loop {
                let entry = tokio::select! {
                    _ = token.cancelled() => return,
                    e = watch.next() => e,
                };
                let Some(Ok(entry)) = entry else { return };
                let id = entry
                    .key
                    .trim_start_matches(NODE_KEY_PREFIX)
                    .trim_start_matches('.')
                    .to_string();
                let record = match entry.operation {
                    kv::Operation::Put => serde_json::from_slice(&entry.value).ok(),
                    _ => None,
                };
                s.lock().unwrap().push(Seen {
                    at: Instant::now(),
                    id,
                    record,
                });
            }
        });
        Ok(HealthLog { seen, stop })
    }

    /// The records written for `id`, in order (values that are not records left out).
    pub fn records(&self, id: &str) -> Vec<NodeRecord> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.id == id)
            .filter_map(|s| s.record.clone())
            .collect()
    }

    /// The healths recorded for `id`, consecutive repeats folded.
    pub fn healths(&self, id: &str) -> Vec<NodeHealth> {
        let mut out: Vec<NodeHealth> = Vec::new();
        for r in self.records(id) {
            if out.last() != Some(&r.health) {
                out.push(r.health);
            }
        }
        out
    }

    /// Wait until `id`'s latest record has `health` (written after `since`); returns when it was
    /// seen.
    pub async fn wait_health(
        &self,
        id: &str,
        health: NodeHealth,
        since: Instant,
        timeout: Duration,
    ) -> Result<Instant> {
        until(
            &format!("node {id} recorded {health:?}"),
            timeout,
            || async {
                let seen = self.seen.lock().unwrap();
                let last = seen.iter().rev().find(|s| s.id == id);
                Ok(match last {
                    Some(Seen {
                        at,
                        record: Some(r),
                        ..
                    }) if r.health == health && *at >= since => Attempt::Ready(*at),
                    other => Attempt::Retry(format!("last: {other:?}")),
                })
            },
        )
        .await
    }
}

impl Drop for HealthLog {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A health-checker replica on its own thread and (single-threaded) runtime, with its own NATS
/// connection, like a separate process: [`kill`](Self::kill) drops the runtime with every task
/// and connection at once, as a SIGKILL would, so nothing is released gracefully.
pub struct Replica {
    pub holder: String,
    kill: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<()>>>,
}

impl Replica {
    pub fn start(holder: &str, config: Config) -> Self {
        Self::start_with(holder, config, CancellationToken::new())
    }

    /// A replica that shuts down gracefully (releasing its lease) when `shutdown` is cancelled.
    pub fn start_with(holder: &str, config: Config, shutdown: CancellationToken) -> Self {
        let (kill, killed) = tokio::sync::oneshot::channel::<()>();
        let name = holder.to_string();
        let thread = std::thread::spawn(move || -> Result<()> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let result = rt.block_on(async move {
                let nats = async_nats::connect(&config.nats_url).await?;
                tokio::select! {
                    r = miroir_health_checker::run_as(&name, config, nats, shutdown) => r,
                    _ = killed => Ok(()),
                }
            });
            // Tasks of a current-thread runtime run only inside `block_on`: whatever the dropped
            // `run_as` woke never gets to run.
            drop(rt);
            result
        });
        Replica {
            holder: holder.to_string(),
            kill: Some(kill),
            thread: Some(thread),
        }
    }

    /// Whether its `run_as` is still going (it has not returned, failed or panicked).
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Crash it: no lease release, no goodbye.
    pub fn kill(&mut self) -> Result<()> {
        if let Some(k) = self.kill.take() {
            let _ = k.send(());
        }
        match self.thread.take() {
            Some(t) => t
                .join()
                .map_err(|_| anyhow::anyhow!("replica {} panicked", self.holder))?,
            None => Ok(()),
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

/// The holder of the health-checker lease, once there is one.
pub async fn wait_holder(js: &jetstream::Context, timeout: Duration) -> Result<String> {
    until("a health-checker holding the lease", timeout, || async {
        Ok(match lease::holder(js, LEASE_NAME).await {
            Some(v) => Attempt::Ready(v.holder),
            None => Attempt::Retry("no holder".into()),
        })
    })
    .await
}

/// Wait until `n` replicas answer `$SRV.PING` (each registers once its lease campaign runs).
pub async fn wait_registered(
    client: &async_nats::Client,
    n: usize,
    timeout: Duration,
) -> Result<()> {
    until(
        &format!("{n} health-checkers registered"),
        timeout,
        || async {
            let inbox = client.new_inbox();
            let mut replies = client.subscribe(inbox.clone()).await?;
            client
                .publish_with_reply("$SRV.PING.miroir-health-checker", inbox, "".into())
                .await?;
            client.flush().await?;
            let mut ids = std::collections::BTreeSet::new();
            let deadline = tokio::time::Instant::now() + Duration::from_millis(200);
            while let Ok(Some(msg)) = tokio::time::timeout_at(deadline, replies.next()).await {
                // "No responders" (nobody registered yet) is an empty status message: not yet.
                if msg.status.is_some() {
                    break;
                }
                let v: serde_json::Value =
                    serde_json::from_slice(&msg.payload).context("ping reply")?;
                ids.insert(v["id"].to_string());
                if ids.len() >= n {
                    break;
                }
            }
            Ok(if ids.len() >= n {
                Attempt::Ready(())
            } else {
                Attempt::Retry(format!("{} answered", ids.len()))
            })
        },
    )
    .await
}

/// A URL nothing listens on.
pub fn dead_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}
