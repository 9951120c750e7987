//! Invariant: cluster tasks are listed, filtered, paged, canceled and deleted as Meilisearch's
//! tasks are (same shapes, codes and messages), from any router, and a cancelation stops the
//! node tasks of the cluster tasks it matched.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use miroir_cluster::topology::TopologyStore;
use miroir_e2e::{ClusterOptions, NODE_MASTER_KEY, TestCluster};
use miroir_proto::topology::{NodeRecord, NodeState};
use miroir_testkit::wait::{Attempt, until};
use miroir_testkit::{MeiliClient, NodeKind, NodeOptions, Reply, start_node};
use serde_json::{Value, json};

fn uids(r: &Reply) -> Vec<u64> {
    r.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["uid"].as_u64().unwrap())
        .collect()
}

/// An `invalid_request` error with exactly this status, code and message.
pub(super) fn assert_error(r: &Reply, status: u16, code: &str, message: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(r.body["code"], json!(code), "{}", r.body);
    assert_eq!(r.body["message"], json!(message), "{}", r.body);
    assert_eq!(r.body["type"], json!("invalid_request"), "{}", r.body);
}

async fn get(client: &MeiliClient, path: &str) -> Reply {
    let r = client.get(path).await.unwrap();
    assert_eq!(r.status, 200, "GET {path}: {}", r.body);
    r
}

/// Ends when the task is final, whatever its status.
async fn settled(client: &MeiliClient, r: &Reply) -> Value {
    client.wait_task(r.task_uid().unwrap()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_are_listed_filtered_and_deleted_like_meilisearch() {
    // Two routers: a task enqueued through one is listed by the other at once.
    let cluster = TestCluster::start(ClusterOptions {
        routers: 2,
        ..Default::default()
    })
    .await
    .unwrap();
    let client = cluster.client();

    let t0 = client
        .post("/indexes", &json!({"uid": "movies", "primaryKey": "id"}))
        .await
        .unwrap();
    assert_eq!(
        get(&client, "/tasks?limit=1").await.body["results"][0]["uid"],
        json!(0),
        "a new task is listed at once"
    );
    client.wait_succeeded(&t0).await.unwrap();
    let t1 = client
        .post(
            "/indexes/movies/documents",
            &json!([{"id": 1, "title": "a"}, {"id": 2, "title": "b"}]),
        )
        .await
        .unwrap();
    client.wait_succeeded(&t1).await.unwrap();
    let t2 = client
        .post("/indexes/movies/documents", &json!([{"title": "no id"}]))
        .await
        .unwrap();
    assert_eq!(settled(&client, &t2).await["status"], json!("failed"));
    let t3 = client
        .post("/indexes", &json!({"uid": "books"}))
        .await
        .unwrap();
    client.wait_succeeded(&t3).await.unwrap();
    let t4 = client
        .patch(
            "/indexes/movies/settings",
            &json!({"filterableAttributes": ["title"]}),
        )
        .await
        .unwrap();
    client.wait_succeeded(&t4).await.unwrap();

    // The recorded shape of a page, newest first.
    let page = get(&client, "/tasks?limit=3").await;
    assert_eq!(uids(&page), vec![4, 3, 2]);
    assert_eq!(
        (
            page.body["total"].clone(),
            page.body["from"].clone(),
            page.body["next"].clone()
        ),
        (json!(5), json!(4), json!(1))
    );
    insta::assert_json_snapshot!("tasks_page", page.body, {
        ".results[].uid" => "[uid]",
        ".results[].batchUid" => "[uid]",
        ".results[].enqueuedAt" => "[date]",
        ".results[].startedAt" => "[date]",
        ".results[].finishedAt" => "[date]",
        ".results[].duration" => "[duration]",
        ".from" => "[uid]",
        ".next" => "[uid]",
    });

    // Every filter.
    let failed = get(
        &client,
        "/tasks?indexUids=movies&statuses=failed&types=documentAdditionOrUpdate&limit=2",
    )
    .await;
    assert_eq!(
        (
            uids(&failed),
            failed.body["total"].clone(),
            failed.body["next"].clone()
        ),
        (vec![2], json!(1), Value::Null)
    );
    assert_eq!(
        failed.body["results"][0]["error"]["code"],
        json!("missing_document_id")
    );
    assert_eq!(
        uids(&get(&client, "/tasks?reverse=true&limit=2").await),
        vec![0, 1]
    );
    let from = get(&client, "/tasks?from=2&limit=2").await;
    assert_eq!(
        (
            uids(&from),
            from.body["next"].clone(),
            from.body["total"].clone()
        ),
        (vec![2, 1], json!(0), json!(5))
    );
    assert_eq!(uids(&get(&client, "/tasks?uids=0,3").await), vec![3, 0]);
    assert_eq!(
        uids(&get(&client, "/tasks?uids=*&types=indexCreation").await),
        vec![3, 0]
    );
    assert_eq!(uids(&get(&client, "/tasks?indexUids=books").await), vec![3]);
    assert_eq!(uids(&get(&client, "/tasks?batchUids=1").await), vec![1]);
    assert_eq!(
        uids(
            &get(
                &client,
                "/tasks?statuses=succeeded,failed&types=settingsUpdate,indexCreation"
            )
            .await
        ),
        vec![4, 3, 0]
    );
    assert!(uids(&get(&client, "/tasks?canceledBy=0").await).is_empty());
    assert!(uids(&get(&client, "/tasks?statuses=enqueued,processing").await).is_empty());
    let task2 = get(&client, "/tasks/2").await.body;
    let enqueued2 = task2["enqueuedAt"].as_str().unwrap();
    assert_eq!(
        uids(&get(&client, &format!("/tasks?afterEnqueuedAt={enqueued2}")).await),
        vec![4, 3]
    );
    assert_eq!(
        uids(&get(&client, &format!("/tasks?beforeEnqueuedAt={enqueued2}")).await),
        vec![1, 0]
    );
    assert_eq!(
        uids(
            &get(
                &client,
                "/tasks?beforeStartedAt=2100-01-01&afterFinishedAt=2000-01-01"
            )
            .await
        )
        .len(),
        5
    );
    assert!(uids(&get(&client, "/tasks?afterStartedAt=2100-01-01").await).is_empty());

    // Meilisearch's errors, word for word.
    assert_error(
        &client.get("/tasks?statuses=done").await.unwrap(),
        400,
        "invalid_task_statuses",
        "Invalid value in parameter `statuses`: `done` is not a valid task status. Available statuses are `enqueued`, `processing`, `succeeded`, `failed`, `canceled`.",
    );
    assert_error(
        &client.get("/tasks?afterEnqueuedAt=doggo").await.unwrap(),
        400,
        "invalid_task_after_enqueued_at",
        "Invalid value in parameter `afterEnqueuedAt`: `doggo` is an invalid date-time. It should follow the YYYY-MM-DD or RFC 3339 date-time format.",
    );
    assert_eq!(
        client.get("/tasks?types=doggo").await.unwrap().body["code"],
        json!("invalid_task_types")
    );
    assert_eq!(
        client.get("/tasks?beforeFinishedAt=x").await.unwrap().body["code"],
        json!("invalid_task_before_finished_at")
    );
    assert_error(
        &client.get("/tasks?limit=x").await.unwrap(),
        400,
        "invalid_task_limit",
        "Invalid value in parameter `limit`: could not parse `x` as a positive integer",
    );
    assert_eq!(
        client.get("/tasks?lol=1").await.unwrap().body["code"],
        json!("bad_request")
    );
    assert_error(
        &client.get("/tasks/x").await.unwrap(),
        400,
        "invalid_task_uids",
        "Task uid `x` is invalid. It should only contain numeric characters.",
    );
    let missing = client.get("/tasks/999999").await.unwrap();
    assert_eq!(missing.status, 404);
    assert_eq!(missing.body["code"], json!("task_not_found"));

    // Batches: one per cluster task, in the recorded shape.
    let batches = get(&client, "/batches?limit=1").await;
    assert_eq!(
        (
            batches.body["total"].clone(),
            batches.body["from"].clone(),
            batches.body["next"].clone()
        ),
        (json!(5), json!(4), json!(3))
    );
    let batch = get(&client, "/batches/1").await.body;
    assert_eq!(
        batch["stats"],
        json!({"totalNbTasks": 1, "status": {"succeeded": 1}, "types": {"documentAdditionOrUpdate": 1}, "indexUids": {"movies": 1}, "progressTrace": {}})
    );
    assert_eq!(
        batch["details"],
        json!({"receivedDocuments": 2, "indexedDocuments": 2})
    );
    assert_eq!(
        batch["batchStrategy"],
        json!("batched all enqueued tasks for index `movies`")
    );
    let r = client.get("/batches/999").await.unwrap();
    assert_error(&r, 404, "batch_not_found", "Batch `999` not found.");
    assert_error(
        &client.get("/batches/x").await.unwrap(),
        400,
        "invalid_batch_uids",
        "Batch uid `x` is invalid. It should only contain numeric characters.",
    );

    // Nothing to cancel: the recorded answer.
    let r = client
        .send_raw(
            reqwest::Method::POST,
            "/tasks/cancel",
            "application/json",
            Vec::new(),
        )
        .await
        .unwrap();
    assert_error(
        &r,
        400,
        "missing_task_filters",
        "Query parameters to filter the tasks to cancel are missing. Available query parameters are: `uids`, `indexUids`, `statuses`, `types`, `canceledBy`, `beforeEnqueuedAt`, `afterEnqueuedAt`, `beforeStartedAt`, `afterStartedAt`, `beforeFinishedAt`, `afterFinishedAt`.",
    );
    let r = client
        .send_raw(
            reqwest::Method::POST,
            "/tasks/cancel?statuses=enqueued,processing",
            "application/json",
            Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        (
            r.body["type"].clone(),
            r.body["status"].clone(),
            r.body["indexUid"].clone()
        ),
        (json!("taskCancelation"), json!("enqueued"), Value::Null)
    );
    let cancel = settled(&client, &r).await;
    assert_eq!(cancel["status"], json!("succeeded"));
    assert_eq!(
        cancel["details"],
        json!({"matchedTasks": 0, "canceledTasks": 0, "originalFilter": "?statuses=enqueued,processing"})
    );
    insta::assert_json_snapshot!("cancel_task_with_nothing_to_cancel", cancel, {
        ".uid" => "[uid]", ".batchUid" => "[uid]", ".enqueuedAt" => "[date]", ".startedAt" => "[date]", ".finishedAt" => "[date]", ".duration" => "[duration]",
    });

    // Deletion.
    assert_error(
        &client.delete("/tasks").await.unwrap(),
        400,
        "missing_task_filters",
        "Query parameters to filter the tasks to delete are missing. Available query parameters are: `uids`, `indexUids`, `statuses`, `types`, `canceledBy`, `beforeEnqueuedAt`, `afterEnqueuedAt`, `beforeStartedAt`, `afterStartedAt`, `beforeFinishedAt`, `afterFinishedAt`.",
    );
    assert_eq!(
        client.delete("/tasks?limit=1").await.unwrap().body["code"],
        json!("bad_request")
    );
    let r = client.delete("/tasks?uids=0,1").await.unwrap();
    assert_eq!(
        (r.status, r.body["type"].clone()),
        (200, json!("taskDeletion")),
        "{}",
        r.body
    );
    let deletion = settled(&client, &r).await;
    assert_eq!(
        deletion["details"],
        json!({"matchedTasks": 2, "deletedTasks": 2, "originalFilter": "?uids=0,1"})
    );
    assert_eq!(client.get("/tasks/0").await.unwrap().status, 404);
    let all = get(&client, "/tasks?limit=100").await;
    assert!(
        !uids(&all).contains(&0) && !uids(&all).contains(&1),
        "{}",
        all.body
    );
    assert_eq!(all.body["total"], json!(uids(&all).len()));
    // The deletion's own batch, in the recorded shape.
    let batch = get(&client, &format!("/batches/{}", deletion["uid"]))
        .await
        .body;
    assert_eq!(
        batch["batchStrategy"],
        json!(
            "stopped after the last task of type `taskDeletion` because they cannot be batched with tasks of any other type."
        )
    );
}

/// Two slow stand-in nodes (each task waits `delay` before it runs) registered in the topology
/// of a cluster started without nodes, so that tasks can be caught before they run.
async fn slow_cluster(delay: Duration) -> Option<(TestCluster, Vec<miroir_testkit::Node>)> {
    if NodeKind::from_env() != NodeKind::Standin {
        // A real Meilisearch node cannot be slowed down on demand.
        return None;
    }
    let cluster = TestCluster::start(ClusterOptions {
        nodes: 0,
        shards: 2,
        replication_factor: 1,
        ..Default::default()
    })
    .await
    .unwrap();
    let topology = TopologyStore::open(&async_nats::jetstream::new(
        cluster.nats.connect().await.unwrap(),
    ))
    .await
    .unwrap();
    let mut nodes = Vec::new();
    for i in 0..2 {
        let node = start_node(NodeOptions {
            master_key: Some(NODE_MASTER_KEY.into()),
            task_delay: Some(delay),
            ..Default::default()
        })
        .await
        .unwrap();
        topology
            .put_node(&NodeRecord {
                id: format!("n{i}"),
                url: node.url(),
                zone: None,
                state: NodeState::Up,
                health: Default::default(),
                health_since: None,
            })
            .await
            .unwrap();
        nodes.push(node);
    }
    Some((cluster, nodes))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelation_stops_the_node_tasks() {
    let Some((cluster, nodes)) = slow_cluster(Duration::from_secs(2)).await else {
        return;
    };
    let client = cluster.client();
    // The router learns the nodes from the topology bucket: retry until it can place the index.
    let created = until(
        "the index to be placed",
        Duration::from_secs(10),
        || async {
            let r = client
                .post("/indexes", &json!({"uid": "movies", "primaryKey": "id"}))
                .await?;
            Ok(if r.status == 202 {
                Attempt::Ready(r)
            } else {
                Attempt::Retry(r.body.to_string())
            })
        },
    )
    .await
    .unwrap();
    let docs = client
        .post(
            "/indexes/movies/documents",
            &json!([{"id": 1}, {"id": 2}, {"id": 3}]),
        )
        .await
        .unwrap();
    let docs_uid = docs.task_uid().unwrap();
    let pending = get(&client, "/tasks?statuses=enqueued,processing").await;
    assert!(uids(&pending).contains(&docs_uid), "{}", pending.body);

    let r = client
        .send_raw(
            reqwest::Method::POST,
            &format!("/tasks/cancel?uids={docs_uid}"),
            "application/json",
            Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let cancel = settled(&client, &r).await;
    let cancel_uid = cancel["uid"].as_u64().unwrap();
    assert_eq!(
        cancel["details"],
        json!({"matchedTasks": 1, "canceledTasks": 1, "originalFilter": format!("?uids={docs_uid}")})
    );
    insta::assert_json_snapshot!("cancel_task", cancel, {
        ".uid" => "[uid]", ".batchUid" => "[uid]", ".enqueuedAt" => "[date]", ".startedAt" => "[date]", ".finishedAt" => "[date]", ".duration" => "[duration]",
        ".details.originalFilter" => "[filter]",
    });

    let canceled = get(&client, &format!("/tasks/{docs_uid}")).await.body;
    assert_eq!(canceled["status"], json!("canceled"), "{canceled}");
    assert_eq!(canceled["canceledBy"], json!(cancel_uid));
    assert_eq!(
        canceled["details"],
        json!({"receivedDocuments": 3, "indexedDocuments": 0})
    );
    assert_eq!(
        uids(&get(&client, &format!("/tasks?canceledBy={cancel_uid}")).await),
        vec![docs_uid]
    );
    assert_eq!(
        uids(&get(&client, "/tasks?statuses=canceled").await),
        vec![docs_uid]
    );
    // Every node task of the canceled cluster task is canceled on its node.
    for node in &nodes {
        let on_node = node
            .client()
            .get("/tasks?types=documentAdditionOrUpdate")
            .await
            .unwrap();
        for t in on_node.body["results"].as_array().unwrap() {
            assert_eq!(t["status"], json!("canceled"), "{t}");
        }
    }
    // The index creation, interrupted by the cancelation on its nodes, still succeeds; a finished
    // task matched by a cancelation is counted as matched, not as canceled.
    client.wait_succeeded(&created).await.unwrap();
    let r = client
        .send_raw(
            reqwest::Method::POST,
            &format!("/tasks/cancel?uids={}", created.task_uid().unwrap()),
            "application/json",
            Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(
        settled(&client, &r).await["details"]["canceledTasks"],
        json!(0)
    );
    assert_eq!(
        client.get("/indexes/movies/stats").await.unwrap().body["numberOfDocuments"],
        json!(0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_restricted_to_some_indexes_sees_only_their_tasks() {
    let cluster = TestCluster::start(ClusterOptions {
        nodes: 2,
        shards: 2,
        replication_factor: 1,
        ..Default::default()
    })
    .await
    .unwrap();
    let admin = cluster.client();
    for uid in ["movies", "books", "movies2"] {
        let r = admin.post("/indexes", &json!({"uid": uid})).await.unwrap();
        admin.wait_succeeded(&r).await.unwrap();
    }
    let r = admin
        .post("/keys", &json!({"actions": ["tasks.*", "indexes.swap"], "indexes": ["movies*"], "expiresAt": null}))
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.body);
    let key = admin.with_key(Some(r.body["key"].as_str().unwrap().to_string()));

    let page = get(&key, "/tasks").await;
    assert_eq!(
        (uids(&page), page.body["total"].clone()),
        (vec![2, 0], json!(2))
    );
    assert_eq!(
        get(&key, "/tasks/0").await.body["indexUid"],
        json!("movies")
    );
    let hidden = key.get("/tasks/1").await.unwrap();
    assert_eq!(
        (hidden.status, hidden.body["code"].clone()),
        (404, json!("task_not_found"))
    );
    assert_eq!(uids(&get(&key, "/batches").await), vec![2, 0]);
    assert_eq!(key.get("/batches/1").await.unwrap().status, 404);
    let r = key
        .post("/swap-indexes", &json!([{"indexes": ["movies", "books"]}]))
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.body["code"].clone()),
        (403, json!("invalid_api_key")),
        "{}",
        r.body
    );

    // Its deletion matches only what it sees; its own task names no index, so only the master
    // key sees it.
    let r = key.delete("/tasks?uids=*").await.unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let deletion = settled(&admin, &r).await;
    assert_eq!(deletion["details"]["deletedTasks"], json!(2), "{deletion}");
    assert_eq!(
        key.get(&format!("/tasks/{}", deletion["uid"]))
            .await
            .unwrap()
            .status,
        404
    );
    assert_eq!(
        uids(&get(&admin, "/tasks?types=indexCreation").await),
        vec![1]
    );
}
