//! Invariant: the JSON the gateway returns for each route family keeps its shape; a change shows
//! up in review as a snapshot diff (volatile fields redacted). Compatibility with Meilisearch is
//! checked against the recordings by `e2e_conformance`; these pin Miroir's own answers.
#![allow(clippy::unwrap_used)]

use miroir_e2e::{ClusterOptions, TestCluster};
use serde_json::{Value, json};

/// Dates, durations, timings and uids vary from run to run.
fn redact(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let volatile = matches!(
                        k.as_str(),
                        "enqueuedAt"
                            | "startedAt"
                            | "finishedAt"
                            | "createdAt"
                            | "updatedAt"
                            | "duration"
                            | "processingTimeMs"
                            | "requestUid"
                            | "lastUpdate"
                            | "databaseSize"
                            | "usedDatabaseSize"
                            | "rawDocumentDbSize"
                            | "avgDocumentSize"
                    );
                    (
                        k.clone(),
                        if volatile && !v.is_null() {
                            json!("[redacted]")
                        } else {
                            redact(v)
                        },
                    )
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(redact).collect()),
        other => other.clone(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_families_keep_their_shape() {
    let cluster = TestCluster::start(ClusterOptions::default()).await.unwrap();
    let c = cluster.client();
    let mut answers = serde_json::Map::new();
    let mut keep = |name: &str, status: u16, body: &Value| {
        answers.insert(
            name.to_string(),
            json!({"status": status, "body": redact(body)}),
        );
    };

    let r = c
        .post("/indexes", &json!({"uid": "books", "primaryKey": "id"}))
        .await
        .unwrap();
    keep("indexes.create", r.status, &r.body);
    let t = c.wait_task(r.task_uid().unwrap()).await.unwrap();
    keep("tasks.get (indexCreation)", 200, &t);
    let r = c.get("/indexes/books").await.unwrap();
    keep("indexes.get", r.status, &r.body);
    let r = c.get("/indexes?limit=5").await.unwrap();
    keep("indexes.list", r.status, &r.body);

    let r = c
        .patch(
            "/indexes/books/settings",
            &json!({"filterableAttributes": ["genre", "year"], "sortableAttributes": ["year"]}),
        )
        .await
        .unwrap();
    keep("settings.update", r.status, &r.body);
    let t = c.wait_task(r.task_uid().unwrap()).await.unwrap();
    keep("tasks.get (settingsUpdate)", 200, &t);
    let r = c.get("/indexes/books/settings").await.unwrap();
    keep("settings.get", r.status, &r.body);
    let r = c
        .get("/indexes/books/settings/filterable-attributes")
        .await
        .unwrap();
    keep("settings.get sub-route", r.status, &r.body);

    let docs: Vec<Value> = (0..12)
        .map(|i| {
            let (place, genre) = (["sea", "sky", "land"][i % 3], ["novel", "essay"][i % 2]);
            json!({"id": i, "title": format!("book {i} of the {place}"), "genre": genre, "year": 1990 + i})
        })
        .collect();
    let r = c
        .post("/indexes/books/documents", &json!(docs))
        .await
        .unwrap();
    keep("documents.add", r.status, &r.body);
    let t = c.wait_task(r.task_uid().unwrap()).await.unwrap();
    keep("tasks.get (documentAdditionOrUpdate)", 200, &t);
    let r = c.get("/indexes/books/documents/3").await.unwrap();
    keep("documents.get", r.status, &r.body);
    let r = c
        .get("/indexes/books/documents?limit=3&offset=2&fields=id,title")
        .await
        .unwrap();
    keep("documents.list", r.status, &r.body);
    let r = c
        .post(
            "/indexes/books/documents/fetch",
            &json!({"filter": "year > 1998", "fields": ["id", "year"]}),
        )
        .await
        .unwrap();
    keep("documents.fetch", r.status, &r.body);

    let r = c.post("/indexes/books/search", &json!({"q": "sea", "facets": ["genre", "year"], "sort": ["year:desc"], "limit": 3, "showRankingScore": true})).await.unwrap();
    keep("search.post", r.status, &r.body);
    let r = c
        .get("/indexes/books/search?q=sky&hitsPerPage=2&page=2")
        .await
        .unwrap();
    keep("search.get (pages)", r.status, &r.body);
    let r = c
        .post(
            "/indexes/books/facet-search",
            &json!({"facetName": "genre", "facetQuery": "nov"}),
        )
        .await
        .unwrap();
    keep("facet-search", r.status, &r.body);
    let r = c
        .post(
            "/multi-search",
            &json!({"queries": [{"indexUid": "books", "q": "land", "limit": 2}]}),
        )
        .await
        .unwrap();
    keep("multi-search", r.status, &r.body);

    let r = c.get("/indexes/books/stats").await.unwrap();
    keep("stats.index", r.status, &r.body);
    let r = c.get("/stats").await.unwrap();
    keep("stats.global", r.status, &r.body);

    let r = c
        .post("/indexes/books/documents/delete-batch", &json!([1, 2]))
        .await
        .unwrap();
    let t = c.wait_task(r.task_uid().unwrap()).await.unwrap();
    keep("tasks.get (documentDeletion)", 200, &t);

    // Errors, one per family.
    let r = c
        .post(
            "/indexes/books/search",
            &json!({"q": "x", "filter": "title = x"}),
        )
        .await
        .unwrap();
    keep("error.search filter", r.status, &r.body);
    let r = c.get("/indexes/nope").await.unwrap();
    keep("error.index not found", r.status, &r.body);
    let r = c.with_key(None).get("/indexes").await.unwrap();
    keep("error.auth missing", r.status, &r.body);
    let r = c.post("/snapshots", &json!({})).await.unwrap();
    keep("error.unsupported route", r.status, &r.body);

    insta::assert_json_snapshot!("route_families", Value::Object(answers));
}
