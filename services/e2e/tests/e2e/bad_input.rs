//! Invariant: bad input to the cluster gets Meilisearch's error (shape, code, status) and is never
//! half-written: a batch with one bad document writes none of its documents, and node-local shard
//! names never reach a client.
#![allow(clippy::unwrap_used)]

use miroir_e2e::{ClusterOptions, TestCluster};
use miroir_testkit::{MeiliClient, Reply};
use reqwest::Method;
use serde_json::{Value, json};

/// A Meilisearch-shaped error with this status and code (and its link), naming no shard.
pub(super) fn assert_error(r: &Reply, status: u16, code: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(r.body["code"], json!(code), "{}", r.body);
    assert_eq!(
        r.body["link"],
        json!(format!("https://docs.meilisearch.com/errors#{code}")),
        "{}",
        r.body
    );
    assert!(
        r.body["message"].is_string() && r.body["type"].is_string(),
        "{}",
        r.body
    );
    assert!(
        !r.body.to_string().contains("__s"),
        "a shard name leaked: {}",
        r.body
    );
}

async fn count(client: &MeiliClient, uid: &str) -> u64 {
    let r = client.get(&format!("/indexes/{uid}/stats")).await.unwrap();
    r.body["numberOfDocuments"].as_u64().unwrap_or(0)
}

async fn failed_task(client: &MeiliClient, r: &Reply) -> Value {
    assert_eq!(r.status, 202, "{}", r.body);
    let task = client.wait_task(r.task_uid().unwrap()).await.unwrap();
    assert_eq!(task["status"], json!("failed"), "{task}");
    task
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_whole() {
    let cluster = TestCluster::start(ClusterOptions::default()).await.unwrap();
    let client = cluster.client();

    // Auth.
    let anonymous = client.with_key(None);
    assert_error(
        &anonymous.get("/indexes").await.unwrap(),
        401,
        "missing_authorization_header",
    );
    assert_error(
        &client
            .with_key(Some("wrong".into()))
            .get("/indexes")
            .await
            .unwrap(),
        403,
        "invalid_api_key",
    );

    // Index uid and body.
    assert_error(
        &client
            .post("/indexes", &json!({"uid": "bad uid!"}))
            .await
            .unwrap(),
        400,
        "invalid_index_uid",
    );
    let r = client
        .send_raw(
            Method::POST,
            "/indexes",
            "application/json",
            b"{\"uid\":".to_vec(),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 400, "{}", r.body);

    let created = client
        .post("/indexes", &json!({"uid": "movies", "primaryKey": "id"}))
        .await
        .unwrap();
    client.wait_succeeded(&created).await.unwrap();
    let r = client
        .patch(
            "/indexes/movies/settings",
            &json!({"filterableAttributes": ["year"]}),
        )
        .await
        .unwrap();
    client.wait_succeeded(&r).await.unwrap();

    // Payloads: malformed JSON, wrong content type, malformed NDJSON at the end of a long body.
    let r = client
        .send_raw(
            Method::POST,
            "/indexes/movies/documents",
            "application/json",
            b"[{\"id\":1,".to_vec(),
        )
        .await
        .unwrap();
    assert_error(&r, 400, "malformed_payload");
    let r = client
        .send_raw(
            Method::POST,
            "/indexes/movies/documents",
            "text/plain",
            b"id=1".to_vec(),
        )
        .await
        .unwrap();
    assert_error(&r, 415, "invalid_content_type");
    let mut ndjson: Vec<u8> = (0..5000)
        .flat_map(|i| format!("{{\"id\":{i},\"title\":\"t {i}\"}}\n").into_bytes())
        .collect();
    ndjson.extend_from_slice(b"{\"id\": 5001, \"title\": \n");
    let r = client
        .send_raw(
            Method::POST,
            "/indexes/movies/documents",
            "application/x-ndjson",
            ndjson,
        )
        .await
        .unwrap();
    assert_error(&r, 400, "malformed_payload");
    assert_eq!(
        count(&client, "movies").await,
        0,
        "a malformed upload wrote documents"
    );

    // A batch whose last document has a bad id writes nothing; so does one missing its id.
    let mut docs: Vec<Value> = (0..300)
        .map(|i| json!({"id": i, "year": 2000 + i % 20}))
        .collect();
    docs.push(json!({"id": "bad id!", "year": 1}));
    let task = failed_task(
        &client,
        &client
            .post("/indexes/movies/documents", &json!(docs))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        task["error"]["code"],
        json!("invalid_document_id"),
        "{task}"
    );
    assert_eq!(task["details"]["indexedDocuments"], json!(0));
    docs.pop();
    docs.push(json!({"year": 1}));
    let task = failed_task(
        &client,
        &client
            .post("/indexes/movies/documents", &json!(docs))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        task["error"]["code"],
        json!("missing_document_id"),
        "{task}"
    );
    assert_eq!(
        count(&client, "movies").await,
        0,
        "a refused batch wrote documents"
    );

    // No primary key can be inferred: refused before any node is touched.
    let task = failed_task(
        &client,
        &client
            .post("/indexes/noid/documents", &json!([{"name": "x"}]))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        task["error"]["code"],
        json!("index_primary_key_no_candidate_found"),
        "{task}"
    );
    let task = failed_task(
        &client,
        &client
            .post("/indexes/ambig/documents", &json!([{"id": 1, "uid": 2}]))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        task["error"]["code"],
        json!("index_primary_key_multiple_candidates_found"),
        "{task}"
    );

    // Good documents, then search errors.
    docs.pop();
    client
        .wait_succeeded(
            &client
                .post("/indexes/movies/documents", &json!(docs))
                .await
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(count(&client, "movies").await, 300);
    assert_error(
        &client
            .post("/indexes/nope/search", &json!({"q": "x"}))
            .await
            .unwrap(),
        404,
        "index_not_found",
    );
    let r = client
        .post(
            "/indexes/movies/search",
            &json!({"q": "x", "filter": "title = x"}),
        )
        .await
        .unwrap();
    assert_error(&r, 400, "invalid_search_filter");
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .starts_with("Index `movies`: Attribute `title` is not filterable."),
        "{}",
        r.body
    );
    assert_error(
        &client
            .post(
                "/indexes/movies/search",
                &json!({"q": "x", "filter": "year >"}),
            )
            .await
            .unwrap(),
        400,
        "invalid_search_filter",
    );
    assert_error(
        &client
            .post("/indexes/movies/search", &json!({"q": "x", "nope": 1}))
            .await
            .unwrap(),
        400,
        "bad_request",
    );
    assert_error(
        &client
            .post("/indexes/movies/search", &json!({"q": "x", "limit": -1}))
            .await
            .unwrap(),
        400,
        "invalid_search_limit",
    );
    assert_error(
        &client
            .post("/indexes/movies/search", &json!({"sort": ["year:asc"]}))
            .await
            .unwrap(),
        400,
        "invalid_search_sort",
    );
    let r = client
        .send_raw(
            Method::POST,
            "/indexes/movies/search",
            "application/json",
            b"{\"q\": ".to_vec(),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 400, "{}", r.body);

    // A refused setting is a synchronous 400 and changes no shard.
    assert_error(
        &client
            .patch(
                "/indexes/movies/settings",
                &json!({"rankingRules": ["nonsense"]}),
            )
            .await
            .unwrap(),
        400,
        "invalid_settings_ranking_rules",
    );
    for node in &cluster.nodes {
        let indexes = node.client().get("/indexes?limit=100").await.unwrap();
        for idx in indexes.body["results"].as_array().unwrap() {
            let uid = idx["uid"].as_str().unwrap();
            if uid.starts_with("movies__s") {
                let rules = node
                    .client()
                    .get(&format!("/indexes/{uid}/settings/ranking-rules"))
                    .await
                    .unwrap();
                assert!(
                    !rules.body.to_string().contains("nonsense"),
                    "{uid} diverged: {}",
                    rules.body
                );
            }
        }
    }

    // Documents and tasks that do not exist.
    assert_error(
        &client
            .get("/indexes/movies/documents/999999")
            .await
            .unwrap(),
        404,
        "document_not_found",
    );
    assert_error(
        &client.get("/tasks/99999999").await.unwrap(),
        404,
        "task_not_found",
    );
    assert_error(
        &client.get("/indexes/nope").await.unwrap(),
        404,
        "index_not_found",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_larger_than_nats_max_payload_arrives_whole() {
    let cluster = TestCluster::start(ClusterOptions::default()).await.unwrap();
    let client = cluster.client();
    let padding = "lorem ipsum dolor sit amet ".repeat(120);
    let docs: Vec<Value> = (0..1000)
        .map(|i| json!({"id": i, "title": format!("big document {i}"), "body": padding}))
        .collect();
    let r = client
        .post("/indexes/big/documents?primaryKey=id", &json!(docs))
        .await
        .unwrap();
    client.wait_succeeded(&r).await.unwrap();
    let found = client
        .post("/indexes/big/search", &json!({"q": "big", "limit": 1000}))
        .await
        .unwrap();
    assert_eq!(found.status, 200);
    let hits = found.body["hits"].as_array().unwrap();
    assert_eq!(hits.len(), 1000);
    let size = serde_json::to_vec(&found.body).unwrap().len();
    assert!(
        size > 2 * 1024 * 1024,
        "the answer is only {size} bytes: not larger than NATS's 1 MB max payload"
    );
    let mut ids: Vec<u64> = hits.iter().map(|h| h["id"].as_u64().unwrap()).collect();
    ids.sort_unstable();
    assert_eq!(ids, (0..1000).collect::<Vec<_>>());
}
