//! Invariant: count-ordered facets over an index striped on 4 shards have the counts, order and
//! cut one node holding every document gives, although each shard lists only its own
//! `maxValuesPerFacet` most frequent values (the merger asks the shards that cut a value for
//! its count in a second round).
#![allow(clippy::unwrap_used)]

mod common;

use common::{Cluster, load_index, npm_settings};
use miroir_testkit::{npm_documents, start_nodes};
use serde_json::{Value, json};

const DOCS: usize = 2000;

fn settings() -> Value {
    let mut s = npm_settings();
    s["faceting"] = json!({"maxValuesPerFacet": 4, "sortFacetValuesBy": {"*": "count"}});
    s
}

/// Requests, and whether the lists must equal one node's. Every listed count must be exact; a
/// value that no shard listed (each shard's list full, and the value below every shard's cut)
/// can be missing from the merged list: the documented bound (docs/architecture.md), which the
/// fourth request meets (ties of 1 cut on every shard hide a value counted twice overall).
fn queries() -> Vec<(Value, bool)> {
    vec![
        (
            json!({"q": "", "facets": ["tags", "scope", "major"], "limit": 0}),
            true,
        ),
        (
            json!({"q": "react", "facets": ["tags", "major"], "limit": 3}),
            true,
        ),
        (
            json!({"q": "", "facets": ["tags"], "filter": "major >= 1", "limit": 0}),
            true,
        ),
        (
            json!({"q": "plugin", "facets": ["tags", "scope"], "filter": ["major < 5"], "limit": 2}),
            false,
        ),
        (
            json!({"q": "", "facets": ["tags"], "filter": "scope = types OR scope = babel", "limit": 0}),
            true,
        ),
        (json!({"q": "azure", "facets": ["*"], "limit": 0}), false),
    ]
}

/// One node's count of the candidates of `request` with `facet = value`.
async fn true_count(
    reference: &miroir_testkit::MeiliClient,
    request: &Value,
    facet: &str,
    value: &str,
) -> u64 {
    let mut r = request.clone();
    let condition = json!(format!("{facet} = \"{value}\""));
    r["filter"] = match r.get("filter") {
        None => condition,
        Some(Value::Array(all)) => {
            let mut all = all.clone();
            all.push(condition);
            Value::Array(all)
        }
        Some(f) => json!([f, condition]),
    };
    r["limit"] = json!(0);
    r.as_object_mut().unwrap().remove("facets");
    let answer = reference.post("/indexes/npm/search", &r).await.unwrap();
    assert_eq!(answer.status, 200, "{r}: {}", answer.body);
    answer.body["estimatedTotalHits"].as_u64().unwrap()
}

/// Same facets; per facet the same counts in the same order, every value listed by both with the
/// same count. Values may differ only where counts tie (engines order ties differently: the
/// stand-in smaller value first, the merge as milli's heap does, larger first), and such a value
/// must have its true count: the tied count.
fn assert_same_distribution(request: &Value, merged: &Value, single: &Value) {
    let (m, s) = (merged.as_object().unwrap(), single.as_object().unwrap());
    assert_eq!(
        m.keys().collect::<Vec<_>>(),
        s.keys().collect::<Vec<_>>(),
        "{request}"
    );
    for (facet, values) in s {
        let (mv, sv) = (m[facet].as_object().unwrap(), values.as_object().unwrap());
        let counts = |o: &serde_json::Map<String, Value>| {
            o.values().map(|c| c.as_u64().unwrap()).collect::<Vec<_>>()
        };
        assert_eq!(
            counts(mv),
            counts(sv),
            "{request}: counts of `{facet}`:\n{mv:?}\n{sv:?}"
        );
        for (value, count) in mv {
            match sv.get(value) {
                Some(c) => assert_eq!(count, c, "{request}: `{facet}` = `{value}`"),
                None => assert!(
                    sv.values().filter(|c| *c == count).count() > 1
                        || sv.values().next_back() == Some(count),
                    "{request}: `{facet}` = `{value}` ({count}) is not tied with a listed value: {sv:?}"
                ),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn count_ordered_facets_equal_one_nodes() {
    let nodes = start_nodes(4).await.unwrap();
    let mut cluster = Cluster::start().await.unwrap();
    cluster.put_nodes(&nodes[..3]).await.unwrap();
    let docs = npm_documents(DOCS).unwrap();
    let placement: &[&[usize]] = &[&[0, 1], &[1, 2], &[2, 0], &[0, 1]];
    let reference = nodes[3].client();
    let settings = settings();
    let (sharded, single) = tokio::join!(
        cluster.create_index(&nodes, "npm", placement, &settings, &docs),
        load_index(&reference, "npm", &settings, &docs),
    );
    sharded.unwrap();
    single.unwrap();
    cluster.start_merger(cluster.config()).await.unwrap();
    for (request, whole_list) in queries() {
        let one = reference
            .post("/indexes/npm/search", &request)
            .await
            .unwrap();
        assert_eq!(one.status, 200, "{request}: {}", one.body);
        let merged = cluster.search("npm", &request).await.unwrap();
        assert_eq!(
            merged["estimatedTotalHits"], one.body["estimatedTotalHits"],
            "{request}"
        );
        for (facet, values) in merged["facetDistribution"].as_object().unwrap() {
            for (value, count) in values.as_object().unwrap() {
                assert_eq!(
                    count.as_u64().unwrap(),
                    true_count(&reference, &request, facet, value).await,
                    "{request}: count of `{facet}` = `{value}`"
                );
            }
        }
        if whole_list {
            assert_same_distribution(
                &request,
                &merged["facetDistribution"],
                &one.body["facetDistribution"],
            );
        }
    }
}
