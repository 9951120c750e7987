#![allow(clippy::unwrap_used)]
use super::*;
use miroir_proto::rpc_search::MergeFacets;
use serde_json::json;

fn details(matching: u64, max: u64) -> Value {
    json!({"words": {"order": 0, "matchingWords": matching, "maxMatchingWords": max, "score": matching as f64 / max as f64}})
}

fn hit(id: u64, score: f64) -> Value {
    json!({"id": id, "name": format!("doc {id}"), "_rankingScore": score, "_rankingScoreDetails": details(1, 1)})
}

fn answer(uid: &str, weight: f64, hits: Vec<Value>, total: u64, client: Value) -> QueryAnswer {
    let prepared = prepare_query(&client, 20, None, Some("id"));
    QueryAnswer {
        index_uid: uid.into(),
        weight,
        primary_key: Some("id".into()),
        prepared,
        response: json!({"hits": hits, "query": "", "processingTimeMs": 3, "limit": 20, "offset": 0, "estimatedTotalHits": total}),
    }
}

fn ids(answer: &Value) -> Vec<(String, u64)> {
    answer["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["_federation"]["indexUid"].as_str().unwrap().to_owned(),
                h["id"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn the_recorded_federated_search_comes_out_as_recorded() {
    // 06-multi-search.json, "multi-search federated": npm "react" and movies "carol" weight 2.
    let npm = answer(
        "npm",
        1.0,
        vec![
            hit(8869, 1.0),
            hit(9791, 1.0),
            hit(33, 0.9949494949494949),
            hit(36, 0.9949494949494949),
            hit(40, 0.99),
        ],
        1039,
        json!({"q": "react"}),
    );
    let movies = answer("movies", 2.0, vec![hit(1, 1.0)], 1, json!({"q": "carol"}));
    let federation = Federation {
        limit: 5,
        ..Federation::default()
    };
    let merged = merge(&federation, &[npm, movies], &BTreeMap::new()).unwrap();
    assert_eq!(
        ids(&merged),
        [
            ("movies".into(), 1),
            ("npm".into(), 8869),
            ("npm".into(), 9791),
            ("npm".into(), 33),
            ("npm".into(), 36)
        ]
    );
    assert_eq!(
        serde_json::to_string(&merged["hits"][0]).unwrap(),
        r#"{"id":1,"name":"doc 1","_federation":{"indexUid":"movies","queriesPosition":1,"weightedRankingScore":2.0}}"#
    );
    assert_eq!(
        merged["hits"][3]["_federation"]["weightedRankingScore"],
        json!(0.9949494949494949)
    );
    let keys: Vec<&String> = merged.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "hits",
            "processingTimeMs",
            "limit",
            "offset",
            "estimatedTotalHits"
        ]
    );
    assert_eq!(merged["estimatedTotalHits"], json!(1040));
}

#[test]
fn ties_go_to_the_lower_query_and_scores_stay_when_asked() {
    let a = answer("a", 1.0, vec![hit(1, 0.5)], 1, json!({"q": "x"}));
    let b = answer(
        "b",
        1.0,
        vec![hit(2, 0.5)],
        1,
        json!({"q": "x", "showRankingScore": true}),
    );
    let merged = merge(&Federation::default(), &[b, a], &BTreeMap::new()).unwrap();
    assert_eq!(ids(&merged), [("b".into(), 2), ("a".into(), 1)]);
    assert_eq!(
        serde_json::to_string(&merged["hits"][0]).unwrap(),
        r#"{"id":2,"name":"doc 2","_federation":{"indexUid":"b","queriesPosition":0,"weightedRankingScore":0.5},"_rankingScore":0.5}"#
    );
    assert!(merged["hits"][1].get("_rankingScore").is_none());
}

#[test]
fn a_document_two_queries_of_one_index_found_counts_once() {
    let q0 = answer(
        "npm",
        1.0,
        vec![hit(1, 0.9), hit(2, 0.8)],
        2,
        json!({"q": "a"}),
    );
    let q1 = answer(
        "npm",
        1.0,
        vec![hit(2, 1.0), hit(3, 0.7)],
        2,
        json!({"q": "b"}),
    );
    let other = answer("movies", 1.0, vec![hit(2, 0.75)], 1, json!({"q": "c"}));
    let merged = merge(&Federation::default(), &[q0, q1, other], &BTreeMap::new()).unwrap();
    assert_eq!(
        ids(&merged),
        [
            ("npm".into(), 2),
            ("npm".into(), 1),
            ("movies".into(), 2),
            ("npm".into(), 3)
        ]
    );
    assert_eq!(
        merged["hits"][0]["_federation"]["queriesPosition"],
        json!(1)
    );
    assert_eq!(merged["estimatedTotalHits"], json!(4));
}

#[test]
fn offset_limit_and_pages_slice_the_merged_list() {
    let q = answer(
        "a",
        1.0,
        (0..10).map(|i| hit(i, 1.0 - i as f64 / 100.0)).collect(),
        10,
        json!({}),
    );
    let f = Federation {
        offset: 3,
        limit: 2,
        ..Federation::default()
    };
    assert_eq!(required_hits(&f), 5);
    let merged = merge(&f, std::slice::from_ref(&q), &BTreeMap::new()).unwrap();
    assert_eq!(ids(&merged), [("a".into(), 3), ("a".into(), 4)]);
    let f = Federation {
        page: Some(2),
        hits_per_page: Some(4),
        ..Federation::default()
    };
    assert_eq!(required_hits(&f), 8);
    let merged = merge(&f, std::slice::from_ref(&q), &BTreeMap::new()).unwrap();
    assert_eq!(ids(&merged).len(), 4);
    assert_eq!(merged["hits"][0]["id"], json!(4));
    let keys: Vec<&String> = merged.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "hits",
            "processingTimeMs",
            "hitsPerPage",
            "page",
            "totalPages",
            "totalHits"
        ]
    );
    assert_eq!(merged["totalPages"], json!(3));
    let f = Federation {
        page: Some(0),
        ..Federation::default()
    };
    assert_eq!(required_hits(&f), 0);
    let merged = merge(&f, std::slice::from_ref(&q), &BTreeMap::new()).unwrap();
    assert_eq!(merged["hits"], json!([]));
    assert_eq!(merged["hitsPerPage"], json!(20));
    // An index gives at most its maxTotalHits.
    let contexts = BTreeMap::from([(
        "a".to_owned(),
        IndexMergeContext {
            max_total_hits: 3,
            ..Default::default()
        },
    )]);
    let merged = merge(&Federation::default(), &[q], &contexts).unwrap();
    assert_eq!(ids(&merged).len(), 3);
}

#[test]
fn facets_by_index_and_merged_facets() {
    let mut npm = answer("npm", 1.0, vec![hit(1, 1.0)], 264, json!({}));
    npm.response["facetDistribution"] = json!({"major": {"0": 60, "1": 93}});
    npm.response["facetStats"] = json!({"major": {"min": 0.0, "max": 3510.0}});
    let mut movies = answer("movies", 1.0, vec![hit(2, 1.0)], 1, json!({}));
    movies.response["facetDistribution"] = json!({"major": {"1": 1}, "genre": {"drama": 1}});
    let federation = Federation {
        facets_by_index: BTreeMap::from([
            ("npm".to_owned(), Some(vec!["major".to_owned()])),
            (
                "movies".to_owned(),
                Some(vec!["major".to_owned(), "genre".to_owned()]),
            ),
            ("unused".to_owned(), Some(vec!["x".to_owned()])),
            ("nulled".to_owned(), None),
        ]),
        ..Federation::default()
    };
    let answers = [npm, movies];
    let merged = merge(&federation, &answers, &BTreeMap::new()).unwrap();
    assert_eq!(
        merged["facetsByIndex"],
        json!({
            "movies": {"distribution": {"genre": {"drama": 1}, "major": {"1": 1}}, "stats": {}},
            "npm": {"distribution": {"major": {"0": 60, "1": 93}}, "stats": {"major": {"min": 0.0, "max": 3510.0}}},
        })
    );
    assert!(merged.get("facetDistribution").is_none());
    let federation = Federation {
        merge_facets: Some(MergeFacets::default()),
        ..federation
    };
    let merged = merge(&federation, &answers, &BTreeMap::new()).unwrap();
    assert!(merged.get("facetsByIndex").is_none());
    assert_eq!(
        merged["facetDistribution"],
        json!({"genre": {"drama": 1}, "major": {"0": 60, "1": 94}})
    );
    assert_eq!(
        merged["facetStats"],
        json!({"major": {"min": 0.0, "max": 3510.0}})
    );
}

#[test]
fn queries_are_asked_for_what_the_merge_needs() {
    let p = prepare_query(
        &json!({"q": "a", "showRankingScore": true, "attributesToRetrieve": ["name"]}),
        7,
        Some(&["genre".to_owned()]),
        Some("id"),
    );
    assert_eq!(
        p.body,
        json!({"q": "a", "showRankingScore": true, "attributesToRetrieve": ["name", "id"], "offset": 0, "limit": 7, "showRankingScoreDetails": true, "facets": ["genre"]})
    );
    assert!(p.show_score && !p.show_details);
    assert_eq!(p.added_field.as_deref(), Some("id"));
    let mut q = answer(
        "a",
        1.0,
        vec![
            json!({"name": "n", "id": 1, "_formatted": {"name": "n", "id": "1"}, "_rankingScore": 1.0}),
        ],
        1,
        json!({}),
    );
    q.prepared = p;
    let merged = merge(&Federation::default(), &[q], &BTreeMap::new()).unwrap();
    assert_eq!(
        serde_json::to_string(&merged["hits"][0]).unwrap(),
        r#"{"name":"n","_federation":{"indexUid":"a","queriesPosition":0,"weightedRankingScore":1.0},"_formatted":{"name":"n"},"_rankingScore":1.0}"#
    );
    // Values of the wrong type are left for the nodes to refuse.
    let p = prepare_query(
        &json!({"showRankingScore": "yes", "attributesToRetrieve": [1]}),
        1,
        None,
        Some("id"),
    );
    assert_eq!(p.body["showRankingScore"], json!("yes"));
    assert_eq!(p.body["attributesToRetrieve"], json!([1]));
    let p = prepare_query(&json!({"attributesToRetrieve": ["*"]}), 1, None, Some("id"));
    assert!(p.added_field.is_none());
}
