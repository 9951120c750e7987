//! Invariant: a search through the cluster (3 nodes, 4 shards, RF 2) answers exactly what one
//! node holding the whole corpus answers: the same hits in the same order (documents tied on
//! every ranking rule may trade places), the same scores and details, totals and facets. Corpora
//! and queries are generated (keywords with typos, filters, facets, sort, both pagination styles).
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use miroir_e2e::{ClusterOptions, TestCluster};
use miroir_testkit::{MeiliClient, NodeOptions, start_node};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};

const VOCAB: &[&str] = &[
    "react",
    "router",
    "vue",
    "component",
    "library",
    "plugin",
    "webpack",
    "loader",
    "eslint",
    "config",
    "parser",
    "markdown",
    "server",
    "client",
    "http",
    "stream",
    "types",
    "cli",
    "test",
    "runner",
    "async",
    "cache",
];
const CATS: &[&str] = &["tools", "web", "data", "infra", "misc"];

fn document(id: usize) -> impl Strategy<Value = Value> {
    (
        prop::collection::vec(prop::sample::select(VOCAB), 1..6),
        prop::collection::vec(prop::sample::select(VOCAB), 0..4),
        0u32..60,
        prop::sample::select(CATS),
        prop::bool::weighted(0.1),
    )
        .prop_map(move |(title, tags, price, cat, null_price)| {
            json!({
                "id": id,
                "title": title.join(" "),
                "tags": tags,
                "price": if null_price { Value::Null } else { json!(price) },
                "cat": cat,
            })
        })
}

fn corpus() -> impl Strategy<Value = Vec<Value>> {
    (40usize..220).prop_flat_map(|n| (0..n).map(document).collect::<Vec<_>>())
}

fn typo(word: &str, kind: u8) -> String {
    let mut w: Vec<char> = word.chars().collect();
    if w.len() >= 5 {
        match kind % 3 {
            0 => w.swap(1, 2),
            1 => {
                w.remove(2);
            }
            _ => w[1] = 'x',
        }
    }
    w.into_iter().collect()
}

fn query() -> impl Strategy<Value = Value> {
    let words = prop::collection::vec(
        (
            prop::sample::select(VOCAB),
            prop::bool::weighted(0.2),
            any::<u8>(),
        ),
        0..3,
    );
    let filter = prop::option::weighted(
        0.4,
        prop_oneof![
            prop::sample::select(CATS).prop_map(|c| json!(format!("cat = {c}"))),
            (0u32..60).prop_map(|p| json!(format!("price > {p}"))),
            (0u32..30, 30u32..60).prop_map(|(a, b)| json!(format!("price {a} TO {b}"))),
            prop::sample::select(VOCAB).prop_map(|t| json!([[format!("tags = {t}"), "cat = web"]])),
            Just(json!("price IS NULL OR cat IN [tools, data]")),
        ],
    );
    let sort = prop::option::weighted(
        0.35,
        prop::sample::select(vec![
            json!(["price:asc"]),
            json!(["price:desc"]),
            json!(["title:asc"]),
        ]),
    );
    let facets = prop::bool::weighted(0.4);
    let paging = prop_oneof![
        (0usize..30, 0usize..25).prop_map(|(o, l)| json!({"offset": o, "limit": l})),
        (1usize..5, 1usize..12).prop_map(|(p, h)| json!({"page": p, "hitsPerPage": h})),
    ];
    (words, filter, sort, facets, paging).prop_map(|(words, filter, sort, facets, paging)| {
        let q: Vec<String> = words
            .into_iter()
            .map(|(w, t, k)| if t { typo(w, k) } else { w.to_string() })
            .collect();
        let mut body =
            json!({"q": q.join(" "), "showRankingScore": true, "showRankingScoreDetails": true});
        let obj = body.as_object_mut().unwrap();
        if let Some(f) = filter {
            obj.insert("filter".into(), f);
        }
        if let Some(s) = sort {
            obj.insert("sort".into(), s);
        }
        if facets {
            obj.insert("facets".into(), json!(["cat", "tags", "price"]));
        }
        for (k, v) in paging.as_object().unwrap() {
            obj.insert(k.clone(), v.clone());
        }
        body
    })
}

async fn load(client: &MeiliClient, uid: &str, docs: &[Value]) {
    let r = client
        .post("/indexes", &json!({"uid": uid, "primaryKey": "id"}))
        .await
        .unwrap();
    client.wait_succeeded(&r).await.unwrap();
    let settings = json!({
        "searchableAttributes": ["title", "tags"],
        "filterableAttributes": ["cat", "price", "tags"],
        "sortableAttributes": ["price", "title"],
    });
    let r = client
        .patch(&format!("/indexes/{uid}/settings"), &settings)
        .await
        .unwrap();
    client.wait_succeeded(&r).await.unwrap();
    let r = client
        .post(&format!("/indexes/{uid}/documents"), &json!(docs))
        .await
        .unwrap();
    client.wait_succeeded(&r).await.unwrap();
}

fn id_of(hit: &Value) -> String {
    hit["id"].to_string()
}

/// Compare one answer of the cluster with the single node's.
fn same_answer(query: &Value, cluster: &Value, whole: &Value) -> Result<(), String> {
    for key in [
        "estimatedTotalHits",
        "totalHits",
        "totalPages",
        "page",
        "hitsPerPage",
        "offset",
        "limit",
        "facetDistribution",
        "facetStats",
        "query",
    ] {
        if cluster.get(key) != whole.get(key) {
            return Err(format!(
                "`{key}` differs: cluster {:?} whole {:?}",
                cluster.get(key),
                whole.get(key)
            ));
        }
    }
    let (Some(a), Some(b)) = (cluster["hits"].as_array(), whole["hits"].as_array()) else {
        return Err("no hits array".into());
    };
    if a.len() != b.len() {
        return Err(format!("{} hits vs {}", a.len(), b.len()));
    }
    for (x, y) in a.iter().zip(b) {
        if x["_rankingScoreDetails"] != y["_rankingScoreDetails"] {
            return Err(format!(
                "details differ at {}: {} vs {}",
                id_of(x),
                x["_rankingScoreDetails"],
                y["_rankingScoreDetails"]
            ));
        }
        let (sx, sy) = (
            x["_rankingScore"].as_f64().unwrap_or(-1.0),
            y["_rankingScore"].as_f64().unwrap_or(-2.0),
        );
        if (sx - sy).abs() > 1e-12 {
            return Err(format!("scores differ: {sx} vs {sy}"));
        }
    }
    // Documents tied on every rule may trade places; the groups cut by the page's edges may
    // even hold other tied documents. Whole groups inside the page must hold the same documents.
    let mut start = 0;
    while start < a.len() {
        let mut end = start + 1;
        while end < a.len() && a[end]["_rankingScoreDetails"] == a[start]["_rankingScoreDetails"] {
            end += 1;
        }
        let inner = start > 0 && end < a.len();
        if inner {
            let ia: BTreeSet<String> = a[start..end].iter().map(id_of).collect();
            let ib: BTreeSet<String> = b[start..end].iter().map(id_of).collect();
            if ia != ib {
                return Err(format!("tie group {start}..{end} holds {ia:?} vs {ib:?}"));
            }
        }
        start = end;
    }
    let _ = query;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharded_search_equals_one_big_index() {
    let cluster = TestCluster::start(ClusterOptions::default()).await.unwrap();
    let gateway = cluster.client();
    let single = start_node(NodeOptions::default()).await.unwrap();
    let whole = single.client();

    let mut runner = TestRunner::new(Config {
        cases: 8,
        failure_persistence: None,
        ..Config::default()
    });
    let mut checked = 0;
    let (mut with_hits, mut with_facets, mut with_ties_moved) = (0, 0, 0);
    let mut failures = Vec::new();
    for case in 0..8 {
        let docs = corpus().new_tree(&mut runner).unwrap().current();
        let uid = format!("corpus{case}");
        load(&gateway, &uid, &docs).await;
        load(&whole, &uid, &docs).await;
        for _ in 0..40 {
            let q = query().new_tree(&mut runner).unwrap().current();
            let path = format!("/indexes/{uid}/search");
            let a = gateway.post(&path, &q).await.unwrap();
            let b = whole.post(&path, &q).await.unwrap();
            assert_eq!(a.status, b.status, "query {q}: {} vs {}", a.body, b.body);
            if a.status == 200 {
                if a.body["hits"].as_array().is_some_and(|h| !h.is_empty()) {
                    with_hits += 1;
                }
                if a.body["facetDistribution"]
                    .as_object()
                    .is_some_and(|f| !f.is_empty())
                {
                    with_facets += 1;
                }
                if a.body["hits"] != b.body["hits"] {
                    with_ties_moved += 1;
                }
                if let Err(e) = same_answer(&q, &a.body, &b.body) {
                    failures.push(format!("{uid} {q}: {e}"));
                }
            }
            checked += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} queries differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // The generated queries must exercise the merge, not pass vacuously.
    assert!(
        with_hits * 2 > checked,
        "only {with_hits} of {checked} queries found anything"
    );
    assert!(
        with_facets * 5 > checked,
        "only {with_facets} of {checked} queries asked for facets"
    );
    eprintln!(
        "{checked} queries: {with_hits} with hits, {with_facets} with facets, {with_ties_moved} with tied documents in another order"
    );
}
