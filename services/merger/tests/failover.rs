//! Invariant: a search is complete or refused, never silently partial: a dead or down copy is skipped, a slow one is hedged, and when no copy of a shard answers the error says which shard of which index.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Cluster, black_hole, npm_settings};
use miroir_merger::Config;
use miroir_proto::topology::NodeState;
use miroir_testkit::{npm_documents, start_nodes};
use serde_json::json;

const DOCS: usize = 400;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_replica_is_skipped_and_answers_stay_complete() {
    let mut nodes = start_nodes(3).await.unwrap();
    let mut cluster = Cluster::start().await.unwrap();
    cluster.put_nodes(&nodes).await.unwrap();
    let docs = npm_documents(DOCS).unwrap();
    let placement: &[&[usize]] = &[&[0, 1], &[1, 2], &[2, 0], &[0, 1]];
    cluster
        .create_index(&nodes, "npm", placement, &npm_settings(), &docs)
        .await
        .unwrap();
    cluster.start_merger(cluster.config()).await.unwrap();
    let everything = json!({"q": "", "limit": 0});
    assert_eq!(
        cluster.search("npm", &everything).await.unwrap()["estimatedTotalHits"],
        json!(DOCS)
    );

    // Node 1 dies; the topology still says it is up. Rotation makes successive searches start
    // on every copy in turn, so some of them start on the dead one.
    nodes[1].stop();
    let expected = cluster
        .search("npm", &json!({"q": "react", "limit": 50}))
        .await
        .unwrap();
    for _ in 0..12 {
        let all = cluster.search("npm", &everything).await.unwrap();
        assert_eq!(all["estimatedTotalHits"], json!(DOCS));
        let react = cluster
            .search("npm", &json!({"q": "react", "limit": 50}))
            .await
            .unwrap();
        assert_eq!(react["hits"], expected["hits"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_copy_is_retried_even_with_no_hedge_budget() {
    let mut nodes = start_nodes(2).await.unwrap();
    let mut cluster = Cluster::start().await.unwrap();
    cluster.put_nodes(&nodes).await.unwrap();
    let docs = npm_documents(DOCS).unwrap();
    let placement: &[&[usize]] = &[&[0, 1], &[1, 0], &[0, 1], &[1, 0]];
    cluster
        .create_index(&nodes, "npm", placement, &npm_settings(), &docs)
        .await
        .unwrap();
    let config = Config {
        hedge_budget_percent: 0,
        ..cluster.config()
    };
    cluster.start_merger(config).await.unwrap();
    nodes[1].stop();
    for _ in 0..12 {
        let all = cluster
            .search("npm", &json!({"q": "", "limit": 0}))
            .await
            .unwrap();
        assert_eq!(all["estimatedTotalHits"], json!(DOCS));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_copy_of_a_shard_gone_is_an_explicit_503() {
    let mut nodes = start_nodes(3).await.unwrap();
    let mut cluster = Cluster::start().await.unwrap();
    cluster.put_nodes(&nodes).await.unwrap();
    let docs = npm_documents(DOCS).unwrap();
    // Shard 1 lives on nodes 1 and 2 only; every other shard also has a copy on node 0.
    let placement: &[&[usize]] = &[&[0, 1], &[1, 2], &[2, 0], &[0, 1]];
    cluster
        .create_index(&nodes, "npm", placement, &npm_settings(), &docs)
        .await
        .unwrap();
    cluster.start_merger(cluster.config()).await.unwrap();
    nodes[1].stop();
    nodes[2].stop();
    let e = cluster
        .search("npm", &json!({"q": "react"}))
        .await
        .unwrap_err();
    assert_eq!(
        (e.status, e.code.as_str()),
        (503, "shard_unavailable"),
        "{e}"
    );
    assert!(
        e.message
            .starts_with("Shard 1 of index `npm` is unavailable"),
        "{}",
        e.message
    );
    assert!(
        !e.message.contains("http://"),
        "node addresses stay inside: {}",
        e.message
    );

    // Marked down in the topology, the copies are not even tried: the answer is immediate.
    cluster
        .put_node("n1", &nodes[1].url(), NodeState::Down)
        .await
        .unwrap();
    cluster
        .put_node("n2", &nodes[2].url(), NodeState::Down)
        .await
        .unwrap();
    miroir_testkit::wait::until(
        "the merger to see the nodes down",
        std::time::Duration::from_secs(5),
        || async {
            let e = cluster
                .search("npm", &json!({"q": "react"}))
                .await
                .unwrap_err();
            Ok(if e.message.contains("no copy is on a node that is up") {
                miroir_testkit::wait::Attempt::Ready(())
            } else {
                miroir_testkit::wait::Attempt::Retry(e.message)
            })
        },
    )
    .await
    .unwrap();
}

/// Shard 0's only `up` copy never answers; its other copy is `suspect`, so it is read second.
async fn slow_first_copy(
    config: impl FnOnce(Config) -> Config,
) -> (
    Cluster,
    Vec<miroir_testkit::Node>,
    tokio::task::JoinHandle<()>,
) {
    let nodes = start_nodes(2).await.unwrap();
    let mut cluster = Cluster::start().await.unwrap();
    let (hole, handle) = black_hole().await.unwrap();
    cluster
        .put_node("n0", &nodes[0].url(), NodeState::Suspect)
        .await
        .unwrap();
    cluster
        .put_node("n1", &nodes[1].url(), NodeState::Up)
        .await
        .unwrap();
    cluster.put_node("n2", &hole, NodeState::Up).await.unwrap();
    let docs = npm_documents(DOCS).unwrap();
    // Node 2 (the black hole) is listed for shard 0 but holds nothing, like a hung machine.
    cluster
        .create_index(&nodes, "npm", &[&[0], &[1]], &npm_settings(), &docs)
        .await
        .unwrap();
    let (mut record, revision) = cluster.topology.read_index("npm").await.unwrap().unwrap();
    record.shards[0].nodes = vec!["n2".into(), "n0".into()];
    cluster
        .topology
        .update_index(&record, revision)
        .await
        .unwrap();
    let base = Config {
        node_timeout_ms: 60_000,
        ..cluster.config()
    };
    cluster.start_merger(config(base)).await.unwrap();
    (cluster, nodes, handle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_copy_is_hedged() {
    let (cluster, _nodes, hole) = slow_first_copy(|c| Config {
        hedge_after_ms: 50,
        ..c
    })
    .await;
    for _ in 0..3 {
        let answer = cluster
            .search_within("npm", &json!({"q": "", "limit": 0}), 3_000)
            .await
            .unwrap();
        assert_eq!(answer["estimatedTotalHits"], json!(DOCS));
    }
    hole.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_hedging_a_slow_copy_times_out_naming_the_shard() {
    let (cluster, _nodes, hole) = slow_first_copy(|c| Config {
        hedge_after_ms: 0,
        ..c
    })
    .await;
    let e = cluster
        .search_within("npm", &json!({"q": "", "limit": 0}), 1_000)
        .await
        .unwrap_err();
    assert_eq!((e.status, e.code.as_str()), (504, "shard_timeout"), "{e}");
    assert!(
        e.message.starts_with("Shard 0 of index `npm`"),
        "{}",
        e.message
    );
    hole.abort();
}
