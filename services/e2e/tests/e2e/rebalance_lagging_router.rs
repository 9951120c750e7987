//! A copy added to a shard is built from a snapshot of a live copy plus the writes queued for it;
//! a router whose view of the topology has not seen the new copy yet writes to the old copies
//! only and queues nothing for it. The rebalancer reads the snapshot only once the copy has been
//! placed for `view_settle_ms` and the source applied what it took by then, so such a write, sent
//! here 300 ms after the copy was placed (straight to the old copies, as that router would),
//! still reaches the new copy.

use std::time::Duration;

use miroir_e2e::{ClusterOptions, NODE_MASTER_KEY, TestCluster};
use miroir_placement::{PrimaryKeyValue, ShardCount, shard_for_key};
use miroir_proto::topology::LagReason;
use miroir_testkit::MeiliClient;
use miroir_testkit::wait::{Attempt, until};
use serde_json::json;

use super::load::{self, INDEX};
use super::rebalance_common::options;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_write_that_missed_a_new_copy_is_in_its_snapshot() {
    // A wider settle than the default 1 s, so that the write sent 300 ms after the copy is seen
    // falls within it even on a loaded machine.
    let mut cluster = TestCluster::start(ClusterOptions {
        view_settle_ms: 3_000,
        ..options()
    })
    .await
    .unwrap();
    let topology = cluster.topology().await.unwrap();
    load::prepare(&cluster.client(), 400).await;
    let added = cluster.add_node().await.unwrap();
    let (shard, old_copies) = until(
        "a copy placed on the new node",
        Duration::from_secs(30),
        || async {
            let topo = topology.current();
            let record = topo.index(INDEX).unwrap();
            let placed = record.shards.iter().enumerate().find(|(_, p)| {
                p.lag_of(&added)
                    .is_some_and(|l| l.reason == LagReason::Lost)
            });
            Ok(match placed {
                Some((s, p)) => {
                    let old: Vec<String> =
                        p.nodes.iter().filter(|n| **n != added).cloned().collect();
                    Attempt::Ready((s, old))
                }
                None => Attempt::Retry("no copy on the new node yet".into()),
            })
        },
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    // A document of that shard, written to its old copies only.
    let topo = topology.current();
    let record = topo.index(INDEX).unwrap().clone();
    let count = ShardCount::new(record.shard_count).unwrap();
    let id = (1_000_000u64..)
        .find(|id| {
            let pk = PrimaryKeyValue::from_json(&json!(id)).unwrap();
            usize::from(shard_for_key(&pk, count).get()) == shard
        })
        .unwrap();
    let shard_index = miroir_cluster::shard_name(
        &record,
        miroir_placement::ShardId::new(shard as u16).unwrap(),
    );
    let node_client = |node: &str| {
        let url = topo.nodes.get(node).unwrap().url.clone();
        MeiliClient::new(url, Some(NODE_MASTER_KEY.to_string()))
    };
    for node in &old_copies {
        let client = node_client(node);
        let reply = client
            .post(
                &format!("/indexes/{shard_index}/documents"),
                &json!([{"id": id, "title": "written behind the new copy's back", "group": 0}]),
            )
            .await
            .unwrap();
        client.wait_succeeded(&reply).await.unwrap();
    }

    // Once the new copy is read like the others, it holds the document.
    until(
        "the new copy caught up",
        Duration::from_secs(120),
        || async {
            let topo = topology.current();
            let p = topo.index(INDEX).unwrap().shards[shard].clone();
            Ok(if p.nodes.contains(&added) && p.lag_of(&added).is_none() {
                Attempt::Ready(())
            } else {
                Attempt::Retry(format!("{p:?}"))
            })
        },
    )
    .await
    .unwrap();
    let got = node_client(&added)
        .get(&format!("/indexes/{shard_index}/documents/{id}"))
        .await
        .unwrap();
    assert_eq!(
        got.status, 200,
        "the new copy of shard {shard} misses document {id}: {}",
        got.body
    );
    assert_eq!(got.body["title"], "written behind the new copy's back");
}
