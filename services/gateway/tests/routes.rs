//! Every other route turns the client's request into the right router or merger message (or
//! answers from the topology KV mirror), validates it first with Meilisearch's errors, and gives
//! back Meilisearch's status and body: 202 task summaries for writes, the JSON as is for reads.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use miroir_proto::rpc::*;
use miroir_proto::subjects::Service;
use reqwest::Method;
use serde_json::{Value, json};

/// What the fakes received, as debug strings, in order.
type Log = Arc<Mutex<Vec<String>>>;

fn take(log: &Log) -> Vec<String> {
    std::mem::take(&mut *log.lock().unwrap())
}

macro_rules! record_write {
    ($runner:expr, $log:expr, $ty:ty, $task_type:literal, $uid:expr) => {{
        let log = $log.clone();
        $runner
            .serve::<$ty, _, _>(move |req, _| {
                let uid: String = $uid(&req);
                log.lock().unwrap().push(format!("{req:?}"));
                async move { Ok(common::task(7, &uid, $task_type)) }
            })
            .await
            .unwrap();
    }};
}

macro_rules! record_read {
    ($runner:expr, $log:expr, $ty:ty) => {{
        let log = $log.clone();
        $runner
            .serve::<$ty, _, _>(move |req, _| {
                log.lock().unwrap().push(format!("{req:?}"));
                async move {
                    Ok(JsonBody {
                        body: Bytes::from_static(br#"{"answer": "as is"}"#),
                    })
                }
            })
            .await
            .unwrap();
    }};
}

#[tokio::test]
async fn routes_validate_then_reach_the_right_service() {
    let gw = common::start(common::config()).await;
    gw.put_index("books", Some("id")).await;
    gw.put_index("authors", None).await;
    let log: Log = Arc::default();
    let mut router = common::fake(&gw.nats, Service::Router).await;
    record_write!(
        router,
        log,
        IndexCreate,
        "indexCreation",
        |r: &IndexCreate| r.uid.clone()
    );
    record_write!(
        router,
        log,
        IndexUpdate,
        "indexUpdate",
        |r: &IndexUpdate| r.uid.clone()
    );
    record_write!(
        router,
        log,
        IndexDelete,
        "indexDeletion",
        |r: &IndexDelete| r.uid.clone()
    );
    record_write!(
        router,
        log,
        DocumentsDelete,
        "documentDeletion",
        |r: &DocumentsDelete| r.index_uid.clone()
    );
    record_write!(
        router,
        log,
        SettingsUpdate,
        "settingsUpdate",
        |r: &SettingsUpdate| r.index_uid.clone()
    );
    record_read!(router, log, TaskGet);
    record_read!(router, log, miroir_proto::rpc_tasks::TaskSearch);
    let mut merger = common::fake(&gw.nats, Service::Merger).await;
    record_read!(merger, log, DocumentGet);
    {
        let log = log.clone();
        merger
            .serve::<DocumentsFetch, _, _>(move |req, _| {
                log.lock().unwrap().push(format!(
                    "DocumentsFetch {} {}",
                    req.index_uid,
                    String::from_utf8_lossy(&req.body)
                ));
                async move {
                    Ok(JsonBody {
                        body: Bytes::from_static(br#"{"answer": "as is"}"#),
                    })
                }
            })
            .await
            .unwrap();
    }
    record_read!(merger, log, Stats);
    record_read!(merger, log, SettingsGet);
    let client = gw.client();

    // Indexes: reads from KV.
    let r = client.get("/indexes?limit=1&offset=1").await.unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.body["total"], 2);
    assert_eq!(r.body["results"][0]["uid"], "books");
    assert_eq!(r.body["results"].as_array().unwrap().len(), 1);
    let rec = common::recorded("02-indexes.json", "get index");
    let r = client.get(&rec.request.path).await.unwrap();
    assert_eq!(
        (r.status, &r.body),
        (rec.response.status, &rec.response.body)
    );
    let rec = common::recorded("02-indexes.json", "get missing index");
    let r = client.get(&rec.request.path).await.unwrap();
    assert_eq!(
        (r.status, &r.body),
        (rec.response.status, &rec.response.body)
    );
    let r = client.get("/indexes?limit=x").await.unwrap();
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (400, Some("invalid_index_limit"))
    );

    // Indexes: writes through the router.
    let rec = common::recorded("02-indexes.json", "create index");
    let r = client
        .post(&rec.request.path, &rec.request.body)
        .await
        .unwrap();
    assert_eq!(r.status, 202);
    assert_eq!(r.body["type"], "indexCreation");
    assert_eq!(r.body["indexUid"], "books");
    let rec = common::recorded("02-indexes.json", "create index invalid uid");
    let r = client
        .post(&rec.request.path, &rec.request.body)
        .await
        .unwrap();
    assert_eq!(
        (r.status, &r.body),
        (rec.response.status, &rec.response.body)
    );
    let r = client
        .post("/indexes", &json!({"primaryKey": "id"}))
        .await
        .unwrap();
    assert_eq!(
        (
            r.status,
            r.body["code"].as_str(),
            r.body["message"].as_str()
        ),
        (400, Some("missing_index_uid"), Some("Missing field `uid`"))
    );
    let r = client
        .post("/indexes", &json!({"uid": "x", "primaryKy": "id"}))
        .await
        .unwrap();
    assert_eq!(
        r.body["message"],
        "Unknown field `primaryKy`: did you mean `primaryKey`? expected one of `uid`, `primaryKey`"
    );
    let r = client
        .patch("/indexes/books", &json!({"primaryKey": "isbn"}))
        .await
        .unwrap();
    assert_eq!(r.status, 202);
    // Meilisearch 1.50 renames an index with `{"uid"}`.
    let r = client
        .patch("/indexes/books", &json!({"uid": "other"}))
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.body["type"].as_str()),
        (202, Some("indexUpdate"))
    );
    let r = client
        .patch("/indexes/books", &json!({"uid": "bad uid"}))
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (400, Some("invalid_index_uid"))
    );
    let r = client.delete("/indexes/ghost").await.unwrap();
    assert_eq!(
        (r.status, r.body["type"].as_str()),
        (202, Some("indexDeletion"))
    );
    assert_eq!(
        take(&log),
        vec![
            r#"IndexCreate { uid: "books", primary_key: Some("id") }"#,
            r#"IndexUpdate { uid: "books", primary_key: Some("isbn"), new_uid: None }"#,
            r#"IndexUpdate { uid: "books", primary_key: None, new_uid: Some("other") }"#,
            r#"IndexDelete { uid: "ghost" }"#,
        ]
    );

    // Documents: reads from the merger (after the index is found), deletions through the router.
    let r = client
        .get("/indexes/books/documents/1?fields=title,rating")
        .await
        .unwrap();
    assert_eq!((r.status, &r.body), (200, &json!({"answer": "as is"})));
    let r = client
        .get("/indexes/books/documents?limit=2&offset=1&fields=id,title")
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    let r = client
        .post(
            "/indexes/books/documents/fetch",
            &json!({"filter": "year > 2014", "limit": 10}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    let r = client.get("/indexes/nope/documents").await.unwrap();
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (404, Some("index_not_found"))
    );
    let logged = take(&log);
    assert_eq!(
        logged[0],
        r#"DocumentGet { index_uid: "books", document_id: "1", query: "fields=title,rating" }"#
    );
    assert_eq!(logged.len(), 3, "{logged:#?}");
    for (line, expected) in logged[1..].iter().zip([
        json!({"limit": 2, "offset": 1, "fields": ["id", "title"]}),
        json!({"filter": "year > 2014", "limit": 10}),
    ]) {
        let body = line.strip_prefix("DocumentsFetch books ").unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(body).unwrap(),
            expected,
            "{line}"
        );
    }

    let r = client.delete("/indexes/books/documents/7").await.unwrap();
    assert_eq!(
        (r.status, r.body["type"].as_str()),
        (202, Some("documentDeletion"))
    );
    let rec = common::recorded("03-documents.json", "delete batch");
    let r = client
        .post("/indexes/books/documents/delete-batch", &rec.request.body)
        .await
        .unwrap();
    assert_eq!(r.status, 202);
    let r = client
        .post(
            "/indexes/books/documents/delete",
            &json!({"filter": "year = 2016"}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 202);
    let r = client.delete("/indexes/books/documents").await.unwrap();
    assert_eq!(r.status, 202);
    let r = client
        .post("/indexes/books/documents/delete", &json!({"filter": ""}))
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.body["message"].as_str()),
        (400, Some("Sending an empty filter is forbidden."))
    );
    let r = client
        .post("/indexes/books/documents/delete", &json!({}))
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (400, Some("missing_document_filter"))
    );
    let r = client
        .post(
            "/indexes/books/documents/delete-batch",
            &json!({"ids": [1]}),
        )
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (400, Some("bad_request"))
    );
    assert_eq!(
        take(&log),
        vec![
            r#"DocumentsDelete { index_uid: "books", selector: Ids(["7"]), custom_metadata: None }"#,
            r#"DocumentsDelete { index_uid: "books", selector: Ids(["4", "three"]), custom_metadata: None }"#,
            r#"DocumentsDelete { index_uid: "books", selector: Filter("\"year = 2016\""), custom_metadata: None }"#,
            r#"DocumentsDelete { index_uid: "books", selector: All, custom_metadata: None }"#,
        ]
    );

    // Settings.
    let r = client.get("/indexes/books/settings").await.unwrap();
    assert_eq!(r.status, 200);
    let r = client
        .get("/indexes/books/settings/ranking-rules")
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    let r = client
        .patch(
            "/indexes/books/settings",
            &json!({"filterableAttributes": ["year"]}),
        )
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.body["type"].as_str()),
        (202, Some("settingsUpdate"))
    );
    let r = client
        .put(
            "/indexes/books/settings/filterable-attributes",
            &json!(["year", "genres"]),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 202);
    let r = client
        .patch(
            "/indexes/books/settings/typo-tolerance",
            &json!({"enabled": false}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 202);
    let r = client
        .delete("/indexes/books/settings/stop-words")
        .await
        .unwrap();
    assert_eq!(r.status, 202);
    let r = client.delete("/indexes/books/settings").await.unwrap();
    assert_eq!(r.status, 202);
    let r = client
        .patch("/indexes/books/settings/filterable-attributes", &json!([]))
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (405, Some("method_not_allowed"))
    );
    let r = client.get("/indexes/books/settings/nope").await.unwrap();
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (404, Some("not_found"))
    );
    let r = client
        .send_raw(
            Method::PATCH,
            "/indexes/books/settings",
            "application/json",
            b"{nope".to_vec(),
        )
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (400, Some("malformed_payload"))
    );
    let r = client
        .patch("/indexes/books/settings", &json!(["displayedAttributes"]))
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (400, Some("bad_request"))
    );
    let logged = take(&log);
    assert_eq!(logged.len(), 7, "{logged:#?}");
    assert_eq!(
        logged[0],
        r#"SettingsGet { index_uid: "books", sub_route: None }"#
    );
    assert_eq!(
        logged[1],
        r#"SettingsGet { index_uid: "books", sub_route: Some("ranking-rules") }"#
    );
    assert!(
        logged[2].starts_with(
            r#"SettingsUpdate { index_uid: "books", sub_route: None, method: Patch, body: Some("#
        ),
        "{}",
        logged[2]
    );
    assert!(logged[3].starts_with(r#"SettingsUpdate { index_uid: "books", sub_route: Some("filterable-attributes"), method: Put"#));
    assert!(logged[4].contains(r#"sub_route: Some("typo-tolerance"), method: Patch"#));
    assert_eq!(
        logged[5],
        r#"SettingsUpdate { index_uid: "books", sub_route: Some("stop-words"), method: Delete, body: None, custom_metadata: None }"#
    );
    assert_eq!(
        logged[6],
        r#"SettingsUpdate { index_uid: "books", sub_route: None, method: Delete, body: None, custom_metadata: None }"#
    );

    // Tasks and stats.
    let r = client.get("/tasks/12").await.unwrap();
    assert_eq!((r.status, &r.body), (200, &json!({"answer": "as is"})));
    let r = client
        .get("/tasks?indexUids=movies&statuses=failed&limit=2")
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    let r = client.get("/tasks/doggo").await.unwrap();
    assert_eq!(
        r.body,
        json!({"message": "Task uid `doggo` is invalid. It should only contain numeric characters.", "code": "invalid_task_uids",
               "type": "invalid_request", "link": "https://docs.meilisearch.com/errors#invalid_task_uids"})
    );
    let r = client.get("/stats").await.unwrap();
    assert_eq!(r.status, 200);
    let r = client
        .get("/indexes/authors/stats?showInternalDatabaseSizes=true&sizeFormat=human")
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    let r = client.get("/stats?sizeFormat=nonsense").await.unwrap();
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (400, Some("invalid_stats_size_format"))
    );
    assert_eq!(
        take(&log),
        vec![
            "TaskGet { uid: 12 }",
            r#"TaskSearch { filter: TaskFilter { uids: None, batch_uids: None, canceled_by: None, types: None, statuses: Some(["failed"]), index_uids: Some(["movies"]), after_enqueued_at: None, before_enqueued_at: None, after_started_at: None, before_started_at: None, after_finished_at: None, before_finished_at: None, visible_indexes: None }, page: TaskPage { limit: 2, from: None, reverse: false } }"#,
            "Stats { index_uid: None, internal_sizes: false, human_sizes: false }",
            r#"Stats { index_uid: Some("authors"), internal_sizes: true, human_sizes: true }"#,
        ]
    );
    router.shutdown(Duration::from_secs(1)).await;
    merger.shutdown(Duration::from_secs(1)).await;
    gw.stop().await;
}
