//! Invariant: through a sharded cluster (3 nodes, 4 shards, RF 2), Meilisearch 1.50's read-side
//! extras answer as one index would: documents listed with `sort` come in sort order with
//! `offset`/`limit` exact (Rust SDK); stats with `showInternalDatabaseSizes` are the shards'
//! sums per database and `sizeFormat=human` words those sums, bad values refused; `POST /fields`
//! lists the union of the shards' fields, paginated and filtered; `/similar` (Rust SDK and GET)
//! ranks every shard's documents by the reference's vector, the reference excluded.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use meilisearch_sdk::client::Client;
use meilisearch_sdk::documents::DocumentsQuery;
use meilisearch_sdk::errors::Error;
use meilisearch_sdk::similar::SimilarQuery;
use miroir_e2e::{ClusterOptions, TestCluster};
use miroir_proto::byte_size::human;
use miroir_testkit::MeiliClient;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

const WAIT: Option<Duration> = Some(Duration::from_secs(30));
const POLL: Option<Duration> = Some(Duration::from_millis(20));

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Movie {
    id: u64,
    title: String,
    genre: String,
    year: u32,
    rating: f64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    tagline: Option<String>,
}

fn movies() -> Vec<Movie> {
    (0..60u64)
        .map(|i| Movie {
            id: i,
            // Titles are distinct, so `year:asc,title:desc` leaves no tie.
            title: format!(
                "{} {i:02}",
                ["Alpha", "beta", "Gamma", "delta"][(i % 4) as usize]
            ),
            genre: ["drama", "crime", "animation"][(i % 3) as usize].into(),
            year: 1990 + (i * 7 % 13) as u32,
            rating: (i * 37 % 50) as f64 / 10.0,
            tagline: (i == 41).then(|| "only on one shard".to_string()),
        })
        .collect()
}

async fn enqueue_and_wait(client: &MeiliClient, reply: miroir_testkit::Reply) {
    assert_eq!(reply.status, 202, "{}", reply.body);
    client.wait_succeeded(&reply).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sorted_documents_stats_and_fields_merge_over_shards() {
    let cluster = TestCluster::start(ClusterOptions::default()).await.unwrap();
    let sdk = Client::new(cluster.gateway_url(), cluster.options.master_key.clone()).unwrap();
    let http = cluster.client();
    let task = sdk
        .create_index("movies", Some("id"))
        .await
        .unwrap()
        .wait_for_completion(&sdk, POLL, WAIT)
        .await
        .unwrap();
    assert!(task.is_success(), "{task:?}");
    let index = sdk.index("movies");
    let reply = http
        .patch(
            "/indexes/movies/settings",
            &json!({"sortableAttributes": ["year", "rating", "title"], "filterableAttributes": ["genre", "year"]}),
        )
        .await
        .unwrap();
    enqueue_and_wait(&http, reply).await;
    let all = movies();
    let task = index
        .add_documents(&all, Some("id"))
        .await
        .unwrap()
        .wait_for_completion(&sdk, POLL, WAIT)
        .await
        .unwrap();
    assert!(task.is_success(), "{task:?}");

    // Sorted listing: the whole index's order, cut exactly (SDK, GET).
    let mut expected = all.clone();
    expected.sort_by(|a, b| {
        a.year
            .cmp(&b.year)
            .then_with(|| b.title.to_lowercase().cmp(&a.title.to_lowercase()))
    });
    let page = DocumentsQuery::new(&index)
        .with_sort(["year:asc", "title:desc"])
        .with_offset(7)
        .with_limit(9)
        .execute::<Movie>()
        .await
        .unwrap();
    assert_eq!(page.total, 60);
    assert_eq!(page.results, expected[7..16].to_vec());

    // With a filter the SDK posts to /documents/fetch; asked fields only, the sort field stripped.
    let page = DocumentsQuery::new(&index)
        .with_filter("genre = crime")
        .with_sort(["rating:desc"])
        .with_fields(["title"])
        .with_limit(5)
        .execute::<Value>()
        .await
        .unwrap();
    let mut crime: Vec<&Movie> = all.iter().filter(|m| m.genre == "crime").collect();
    crime.sort_by(|a, b| {
        b.rating
            .partial_cmp(&a.rating)
            .unwrap()
            .then(a.id.cmp(&b.id))
    });
    let crime_ratings: Vec<f64> = crime.iter().take(5).map(|m| m.rating).collect();
    let titles: Vec<Value> = page.results.clone();
    assert_eq!(titles.len(), 5);
    for (hit, rating) in titles.iter().zip(&crime_ratings) {
        assert_eq!(hit.as_object().unwrap().len(), 1, "{hit}");
        let movie = all.iter().find(|m| json!(m.title) == hit["title"]).unwrap();
        assert_eq!(movie.rating, *rating, "{hit}");
    }

    // A field that is not sortable is refused in a node's words.
    let err = DocumentsQuery::new(&index)
        .with_sort(["genre:asc"])
        .execute::<Value>()
        .await
        .unwrap_err();
    match err {
        Error::Meilisearch(e) => assert_eq!(
            e.error_message,
            "Attribute `genre` is not sortable. Available sortable attributes are: `rating, title, year`."
        ),
        other => panic!("{other:?}"),
    }

    // Stats: each database's size is the sum of the shards' (read from the nodes themselves).
    let raw = http
        .get("/indexes/movies/stats?showInternalDatabaseSizes=true")
        .await
        .unwrap();
    assert_eq!(raw.status, 200, "{}", raw.body);
    let sizes = raw.body["internalDatabaseSizes"]
        .as_object()
        .unwrap()
        .clone();
    assert_eq!(sizes.keys().next().map(String::as_str), Some("main"));
    let mut shard_sum = 0u64;
    for shard in 0..4 {
        let mut found = None;
        for node in &cluster.nodes {
            let r = node
                .client()
                .get(&format!(
                    "/indexes/movies__s{shard}/stats?showInternalDatabaseSizes=true"
                ))
                .await
                .unwrap();
            if r.status == 200 {
                found = r.body["internalDatabaseSizes"]["documents"].as_u64();
                break;
            }
        }
        shard_sum += found.unwrap_or(0);
    }
    assert!(shard_sum > 0);
    assert_eq!(sizes["documents"].as_u64(), Some(shard_sum));
    let worded = http
        .get("/indexes/movies/stats?showInternalDatabaseSizes=true&sizeFormat=human")
        .await
        .unwrap();
    let raw_size = raw.body["rawDocumentDbSize"].as_u64().unwrap();
    assert_eq!(worded.body["rawDocumentDbSize"], json!(human(raw_size)));
    assert_eq!(
        worded.body["internalDatabaseSizes"]["documents"],
        json!(human(shard_sum))
    );
    assert_eq!(worded.body["numberOfDocuments"], json!(60));
    let global = http
        .get("/stats?showInternalDatabaseSizes=true&sizeFormat=human")
        .await
        .unwrap();
    assert!(global.body["databaseSize"].is_string(), "{}", global.body);
    assert_eq!(
        global.body["indexes"]["movies"]["internalDatabaseSizes"]["documents"],
        json!(human(shard_sum))
    );
    let plain = http.get("/stats").await.unwrap();
    assert!(plain.body["databaseSize"].is_u64());
    assert!(
        plain.body["indexes"]["movies"]
            .get("internalDatabaseSizes")
            .is_none()
    );
    for (path, code) in [
        ("/stats?sizeFormat=nonsense", "invalid_stats_size_format"),
        (
            "/indexes/movies/stats?showInternalDatabaseSizes=maybe",
            "invalid_stats_show_internal_database_sizes",
        ),
        ("/stats?nope=1", "bad_request"),
    ] {
        let r = http.get(path).await.unwrap();
        assert_eq!(
            (r.status, r.body["code"].as_str()),
            (400, Some(code)),
            "{path}"
        );
    }
    let r = http.get("/stats?sizeFormat=nonsense").await.unwrap();
    assert_eq!(
        r.body["message"],
        json!(
            "Unknown value `nonsense` for parameter `sizeFormat`: expected one of `human`, `raw`"
        )
    );

    // Fields: the union over shards (`tagline` is on one document, so on one shard only).
    let r = http
        .post("/indexes/movies/fields", &json!({}))
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let names = |body: &Value| -> Vec<String> {
        body["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        names(&r.body),
        ["genre", "id", "rating", "tagline", "title", "year"]
    );
    assert_eq!(
        (r.body["total"].clone(), r.body["limit"].clone()),
        (json!(6), json!(20))
    );
    let year = &r.body["results"][5];
    assert_eq!(year["sortable"]["enabled"], json!(true));
    assert_eq!(year["filterable"]["enabled"], json!(true));
    let r = http
        .post("/indexes/movies/fields", &json!({"offset": 2, "limit": 2}))
        .await
        .unwrap();
    assert_eq!(names(&r.body), ["rating", "tagline"]);
    assert_eq!(
        (r.body["offset"].clone(), r.body["total"].clone()),
        (json!(2), json!(6))
    );
    let r = http
        .post(
            "/indexes/movies/fields",
            &json!({"filter": {"attributePatterns": ["t*"]}}),
        )
        .await
        .unwrap();
    assert_eq!(names(&r.body), ["tagline", "title"]);
    let r = http
        .post("/indexes/ghost/fields", &json!({}))
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (404, Some("index_not_found"))
    );
    let r = http
        .post("/indexes/movies/fields", &json!([]))
        .await
        .unwrap();
    assert_eq!(r.status, 400, "{}", r.body);
}

#[derive(Debug, Clone, Deserialize)]
struct Point {
    id: u64,
}

/// Angles with distinct gaps, so that no two documents are equally near any other.
fn angle(i: u64) -> f64 {
    i as f64 * 0.07 + (i * i) as f64 * 0.001
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn similar_documents_come_from_every_shard() {
    let cluster = TestCluster::start(ClusterOptions::default()).await.unwrap();
    let sdk = Client::new(cluster.gateway_url(), cluster.options.master_key.clone()).unwrap();
    let http = cluster.client();
    let reply = http
        .post("/indexes", &json!({"uid": "points", "primaryKey": "id"}))
        .await
        .unwrap();
    enqueue_and_wait(&http, reply).await;
    let reply = http
        .patch(
            "/indexes/points/settings",
            &json!({"embedders": {"default": {"source": "userProvided", "dimensions": 2}},
                    "filterableAttributes": ["group"]}),
        )
        .await
        .unwrap();
    enqueue_and_wait(&http, reply).await;
    let docs: Vec<Value> = (0..40u64)
        .map(|i| {
            json!({"id": i, "group": i % 2,
                   "_vectors": {"default": [angle(i).cos(), angle(i).sin()]}})
        })
        .collect();
    let reply = http
        .post("/indexes/points/documents", &Value::Array(docs))
        .await
        .unwrap();
    enqueue_and_wait(&http, reply).await;

    // The whole index's answer: nearest first, the reference excluded.
    let nearest = |reference: u64, keep: &dyn Fn(u64) -> bool| -> Vec<u64> {
        let mut ids: Vec<u64> = (0..40).filter(|&i| i != reference && keep(i)).collect();
        ids.sort_by(|&a, &b| {
            let d = |i: u64| (angle(i) - angle(reference)).cos();
            d(b).partial_cmp(&d(a)).unwrap()
        });
        ids
    };
    let index = sdk.index("points");
    let results = SimilarQuery::new(&index, "10", "default")
        .with_limit(6)
        .with_show_ranking_score(true)
        .execute::<Point>()
        .await
        .unwrap();
    let ids: Vec<u64> = results.hits.iter().map(|h| h.result.id).collect();
    assert_eq!(ids, nearest(10, &|_| true)[..6].to_vec());
    assert!(results.hits.iter().all(|h| h.ranking_score.is_some()));
    assert_eq!(results.id, "10");
    assert_eq!(results.estimated_total_hits, Some(39));
    let scores: Vec<f64> = results
        .hits
        .iter()
        .filter_map(|h| h.ranking_score)
        .collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");

    // A page further on, filtered: still the whole index's order.
    let results = SimilarQuery::new(&index, "10", "default")
        .with_offset(2)
        .with_limit(4)
        .with_filter("group = 1")
        .execute::<Point>()
        .await
        .unwrap();
    let ids: Vec<u64> = results.hits.iter().map(|h| h.result.id).collect();
    assert_eq!(ids, nearest(10, &|i| i % 2 == 1)[2..6].to_vec());
    assert!(results.hits.iter().all(|h| h.ranking_score.is_none()));

    // GET, the same answer.
    let r = http
        .get("/indexes/points/similar?id=10&embedder=default&limit=3&attributesToRetrieve=group")
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let groups: Vec<Value> = r.body["hits"].as_array().unwrap().clone();
    let expected: Vec<Value> = nearest(10, &|_| true)[..3]
        .iter()
        .map(|i| json!({"group": i % 2}))
        .collect();
    assert_eq!(groups, expected);

    // Errors as a node gives them.
    let r = http
        .post(
            "/indexes/points/similar",
            &json!({"id": 10, "embedder": "nope"}),
        )
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (400, Some("invalid_similar_embedder")),
        "{}",
        r.body
    );
    let r = http
        .post("/indexes/points/similar", &json!({"embedder": "default"}))
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.body["message"].as_str()),
        (400, Some("Missing field `id`"))
    );
    let r = http
        .get("/indexes/points/similar?id=10&embedder=default&limit=x")
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (400, Some("invalid_similar_limit"))
    );
    let r = http
        .post(
            "/indexes/ghost/similar",
            &json!({"id": 1, "embedder": "default"}),
        )
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (404, Some("index_not_found"))
    );
}
