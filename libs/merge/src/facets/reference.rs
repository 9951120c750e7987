//! The facet sums as they were written before the shards' facet maps were read borrowing their
//! text: each member decoded into `serde_json::Value`, values summed in `BTreeMap`s of owned
//! keys. The merge ([`super::merge_distribution_into`], [`super::merge_stats_into`]) is tested
//! against it byte for byte, on shard members that repeat keys, escape them, spell numbers and
//! cases in several ways, and hold values of every type.
#![allow(clippy::unwrap_used)]

use std::cmp::Ordering;
use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::{Map, Value};

use super::{FacetCount, LINEAR_SCAN_CANDIDATES_THRESHOLD, ShardFacets, orders_by_count};
use crate::IndexMergeContext;
use crate::raw::{RawObject, write_key, write_value};

#[derive(Clone, Debug, PartialEq, PartialOrd)]
enum ValueKey {
    Number(f64),
    Text(String),
}

impl ValueKey {
    fn of(shown: &str) -> ValueKey {
        match shown.parse::<f64>() {
            Ok(n) if n.is_finite() && n.to_string() == shown => ValueKey::Number(n),
            _ => ValueKey::Text(shown.trim().to_lowercase()),
        }
    }

    fn text_key(&self) -> String {
        match self {
            ValueKey::Number(n) => n.to_string(),
            ValueKey::Text(t) => t.clone(),
        }
    }
}

struct Tally {
    key: ValueKey,
    shown: String,
    count: u64,
}

fn value_order(a: &Tally, b: &Tally, by_count: bool, numbers_by_value: bool) -> Ordering {
    use ValueKey::{Number, Text};
    let kind = |k: &ValueKey| matches!(k, Text(_));
    let numbers_first = kind(&a.key).cmp(&kind(&b.key));
    let within = || match (&a.key, &b.key, by_count) {
        (Number(x), Number(y), true) => b.count.cmp(&a.count).then_with(|| y.total_cmp(x)),
        (Text(x), Text(y), true) => b.count.cmp(&a.count).then_with(|| y.cmp(x)),
        (Number(x), Number(y), false) if numbers_by_value => x.total_cmp(y),
        (Number(x), Number(y), false) => x.to_string().cmp(&y.to_string()),
        (Text(x), Text(y), false) => x.cmp(y),
        _ => Ordering::Equal,
    };
    numbers_first.then_with(within)
}

pub(super) fn merge_distribution<'a>(
    shards: impl IntoIterator<Item = &'a Map<String, Value>>,
    ctx: &IndexMergeContext,
    candidates: u64,
) -> Option<Value> {
    let mut sums: BTreeMap<String, BTreeMap<String, Tally>> = BTreeMap::new();
    let mut any = false;
    for shard in shards {
        let Some(distribution) = shard.get("facetDistribution").and_then(Value::as_object) else {
            continue;
        };
        any = true;
        for (facet, values) in distribution {
            let tallies = sums.entry(facet.clone()).or_default();
            for (shown, count) in values.as_object().into_iter().flatten() {
                let key = ValueKey::of(shown);
                let tally = tallies.entry(key.text_key()).or_insert_with(|| Tally {
                    key,
                    shown: shown.clone(),
                    count: 0,
                });
                tally.count = tally.count.saturating_add(count.as_u64().unwrap_or(0));
            }
        }
    }
    if !any {
        return None;
    }
    let numbers_by_value = candidates > LINEAR_SCAN_CANDIDATES_THRESHOLD;
    let merged = sums
        .into_iter()
        .map(|(facet, tallies)| {
            let by_count = orders_by_count(ctx, &facet);
            let mut values: Vec<Tally> = tallies.into_values().collect();
            values.sort_by(|a, b| value_order(a, b, by_count, numbers_by_value));
            values.truncate(ctx.max_values_per_facet);
            let values: Map<String, Value> = values
                .into_iter()
                .map(|t| (t.shown, Value::from(t.count)))
                .collect();
            (facet, Value::Object(values))
        })
        .collect();
    Some(Value::Object(merged))
}

pub(super) fn add_counts(shards: &mut [Map<String, Value>], counts: &[FacetCount]) {
    for c in counts {
        let Some(shard) = shards.get_mut(c.shard) else {
            continue;
        };
        let distribution = shard
            .entry("facetDistribution")
            .or_insert_with(|| Value::Object(Map::new()));
        let Some(distribution) = distribution.as_object_mut() else {
            continue;
        };
        let list = distribution
            .entry(c.facet.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(list) = list.as_object_mut() {
            list.insert(c.value.clone(), Value::from(c.count));
        }
    }
}

pub(super) fn merge_stats<'a>(
    shards: impl IntoIterator<Item = &'a Map<String, Value>>,
) -> Option<Value> {
    let mut stats: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    let mut any = false;
    for shard in shards {
        let Some(facets) = shard.get("facetStats").and_then(Value::as_object) else {
            continue;
        };
        any = true;
        for (facet, s) in facets {
            let (Some(min), Some(max)) = (
                s.get("min").and_then(Value::as_f64),
                s.get("max").and_then(Value::as_f64),
            ) else {
                continue;
            };
            let slot = stats.entry(facet.clone()).or_insert((min, max));
            slot.0 = slot.0.min(min);
            slot.1 = slot.1.max(max);
        }
    }
    any.then(|| {
        let stats = stats
            .into_iter()
            .map(|(facet, (min, max))| (facet, serde_json::json!({"min": min, "max": max})))
            .collect();
        Value::Object(stats)
    })
}

/// The old merge of the answers' facet members: decoded as `shard_answer` decoded them, the
/// second round's counts added, written as `write_response` wrote them.
fn old_bytes(
    answers: &[String],
    counts: &[FacetCount],
    ctx: &IndexMergeContext,
    candidates: u64,
) -> Vec<u8> {
    let mut maps: Vec<Map<String, Value>> = answers
        .iter()
        .map(|a| {
            let body = RawObject::parse(a).unwrap();
            let mut facets = Map::new();
            for key in ["facetDistribution", "facetStats"] {
                if let Some(v) = body.decode::<Value>(key) {
                    facets.insert(key.to_owned(), v);
                }
            }
            facets
        })
        .collect();
    add_counts(&mut maps, counts);
    let mut out = Vec::new();
    if let Some(d) = merge_distribution(&maps, ctx, candidates) {
        out.push(b',');
        write_key(&mut out, "facetDistribution");
        write_value(&mut out, &d);
    }
    if let Some(s) = merge_stats(&maps) {
        out.push(b',');
        write_key(&mut out, "facetStats");
        write_value(&mut out, &s);
    }
    out
}

fn new_bytes(
    answers: &[String],
    counts: &[FacetCount],
    ctx: &IndexMergeContext,
    candidates: u64,
) -> Vec<u8> {
    let bodies: Vec<RawObject<'_>> = answers
        .iter()
        .map(|a| RawObject::parse(a).unwrap())
        .collect();
    let mut shards: Vec<ShardFacets<'_>> = bodies
        .iter()
        .map(|b| ShardFacets::read(b.get("facetDistribution"), b.get("facetStats")))
        .collect();
    super::add_counts(&mut shards, counts);
    let refs: Vec<&ShardFacets<'_>> = shards.iter().collect();
    let mut out = Vec::new();
    super::merge_distribution_into(&mut out, &refs, ctx, candidates);
    super::merge_stats_into(&mut out, &refs);
    out
}

/// A JSON text for any value, some that serde_json refuses to decode.
fn odd_value() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "null",
        "true",
        "3",
        "-4",
        "2.5",
        "18446744073709551615",
        "18446744073709551616",
        "1e400",
        r#""text""#,
        r#""\ud800""#,
        "[1, {\"a\": 2}]",
        "[\"\\udc00\"]",
        "{}",
        "{\"k\": \"\\ud800\"}",
    ])
    .prop_map(str::to_owned)
}

/// Facet value keys, as JSON string texts: spellings that normalise alike, numbers printed or
/// not as Rust prints them, escapes, repeats.
fn value_name() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        r#""a""#,
        r#""A""#,
        r#"" a ""#,
        r#""\u0061""#,
        r#""b""#,
        r#""B\n""#,
        r#""é""#,
        r#""É""#,
        r#""ǅ""#,
        r#""x\"y""#,
        r#""1""#,
        r#"" 1""#,
        r#""1.0""#,
        r#""1.5""#,
        r#""10""#,
        r#""2""#,
        r#""-0""#,
        r#""0""#,
        r#""-3""#,
        r#""1e2""#,
        r#""100""#,
        r#""NaN""#,
        r#""inf""#,
        r#""""#,
    ])
}

fn count() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => (0u64..6).prop_map(|c| c.to_string()),
        1 => Just(u64::MAX.to_string()),
        1 => odd_value(),
    ]
}

fn object(members: Vec<(String, String)>) -> String {
    let members: Vec<String> = members
        .into_iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect();
    format!("{{{}}}", members.join(", "))
}

fn facet_name() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![r#""t""#, r#""\u0074""#, r#""u""#, r#""T""#])
}

fn distribution() -> impl Strategy<Value = Option<String>> {
    let list = prop_oneof![
        8 => prop::collection::vec((value_name().prop_map(str::to_owned), count()), 0..8)
            .prop_map(object),
        1 => odd_value(),
    ];
    prop_oneof![
        1 => Just(None),
        1 => odd_value().prop_map(Some),
        6 => prop::collection::vec((facet_name().prop_map(str::to_owned), list), 0..4)
            .prop_map(|m| Some(object(m))),
    ]
}

fn stats() -> impl Strategy<Value = Option<String>> {
    let bound = prop_oneof![
        4 => (-3i32..4).prop_map(|n| n.to_string()),
        1 => Just("-0.0".to_owned()),
        1 => Just("0.0".to_owned()),
        1 => odd_value(),
    ];
    let key = prop::sample::select(vec![r#""min""#, r#""max""#, r#""m\u0069n""#, r#""x""#]);
    let bounds = prop_oneof![
        6 => prop::collection::vec((key.prop_map(str::to_owned), bound), 0..4).prop_map(object),
        1 => odd_value(),
    ];
    prop_oneof![
        1 => Just(None),
        1 => odd_value().prop_map(Some),
        6 => prop::collection::vec((facet_name().prop_map(str::to_owned), bounds), 0..3)
            .prop_map(|m| Some(object(m))),
    ]
}

fn answer() -> impl Strategy<Value = String> {
    (distribution(), stats()).prop_map(|(d, s)| {
        let mut members = vec![("\"estimatedTotalHits\"".to_owned(), "1".to_owned())];
        if let Some(d) = d {
            members.push(("\"facetDistribution\"".to_owned(), d));
        }
        if let Some(s) = s {
            members.push(("\"facetStats\"".to_owned(), s));
        }
        object(members)
    })
}

fn facet_count() -> impl Strategy<Value = FacetCount> {
    let name = |s: &str| serde_json::from_str::<String>(s).unwrap();
    (0usize..4, facet_name(), value_name(), 0u64..4).prop_map(move |(shard, f, v, count)| {
        FacetCount {
            shard,
            facet: name(f),
            value: name(v),
            count,
        }
    })
}

fn context() -> impl Strategy<Value = IndexMergeContext> {
    (
        prop::sample::select(vec![0usize, 1, 2, 3, 100]),
        prop::sample::select(vec!["alpha", "count"]),
        prop::option::of(prop::sample::select(vec!["alpha", "count"])),
    )
        .prop_map(|(values, all, t)| {
            let mut order = BTreeMap::from([("*".to_owned(), all.to_owned())]);
            if let Some(t) = t {
                order.insert("t".to_owned(), t.to_owned());
            }
            IndexMergeContext {
                max_values_per_facet: values,
                sort_facet_values_by: order,
                ..Default::default()
            }
        })
}

/// A repeated key keeps its last value, also when a second-round count replaces it.
#[test]
fn repeated_keys_count_as_decoded() {
    let ctx = IndexMergeContext::default();
    let answers = [
        r#"{"facetDistribution": {"t": {"a": 1, "A": 2, "a": 3}, "u": {"x": 1}, "u": {"y": 1}}}"#,
        r#"{"facetDistribution": {"t": {"a": 1, "b": 1, "a": 4}}, "facetStats": {"m": {"min": 1, "max": 2, "min": 0}, "n": {"min": 1, "max": 1}, "n": 3}}"#,
    ]
    .map(str::to_owned);
    let counts = [FacetCount {
        shard: 1,
        facet: "t".into(),
        value: "a".into(),
        count: 7,
    }];
    let want = r#","facetDistribution":{"t":{"a":12,"b":1},"u":{"y":1}},"facetStats":{"m":{"min":0.0,"max":2.0}}"#;
    assert_eq!(
        String::from_utf8(old_bytes(&answers, &counts, &ctx, 0)).unwrap(),
        want
    );
    assert_eq!(
        String::from_utf8(new_bytes(&answers, &counts, &ctx, 0)).unwrap(),
        want
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// The borrowed reading and the hash-map sum write what decoding into `Value` and summing
    /// in `BTreeMap`s wrote, byte for byte, whatever the shards' facet members hold.
    #[test]
    fn the_sums_write_what_the_decoded_sums_wrote(
        answers in prop::collection::vec(answer(), 0..4),
        counts in prop::collection::vec(facet_count(), 0..3),
        ctx in context(),
        candidates in prop::sample::select(vec![0u64, 3000, 3001]),
    ) {
        let old = String::from_utf8(old_bytes(&answers, &counts, &ctx, candidates)).unwrap();
        let new = String::from_utf8(new_bytes(&answers, &counts, &ctx, candidates)).unwrap();
        prop_assert_eq!(old, new);
    }

    /// A value is keyed as before: the same text, a number where it was one.
    #[test]
    fn values_are_keyed_as_before(
        shown in "-?[0-9]{0,18}(\\.[0-9]{0,3})?(e[0-9])?|[ a-zA-Z0-9éÉǅΣ-]{0,6}",
    ) {
        let (text, number) = super::value_key(&shown);
        let old = ValueKey::of(&shown);
        prop_assert_eq!(text.as_ref(), old.text_key());
        match old {
            ValueKey::Number(n) => prop_assert_eq!(number.map(f64::to_bits), Some(n.to_bits())),
            ValueKey::Text(_) => prop_assert_eq!(number, None),
        }
    }

    /// The same for the public functions on decoded answers (the federated merge's).
    #[test]
    fn decoded_answers_sum_as_before(
        answers in prop::collection::vec(answer(), 0..4),
        ctx in context(),
        candidates in prop::sample::select(vec![0u64, 3000, 3001]),
    ) {
        let maps: Vec<Map<String, Value>> = answers
            .iter()
            .filter_map(|a| serde_json::from_str(a).ok())
            .collect();
        prop_assert_eq!(
            super::merge_distribution(&maps, &ctx, candidates),
            merge_distribution(&maps, &ctx, candidates)
        );
        prop_assert_eq!(super::merge_stats(&maps), merge_stats(&maps));
    }
}
