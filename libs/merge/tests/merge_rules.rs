//! Invariant: each merge rule (rule-by-rule order, raw typo counts, re-normalised scores,
//! duplicates, stripping, totals, thresholds, distinct, errors) behaves as one whole index.
#![allow(clippy::unwrap_used)]

use std::cmp::Ordering;

use miroir_merge::compare::{Ranking, compare_sort_values};
use miroir_merge::{IndexMergeContext, merge, plan};
use serde_json::{Value, json};

fn ctx() -> IndexMergeContext {
    IndexMergeContext {
        primary_key: Some("id".into()),
        ..Default::default()
    }
}

/// milli's global score: fold `(rank, max_rank)` pairs, then divide once.
fn fold(ranks: &[(u64, u64)]) -> f64 {
    let (mut rank, mut max) = (1u128, 1u128);
    for &(r, m) in ranks {
        rank = (rank - 1) * m as u128 + r as u128;
        max *= m as u128;
    }
    rank as f64 / max as f64
}

fn shard(hits: Vec<Value>, total: u64) -> Value {
    json!({"hits": hits, "query": "q", "processingTimeMs": 1, "limit": 20, "offset": 0, "estimatedTotalHits": total, "requestUid": "u"})
}

fn ids(answer: &Value) -> Vec<Value> {
    answer["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].clone())
        .collect()
}

/// A hit with words 1/1, typo `count`/`max`, proximity `prox` (max rank 4), then a sort on
/// `downloads:desc`, then exactness exactMatch.
fn typo_hit(id: u64, count: u64, max: u64, prox: u64, downloads: Value) -> Value {
    let score = fold(&[(1, 1), (max + 1 - count, max + 1), (prox, 4), (3, 3)]);
    json!({
        "id": id,
        "_rankingScore": score,
        "_rankingScoreDetails": {
            "words": {"order": 0, "matchingWords": 1, "maxMatchingWords": 1, "score": 1.0},
            "typo": {"order": 1, "typoCount": count, "maxTypoCount": max, "score": (max + 1 - count) as f64 / (max + 1) as f64},
            "proximity": {"order": 2, "score": prox as f64 / 4.0},
            "downloads:desc": {"order": 3, "value": downloads},
            "exactness": {"order": 4, "matchType": "exactMatch", "score": 1.0},
        }
    })
}

#[test]
fn a_sort_between_relevancy_rules_outranks_the_score() {
    // Same words, typo and proximity: the sort decides, although `a` has the higher score
    // (the later exactness rule gives it more, the sort rule gives nothing to the score).
    let mut a = typo_hit(1, 0, 1, 4, json!(10.0));
    let mut b = typo_hit(2, 0, 1, 4, json!(20.0));
    a["_rankingScoreDetails"]["exactness"] =
        json!({"order": 4, "matchType": "exactMatch", "score": 1.0});
    b["_rankingScoreDetails"]["exactness"] =
        json!({"order": 4, "matchType": "matchesStart", "score": 2.0 / 3.0});
    b["_rankingScore"] = json!(fold(&[(1, 1), (2, 2), (4, 4), (2, 3)]));
    // Worse proximity: after both, whatever its downloads.
    let c = typo_hit(3, 0, 1, 3, json!(1e9));
    let p = plan(&json!({"q": "q", "sort": ["downloads:desc"]}), &ctx()).unwrap();
    let answer = merge(&p, &[shard(vec![a, c], 2), shard(vec![b], 1)], &ctx()).unwrap();
    assert_eq!(ids(&answer), [json!(2), json!(1), json!(3)]);
}

#[test]
fn sort_values_put_numbers_before_strings_and_null_last() {
    let values = [json!(null), json!("b"), json!("a"), json!(3), json!(1.5)];
    let sorted = |ascending: bool| {
        let mut v = values.to_vec();
        v.sort_by(|l, r| compare_sort_values(ascending, l, r).reverse());
        v
    };
    assert_eq!(
        sorted(true),
        [json!(1.5), json!(3), json!("a"), json!("b"), json!(null)]
    );
    assert_eq!(
        sorted(false),
        [json!(3), json!(1.5), json!("b"), json!("a"), json!(null)]
    );

    // The same order through a merge, one document per shard.
    let shards: Vec<Value> = values
        .iter()
        .enumerate()
        .map(|(i, v)| shard(vec![typo_hit(i as u64, 0, 1, 4, v.clone())], 1))
        .collect();
    let p = plan(&json!({"q": "q", "sort": ["downloads:desc"]}), &ctx()).unwrap();
    assert_eq!(
        ids(&merge(&p, &shards, &ctx()).unwrap()),
        [json!(3), json!(4), json!(1), json!(2), json!(0)]
    );
}

#[test]
fn typo_counts_compare_raw_across_shards_with_different_max() {
    // Shard 0 knows 1-typo derivations only, shard 1 also 2-typo ones. One typo each: tied on
    // typo (normalised scores 1/2 vs 2/3 would wrongly favour `y`), proximity decides.
    let x = typo_hit(1, 1, 1, 4, json!(null));
    let y = typo_hit(2, 1, 2, 3, json!(null));
    let z = typo_hit(3, 0, 2, 1, json!(null));
    let (rx, ry) = (
        Ranking::from_hit(x.as_object().unwrap()),
        Ranking::from_hit(y.as_object().unwrap()),
    );
    assert_eq!(rx.compare(&ry), Ordering::Less);

    let p = plan(
        &json!({"q": "q", "showRankingScore": true, "showRankingScoreDetails": true}),
        &ctx(),
    )
    .unwrap();
    let answer = merge(&p, &[shard(vec![x], 1), shard(vec![z, y], 2)], &ctx()).unwrap();
    assert_eq!(ids(&answer), [json!(3), json!(1), json!(2)]);
    // `x` re-normalised to the whole index's maxTypoCount 2: typo rank 2 of 3.
    let hx = &answer["hits"][1];
    let expected = fold(&[(1, 1), (2, 3), (4, 4), (3, 3)]);
    assert!((hx["_rankingScore"].as_f64().unwrap() - expected).abs() < 1e-12);
    assert_eq!(
        hx["_rankingScoreDetails"]["typo"],
        json!({"order": 1, "typoCount": 1, "maxTypoCount": 2, "score": 2.0 / 3.0})
    );
    // Hits whose maxima did not change keep their shard's score and details verbatim.
    assert_eq!(
        answer["hits"][0]["_rankingScore"],
        json!(fold(&[(1, 1), (3, 3), (1, 4), (3, 3)]))
    );
    assert_eq!(
        answer["hits"][2]["_rankingScoreDetails"]["typo"]["maxTypoCount"],
        json!(2)
    );
}

#[test]
fn max_typo_count_is_per_words_bucket() {
    // Hits matching one word have a smaller maxTypoCount than hits matching two, on every
    // shard alike: it must not be raised to the two-word bucket's.
    let hit = |id: u64, words: u64, max_typo: u64| {
        json!({"id": id, "_rankingScore": fold(&[(words, 2), (max_typo + 1, max_typo + 1)]), "_rankingScoreDetails": {
            "words": {"order": 0, "matchingWords": words, "maxMatchingWords": 2, "score": words as f64 / 2.0},
            "typo": {"order": 1, "typoCount": 0, "maxTypoCount": max_typo, "score": 1.0}}})
    };
    let p = plan(&json!({"q": "a b", "showRankingScore": true}), &ctx()).unwrap();
    let answer = merge(
        &p,
        &[
            shard(vec![hit(1, 2, 2), hit(2, 1, 1)], 2),
            shard(vec![hit(3, 1, 1)], 1),
        ],
        &ctx(),
    )
    .unwrap();
    assert_eq!(
        answer["hits"][1]["_rankingScore"],
        json!(fold(&[(1, 2), (2, 2)]))
    );
}

#[test]
fn page_mode_totals_and_key_order() {
    let hits = |from: u64, n: u64| {
        (from..from + n)
            .map(|i| typo_hit(i, 0, 1, 4, json!(null)))
            .collect::<Vec<_>>()
    };
    let shards = [shard(hits(0, 7), 7), shard(hits(100, 5), 5)];
    let p = plan(&json!({"q": "q", "page": 2, "hitsPerPage": 5}), &ctx()).unwrap();
    assert_eq!(p.shard_request()["limit"], json!(10));
    let answer = merge(&p, &shards, &ctx()).unwrap();
    let keys: Vec<&String> = answer.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "hits",
            "query",
            "processingTimeMs",
            "hitsPerPage",
            "page",
            "totalPages",
            "totalHits",
            "requestUid"
        ]
    );
    assert_eq!(
        (answer["page"].clone(), answer["hitsPerPage"].clone()),
        (json!(2), json!(5))
    );
    assert_eq!(
        (answer["totalHits"].clone(), answer["totalPages"].clone()),
        (json!(12), json!(3))
    );
    assert_eq!(ids(&answer), [5, 6, 100, 101, 102].map(|i| json!(i)));

    // Meilisearch 1.50 reports both totals uncapped by maxTotalHits (meilisearch#6482).
    let small = IndexMergeContext {
        max_total_hits: 10,
        ..ctx()
    };
    let answer = merge(
        &plan(&json!({"hitsPerPage": 5}), &small).unwrap(),
        &shards,
        &small,
    )
    .unwrap();
    assert_eq!(
        (answer["totalHits"].clone(), answer["totalPages"].clone()),
        (json!(12), json!(3))
    );
    let answer = merge(
        &plan(&json!({"hitsPerPage": 0}), &ctx()).unwrap(),
        &shards,
        &ctx(),
    )
    .unwrap();
    assert_eq!(
        (answer["totalPages"].clone(), answer["hits"].clone()),
        (json!(0), json!([]))
    );
}

#[test]
fn offset_limit_echo_and_slice() {
    let hits = |from: u64, n: u64| {
        (from..from + n)
            .map(|i| typo_hit(i, 0, 1, 4, json!(null)))
            .collect::<Vec<_>>()
    };
    let mut slow = shard(hits(100, 3), 3);
    slow["processingTimeMs"] = json!(42);
    let p = plan(&json!({"q": "q", "offset": 2, "limit": 3}), &ctx()).unwrap();
    let answer = merge(&p, &[shard(hits(0, 3), 3), slow], &ctx()).unwrap();
    assert_eq!(ids(&answer), [json!(2), json!(100), json!(101)]);
    let keys: Vec<&String> = answer.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "hits",
            "query",
            "processingTimeMs",
            "limit",
            "offset",
            "estimatedTotalHits",
            "requestUid"
        ]
    );
    assert_eq!(answer["processingTimeMs"], json!(42));
    assert_eq!(
        (
            answer["limit"].clone(),
            answer["offset"].clone(),
            answer["estimatedTotalHits"].clone()
        ),
        (json!(3), json!(2), json!(6))
    );
}

#[test]
fn a_document_on_two_shards_counts_once() {
    let p = plan(&json!({"q": "q", "limit": 3}), &ctx()).unwrap();
    let mut twin = typo_hit(7, 0, 1, 4, json!(null));
    twin["id"] = json!("7"); // the same document: ids 7 and "7" are one
    let shards = [
        shard(
            vec![
                typo_hit(7, 0, 1, 4, json!(null)),
                typo_hit(8, 0, 1, 3, json!(null)),
            ],
            2,
        ),
        shard(vec![twin, typo_hit(9, 0, 1, 2, json!(null))], 2),
    ];
    let answer = merge(&p, &shards, &ctx()).unwrap();
    assert_eq!(ids(&answer), [json!(7), json!(8), json!(9)]);
    assert_eq!(answer["estimatedTotalHits"], json!(3));
}

#[test]
fn fields_added_for_the_merge_are_stripped() {
    let p = plan(
        &json!({"q": "q", "attributesToRetrieve": ["name"], "attributesToHighlight": ["name"]}),
        &ctx(),
    )
    .unwrap();
    assert_eq!(
        p.shard_request()["attributesToRetrieve"],
        json!(["name", "id"])
    );
    let scored = typo_hit(1, 0, 1, 4, json!(null));
    let hit = json!({
        "name": "n", "id": 1, "_formatted": {"name": "<em>n</em>", "id": "1"},
        "_rankingScore": scored["_rankingScore"], "_rankingScoreDetails": scored["_rankingScoreDetails"],
    });
    let answer = merge(&p, &[shard(vec![hit.clone()], 1)], &ctx()).unwrap();
    assert_eq!(
        answer["hits"],
        json!([{"name": "n", "_formatted": {"name": "<em>n</em>"}}])
    );

    let p = plan(
        &json!({"q": "q", "attributesToRetrieve": ["name"], "showRankingScore": true}),
        &ctx(),
    )
    .unwrap();
    let answer = merge(&p, &[shard(vec![hit], 1)], &ctx()).unwrap();
    let keys: Vec<&String> = answer["hits"][0].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["name", "_formatted", "_rankingScore"]);
}

#[test]
fn the_threshold_applies_to_the_whole_index_score() {
    // On its own shard `x` scores 0.75 (typo 1 of max 1); on the whole index, where 2-typo
    // derivations exist, it scores 0.833..: above a 0.8 threshold.
    let x = json!({"id": 1, "_rankingScore": 0.5, "_rankingScoreDetails": {
        "typo": {"order": 0, "typoCount": 1, "maxTypoCount": 1, "score": 0.5}}});
    let y = json!({"id": 2, "_rankingScore": 1.0 / 3.0, "_rankingScoreDetails": {
        "typo": {"order": 0, "typoCount": 2, "maxTypoCount": 2, "score": 1.0 / 3.0}}});
    let p = plan(
        &json!({"q": "q", "rankingScoreThreshold": 0.6, "showRankingScore": true}),
        &ctx(),
    )
    .unwrap();
    let answer = merge(&p, &[shard(vec![x], 1), shard(vec![y], 1)], &ctx()).unwrap();
    assert_eq!(
        answer["hits"],
        json!([{"id": 1, "_rankingScore": 2.0 / 3.0}])
    );
}

#[test]
fn distinct_applies_across_shards() {
    let with_family = |id: u64, prox: u64, family: &str| {
        let mut h = typo_hit(id, 0, 1, prox, json!(null));
        h["family"] = json!(family);
        h
    };
    let c = IndexMergeContext {
        distinct_attribute: Some("family".into()),
        ..ctx()
    };
    let p = plan(&json!({"q": "q", "attributesToRetrieve": ["id"]}), &c).unwrap();
    assert_eq!(
        p.shard_request()["attributesToRetrieve"],
        json!(["id", "family"])
    );
    let shards = [
        shard(vec![with_family(1, 4, "A"), with_family(2, 2, "b")], 2),
        shard(vec![with_family(3, 3, "a ")], 1),
    ];
    let answer = merge(&p, &shards, &c).unwrap();
    assert_eq!(answer["hits"], json!([{"id": 1}, {"id": 2}]));
}

#[test]
fn answers_that_are_not_search_responses_are_internal_errors() {
    let p = plan(&json!({"q": "q"}), &ctx()).unwrap();
    let cases = [
        json!([1, 2]),
        json!({"query": "q"}),
        json!({"hits": [1], "estimatedTotalHits": 1}),
        json!({"hits": []}),
        json!({"message": "Index `x` not found.", "code": "index_not_found", "type": "invalid_request", "link": ""}),
    ];
    for bad in cases {
        let e = merge(&p, &[shard(vec![], 0), bad.clone()], &ctx()).unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (500, "internal"), "{bad}");
        assert!(
            e.message
                .starts_with("shard answer #1 is not a Meilisearch search response"),
            "{}",
            e.message
        );
    }
}

/// A client that sees no scores has each hit read only when the merge compares it: a malformed
/// hit fails the merge then, as a malformed answer does; one never compared is never read.
#[test]
fn a_malformed_hit_fails_the_merge_when_it_is_compared() {
    let answer = |hits: &str| {
        format!(
            r#"{{"hits":[{hits}],"query":"q","processingTimeMs":1,"limit":1,"offset":0,"estimatedTotalHits":2}}"#
        )
    };
    let good = answer(
        &[
            typo_hit(1, 0, 1, 4, json!(5)),
            typo_hit(3, 1, 1, 1, json!(1)),
        ]
        .map(|h| h.to_string())
        .join(","),
    );
    let bad_first = answer(r#"{"id":2,"_rankingScore":01},{"id":4}"#);
    let bad_later = answer(&format!(
        r#"{},{{"id":4,"_rankingScore":01}}"#,
        typo_hit(2, 0, 1, 3, json!(5))
    ));
    let p = plan(&json!({"q": "q", "limit": 1}), &ctx()).unwrap();
    let merge_bytes = |b: &str| {
        miroir_merge::merge_bytes(
            &p,
            &[good.as_bytes(), b.as_bytes()],
            &ctx(),
            &Default::default(),
        )
    };
    let e = merge_bytes(&bad_first).unwrap_err();
    assert_eq!((e.status, e.code.as_str()), (500, "internal"));
    assert!(
        e.message.contains("shard answer #1") && e.message.contains("hit #0"),
        "{}",
        e.message
    );
    let merged: Value = serde_json::from_slice(&merge_bytes(&bad_later).unwrap()).unwrap();
    assert_eq!(ids(&merged), [json!(1)]);
    // A client that sees scores has every hit read, so the same answer fails.
    let scored = plan(
        &json!({"q": "q", "limit": 1, "showRankingScore": true}),
        &ctx(),
    )
    .unwrap();
    let both = [good.as_bytes(), bad_later.as_bytes()];
    assert!(miroir_merge::merge_bytes(&scored, &both, &ctx(), &Default::default()).is_err());
}

/// `answers` merged as bytes for the client's `request`, read back.
fn merge_texts(
    request: Value,
    answers: [&str; 2],
    overrides: &miroir_merge::Overrides,
) -> Result<Value, miroir_proto::MeiliError> {
    let p = plan(&request, &ctx()).unwrap();
    miroir_merge::merge_bytes(&p, &answers.map(str::as_bytes), &ctx(), overrides)
        .map(|b| serde_json::from_slice(&b).unwrap())
}

/// A client that sees no scores has each shard's hits read only as far as the merge goes: a
/// hit past that is never read (a broken one included), and an answer laid out otherwise than
/// Meilisearch's (a member between `hits` and `query`) is read whole once the merge reaches the
/// end of its hits, so nothing of it is lost.
#[test]
fn hits_past_the_merge_are_not_read_and_an_unusual_layout_is_read_whole() {
    // (id, proximity rank): the higher, the better.
    let hits = |ids: &[(u64, u64)]| {
        ids.iter()
            .map(|&(id, prox)| typo_hit(id, 0, 1, prox, json!(1)).to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    let tail = r#""processingTimeMs":1,"limit":2,"offset":0,"estimatedTotalHits":3"#;
    let a = format!(
        r#"{{"hits":[{}],"query":"q",{tail}}}"#,
        hits(&[(1, 4), (2, 4), (3, 3)])
    );
    let broken = format!(
        r#"{{"hits":[{},{{"id":9,"x":"]}}],"query":"q",{tail}}}"#,
        hits(&[(4, 1)])
    );
    let none = Default::default();
    let merged = merge_texts(json!({"q": "q", "limit": 2}), [&a, &broken], &none).unwrap();
    assert_eq!(ids(&merged), [json!(1), json!(2)]);
    // Everything read: the broken hit is reached and fails the merge.
    let all = json!({"q": "q", "limit": 10});
    assert!(merge_texts(all.clone(), [&a, &broken], &none).is_err());
    // The same answer with a member (and `more` after the tail) before `query` and after it.
    let layouts = |more: &str| {
        let hits = hits(&[(4, 2), (5, 1)]);
        (
            format!(r#"{{"hits":[{hits}],"extra":[7],"query":"q",{tail}{more}}}"#),
            format!(r#"{{"hits":[{hits}],"query":"q",{tail}{more},"extra":[7]}}"#),
        )
    };
    let (unusual, usual) = layouts("");
    let merged = merge_texts(all.clone(), [&a, &unusual], &none).unwrap();
    assert_eq!(merged["extra"], json!([7]), "{merged}");
    assert_eq!(merged, merge_texts(all, [&a, &usual], &none).unwrap());
    assert_eq!(ids(&merged).len(), 5);
    // The counts of a second facet round still land on an answer read again whole.
    let (unusual, usual) = layouts(r#","facetDistribution":{"scope":{"x":1}}"#);
    let faceted = json!({"q": "q", "limit": 10, "facets": ["scope"]});
    let overrides = miroir_merge::Overrides {
        facet_counts: vec![miroir_merge::facets::FacetCount {
            shard: 1,
            facet: "scope".into(),
            value: "y".into(),
            count: 5,
        }],
        ..Default::default()
    };
    let merged = merge_texts(faceted.clone(), [&a, &unusual], &overrides).unwrap();
    assert_eq!(
        merged["facetDistribution"]["scope"]["y"],
        json!(5),
        "{merged}"
    );
    assert_eq!(
        merged,
        merge_texts(faceted, [&a, &usual], &overrides).unwrap()
    );
}

#[test]
fn facets_merge_inside_the_answer() {
    let mut a = shard(vec![], 3000);
    a["facetDistribution"] = json!({"major": {"1": 2, "10": 1}, "scope": {"x": 1}});
    a["facetStats"] = json!({"major": {"min": 1.0, "max": 10.0}});
    let mut b = shard(vec![], 1);
    b["facetDistribution"] = json!({"major": {"2": 1}, "scope": {}});
    b["facetStats"] = json!({"major": {"min": 2.0, "max": 2.0}});
    let p = plan(
        &json!({"q": "", "facets": ["scope", "major"], "limit": 0}),
        &ctx(),
    )
    .unwrap();
    let answer = merge(&p, &[a, b], &ctx()).unwrap();
    insta::assert_json_snapshot!("facets_merge_inside_the_answer", answer);
}

/// A hybrid search's hits: keyword hits carry the keyword rules, semantic hits `vectorSort`.
fn hybrid_hit(id: u64, semantic: bool, score: f64) -> Value {
    let details = if semantic {
        json!({"vectorSort": {"order": 0, "similarity": score, "value": [0.1]}})
    } else {
        json!({"exactness": {"order": 0, "matchType": "exactMatch", "score": score}})
    };
    json!({"id": id, "_rankingScore": score, "_rankingScoreDetails": details})
}

#[test]
fn semantic_hit_count_counts_the_semantic_hits_of_the_page() {
    // Each shard answered 3 hits, 2 of them semantic: the shards' counts sum to 4, but the
    // page of 3 holds 2 semantic hits (0.9, 0.7) and one keyword hit (0.8).
    let with_count = |hits: Vec<Value>, count: u64| {
        let mut s = shard(hits, 10);
        s["semanticHitCount"] = json!(count);
        s
    };
    let a = with_count(
        vec![
            hybrid_hit(1, true, 0.9),
            hybrid_hit(2, false, 0.8),
            hybrid_hit(3, true, 0.3),
        ],
        2,
    );
    let b = with_count(
        vec![
            hybrid_hit(4, true, 0.7),
            hybrid_hit(5, true, 0.6),
            hybrid_hit(6, false, 0.2),
        ],
        2,
    );
    let p = plan(&json!({"q": "q", "limit": 3}), &ctx()).unwrap();
    let answer = merge(&p, &[a.clone(), b.clone()], &ctx()).unwrap();
    assert_eq!(ids(&answer), [json!(1), json!(2), json!(4)]);
    assert_eq!(answer["semanticHitCount"], json!(2));
    let p = plan(&json!({"q": "q", "offset": 3, "limit": 3}), &ctx()).unwrap();
    let answer = merge(&p, &[a, b], &ctx()).unwrap();
    assert_eq!(ids(&answer), [json!(5), json!(3), json!(6)]);
    assert_eq!(answer["semanticHitCount"], json!(2));
}

#[test]
fn distinct_values_found_on_two_shards_count_once_in_the_totals() {
    // Each shard keeps one document per `family` and counts it; a family on both shards is
    // kept once (its better-ranked document) and the total does not count it twice.
    let hit = |id: u64, family: &str, prox: u64| {
        let mut h = typo_hit(id, 0, 1, prox, json!(0));
        h["family"] = json!(family);
        h
    };
    let a = shard(vec![hit(1, "x", 4), hit(2, "y", 2)], 2);
    let b = shard(vec![hit(3, "y", 3), hit(4, "z", 1)], 2);
    for request in [
        json!({"q": "q", "distinct": "family"}),
        json!({"q": "q", "distinct": "family", "page": 1, "hitsPerPage": 10}),
    ] {
        let p = plan(&request, &ctx()).unwrap();
        let answer = merge(&p, &[a.clone(), b.clone()], &ctx()).unwrap();
        assert_eq!(ids(&answer), [json!(1), json!(3), json!(4)], "{request}");
        let total = answer
            .get("estimatedTotalHits")
            .or_else(|| answer.get("totalHits"))
            .unwrap();
        assert_eq!(total, &json!(3), "{request}");
    }
}
