//! Invariant: with NATS permissions on (`nats/permissions.conf`, every service its own user), the
//! whole cluster works: writes, reads, keys, tasks, a node dying and coming back, and nothing any
//! service does is refused by NATS (the server logs no permissions violation).
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use miroir_e2e::{ClusterOptions, TestCluster};
use miroir_testkit::wait::{Attempt, until};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cluster_works_with_permissions_on() {
    let mut cluster = TestCluster::start(ClusterOptions {
        nats_permissions: true,
        rebalancers: 1,
        ..Default::default()
    })
    .await
    .unwrap();
    let client = cluster.client();

    let created = client
        .post("/indexes", &json!({"uid": "movies", "primaryKey": "id"}))
        .await
        .unwrap();
    assert_eq!(created.status, 202, "{}", created.body);
    client.wait_succeeded(&created).await.unwrap();

    let settings = client
        .patch(
            "/indexes/movies/settings",
            &json!({"filterableAttributes": ["year"]}),
        )
        .await
        .unwrap();
    assert_eq!(settings.status, 202, "{}", settings.body);
    client.wait_succeeded(&settings).await.unwrap();

    let docs: Vec<_> = (0..100)
        .map(|i| json!({"id": i, "title": format!("movie {i}"), "year": 1950 + i % 50}))
        .collect();
    let added = client
        .post("/indexes/movies/documents", &json!(docs))
        .await
        .unwrap();
    assert_eq!(added.status, 202, "{}", added.body);
    client.wait_succeeded(&added).await.unwrap();

    let found = client
        .post(
            "/indexes/movies/search",
            &json!({"q": "movie", "filter": "year > 1990", "facets": ["year"]}),
        )
        .await
        .unwrap();
    assert_eq!(found.status, 200, "{}", found.body);
    assert_eq!(found.body["estimatedTotalHits"], json!(18));

    let multi = client
        .post(
            "/multi-search",
            &json!({"queries": [{"indexUid": "movies", "q": "movie 7"}]}),
        )
        .await
        .unwrap();
    assert_eq!(multi.status, 200, "{}", multi.body);

    let one = client.get("/indexes/movies/documents/7").await.unwrap();
    assert_eq!(one.status, 200, "{}", one.body);

    // API keys (the gateway writes the keys bucket) and a search with one.
    let key = client
        .post(
            "/keys",
            &json!({"actions": ["search"], "indexes": ["movies"], "expiresAt": null}),
        )
        .await
        .unwrap();
    assert_eq!(key.status, 201, "{}", key.body);
    let search_key = key.body["key"].as_str().unwrap().to_string();
    let with_key = client.with_key(Some(search_key));
    let searched = until("the new key works", Duration::from_secs(10), || {
        let with_key = with_key.clone();
        async move {
            let r = with_key
                .post("/indexes/movies/search", &json!({"q": "movie"}))
                .await?;
            Ok(if r.status == 200 {
                Attempt::Ready(r)
            } else {
                Attempt::Retry(r.body.to_string())
            })
        }
    })
    .await
    .unwrap();
    assert_eq!(searched.body["estimatedTotalHits"], json!(100));
    let uid = key.body["uid"].as_str().unwrap();
    let deleted = client.delete(&format!("/keys/{uid}")).await.unwrap();
    assert_eq!(deleted.status, 204, "{}", deleted.body);

    // A node dies (the health-checker writes its state, the router hints the writes it misses)
    // and comes back (the hints are replayed).
    cluster.nodes[0].stop();
    let removed = client
        .post("/indexes/movies/documents/delete-batch", &json!([1, 2, 3]))
        .await
        .unwrap();
    assert_eq!(removed.status, 202, "{}", removed.body);
    client.wait_task(removed.task_uid().unwrap()).await.unwrap();
    cluster.nodes[0].start_again().await.unwrap();
    until("97 documents", Duration::from_secs(30), || {
        let client = client.clone();
        async move {
            let r = client.get("/indexes/movies/stats").await?;
            Ok(if r.body["numberOfDocuments"] == json!(97) {
                Attempt::Ready(())
            } else {
                Attempt::Retry(r.body.to_string())
            })
        }
    })
    .await
    .unwrap();

    let tasks = client.get("/tasks?limit=100").await.unwrap();
    assert_eq!(tasks.status, 200, "{}", tasks.body);

    // NATS refused nothing any service did.
    let log = std::fs::read_to_string(cluster.nats.log_path()).unwrap();
    let violations: Vec<&str> = log.lines().filter(|l| l.contains("Violation")).collect();
    assert!(
        violations.is_empty(),
        "NATS refused a service:\n{}",
        violations.join("\n")
    );
}
