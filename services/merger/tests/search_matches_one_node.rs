//! Invariant: a search over an index striped on 4 shards (RF 2 over 3 nodes) answers what one node holding every document answers: same hits in the same order (up to exactly tied documents), same scores, totals, pages, facets and facet stats.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Cluster, load_index, npm_settings};
use miroir_testkit::{npm_documents, start_nodes};
use serde_json::{Map, Value, json};

const DOCS: usize = 2000;

fn queries() -> Vec<Value> {
    vec![
        json!({"q": "react"}),
        json!({"q": "react router", "limit": 5, "showRankingScore": true}),
        json!({"q": "plugin", "offset": 10, "limit": 5}),
        json!({"q": "plugin", "page": 2, "hitsPerPage": 5}),
        json!({"q": "react", "page": 3, "hitsPerPage": 7, "showRankingScore": true}),
        json!({"q": "recat compnent", "limit": 5, "showRankingScore": true}),
        json!({"q": "azure", "filter": "major >= 1 AND downloads > 1000", "limit": 10}),
        json!({"q": "", "filter": [["scope = types", "scope = babel"], "major > 5"], "limit": 10}),
        json!({"q": "vue", "facets": ["scope", "major"], "limit": 2}),
        json!({"q": "", "facets": ["major", "downloads", "tags"], "limit": 0}),
        json!({"q": "eslint", "sort": ["downloads:desc"], "limit": 5, "showRankingScore": true}),
        json!({"q": "", "sort": ["downloads:desc", "id:asc"], "offset": 7, "limit": 30}),
        json!({"q": "", "sort": ["name:asc"], "page": 4, "hitsPerPage": 9, "filter": "major = 1"}),
        json!({"q": "webpack", "attributesToRetrieve": ["name", "downloads"], "limit": 4}),
        json!({"q": "webpack loader", "attributesToHighlight": ["summary"], "limit": 3}),
        json!({"q": "react native camera", "matchingStrategy": "all", "limit": 3}),
        json!({"q": "types", "distinct": "scope", "limit": 5}),
        json!({"q": "", "offset": 995, "limit": 10}),
    ]
}

/// The hit window `[start, end)` a request asks for.
fn window(request: &Value) -> (u64, u64) {
    let get = |k: &str, d: u64| request.get(k).and_then(Value::as_u64).unwrap_or(d);
    if request.get("page").is_some() || request.get("hitsPerPage").is_some() {
        let (page, per) = (get("page", 1), get("hitsPerPage", 20));
        ((page - 1) * per, page * per)
    } else {
        (get("offset", 0), get("offset", 0) + get("limit", 20))
    }
}

fn approx_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => (x - y).abs() <= 1e-9,
            _ => x == y,
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| approx_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| approx_eq(v, w)))
        }
        _ => a == b,
    }
}

fn keys(v: &Value) -> Vec<&String> {
    v.as_object()
        .map(|o| o.keys().collect())
        .unwrap_or_default()
}

/// Everything but the hits is equal; hits agree position by position on their ranking (details
/// and score) and on their fields, and on their identity except inside a run of exactly tied
/// hits (any order is right there), where the sets must agree unless the page cuts the run.
/// Wherever a run is cut, each merged hit must still be one the node ranks exactly there:
/// `whole` is the node's answer for the first 1000 hits, in which it is looked up.
fn assert_equivalent(request: &Value, merged: &Value, single: &Value, whole: &Value) {
    let name = request.to_string();
    assert_eq!(keys(merged), keys(single), "{name}: top-level keys");
    for key in keys(single) {
        if ["hits", "processingTimeMs", "requestUid"].contains(&key.as_str()) {
            continue;
        }
        // With `distinct`, each shard counts its own distinct values and a value present on
        // several shards is counted by each: the merged total is an over-estimate (a known
        // limit of the merge, reported).
        let total = ["estimatedTotalHits", "totalHits", "totalPages"].contains(&key.as_str());
        if total && request.get("distinct").is_some() {
            assert!(
                merged[key].as_u64() >= single[key].as_u64(),
                "{name}: `{key}` under-estimated"
            );
            continue;
        }
        assert!(
            approx_eq(&merged[key], &single[key]),
            "{name}: `{key}` differs:\n{}\n{}",
            merged[key],
            single[key]
        );
    }
    let (m, s) = (
        merged["hits"].as_array().unwrap(),
        single["hits"].as_array().unwrap(),
    );
    assert_eq!(m.len(), s.len(), "{name}: number of hits");
    let rank = |h: &Value| json!([h["_rankingScoreDetails"], h["_rankingScore"]]);
    for (i, (a, b)) in m.iter().zip(s).enumerate() {
        assert_eq!(keys(a), keys(b), "{name}: fields of hit {i}");
        assert!(
            approx_eq(&rank(a), &rank(b)),
            "{name}: ranking of hit {i}:\n{}\n{}",
            rank(a),
            rank(b)
        );
    }
    let total = ["estimatedTotalHits", "totalHits"]
        .iter()
        .find_map(|k| single[*k].as_u64())
        .unwrap();
    let (start, end) = window(request);
    let mut at = 0;
    while at < s.len() {
        let run_end = (at..s.len())
            .find(|&j| rank(&s[j]) != rank(&s[at]))
            .unwrap_or(s.len());
        let cut_at_start = at == 0 && start > 0;
        let cut_at_end = run_end == s.len() && total.min(1000) > end.min(1000);
        if !(cut_at_start || cut_at_end) {
            let ids = |h: &[Value]| {
                let mut v: Vec<String> = h
                    .iter()
                    .map(|x| serde_json::to_string(&identity(request, x)).unwrap())
                    .collect();
                v.sort();
                v
            };
            assert_eq!(
                ids(&m[at..run_end]),
                ids(&s[at..run_end]),
                "{name}: hits {at}..{run_end}"
            );
        }
        at = run_end;
    }
    let whole_hits = whole["hits"].as_array().unwrap();
    let complete = whole_hits.len() as u64 == total;
    let last_rank = whole_hits.last().map(rank);
    let mut seen = std::collections::HashSet::new();
    for (i, hit) in m.iter().enumerate() {
        let id = serde_json::to_string(&identity(request, hit)).unwrap();
        assert!(seen.insert(id.clone()), "{name}: hit {i} returned twice");
        let ranked_there = whole_hits.iter().any(|w| {
            approx_eq(&rank(w), &rank(hit))
                && serde_json::to_string(&identity(request, w)).unwrap() == id
        });
        // A tie run that reaches the end of what the node shows may go on beyond it.
        let beyond = !complete && last_rank.as_ref().is_some_and(|l| approx_eq(l, &rank(hit)));
        assert!(
            ranked_there || beyond,
            "{name}: hit {i} {id} is not one the node ranks at {}",
            rank(hit)
        );
    }
}

/// A hit's identity: its fields without the ranking (`id` is not always retrieved). With
/// `distinct`, which one of several exactly tied documents sharing a value represents it is
/// arbitrary (the first in each engine's own order), so the value is the identity.
fn identity(request: &Value, hit: &Value) -> Map<String, Value> {
    if let Some(attribute) = request["distinct"].as_str()
        && !hit[attribute].is_null()
    {
        return Map::from_iter([(attribute.to_owned(), hit[attribute].clone())]);
    }
    hit.as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| !k.starts_with("_ranking"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The index striped over nodes 0-2 (4 shards, RF 2) and whole on node 3, merger started.
async fn setup() -> (Cluster, Vec<miroir_testkit::Node>) {
    let nodes = start_nodes(4).await.unwrap();
    let mut cluster = Cluster::start().await.unwrap();
    cluster.put_nodes(&nodes[..3]).await.unwrap();
    let docs = npm_documents(DOCS).unwrap();
    let settings = npm_settings();
    let placement: &[&[usize]] = &[&[0, 1], &[1, 2], &[2, 0], &[0, 1]];
    let reference = nodes[3].client();
    let (sharded, single) = tokio::join!(
        cluster.create_index(&nodes, "npm", placement, &settings, &docs),
        load_index(&reference, "npm", &settings, &docs),
    );
    sharded.unwrap();
    single.unwrap();
    cluster.start_merger(cluster.config()).await.unwrap();
    (cluster, nodes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharded_search_equals_one_node() {
    let (cluster, nodes) = setup().await;
    let reference = nodes[3].client();
    for request in queries() {
        // With the details, hits can be compared rule by rule; without, the shapes must agree.
        let mut detailed = request.clone();
        detailed["showRankingScoreDetails"] = json!(true);
        for body in [detailed, request.clone()] {
            let one = reference.post("/indexes/npm/search", &body).await.unwrap();
            assert_eq!(one.status, 200, "{body}: {}", one.body);
            let merged = cluster
                .search("npm", &body)
                .await
                .map_err(|e| format!("{body}: {e}"))
                .unwrap();
            if body.get("showRankingScoreDetails").is_some() {
                let mut whole_request = body.clone();
                for key in ["page", "hitsPerPage", "offset"] {
                    whole_request.as_object_mut().unwrap().remove(key);
                }
                whole_request["limit"] = json!(1000);
                let whole = reference
                    .post("/indexes/npm/search", &whole_request)
                    .await
                    .unwrap()
                    .body;
                assert_equivalent(&body, &merged, &one.body, &whole);
            } else {
                assert_eq!(keys(&merged), keys(&one.body), "{body}");
                let shape = |v: &Value| {
                    v["hits"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|h| keys(h).len())
                        .collect::<Vec<_>>()
                };
                assert_eq!(shape(&merged), shape(&one.body), "{body}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processing_time_and_request_uid_are_the_mergers_own() {
    let nodes = start_nodes(2).await.unwrap();
    let mut cluster = Cluster::start().await.unwrap();
    cluster.put_nodes(&nodes).await.unwrap();
    let docs = npm_documents(200).unwrap();
    cluster
        .create_index(&nodes, "npm", &[&[0], &[1]], &npm_settings(), &docs)
        .await
        .unwrap();
    cluster.start_merger(cluster.config()).await.unwrap();
    let a = cluster.search("npm", &json!({"q": "react"})).await.unwrap();
    let b = cluster.search("npm", &json!({"q": "react"})).await.unwrap();
    assert!(a["processingTimeMs"].is_u64());
    if let (Some(x), Some(y)) = (a["requestUid"].as_str(), b["requestUid"].as_str()) {
        assert_ne!(x, y, "each answer gets its own requestUid");
        assert!(uuid::Uuid::parse_str(x).is_ok());
    }
    assert_eq!(a["hits"], b["hits"]);
}

/// More matches than `maxTotalHits` in page mode: like Meilisearch 1.50 (meilisearch#6482), the
/// totals count every match, on one node and through the cluster alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_totals_beyond_max_total_hits() {
    let (cluster, nodes) = setup().await;
    let body = json!({"q": "", "filter": "major < 3", "page": 2, "hitsPerPage": 10});
    let one = nodes[3]
        .client()
        .post("/indexes/npm/search", &body)
        .await
        .unwrap()
        .body;
    let merged = cluster.search("npm", &body).await.unwrap();
    assert_eq!(
        (&merged["totalHits"], &merged["totalPages"]),
        (&one["totalHits"], &one["totalPages"])
    );
}
