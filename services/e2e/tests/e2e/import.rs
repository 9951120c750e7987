//! Invariant: `miroirctl import` moves a single Meilisearch into the cluster whole, from the live
//! node or from a dump file it wrote: every index with its primary key, settings and documents
//! (the cluster counts exactly the source's documents), and its API keys (with the same values
//! when the cluster's master key is the source's). An import stopped part-way resumes from its
//! state file without duplicates, and the cluster then answers searches as the source did.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use miroir_e2e::{ClusterOptions, TestCluster};
use miroir_testkit::{MeiliClient, NodeOptions, npm_documents, start_node};
use miroirctl::import::{ImportError, ImportOptions, ImportReport, SourceSpec, import};
use serde_json::{Value, json};

/// The uid of the key created on the source.
const KEY_UID: &str = "0f3c2a1b-4d5e-4f60-8a7b-9c0d1e2f3a4b";

pub fn options(source: SourceSpec, cluster: &TestCluster, state: PathBuf) -> ImportOptions {
    ImportOptions {
        source,
        gateway_url: cluster.gateway_url().to_string(),
        master_key: cluster.options.master_key.clone(),
        indexes: Vec::new(),
        batch_size: 2_000,
        in_flight: 4,
        state_path: state,
        copy_keys: true,
        task_timeout: Duration::from_secs(120),
        stop_after_batches: None,
        progress: false,
    }
}

fn print_speed(what: &str, report: &ImportReport) {
    eprintln!(
        "import from {what}: {} documents in {:.2} s = {:.0} docs/s ({})",
        report.documents,
        report.seconds,
        report.docs_per_sec,
        report
            .indexes
            .iter()
            .map(|i| format!("{} {} docs {:.0}/s", i.uid, i.sent, i.docs_per_sec))
            .collect::<Vec<_>>()
            .join(", ")
    );
}

/// Every hit of `query` (up to 1000) on both sides: the same total, the same documents, and the
/// same sequence of ranking scores (documents tied on every rule may trade places).
pub async fn same_answers(source: &MeiliClient, cluster: &MeiliClient, index: &str, query: Value) {
    let mut q = query.clone();
    q["limit"] = json!(1000);
    q["showRankingScore"] = json!(true);
    let path = format!("/indexes/{index}/search");
    let a = source.post(&path, &q).await.unwrap();
    let b = cluster.post(&path, &q).await.unwrap();
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(b.status, 200, "{}", b.body);
    assert_eq!(
        a.body["estimatedTotalHits"], b.body["estimatedTotalHits"],
        "{index} {query}"
    );
    let ids = |v: &Value| -> BTreeSet<String> {
        v["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["id"].to_string())
            .collect()
    };
    let scores = |v: &Value| -> Vec<String> {
        v["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| format!("{:.6}", h["_rankingScore"].as_f64().unwrap_or(-1.0)))
            .collect()
    };
    assert_eq!(ids(&a.body), ids(&b.body), "{index} {query}");
    assert_eq!(scores(&a.body), scores(&b.body), "{index} {query}");
}

/// The settings a client set, as both sides show them.
async fn same_settings(source: &MeiliClient, cluster: &MeiliClient, index: &str) {
    let a = source
        .get(&format!("/indexes/{index}/settings"))
        .await
        .unwrap();
    let b = cluster
        .get(&format!("/indexes/{index}/settings"))
        .await
        .unwrap();
    for field in [
        "searchableAttributes",
        "filterableAttributes",
        "sortableAttributes",
        "rankingRules",
        "stopWords",
        "synonyms",
        "typoTolerance",
        "pagination",
        "faceting",
        "distinctAttribute",
    ] {
        assert_eq!(a.body[field], b.body[field], "{index} setting {field}");
    }
}

async fn load_source(node: &MeiliClient) -> u64 {
    let npm = npm_documents(10_000).unwrap();
    let books: Vec<Value> = (0..10_000)
        .map(|i| {
            json!({"isbn": format!("b{i:05}"), "title": format!("volume {i} of the {} saga", ["red", "blue", "green", "gold"][i % 4]), "pages": 100 + i % 400})
        })
        .collect();
    let steps: Vec<(&str, Value)> = vec![
        ("/indexes", json!({"uid": "npm", "primaryKey": "id"})),
        ("/indexes", json!({"uid": "books", "primaryKey": "isbn"})),
        ("/indexes", json!({"uid": "empty", "primaryKey": "id"})),
    ];
    for (path, body) in steps {
        let r = node.post(path, &body).await.unwrap();
        node.wait_succeeded(&r).await.unwrap();
    }
    let r = node
        .patch(
            "/indexes/npm/settings",
            &json!({
                "searchableAttributes": ["name", "summary", "tags"],
                "filterableAttributes": ["scope", "major", "tags"],
                "sortableAttributes": ["downloads", "name"],
                "synonyms": {"js": ["javascript"]},
                "stopWords": ["the", "a"],
            }),
        )
        .await
        .unwrap();
    node.wait_succeeded(&r).await.unwrap();
    let r = node
        .patch(
            "/indexes/books/settings",
            &json!({"sortableAttributes": ["pages"], "filterableAttributes": ["pages"]}),
        )
        .await
        .unwrap();
    node.wait_succeeded(&r).await.unwrap();
    for chunk in npm.chunks(5_000) {
        let r = node
            .post("/indexes/npm/documents", &json!(chunk))
            .await
            .unwrap();
        node.wait_succeeded(&r).await.unwrap();
    }
    let r = node
        .post("/indexes/books/documents", &json!(books))
        .await
        .unwrap();
    node.wait_succeeded(&r).await.unwrap();
    let r = node
        .post(
            "/keys",
            &json!({"uid": KEY_UID, "name": "shop-search", "description": "front end",
                    "actions": ["search"], "indexes": ["npm"], "expiresAt": null}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.body);
    20_000
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_a_live_node_resumed_after_an_interruption() {
    let source = start_node(NodeOptions::default()).await.unwrap();
    let src = source.client();
    let total = load_source(&src).await;
    // The cluster's master key is the source's, so the copied key keeps its value.
    let cluster = TestCluster::start(ClusterOptions {
        master_key: source.master_key().map(str::to_string),
        ..Default::default()
    })
    .await
    .unwrap();
    let client = cluster.client();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let spec = SourceSpec::Live {
        url: source.url(),
        key: source.master_key().map(str::to_string),
    };

    // Interrupted after 3 acknowledged batches (6,000 documents of the first index).
    let mut opts = options(spec, &cluster, state.clone());
    opts.stop_after_batches = Some(3);
    let stopped = import(&opts).await;
    assert!(
        matches!(stopped, Err(ImportError::Stopped(3))),
        "{stopped:?}"
    );
    let saved: Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    let acknowledged: u64 = saved["indexes"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| p["acknowledged"].as_u64().unwrap())
        .sum();
    assert_eq!(acknowledged, 6_000, "{saved}");

    // The same command again resumes there and finishes, with the count check passing.
    opts.stop_after_batches = None;
    let report = import(&opts).await.unwrap();
    print_speed("a live node (resumed)", &report);
    assert_eq!(report.documents, total - 6_000, "only the rest was sent");
    let resumed: u64 = report.indexes.iter().map(|i| i.resumed_from).sum();
    assert_eq!(resumed, 6_000);
    for i in &report.indexes {
        assert_eq!(i.source_count, i.cluster_count, "{i:?}");
    }
    let uids: BTreeSet<&str> = report.indexes.iter().map(|i| i.uid.as_str()).collect();
    assert_eq!(uids, BTreeSet::from(["books", "empty", "npm"]));
    for (index, pk, count) in [("npm", "id", 10_000), ("books", "isbn", 10_000)] {
        let r = client.get(&format!("/indexes/{index}")).await.unwrap();
        assert_eq!(r.body["primaryKey"], json!(pk));
        let stats = client
            .get(&format!("/indexes/{index}/stats"))
            .await
            .unwrap();
        assert_eq!(
            stats.body["numberOfDocuments"],
            json!(count),
            "no duplicate"
        );
        same_settings(&src, &client, index).await;
    }

    for q in [
        json!({"q": "react"}),
        json!({"q": "vue router"}),
        json!({"q": "js", "filter": "major = 1"}),
        json!({"q": "", "sort": ["downloads:desc"], "filter": "scope IS NOT NULL"}),
        json!({"q": "the parser"}),
    ] {
        same_answers(&src, &client, "npm", q).await;
    }
    same_answers(
        &src,
        &client,
        "books",
        json!({"q": "gold saga", "filter": "pages < 150"}),
    )
    .await;

    // The key: same uid, same rights, and (same master key) the same value, which searches.
    let key = report.keys.iter().find(|k| k.uid == KEY_UID).unwrap();
    assert_eq!(key.outcome, "created");
    assert_eq!(key.same_value, Some(true));
    let value = src.get(&format!("/keys/{KEY_UID}")).await.unwrap().body["key"]
        .as_str()
        .unwrap()
        .to_string();
    let by_key = client.with_key(Some(value));
    let r = by_key
        .post("/indexes/npm/search", &json!({"q": "react"}))
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let r = by_key
        .post("/indexes/books/search", &json!({"q": "saga"}))
        .await
        .unwrap();
    assert_eq!(r.status, 403, "the key is limited to npm: {}", r.body);

    // A run over a finished import sends nothing and checks the counts again.
    let again = import(&opts).await.unwrap();
    assert_eq!(again.documents, 0);
}

/// The dump a real Meilisearch 1.50 wrote (see the fixture's README for what it holds).
fn recorded_dump() -> PathBuf {
    miroir_testkit::recordings_dir().join("dumps/npm2k-movies.dump")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_a_dump_written_by_meilisearch() {
    // The recorded node's master key, so that the dumped key keeps its recorded value.
    let cluster = TestCluster::start(ClusterOptions {
        master_key: Some("masterKey-0123456789abcdef".into()),
        ..Default::default()
    })
    .await
    .unwrap();
    let client = cluster.client();
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(
        SourceSpec::Dump {
            path: recorded_dump(),
        },
        &cluster,
        dir.path().join("state.json"),
    );
    opts.batch_size = 500;
    let report = import(&opts).await.unwrap();
    print_speed("a Meilisearch dump", &report);
    let counts: Vec<(&str, u64)> = report
        .indexes
        .iter()
        .map(|i| (i.uid.as_str(), i.cluster_count))
        .collect();
    assert_eq!(counts, vec![("movies", 3), ("npm", 2_000)]);

    let settings = client.get("/indexes/npm/settings").await.unwrap().body;
    assert_eq!(
        settings["searchableAttributes"],
        json!(["name", "summary", "tags"])
    );
    assert_eq!(settings["synonyms"], json!({"js": ["javascript"]}));
    assert_eq!(settings["stopWords"], json!(["a", "the"]));
    let movie = client.get("/indexes/movies/documents/three").await.unwrap();
    assert_eq!(
        movie.body,
        json!({"id": "three", "title": "Up", "year": 2009})
    );

    // The searches recorded on the node that wrote the dump.
    for (q, hits, first) in [
        ("react", 197, [33, 36, 108]),
        ("vue router", 50, [53, 68, 84]),
        ("js", 268, [422, 1571, 1661]),
    ] {
        let r = client
            .post("/indexes/npm/search", &json!({"q": q, "limit": 3}))
            .await
            .unwrap();
        assert_eq!(r.body["estimatedTotalHits"], json!(hits), "{q}: {}", r.body);
        let ids: Vec<u64> = r.body["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["id"].as_u64().unwrap())
            .collect();
        assert_eq!(ids, first, "{q}");
    }

    // The key: copied with its uid, the defaults left to the cluster's own, and its recorded
    // value opens the cluster because the master key is the recorded node's.
    let outcomes: Vec<(&str, &str)> = report
        .keys
        .iter()
        .map(|k| (k.name.as_deref().unwrap_or(""), k.outcome.as_str()))
        .collect();
    assert!(
        outcomes.contains(&("search-only", "created")),
        "{outcomes:?}"
    );
    assert_eq!(
        outcomes.iter().filter(|(_, o)| *o == "default").count(),
        4,
        "{outcomes:?}"
    );
    let by_key = client.with_key(Some(
        "196fb4a19cdc86afffbb5e0ffffbd1efd726bef828dd5a015976e7d89e851020".into(),
    ));
    let r = by_key
        .post("/indexes/npm/search", &json!({"q": "react", "limit": 1}))
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);

    // A cluster that holds a document the source does not fails the count check loudly.
    let r = client
        .post(
            "/indexes/movies/documents",
            &json!([{"id": 4, "title": "Ran"}]),
        )
        .await
        .unwrap();
    client.wait_succeeded(&r).await.unwrap();
    opts.state_path = dir.path().join("again.json");
    opts.indexes = vec!["movies".into()];
    match import(&opts).await {
        Err(ImportError::CountMismatch {
            index,
            source_count,
            cluster_count,
        }) => assert_eq!(
            (index.as_str(), source_count, cluster_count),
            ("movies", 3, 4)
        ),
        other => panic!("expected a count mismatch, got {other:?}"),
    }
    // An index the source does not have is refused before anything is written.
    opts.indexes = vec!["nope".into()];
    assert!(matches!(
        import(&opts).await,
        Err(ImportError::Source(
            miroirctl::import_source::SourceError::NoSuchIndex(_)
        ))
    ));
}

/// Every document of an index, by primary key.
async fn all_documents(c: &MeiliClient, index: &str, pk: &str) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let r = c
            .get(&format!(
                "/indexes/{index}/documents?offset={}&limit=1000",
                out.len()
            ))
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
        let page = r.body["results"].as_array().unwrap().clone();
        let n = page.len();
        out.extend(page);
        if n < 1000 {
            break;
        }
    }
    out.sort_by_key(|d| d[pk].to_string());
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_dump_imports_into_another_cluster() {
    let a = TestCluster::start(ClusterOptions::default()).await.unwrap();
    let ca = a.client();
    let r = ca
        .post("/indexes", &json!({"uid": "npm", "primaryKey": "id"}))
        .await
        .unwrap();
    ca.wait_succeeded(&r).await.unwrap();
    let r = ca
        .patch(
            "/indexes/npm/settings",
            &json!({"searchableAttributes": ["name", "summary"], "filterableAttributes": ["major"],
                    "sortableAttributes": ["downloads"], "synonyms": {"js": ["javascript"]}}),
        )
        .await
        .unwrap();
    ca.wait_succeeded(&r).await.unwrap();
    let r = ca
        .post(
            "/indexes/npm/documents",
            &json!(npm_documents(5_000).unwrap()),
        )
        .await
        .unwrap();
    ca.wait_succeeded(&r).await.unwrap();
    let r = ca
        .post(
            "/indexes/movies/documents",
            &json!([{"id": 1, "title": "Alien"}, {"id": "three", "title": "Up"}]),
        )
        .await
        .unwrap();
    ca.wait_succeeded(&r).await.unwrap();
    let r = ca
        .post(
            "/keys",
            &json!({"uid": KEY_UID, "name": "shop-search", "actions": ["search"],
                    "indexes": ["npm"], "expiresAt": null}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.body);

    // The dump, as a node answers it: a 202 for a `dumpCreation` task that succeeds with a uid.
    let r = ca.post("/dumps", &json!(null)).await.unwrap();
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.body["type"], json!("dumpCreation"));
    assert_eq!(r.body["indexUid"], json!(null));
    let task = ca.wait_succeeded(&r).await.unwrap();
    let dump_uid = task["details"]["dumpUid"].as_str().unwrap().to_string();
    let path = a
        .options
        .dump_dir
        .as_ref()
        .unwrap()
        .join(format!("{dump_uid}.dump"));
    assert!(path.is_file(), "{}", path.display());
    let listed = miroirctl::import_source::DumpFile::open(&path).unwrap();
    assert_eq!(listed.dump_version, "V6");
    let counts: Vec<(&str, u64, Option<&str>)> = listed
        .indexes
        .iter()
        .map(|i| (i.uid.as_str(), i.count, i.primary_key.as_deref()))
        .collect();
    assert_eq!(
        counts,
        vec![("movies", 2, Some("id")), ("npm", 5_000, Some("id"))]
    );

    // Into a second cluster of another shape.
    let b = TestCluster::start(ClusterOptions {
        nodes: 2,
        shards: 3,
        replication_factor: 1,
        ..Default::default()
    })
    .await
    .unwrap();
    let cb = b.client();
    let dir = tempfile::tempdir().unwrap();
    let report = import(&options(
        SourceSpec::Dump { path },
        &b,
        dir.path().join("state.json"),
    ))
    .await
    .unwrap();
    print_speed("a cluster dump", &report);
    for (index, pk) in [("npm", "id"), ("movies", "id")] {
        assert_eq!(
            all_documents(&ca, index, pk).await,
            all_documents(&cb, index, pk).await,
            "{index}"
        );
        same_settings(&ca, &cb, index).await;
    }
    for q in [
        json!({"q": "react"}),
        json!({"q": "js", "filter": "major = 1"}),
        json!({"q": "", "sort": ["downloads:desc"]}),
    ] {
        same_answers(&ca, &cb, "npm", q).await;
    }
    let key = report.keys.iter().find(|k| k.uid == KEY_UID).unwrap();
    assert_eq!(key.outcome, "created", "{:?}", report.keys);
}
