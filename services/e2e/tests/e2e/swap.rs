//! Invariant: `POST /swap-indexes` trades two indexes whole (documents, settings, primary key,
//! task history) in one atomic KV write without moving a document, a search during swaps always
//! sees one complete index (never shards of both), and a rename moves an index to a free uid.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use async_nats::jetstream::kv;
use miroir_e2e::{ClusterOptions, TestCluster};
use miroir_router::kv_batch::{self, KvBatchError, KvWrite};
use miroir_testkit::{MeiliClient, Reply};
use serde_json::{Value, json};

async fn load(client: &MeiliClient, uid: &str, n: usize, settings: Value) {
    let docs: Vec<Value> = (0..n)
        .map(|i| json!({"id": i, "index": uid, "title": format!("{uid} number {i}")}))
        .collect();
    let r = client
        .post(
            &format!("/indexes/{uid}/documents?primaryKey=id"),
            &json!(docs),
        )
        .await
        .unwrap();
    client.wait_succeeded(&r).await.unwrap();
    let r = client
        .patch(&format!("/indexes/{uid}/settings"), &settings)
        .await
        .unwrap();
    client.wait_succeeded(&r).await.unwrap();
}

/// The `index` field of every hit of a search on `uid`, and the total.
async fn origins(client: &MeiliClient, uid: &str) -> (Vec<String>, u64) {
    let r = client
        .post(
            &format!("/indexes/{uid}/search"),
            &json!({"q": "number", "limit": 1000}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let hits = r.body["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["index"].as_str().unwrap().to_string())
        .collect();
    (hits, r.body["estimatedTotalHits"].as_u64().unwrap())
}

async fn swap(client: &MeiliClient, body: Value) -> Value {
    let r: Reply = client.post("/swap-indexes", &body).await.unwrap();
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(
        (r.body["type"].clone(), r.body["indexUid"].clone()),
        (json!("indexSwap"), Value::Null)
    );
    client.wait_task(r.task_uid().unwrap()).await.unwrap()
}

/// Node-local index names across the fleet.
async fn node_indexes(cluster: &TestCluster) -> Vec<String> {
    let mut names = Vec::new();
    for node in &cluster.nodes {
        let r = node.client().get("/indexes?limit=1000").await.unwrap();
        names.extend(
            r.body["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["uid"].as_str().unwrap().to_string()),
        );
    }
    names.sort();
    names.dedup();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swaps_trade_whole_indexes_atomically() {
    let cluster = TestCluster::start(ClusterOptions {
        routers: 2,
        ..Default::default()
    })
    .await
    .unwrap();
    let client = cluster.client();
    load(&client, "a", 20, json!({"filterableAttributes": ["title"]})).await;
    load(
        &client,
        "b",
        30,
        json!({"filterableAttributes": ["index"], "sortableAttributes": ["id"]}),
    )
    .await;
    let shards_before = node_indexes(&cluster).await;
    let b_tasks: Vec<u64> = client.get("/tasks?indexUids=b").await.unwrap().body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["uid"].as_u64().unwrap())
        .collect();

    let task = swap(&client, json!([{"indexes": ["a", "b"]}])).await;
    assert_eq!(task["status"], json!("succeeded"), "{task}");
    assert_eq!(
        task["details"],
        json!({"swaps": [{"indexes": ["a", "b"], "rename": false}]})
    );

    // Documents, settings and primary key moved with the name; no shard moved or was renamed.
    let (hits, total) = origins(&client, "a").await;
    assert_eq!(total, 30);
    assert!(hits.iter().all(|h| h == "b"), "{hits:?}");
    assert_eq!(origins(&client, "b").await.1, 20);
    let settings = client.get("/indexes/a/settings").await.unwrap().body;
    assert_eq!(settings["filterableAttributes"], json!(["index"]));
    assert_eq!(settings["sortableAttributes"], json!(["id"]));
    assert_eq!(
        client.get("/indexes/a").await.unwrap().body["primaryKey"],
        json!("id")
    );
    assert_eq!(
        client.get("/indexes/b/documents/3").await.unwrap().body["index"],
        json!("a")
    );
    assert_eq!(node_indexes(&cluster).await, shards_before);
    // The history follows the data.
    for uid in &b_tasks {
        assert_eq!(
            client.get(&format!("/tasks/{uid}")).await.unwrap().body["indexUid"],
            json!("a")
        );
    }

    // Writes after the swap land in the swapped shards; errors name the client's index.
    let r = client
        .post(
            "/indexes/a/documents",
            &json!([{"id": 999, "index": "b", "title": "late number"}]),
        )
        .await
        .unwrap();
    client.wait_succeeded(&r).await.unwrap();
    assert_eq!(origins(&client, "a").await.1, 31);
    let r = client
        .post("/indexes/a/search", &json!({"filter": "title = x"}))
        .await
        .unwrap();
    assert_eq!(r.status, 400, "{}", r.body);
    let message = r.body["message"].as_str().unwrap();
    assert!(
        message.starts_with("Index `a`:") && !message.contains("__s"),
        "{message}"
    );
    let r = client
        .post("/indexes/a/documents", &json!([{"id": "bad id!"}]))
        .await
        .unwrap();
    let failed = client.wait_task(r.task_uid().unwrap()).await.unwrap();
    assert!(!failed.to_string().contains("__s"), "{failed}");

    // A search running through swaps sees one whole index each time, never shards of both.
    let stop = Arc::new(AtomicBool::new(false));
    let searches = Arc::new(AtomicUsize::new(0));
    let watcher = {
        let (client, stop, searches) = (client.clone(), stop.clone(), searches.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let (hits, total) = origins(&client, "a").await;
                let whole_a = total == 20 && hits.iter().all(|h| h == "a");
                let whole_b = total == 31 && hits.iter().all(|h| h == "b");
                assert!(
                    whole_a || whole_b,
                    "a half-swapped answer: {total} hits from {hits:?}"
                );
                searches.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    for _ in 0..6 {
        assert_eq!(
            swap(&client, json!([{"indexes": ["b", "a"]}])).await["status"],
            json!("succeeded")
        );
    }
    stop.store(true, Ordering::SeqCst);
    watcher.await.unwrap();
    assert!(searches.load(Ordering::SeqCst) > 0);
    assert_eq!(
        origins(&client, "a").await.1,
        31,
        "six swaps bring b's data back to a"
    );

    // Rename: `a` becomes `c`; `a` is gone.
    let task = swap(&client, json!([{"indexes": ["a", "c"], "rename": true}])).await;
    assert_eq!(task["status"], json!("succeeded"), "{task}");
    assert_eq!(origins(&client, "c").await.1, 31);
    assert_eq!(client.get("/indexes/a").await.unwrap().status, 404);
    let listed: Vec<String> = client.get("/indexes").await.unwrap().body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["uid"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(listed, vec!["b", "c"]);

    // What fails as a task, as Meilisearch does.
    let task = swap(&client, json!([{"indexes": ["b", "ghost"]}])).await;
    assert_eq!(
        (task["status"].clone(), task["error"]["code"].clone()),
        (json!("failed"), json!("index_not_found")),
        "{task}"
    );
    assert_eq!(task["error"]["message"], json!("Index `ghost` not found."));
    let task = swap(&client, json!([{"indexes": ["b", "c"], "rename": true}])).await;
    assert_eq!(
        task["error"]["code"],
        json!("index_already_exists"),
        "{task}"
    );
    assert_eq!(
        origins(&client, "b").await.1,
        20,
        "a failed swap changes nothing"
    );
    // What is refused at once.
    let r = client
        .post("/swap-indexes", &json!([{"indexes": ["b", "b"]}]))
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.body["code"].clone()),
        (400, json!("invalid_swap_duplicate_index_found"))
    );
    let r = client
        .post("/swap-indexes", &json!([{"indexes": ["b"]}]))
        .await
        .unwrap();
    assert_eq!(
        r.body["message"],
        json!("Two indexes must be given for each swap. The list `[\"b\"]` contains 1 indexes.")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kv_batch_is_written_whole_or_not_at_all() {
    let nats = miroir_testkit::NatsServer::start().await.unwrap();
    let client = nats.connect().await.unwrap();
    let js = async_nats::jetstream::new(client.clone());
    let store = js
        .create_key_value(kv::Config {
            bucket: "scratch".into(),
            history: 1,
            ..Default::default()
        })
        .await
        .unwrap();
    kv_batch::enable(&js, "scratch").await.unwrap();
    let r1 = store.put("one", "1".into()).await.unwrap();
    let r2 = store.put("two", "2".into()).await.unwrap();

    // The second write names a stale revision: nothing is written.
    let stale = [
        KvWrite::Put {
            key: "one".into(),
            value: "1b".into(),
            revision: r1,
        },
        KvWrite::Put {
            key: "two".into(),
            value: "2b".into(),
            revision: r2 - 1,
        },
    ];
    let e = kv_batch::write_all(&client, "scratch", "batch-1", &stale)
        .await
        .unwrap_err();
    assert!(matches!(e, KvBatchError::Conflict(_)), "{e}");
    assert_eq!(store.get("one").await.unwrap().unwrap(), "1");
    assert_eq!(store.get("two").await.unwrap().unwrap(), "2");

    // Both revisions right: both keys change; a delete and a create can be part of it.
    let fresh = [
        KvWrite::Put {
            key: "one".into(),
            value: "1c".into(),
            revision: r1,
        },
        KvWrite::Delete {
            key: "two".into(),
            revision: r2,
        },
        KvWrite::Put {
            key: "three".into(),
            value: "3".into(),
            revision: 0,
        },
    ];
    kv_batch::write_all(&client, "scratch", "batch-2", &fresh)
        .await
        .unwrap();
    assert_eq!(store.get("one").await.unwrap().unwrap(), "1c");
    assert!(store.get("two").await.unwrap().is_none());
    assert_eq!(store.get("three").await.unwrap().unwrap(), "3");

    // A key that must not exist but does: refused whole.
    let taken = [
        KvWrite::Put {
            key: "one".into(),
            value: "1d".into(),
            revision: store.entry("one").await.unwrap().unwrap().revision,
        },
        KvWrite::Put {
            key: "three".into(),
            value: "3d".into(),
            revision: 0,
        },
    ];
    assert!(matches!(
        kv_batch::write_all(&client, "scratch", "batch-3", &taken).await,
        Err(KvBatchError::Conflict(_))
    ));
    assert_eq!(store.get("one").await.unwrap().unwrap(), "1c");
}
