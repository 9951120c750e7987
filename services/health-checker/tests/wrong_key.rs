//! A node that answers `/health` but refuses the cluster's node key is a sick node: it is
//! recorded down like a dead one.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use anyhow::Result;
use common::{HealthLog, Replica, config, wait_holder};
use miroir_cluster::topology::TopologyStore;
use miroir_proto::topology::{NodeHealth, NodeRecord};
use miroir_testkit::{NatsServer, NodeOptions, start_node};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_key() -> Result<()> {
    let nats = NatsServer::start().await?;
    let js = async_nats::jetstream::new(nats.connect().await?);
    let topology = TopologyStore::open(&js).await?;
    let log = HealthLog::start(&js).await?;
    let good = start_node(NodeOptions::default()).await?;
    let other_key = NodeOptions {
        master_key: Some("another-master-key-0123456789".into()),
        ..NodeOptions::default()
    };
    let rekeyed = start_node(other_key).await?;
    assert_eq!(
        rekeyed.client().with_key(None).get("/health").await?.status,
        200
    );

    let _replica = Replica::start("hc-1", config(&nats));
    assert_eq!(wait_holder(&js, Duration::from_secs(10)).await?, "hc-1");
    let added = Instant::now();
    topology
        .put_node(&NodeRecord::new("good", good.url()))
        .await?;
    topology
        .put_node(&NodeRecord::new("rekeyed", rekeyed.url()))
        .await?;
    log.wait_health("rekeyed", NodeHealth::Down, added, Duration::from_secs(10))
        .await?;
    assert_eq!(
        log.healths("rekeyed"),
        [NodeHealth::Up, NodeHealth::Suspect, NodeHealth::Down]
    );
    assert_eq!(log.healths("good"), [NodeHealth::Up]);
    Ok(())
}
