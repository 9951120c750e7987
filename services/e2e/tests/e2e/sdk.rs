//! Invariant: the official Rust SDK (`meilisearch-sdk`) works against the gateway unchanged:
//! indexes, documents in JSON, NDJSON and CSV, tasks, settings, search with filters, facets, sort
//! and both pagination styles, documents get and delete, errors as typed Meilisearch errors.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use meilisearch_sdk::client::Client;
use meilisearch_sdk::errors::{Error, ErrorCode};
use meilisearch_sdk::search::Selectors;
use meilisearch_sdk::tasks::Task;
use miroir_e2e::{ClusterOptions, TestCluster};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Movie {
    id: u64,
    title: String,
    genre: String,
    year: u32,
}

const WAIT: Option<Duration> = Some(Duration::from_secs(30));
const POLL: Option<Duration> = Some(Duration::from_millis(20));

fn movies() -> Vec<Movie> {
    let genres = ["drama", "comedy", "action", "horror"];
    (0..120)
        .map(|i| Movie {
            id: i,
            title: format!(
                "the movie {} {}",
                ["carol", "wonder", "moana", "joker"][(i % 4) as usize],
                i
            ),
            genre: genres[(i % 4) as usize].into(),
            year: 1990 + (i % 30) as u32,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rust_sdk_works_unchanged() {
    let cluster = TestCluster::start(ClusterOptions::default()).await.unwrap();
    let client = Client::new(cluster.gateway_url(), cluster.options.master_key.clone()).unwrap();

    assert_eq!(client.health().await.unwrap().status, "available");
    assert_eq!(client.get_version().await.unwrap().pkg_version, "1.50.0");

    let task = client
        .create_index("movies", Some("id"))
        .await
        .unwrap()
        .wait_for_completion(&client, POLL, WAIT)
        .await
        .unwrap();
    assert!(task.is_success(), "{task:?}");
    let index = client.index("movies");

    let t = index
        .set_filterable_attributes(["genre", "year"])
        .await
        .unwrap()
        .wait_for_completion(&client, POLL, WAIT)
        .await
        .unwrap();
    assert!(t.is_success(), "{t:?}");
    let t = index
        .set_sortable_attributes(["year"])
        .await
        .unwrap()
        .wait_for_completion(&client, POLL, WAIT)
        .await
        .unwrap();
    assert!(t.is_success(), "{t:?}");

    // JSON through the typed API.
    let all = movies();
    let t = index
        .add_documents(&all[..100], Some("id"))
        .await
        .unwrap()
        .wait_for_completion(&client, POLL, WAIT)
        .await
        .unwrap();
    match &t {
        Task::Succeeded { content } => assert_eq!(content.uid as u64, t.get_uid() as u64),
        other => panic!("documents task did not succeed: {other:?}"),
    }
    // NDJSON and CSV payloads.
    let ndjson: String = all[100..110]
        .iter()
        .map(|m| serde_json::to_string(m).unwrap() + "\n")
        .collect();
    let t = index
        .add_documents_ndjson(futures::io::Cursor::new(ndjson.into_bytes()), Some("id"))
        .await
        .unwrap()
        .wait_for_completion(&client, POLL, WAIT)
        .await
        .unwrap();
    assert!(t.is_success(), "{t:?}");
    let mut csv = String::from("id,title,genre,year:number\n");
    for m in &all[110..] {
        csv.push_str(&format!("{},{},{},{}\n", m.id, m.title, m.genre, m.year));
    }
    let t = index
        .add_documents_csv(futures::io::Cursor::new(csv.into_bytes()), Some("id"))
        .await
        .unwrap()
        .wait_for_completion(&client, POLL, WAIT)
        .await
        .unwrap();
    assert!(t.is_success(), "{t:?}");

    let stats = index.get_stats().await.unwrap();
    assert_eq!(stats.number_of_documents, 120);

    // Search: keywords, filter, facets, sort, offset/limit.
    let results = index
        .search()
        .with_query("moana")
        .with_filter("genre = action AND year >= 2000")
        .with_facets(Selectors::Some(&["genre", "year"]))
        .with_sort(&["year:desc"])
        .with_limit(5)
        .execute::<serde_json::Value>()
        .await
        .unwrap();
    let expected: Vec<&Movie> = {
        let mut v: Vec<&Movie> = all
            .iter()
            .filter(|m| m.title.contains("moana") && m.genre == "action" && m.year >= 2000)
            .collect();
        v.sort_by(|a, b| b.year.cmp(&a.year).then(a.id.cmp(&b.id)));
        v
    };
    assert_eq!(results.estimated_total_hits, Some(expected.len()));
    let years: Vec<u64> = results
        .hits
        .iter()
        .map(|h| h.result["year"].as_u64().unwrap())
        .collect();
    assert_eq!(
        years,
        expected
            .iter()
            .take(5)
            .map(|m| u64::from(m.year))
            .collect::<Vec<_>>()
    );
    let facets = results.facet_distribution.unwrap();
    assert_eq!(facets["genre"]["action"], expected.len());
    assert!(!expected.is_empty());

    // page / hitsPerPage.
    let page = index
        .search()
        .with_query("movie")
        .with_page(3)
        .with_hits_per_page(7)
        .execute::<Movie>()
        .await
        .unwrap();
    assert_eq!(page.total_hits, Some(120));
    assert_eq!(page.total_pages, Some(18));
    assert_eq!(page.hits.len(), 7);

    // Documents get and delete.
    let m: Movie = index.get_document("42").await.unwrap();
    assert_eq!(m, all[42]);
    let t = index
        .delete_document(42)
        .await
        .unwrap()
        .wait_for_completion(&client, POLL, WAIT)
        .await
        .unwrap();
    assert!(t.is_success(), "{t:?}");
    match index.get_document::<Movie>("42").await {
        Err(Error::Meilisearch(e)) => assert_eq!(e.error_code, ErrorCode::DocumentNotFound),
        other => panic!("expected document_not_found, got {other:?}"),
    }
    let t = index
        .delete_documents(&[1, 2, 3])
        .await
        .unwrap()
        .wait_for_completion(&client, POLL, WAIT)
        .await
        .unwrap();
    assert!(t.is_success(), "{t:?}");
    assert_eq!(index.get_stats().await.unwrap().number_of_documents, 116);

    // A missing index is the SDK's typed error.
    match client
        .index("nope")
        .search()
        .with_query("x")
        .execute::<Movie>()
        .await
    {
        Err(Error::Meilisearch(e)) => assert_eq!(e.error_code, ErrorCode::IndexNotFound),
        other => panic!("expected index_not_found, got {other:?}"),
    }

    // Tasks list and index deletion.
    let tasks = client.get_tasks().await.unwrap();
    assert!(tasks.results.len() >= 8, "{}", tasks.results.len());
    let t = index
        .delete()
        .await
        .unwrap()
        .wait_for_completion(&client, POLL, WAIT)
        .await
        .unwrap();
    assert!(t.is_success(), "{t:?}");
    assert!(client.get_index("movies").await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rust_sdk_covers_settings_tasks_and_swap() {
    use meilisearch_sdk::client::SwapIndexes;
    use meilisearch_sdk::settings::Settings;
    use meilisearch_sdk::tasks::{TasksCancelQuery, TasksDeleteQuery, TasksSearchQuery};

    let cluster = TestCluster::start(ClusterOptions::default()).await.unwrap();
    let client = Client::new(cluster.gateway_url(), cluster.options.master_key.clone()).unwrap();
    let movies = client.index("movies");
    let t = movies
        .add_documents(&movies_for_settings(), Some("id"))
        .await
        .unwrap()
        .wait_for_completion(&client, POLL, WAIT)
        .await
        .unwrap();
    assert!(t.is_success(), "{t:?}");

    // The whole settings object, applied to every shard and read back.
    let settings = Settings::new()
        .with_searchable_attributes(["title"])
        .with_filterable_attributes(["genre", "year"])
        .with_ranking_rules([
            "words",
            "typo",
            "proximity",
            "attribute",
            "sort",
            "exactness",
            "year:desc",
        ])
        .with_stop_words(["the"]);
    let t = movies
        .set_settings(&settings)
        .await
        .unwrap()
        .wait_for_completion(&client, POLL, WAIT)
        .await
        .unwrap();
    assert!(t.is_success(), "{t:?}");
    let read = movies.get_settings().await.unwrap();
    assert_eq!(read.searchable_attributes, Some(vec!["title".to_string()]));
    assert_eq!(read.stop_words, Some(vec!["the".to_string()]));
    assert_eq!(
        read.ranking_rules.as_ref().map(|r| r.last().cloned()),
        Some(Some("year:desc".to_string()))
    );
    // Every shard copy holds the same settings.
    for node in &cluster.nodes {
        let list = node.client().get("/indexes").await.unwrap();
        for idx in list.body["results"].as_array().unwrap() {
            let uid = idx["uid"].as_str().unwrap();
            let rules = node
                .client()
                .get(&format!("/indexes/{uid}/settings/stop-words"))
                .await
                .unwrap();
            assert_eq!(rules.body, serde_json::json!(["the"]), "{uid}");
        }
    }

    // Task listing with filters, cancel and delete.
    let mut search = TasksSearchQuery::new(&client);
    search
        .with_index_uids(["movies"])
        .with_statuses(["succeeded"]);
    let listed = client.get_tasks_with(&search).await.unwrap();
    assert!(listed.results.len() >= 2, "{}", listed.results.len());
    let mut cancel = TasksCancelQuery::new(&client);
    cancel.with_statuses(["enqueued", "processing"]);
    let t = client
        .cancel_tasks_with(&cancel)
        .await
        .unwrap()
        .wait_for_completion(&client, POLL, WAIT)
        .await
        .unwrap();
    assert!(t.is_success(), "{t:?}");
    let mut delete = TasksDeleteQuery::new(&client);
    delete
        .with_statuses(["succeeded"])
        .with_index_uids(["movies"]);
    let t = client
        .delete_tasks_with(&delete)
        .await
        .unwrap()
        .wait_for_completion(&client, POLL, WAIT)
        .await
        .unwrap();
    assert!(t.is_success(), "{t:?}");

    // Swap two indexes: each uid now answers with the other's documents.
    let t = client
        .create_index("other", Some("id"))
        .await
        .unwrap()
        .wait_for_completion(&client, POLL, WAIT)
        .await
        .unwrap();
    assert!(t.is_success(), "{t:?}");
    let swap = SwapIndexes {
        indexes: ("movies".to_string(), "other".to_string()),
        rename: None,
    };
    let t = client
        .swap_indexes([&swap])
        .await
        .unwrap()
        .wait_for_completion(&client, POLL, WAIT)
        .await
        .unwrap();
    assert!(t.is_success(), "{t:?}");
    assert_eq!(
        client
            .index("other")
            .get_stats()
            .await
            .unwrap()
            .number_of_documents,
        40
    );
    assert_eq!(
        client
            .index("movies")
            .get_stats()
            .await
            .unwrap()
            .number_of_documents,
        0
    );
}

fn movies_for_settings() -> Vec<Movie> {
    movies().into_iter().take(40).collect()
}
