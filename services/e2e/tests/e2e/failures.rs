//! Invariant: the read path survives the loss of a merger replica and of a Meilisearch node:
//! with two mergers, stopping one mid-load fails no search; with RF 2, a dead node is skipped and
//! answers stay complete; with every copy of a shard gone, the answer says so (503), never a
//! silently partial result.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use miroir_e2e::{ClusterOptions, TestCluster};
use miroir_testkit::MeiliClient;
use serde_json::{Value, json};

async fn load(client: &MeiliClient) {
    let docs: Vec<Value> = (0..400).map(|i| json!({"id": i, "title": format!("title {} {}", ["alpha", "beta", "gamma"][i % 3], i)})).collect();
    let r = client
        .post("/indexes/docs/documents?primaryKey=id", &json!(docs))
        .await
        .unwrap();
    client.wait_succeeded(&r).await.unwrap();
}

/// Adds documents `ids`, each titled with "alpha"; the task's uid.
async fn add_alphas(client: &MeiliClient, ids: std::ops::Range<usize>) -> u64 {
    let more: Vec<Value> = ids
        .map(|i| json!({"id": i, "title": format!("title alpha {i}")}))
        .collect();
    let r = client
        .post("/indexes/docs/documents", &json!(more))
        .await
        .unwrap();
    r.task_uid().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_a_merger_mid_load_fails_no_search() {
    let mut cluster = TestCluster::start(ClusterOptions {
        mergers: 2,
        ..ClusterOptions::default()
    })
    .await
    .unwrap();
    let client = cluster.client();
    load(&client).await;

    let done = Arc::new(AtomicUsize::new(0));
    let load_task = {
        let client = client.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let mut failures = Vec::new();
            for i in 0..400 {
                let q = ["alpha", "beta", "gamma"][i % 3];
                let r = client
                    .post("/indexes/docs/search", &json!({"q": q, "limit": 10}))
                    .await
                    .unwrap();
                if r.status != 200
                    || r.body["estimatedTotalHits"] != json!(134 - (i % 3 != 0) as u64)
                {
                    failures.push(format!("search {i}: {} {}", r.status, r.body));
                }
                done.fetch_add(1, Ordering::SeqCst);
            }
            failures
        })
    };
    while done.load(Ordering::SeqCst) < 100 {
        tokio::task::yield_now().await;
    }
    cluster.stop_merger(0).await.unwrap();
    assert_eq!(cluster.merger_count(), 1);
    let failures = load_task.await.unwrap();
    assert!(
        failures.is_empty(),
        "{} searches failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_node_is_skipped_and_a_lost_shard_is_explicit() {
    let mut cluster = TestCluster::start(ClusterOptions::default()).await.unwrap();
    let client = cluster.client();
    load(&client).await;

    // RF 2 over 3 nodes: any one node can die.
    cluster.nodes[1].stop();
    for q in ["alpha", "beta", "gamma"] {
        let r = client
            .post("/indexes/docs/search", &json!({"q": q}))
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(
            r.body["estimatedTotalHits"],
            json!(if q == "alpha" { 134 } else { 133 }),
            "{}",
            r.body
        );
    }
    // Two dead nodes of three: complete if every shard kept a copy on the last node, else a 503.
    cluster.nodes[2].stop();
    let r = client
        .post("/indexes/docs/search", &json!({"q": "alpha"}))
        .await
        .unwrap();
    match r.status {
        200 => assert_eq!(
            r.body["estimatedTotalHits"],
            json!(134),
            "a partial answer: {}",
            r.body
        ),
        503 => {}
        other => panic!("unexpected {other}: {}", r.body),
    }
    // Every node dead: every shard is lost, and the answer says so.
    cluster.nodes[0].stop();
    let r = client
        .post("/indexes/docs/search", &json!({"q": "alpha"}))
        .await
        .unwrap();
    assert_eq!(
        r.status, 503,
        "a search with a lost shard must not answer partially: {}",
        r.body
    );
    assert!(
        r.body["message"].as_str().unwrap().contains("docs"),
        "{}",
        r.body
    );
}

/// A write that a dead node's copies missed is acknowledged only once those copies have been out
/// of the read set for the router's `lag_settle_ms` (1 s): a merger whose view of the topology
/// lags must not still read such a copy when the client already sees the write succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_a_copy_missed_is_acknowledged_once_the_copy_is_out_of_the_reads_for_the_settle() {
    let mut cluster = TestCluster::start(ClusterOptions::default()).await.unwrap();
    let client = cluster.client();
    load(&client).await;

    cluster.nodes[1].stop();
    let uid = add_alphas(&client, 1000..1040).await;
    // Polled every 10 ms rather than with `wait_task` (whose pauses grow to 50 ms): the moment
    // the write is seen succeeded is what the assertion below bounds.
    let acked_at = loop {
        let task = client.get(&format!("/tasks/{uid}")).await.unwrap();
        match task.body["status"].as_str() {
            Some("succeeded") => break time::OffsetDateTime::now_utc(),
            Some("enqueued" | "processing") => {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await
            }
            _ => panic!("{}", task.body),
        }
    };

    let js = async_nats::jetstream::new(cluster.nats.connect().await.unwrap());
    let (task, _) = miroir_cluster::tasks::TaskStore::open(&js)
        .await
        .unwrap()
        .get(uid)
        .await
        .unwrap()
        .unwrap();
    let deferred: Vec<_> = task.deferred.iter().filter(|d| d.node == "n1").collect();
    assert!(
        !deferred.is_empty(),
        "40 documents over 4 shards reach n1's copies: {task:?}"
    );
    for d in deferred {
        let since = d
            .since
            .as_deref()
            .and_then(|s| {
                time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
            })
            .unwrap_or_else(|| panic!("the deferred copy has no `since`: {d:?}"));
        assert!(
            acked_at - since >= std::time::Duration::from_secs(1),
            "acknowledged at {acked_at}, {:?} after the copy of shard {} on n1 left the reads at {since}",
            acked_at - since,
            d.shard
        );
    }
    // Reads meanwhile and after are complete.
    let r = client
        .post("/indexes/docs/search", &json!({"q": "alpha"}))
        .await
        .unwrap();
    assert_eq!(r.body["estimatedTotalHits"], json!(134 + 40), "{}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_back_empty_gets_no_partial_shard_and_reads_stay_complete() {
    let mut cluster = TestCluster::start(ClusterOptions::default()).await.unwrap();
    let client = cluster.client();
    load(&client).await;

    // A node back from a crash with an empty disk: the write succeeds on the other copies (write
    // quorum 1), and the empty copy is marked lost instead of being given a partial shard.
    cluster.nodes[1].restart_empty().await.unwrap();
    let uid = add_alphas(&client, 400..460).await;
    let task = client.wait_task(uid).await.unwrap();
    assert_eq!(task["status"], json!("succeeded"), "{task}");
    let topology = cluster.topology().await.unwrap();
    let (record, _) = topology.read_index("docs").await.unwrap().unwrap();
    let lost: Vec<_> = record
        .shards
        .iter()
        .flat_map(|p| p.lagging.iter())
        .filter(|l| l.node == "n1")
        .collect();
    assert!(
        !lost.is_empty()
            && lost
                .iter()
                .all(|l| l.reason == miroir_proto::topology::LagReason::Lost),
        "{:?}",
        record.shards
    );

    // The empty node was given no partial shard...
    let indexes = cluster.nodes[1].client().get("/indexes").await.unwrap();
    assert_eq!(indexes.body["total"], json!(0), "{}", indexes.body);
    // ...so every read is answered from complete copies.
    for _ in 0..6 {
        let r = client
            .post("/indexes/docs/search", &json!({"q": "alpha", "limit": 0}))
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["estimatedTotalHits"], json!(134 + 60), "{}", r.body);
    }
    let stats = client.get("/indexes/docs/stats").await.unwrap();
    assert_eq!(
        stats.body["numberOfDocuments"],
        json!(460),
        "{}",
        stats.body
    );
}
