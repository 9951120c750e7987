//! Invariant: a search the client got wrong is refused exactly as one Meilisearch node refuses it (same status, code, type and message, with the client's index uid and never a shard's name), and no other copy is asked.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Cluster, load_index, npm_settings};
use miroir_testkit::{npm_documents, start_nodes};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_errors_reach_the_client_with_its_uid() {
    let nodes = start_nodes(3).await.unwrap();
    let mut cluster = Cluster::start().await.unwrap();
    cluster.put_nodes(&nodes[..2]).await.unwrap();
    let docs = npm_documents(200).unwrap();
    let settings = npm_settings();
    let placement: &[&[usize]] = &[&[0, 1], &[1, 0], &[0, 1], &[1, 0]];
    cluster
        .create_index(&nodes, "npm", placement, &settings, &docs)
        .await
        .unwrap();
    load_index(&nodes[2].client(), "npm", &settings, &docs)
        .await
        .unwrap();
    cluster.start_merger(cluster.config()).await.unwrap();
    let reference = nodes[2].client();

    let bad = [
        json!({"q": "x", "filter": "version = 1"}),
        json!({"q": "x", "filter": "major >"}),
        json!({"q": "x", "sort": ["summary:asc"]}),
        json!({"q": "vue", "facets": ["name"]}),
        json!({"q": "x", "nope": 1}),
        json!({"q": "x", "limit": -1}),
        json!({"q": "x", "nope": 1, "limit": -1}),
        json!({"q": 3}),
        json!({"q": "x", "page": "two"}),
        json!({"q": "x", "attributesToRetrieve": "name"}),
        json!({"q": "x", "rankingScoreThreshold": 2}),
        json!(["not", "an", "object"]),
    ];
    for body in bad {
        let one = reference.post("/indexes/npm/search", &body).await.unwrap();
        assert!(
            (400..500).contains(&one.status),
            "{body}: the reference accepted it: {}",
            one.body
        );
        let e = cluster.search("npm", &body).await.unwrap_err();
        assert_eq!(e.status, one.status, "{body}");
        let mut seen = e.to_json();
        let mut expected = one.body.clone();
        seen.as_object_mut().unwrap().remove("link");
        expected.as_object_mut().unwrap().remove("link");
        assert_eq!(seen, expected, "{body}");
        assert!(!e.message.contains("npm__s"), "{body}: {}", e.message);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_index_is_not_found_by_its_uid() {
    let mut cluster = Cluster::start().await.unwrap();
    cluster.start_merger(cluster.config()).await.unwrap();
    let e = cluster
        .search("nope", &json!({"q": "x"}))
        .await
        .unwrap_err();
    assert_eq!(e.status, 404);
    assert_eq!(e.to_json()["message"], json!("Index `nope` not found."));
    assert_eq!(e.code, "index_not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_error_is_not_retried_on_another_copy() {
    use miroir_proto::topology::NodeState;
    let nodes = start_nodes(1).await.unwrap();
    let mut cluster = Cluster::start().await.unwrap();
    let (hole, handle) = common::black_hole().await.unwrap();
    cluster.put_nodes(&nodes).await.unwrap();
    // The second copy of each shard never answers: asking it would end in a timeout.
    cluster
        .put_node("n1", &hole, NodeState::Suspect)
        .await
        .unwrap();
    let docs = npm_documents(100).unwrap();
    cluster
        .create_index(&nodes, "npm", &[&[0], &[0]], &npm_settings(), &docs)
        .await
        .unwrap();
    let (mut record, revision) = cluster.topology.read_index("npm").await.unwrap().unwrap();
    for shard in &mut record.shards {
        shard.nodes.push("n1".into());
    }
    cluster
        .topology
        .update_index(&record, revision)
        .await
        .unwrap();
    let config = miroir_merger::Config {
        hedge_after_ms: 0,
        node_timeout_ms: 60_000,
        ..cluster.config()
    };
    cluster.start_merger(config).await.unwrap();
    let e = cluster
        .search_within("npm", &json!({"q": "x", "filter": "version = 1"}), 2_000)
        .await
        .unwrap_err();
    assert_eq!(
        (e.status, e.code.as_str()),
        (400, "invalid_search_filter"),
        "{e}"
    );
    handle.abort();
}
