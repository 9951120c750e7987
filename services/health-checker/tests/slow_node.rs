//! A node that accepts connections but does not answer in time (overloaded, not dead) is kept
//! `suspect` for `down_after_slow` probes, not taken `down` after `down_after`; once it refuses
//! connections (a hard failure) it goes down on the short threshold.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use anyhow::Result;
use common::{HealthLog, Replica, config, wait_holder};
use miroir_cluster::topology::TopologyStore;
use miroir_proto::topology::{NodeHealth, NodeRecord};
use miroir_testkit::NatsServer;
use tokio::net::TcpListener;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_node_stays_suspect_and_a_refusing_one_goes_down() -> Result<()> {
    let nats = NatsServer::start().await?;
    let js = async_nats::jetstream::new(nats.connect().await?);
    let topology = TopologyStore::open(&js).await?;

    // Accepts every connection and holds it without a byte of answer.
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    topology.put_node(&NodeRecord::new("slow", url)).await?;
    let log = HealthLog::start(&js).await?;

    let mut cfg = config(&nats);
    cfg.down_after_slow = 20; // 20 x 100 ms probes: 2 s
    let replica = Replica::start("hc-1", cfg);
    assert_eq!(wait_holder(&js, Duration::from_secs(10)).await?, "hc-1");
    let since = Instant::now();
    log.wait_health("slow", NodeHealth::Suspect, since, Duration::from_secs(10))
        .await?;
    // Well past down_after (2 probes), well short of down_after_slow (20).
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        log.healths("slow"),
        [NodeHealth::Up, NodeHealth::Suspect],
        "a node that only answers late was taken down"
    );

    // Now it refuses connections: down on the short threshold.
    silent.abort();
    let _ = silent.await;
    let refused = Instant::now();
    let down_at = log
        .wait_health("slow", NodeHealth::Down, refused, Duration::from_secs(10))
        .await?;
    assert!(
        down_at - refused < Duration::from_millis(1_500),
        "down {:?} after connections were refused",
        down_at - refused
    );
    drop(replica);
    Ok(())
}
