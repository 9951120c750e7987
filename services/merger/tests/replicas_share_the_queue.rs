//! Invariant: mergers are interchangeable replicas of one queue group: two of them share the searches, and one can leave (idle, or mid-load) without a single search failing.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{Cluster, npm_settings};
use miroir_testkit::wait::{Attempt, until};
use miroir_testkit::{npm_documents, start_nodes};
use serde_json::{Value, json};

const DOCS: usize = 200;
const SEARCHES_PER_CLIENT: usize = 150;
const CLIENTS: usize = 3;

/// Two mergers over index `npm` (2 shards, RF 2 on 2 nodes), for both tests.
async fn two_mergers() -> (Cluster, Vec<miroir_testkit::Node>, usize, usize) {
    let nodes = start_nodes(2).await.unwrap();
    let mut cluster = Cluster::start().await.unwrap();
    cluster.put_nodes(&nodes).await.unwrap();
    let docs = npm_documents(DOCS).unwrap();
    cluster
        .create_index(&nodes, "npm", &[&[0, 1], &[1, 0]], &npm_settings(), &docs)
        .await
        .unwrap();
    let first = cluster.start_merger(cluster.config()).await.unwrap();
    let second = cluster.start_merger(cluster.config()).await.unwrap();
    (cluster, nodes, first, second)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_mergers_share_the_searches_and_one_can_leave() {
    let (mut cluster, _nodes, first, second) = two_mergers().await;
    let baseline = [
        cluster.merger_messages_in(first),
        cluster.merger_messages_in(second),
    ];
    for i in 0..40 {
        let answer = cluster
            .search(
                "npm",
                &json!({"q": if i % 2 == 0 { "react" } else { "vue" }, "limit": 3}),
            )
            .await
            .unwrap();
        assert!(answer["hits"].is_array());
    }
    // Each merger's own connection counts the requests the queue group handed it.
    let served = [
        cluster.merger_messages_in(first) - baseline[0],
        cluster.merger_messages_in(second) - baseline[1],
    ];
    assert!(
        served.iter().all(|n| *n >= 5),
        "both replicas take a share: {served:?}"
    );
    cluster.stop_merger(first).await.unwrap();
    for _ in 0..20 {
        let answer = cluster
            .search("npm", &json!({"q": "plugin", "limit": 0}))
            .await
            .unwrap();
        assert_eq!(
            answer["estimatedTotalHits"].as_u64().map(|n| n > 0),
            Some(true)
        );
    }
}

/// A merger leaving mid-load drains its queue subscription: the server stops routing to it,
/// and every request already routed is still answered, so no caller sees an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_merger_leaves_mid_load_and_no_search_fails() {
    let (mut cluster, _nodes, first, second) = two_mergers().await;
    let baseline = [
        cluster.merger_messages_in(first),
        cluster.merger_messages_in(second),
    ];
    let client = cluster.client.clone();

    let done = Arc::new(AtomicUsize::new(0));
    let mut loads = Vec::new();
    for c in 0..CLIENTS {
        let client = client.clone();
        let done = done.clone();
        loads.push(tokio::spawn(async move {
            let mut failures = Vec::new();
            for i in 0..SEARCHES_PER_CLIENT {
                let q = ["react", "vue", "plugin", ""][(i + c) % 4];
                let body = json!({"q": q, "limit": 3});
                let request = miroir_proto::rpc::Search {
                    index_uid: "npm".into(),
                    body: serde_json::to_vec(&body).unwrap().into(),
                    deadline_ms: 5_000,
                };
                match miroir_cluster::bus::request(&client, &request, Duration::from_secs(6)).await
                {
                    Ok(reply) => {
                        let answer: Value = serde_json::from_slice(&reply.body).unwrap();
                        assert!(answer["hits"].is_array());
                    }
                    Err(e) => failures.push(format!("search {i} of client {c}: {e}")),
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
            failures
        }));
    }

    // Both replicas take a share of the load before one of them leaves.
    // (Each merger's own connection counts the requests the queue group handed it.)
    until(
        "both mergers to serve searches",
        Duration::from_secs(20),
        || async {
            let served = [
                cluster.merger_messages_in(first) - baseline[0],
                cluster.merger_messages_in(second) - baseline[1],
            ];
            Ok(if served.iter().all(|n| *n >= 10) {
                Attempt::Ready(())
            } else {
                Attempt::Retry(format!("{served:?}"))
            })
        },
    )
    .await
    .unwrap();
    let before = done.load(Ordering::Relaxed);
    assert!(
        before < CLIENTS * SEARCHES_PER_CLIENT,
        "the load ended before the shutdown"
    );
    cluster.stop_merger(first).await.unwrap();
    // The leaving merger drained: it answered what was already routed to it, then left.
    let done_at_stop = done.load(Ordering::Relaxed);
    let after_stop = cluster.merger_messages_in(second);

    let mut failures = Vec::new();
    for load in loads {
        failures.extend(load.await.unwrap());
    }
    assert!(
        failures.is_empty(),
        "{} searches failed: {failures:#?}",
        failures.len()
    );
    assert_eq!(done.load(Ordering::Relaxed), CLIENTS * SEARCHES_PER_CLIENT);
    let tail = cluster.merger_messages_in(second) - after_stop;
    assert!(
        tail as usize >= CLIENTS * SEARCHES_PER_CLIENT - done_at_stop - CLIENTS,
        "the remaining merger took the rest: {tail}"
    );
}
