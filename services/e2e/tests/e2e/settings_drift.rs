//! Invariant: every copy of every shard of an index ends up with the same settings: a copy
//! changed behind Miroir's back, or one that missed a settings change (the task then fails), is
//! given the settings of the majority by the router's drift check.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use miroir_cluster::topology::TopologyStore;
use miroir_e2e::{ClusterOptions, NODE_MASTER_KEY, TestCluster};
use miroir_proto::topology::NodeState;
use miroir_testkit::MeiliClient;
use miroir_testkit::wait::{Attempt, until};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// A router with its own drift interval (`0`: only when triggered), next to the cluster's.
async fn router_with_drift(cluster: &TestCluster, interval_ms: u64) -> CancellationToken {
    let nats = cluster.nats.connect().await.unwrap();
    let config = miroir_router::Config {
        nats_url: cluster.nats.url(),
        node_api_key: Some(NODE_MASTER_KEY.into()),
        settings_drift_interval_ms: interval_ms,
        ..Default::default()
    };
    let token = CancellationToken::new();
    tokio::spawn(miroir_router::run(config, nats, token.clone()));
    token
}

async fn topology(cluster: &TestCluster) -> TopologyStore {
    TopologyStore::open(&async_nats::jetstream::new(
        cluster.nats.connect().await.unwrap(),
    ))
    .await
    .unwrap()
}

/// `(node position, node-local index)` of every copy of every shard of `uid`.
async fn copies(cluster: &TestCluster, store: &TopologyStore, uid: &str) -> Vec<(usize, String)> {
    let record = store.read_index(uid).await.unwrap().unwrap().0;
    let mut out = Vec::new();
    for (s, placement) in record.shards.iter().enumerate() {
        for node in &placement.nodes {
            let i: usize = node.trim_start_matches('n').parse().unwrap();
            out.push((i, format!("{}__s{s}", record.storage_base())));
        }
    }
    assert!(out.iter().all(|(i, _)| *i < cluster.nodes.len()));
    out
}

async fn filterable(node: &MeiliClient, index: &str) -> Value {
    node.get(&format!("/indexes/{index}/settings/filterable-attributes"))
        .await
        .unwrap()
        .body
}

/// Poll until every copy of `uid` has `expected` as its filterable attributes.
async fn converged(cluster: &TestCluster, store: &TopologyStore, uid: &str, expected: Value) {
    let copies = copies(cluster, store, uid).await;
    until(
        "every shard copy to hold the majority's settings",
        Duration::from_secs(20),
        || {
            let copies = copies.clone();
            let expected = expected.clone();
            async move {
                for (i, index) in &copies {
                    let got = filterable(&cluster.nodes[*i].client(), index).await;
                    if got != expected {
                        return Ok(Attempt::Retry(format!("n{i} {index} has {got}")));
                    }
                }
                Ok(Attempt::Ready(()))
            }
        },
    )
    .await
    .unwrap();
}

async fn create(client: &MeiliClient, filterable: Value) {
    let r = client
        .post("/indexes", &json!({"uid": "movies", "primaryKey": "id"}))
        .await
        .unwrap();
    client.wait_succeeded(&r).await.unwrap();
    let r = client
        .patch(
            "/indexes/movies/settings",
            &json!({"filterableAttributes": filterable}),
        )
        .await
        .unwrap();
    client.wait_succeeded(&r).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_changed_behind_miroirs_back_is_converged() {
    let cluster = TestCluster::start(ClusterOptions::default()).await.unwrap();
    let _drift = router_with_drift(&cluster, 200).await;
    let client = cluster.client();
    create(&client, json!(["year"])).await;
    let store = topology(&cluster).await;

    // An operator changes one copy of one shard directly on its node.
    let (i, index) = copies(&cluster, &store, "movies").await.remove(0);
    let node = cluster.nodes[i].client();
    let r = node
        .patch(
            &format!("/indexes/{index}/settings"),
            &json!({"filterableAttributes": []}),
        )
        .await
        .unwrap();
    let changed = node.wait_task(r.task_uid().unwrap()).await.unwrap();
    assert_eq!(changed["status"], json!("succeeded"));

    converged(&cluster, &store, "movies", json!(["year"])).await;
    // The router put it back with a settings task of its own on that node.
    let tasks = node
        .get(&format!(
            "/tasks?indexUids={index}&types=settingsUpdate&limit=1"
        ))
        .await
        .unwrap()
        .body;
    let repair = &tasks["results"][0];
    assert!(
        repair["uid"].as_u64().unwrap() > changed["uid"].as_u64().unwrap(),
        "{tasks}"
    );
    assert_eq!(
        repair["details"]["filterableAttributes"],
        json!(["year"]),
        "{repair}"
    );
    assert_eq!(
        client
            .get("/indexes/movies/settings/filterable-attributes")
            .await
            .unwrap()
            .body,
        json!(["year"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_settings_change_missed_by_a_node_is_queued_then_converges() {
    let cluster = TestCluster::start(ClusterOptions::default()).await.unwrap();
    // Only triggers here: a failed settings task, a node coming back.
    let _drift = router_with_drift(&cluster, 0).await;
    let client = cluster.client();
    create(&client, json!(["year"])).await;
    let store = topology(&cluster).await;

    // The node holding the most copies (at least three of the eight) is taken down by the
    // operator: the change succeeds on the other copies (write quorum 1) and is queued for its
    // copies (hinted handoff), which are marked behind and not read meanwhile.
    let copies = copies(&cluster, &store, "movies").await;
    let busiest = (0..cluster.nodes.len())
        .max_by_key(|n| copies.iter().filter(|(i, _)| i == n).count())
        .unwrap();
    let id = format!("n{busiest}");
    let mut record = store.current().nodes.get(&id).unwrap().clone();
    record.state = NodeState::Down;
    store.put_node(&record).await.unwrap();
    until(
        "the routers to see the node down",
        Duration::from_secs(20),
        || async {
            Ok(
                if store
                    .current()
                    .nodes
                    .get(&id)
                    .is_some_and(|n| n.state == NodeState::Down)
                {
                    Attempt::Ready(())
                } else {
                    Attempt::Retry("not yet".into())
                },
            )
        },
    )
    .await
    .unwrap();
    let r = client
        .patch(
            "/indexes/movies/settings",
            &json!({"filterableAttributes": ["genre"]}),
        )
        .await
        .unwrap();
    let task = client.wait_task(r.task_uid().unwrap()).await.unwrap();
    assert_eq!(task["status"], json!("succeeded"), "{task}");
    assert_eq!(
        client
            .get("/indexes/movies/settings/filterable-attributes")
            .await
            .unwrap()
            .body,
        json!(["genre"])
    );
    let mut stale = 0;
    for (i, index) in copies.iter().filter(|(i, _)| *i == busiest) {
        if filterable(&cluster.nodes[*i].client(), index).await == json!(["year"]) {
            stale += 1;
        }
    }
    assert!(stale >= 2, "the down node's copies missed the change");
    let (movies, _) = store.read_index("movies").await.unwrap().unwrap();
    let behind = movies
        .shards
        .iter()
        .filter(|p| p.lag_of(&id).is_some())
        .count();
    assert!(behind >= 2, "its copies are behind: {:?}", movies.shards);

    record.state = NodeState::Up;
    store.put_node(&record).await.unwrap();
    converged(&cluster, &store, "movies", json!(["genre"])).await;
}
