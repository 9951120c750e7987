//! Invariant: through the whole cluster (gateway, router, merger on a real NATS, 3 nodes, 4
//! shards, RF 2) an index can be created, loaded and searched, and every document lands on
//! exactly the RF nodes of its shard.
#![allow(clippy::unwrap_used)]

use miroir_e2e::{ClusterOptions, TestCluster};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_load_search() {
    let cluster = TestCluster::start(ClusterOptions::default()).await.unwrap();
    let client = cluster.client();

    let created = client
        .post("/indexes", &json!({"uid": "movies", "primaryKey": "id"}))
        .await
        .unwrap();
    assert_eq!(created.status, 202, "{}", created.body);
    client.wait_succeeded(&created).await.unwrap();

    let docs: Vec<_> = (0..200)
        .map(|i| json!({"id": i, "title": format!("movie number {i}"), "year": 1900 + i % 100}))
        .collect();
    let added = client
        .post("/indexes/movies/documents", &json!(docs))
        .await
        .unwrap();
    assert_eq!(added.status, 202, "{}", added.body);
    let task = client.wait_succeeded(&added).await.unwrap();
    assert_eq!(task["details"]["receivedDocuments"], json!(200));
    assert_eq!(task["details"]["indexedDocuments"], json!(200), "{task}");

    let found = client
        .post("/indexes/movies/search", &json!({"q": "movie", "limit": 5}))
        .await
        .unwrap();
    assert_eq!(found.status, 200, "{}", found.body);
    assert_eq!(found.body["estimatedTotalHits"], json!(200));
    assert_eq!(found.body["hits"].as_array().unwrap().len(), 5);

    let one = client.get("/indexes/movies/documents/42").await.unwrap();
    assert_eq!(one.status, 200, "{}", one.body);
    assert_eq!(one.body["title"], json!("movie number 42"));

    // Every document is stored RF = 2 times over the nodes.
    let mut copies = 0;
    for node in &cluster.nodes {
        let stats = node.client().get("/stats").await.unwrap();
        for (_, idx) in stats.body["indexes"].as_object().unwrap() {
            copies += idx["numberOfDocuments"].as_u64().unwrap();
        }
    }
    assert_eq!(copies, 400);

    let stats = client.get("/indexes/movies/stats").await.unwrap();
    assert_eq!(
        stats.body["numberOfDocuments"],
        json!(200),
        "{}",
        stats.body
    );
}
