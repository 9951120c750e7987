//! Node records that do not parse or do not validate, an empty topology and removed nodes never
//! stop the health-checker: it idles without nodes, leaves the bad values alone, skips removed
//! nodes and keeps probing the valid ones.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use anyhow::Result;
use common::{HealthLog, Replica, config, dead_url, wait_holder};
use miroir_cluster::topology::TopologyStore;
use miroir_proto::subjects::{TOPOLOGY_BUCKET, node_key};
use miroir_proto::topology::{NodeHealth, NodeRecord, NodeState};
use miroir_testkit::{NatsServer, NodeOptions, start_node};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_records() -> Result<()> {
    let nats = NatsServer::start().await?;
    let js = async_nats::jetstream::new(nats.connect().await?);
    let topology = TopologyStore::open(&js).await?;
    let kv = js.get_key_value(TOPOLOGY_BUCKET).await?;
    let log = HealthLog::start(&js).await?;

    // No nodes at all: it takes the lease and idles.
    let cfg = config(&nats);
    let replica = Replica::start("hc-1", cfg);
    assert_eq!(wait_holder(&js, Duration::from_secs(10)).await?, "hc-1");

    let dead = dead_url();
    let bad: Vec<(&str, String)> = vec![
        (
            "bad-state",
            format!(r#"{{"id":"bad-state","url":"{dead}","state":"sleeping"}}"#),
        ),
        (
            "bad-url",
            r#"{"id":"bad-url","url":"not a url"}"#.to_string(),
        ),
        (
            "bad-id",
            format!(r#"{{"id":"someone-else","url":"{dead}"}}"#),
        ),
        (
            "bad-field",
            format!(r#"{{"id":"bad-field","url":"{dead}","colour":"red"}}"#),
        ),
        ("not-json", "{{{ not json".to_string()),
    ];
    for (id, value) in &bad {
        kv.put(node_key(id), value.clone().into()).await?;
    }
    let removed = NodeRecord {
        state: NodeState::Removed,
        ..NodeRecord::new("gone", dead.clone())
    };
    topology.put_node(&removed).await?;
    let mut n1 = start_node(NodeOptions::default()).await?;
    topology.put_node(&NodeRecord::new("n1", n1.url())).await?;

    // It keeps probing the valid node through all of that.
    n1.stop();
    let killed = Instant::now();
    let down_at = log
        .wait_health("n1", NodeHealth::Down, killed, Duration::from_secs(10))
        .await?;
    eprintln!("failover next to bad records: {:?}", down_at - killed);
    n1.start_again().await?;
    log.wait_health(
        "n1",
        NodeHealth::Up,
        Instant::now(),
        Duration::from_secs(10),
    )
    .await?;

    // The down-and-up cycle above took at least 6 probe rounds after every record below was
    // written: enough for the removed node (whose URL is dead) to be recorded down had it been
    // probed, and for any write to the bad values to have happened.
    for (id, value) in &bad {
        let stored = kv.get(node_key(id)).await?.unwrap();
        assert_eq!(stored, value.as_bytes(), "{id} was rewritten");
    }
    assert_eq!(log.records("gone"), [removed]);
    assert!(replica.is_running(), "the health-checker stopped");
    Ok(())
}
