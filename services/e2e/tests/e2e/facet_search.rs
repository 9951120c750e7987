//! Invariant: a facet search through the cluster (3 nodes, 4 shards, RF 2) answers what one node
//! holding the whole index answers: the same values with the same counts in the same order, cut
//! at the index's `maxValuesPerFacet`, and the same errors; the official Rust SDK reads it.
#![allow(clippy::unwrap_used)]

use crate::search_corpora::{Setup, assert_error, npm_settings};
use meilisearch_sdk::client::Client;
use serde_json::{Value, json};

/// npm's settings with `extra` on top.
fn npm_with(extra: Value) -> Value {
    let mut s = npm_settings();
    for (k, v) in extra.as_object().unwrap() {
        s[k] = v.clone();
    }
    s
}

fn values(answer: &Value) -> Vec<(String, u64)> {
    answer["facetHits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["value"].as_str().unwrap().to_owned(),
                h["count"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facet_search_answers_as_one_node() {
    let small = npm_with(json!({"faceting": {"maxValuesPerFacet": 5}}));
    let by_count = npm_with(json!({"faceting": {"sortFacetValuesBy": {"tags": "count"}}}));
    let setup =
        crate::search_corpora::start(&[("npm_small", small), ("npm_count", by_count)]).await;

    let cases = [
        // Recorded.
        (
            "npm",
            json!({"facetName": "scope", "facetQuery": "typ", "q": "", "filter": "major > 0"}),
        ),
        ("npm", json!({"facetName": "tags"})),
        ("npm", json!({"facetName": "tags", "facetQuery": "re"})),
        (
            "npm",
            json!({"facetName": "tags", "facetQuery": "comp", "q": "react"}),
        ),
        ("npm", json!({"facetName": "tags", "facetQuery": "raect"})),
        (
            "npm",
            json!({"facetName": "scope", "q": "types", "matchingStrategy": "all"}),
        ),
        (
            "npm",
            json!({"facetName": "tags", "facetQuery": "p", "attributesToSearchOn": ["name"], "q": "plugin"}),
        ),
        (
            "npm",
            json!({"facetName": "tags", "facetQuery": "s", "filter": ["major = 1", "downloads > 1000"], "exhaustiveFacetCount": true}),
        ),
        (
            "npm",
            json!({"facetName": "scope", "facetQuery": "nothing-like-this"}),
        ),
        ("movies", json!({"facetName": "genres", "q": "carol"})),
        ("movies", json!({"facetName": "tags", "facetQuery": "c"})),
        // The index's own limit cuts the merged values.
        ("npm_small", json!({"facetName": "tags"})),
        ("npm_small", json!({"facetName": "tags", "facetQuery": "c"})),
    ];
    let mut failures = Vec::new();
    let mut with_values = 0;
    for (uid, body) in &cases {
        let path = format!("/indexes/{uid}/facet-search");
        let (a, b) = setup.both(&path, body).await;
        if values(&a) != values(&b) || a["facetQuery"] != b["facetQuery"] {
            failures.push(format!("{uid} {body}:\ncluster {a}\nwhole   {b}"));
        }
        assert!(a["processingTimeMs"].is_u64(), "{a}");
        with_values += usize::from(!values(&a).is_empty());
    }
    assert!(
        failures.is_empty(),
        "{} differences:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        with_values >= cases.len() - 1,
        "only {with_values} cases found values"
    );
    let cut = setup
        .cluster()
        .post(
            "/indexes/npm_small/facet-search",
            &json!({"facetName": "tags"}),
        )
        .await
        .unwrap();
    assert_eq!(values(&cut.body).len(), 5);

    // Count order: the same values and counts, by count descending (ties: the larger value
    // first, as milli's heap gives them).
    for body in [
        json!({"facetName": "tags", "facetQuery": "rea"}),
        json!({"facetName": "tags", "facetQuery": "co", "q": "vue"}),
    ] {
        let (a, b) = setup.both("/indexes/npm_count/facet-search", &body).await;
        let (mut va, mut vb) = (values(&a), values(&b));
        assert!(
            va.len() < 100,
            "{body}: the limit would make ties at the cut ambiguous"
        );
        assert!(
            va.windows(2)
                .all(|w| w[0].1 > w[1].1 || (w[0].1 == w[1].1 && w[0].0 > w[1].0)),
            "{body}: {va:?}"
        );
        va.sort();
        vb.sort();
        assert_eq!(va, vb, "{body}");
    }

    errors(&setup).await;

    // The official SDK.
    let client = Client::new(
        setup.cluster.gateway_url(),
        setup.cluster.options.master_key.clone(),
    )
    .unwrap();
    let index = client.index("npm");
    let typed = index
        .facet_search("scope")
        .with_facet_query("typ")
        .with_filter("major > 0")
        .execute()
        .await
        .unwrap();
    let raw = setup
        .whole()
        .post(
            "/indexes/npm/facet-search",
            &json!({"facetName": "scope", "facetQuery": "typ", "filter": "major > 0"}),
        )
        .await
        .unwrap();
    let typed: Vec<(String, u64)> = typed
        .facet_hits
        .iter()
        .map(|h| (h.value.clone(), h.count as u64))
        .collect();
    assert_eq!(typed, values(&raw.body));
}

async fn errors(setup: &Setup) {
    // The same status, code and message as one node.
    let same = [
        // Recorded.
        ("npm", json!({"facetName": "name", "facetQuery": "x"})),
        ("npm", json!({"facetQuery": "x"})),
        ("npm", json!({"facetName": "tags", "filter": "version = 1"})),
        ("npm", json!({"facetName": "tags", "facetQuery": 3})),
        ("npm", json!({"facetName": "tags", "other": true})),
        ("npm", json!([])),
        ("nope", json!({"facetName": "tags"})),
    ];
    for (uid, body) in same {
        let (a, b) = setup
            .both(&format!("/indexes/{uid}/facet-search"), &body)
            .await;
        assert_eq!(a, b, "{uid} {body}");
        assert_error(&a, a["code"].as_str().unwrap());
    }
    let r = setup
        .cluster()
        .post(
            "/indexes/npm/facet-search",
            &json!({"facetName": "name", "facetQuery": "x"}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 400);
    assert_error(&r.body, "invalid_facet_search_facet_name");
}
