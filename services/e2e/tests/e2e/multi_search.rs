//! Invariant: a multi-search through the cluster (3 nodes, 4 shards, RF 2), plain or federated,
//! answers what one node holding the same indexes answers: the same results in the same order
//! (documents tied on their score may trade places), the same totals and facets, the same errors;
//! a federated answer's shape is Meilisearch's, and the official Rust SDK reads both kinds.
#![allow(clippy::unwrap_used)]

use crate::search_corpora::{Setup, assert_error, hits, same_ranking};
use meilisearch_sdk::client::Client;
use meilisearch_sdk::key::{Action, KeyBuilder};
use meilisearch_sdk::search::{FederationOptions, MergeFacets, SearchQuery};
use serde::Deserialize;
use serde_json::{Value, json};

fn plain_key(hit: &Value) -> String {
    hit["id"].to_string()
}

fn plain_score(hit: &Value) -> f64 {
    hit["_rankingScore"].as_f64().unwrap_or(-1.0)
}

fn federated_key(hit: &Value) -> String {
    format!("{}/{}", hit["_federation"]["indexUid"], hit["id"])
}

fn federated_score(hit: &Value) -> f64 {
    hit["_federation"]["weightedRankingScore"]
        .as_f64()
        .unwrap_or(-1.0)
}

/// One plain multi-search, compared result by result.
async fn plain(setup: &Setup, body: Value, failures: &mut Vec<String>) {
    let (a, b) = setup.both("/multi-search", &body).await;
    let (Some(ra), Some(rb)) = (a["results"].as_array(), b["results"].as_array()) else {
        failures.push(format!("{body}: no results: {a} / {b}"));
        return;
    };
    if ra.len() != rb.len() {
        failures.push(format!("{body}: {} results vs {}", ra.len(), rb.len()));
        return;
    }
    for (i, (x, y)) in ra.iter().zip(rb).enumerate() {
        for key in [
            "indexUid",
            "query",
            "limit",
            "offset",
            "estimatedTotalHits",
            "page",
            "hitsPerPage",
            "totalHits",
            "totalPages",
            "facetDistribution",
            "facetStats",
        ] {
            if x.get(key) != y.get(key) {
                failures.push(format!(
                    "{body} result {i}: `{key}` {:?} vs {:?}",
                    x.get(key),
                    y.get(key)
                ));
            }
        }
        assert!(x["requestUid"].is_string(), "{x}");
        let cut = x["offset"].as_u64().unwrap_or(0) > 0 || x["page"].as_u64().unwrap_or(1) > 1;
        if let Err(e) = same_ranking(hits(x), hits(y), plain_key, plain_score, cut) {
            failures.push(format!("{body} result {i}: {e}"));
        }
    }
    let uids: Vec<&Value> = ra.iter().map(|r| &r["requestUid"]).collect();
    assert!(
        uids.windows(2).all(|w| w[0] == w[1]),
        "one requestUid for all results: {uids:?}"
    );
}

/// One federated multi-search, compared as a whole.
async fn federated(setup: &Setup, body: Value, failures: &mut Vec<String>) {
    let (a, b) = setup.both("/multi-search", &body).await;
    for key in [
        "limit",
        "offset",
        "estimatedTotalHits",
        "facetsByIndex",
        "facetDistribution",
        "facetStats",
    ] {
        if a.get(key) != b.get(key) {
            failures.push(format!(
                "{body}: `{key}` {:?} vs {:?}",
                a.get(key),
                b.get(key)
            ));
        }
    }
    assert!(
        a["requestUid"].is_string() && a["processingTimeMs"].is_u64(),
        "{a}"
    );
    let cut = a["offset"].as_u64().unwrap_or(0) > 0;
    if let Err(e) = same_ranking(hits(&a), hits(&b), federated_key, federated_score, cut) {
        failures.push(format!(
            "{body}: {e}\ncluster {}\nwhole {}",
            a["hits"], b["hits"]
        ));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_search_answers_as_one_node() {
    let setup = crate::search_corpora::start(&[]).await;
    let mut failures = Vec::new();

    // Plain: one result per query, in order.
    plain(
        &setup,
        json!({"queries": [
            {"indexUid": "npm", "q": "react", "limit": 5, "showRankingScore": true},
            {"indexUid": "movies", "q": "carol", "showRankingScore": true},
            {"indexUid": "npm", "q": "vue", "filter": "major > 1", "facets": ["major", "tags"], "page": 2, "hitsPerPage": 3, "showRankingScore": true},
            {"indexUid": "movies", "q": "", "sort": ["year:desc"], "offset": 2, "limit": 4, "showRankingScore": true},
            {"indexUid": "npm", "q": "parser eslint", "attributesToRetrieve": ["name"], "showRankingScore": true},
        ]}),
        &mut failures,
    )
    .await;
    plain(&setup, json!({"queries": []}), &mut failures).await;

    // Federated: weights, offset/limit, facets by index, merged facets.
    let react_carol = json!({"federation": {"limit": 5, "offset": 0}, "queries": [
        {"indexUid": "npm", "q": "react"},
        {"indexUid": "movies", "q": "carol", "federationOptions": {"weight": 2.0}},
    ]});
    federated(&setup, react_carol.clone(), &mut failures).await;
    for (offset, limit, weight) in [(0, 20, 1.0), (3, 7, 0.5), (10, 15, 1.2), (0, 40, 0.0)] {
        let body = json!({"federation": {"offset": offset, "limit": limit}, "queries": [
            {"indexUid": "npm", "q": "react router", "showRankingScore": true},
            {"indexUid": "movies", "q": "the react", "federationOptions": {"weight": weight}},
            {"indexUid": "movies", "q": "wonder", "filter": "year > 1990", "federationOptions": {"weight": 0.9}},
        ]});
        federated(&setup, body, &mut failures).await;
    }
    federated(
        &setup,
        json!({"federation": {"limit": 3, "facetsByIndex": {"npm": ["major"]}}, "queries": [{"indexUid": "npm", "q": "vue"}]}),
        &mut failures,
    )
    .await;
    federated(
        &setup,
        json!({"federation": {"limit": 6, "facetsByIndex": {"npm": ["tags", "major"], "movies": ["tags", "year"]}}, "queries": [
            {"indexUid": "npm", "q": "react"}, {"indexUid": "movies", "q": "react"},
        ]}),
        &mut failures,
    )
    .await;
    federated(
        &setup,
        json!({"federation": {"limit": 6, "facetsByIndex": {"npm": ["tags", "major"], "movies": ["tags", "year"]}, "mergeFacets": {}}, "queries": [
            {"indexUid": "npm", "q": "react"}, {"indexUid": "movies", "q": "react"},
        ]}),
        &mut failures,
    )
    .await;
    federated(
        &setup,
        json!({"federation": {}, "queries": []}),
        &mut failures,
    )
    .await;
    assert!(
        failures.is_empty(),
        "{} differences:\n{}",
        failures.len(),
        failures.join("\n")
    );

    // Merged facets come in Meilisearch's order (alphabetical by default) and are cut as asked.
    let r = setup
        .cluster()
        .post(
            "/multi-search",
            &json!({"federation": {"limit": 0, "facetsByIndex": {"npm": ["tags"], "movies": ["tags"]}, "mergeFacets": {"maxValuesPerFacet": 4}}, "queries": [
                {"indexUid": "npm", "q": "react"}, {"indexUid": "movies", "q": "react"},
            ]}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let tags: Vec<&String> = r.body["facetDistribution"]["tags"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(tags.len(), 4, "{}", r.body);
    assert!(tags.windows(2).all(|w| w[0] < w[1]), "{tags:?}");
    assert!(r.body.get("facetsByIndex").is_none(), "{}", r.body);

    // Page mode: the page is the slice offset/limit would give, with Meilisearch's totals.
    let queries = json!([{"indexUid": "npm", "q": "react"}, {"indexUid": "movies", "q": "react", "federationOptions": {"weight": 1.5}}]);
    let paged = setup
        .cluster()
        .post(
            "/multi-search",
            &json!({"federation": {"page": 2, "hitsPerPage": 3}, "queries": queries}),
        )
        .await
        .unwrap();
    let sliced = setup
        .whole()
        .post(
            "/multi-search",
            &json!({"federation": {"offset": 3, "limit": 3}, "queries": queries}),
        )
        .await
        .unwrap();
    assert_eq!(paged.status, 200, "{}", paged.body);
    same_ranking(
        hits(&paged.body),
        hits(&sliced.body),
        federated_key,
        federated_score,
        true,
    )
    .unwrap();
    let total = sliced.body["estimatedTotalHits"].as_u64().unwrap();
    assert_eq!(paged.body["totalHits"], json!(total));
    assert_eq!(paged.body["totalPages"], json!(total.div_ceil(3)));
    assert_eq!(
        (
            paged.body["page"].clone(),
            paged.body["hitsPerPage"].clone()
        ),
        (json!(2), json!(3))
    );
    assert!(paged.body.get("limit").is_none() && paged.body.get("estimatedTotalHits").is_none());

    // Two queries of one index: a document both find is listed once.
    let twice = setup
        .cluster()
        .post("/multi-search", &json!({"federation": {"limit": 50}, "queries": [{"indexUid": "npm", "q": "react"}, {"indexUid": "npm", "q": "react"}]}))
        .await
        .unwrap();
    let once = setup
        .whole()
        .post(
            "/multi-search",
            &json!({"federation": {"limit": 50}, "queries": [{"indexUid": "npm", "q": "react"}]}),
        )
        .await
        .unwrap();
    let ids: Vec<String> = hits(&twice.body).iter().map(federated_key).collect();
    let unique: std::collections::BTreeSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "duplicates in {ids:?}");
    same_ranking(
        hits(&twice.body),
        hits(&once.body),
        federated_key,
        federated_score,
        false,
    )
    .unwrap();
    assert!(
        hits(&twice.body)
            .iter()
            .all(|h| h["_federation"]["queriesPosition"] == json!(0)),
        "ties go to the first query"
    );

    // A federated answer, as a client sees it: hits of both indexes interleaved by weighted
    // score, `_federation` before the score fields.
    let snapshot = json!({"federation": {"limit": 6, "offset": 5}, "queries": [
        {"indexUid": "npm", "q": "react", "attributesToRetrieve": ["name"], "showRankingScore": true},
        {"indexUid": "movies", "q": "carol", "attributesToRetrieve": ["title"], "federationOptions": {"weight": 1.005}},
    ]});
    federated(&setup, snapshot.clone(), &mut failures).await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let r = setup
        .cluster()
        .post("/multi-search", &snapshot)
        .await
        .unwrap();
    insta::assert_json_snapshot!("federated_react_carol", r.body, {".processingTimeMs" => "[time]", ".requestUid" => "[uid]"});

    errors(&setup).await;
    sdk(&setup).await;
    tenant_token(&setup).await;
}

/// A tenant token's rules apply to every query: its filter narrows the query of its index, and a
/// query on an index it does not open refuses the whole request, naming the query.
async fn tenant_token(setup: &Setup) {
    let client = Client::new(
        setup.cluster.gateway_url(),
        setup.cluster.options.master_key.clone(),
    )
    .unwrap();
    let key = KeyBuilder::new()
        .with_action(Action::Search)
        .with_index("*")
        .execute(&client)
        .await
        .unwrap();
    let rules = json!({"npm": {"filter": "major = 1"}, "movies": null});
    let token = client
        .generate_tenant_token(key.uid.clone(), rules, Some(&key.key), None)
        .unwrap();
    let tenant = setup.cluster().with_key(Some(token.clone()));
    let body = json!({"federation": {"limit": 30}, "queries": [{"indexUid": "npm", "q": "react", "filter": "downloads > 100"}, {"indexUid": "movies", "q": "react"}]});
    let r = tenant.post("/multi-search", &body).await.unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let npm: Vec<&Value> = hits(&r.body)
        .iter()
        .filter(|h| h["_federation"]["indexUid"] == json!("npm"))
        .collect();
    assert!(
        !npm.is_empty() && npm.iter().all(|h| h["major"] == json!(1)),
        "{}",
        r.body
    );
    assert!(
        hits(&r.body)
            .iter()
            .any(|h| h["_federation"]["indexUid"] == json!("movies"))
    );
    let narrowed = setup
        .cluster()
        .post("/multi-search", &json!({"queries": [{"indexUid": "npm", "q": "react", "filter": ["downloads > 100", "major = 1"]}, {"indexUid": "movies", "q": "react"}]}))
        .await
        .unwrap();
    let r = tenant.post("/multi-search", &json!({"queries": [{"indexUid": "npm", "q": "react", "filter": "downloads > 100"}, {"indexUid": "movies", "q": "react"}]})).await.unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["results"][0]["estimatedTotalHits"],
        narrowed.body["results"][0]["estimatedTotalHits"]
    );
    let only_npm = client
        .generate_tenant_token(key.uid.clone(), json!(["npm"]), Some(&key.key), None)
        .unwrap();
    let r = setup
        .cluster()
        .with_key(Some(only_npm))
        .post(
            "/multi-search",
            &json!({"queries": [{"indexUid": "npm"}, {"indexUid": "movies"}]}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 403, "{}", r.body);
    assert_error(&r.body, "invalid_api_key");
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .starts_with("Inside `.queries[1]`: "),
        "{}",
        r.body
    );
    let r = tenant
        .post(
            "/indexes/npm/facet-search",
            &json!({"facetName": "tags", "facetQuery": "react"}),
        )
        .await
        .unwrap();
    let all = setup
        .cluster()
        .post(
            "/indexes/npm/facet-search",
            &json!({"facetName": "tags", "facetQuery": "react", "filter": "major = 1"}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        all.body["facetHits"]
            .as_array()
            .is_some_and(|h| !h.is_empty()),
        "{}",
        all.body
    );
    assert_eq!(
        r.body["facetHits"], all.body["facetHits"],
        "the token's filter narrows the facet counts"
    );
}

/// Errors: the same status, code and message as one node.
async fn errors(setup: &Setup) {
    let same = [
        // Recorded: an unknown index in the second query.
        json!({"queries": [{"indexUid": "npm", "q": "react"}, {"indexUid": "nope", "q": "x"}]}),
        json!({"federation": {}, "queries": [{"indexUid": "npm", "q": "react"}, {"indexUid": "nope", "q": "x"}]}),
        // A malformed parameter anywhere wins over an unknown index.
        json!({"queries": [{"indexUid": "nope"}, {"indexUid": "npm", "limit": "x"}]}),
        json!({"queries": [{"indexUid": "npm", "filter": "version = 1"}]}),
        json!({"queries": [{"indexUid": "npm", "sort": ["summary:asc"]}]}),
        json!({"queries": [{"indexUid": "npm"}, {"indexUid": "movies", "federationOptions": {"weight": 2}}]}),
        json!({"federation": {}, "queries": [{"indexUid": "npm", "limit": 3}]}),
        json!({"federation": {}, "queries": [{"indexUid": "npm", "facets": ["major"]}]}),
        json!({"federation": {}, "queries": [{"indexUid": "npm", "federationOptions": {"weight": -1}}]}),
        json!({"federation": {"limit": "x"}, "queries": []}),
        json!({"queries": [{"q": "glass"}]}),
        json!({"queries": [{"indexUid": "hé"}]}),
        json!({"queries": {}}),
        json!({}),
        json!([]),
    ];
    for body in same {
        let (a, b) = setup.both("/multi-search", &body).await;
        assert_eq!(a, b, "{body}");
        assert_error(&a, a["code"].as_str().unwrap());
    }
    // A facet of `facetsByIndex` that the index cannot compute.
    let r = setup
        .cluster()
        .post("/multi-search", &json!({"federation": {"facetsByIndex": {"npm": ["name"]}}, "queries": [{"indexUid": "npm", "q": "x"}]}))
        .await
        .unwrap();
    assert_eq!(r.status, 400, "{}", r.body);
    assert_error(&r.body, "invalid_search_facets");
    let message = r.body["message"].as_str().unwrap();
    assert!(
        message.starts_with("Inside `.federation.facetsByIndex.npm`: "),
        "{message}"
    );
    assert!(
        message.ends_with("\n - Note: index `npm` used in `.queries[0]`"),
        "{message}"
    );
    // An index named in `facetsByIndex` that no query uses must exist.
    let r = setup
        .cluster()
        .post("/multi-search", &json!({"federation": {"facetsByIndex": {"nope": ["x"]}}, "queries": [{"indexUid": "npm"}]}))
        .await
        .unwrap();
    assert_eq!(r.status, 400, "{}", r.body);
    assert_error(&r.body, "index_not_found");
    assert_eq!(
        r.body["message"],
        json!(
            "Inside `.federation.facetsByIndex.nope`: Index `nope` not found.\n - Note: index `nope` is not used in queries"
        )
    );
    let r = setup
        .cluster()
        .post(
            "/multi-search",
            &json!({"federation": {"limt": 1}, "queries": []}),
        )
        .await
        .unwrap();
    assert_error(&r.body, "invalid_multi_search_federated");
}

#[derive(Debug, Deserialize)]
struct Named {
    id: u64,
}

/// The official SDK, plain and federated.
async fn sdk(setup: &Setup) {
    let client = Client::new(
        setup.cluster.gateway_url(),
        setup.cluster.options.master_key.clone(),
    )
    .unwrap();
    let npm = client.index("npm");
    let movies = client.index("movies");
    let plain = client
        .multi_search()
        .with_search_query(
            SearchQuery::new(&npm)
                .with_query("react")
                .with_limit(3)
                .build(),
        )
        .with_search_query(SearchQuery::new(&movies).with_query("carol").build())
        .execute::<Named>()
        .await
        .unwrap();
    assert_eq!(plain.results.len(), 2);
    let raw = setup
        .cluster()
        .post("/multi-search", &json!({"queries": [{"indexUid": "npm", "q": "react", "limit": 3}, {"indexUid": "movies", "q": "carol"}]}))
        .await
        .unwrap();
    for (typed, raw) in plain
        .results
        .iter()
        .zip(raw.body["results"].as_array().unwrap())
    {
        let ids: Vec<u64> = typed.hits.iter().map(|h| h.result.id).collect();
        let raw_ids: Vec<u64> = hits(raw)
            .iter()
            .map(|h| h["id"].as_u64().unwrap())
            .collect();
        assert_eq!(ids, raw_ids);
        assert_eq!(typed.index_uid.as_deref(), raw["indexUid"].as_str());
    }

    let federation = FederationOptions {
        limit: Some(5),
        facets_by_index: Some(
            [
                ("npm".to_string(), vec!["tags".to_string()]),
                ("movies".to_string(), vec!["tags".to_string()]),
            ]
            .into(),
        ),
        merge_facets: Some(MergeFacets {
            max_values_per_facet: Some(3),
        }),
        ..Default::default()
    };
    let mut queries = client.multi_search();
    queries
        .with_search_query(SearchQuery::new(&npm).with_query("react").build())
        .with_search_query_and_weight(SearchQuery::new(&movies).with_query("carol").build(), 2.0);
    let federated = queries
        .with_federation(federation)
        .execute::<Named>()
        .await
        .unwrap();
    assert_eq!((federated.limit, federated.offset), (5, 0));
    assert_eq!(federated.hits.len(), 5);
    let first = federated.hits[0].federation.as_ref().unwrap();
    assert_eq!(
        (first.index_uid.as_str(), first.queries_position),
        ("movies", 1)
    );
    assert!(first.weighted_ranking_score > 1.9, "{first:?}");
    assert_eq!(federated.facet_distribution.unwrap()["tags"].len(), 3);
}
