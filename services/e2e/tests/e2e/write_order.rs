//! Invariant: a batch is written to every copy in its own order, even when the router sends many
//! parts per shard and parts of different shards at once: when a document appears twice in one
//! batch, the later version is the one every copy keeps.
#![allow(clippy::unwrap_used)]

use miroir_e2e::{ClusterOptions, TestCluster};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_later_version_wins_on_every_copy() {
    let cluster = TestCluster::start(ClusterOptions {
        shard_flush_bytes: Some(2048),
        ..ClusterOptions::default()
    })
    .await
    .unwrap();
    let client = cluster.client();
    // Each id twice: version 1 in the first half of the batch, version 2 in the second.
    let mut docs: Vec<Value> = (0..600)
        .map(|i| json!({"id": i, "version": 1, "pad": "x".repeat(40)}))
        .collect();
    docs.extend((0..600).map(|i| json!({"id": i, "version": 2, "pad": "y".repeat(40)})));
    let r = client
        .post("/indexes/ordered/documents?primaryKey=id", &json!(docs))
        .await
        .unwrap();
    let task = client.wait_succeeded(&r).await.unwrap();
    assert_eq!(task["details"]["indexedDocuments"], json!(1200), "{task}");

    // Every copy, read directly on the nodes, holds version 2 of each of its documents.
    let mut copies = 0;
    for node in &cluster.nodes {
        let list = node.client().get("/indexes?limit=100").await.unwrap();
        for idx in list.body["results"].as_array().unwrap() {
            let uid = idx["uid"].as_str().unwrap();
            let docs = node
                .client()
                .get(&format!(
                    "/indexes/{uid}/documents?limit=1000&fields=id,version"
                ))
                .await
                .unwrap();
            for d in docs.body["results"].as_array().unwrap() {
                assert_eq!(
                    d["version"],
                    json!(2),
                    "{uid} on {} kept an older version: {d}",
                    node.url()
                );
                copies += 1;
            }
        }
    }
    assert_eq!(copies, 600 * 2);
}
