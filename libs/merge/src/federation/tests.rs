#![allow(clippy::unwrap_used)]
use super::*;
use miroir_proto::rpc_search::MergeFacets;
use proptest::prelude::*;
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
        response: bytes(
            &json!({"hits": hits, "query": "", "processingTimeMs": 3, "limit": 20, "offset": 0, "estimatedTotalHits": total}),
        ),
    }
}

fn bytes(value: &Value) -> Bytes {
    Bytes::from(serde_json::to_vec(value).unwrap())
}

/// Set a member of the answer's object.
fn set(answer: &mut QueryAnswer, key: &str, value: Value) {
    let mut response: Value = serde_json::from_slice(&answer.response).unwrap();
    response[key] = value;
    answer.response = bytes(&response);
}

/// `text` as a `Value`, decimals read to the bit (serde_json may read one a unit in the last
/// place off: `0.9949494949494949`), as a `Value` built in the test holds them.
fn exact(text: &str) -> Value {
    let text = text.trim();
    match text.as_bytes().first() {
        Some(b'{') => Value::Object(
            RawObject::parse(text)
                .unwrap()
                .members
                .iter()
                .map(|(k, v)| (k.to_string(), exact(v.get())))
                .collect(),
        ),
        Some(b'[') => {
            let items: Vec<&serde_json::value::RawValue> = serde_json::from_str(text).unwrap();
            Value::Array(items.iter().map(|v| exact(v.get())).collect())
        }
        Some(b'-' | b'0'..=b'9') if text.contains(['.', 'e', 'E']) => {
            Value::from(text.parse::<f64>().unwrap())
        }
        _ => serde_json::from_str(text).unwrap(),
    }
}

/// The merge on decoded values that the byte merge replaced ([`super::reference`]), the answers
/// decoded exactly, written as serde_json writes it.
fn reference(
    federation: &Federation,
    answers: &[QueryAnswer],
    contexts: &BTreeMap<String, IndexMergeContext>,
) -> String {
    let decoded: Vec<(QueryAnswer, Value)> = answers
        .iter()
        .map(|a| (a.clone(), exact(std::str::from_utf8(&a.response).unwrap())))
        .collect();
    let merged = super::reference::merge(federation, &decoded, contexts).unwrap();
    serde_json::to_string(&merged).unwrap()
}

/// The byte merge, read back exactly; its bytes are checked against [`reference`]'s.
fn run(
    federation: &Federation,
    answers: &[QueryAnswer],
    contexts: &BTreeMap<String, IndexMergeContext>,
) -> Value {
    let out = merge(federation, answers, contexts, &Overrides::default()).unwrap();
    let out = String::from_utf8(out).unwrap();
    assert_eq!(out, reference(federation, answers, contexts));
    exact(&out)
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
    let merged = run(&federation, &[npm, movies], &BTreeMap::new());
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
    let merged = run(&Federation::default(), &[b, a], &BTreeMap::new());
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
    let merged = run(&Federation::default(), &[q0, q1, other], &BTreeMap::new());
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
    let merged = run(&f, std::slice::from_ref(&q), &BTreeMap::new());
    assert_eq!(ids(&merged), [("a".into(), 3), ("a".into(), 4)]);
    let f = Federation {
        page: Some(2),
        hits_per_page: Some(4),
        ..Federation::default()
    };
    assert_eq!(required_hits(&f), 8);
    let merged = run(&f, std::slice::from_ref(&q), &BTreeMap::new());
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
    let merged = run(&f, std::slice::from_ref(&q), &BTreeMap::new());
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
    let merged = run(&Federation::default(), &[q], &contexts);
    assert_eq!(ids(&merged).len(), 3);
}

#[test]
fn facets_by_index_and_merged_facets() {
    let mut npm = answer("npm", 1.0, vec![hit(1, 1.0)], 264, json!({}));
    set(
        &mut npm,
        "facetDistribution",
        json!({"major": {"0": 60, "1": 93}}),
    );
    set(
        &mut npm,
        "facetStats",
        json!({"major": {"min": 0.0, "max": 3510.0}}),
    );
    let mut movies = answer("movies", 1.0, vec![hit(2, 1.0)], 1, json!({}));
    set(
        &mut movies,
        "facetDistribution",
        json!({"major": {"1": 1}, "genre": {"drama": 1}}),
    );
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
    let merged = run(&federation, &answers, &BTreeMap::new());
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
    let merged = run(&federation, &answers, &BTreeMap::new());
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
    let merged = run(&Federation::default(), &[q], &BTreeMap::new());
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

/// An answer whose bytes are `hits` as written, in an answer otherwise like [`answer`]'s.
fn raw_answer(uid: &str, hits: &str, client: Value) -> QueryAnswer {
    let mut q = answer(uid, 1.0, vec![], 1, client);
    q.response = Bytes::from(format!(
        r#"{{"hits":[{hits}],"query":"","processingTimeMs":3,"limit":20,"offset":0,"estimatedTotalHits":1}}"#
    ));
    q
}

/// The merged answer's bytes, checked against [`reference`].
fn merged_text(federation: &Federation, answers: &[QueryAnswer]) -> String {
    let out = merge(federation, answers, &BTreeMap::new(), &Overrides::default()).unwrap();
    let out = String::from_utf8(out).unwrap();
    assert_eq!(out, reference(federation, answers, &BTreeMap::new()));
    out
}

/// The merged answer's text under the default federation, not compared with the reference
/// (for what the merge on values wrote otherwise: re-serialised spacing, or a panic).
fn merged_alone(answers: &[QueryAnswer]) -> String {
    let out = merge(
        &Federation::default(),
        answers,
        &BTreeMap::new(),
        &Overrides::default(),
    )
    .unwrap();
    String::from_utf8(out).unwrap()
}

/// The text of the answer's hits (its first hit, when it has one).
fn first_hit(answer: &str) -> &str {
    let hits = answer.strip_prefix(r#"{"hits":["#).unwrap();
    let end = hits.find(r#"],"processingTimeMs""#).unwrap();
    &hits[..end]
}

#[test]
fn keys_with_escapes_are_read_and_written_as_serde_json_writes_them() {
    // `_ranking\u0053core` is `_rankingScore`: stripped although escaped; the other keys are
    // written as serde_json writes them, the values as the answer wrote them.
    let hits = r#"{"id":1,"a\"b":"x","\u00e9t\u00e9":[1.50, 2],"tab\tkey":{"n" : null},"_ranking\u0053core":0.5,"_rankingScoreDetails":{}}"#;
    let q = raw_answer("a", hits, json!({}));
    let out = merged_alone(&[q]);
    assert_eq!(
        first_hit(&out),
        r#"{"id":1,"a\"b":"x","été":[1.50, 2],"tab\tkey":{"n" : null},"_federation":{"indexUid":"a","queriesPosition":0,"weightedRankingScore":0.5}}"#
    );
    // Written compactly, the answer merges as the merge on values merges it.
    let compact = r#"{"id":1,"a\"b":"x","\u00e9t\u00e9":[1.5,2],"tab\tkey":{"n":null},"_ranking\u0053core":0.5,"_rankingScoreDetails":{}}"#;
    let q = raw_answer("a", compact, json!({"showRankingScore": true}));
    let out = merged_text(&Federation::default(), &[q]);
    assert_eq!(
        first_hit(&out),
        r#"{"id":1,"a\"b":"x","été":[1.5,2],"tab\tkey":{"n":null},"_federation":{"indexUid":"a","queriesPosition":0,"weightedRankingScore":0.5},"_rankingScore":0.5}"#
    );
}

#[test]
fn the_added_primary_key_is_cut_out_of_formatted() {
    let client = json!({"attributesToRetrieve": ["name"], "attributesToHighlight": ["*"]});
    let hits = [
        // The key in the middle, escaped, with a nested `id` that is not the key.
        (
            r#"{"name":"n","\u0069d":7,"_formatted":{"name":"<em>n</em>","\u0069d":"7","meta":{"id":1}},"_rankingScore":1.0,"_rankingScoreDetails":{}}"#,
            r#"{"name":"n","_federation":{"indexUid":"a","queriesPosition":0,"weightedRankingScore":1.0},"_formatted":{"name":"<em>n</em>","meta":{"id":1}}}"#,
        ),
        // The key alone in `_formatted`: an empty object is left, as the merge on values leaves it.
        (
            r#"{"id":7,"_formatted":{"id":"7"},"_rankingScore":1.0}"#,
            r#"{"_federation":{"indexUid":"a","queriesPosition":0,"weightedRankingScore":1.0},"_formatted":{}}"#,
        ),
        // No key in `_formatted`: copied as written.
        (
            r#"{"id":7,"name":"n","_formatted":{"name":"n"},"_rankingScore":1.0}"#,
            r#"{"name":"n","_federation":{"indexUid":"a","queriesPosition":0,"weightedRankingScore":1.0},"_formatted":{"name":"n"}}"#,
        ),
        // `_formatted` that is not an object is left alone.
        (
            r#"{"id":7,"_formatted":"x","_rankingScore":1.0}"#,
            r#"{"_federation":{"indexUid":"a","queriesPosition":0,"weightedRankingScore":1.0},"_formatted":"x"}"#,
        ),
    ];
    for (hit, want) in hits {
        let mut q = raw_answer("a", hit, json!({}));
        q.prepared = prepare_query(&client, 20, None, Some("id"));
        assert_eq!(q.prepared.added_field.as_deref(), Some("id"));
        let out = merged_text(&Federation::default(), &[q]);
        assert_eq!(first_hit(&out), want, "{hit}");
    }
    // Written with spaces, `_formatted` without the key is copied byte for byte.
    let mut q = raw_answer(
        "a",
        r#"{"id": 7, "_formatted": { "name" : "n" }, "_rankingScore": 1.0}"#,
        json!({}),
    );
    q.prepared = prepare_query(&client, 20, None, Some("id"));
    let out = merged_alone(&[q]);
    assert_eq!(
        first_hit(&out),
        r#"{"_federation":{"indexUid":"a","queriesPosition":0,"weightedRankingScore":1.0},"_formatted":{ "name" : "n" }}"#
    );
}

#[test]
fn score_members_are_stripped_wherever_they_stand() {
    let layouts = [
        r#"{"_rankingScore":0.5,"id":1,"_rankingScoreDetails":{"words":{"order":0,"matchingWords":1,"maxMatchingWords":1,"score":1.0}},"name":"n"}"#,
        r#"{"_rankingScoreDetails":{},"_rankingScore":0.5,"id":1,"_matchesPosition":{},"name":"n"}"#,
        r#"{"id":1,"name":"n","_matchesPosition":{"name":[]},"_rankingScoreDetails":{},"_formatted":{"id":"1"},"_rankingScore":0.5}"#,
        r#"{"id":1,"_rankingScore":0.5}"#,
        r#"{"_rankingScore":0.5}"#,
        r#"{}"#,
    ];
    let clients = [
        json!({}),
        json!({"showRankingScore": true}),
        json!({"showRankingScoreDetails": true}),
        json!({"showRankingScore": true, "showRankingScoreDetails": true}),
    ];
    for hit in layouts {
        for client in &clients {
            let q = raw_answer("a", hit, client.clone());
            let out = merged_text(&Federation::default(), &[q]);
            let got = first_hit(&out);
            assert_eq!(
                got.contains("\"_rankingScore\""),
                client["showRankingScore"] == json!(true) && hit.contains("\"_rankingScore\""),
                "{hit} {client}"
            );
            assert!(
                !got.contains("\"_rankingScoreDetails\"")
                    || client["showRankingScoreDetails"] == json!(true),
                "{hit} {client}"
            );
        }
    }
    // `_federation` before the first of the members that follow it, after the rest.
    let q = raw_answer("a", layouts[2], json!({"showRankingScore": true}));
    let out = merged_text(&Federation::default(), &[q]);
    assert_eq!(
        first_hit(&out),
        r#"{"id":1,"name":"n","_federation":{"indexUid":"a","queriesPosition":0,"weightedRankingScore":0.5},"_matchesPosition":{"name":[]},"_formatted":{"id":"1"},"_rankingScore":0.5}"#
    );
}

#[test]
fn a_documents_own_federation_member_is_replaced() {
    // The merge on values panicked on this one (`shift_insert` moving a key past the end).
    let q = raw_answer(
        "a",
        r#"{"id":1,"_federation":{"x":1},"name":"n","_rankingScore":0.5}"#,
        json!({}),
    );
    let out = merged_alone(&[q]);
    assert_eq!(
        first_hit(&out),
        r#"{"id":1,"name":"n","_federation":{"indexUid":"a","queriesPosition":0,"weightedRankingScore":0.5}}"#
    );
}

#[test]
fn processing_time_and_request_uid_are_written_as_the_multi_search_wrote_them() {
    let a = answer("a", 1.0, vec![hit(1, 0.5)], 1, json!({}));
    let b = answer("b", 1.0, vec![hit(2, 0.25)], 1, json!({}));
    let federation = Federation {
        facets_by_index: BTreeMap::from([("a".to_owned(), Some(vec!["x".to_owned()]))]),
        ..Federation::default()
    };
    let answers = [a, b];
    let overrides = Overrides {
        processing_time_ms: Some(12),
        request_uid: Some("0c1d-\"uid\"".into()),
        ..Overrides::default()
    };
    let out = merge(&federation, &answers, &BTreeMap::new(), &overrides).unwrap();
    // What `multi_search` did to the merged value: replace `processingTimeMs` in its place and
    // add `requestUid` last.
    let decoded: Vec<(QueryAnswer, Value)> = answers
        .iter()
        .map(|a| (a.clone(), exact(std::str::from_utf8(&a.response).unwrap())))
        .collect();
    let mut want = super::reference::merge(&federation, &decoded, &BTreeMap::new()).unwrap();
    let obj = want.as_object_mut().unwrap();
    obj.insert("processingTimeMs".into(), Value::from(12u64));
    obj.insert("requestUid".into(), Value::from("0c1d-\"uid\""));
    assert_eq!(
        String::from_utf8(out).unwrap(),
        serde_json::to_string(&want).unwrap()
    );
    let keys: Vec<&String> = want.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "hits",
            "processingTimeMs",
            "limit",
            "offset",
            "estimatedTotalHits",
            "facetsByIndex",
            "requestUid"
        ]
    );
}

/// Whether `merge` refuses `bytes` as query 1's answer with an internal error.
fn refused(bytes: &[u8]) -> bool {
    let good = answer("a", 1.0, vec![hit(1, 0.5)], 1, json!({}));
    let mut bad = good.clone();
    bad.response = Bytes::copy_from_slice(bytes);
    match merge(
        &Federation::default(),
        &[good, bad],
        &BTreeMap::new(),
        &Overrides::default(),
    ) {
        Ok(_) => false,
        Err(e) => {
            assert_eq!((e.status, e.code.as_str()), (500, "internal"), "{e:?}");
            assert!(
                e.message
                    .starts_with("Inside `.queries[1]`: a search answer is not JSON: "),
                "{}",
                e.message
            );
            true
        }
    }
}

#[test]
fn a_malformed_answer_is_an_internal_error() {
    let cases: &[&[u8]] = &[
        b"",
        b"{",
        b"[]",
        b"null",
        b"{\"hits\":{}}",
        b"{\"hits\":[1]}",
        b"{\"hits\":[{\"id\":1,}]}",
        b"{\"hits\":[{\"id\":1}],\"estimatedTotalHits\":1",
        b"{\"hits\":[{\"id\":1}]}}",
        b"{\"hits\":[{\"id\":\"\xff\"}]}",
        b"{\"hits\":[{\"id\":01}]}",
        b"{\"hits\":[{\"_formatted\":{\"id\" 1}}]}",
        b"{\"hits\":[{\"id\":1,\"_rankingScoreDetails\":{\"words\":{\"order\":01}}}]}",
        b"{\"hits\":[{\"id\":1,\"_rankingScoreDetails\":{\"words\":{\"order\":0,}}}]}",
    ];
    for case in cases {
        assert!(refused(case), "{}", String::from_utf8_lossy(case));
    }
    // An answer without hits has none.
    assert!(!refused(b"{\"estimatedTotalHits\":3}"));
}

#[test]
fn details_serde_json_refuses_score_the_hit_as_one_without_details() {
    // Not a map as serde_json reads one: the hit ranks on its `_rankingScore` alone, as one
    // without details, and its details are written back as they came.
    let refused = [
        r#"[1]"#,
        r#""x""#,
        r#"{"words": 1e999}"#,
        r#"{"proximity": {"order": 0, "score": 0.5, "note": 1e400}}"#,
        "{\"title:asc\": {\"order\": 0, \"value\": \"a\u{1}\"}}",
        r#"{"title:asc": {"order": 0, "value": "\ud800"}}"#,
    ];
    for details in refused {
        let hit = format!(r#"{{"id":1,"_rankingScore":0.2,"_rankingScoreDetails":{details}}}"#);
        let q0 = raw_answer("a", &hit, json!({"showRankingScoreDetails": true}));
        // A sort value against a score: no values left on either side, the global score decides.
        let q1 = raw_answer(
            "b",
            r#"{"id":2,"_rankingScore":0.1,"_rankingScoreDetails":{"title:asc":{"order":0,"value":"a"}}}"#,
            json!({}),
        );
        let out = merged_alone(&[q1, q0]);
        assert_eq!(
            first_hit(&out),
            format!(
                r#"{{"id":1,"_federation":{{"indexUid":"a","queriesPosition":1,"weightedRankingScore":0.2}},"_rankingScoreDetails":{details}}},{{"id":2,"_federation":{{"indexUid":"b","queriesPosition":0,"weightedRankingScore":0.1}}}}"#
            ),
            "{details}"
        );
    }
    // An empty object is details without rules: no values, ranked after any hit that has some.
    let q0 = raw_answer(
        "a",
        r#"{"id":1,"_rankingScore":0.9,"_rankingScoreDetails":{}}"#,
        json!({}),
    );
    let q1 = raw_answer("b", r#"{"id":2,"_rankingScore":0.1}"#, json!({}));
    let out = merged_text(&Federation::default(), &[q0, q1]);
    assert!(first_hit(&out).starts_with(r#"{"id":2,"#), "{out}");
}

#[test]
fn ids_read_from_the_text_are_the_ids_decoded() {
    let hits = [
        r#"{"id":7}"#,
        r#"{"id":"7"}"#,
        r#"{"id":"a\"b"}"#,
        r#"{"id":"\u0037"}"#,
        r#"{"id":-1}"#,
        r#"{"id":1.50}"#,
        r#"{"id":18446744073709551616}"#,
        r#"{"id":true}"#,
        r#"{"id":null}"#,
        r#"{"name":"n"}"#,
        r#"{"\u0069d":"x","id":"y"}"#,
        "{\"id\":\"a\u{1}\",\"id\":5}",
        "{\"id\":\"\\ud800\",\"id\":5}",
    ];
    for hit in hits {
        let doc = RawObject::parse(hit).unwrap();
        assert_eq!(
            hit_id(&doc, "id"),
            document_id(&decode_path_members(&doc, "id"), "id"),
            "{hit}"
        );
    }
    let doc = RawObject::parse(r#"{"a.b":3,"a":{"b":4}}"#).unwrap();
    assert_eq!(hit_id(&doc, "a.b").as_deref(), Some("3"));
}

/// Details text for the weighted score: as a node writes them, or anything a scanner accepts
/// (fields of other types, repeated or escaped names, raw control characters, lone surrogates,
/// numbers out of range, rules that are not objects).
fn details_text() -> impl Strategy<Value = String> {
    let value = prop::sample::select(vec![
        "0",
        "1",
        "2",
        "3",
        "-1",
        "1.5",
        "2.0",
        "1e2",
        "1e999",
        "18446744073709551616",
        "18446744073709551615",
        "0.5",
        "0.25",
        "0.8571428571428571",
        "0.6666666666666666",
        "-0",
        "null",
        "true",
        "\"x\"",
        "\"exactMatch\"",
        "\"matchesStart\"",
        "\"noExactMatch\"",
        "\"m\\u0061tchesStart\"",
        "\"\\ud800\"",
        "\"a\u{1}b\"",
        "{\"lat\":1.0,\"lng\":2}",
        "[1,2]",
        "[1e999]",
    ]);
    let value = prop_oneof![
        2 => (0u64..6).prop_map(|n| n.to_string()),
        1 => (0u64..8, 1u64..8).prop_map(|(p, q)| serde_json::to_string(&(p as f64 / q as f64)).unwrap()),
        3 => value.prop_map(str::to_owned),
    ];
    let key = prop::sample::select(vec![
        "order",
        "order",
        "matchingWords",
        "maxMatchingWords",
        "typoCount",
        "maxTypoCount",
        "matchType",
        "score",
        "score",
        "similarity",
        "distance",
        "value",
        "note",
        "sc\\u006fre",
        "k\u{2}",
    ]);
    let object = |members: Vec<(String, String)>| {
        let members: Vec<String> = members
            .into_iter()
            .map(|(k, v)| format!("\"{k}\":{v}"))
            .collect();
        format!("{{{}}}", members.join(","))
    };
    let rule_value = prop_oneof![
        8 => prop::collection::vec((key.prop_map(str::to_owned), value), 0..6).prop_map(object),
        1 => prop::sample::select(vec!["7", "null", "[]", "\"s\""]).prop_map(str::to_owned),
    ];
    let name = prop::sample::select(vec![
        "words",
        "typo",
        "exactness",
        "proximity",
        "attributeRank",
        "attribute",
        "skipped",
        "vectorSort",
        "title:asc",
        "downloads:desc",
        "_geoPoint(1.5,2):asc",
        "_geoPoint(0,0):desc",
        "odd:sideways",
        "w\\u006frds",
        "p\u{3}",
    ]);
    let wild =
        prop::collection::vec((name.prop_map(str::to_owned), rule_value), 0..7).prop_map(object);
    prop_oneof![
        4 => random_details().prop_map(|d| d.to_string()),
        4 => wild,
        1 => prop::sample::select(vec!["[1]", "null", "\"x\""]).prop_map(str::to_owned),
    ]
}

// Random answers: the byte merge writes what the merge on values wrote.

fn key() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "name",
        "tags",
        "a\"b",
        "été",
        "tab\tkey",
        "back\\slash",
        "\u{1}",
        "emoji 🦀",
        "_vectors",
    ])
    .prop_map(str::to_owned)
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "[a-zé\"\\\\\n\u{1} <>]{0,8}".prop_map(Value::from),
    ]
}

fn field_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..4)
                .prop_map(|members| Value::Object(members.into_iter().collect())),
        ]
    })
}

/// A member of a generated hit (shuffled before the hit is written).
type Member = (String, Value);

/// Details as a node writes them: words, typo and proximity, and sometimes exactness, a sort, a
/// geo sort or a vector rule, the rules ranked in a random order (`order`, or their position).
fn random_details() -> impl Strategy<Value = Value> {
    let counts = (1u64..4, 0u64..4, 0u64..3, 0u64..3, 0u64..9);
    let sort_value = prop_oneof![
        Just(Value::Null),
        (0u64..4).prop_map(Value::from),
        "[ab]{0,2}".prop_map(Value::from),
    ];
    let extra = (
        proptest::option::of(prop::sample::select(vec![
            "exactMatch",
            "matchesStart",
            "noExactMatch",
        ])),
        proptest::option::of(sort_value),
        proptest::option::of(0u64..4),
        proptest::option::of(0u64..5),
    );
    (counts, extra, any::<bool>())
        .prop_flat_map(|((max, m, typo, max_typo, p), (exact, sort, geo, vector), ordered)| {
            let m = m.min(max);
            let typo = typo.min(max_typo);
            let mut rules = vec![
                ("words", json!({"matchingWords": m, "maxMatchingWords": max, "score": m as f64 / max as f64})),
                ("typo", json!({"typoCount": typo, "maxTypoCount": max_typo, "score": 1.0 - typo as f64 / (max_typo + 1) as f64})),
                ("proximity", json!({"score": p as f64 / 8.0})),
            ];
            if let Some(match_type) = exact {
                rules.push(("exactness", json!({"matchType": match_type, "matchingWords": m, "maxMatchingWords": max, "score": 0.5})));
            }
            if let Some(value) = sort {
                rules.push(("title:asc", json!({"value": value})));
            }
            if let Some(distance) = geo {
                rules.push(("_geoPoint(1.5,2):asc", json!({"value": {"lat": 1.5, "lng": 2}, "distance": distance})));
            }
            if let Some(similarity) = vector {
                rules.push(("vectorSort", json!({"similarity": similarity as f64 / 4.0})));
            }
            // Ranked in a shuffled order, written in another.
            (Just(rules).prop_shuffle(), Just(ordered))
                .prop_map(|(rules, ordered)| {
                    rules
                        .into_iter()
                        .enumerate()
                        .map(|(order, (name, mut detail))| {
                            if ordered {
                                detail["order"] = Value::from(order);
                            }
                            (name.to_owned(), detail)
                        })
                        .collect::<Vec<_>>()
                })
                .prop_flat_map(|rules| {
                    let ordered = rules.iter().all(|(_, d)| d.get("order").is_some());
                    let rules = Just(rules);
                    if ordered {
                        rules.prop_shuffle().boxed()
                    } else {
                        rules.boxed()
                    }
                })
                .prop_map(|rules| Value::Object(rules.into_iter().collect()))
        })
}

fn random_hit() -> impl Strategy<Value = Vec<Member>> {
    (
        proptest::option::of((0u64..6, any::<bool>())),
        proptest::option::of(0.0f64..=1.0),
        proptest::option::of(random_details()),
        proptest::option::of((any::<bool>(), field_value())),
        any::<bool>(),
        prop::collection::vec((key(), field_value()), 0..4),
    )
        .prop_flat_map(|(id, score, details, formatted, matches, fields)| {
            let mut members: Vec<Member> = fields;
            if let Some((id, as_text)) = id {
                let id = if as_text {
                    Value::from(id.to_string())
                } else {
                    Value::from(id)
                };
                members.push(("id".into(), id));
            }
            if let Some(score) = score {
                members.push(("_rankingScore".into(), Value::from(score)));
            }
            if let Some(details) = details {
                members.push(("_rankingScoreDetails".into(), details));
            }
            if let Some((with_id, value)) = formatted {
                let mut formatted = json!({"name": "<em>x</em>", "id": "1", "other": value});
                if !with_id {
                    formatted.as_object_mut().unwrap().shift_remove("id");
                }
                members.push(("_formatted".into(), formatted));
            }
            if matches {
                members.push((
                    "_matchesPosition".into(),
                    json!({"name": [{"start": 0, "length": 1}]}),
                ));
            }
            Just(members).prop_shuffle()
        })
}

#[derive(Clone, Debug)]
struct RandomQuery {
    uid: &'static str,
    weight: f64,
    with_pk: bool,
    client: Value,
    hits: Vec<Vec<Member>>,
    total: u64,
    took: u64,
    facets: Option<Value>,
}

fn random_query() -> impl Strategy<Value = RandomQuery> {
    (
        prop::sample::select(vec!["a", "b"]),
        prop::sample::select(vec![0.5, 1.0, 1.5, 2.0]),
        prop::bool::weighted(0.8),
        (
            proptest::option::of(any::<bool>()),
            proptest::option::of(any::<bool>()),
            any::<bool>(),
        ),
        prop::collection::vec(random_hit(), 0..7),
        0u64..50,
        0u64..9,
        proptest::option::of((0u64..5, 0u64..5)),
    )
        .prop_map(
            |(uid, weight, with_pk, (score, details, retrieve), hits, total, took, facets)| {
                let mut client = json!({"q": "x"});
                if let Some(s) = score {
                    client["showRankingScore"] = Value::from(s);
                }
                if let Some(d) = details {
                    client["showRankingScoreDetails"] = Value::from(d);
                }
                if retrieve {
                    client["attributesToRetrieve"] = json!(["name", "_formatted"]);
                    client["attributesToHighlight"] = json!(["name"]);
                }
                let facets = facets.map(|(x, y)| {
                    json!({"facetDistribution": {"tag": {"x": x, "y": y}}, "facetStats": {"n": {"min": x as f64, "max": (x + y) as f64 / 3.0}}})
                });
                RandomQuery {
                    uid,
                    weight,
                    with_pk,
                    client,
                    hits,
                    total,
                    took,
                    facets,
                }
            },
        )
}

fn random_federation() -> impl Strategy<Value = Federation> {
    (
        0u64..3,
        prop_oneof![9 => 1u64..8, 1 => Just(0)],
        proptest::option::of((
            prop_oneof![9 => 1u64..3, 1 => Just(0)],
            proptest::option::weighted(0.8, 1u64..5),
        )),
        proptest::option::of(prop::sample::select(vec!["a", "b"])),
        proptest::option::of(proptest::option::of(1u64..3)),
    )
        .prop_map(|(offset, limit, pages, facets, merge_facets)| {
            let (page, hits_per_page) = match pages {
                Some((page, per)) => (Some(page), per),
                None => (None, None),
            };
            let facets_by_index = facets
                .map(|uid| BTreeMap::from([(uid.to_owned(), Some(vec!["tag".to_owned()]))]))
                .unwrap_or_default();
            Federation {
                offset,
                limit,
                page,
                hits_per_page,
                facets_by_index,
                merge_facets: merge_facets.map(|m| MergeFacets {
                    max_values_per_facet: m,
                }),
            }
        })
}

fn random_answers(federation: &Federation, queries: &[RandomQuery]) -> Vec<QueryAnswer> {
    queries
        .iter()
        .map(|q| {
            let pk = q.with_pk.then_some("id");
            let facets = federation
                .facets_by_index
                .get(q.uid)
                .cloned()
                .flatten();
            let prepared = prepare_query(&q.client, required_hits(federation), facets.as_deref(), pk);
            let hits: Vec<Value> = q
                .hits
                .iter()
                .map(|members| Value::Object(members.iter().cloned().collect()))
                .collect();
            let mut response = json!({"hits": hits, "query": "x", "processingTimeMs": q.took, "limit": 20, "offset": 0, "estimatedTotalHits": q.total});
            if let Some(Value::Object(facets)) = &q.facets {
                for (k, v) in facets {
                    response[k] = v.clone();
                }
            }
            QueryAnswer {
                index_uid: q.uid.into(),
                weight: q.weight,
                primary_key: pk.map(str::to_owned),
                prepared,
                response: bytes(&response),
            }
        })
        .collect()
}

proptest! {
    #[test]
    fn the_byte_merge_writes_what_the_merge_on_values_wrote(
        federation in random_federation(),
        queries in prop::collection::vec(random_query(), 1..4),
        max_total_hits in proptest::option::of(1usize..4),
    ) {
        let answers = random_answers(&federation, &queries);
        let contexts = max_total_hits
            .map(|max_total_hits| {
                BTreeMap::from([("a".to_owned(), IndexMergeContext { max_total_hits, ..Default::default() })])
            })
            .unwrap_or_default();
        let out = merge(&federation, &answers, &contexts, &Overrides::default()).unwrap();
        let out = String::from_utf8(out).unwrap();
        prop_assert_eq!(out, reference(&federation, &answers, &contexts));
    }

    #[test]
    fn weighted_scores_read_from_the_text_are_the_scores_read_from_maps(
        weight in prop::sample::select(vec![0.5, 1.0, 2.0]),
        hits in prop::collection::vec(
            (
                proptest::option::weighted(0.9, details_text()),
                prop::sample::select(vec![0.0, 0.25, 0.5, 0.9949494949494949, 1.0]),
            ),
            1..7,
        ),
    ) {
        let texts: Vec<Option<&str>> = hits.iter().map(|(t, _)| t.as_deref()).collect();
        let maps: Vec<Option<Map<String, Value>>> = texts
            .iter()
            .map(|t| t.and_then(|t| serde_json::from_str(t).ok()))
            .collect();
        let mut ranks = super::reference::weighted::MaxRanks::default();
        for map in maps.iter().flatten() {
            ranks.observe(map);
        }
        // Backward: which hit is scored first does not change the estimated max ranks.
        let mut scorer = weighted::Scorer::new(weight, texts.clone());
        for (i, ((_, global), map)) in hits.iter().zip(&maps).enumerate().rev() {
            let want = super::reference::weighted::hit_score(map.as_ref(), *global, weight, &ranks);
            prop_assert_eq!(scorer.score(i, *global), want, "{:?}", texts[i]);
        }
    }

    #[test]
    fn broken_answers_never_panic(
        queries in prop::collection::vec(random_query(), 1..3),
        cut in any::<prop::sample::Index>(),
        flip in proptest::option::of((any::<prop::sample::Index>(), prop::sample::select(b"\"\\[]{},: x0".to_vec()))),
    ) {
        let federation = Federation::default();
        let mut answers = random_answers(&federation, &queries);
        let mut broken = answers[0].response.to_vec();
        match flip {
            Some((at, byte)) => {
                let at = at.index(broken.len());
                broken[at] = byte;
            }
            None => broken.truncate(cut.index(broken.len())),
        }
        answers[0].response = Bytes::from(broken);
        // Structural characters only: an `e` can make a number serde_json finds out of range.
        if let Ok(out) = merge(&federation, &answers, &BTreeMap::new(), &Overrides::default()) {
            prop_assert!(serde_json::from_slice::<Value>(&out).is_ok(), "{}", String::from_utf8_lossy(&out));
        }
    }
}
