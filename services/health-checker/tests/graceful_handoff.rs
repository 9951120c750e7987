//! A health-checker shut down gracefully releases its lease, so the standby takes over at once
//! (well within one TTL), and continues from the health recorded in KV: a node already down is
//! not written again until it is back.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use anyhow::Result;
use common::{HealthLog, Replica, config, wait_holder, wait_registered};
use miroir_cluster::lease;
use miroir_cluster::topology::TopologyStore;
use miroir_health_checker::LEASE_NAME;
use miroir_proto::topology::{NodeHealth, NodeRecord};
use miroir_testkit::wait::{Attempt, until};
use miroir_testkit::{NatsServer, NodeOptions, start_node};
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_handoff() -> Result<()> {
    let nats = NatsServer::start().await?;
    let client = nats.connect().await?;
    let js = async_nats::jetstream::new(client.clone());
    let topology = TopologyStore::open(&js).await?;
    let mut n1 = start_node(NodeOptions::default()).await?;
    topology.put_node(&NodeRecord::new("n1", n1.url())).await?;
    let log = HealthLog::start(&js).await?;

    let mut cfg = config(&nats);
    cfg.lease_ttl_ms = 2_000;
    let ttl = cfg.lease_ttl();
    let first = CancellationToken::new();
    let mut a = Replica::start_with("hc-a", cfg.clone(), first.clone());
    assert_eq!(wait_holder(&js, Duration::from_secs(10)).await?, "hc-a");
    let b = Replica::start("hc-b", cfg);
    wait_registered(&client, 2, Duration::from_secs(10)).await?;

    n1.stop();
    log.wait_health(
        "n1",
        NodeHealth::Down,
        Instant::now(),
        Duration::from_secs(10),
    )
    .await?;

    first.cancel();
    let stopping = Instant::now();
    until("the standby to hold the lease", ttl * 3, || async {
        Ok(match lease::holder(&js, LEASE_NAME).await {
            Some(v) if v.holder == "hc-b" => Attempt::Ready(()),
            other => Attempt::Retry(format!("{other:?}")),
        })
    })
    .await?;
    let handoff = stopping.elapsed();
    eprintln!("graceful handoff (shutdown -> standby holds the lease): {handoff:?} (TTL {ttl:?})");
    assert!(
        handoff < ttl,
        "a released lease took {handoff:?} to be taken over"
    );
    until(
        "hc-a's run to return on its own",
        Duration::from_secs(5),
        || async {
            Ok(if a.is_running() {
                Attempt::Retry("running".into())
            } else {
                Attempt::Ready(())
            })
        },
    )
    .await?;
    a.kill()?; // joins the thread and passes on what `run` returned

    // The standby saw `down` in KV: the node, still dead, is not written again; once back it is up.
    n1.start_again().await?;
    log.wait_health(
        "n1",
        NodeHealth::Up,
        Instant::now(),
        Duration::from_secs(10),
    )
    .await?;
    let healths: Vec<NodeHealth> = log.records("n1").iter().map(|r| r.health).collect();
    assert_eq!(
        healths,
        [
            NodeHealth::Up,
            NodeHealth::Suspect,
            NodeHealth::Down,
            NodeHealth::Up
        ]
    );
    assert!(b.is_running());
    Ok(())
}
