//! Invariants: merging shards' sorted answers equals sorting the whole collection and slicing
//! it (order, page, totals and whole-index scores), and no JSON input makes the merge panic.
#![allow(clippy::unwrap_used)]

use std::cmp::Ordering;
use std::collections::BTreeMap;

use miroir_merge::{IndexMergeContext, merge, plan};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

// Max ranks of the rules known to milli only through their local score: the same on every
// shard, never shown to the merge.
const PROXIMITY_MAX: u64 = 7;
const ATTRIBUTE_MAX: u64 = 3;
const POSITION_MAX: u64 = 5;

/// A document's outcome on each ranking rule, as one whole index sees it.
#[derive(Clone, Debug)]
struct Doc {
    id: u64,
    shard: usize,
    words: u64,
    typos: u64,
    proximity: u64,
    attribute: u64,
    position: u64,
    /// 3 exactMatch, 2 matchesStart, 1 noExactMatch
    exact: u64,
    exact_words: u64,
    sort_value: Value,
}

/// One shard's dictionary-dependent maxima.
#[derive(Clone, Debug)]
struct ShardDictionary {
    max_words: u64,
    /// words bucket (1..=3) -> maxTypoCount
    max_typos: [u64; 4],
}

#[derive(Clone, Debug)]
struct Case {
    dictionaries: Vec<ShardDictionary>,
    docs: Vec<Doc>,
    /// (position among the rules, ascending)
    sort: Option<(usize, bool)>,
    request: Value,
    max_total_hits: usize,
}

fn sort_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        (0i64..4).prop_map(Value::from),
        prop::sample::select(vec!["a", "b", "c"]).prop_map(Value::from)
    ]
}

fn case() -> impl Strategy<Value = Case> {
    let dictionary =
        (1u64..=3, [0u64..=2, 0u64..=2, 0u64..=2, 0u64..=2]).prop_map(|(max_words, max_typos)| {
            ShardDictionary {
                max_words,
                max_typos,
            }
        });
    let pagination = prop_oneof![
        (0u64..25, 0u64..25).prop_map(|(o, l)| json!({"offset": o, "limit": l})),
        (0u64..6, 0u64..9).prop_map(|(p, h)| json!({"page": p, "hitsPerPage": h})),
        Just(json!({})),
    ];
    (
        prop::collection::vec(dictionary, 1..=4),
        prop::option::of((0usize..=6, any::<bool>())),
        pagination,
        prop::sample::select(vec![4usize, 15, 1000]),
        any::<bool>(),
    )
        .prop_flat_map(
            |(dictionaries, sort, pagination, max_total_hits, details)| {
                let n = dictionaries.len();
                let doc = (
                    0..n,
                    0u64..=1000,
                    0u64..=1000,
                    1..=PROXIMITY_MAX,
                    1..=ATTRIBUTE_MAX,
                    1..=POSITION_MAX,
                    1u64..=3,
                    0u64..=3,
                    sort_value(),
                );
                let dictionaries2 = dictionaries.clone();
                let docs = prop::collection::vec(doc, 0..40).prop_map(move |raw| {
                    raw.into_iter()
                        .enumerate()
                        .map(
                            |(
                                id,
                                (shard, w, t, proximity, attribute, position, exact, e, sort_value),
                            )| {
                                let dict = &dictionaries2[shard];
                                let words = 1 + w % dict.max_words;
                                let typos = t % (dict.max_typos[words as usize] + 1);
                                Doc {
                                    id: id as u64,
                                    shard,
                                    words,
                                    typos,
                                    proximity,
                                    attribute,
                                    position,
                                    exact,
                                    exact_words: e % (words + 1),
                                    sort_value,
                                }
                            },
                        )
                        .collect::<Vec<_>>()
                });
                let mut request = pagination.as_object().unwrap().clone();
                request.insert("q".into(), json!("a b c"));
                request.insert("showRankingScore".into(), json!(true));
                request.insert("showRankingScoreDetails".into(), json!(details));
                if let Some((_, asc)) = sort {
                    request.insert(
                        "sort".into(),
                        json!([if asc { "rank:asc" } else { "rank:desc" }]),
                    );
                }
                (
                    Just(dictionaries),
                    docs,
                    Just(sort),
                    Just(Value::Object(request)),
                    Just(max_total_hits),
                )
            },
        )
        .prop_map(|(dictionaries, docs, sort, request, max_total_hits)| Case {
            dictionaries,
            docs,
            sort,
            request,
            max_total_hits,
        })
}

/// The whole index's order, written from the rules' definitions (not from the crate).
fn whole_index_order(a: &Doc, b: &Doc, sort: Option<(usize, bool)>) -> Ordering {
    let class = |v: &Value| match v {
        Value::Number(_) => 0,
        Value::String(_) => 1,
        _ => 2,
    };
    let sort_cmp = |ascending: bool| {
        class(&a.sort_value)
            .cmp(&class(&b.sort_value))
            .then_with(|| {
                let ord = match (&a.sort_value, &b.sort_value) {
                    (Value::Number(x), Value::Number(y)) => x.as_i64().cmp(&y.as_i64()),
                    (Value::String(x), Value::String(y)) => x.cmp(y),
                    _ => Ordering::Equal,
                };
                if ascending { ord } else { ord.reverse() }
            })
    };
    let relevancy = [
        b.words.cmp(&a.words),
        a.typos.cmp(&b.typos),
        b.proximity.cmp(&a.proximity),
        b.attribute.cmp(&a.attribute),
        b.position.cmp(&a.position),
        b.exact.cmp(&a.exact).then_with(|| {
            if a.exact == 1 && b.exact == 1 {
                b.exact_words.cmp(&a.exact_words)
            } else {
                Ordering::Equal
            }
        }),
    ];
    let mut rules: Vec<Ordering> = relevancy.to_vec();
    if let Some((at, ascending)) = sort {
        rules.insert(at.min(rules.len()), sort_cmp(ascending));
    }
    rules
        .into_iter()
        .find(|o| o.is_ne())
        .unwrap_or(Ordering::Equal)
}

fn fold(ranks: &[(u64, u64)]) -> f64 {
    let (mut rank, mut max) = (1u128, 1u128);
    for &(r, m) in ranks {
        rank = (rank - 1) * m as u128 + r as u128;
        max *= m as u128;
    }
    rank as f64 / max as f64
}

/// The relevancy ranks of a document under given word and typo maxima.
fn ranks(d: &Doc, max_words: u64, max_typos: u64) -> Vec<(u64, u64)> {
    let exactness = if d.exact == 1 {
        (d.exact_words + 1, 3 * (d.words + 1))
    } else {
        (d.exact, 3)
    };
    vec![
        (d.words, max_words),
        (max_typos + 1 - d.typos, max_typos + 1),
        (d.proximity, PROXIMITY_MAX),
        (d.attribute, ATTRIBUTE_MAX),
        (d.position, POSITION_MAX),
        exactness,
    ]
}

/// The hit a shard returns for `d`, scored and detailed on the shard's own scale.
fn shard_hit(d: &Doc, dict: &ShardDictionary, sort: Option<(usize, bool)>) -> Value {
    let max_typos = dict.max_typos[d.words as usize];
    let local = |r: u64, m: u64| r as f64 / m as f64;
    let mut exactness = Map::new();
    exactness.insert(
        "matchType".into(),
        json!(["", "noExactMatch", "matchesStart", "exactMatch"][d.exact as usize]),
    );
    if d.exact == 1 {
        exactness.insert("matchingWords".into(), json!(d.exact_words));
        exactness.insert("maxMatchingWords".into(), json!(d.words));
    }
    let r = ranks(d, dict.max_words, max_typos);
    exactness.insert("score".into(), json!(local(r[5].0, r[5].1)));
    let mut rules: Vec<(String, Map<String, Value>)> = vec![
        ("words".into(), json!({"matchingWords": d.words, "maxMatchingWords": dict.max_words, "score": local(d.words, dict.max_words)})),
        ("typo".into(), json!({"typoCount": d.typos, "maxTypoCount": max_typos, "score": local(r[1].0, r[1].1)})),
        ("proximity".into(), json!({"score": local(d.proximity, PROXIMITY_MAX)})),
        ("attributeRank".into(), json!({"score": local(d.attribute, ATTRIBUTE_MAX)})),
        ("wordPosition".into(), json!({"score": local(d.position, POSITION_MAX)})),
        ("exactness".into(), Value::Object(exactness)),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.as_object().unwrap().clone()))
    .collect();
    if let Some((at, asc)) = sort {
        let name = if asc { "rank:asc" } else { "rank:desc" };
        rules.insert(
            at.min(rules.len()),
            (
                name.into(),
                json!({"value": d.sort_value}).as_object().unwrap().clone(),
            ),
        );
    }
    let mut details = Map::new();
    for (order, (name, mut body)) in rules.into_iter().enumerate() {
        let mut entry = Map::new();
        entry.insert("order".into(), json!(order));
        entry.append(&mut body);
        details.insert(name, Value::Object(entry));
    }
    json!({"id": d.id, "_rankingScore": fold(&r), "_rankingScoreDetails": details})
}

fn check(case: &Case) -> Result<(), TestCaseError> {
    let ctx = IndexMergeContext {
        primary_key: Some("id".into()),
        max_total_hits: case.max_total_hits,
        ..Default::default()
    };
    let p = plan(&case.request, &ctx).unwrap();
    let shard_limit = p.shard_request()["limit"].as_u64().unwrap() as usize;

    // Each shard answers its own documents in the whole index's order, ties by id.
    let mut shard_lists: Vec<Vec<&Doc>> = vec![Vec::new(); case.dictionaries.len()];
    for d in &case.docs {
        shard_lists[d.shard].push(d);
    }
    for list in &mut shard_lists {
        list.sort_by(|a, b| whole_index_order(a, b, case.sort).then(a.id.cmp(&b.id)));
    }
    let responses: Vec<Value> = shard_lists
        .iter()
        .enumerate()
        .map(|(s, list)| {
            let hits: Vec<Value> = list.iter().take(shard_limit).map(|d| shard_hit(d, &case.dictionaries[s], case.sort)).collect();
            json!({"hits": hits, "query": "a b c", "processingTimeMs": s, "limit": shard_limit, "offset": 0, "estimatedTotalHits": list.len()})
        })
        .collect();

    // The whole index: everything sorted, ties broken as the merge breaks them (by primary
    // key, as one index does for documents inserted by increasing id), then the client's slice.
    let mut whole: Vec<&Doc> = case.docs.iter().collect();
    whole.sort_by(|a, b| whole_index_order(a, b, case.sort).then(a.id.cmp(&b.id)));
    let (start, end) = p.pagination().window(case.max_total_hits as u64);
    let expected: Vec<&Doc> = whole
        .iter()
        .copied()
        .skip(start as usize)
        .take((end - start) as usize)
        .collect();

    // The maxima the shards' answers reveal, which stand for the whole index's dictionary.
    let returned = || {
        shard_lists
            .iter()
            .enumerate()
            .flat_map(|(s, l)| l.iter().take(shard_limit).map(move |d| (s, *d)))
    };
    let max_words = returned()
        .map(|(s, _)| case.dictionaries[s].max_words)
        .max()
        .unwrap_or(0);
    let max_typos = |bucket: u64| {
        returned()
            .filter(|(_, d)| d.words == bucket)
            .map(|(s, _)| case.dictionaries[s].max_typos[bucket as usize])
            .max()
            .unwrap_or(0)
    };

    let answer = merge(&p, &responses, &ctx).unwrap();
    let hits = answer["hits"].as_array().unwrap();
    let got: Vec<u64> = hits.iter().map(|h| h["id"].as_u64().unwrap()).collect();
    let want: Vec<u64> = expected.iter().map(|d| d.id).collect();
    prop_assert_eq!(&got, &want);

    for (hit, d) in hits.iter().zip(&expected) {
        let whole_score = fold(&ranks(d, max_words, max_typos(d.words)));
        let score = hit["_rankingScore"].as_f64().unwrap();
        prop_assert!(
            (score - whole_score).abs() < 1e-12,
            "doc {}: {} != whole-index {}",
            d.id,
            score,
            whole_score
        );
        if case.request["showRankingScoreDetails"] == json!(true) {
            prop_assert_eq!(
                &hit["_rankingScoreDetails"]["typo"]["maxTypoCount"],
                &json!(max_typos(d.words))
            );
            prop_assert_eq!(
                &hit["_rankingScoreDetails"]["words"]["maxMatchingWords"],
                &json!(max_words)
            );
        } else {
            prop_assert!(hit.get("_rankingScoreDetails").is_none());
        }
    }

    let total = case.docs.len() as u64;
    match (case.request.get("page"), case.request.get("hitsPerPage")) {
        (Some(_), Some(hpp)) => {
            let hpp = hpp.as_u64().unwrap();
            prop_assert_eq!(&answer["totalHits"], &json!(total));
            let pages = if hpp == 0 { 0 } else { total.div_ceil(hpp) };
            prop_assert_eq!(&answer["totalPages"], &json!(pages));
        }
        _ => prop_assert_eq!(&answer["estimatedTotalHits"], &json!(total)),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn merging_sorted_shards_equals_sorting_the_whole(case in case()) {
        check(&case)?;
    }
}

// ---- No input panics ----

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        prop::sample::select(vec![
            0.0,
            -0.0,
            0.5,
            1.0,
            1.5,
            -1.0,
            1e300,
            f64::MIN_POSITIVE
        ])
        .prop_map(Value::from),
        "[a-z:_.* ]{0,8}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(field_name(), inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Names that the crate looks for, so that arbitrary values land where they are read.
fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "id",
            "q",
            "offset",
            "limit",
            "page",
            "hitsPerPage",
            "attributesToRetrieve",
            "attributesToHighlight",
            "showRankingScore",
            "showRankingScoreDetails",
            "rankingScoreThreshold",
            "distinct",
            "hits",
            "estimatedTotalHits",
            "totalHits",
            "facetDistribution",
            "facetStats",
            "_rankingScore",
            "_rankingScoreDetails",
            "_formatted",
            "words",
            "typo",
            "exactness",
            "proximity",
            "x:asc",
            "x:desc",
            "_geoPoint(1,2):asc",
            "vectorSort",
            "order",
            "matchingWords",
            "maxMatchingWords",
            "typoCount",
            "maxTypoCount",
            "score",
            "value",
            "matchType",
            "distance",
            "similarity",
            "min",
            "max",
            "family",
            "code",
            "message",
            "processingTimeMs",
            "semanticHitCount",
        ])
        .prop_map(String::from),
        "[a-z]{1,3}",
    ]
}

fn arb_hit() -> impl Strategy<Value = Value> {
    let detail = prop::collection::btree_map(
        field_name(),
        prop_oneof![
            arb_json(),
            (0u64..4).prop_map(Value::from),
            Just(json!(u64::MAX))
        ],
        0..6,
    )
    .prop_map(|m| Value::Object(m.into_iter().collect()));
    let rule = prop::sample::select(vec![
        "words",
        "typo",
        "exactness",
        "proximity",
        "x:asc",
        "x:desc",
        "_geoPoint(1,2):asc",
        "vectorSort",
        "zz",
    ]);
    (arb_json(), prop::collection::btree_map(rule, detail, 0..6), arb_json(), arb_json())
        .prop_map(|(id, details, score, family)| {
            let details: Map<String, Value> = details.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
            json!({"id": id, "family": family, "_rankingScore": score, "_rankingScoreDetails": details})
        })
}

fn arb_response() -> impl Strategy<Value = Value> {
    prop_oneof![
        1 => arb_json(),
        6 => (prop::collection::vec(prop_oneof![20 => arb_hit(), 1 => arb_json()], 0..6), arb_json(), arb_json(), any::<u64>()).prop_map(
            |(hits, facets, stats, total)| json!({"hits": hits, "estimatedTotalHits": total, "facetDistribution": facets, "facetStats": stats})
        ),
    ]
}

fn arb_ctx() -> impl Strategy<Value = IndexMergeContext> {
    (
        prop::option::of(prop::sample::select(vec!["id", "family.x", "family"])),
        prop::sample::select(vec![0usize, 1, 3, 100, usize::MAX]),
        prop::sample::select(vec![0usize, 1, 5, 1000, usize::MAX]),
        prop::option::of(prop::sample::select(vec!["family", "id", "family.x"])),
        any::<bool>(),
    )
        .prop_map(|(pk, values, total, distinct, count)| IndexMergeContext {
            primary_key: pk.map(String::from),
            max_values_per_facet: values,
            sort_facet_values_by: BTreeMap::from([(
                "*".to_owned(),
                if count { "count" } else { "alpha" }.to_owned(),
            )]),
            max_total_hits: total,
            distinct_attribute: distinct.map(String::from),
        })
}

/// Requests that pass `plan`, so that `merge` runs on the junk answers.
fn valid_request() -> impl Strategy<Value = Value> {
    (
        prop_oneof![
            (0u64..5, 0u64..5).prop_map(|(o, l)| json!({"offset": o, "limit": l})),
            (0u64..3, 0u64..4).prop_map(|(p, h)| json!({"page": p, "hitsPerPage": h})),
            Just(json!({"offset": u64::MAX, "limit": u64::MAX})),
            Just(json!({"page": u64::MAX, "hitsPerPage": u64::MAX})),
        ],
        any::<bool>(),
        any::<bool>(),
        prop::option::of(prop::sample::select(vec![0.0, 0.5, 1.0])),
        prop::option::of(prop::collection::vec(
            prop::sample::select(vec!["name", "family", "family.x", "*"]),
            0..3,
        )),
        prop::option::of(prop::sample::select(vec!["family", "id"])),
    )
        .prop_map(
            |(pagination, score, details, threshold, retrieve, distinct)| {
                let mut r = pagination.as_object().unwrap().clone();
                r.insert("showRankingScore".into(), json!(score));
                r.insert("showRankingScoreDetails".into(), json!(details));
                r.insert("rankingScoreThreshold".into(), json!(threshold));
                r.insert("attributesToRetrieve".into(), json!(retrieve));
                r.insert("attributesToHighlight".into(), json!(["family"]));
                r.insert("distinct".into(), json!(distinct));
                Value::Object(r)
            },
        )
}

fn arb_request() -> impl Strategy<Value = Value> {
    prop_oneof![
        valid_request(),
        arb_json(),
        prop::collection::btree_map(
            field_name(),
            prop_oneof![arb_json(), any::<u64>().prop_map(Value::from)],
            0..8
        )
        .prop_map(|m| Value::Object(m.into_iter().collect())),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn no_json_input_panics(request in arb_request(), responses in prop::collection::vec(arb_response(), 0..4), ctx in arb_ctx()) {
        if let Ok(p) = plan(&request, &ctx) {
            let _ = merge(&p, &responses, &ctx);
        }
    }
}

/// A search answer as a node writes it (`query` right after `hits`, so that the merge splits it
/// around its hits), as bytes, with a few of its bytes replaced by JSON's structural characters
/// or its end cut off.
fn arb_answer_bytes() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec(prop_oneof![20 => arb_hit(), 1 => arb_json()], 0..6),
        arb_json(),
        any::<u64>(),
        prop::collection::vec(
            (any::<prop::sample::Index>(), prop::sample::select(b"\"\\[]{},: x0".to_vec())),
            0..3,
        ),
        prop::option::of(any::<prop::sample::Index>()),
    )
        .prop_map(|(hits, query, total, edits, cut)| {
            let answer = json!({"hits": hits, "query": query, "processingTimeMs": 1, "estimatedTotalHits": total});
            let mut bytes = answer.to_string().into_bytes();
            for (at, byte) in edits {
                let i = at.index(bytes.len());
                bytes[i] = byte;
            }
            if let Some(cut) = cut {
                bytes.truncate(cut.index(bytes.len() + 1));
            }
            bytes
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// The byte path (answers split around their hits, hits read as the merge reaches them)
    /// never panics on broken answers either, and a merge it accepts is JSON.
    #[test]
    fn no_answer_bytes_panic(request in valid_request(), responses in prop::collection::vec(arb_answer_bytes(), 1..4), ctx in arb_ctx()) {
        if let Ok(p) = plan(&request, &ctx) {
            let refs: Vec<&[u8]> = responses.iter().map(Vec::as_slice).collect();
            if let Ok(merged) = miroir_merge::merge_bytes(&p, &refs, &ctx, &Default::default()) {
                prop_assert!(serde_json::from_slice::<Value>(&merged).is_ok(), "{}", String::from_utf8_lossy(&merged));
            }
        }
    }
}
