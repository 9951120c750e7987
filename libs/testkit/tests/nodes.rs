//! Invariant: a node started by the kit answers the Meilisearch API on its own port with its key,
//! can be stopped and restarted on the same port, and stops when dropped.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use miroir_testkit::{
    DEFAULT_MASTER_KEY, MeiliClient, NodeKind, NodeOptions, start_node, start_nodes,
};
use serde_json::json;

fn standin() -> NodeOptions {
    NodeOptions {
        kind: NodeKind::Standin,
        ..Default::default()
    }
}

fn port_is_closed(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(1))
        .is_err()
}

#[tokio::test]
async fn standin_answers_health_and_version_with_its_key() {
    let node = start_node(standin()).await.unwrap();
    assert_eq!(node.kind(), &NodeKind::Standin);
    assert_eq!(node.master_key(), Some(DEFAULT_MASTER_KEY));
    let client = node.client();

    let health = client.get("/health").await.unwrap();
    assert_eq!(
        (health.status, health.body),
        (200, json!({"status": "available"}))
    );

    let version = client.get("/version").await.unwrap();
    assert_eq!(version.status, 200, "{}", version.body);
    assert!(version.body["pkgVersion"].is_string(), "{}", version.body);

    let anonymous = client.with_key(None).get("/version").await.unwrap();
    assert_eq!(
        (anonymous.status, &anonymous.body["code"]),
        (401, &json!("missing_authorization_header"))
    );
    let wrong = client
        .with_key(Some("wrong".into()))
        .get("/version")
        .await
        .unwrap();
    assert_eq!(
        (wrong.status, &wrong.body["code"]),
        (403, &json!("invalid_api_key"))
    );
}

#[tokio::test]
async fn wait_task_follows_an_index_creation() {
    let node = start_node(standin()).await.unwrap();
    let client = node.client();
    let enqueued = client
        .post("/indexes", &json!({"uid": "books", "primaryKey": "id"}))
        .await
        .unwrap();
    let task = client.wait_succeeded(&enqueued).await.unwrap();
    assert_eq!(task["type"], "indexCreation");
    assert_eq!(task["uid"], json!(enqueued.task_uid().unwrap()));
}

#[tokio::test]
async fn stop_and_restart_keep_the_port() {
    let mut node = start_node(standin()).await.unwrap();
    let port = node.port();
    node.stop();
    assert!(!node.is_running());
    assert!(
        port_is_closed(port),
        "a stopped node must refuse connections"
    );
    assert!(node.client().get("/health").await.is_err());

    node.start_again().await.unwrap();
    assert_eq!(node.port(), port);
    assert_eq!(node.client().get("/health").await.unwrap().status, 200);

    node.restart().await.unwrap();
    assert_eq!(
        (
            node.port(),
            node.client().get("/health").await.unwrap().status
        ),
        (port, 200)
    );
}

#[tokio::test]
async fn dropping_a_node_frees_its_port() {
    let node = start_node(standin()).await.unwrap();
    let port = node.port();
    let client = MeiliClient::new(node.url(), None);
    assert_eq!(client.get("/health").await.unwrap().status, 200);
    drop(node);
    assert!(port_is_closed(port));
}

/// With `MEILI_BIN` set this runs real Meilisearch processes.
#[tokio::test]
async fn start_nodes_gives_distinct_healthy_nodes() {
    let nodes = start_nodes(3).await.unwrap();
    let mut ports: Vec<u16> = nodes.iter().map(|n| n.port()).collect();
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), 3);
    for node in &nodes {
        assert_eq!(
            node.client().get("/health").await.unwrap().body["status"],
            "available"
        );
    }
}

/// A node's data outlives a crash (as a disk does) and is gone after a restart with an empty disk.
#[tokio::test]
async fn a_restart_keeps_the_data_and_an_empty_restart_loses_it() {
    let mut node = start_node(NodeOptions::default()).await.unwrap();
    let c = node.client();
    let reply = c
        .post(
            "/indexes",
            &serde_json::json!({"uid": "kept", "primaryKey": "id"}),
        )
        .await
        .unwrap();
    c.wait_succeeded(&reply).await.unwrap();
    let reply = c
        .post(
            "/indexes/kept/documents",
            &serde_json::json!([{"id": 1}, {"id": 2}]),
        )
        .await
        .unwrap();
    c.wait_succeeded(&reply).await.unwrap();

    node.restart().await.unwrap();
    let stats = node.client().get("/indexes/kept/stats").await.unwrap();
    assert_eq!(
        (stats.status, stats.body["numberOfDocuments"].clone()),
        (200, serde_json::json!(2))
    );

    node.restart_empty().await.unwrap();
    assert_eq!(
        node.client().get("/indexes/kept").await.unwrap().status,
        404
    );
}
