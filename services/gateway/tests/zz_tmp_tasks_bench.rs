#![allow(clippy::unwrap_used)]
use std::time::Instant;
use miroir_cluster::tasks::TaskStore;
use miroir_proto::tasks::{ClusterTask, FinishedTask};
use miroir_testkit::{ClusterOptions, TestCluster};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench() {
    let cluster = TestCluster::start(ClusterOptions { nodes: 1, shards: 1, replication_factor: 1, ..Default::default() }).await.unwrap();
    let js = async_nats::jetstream::new(cluster.nats.connect().await.unwrap());
    let store = TaskStore::open(&js).await.unwrap();
    let n = 20_000u64;
    let t = Instant::now();
    let puts = (0..n).map(|uid| {
        let store = store.clone();
        async move {
            let task = ClusterTask { uid, index_uid: Some(format!("idx{}", uid % 10)), task_type: "documentAdditionOrUpdate".into(),
                enqueued_at: "2026-11-21T05:01:17.2Z".into(), details: json!({"receivedDocuments": 1, "indexedDocuments": 1}), node_tasks: vec![],
                finished: Some(FinishedTask { status: if uid % 7 == 0 { "failed".into() } else { "succeeded".into() }, details: json!({"receivedDocuments": 1, "indexedDocuments": 1}), error: None,
                  started_at: "2026-11-21T05:01:17.3Z".into(), finished_at: "2026-11-21T05:01:17.4Z".into() }),
                fanout_error: None, canceled_by: None };
            store.put(&task).await.unwrap();
        }
    });
    futures::future::join_all(puts).await;
    println!("put {n} records in {:?}", t.elapsed());
    let client = cluster.client();
    for q in ["/tasks", "/tasks?statuses=failed&indexUids=idx3&limit=20", "/tasks?from=100&limit=50", "/batches?limit=20"] {
        let _ = client.get(q).await.unwrap();
        let t = Instant::now();
        for _ in 0..20 { let r = client.get(q).await.unwrap(); assert_eq!(r.status, 200); }
        let r = client.get(q).await.unwrap();
        println!("{q}: {:?} per call, total {}", t.elapsed() / 20, r.body["total"]);
    }
}
