//! Invariant: the topology is live: a change an operator makes in the KV bucket (cluster
//! defaults, a node marked down) reaches the running services without a restart.
#![allow(clippy::unwrap_used)]

use miroir_cluster::topology::TopologyStore;
use miroir_e2e::{ClusterOptions, TestCluster};
use miroir_proto::topology::{ClusterDefaults, NodeState};
use serde_json::json;

async fn shard_copies(cluster: &TestCluster, uid: &str) -> Vec<usize> {
    let mut per_node = Vec::new();
    for node in &cluster.nodes {
        let r = node.client().get("/indexes?limit=1000").await.unwrap();
        let n = r.body["results"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["uid"].as_str().unwrap().starts_with(&format!("{uid}__s")))
            .count();
        per_node.push(n);
    }
    per_node
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_edits_reach_running_services() {
    let cluster = TestCluster::start(ClusterOptions::default()).await.unwrap();
    let client = cluster.client();
    let js = async_nats::jetstream::new(cluster.nats.connect().await.unwrap());
    let topology = TopologyStore::open(&js).await.unwrap();

    let r = client
        .post("/indexes", &json!({"uid": "before"}))
        .await
        .unwrap();
    client.wait_succeeded(&r).await.unwrap();
    assert_eq!(
        shard_copies(&cluster, "before").await.iter().sum::<usize>(),
        4 * 2
    );

    // An operator changes the defaults: the next index has 2 shards of 3 copies.
    topology
        .put_defaults(&ClusterDefaults {
            shard_count: 2,
            replication_factor: 3,
        })
        .await
        .unwrap();
    // ...and marks node n2 down: new placements avoid it.
    let mut n2 = topology.current().nodes["n2"].clone();
    n2.state = NodeState::Down;
    topology.put_node(&n2).await.unwrap();
    miroir_testkit::wait::until(
        "the router to see the edit",
        std::time::Duration::from_secs(10),
        || async {
            let r = client.post("/indexes", &json!({"uid": "probe"})).await?;
            client.wait_task(r.task_uid()?).await?;
            let copies = shard_copies(&cluster, "probe").await;
            let r = client.delete("/indexes/probe").await?;
            client.wait_task(r.task_uid()?).await?;
            Ok(if copies == vec![2, 2, 0] {
                miroir_testkit::wait::Attempt::Ready(())
            } else {
                miroir_testkit::wait::Attempt::Retry(format!("{copies:?}"))
            })
        },
    )
    .await
    .unwrap();

    let r = client
        .post("/indexes", &json!({"uid": "after"}))
        .await
        .unwrap();
    client.wait_succeeded(&r).await.unwrap();
    // RF 3 asked, but only 2 nodes are placeable: each of the 2 shards on both live nodes.
    assert_eq!(shard_copies(&cluster, "after").await, vec![2, 2, 0]);
    // The gateway's view of indexes follows the KV too.
    let list = client.get("/indexes").await.unwrap();
    let uids: Vec<&str> = list.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["uid"].as_str().unwrap())
        .collect();
    assert_eq!(uids, vec!["after", "before"]);
}
