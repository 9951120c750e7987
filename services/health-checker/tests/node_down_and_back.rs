//! A node that dies is recorded suspect, then down, and up again once it is back, while the
//! health of the other node and the operator's `state` of both are never touched.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use anyhow::Result;
use common::{HealthLog, Replica, config, wait_holder};
use miroir_cluster::topology::TopologyStore;
use miroir_proto::topology::{NodeHealth, NodeRecord, NodeState};
use miroir_testkit::{NatsServer, NodeOptions, start_node};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_down_and_back() -> Result<()> {
    let nats = NatsServer::start().await?;
    let js = async_nats::jetstream::new(nats.connect().await?);
    let topology = TopologyStore::open(&js).await?;
    let mut n1 = start_node(NodeOptions::default()).await?;
    let n2 = start_node(NodeOptions::default()).await?;
    topology.put_node(&NodeRecord::new("n1", n1.url())).await?;
    topology.put_node(&NodeRecord::new("n2", n2.url())).await?;
    let log = HealthLog::start(&js).await?;

    let replica = Replica::start("hc-1", config(&nats));
    assert_eq!(wait_holder(&js, Duration::from_secs(10)).await?, "hc-1");

    n1.stop();
    let killed = Instant::now();
    let down_at = log
        .wait_health("n1", NodeHealth::Down, killed, Duration::from_secs(10))
        .await?;
    eprintln!(
        "failover (node killed -> recorded down): {:?}",
        down_at - killed
    );
    assert_eq!(
        log.healths("n1"),
        [NodeHealth::Up, NodeHealth::Suspect, NodeHealth::Down]
    );

    n1.start_again().await?;
    let restarted = Instant::now();
    let up_at = log
        .wait_health("n1", NodeHealth::Up, restarted, Duration::from_secs(10))
        .await?;
    eprintln!(
        "recovery (node restarted -> recorded up): {:?}",
        up_at - restarted
    );
    assert_eq!(
        log.healths("n1"),
        [
            NodeHealth::Up,
            NodeHealth::Suspect,
            NodeHealth::Down,
            NodeHealth::Up
        ]
    );

    // Every write carried the operator's intent unchanged; only n1's health moved.
    assert_eq!(log.healths("n2"), [NodeHealth::Up]);
    assert_eq!(
        log.records("n2").len(),
        1,
        "n2's record was rewritten: {:?}",
        log.records("n2")
    );
    for r in log.records("n1").iter().chain(log.records("n2").iter()) {
        assert_eq!(r.state, NodeState::Up, "{r:?}");
    }
    let since: Vec<_> = log
        .records("n1")
        .iter()
        .map(|r| r.health_since.clone())
        .collect();
    assert!(
        since[1..].iter().all(Option::is_some),
        "healthSince missing: {since:?}"
    );
    assert!(replica.is_running());
    Ok(())
}
