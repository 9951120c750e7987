//! When the active health-checker dies without releasing its lease, the standby takes the lease
//! within 2 x TTL and goes on recording node health, from what KV holds.
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_takeover() -> Result<()> {
    let nats = NatsServer::start().await?;
    let client = nats.connect().await?;
    let js = async_nats::jetstream::new(client.clone());
    let topology = TopologyStore::open(&js).await?;
    let mut n1 = start_node(NodeOptions::default()).await?;
    topology.put_node(&NodeRecord::new("n1", n1.url())).await?;
    let log = HealthLog::start(&js).await?;

    let cfg = config(&nats);
    let ttl = cfg.lease_ttl();
    let detection = (cfg.probe_interval() + cfg.probe_jitter())
        * (cfg.suspect_after + cfg.down_after)
        + cfg.probe_timeout();
    let mut replicas = [
        Replica::start("hc-a", cfg.clone()),
        Replica::start("hc-b", cfg),
    ];
    let active = wait_holder(&js, Duration::from_secs(10)).await?;
    wait_registered(&client, 2, Duration::from_secs(10)).await?;
    let (dead, standby) = if active == "hc-a" { (0, 1) } else { (1, 0) };

    replicas[dead].kill()?;
    let killed = Instant::now();
    n1.stop();
    // A crash releases nothing: the lease still names the dead replica.
    assert_eq!(
        lease::holder(&js, LEASE_NAME).await.map(|v| v.holder),
        Some(active.clone())
    );

    let standby_id = replicas[standby].holder.clone();
    until("the standby to hold the lease", ttl * 3, || async {
        Ok(match lease::holder(&js, LEASE_NAME).await {
            Some(v) if v.holder == standby_id => Attempt::Ready(()),
            other => Attempt::Retry(format!("{other:?}")),
        })
    })
    .await?;
    let takeover = killed.elapsed();
    eprintln!("takeover (active killed -> standby holds the lease): {takeover:?} (TTL {ttl:?})");

    let down_at = log
        .wait_health("n1", NodeHealth::Down, killed, ttl * 2 + detection * 2)
        .await?;
    eprintln!(
        "node killed with the active replica -> recorded down by the standby: {:?}",
        down_at - killed
    );
    assert!(
        takeover <= ttl * 2,
        "takeover took {takeover:?}, more than 2 x TTL"
    );
    assert!(
        down_at - killed <= ttl * 2 + detection,
        "down recorded after {:?}",
        down_at - killed
    );
    assert_eq!(
        log.healths("n1"),
        [NodeHealth::Up, NodeHealth::Suspect, NodeHealth::Down]
    );
    assert!(replicas[standby].is_running());
    Ok(())
}
