//! Invariant: tasks go through Meilisearch's lifecycle (enqueued -> processing -> succeeded /
//! failed / canceled) in order, one worker at a time; cancelation and deletion behave as on a
//! real node; API keys are derived from the master key and limited to their actions and
//! indexes; the router from `app()` works on its own.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::Server;
use hmac::{Hmac, Mac};
use miroir_standin::Config;
use serde_json::{Value, json};
use sha2::Sha256;

const KEY: &str = "lifecycle-master-key";

async fn wait_status(server: &Server, uid: u64, status: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, task) = server.get(&format!("/tasks/{uid}")).await;
        if task["status"] == status {
            return task;
        }
        assert!(
            Instant::now() < deadline,
            "task {uid} never became {status}: {task}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_are_processed_in_order_and_cancelable_in_flight() {
    let config = Config {
        master_key: Some(KEY.into()),
        task_delay: Duration::from_millis(800),
        ..Config::default()
    };
    let server = Server::start(config).await;
    let created = server
        .json(
            "POST",
            "/indexes",
            &json!({"uid": "books", "primaryKey": "id"}),
        )
        .await
        .1;
    server.wait_task(created["taskUid"].as_u64().unwrap()).await;
    let (status, first) = server
        .json(
            "POST",
            "/indexes/books/documents",
            &json!([{"id": 1, "title": "Dune"}]),
        )
        .await;
    assert_eq!(status, 202);
    assert_eq!(first["status"], "enqueued");
    let (_, second) = server
        .json(
            "POST",
            "/indexes/books/documents",
            &json!([{"id": 2, "title": "Emma"}]),
        )
        .await;
    let (first, second) = (
        first["taskUid"].as_u64().unwrap(),
        second["taskUid"].as_u64().unwrap(),
    );

    let processing = wait_status(&server, first, "processing").await;
    assert!(
        processing["startedAt"].is_string()
            && processing["finishedAt"].is_null()
            && processing["duration"].is_null()
    );
    assert_eq!(
        processing["details"],
        json!({"receivedDocuments": 1, "indexedDocuments": null})
    );
    let (_, waiting) = server.get(&format!("/tasks/{second}")).await;
    assert_eq!(
        waiting["status"], "enqueued",
        "one worker, in order: {waiting}"
    );
    assert_eq!(
        server.get("/indexes/books/stats").await.1["isIndexing"],
        json!(true)
    );
    let (_, batch) = server
        .get(&format!("/batches/{}", processing["batchUid"]))
        .await;
    assert!(
        batch["progress"].is_object() && batch["finishedAt"].is_null(),
        "{batch}"
    );

    // Cancel the task in flight: the cancelation goes first and the task never applies.
    let (status, cancel) = server
        .send(
            "POST",
            &format!("/tasks/cancel?uids={first}"),
            &server.auth(),
            None,
        )
        .await;
    assert_eq!(status, 200, "{cancel}");
    let cancel_uid = cancel["taskUid"].as_u64().unwrap();
    let done = server.wait_task(cancel_uid).await;
    assert_eq!(
        done["details"],
        json!({"matchedTasks": 1, "canceledTasks": 1, "originalFilter": format!("?uids={first}")})
    );
    let canceled = server.wait_task(first).await;
    assert_eq!(canceled["status"], "canceled", "{canceled}");
    assert_eq!(canceled["canceledBy"], json!(cancel_uid));
    assert_eq!(canceled["details"]["indexedDocuments"], json!(0));
    assert_eq!(server.wait_task(second).await["status"], "succeeded");
    let (_, docs) = server.get("/indexes/books/documents").await;
    assert_eq!(docs["results"], json!([{"id": 2, "title": "Emma"}]));

    // Filters, pagination and deletion of finished tasks.
    let (_, list) = server.get("/tasks?statuses=canceled").await;
    assert_eq!(list["total"], 1);
    let (_, list) = server.get("/tasks?limit=1&reverse=true").await;
    assert_eq!(
        (list["from"].clone(), list["next"].clone()),
        (json!(0), json!(1))
    );
    let (_, list) = server
        .get("/tasks?types=taskCancelation&indexUids=books")
        .await;
    assert_eq!(list["total"], 0);
    let (_, list) = server
        .get("/tasks?afterEnqueuedAt=2000-01-01&beforeEnqueuedAt=2999-01-01")
        .await;
    assert_eq!(list["total"], 4);
    let (status, deletion) = server
        .send(
            "DELETE",
            "/tasks?statuses=canceled,succeeded",
            &server.auth(),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let deletion = server
        .wait_task(deletion["taskUid"].as_u64().unwrap())
        .await;
    assert_eq!(deletion["details"]["deletedTasks"], json!(4), "{deletion}");
    assert_eq!(server.get(&format!("/tasks/{first}")).await.0, 404);
    let (_, batches) = server.get("/batches").await;
    assert_eq!(
        batches["total"], 1,
        "only the deletion's batch is left: {batches}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_derived_from_the_master_key_and_scoped() {
    let server = Server::start(Config {
        master_key: Some(KEY.into()),
        ..Config::default()
    })
    .await;
    let (_, keys) = server.get("/keys").await;
    let results = keys["results"].as_array().unwrap();
    let names: Vec<&str> = results
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "Default Search API Key",
            "Default Admin API Key",
            "Default Read-Only Admin API Key",
            "Default Chat API Key"
        ]
    );
    for key in results {
        let mut mac = Hmac::<Sha256>::new_from_slice(KEY.as_bytes()).unwrap();
        mac.update(key["uid"].as_str().unwrap().as_bytes());
        let expected: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(key["key"], expected);
    }
    let bearer = |k: &Value| vec![("Authorization", format!("Bearer {}", k.as_str().unwrap()))];
    let admin = &results[1]["key"];
    let read_only = &results[2]["key"];
    assert_eq!(
        server.send("GET", "/keys", &bearer(admin), None).await.0,
        200
    );
    assert_eq!(
        server
            .send("GET", "/indexes", &bearer(read_only), None)
            .await
            .0,
        200
    );
    let mut h = bearer(read_only);
    h.push(("Content-Type", "application/json".into()));
    let (status, body) = server
        .send("POST", "/indexes", &h, Some(br#"{"uid": "x"}"#.to_vec()))
        .await;
    assert_eq!(
        (status, body["code"].clone()),
        (403, json!("invalid_api_key"))
    );

    // A key for one index: it sees only that index's tasks and indexes.
    let (status, scoped) = server
        .json(
            "POST",
            "/keys",
            &json!({"name": "books", "actions": ["*"], "indexes": ["books*"], "expiresAt": null}),
        )
        .await;
    assert_eq!(status, 201, "{scoped}");
    server
        .wait_task(
            server
                .json("POST", "/indexes", &json!({"uid": "books_1"}))
                .await
                .1["taskUid"]
                .as_u64()
                .unwrap(),
        )
        .await;
    server
        .wait_task(
            server
                .json("POST", "/indexes", &json!({"uid": "movies"}))
                .await
                .1["taskUid"]
                .as_u64()
                .unwrap(),
        )
        .await;
    let (_, indexes) = server
        .send("GET", "/indexes", &bearer(&scoped["key"]), None)
        .await;
    assert_eq!(indexes["total"], 1, "{indexes}");
    let (_, tasks) = server
        .send("GET", "/tasks", &bearer(&scoped["key"]), None)
        .await;
    assert_eq!(tasks["total"], 1, "{tasks}");
    let (status, _) = server
        .send("GET", "/indexes/movies", &bearer(&scoped["key"]), None)
        .await;
    assert_eq!(status, 403);
    let (status, _) = server
        .send("GET", "/keys", &bearer(&scoped["key"]), None)
        .await;
    assert_eq!(status, 200, "`*` includes the keys actions");

    // Updates touch only name and description; a deleted key stops working.
    let uid = scoped["uid"].as_str().unwrap();
    let (status, updated) = server
        .json(
            "PATCH",
            &format!("/keys/{uid}"),
            &json!({"name": "renamed"}),
        )
        .await;
    assert_eq!((status, updated["name"].clone()), (200, json!("renamed")));
    assert_eq!(
        server
            .send("DELETE", &format!("/keys/{uid}"), &server.auth(), None)
            .await
            .0,
        204
    );
    assert_eq!(
        server
            .send("GET", "/indexes/books_1", &bearer(&scoped["key"]), None)
            .await
            .0,
        403
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_master_key_everything_but_keys_is_open() {
    let server = Server::start(Config::default()).await;
    assert_eq!(server.send("GET", "/indexes", &[], None).await.0, 200);
    let (status, body) = server.send("GET", "/keys", &[], None).await;
    assert_eq!(
        (status, body["code"].clone()),
        (401, json!("missing_master_key"))
    );
    // Trailing slashes are trimmed, as Meilisearch does.
    assert_eq!(server.send("GET", "/indexes/", &[], None).await.0, 200);
    // Any origin may call it, preflight included.
    let origin = [
        ("Origin", "http://example.invalid".to_string()),
        ("Access-Control-Request-Method", "POST".to_string()),
    ];
    let preflight = server
        .client
        .request(reqwest::Method::OPTIONS, format!("{}/indexes", server.base))
        .header(origin[0].0, &origin[0].1)
        .header(origin[1].0, &origin[1].1)
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 200);
    assert_eq!(preflight.headers()["access-control-allow-origin"], "*");
    let simple = server
        .client
        .get(format!("{}/health", server.base))
        .header(origin[0].0, &origin[0].1)
        .send()
        .await
        .unwrap();
    assert_eq!(simple.headers()["access-control-allow-origin"], "*");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_router_serves_and_processes_tasks() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = miroir_standin::app(Config::default());
    let served = tokio::spawn(async move { axum::serve(listener, app).await });
    let client = reqwest::Client::new();
    let enqueued: Value = client
        .post(format!("{base}/indexes"))
        .json(&json!({"uid": "x"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let task: Value = client
            .get(format!("{base}/tasks/{}", enqueued["taskUid"]))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if task["status"] == "succeeded" {
            break;
        }
        assert!(Instant::now() < deadline, "{task}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    served.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swaps_move_indexes_and_their_history() {
    let server = Server::start(Config::default()).await;
    let a = server
        .json("POST", "/indexes", &json!({"uid": "a", "primaryKey": "ka"}))
        .await
        .1["taskUid"]
        .as_u64()
        .unwrap();
    let b = server
        .json("POST", "/indexes", &json!({"uid": "b"}))
        .await
        .1["taskUid"]
        .as_u64()
        .unwrap();
    server.wait_task(b).await;
    let swap = server
        .json("POST", "/swap-indexes", &json!([{"indexes": ["a", "b"]}]))
        .await
        .1["taskUid"]
        .as_u64()
        .unwrap();
    assert_eq!(server.wait_task(swap).await["status"], "succeeded");
    assert_eq!(server.get("/indexes/b").await.1["primaryKey"], "ka");
    assert_eq!(server.get(&format!("/tasks/{a}")).await.1["indexUid"], "b");
    let rename = server
        .json(
            "POST",
            "/swap-indexes",
            &json!([{"indexes": ["b", "c"], "rename": true}]),
        )
        .await
        .1["taskUid"]
        .as_u64()
        .unwrap();
    assert_eq!(server.wait_task(rename).await["status"], "succeeded");
    assert_eq!(server.get("/indexes/c").await.1["primaryKey"], "ka");
    assert_eq!(server.get("/indexes/b").await.0, 404);
    server.stop().await;
}
