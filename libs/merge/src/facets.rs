//! Merging `facetDistribution` and `facetStats` across shards.
//!
//! Counts are summed per value, then ordered and cut as one whole index would have, which is
//! milli's `FacetDistribution` behaviour, quirks included (see `facet_distribution.rs`):
//! - number values always come before string values, each group ordered on its own;
//! - `alpha`: strings by their normalised form (trimmed, lowercased); numbers by value when the
//!   search has more than 3000 candidates (milli walks its facet tree), but as *strings*
//!   (`"10"` before `"2"`) when it has 3000 or fewer (milli scans the candidates' values into a
//!   map keyed by the number's text). The recorded whole index shows both;
//! - `count`: by count descending; ties come out of milli's max-heap with the larger value first;
//! - the first `maxValuesPerFacet` values are kept.
//!
//! Whether the sums are exact depends on how many values each shard returns, which is the
//! shard indexes' own `faceting.maxValuesPerFacet` setting (a setting, not a search
//! parameter): see [`shard_max_values_per_facet`].

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::IndexMergeContext;

/// Above this many candidates milli orders numbers by value, at or below it as text.
pub const LINEAR_SCAN_CANDIDATES_THRESHOLD: u64 = 3000;

/// How many values per facet the shard indexes should be configured to return
/// (`faceting.maxValuesPerFacet` on every shard) for a client-visible limit of
/// `ctx.max_values_per_facet`: ten times it, and at least 1000.
///
/// Why more than the client's limit:
/// - alphabetical order over strings is exact with the client's limit N already: a value among
///   the first N of the union is among the first N of every shard that holds it (what precedes
///   it on a shard is a subset of what precedes it in the union), so every shard reports it;
///   the same holds for numbers when shard and whole index order them alike. But a shard with
///   at most 3000 candidates orders numbers as text while the whole index, with more, orders
///   them by value, and then only a shard list holding all its numbers is sure to be exact;
/// - count order has no exact per-shard limit short of "all values" (a value can be 101st on
///   every shard and first in the sum). A value missing from a shard's list counts there no
///   more than the last count that shard listed, which bounds the error, and a facet with
///   fewer distinct values per shard than the limit (most facets worth counting) is exact.
///
/// The setting is per index, so it applies to every facet; the merge cuts each one back to the
/// client's limit. The cost is payload only: at most this many values per facet per shard.
pub fn shard_max_values_per_facet(ctx: &IndexMergeContext) -> usize {
    ctx.max_values_per_facet.saturating_mul(10).max(1000)
}

fn orders_by_count(ctx: &IndexMergeContext, facet: &str) -> bool {
    let order = ctx
        .sort_facet_values_by
        .get(facet)
        .or_else(|| ctx.sort_facet_values_by.get("*"));
    order.is_some_and(|o| o == "count")
}

/// A facet value as milli keys it: a number (shown as Rust prints the `f64`), or a string by its
/// normalised form (the first original spelling seen is the one shown).
#[derive(Clone, Debug, PartialEq, PartialOrd)]
enum ValueKey {
    Number(f64),
    Text(String),
}

impl ValueKey {
    /// The distribution's keys are text; a key that is exactly how milli prints an `f64` was a
    /// number. (A string facet value spelled like a number is taken for one: the keys alone
    /// cannot tell them apart.)
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

/// Order two values of one facet as the whole index would list them (`Less` first).
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

/// Sum the shards' `facetDistribution`s; `None` when no shard returned one. Facet names come
/// out sorted (Meilisearch keeps them in a `BTreeMap`), values ordered and cut as the module
/// documentation says. `candidates` is the whole search's number of candidates (the summed
/// total), which decides how milli orders numbers alphabetically.
pub fn merge_distribution<'a>(
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

/// A facet value's count that a shard did not report because its list stopped at
/// `maxValuesPerFacet`, and that the merge needs (see [`missing_counts`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MissingCount {
    /// The shard's position in the merge's shard order.
    pub shard: usize,
    pub facet: String,
    /// The value as another shard showed it.
    pub value: String,
}

/// A count read in the second round: `shard` holds `count` candidates with `facet = value`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FacetCount {
    pub shard: usize,
    pub facet: String,
    pub value: String,
    pub count: u64,
}

/// The first round's verdict on count-ordered facets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecondRound {
    /// Counts to ask the shards for, so that every value that can be among the first
    /// `maxValuesPerFacet` gets its exact total.
    pub missing: Vec<MissingCount>,
    /// Per facet, how large the count of a value that no shard listed can be: the sum of the
    /// last (smallest) counts of the shards whose lists are full. Zero when no list is full.
    pub unseen_bound: BTreeMap<String, u64>,
}

/// Which counts a count-ordered facet misses, from the shards' `facetDistribution`s (in shard
/// order; `None` for a shard that returned none).
///
/// In count order a shard lists its `maxValuesPerFacet` (N) most frequent values; a shard
/// listing fewer listed every value it has. For a value listed somewhere, its summed count is a
/// lower bound `L`, and `L` plus the last count of every full shard that did not list it is an
/// upper bound `U`. With `T` the N-th largest `L`, a value with `U < T` cannot be among the first
/// N (N values have counts of at least `T`); every other value gets its missing counts asked
/// for, which makes the counts of the first N exact. A value listed by no shard can still count
/// up to [`SecondRound::unseen_bound`]: the answer is exact when that bound is below the N-th
/// count ([`may_miss_unseen`]).
pub fn missing_counts(
    distributions: &[Option<&Map<String, Value>>],
    ctx: &IndexMergeContext,
) -> SecondRound {
    let n = ctx.max_values_per_facet;
    let mut round = SecondRound::default();
    if n == 0 {
        return round;
    }
    let facets: std::collections::BTreeSet<&String> = distributions
        .iter()
        .flatten()
        .flat_map(|d| d.keys())
        .collect();
    for facet in facets {
        if !orders_by_count(ctx, facet) {
            continue;
        }
        let lists: Vec<Option<&Map<String, Value>>> = distributions
            .iter()
            .map(|d| d.and_then(|d| d.get(facet)).and_then(Value::as_object))
            .collect();
        // The last count of each full list.
        let last: Vec<Option<u64>> = lists
            .iter()
            .map(|l| {
                l.filter(|l| l.len() >= n)
                    .and_then(|l| l.values().filter_map(Value::as_u64).min())
            })
            .collect();
        if last.iter().all(Option::is_none) {
            continue;
        }
        round.unseen_bound.insert(
            facet.clone(),
            last.iter()
                .flatten()
                .fold(0u64, |a, b| a.saturating_add(*b)),
        );
        // value key -> (shown, lower bound, shards that listed it)
        let mut tallies: BTreeMap<String, (String, u64, Vec<usize>)> = BTreeMap::new();
        for (shard, list) in lists.iter().enumerate() {
            for (shown, count) in list.iter().copied().flatten() {
                let key = ValueKey::of(shown).text_key();
                let tally = tallies
                    .entry(key)
                    .or_insert_with(|| (shown.clone(), 0, Vec::new()));
                tally.1 = tally.1.saturating_add(count.as_u64().unwrap_or(0));
                tally.2.push(shard);
            }
        }
        let mut lower: Vec<u64> = tallies.values().map(|t| t.1).collect();
        lower.sort_unstable_by(|a, b| b.cmp(a));
        let threshold = lower.get(n - 1).copied().unwrap_or(0);
        for (shown, low, listed) in tallies.into_values() {
            let absent: Vec<usize> = (0..lists.len())
                .filter(|s| last[*s].is_some() && !listed.contains(s))
                .collect();
            let high = absent
                .iter()
                .filter_map(|s| last[*s])
                .fold(low, u64::saturating_add);
            if absent.is_empty() || high < threshold {
                continue;
            }
            for shard in absent {
                round.missing.push(MissingCount {
                    shard,
                    facet: facet.clone(),
                    value: shown.clone(),
                });
            }
        }
    }
    round
}

/// Whether a value that no shard listed may belong among the first `maxValuesPerFacet` of the
/// merged `distribution` (the merge's answer): its count can reach `unseen_bound`, and the
/// merged list is not full or its last count is not above that bound.
pub fn may_miss_unseen(
    round: &SecondRound,
    distribution: Option<&Map<String, Value>>,
    ctx: &IndexMergeContext,
) -> bool {
    round.unseen_bound.iter().any(|(facet, bound)| {
        if *bound == 0 {
            return false;
        }
        let list = distribution
            .and_then(|d| d.get(facet))
            .and_then(Value::as_object);
        let counts: Vec<u64> = list
            .into_iter()
            .flatten()
            .filter_map(|(_, c)| c.as_u64())
            .collect();
        counts.len() < ctx.max_values_per_facet
            || counts.iter().min().is_none_or(|last| last <= bound)
    })
}

/// The shard search that counts the candidates with `facet = value` (the value's count in a
/// `facetDistribution`): the shard request with the value ANDed to its filter, no hits, no
/// facets. `None` when `facet` is not a plain attribute name, which a filter could misread.
///
/// Its `estimatedTotalHits` is the count: with `limit: 0` a node counts every candidate
/// (`distinct` and `rankingScoreThreshold` only discount hits they walk past, and none are
/// walked). A facet value shown as a number is matched as one; a string facet value spelled
/// exactly like a number is matched as well (`=` compares both), the one case where the count
/// can differ from the distribution's, which keys numbers and strings alike.
pub fn count_request(shard_request: &Value, facet: &str, value: &str) -> Option<Value> {
    let plain = !facet.is_empty()
        && facet
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
    if !plain {
        return None;
    }
    let mut request = shard_request.as_object()?.clone();
    let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
    let condition = Value::from(format!("{facet} = \"{escaped}\""));
    let filter = match request.shift_remove("filter") {
        None | Some(Value::Null) => condition,
        Some(Value::Array(mut all)) => {
            all.push(condition);
            Value::Array(all)
        }
        Some(other) => Value::Array(vec![other, condition]),
    };
    request.insert("filter".into(), filter);
    for key in [
        "facets",
        "attributesToRetrieve",
        "attributesToHighlight",
        "attributesToCrop",
        "showMatchesPosition",
        "showRankingScore",
        "showRankingScoreDetails",
        "sort",
    ] {
        request.shift_remove(key);
    }
    request.insert("offset".into(), Value::from(0u64));
    request.insert("limit".into(), Value::from(0u64));
    Some(Value::Object(request))
}

/// Put the second round's counts into the shards' distributions, as if each shard had listed
/// those values.
pub(crate) fn add_counts(shards: &mut [Map<String, Value>], counts: &[FacetCount]) {
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

/// The shards' `facetStats` combined: min of mins, max of maxes. `None` when no shard
/// returned them.
pub fn merge_stats<'a>(shards: impl IntoIterator<Item = &'a Map<String, Value>>) -> Option<Value> {
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn shard(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn counts_are_summed_sorted_alphabetically_and_cut() {
        let ctx = IndexMergeContext {
            max_values_per_facet: 3,
            ..Default::default()
        };
        let a = shard(
            json!({"facetDistribution": {"major": {"1": 2, "11": 1, "2": 5}, "scope": {"b": 1}}}),
        );
        let b = shard(
            json!({"facetDistribution": {"major": {"0": 4, "2": 1, "3": 1}, "scope": {"a": 1}}}),
        );
        let merged = merge_distribution([&a, &b], &ctx, 3000).unwrap();
        assert_eq!(
            serde_json::to_string(&merged).unwrap(),
            r#"{"major":{"0":4,"1":2,"11":1},"scope":{"a":1,"b":1}}"#
        );
        // With more candidates, milli walks its facet tree: numbers by value.
        let merged = merge_distribution([&a, &b], &ctx, 3001).unwrap();
        assert_eq!(
            serde_json::to_string(&merged).unwrap(),
            r#"{"major":{"0":4,"1":2,"2":6},"scope":{"a":1,"b":1}}"#
        );
    }

    #[test]
    fn numbers_come_before_strings_and_strings_merge_by_normalised_form() {
        let ctx = IndexMergeContext {
            max_values_per_facet: 4,
            ..Default::default()
        };
        let a = shard(json!({"facetDistribution": {"f": {"10": 1, "Blue": 2, "apple": 1}}}));
        let b = shard(json!({"facetDistribution": {"f": {"9": 1, " blue": 1, "zed": 1}}}));
        let merged = merge_distribution([&a, &b], &ctx, 10).unwrap();
        assert_eq!(
            serde_json::to_string(&merged).unwrap(),
            r#"{"f":{"10":1,"9":1,"apple":1,"Blue":3}}"#
        );
    }

    #[test]
    fn count_order_is_descending_ties_larger_value_first() {
        let ctx = IndexMergeContext {
            max_values_per_facet: 3,
            sort_facet_values_by: BTreeMap::from([
                ("*".into(), "alpha".into()),
                ("tags".into(), "count".into()),
            ]),
            ..Default::default()
        };
        let a = shard(
            json!({"facetDistribution": {"tags": {"x": 1, "y": 3, "z": 2}, "other": {"q": 9, "p": 1}}}),
        );
        let b = shard(json!({"facetDistribution": {"tags": {"w": 2, "x": 2}, "other": {}}}));
        let merged = merge_distribution([&a, &b], &ctx, 10).unwrap();
        // Ties in count come out larger value first, as from milli's max-heap.
        assert_eq!(
            serde_json::to_string(&merged).unwrap(),
            r#"{"other":{"p":1,"q":9},"tags":{"y":3,"x":3,"z":2}}"#
        );
        let c = shard(json!({"facetDistribution": {"tags": {"1": 1, "2": 1, "x": 5}}}));
        let merged = merge_distribution([&c], &ctx, 10).unwrap();
        assert_eq!(
            serde_json::to_string(&merged["tags"]).unwrap(),
            r#"{"2":1,"1":1,"x":5}"#,
            "numbers first even by count"
        );
        assert_eq!(shard_max_values_per_facet(&ctx), 1000);
        assert_eq!(
            shard_max_values_per_facet(&IndexMergeContext {
                max_values_per_facet: 300,
                ..ctx
            }),
            3000
        );
    }

    #[test]
    fn the_second_round_asks_full_shards_for_what_they_did_not_list() {
        let ctx = IndexMergeContext {
            max_values_per_facet: 2,
            sort_facet_values_by: BTreeMap::from([("*".into(), "count".into())]),
            ..Default::default()
        };
        // Shard 0 lists 2 values (full, last count 5), shard 1 lists 1 (complete).
        let a = json!({"t": {"x": 9, "y": 5}, "alpha": {"q": 1}});
        let b = json!({"t": {"z": 7}});
        let c = json!({"t": {"w": 1}});
        let (a, b, c) = (
            a.as_object().unwrap(),
            b.as_object().unwrap(),
            c.as_object().unwrap(),
        );
        let round = missing_counts(&[Some(a), Some(b), None, Some(c)], &ctx);
        // Lower bounds x 9, z 7, y 5, w 1: T = 7. z can reach 12 and w 6 < 7 cannot.
        assert_eq!(
            round.missing,
            vec![MissingCount {
                shard: 0,
                facet: "t".into(),
                value: "z".into()
            }]
        );
        assert_eq!(round.unseen_bound, BTreeMap::from([("t".to_owned(), 5)]));
        // With the counts in, the merged list [x 9, z 7+c] is exact if its last count is
        // above what an unlisted value can reach (5).
        let merged = |z: u64| json!({"t": {"x": 9, "z": z}});
        assert!(!may_miss_unseen(&round, merged(7).as_object(), &ctx));
        assert!(may_miss_unseen(&round, merged(5).as_object(), &ctx));
        // Alphabetical facets and lists that are not full need nothing.
        let alpha = IndexMergeContext {
            max_values_per_facet: 2,
            ..Default::default()
        };
        assert_eq!(
            missing_counts(&[Some(a), Some(b)], &alpha),
            SecondRound::default()
        );
        let few = IndexMergeContext {
            max_values_per_facet: 3,
            ..ctx.clone()
        };
        assert_eq!(
            missing_counts(&[Some(a), Some(b)], &few),
            SecondRound::default()
        );
        // The counts go into the shards' lists before the sum.
        let mut shards = vec![Map::new(), Map::new()];
        add_counts(
            &mut shards,
            &[FacetCount {
                shard: 1,
                facet: "t".into(),
                value: "z".into(),
                count: 2,
            }],
        );
        assert_eq!(
            Value::Object(shards[1].clone()),
            json!({"facetDistribution": {"t": {"z": 2}}})
        );
    }

    #[test]
    fn count_requests_and_the_value_to_the_filter() {
        let base = json!({"q": "a", "filter": "x > 1", "facets": ["t"], "limit": 20, "attributesToRetrieve": ["id"]});
        assert_eq!(
            count_request(&base, "t", "say \"hi\" \\").unwrap(),
            json!({"q": "a", "filter": ["x > 1", "t = \"say \\\"hi\\\" \\\\\""], "limit": 0, "offset": 0})
        );
        let nested = json!({"filter": [["a = 1", "b = 2"], "c = 3"]});
        assert_eq!(
            count_request(&nested, "m.n", "1").unwrap()["filter"],
            json!([["a = 1", "b = 2"], "c = 3", "m.n = \"1\""])
        );
        assert_eq!(
            count_request(&json!({}), "t", "v").unwrap()["filter"],
            json!("t = \"v\"")
        );
        assert_eq!(count_request(&base, "odd name", "v"), None);
    }

    #[test]
    fn stats_take_min_of_mins_and_max_of_maxes() {
        let a = shard(json!({"facetStats": {"major": {"min": 1.0, "max": 5.0}}}));
        let b = shard(
            json!({"facetStats": {"major": {"min": 0.0, "max": 3.0}, "downloads": {"min": 7.0, "max": 9.0}}}),
        );
        let c = shard(json!({"hits": []}));
        let merged = merge_stats([&a, &b, &c]).unwrap();
        assert_eq!(
            merged,
            json!({"downloads": {"min": 7.0, "max": 9.0}, "major": {"min": 0.0, "max": 5.0}})
        );
        assert_eq!(merge_stats([&c]), None);
        assert_eq!(
            merge_distribution([&c], &IndexMergeContext::default(), 0),
            None
        );
    }
}
