//! The services the harness runs besides the gateway, as a table, and the thread each replica
//! runs on. A replica has a runtime of its own, so that it can die the way a process does:
//! [`Replica::kill`] drops its runtime with every task and connection at once (kill -9, no lease
//! released, no subscription drained), while [`Replica::stop`] cancels its shutdown token and
//! waits for `run` to return (SIGTERM).

use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use futures::future::BoxFuture;
use miroir_proto::subjects::Service;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::cluster::{ClusterOptions, NODE_MASTER_KEY};

/// What a replica is given to build its config.
#[derive(Clone, Debug)]
pub(crate) struct Ctx {
    pub nats_url: String,
    pub options: ClusterOptions,
}

/// One service the harness runs: how many replicas `TestCluster::start` starts, and how to run
/// one of them (the same `run` the service's binary calls).
pub(crate) struct Row {
    pub service: Service,
    pub replicas: fn(&ClusterOptions) -> usize,
    pub run: fn(&Ctx, async_nats::Client, CancellationToken) -> BoxFuture<'static, Result<()>>,
}

/// Every service but the gateway, in start order. Adding a service is one row (and, when it is
/// new, a replica count in `ClusterOptions`). Kept on one line per row, hence no rustfmt.
#[rustfmt::skip]
pub(crate) const SERVICES: &[Row] = &[
    Row { service: Service::Router, replicas: |o| o.routers, run: |c, nats, stop| Box::pin(miroir_router::run(router_config(c), nats, stop)) },
    Row { service: Service::Merger, replicas: |o| o.mergers, run: |c, nats, stop| Box::pin(miroir_merger::run(merger_config(c), nats, stop)) },
    Row { service: Service::HealthChecker, replicas: |o| o.health_checkers, run: |c, nats, stop| Box::pin(miroir_health_checker::run(health_checker_config(c), nats, stop)) },
    Row { service: Service::Rebalancer, replicas: |o| o.rebalancers, run: |c, nats, stop| Box::pin(miroir_rebalancer::run(rebalancer_config(c), nats, stop)) },
];

pub(crate) fn row(service: Service) -> Option<&'static Row> {
    SERVICES.iter().find(|r| r.service == service)
}

fn router_config(c: &Ctx) -> miroir_router::Config {
    let mut config = miroir_router::Config {
        nats_url: c.nats_url.clone(),
        node_api_key: Some(NODE_MASTER_KEY.into()),
        ..Default::default()
    };
    if let Some(bytes) = c.options.shard_flush_bytes {
        config.shard_flush_bytes = bytes;
    }
    if let Some(dir) = &c.options.dump_dir {
        config.dump_dir = dir.clone();
    }
    config
}

/// The lease TTL of the harness's health-checkers.
pub const HEALTH_CHECKER_LEASE_TTL_MS: u64 = 2_000;

/// Probes twice a second (a node is down about 2 s after it dies), a 2 s lease, and copies
/// caught up within a few hundred milliseconds: failure scenarios stay short.
fn health_checker_config(c: &Ctx) -> miroir_health_checker::Config {
    miroir_health_checker::Config {
        nats_url: c.nats_url.clone(),
        node_api_key: Some(NODE_MASTER_KEY.into()),
        probe_interval_ms: 500,
        probe_jitter_ms: 100,
        probe_timeout_ms: 500,
        lease_ttl_ms: HEALTH_CHECKER_LEASE_TTL_MS,
        repair_interval_ms: 200,
        ..Default::default()
    }
}

/// Re-replication after 3 s of a node down (not 5 min), short lease and drop grace.
fn rebalancer_config(c: &Ctx) -> miroir_rebalancer::Config {
    miroir_rebalancer::Config {
        nats_url: c.nats_url.clone(),
        node_api_key: Some(NODE_MASTER_KEY.into()),
        reallocate_after_ms: c.options.reallocate_after_ms,
        interval_ms: 200,
        lease_ttl_ms: 2_000,
        drop_grace_ms: 500,
        view_settle_ms: c.options.view_settle_ms,
        copy_page_size: 500,
        copy_docs_per_sec: c.options.copy_docs_per_sec,
        ..Default::default()
    }
}

fn merger_config(c: &Ctx) -> miroir_merger::Config {
    miroir_merger::Config {
        nats_url: c.nats_url.clone(),
        node_api_key: Some(NODE_MASTER_KEY.into()),
        ..Default::default()
    }
}

/// A running replica of a service, on its own thread and runtime.
pub(crate) struct Replica {
    stop: CancellationToken,
    kill: Option<oneshot::Sender<()>>,
    done: Option<oneshot::Receiver<Result<()>>>,
    thread: Option<JoinHandle<()>>,
}

impl Replica {
    pub(crate) fn spawn(row: &'static Row, ctx: Ctx, index: usize) -> Result<Replica> {
        let stop = CancellationToken::new();
        let (kill_tx, kill_rx) = oneshot::channel::<()>();
        let (done_tx, done_rx) = oneshot::channel::<Result<()>>();
        let token = stop.clone();
        let name = format!("{}-{index}", row.service.name());
        let thread = std::thread::Builder::new()
            .name(name.clone())
            .spawn(move || {
                let outcome = serve(row, ctx, token, kill_rx);
                if let Err(e) = &outcome {
                    tracing::warn!("{name} ended with an error: {e:#}");
                }
                let _ = done_tx.send(outcome);
            })
            .context("spawning a service's thread")?;
        Ok(Replica {
            stop,
            kill: Some(kill_tx),
            done: Some(done_rx),
            thread: Some(thread),
        })
    }

    /// Graceful stop, as on SIGTERM: cancels the shutdown token and waits (at most 30 s) for
    /// `run` to return. Returns how `run` ended.
    pub(crate) async fn stop(mut self) -> Result<()> {
        self.stop.cancel();
        let done = self.done.take();
        let outcome = match done {
            Some(done) => match tokio::time::timeout(Duration::from_secs(30), done).await {
                Ok(Ok(outcome)) => outcome,
                Ok(Err(_)) => Err(anyhow!(
                    "the service's thread ended without a result (it panicked)"
                )),
                Err(_) => Err(anyhow!("the service did not stop within 30 s")),
            },
            None => Ok(()),
        };
        self.kill();
        outcome
    }

    /// Abrupt death, as on kill -9: every task and connection of the replica is dropped at once.
    pub(crate) fn kill(&mut self) {
        if let Some(kill) = self.kill.take() {
            // An error means the thread has already ended.
            let _ = kill.send(());
        }
        if let Some(thread) = self.thread.take() {
            // Quick: the runtime is shut down in the background, nothing is awaited.
            let _ = thread.join();
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
    }
}

fn serve(
    row: &'static Row,
    ctx: Ctx,
    stop: CancellationToken,
    kill: oneshot::Receiver<()>,
) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(format!("{}-rt", row.service.name()))
        .enable_all()
        .build()
        .context("building a service's runtime")?;
    let outcome = runtime.block_on(async move {
        let run = async {
            let nats = crate::cluster::connect_service(
                &ctx.nats_url,
                row.service,
                ctx.options.nats_permissions,
            )
            .await?;
            (row.run)(&ctx, nats, stop).await
        };
        tokio::select! {
            result = run => result,
            _ = kill => Ok(()),
        }
    });
    // Drops every task `run` spawned, and with them its NATS connection, without waiting.
    runtime.shutdown_background();
    outcome
}
