//! Invariant: Meilisearch 1.50's write-side extras behave through the cluster as on one node (the
//! recordings in `11-api-1.50-extras.json`): `customMetadata` is echoed by every document route
//! in JSON, NDJSON and CSV (202 and finished task) and accepted silently by settings routes;
//! `skipCreation=true` updates existing documents and creates none; `PATCH /indexes/{uid}`
//! `{"uid"}` renames an index (its history follows it, a taken uid fails the task); compaction is
//! one task whose sizes are the sums over every copy; experimental features are kept by the
//! cluster, reach every node (nodes added later too) and are refused, saying why, when they
//! cannot work sharded; a deleted task answers 404.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use meilisearch_sdk::client::Client;
use meilisearch_sdk::errors::{Error, ErrorCode};
use meilisearch_sdk::features::ExperimentalFeatures;
use meilisearch_sdk::tasks::TasksDeleteQuery;
use miroir_e2e::{ClusterOptions, TestCluster};
use miroir_testkit::{MeiliClient, Reply};
use reqwest::Method;
use serde_json::{Value, json};

use super::tasks::assert_error;

async fn succeeded(client: &MeiliClient, r: &Reply) -> Value {
    client.wait_succeeded(r).await.unwrap()
}

fn movies() -> Value {
    json!([
        {"id": 1, "title": "Alien", "genre": "scifi", "year": 1979, "rating": 8.5},
        {"id": 2, "title": "Heat", "genre": "crime", "year": 1995, "rating": 8.3},
        {"id": 3, "title": "Up", "genre": "animation", "year": 2009, "rating": 8.2},
        {"id": 4, "title": "Tenet", "genre": "scifi", "year": 2020, "rating": 7.3},
        {"id": 5, "title": "Ronin", "genre": "crime", "year": 1998, "rating": 7.2},
        {"id": 6, "title": "Coco", "genre": "animation", "year": 2017, "rating": 8.4},
        {"id": 7, "title": "Arrival", "genre": "scifi", "year": 2016, "rating": 7.9},
        {"id": 8, "title": "Drive", "genre": "crime", "year": 2011, "rating": 7.8}
    ])
}

/// The 202 echoes `meta`, and so does the finished task, which succeeded.
async fn echoed(client: &MeiliClient, r: &Reply, meta: &str) -> Value {
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.body["customMetadata"], json!(meta), "{}", r.body);
    let task = succeeded(client, r).await;
    assert_eq!(task["customMetadata"], json!(meta), "{task}");
    let last = task
        .as_object()
        .unwrap()
        .keys()
        .next_back()
        .unwrap()
        .clone();
    assert_eq!(last, "customMetadata", "shown last, as a node does");
    task
}

async fn document(client: &MeiliClient, uid: &str, id: u64) -> Reply {
    client
        .get(&format!("/indexes/{uid}/documents/{id}"))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_metadata_is_echoed_and_skip_creation_creates_nothing() {
    let cluster = TestCluster::start(ClusterOptions::default()).await.unwrap();
    let client = cluster.client();
    let r = client
        .post("/indexes", &json!({"uid": "movies", "primaryKey": "id"}))
        .await
        .unwrap();
    succeeded(&client, &r).await;
    let r = client
        .patch(
            "/indexes/movies/settings",
            &json!({"sortableAttributes": ["year", "rating", "title"], "filterableAttributes": ["genre", "year"]}),
        )
        .await
        .unwrap();
    succeeded(&client, &r).await;

    // JSON, NDJSON and CSV uploads.
    let r = client
        .post(
            "/indexes/movies/documents?customMetadata=import-42",
            &movies(),
        )
        .await
        .unwrap();
    let task = echoed(&client, &r, "import-42").await;
    assert_eq!(
        task["details"],
        json!({"receivedDocuments": 8, "indexedDocuments": 8})
    );
    let r = client
        .send_raw(
            Method::PUT,
            "/indexes/movies/documents?customMetadata=fix%20titles",
            "application/x-ndjson",
            b"{\"id\": 1, \"title\": \"Alien (1979)\"}\n".to_vec(),
        )
        .await
        .unwrap();
    echoed(&client, &r, "fix titles").await;
    let r = client
        .send_raw(
            Method::POST,
            "/indexes/movies/documents?customMetadata=csv",
            "text/csv",
            b"id,title,genre,year:number,rating:number\n9,Jaws,thriller,1975,8.1\n".to_vec(),
        )
        .await
        .unwrap();
    echoed(&client, &r, "csv").await;
    assert_eq!(
        document(&client, "movies", 1).await.body["title"],
        json!("Alien (1979)")
    );

    // Every deletion route.
    let r = client
        .delete("/indexes/movies/documents/8?customMetadata=gone")
        .await
        .unwrap();
    let task = echoed(&client, &r, "gone").await;
    assert_eq!(task["details"]["deletedDocuments"], json!(1));
    let r = client
        .post(
            "/indexes/movies/documents/delete-batch?customMetadata=batch",
            &json!([7]),
        )
        .await
        .unwrap();
    echoed(&client, &r, "batch").await;
    let r = client
        .post(
            "/indexes/movies/documents/delete?customMetadata=byfilter",
            &json!({"filter": "year < 1978"}),
        )
        .await
        .unwrap();
    let task = echoed(&client, &r, "byfilter").await;
    assert_eq!(
        (
            task["details"]["deletedDocuments"].clone(),
            task["details"]["originalFilter"].clone()
        ),
        (json!(1), json!("\"year < 1978\""))
    );
    assert_eq!(document(&client, "movies", 9).await.status, 404);

    // Settings take it and, as a node does, do not show it.
    let r = client
        .patch(
            "/indexes/movies/settings?customMetadata=cfg",
            &json!({"stopWords": ["the"]}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 202, "{}", r.body);
    assert!(r.body.get("customMetadata").is_none(), "{}", r.body);
    let task = succeeded(&client, &r).await;
    assert!(task.get("customMetadata").is_none(), "{task}");
    assert_eq!(task["details"], json!({"stopWords": ["the"]}));
    let r = client
        .delete("/indexes/movies/settings/stop-words?customMetadata=cfg")
        .await
        .unwrap();
    succeeded(&client, &r).await;

    // Listings show it too.
    let r = client.get("/tasks?types=documentDeletion").await.unwrap();
    let metas: Vec<Value> = r.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["customMetadata"].clone())
        .collect();
    assert_eq!(
        metas,
        vec![json!("byfilter"), json!("batch"), json!("gone")]
    );

    // Query parameters are checked as a node checks them.
    let r = client
        .post("/indexes/movies/documents?skipCreation=maybe", &movies())
        .await
        .unwrap();
    assert_error(
        &r,
        400,
        "invalid_skip_creation",
        "Invalid value in parameter `skipCreation`: skipCreation must be either `true` or `false`. Found: `maybe`",
    );
    let r = client
        .delete("/indexes/movies/documents/1?customMetadata=a&customMetadata=b")
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.body["code"].clone()),
        (400, json!("invalid_index_custom_metadata"))
    );
    let r = client
        .delete("/indexes/movies/documents/1?nope=1")
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.body["message"].clone()),
        (
            400,
            json!("Unknown parameter `nope`: expected one of `customMetadata`")
        )
    );

    // skipCreation: a new document is not created (the task still counts it, as recorded).
    let r = client
        .post(
            "/indexes/movies/documents?skipCreation=true",
            &json!([{"id": 20, "title": "Her", "genre": "drama", "year": 2013, "rating": 8.0}]),
        )
        .await
        .unwrap();
    assert!(r.body.get("customMetadata").is_none(), "{}", r.body);
    let task = succeeded(&client, &r).await;
    assert_eq!(
        task["details"],
        json!({"receivedDocuments": 1, "indexedDocuments": 1})
    );
    assert_eq!(document(&client, "movies", 20).await.status, 404);
    let r = client
        .put(
            "/indexes/movies/documents?skipCreation=true&customMetadata=both",
            &json!([{"id": 2, "rating": 8.6}, {"id": 21, "title": "Nope"}]),
        )
        .await
        .unwrap();
    let task = echoed(&client, &r, "both").await;
    assert_eq!(
        task["details"],
        json!({"receivedDocuments": 2, "indexedDocuments": 2})
    );
    assert_eq!(
        document(&client, "movies", 2).await.body,
        json!({"id": 2, "title": "Heat", "genre": "crime", "year": 1995, "rating": 8.6})
    );
    assert_eq!(document(&client, "movies", 21).await.status, 404);
    // 1..=6 are left (7, 8 and 9 were deleted; 20 and 21 never created).
    let r = client.get("/indexes/movies/stats").await.unwrap();
    assert_eq!(r.body["numberOfDocuments"], json!(6), "{}", r.body);

    // On a missing index the index is created, empty, as on a node.
    let r = client
        .post(
            "/indexes/nosuch/documents?skipCreation=true",
            &json!([{"id": 1}]),
        )
        .await
        .unwrap();
    succeeded(&client, &r).await;
    let r = client.get("/indexes/nosuch").await.unwrap();
    assert_eq!((r.status, r.body["primaryKey"].clone()), (200, json!("id")));
    let r = client.get("/indexes/nosuch/stats").await.unwrap();
    assert_eq!(r.body["numberOfDocuments"], json!(0), "{}", r.body);

    // Delete all, last.
    let r = client
        .delete("/indexes/movies/documents?customMetadata=all")
        .await
        .unwrap();
    let task = echoed(&client, &r, "all").await;
    assert_eq!(task["details"]["deletedDocuments"], json!(6));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rename_compaction_and_deleted_tasks() {
    let cluster = TestCluster::start(ClusterOptions::default()).await.unwrap();
    let client = cluster.client();
    let r = client
        .post("/indexes/movies/documents?primaryKey=id", &movies())
        .await
        .unwrap();
    succeeded(&client, &r).await;
    let r = client
        .post("/indexes", &json!({"uid": "directors", "primaryKey": "id"}))
        .await
        .unwrap();
    let created = r.task_uid().unwrap();
    succeeded(&client, &r).await;
    let r = client
        .post(
            "/indexes/directors/documents",
            &json!([{"id": 1, "name": "Ridley Scott"}, {"id": 2, "name": "Michael Mann"}, {"id": 3, "name": "Pete Docter"}]),
        )
        .await
        .unwrap();
    succeeded(&client, &r).await;

    // Rename.
    let r = client
        .patch("/indexes/directors", &json!({"uid": "people"}))
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.body["type"].clone(), r.body["indexUid"].clone()),
        (202, json!("indexUpdate"), json!("directors"))
    );
    let task = succeeded(&client, &r).await;
    assert_eq!(
        task["indexUid"],
        json!("directors"),
        "the rename task keeps the old uid"
    );
    assert_eq!(
        task["details"],
        json!({"primaryKey": null, "oldIndexUid": "directors", "newIndexUid": "people"})
    );
    let r = client.get("/indexes/people").await.unwrap();
    assert_eq!((r.status, r.body["primaryKey"].clone()), (200, json!("id")));
    let r = client.get("/indexes/directors").await.unwrap();
    assert_eq!(
        (r.status, r.body["code"].clone()),
        (404, json!("index_not_found"))
    );
    // The data, and the history, follow the new uid.
    let r = client
        .post("/indexes/people/search", &json!({"q": "mann"}))
        .await
        .unwrap();
    assert_eq!(
        r.body["hits"][0]["name"],
        json!("Michael Mann"),
        "{}",
        r.body
    );
    let r = client.get(&format!("/tasks/{created}")).await.unwrap();
    assert_eq!(r.body["indexUid"], json!("people"));
    let r = client
        .post(
            "/indexes/people/documents",
            &json!([{"id": 4, "name": "Denis Villeneuve"}]),
        )
        .await
        .unwrap();
    succeeded(&client, &r).await;
    let r = client.get("/indexes/people/stats").await.unwrap();
    assert_eq!(r.body["numberOfDocuments"], json!(4));
    // Nodes still hold the shards under their first names: nothing was copied.
    let mut shard_names = Vec::new();
    for node in &cluster.nodes {
        let r = node.client().get("/indexes?limit=1000").await.unwrap();
        for i in r.body["results"].as_array().unwrap() {
            shard_names.push(i["uid"].as_str().unwrap().to_string());
        }
    }
    assert!(shard_names.iter().any(|n| n.starts_with("directors__s")));
    assert!(!shard_names.iter().any(|n| n.starts_with("people")));

    // Onto a uid that exists: the task fails as on a node, nothing moves.
    let r = client
        .patch("/indexes/people", &json!({"uid": "movies"}))
        .await
        .unwrap();
    assert_eq!(r.status, 202, "{}", r.body);
    let task = client.wait_task(r.task_uid().unwrap()).await.unwrap();
    assert_eq!(task["status"], json!("failed"));
    assert_eq!(
        task["error"],
        json!({"message": "Index `movies` already exists.", "code": "index_already_exists", "type": "invalid_request", "link": "https://docs.meilisearch.com/errors#index_already_exists"})
    );
    assert_eq!(
        task["details"],
        json!({"primaryKey": null, "oldIndexUid": "people", "newIndexUid": "movies"})
    );
    let r = client.get("/indexes/movies/stats").await.unwrap();
    assert_eq!(r.body["numberOfDocuments"], json!(8));

    // Compaction: one task, the sizes summed over every copy. Each copy's own compaction is
    // asked of its node directly, to know what the sum must be.
    let r = client
        .post("/indexes/movies/compact", &json!(null))
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.body["type"].clone()),
        (202, json!("indexCompaction"))
    );
    let task = succeeded(&client, &r).await;
    let mut copies = 0;
    let mut pre = 0u64;
    for node in &cluster.nodes {
        let nc = node.client();
        let r = nc.get("/indexes?limit=1000").await.unwrap();
        for i in r.body["results"].as_array().unwrap() {
            let uid = i["uid"].as_str().unwrap();
            if !uid.starts_with("movies__s") {
                continue;
            }
            let r = nc
                .post(&format!("/indexes/{uid}/compact"), &json!(null))
                .await
                .unwrap();
            let t = nc.wait_succeeded(&r).await.unwrap();
            pre += size(&t["details"]["preCompactionSize"]);
            copies += 1;
        }
    }
    assert_eq!(copies, 8, "4 shards, 2 copies each");
    assert_eq!(size(&task["details"]["preCompactionSize"]), pre, "{task}");
    assert!(task["details"]["postCompactionSize"].is_string(), "{task}");
    let r = client
        .post("/indexes/ghost/compact", &json!(null))
        .await
        .unwrap();
    let t = client.wait_task(r.task_uid().unwrap()).await.unwrap();
    assert_eq!(t["error"]["code"], json!("index_not_found"));

    // A deleted task is gone, even one deleted the moment it was enqueued (SDK).
    let sdk = Client::new(cluster.gateway_url(), cluster.options.master_key.clone()).unwrap();
    let info = sdk
        .index("movies")
        .add_documents(&[json!({"id": 30, "title": "Jaws"})], None)
        .await
        .unwrap();
    let added = info.task_uid;
    let mut query = TasksDeleteQuery::new(&sdk);
    query.with_uids([&added]);
    let deletion = sdk
        .delete_tasks_with(&query)
        .await
        .unwrap()
        .wait_for_completion(&sdk, None, Some(Duration::from_secs(30)))
        .await
        .unwrap();
    assert!(deletion.is_success(), "{deletion:?}");
    let r = client
        .get(&format!("/tasks/{}", deletion.get_uid()))
        .await
        .unwrap();
    assert_eq!(
        r.body["details"],
        json!({"matchedTasks": 1, "deletedTasks": 1, "originalFilter": format!("?uids={added}")})
    );
    match sdk.get_task(&info).await {
        Err(Error::Meilisearch(e)) => assert_eq!(e.error_code, ErrorCode::TaskNotFound),
        other => panic!("task {added} should be gone: {other:?}"),
    }
    let r = client.get(&format!("/tasks/{added}")).await.unwrap();
    assert_eq!(
        (r.status, r.body["message"].clone()),
        (404, json!(format!("Task `{added}` not found.")))
    );
    // Its documents stay: deleting a task deletes its record, not its effect.
    assert_eq!(document(&client, "movies", 30).await.status, 200);
}

/// `"208 KiB"` in bytes (two decimals at most, as Meilisearch prints them).
fn size(v: &Value) -> u64 {
    let s = v.as_str().unwrap_or_else(|| panic!("not a size: {v}"));
    let (n, unit) = s.split_once(' ').unwrap();
    let n: f64 = n.parse().unwrap();
    let f = match unit {
        "B" => 1.0,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        other => panic!("unit {other}"),
    };
    (n * f).round() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn experimental_features_reach_every_node_and_refuse_what_cannot_work_sharded() {
    let mut cluster = TestCluster::start(ClusterOptions::default()).await.unwrap();
    let client = cluster.client();
    let sdk = Client::new(cluster.gateway_url(), cluster.options.master_key.clone()).unwrap();

    let before = ExperimentalFeatures::new(&sdk).get().await.unwrap();
    assert!(!before.contains_filter && !before.multimodal);
    let mut features = ExperimentalFeatures::new(&sdk);
    features.set_contains_filter(true);
    let after = features.update().await.unwrap();
    assert!(after.contains_filter);
    let r = client.get("/experimental-features").await.unwrap();
    assert_eq!(
        (
            r.body["containsFilter"].clone(),
            r.body["foreignKeys"].clone()
        ),
        (json!(true), json!(false))
    );
    assert_eq!(r.body.as_object().unwrap().len(), 15, "{}", r.body);
    for node in &cluster.nodes {
        let r = node.client().get("/experimental-features").await.unwrap();
        assert_eq!(r.body["containsFilter"], json!(true), "{}", r.body);
    }

    // Refused, saying which and why; nothing changes.
    let mut network = ExperimentalFeatures::new(&sdk);
    network.set_network(true);
    match network.update().await {
        Err(Error::Meilisearch(e)) => {
            assert!(e.error_message.contains("`network`"), "{}", e.error_message)
        }
        other => panic!("network must be refused: {other:?}"),
    }
    let r = client
        .patch("/experimental-features", &json!({"foreignKeys": true}))
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.body["code"].clone()),
        (501, json!("not_supported_by_miroir"))
    );
    assert!(
        r.body["message"].as_str().unwrap().starts_with(
            "The experimental feature `foreignKeys` cannot be enabled on a Miroir cluster: "
        ),
        "{}",
        r.body
    );
    let r = client
        .patch("/experimental-features", &json!({"containsFiltr": true}))
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.body["code"].clone()),
        (400, json!("bad_request"))
    );
    let r = client
        .patch("/experimental-features", &json!({"foreignKeys": false}))
        .await
        .unwrap();
    assert_eq!(r.status, 200, "turning a feature off is always accepted");
    assert_eq!(r.body["containsFilter"], json!(true));

    // A node that joins later gets the cluster's switches.
    cluster.add_node().await.unwrap();
    let newcomer = cluster.nodes.last().unwrap().client();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let r = newcomer.get("/experimental-features").await.unwrap();
        if r.body["containsFilter"] == json!(true) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the new node never got the features: {}",
            r.body
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The `foreign-keys` setting, behind its feature, as recorded.
    let r = client
        .post("/indexes", &json!({"uid": "movies", "primaryKey": "id"}))
        .await
        .unwrap();
    succeeded(&client, &r).await;
    let r = client
        .get("/indexes/movies/settings/foreign-keys")
        .await
        .unwrap();
    assert_eq!((r.status, r.body.clone()), (200, json!([])));
    let r = client
        .put(
            "/indexes/movies/settings/foreign-keys",
            &json!([{"foreignIndexUid": "directors", "fieldName": "director"}]),
        )
        .await
        .unwrap();
    assert_error(
        &r,
        400,
        "feature_not_enabled",
        "setting `foreignKeys` in the index settings requires enabling the `foreign_keys` experimental feature. See https://github.com/orgs/meilisearch/discussions/873",
    );
    let r = client
        .put(
            "/indexes/movies/settings/foreign-keys",
            &json!([{"nope": 1}]),
        )
        .await
        .unwrap();
    assert_error(
        &r,
        400,
        "invalid_settings_foreign_keys",
        "Unknown field `nope` inside `[0]`: expected one of `foreignIndexUid`, `fieldName`",
    );
    let r = client
        .delete("/indexes/movies/settings/foreign-keys")
        .await
        .unwrap();
    let task = succeeded(&client, &r).await;
    assert_eq!(task["details"], json!({"foreignKeys": null}));
}
