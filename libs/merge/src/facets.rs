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

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use serde_json::{Map, Value};

use crate::IndexMergeContext;
use crate::raw::{write_key, write_value};

mod read;
#[cfg(test)]
mod reference;

use read::Distribution;
pub(crate) use read::{ShardFacets, add_counts};

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

/// A facet value as milli keys it: its text (a number as Rust prints the `f64`, or a string by
/// its normalised form: trimmed, lowercased) and, for a number, its value. The distribution's
/// keys are text; a key that is exactly how milli prints an `f64` was a number. (A string
/// facet value spelled like a number is taken for one: the keys alone cannot tell them apart.)
fn value_key(shown: &str) -> (Cow<'_, str>, Option<f64>) {
    if let Some(n) = as_number(shown) {
        return (Cow::Borrowed(shown), Some(n));
    }
    let trimmed = shown.trim();
    let lower = trimmed
        .bytes()
        .all(|b| b.is_ascii() && !b.is_ascii_uppercase());
    if lower {
        (Cow::Borrowed(trimmed), None)
    } else {
        (Cow::Owned(trimmed.to_lowercase()), None)
    }
}

/// The finite `f64` that Rust prints as `shown`, if any.
fn as_number(shown: &str) -> Option<f64> {
    // Rust prints a finite `f64` as an optional `-`, digits, and maybe `.` and digits; an
    // integer of at most 15 digits (exact in an `f64`) as written, without leading zeros.
    let digits = shown.strip_prefix('-').unwrap_or(shown);
    let integer = (1..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'));
    if integer {
        return shown.parse::<f64>().ok();
    }
    let plausible = digits.starts_with(|c: char| c.is_ascii_digit())
        && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    if !plausible {
        return None;
    }
    let n = shown.parse::<f64>().ok().filter(|n| n.is_finite())?;
    let mut printed = Printed { rest: shown };
    (write!(printed, "{n}").is_ok() && printed.rest.is_empty()).then_some(n)
}

/// Compares what is printed into it with `rest`, without building the text.
struct Printed<'a> {
    rest: &'a str,
}

impl std::fmt::Write for Printed<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.rest = self.rest.strip_prefix(s).ok_or(std::fmt::Error)?;
        Ok(())
    }
}

/// One value's sum over the shards.
struct Tally<'s> {
    /// The value's number, when it is one.
    number: Option<f64>,
    /// The first spelling seen, which is the one shown.
    shown: &'s str,
    count: u128,
    /// The list (one shard's list of the facet) that added last, and what it added: its first
    /// spelling of this value with its count, then any others. A list that repeats a spelling
    /// (a JSON object repeating a key) counts it once, with its last count.
    list: usize,
    first: (&'s str, u64),
    more: Vec<(&'s str, u64)>,
}

impl<'s> Tally<'s> {
    fn new(number: Option<f64>, list: usize, shown: &'s str, count: u64) -> Self {
        Tally {
            number,
            shown,
            count: u128::from(count),
            list,
            first: (shown, count),
            more: Vec::new(),
        }
    }

    fn add(&mut self, list: usize, shown: &'s str, count: u64) {
        if self.list != list {
            self.list = list;
            self.first = (shown, count);
            self.more.clear();
            self.count = self.count.saturating_add(u128::from(count));
            return;
        }
        let listed = std::iter::once(&mut self.first)
            .chain(self.more.iter_mut())
            .find(|(s, _)| *s == shown);
        match listed {
            Some(slot) => {
                self.count = self
                    .count
                    .saturating_sub(u128::from(slot.1))
                    .saturating_add(u128::from(count));
                slot.1 = count;
            }
            None => {
                self.more.push((shown, count));
                self.count = self.count.saturating_add(u128::from(count));
            }
        }
    }
}

/// A value summed over the shards, as the order reads it.
struct Summed<'s> {
    /// Its key's text (see [`value_key`]).
    text: Cow<'s, str>,
    number: Option<f64>,
    shown: &'s str,
    count: u64,
}

/// Order two values of one facet as the whole index would list them (`Less` first).
fn value_order(a: &Summed<'_>, b: &Summed<'_>, by_count: bool, numbers_by_value: bool) -> Ordering {
    let numbers_first = a.number.is_none().cmp(&b.number.is_none());
    let within = || match (a.number, b.number, by_count) {
        (Some(x), Some(y), true) => b.count.cmp(&a.count).then_with(|| y.total_cmp(&x)),
        (None, None, true) => b.count.cmp(&a.count).then_with(|| b.text.cmp(&a.text)),
        (Some(x), Some(y), false) if numbers_by_value => x.total_cmp(&y),
        // As text: a number's text is how it prints.
        (Some(_), Some(_), false) | (None, None, false) => a.text.cmp(&b.text),
        _ => Ordering::Equal,
    };
    numbers_first.then_with(within)
}

/// Facets by name, each with its values ordered and cut: `(shown, count)`.
type Merged<'s> = Vec<(&'s str, Vec<(&'s str, u64)>)>;

/// Sum the shards' distributions (see [`merge_distribution`]). Values are summed in a hash map
/// on their keys, borrowed from the shards' text where they can be, and each facet is sorted
/// once, its kept values only.
fn sum_distributions<'s>(
    shards: &[&'s ShardFacets<'_>],
    ctx: &IndexMergeContext,
    candidates: u64,
) -> Option<Merged<'s>> {
    let any = shards
        .iter()
        .any(|s| matches!(s.distribution, Distribution::Facets(_)));
    if !any {
        return None;
    }
    let lists = || {
        shards.iter().flat_map(|shard| match &shard.distribution {
            Distribution::Facets(facets) => facets.as_slice(),
            _ => &[],
        })
    };
    // Each facet's map sized once, for as many values as the shards list.
    // foldhash, randomly seeded per process (hashbrown's own default): SipHash was a tenth of
    // the sum's time, and facet values come from documents, so the seed stays random.
    let mut sums: BTreeMap<&'s str, HashMap<Cow<'s, str>, Tally<'s>, foldhash::fast::RandomState>> =
        BTreeMap::new();
    for facet in lists() {
        let len = facet.values.as_ref().map_or(0, Vec::len);
        sums.entry(&facet.facet).or_default().reserve(len);
    }
    for (list, facet) in lists().enumerate() {
        let Some(tallies) = sums.get_mut(facet.facet.as_ref()) else {
            continue;
        };
        for (shown, count) in facet.values.as_deref().unwrap_or_default() {
            let (text, number) = value_key(shown);
            match tallies.entry(text) {
                Entry::Occupied(mut tally) => tally.get_mut().add(list, shown, *count),
                Entry::Vacant(slot) => {
                    slot.insert(Tally::new(number, list, shown, *count));
                }
            }
        }
    }
    let numbers_by_value = candidates > LINEAR_SCAN_CANDIDATES_THRESHOLD;
    let merged = sums
        .into_iter()
        .map(|(facet, tallies)| {
            let by_count = orders_by_count(ctx, facet);
            let mut values: Vec<Summed<'s>> = tallies
                .into_iter()
                .map(|(text, t)| Summed {
                    text,
                    number: t.number,
                    shown: t.shown,
                    count: u64::try_from(t.count).unwrap_or(u64::MAX),
                })
                .collect();
            // Distinct values never compare equal: an unstable sort, and only of the kept.
            let order =
                |a: &Summed<'_>, b: &Summed<'_>| value_order(a, b, by_count, numbers_by_value);
            let keep = ctx.max_values_per_facet;
            if values.len() > keep {
                values.select_nth_unstable_by(keep, order);
                values.truncate(keep);
            }
            values.sort_unstable_by(order);
            let values = values.into_iter().map(|v| (v.shown, v.count)).collect();
            (facet, values)
        })
        .collect();
    Some(merged)
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
    let shards: Vec<ShardFacets<'_>> = shards.into_iter().map(ShardFacets::of_map).collect();
    let refs: Vec<&ShardFacets<'_>> = shards.iter().collect();
    let merged = sum_distributions(&refs, ctx, candidates)?;
    let merged = merged
        .into_iter()
        .map(|(facet, values)| {
            let values: Map<String, Value> = values
                .into_iter()
                .map(|(shown, count)| (shown.to_owned(), Value::from(count)))
                .collect();
            (facet.to_owned(), Value::Object(values))
        })
        .collect();
    Some(Value::Object(merged))
}

/// [`merge_distribution`] of shards read from their answers' text, written after `out` as
/// `,"facetDistribution":{..}` (as serde_json writes the `Value`); nothing when no shard
/// returned one.
pub(crate) fn merge_distribution_into(
    out: &mut Vec<u8>,
    shards: &[&ShardFacets<'_>],
    ctx: &IndexMergeContext,
    candidates: u64,
) {
    let Some(merged) = sum_distributions(shards, ctx, candidates) else {
        return;
    };
    out.push(b',');
    write_key(out, "facetDistribution");
    out.push(b'{');
    for (i, (facet, values)) in merged.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_key(out, facet);
        out.push(b'{');
        for (j, (shown, count)) in values.iter().enumerate() {
            if j > 0 {
                out.push(b',');
            }
            write_key(out, shown);
            write_value(out, count);
        }
        out.push(b'}');
    }
    out.push(b'}');
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
                let key = value_key(shown).0.into_owned();
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

/// The shards' `facetStats` combined, by facet name: min of mins, max of maxes. `None` when no
/// shard returned them.
fn sum_stats<'s>(shards: &[&'s ShardFacets<'_>]) -> Option<BTreeMap<&'s str, (f64, f64)>> {
    let mut stats: BTreeMap<&'s str, (f64, f64)> = BTreeMap::new();
    let mut any = false;
    for shard in shards {
        let Some(facets) = &shard.stats else {
            continue;
        };
        any = true;
        for (facet, bounds) in facets {
            let Some((min, max)) = *bounds else {
                continue;
            };
            let slot = stats.entry(facet).or_insert((min, max));
            slot.0 = slot.0.min(min);
            slot.1 = slot.1.max(max);
        }
    }
    any.then_some(stats)
}

/// The shards' `facetStats` combined: min of mins, max of maxes. `None` when no shard
/// returned them.
pub fn merge_stats<'a>(shards: impl IntoIterator<Item = &'a Map<String, Value>>) -> Option<Value> {
    let shards: Vec<ShardFacets<'_>> = shards.into_iter().map(ShardFacets::of_map).collect();
    let refs: Vec<&ShardFacets<'_>> = shards.iter().collect();
    let stats = sum_stats(&refs)?
        .into_iter()
        .map(|(facet, (min, max))| {
            (
                facet.to_owned(),
                serde_json::json!({"min": min, "max": max}),
            )
        })
        .collect();
    Some(Value::Object(stats))
}

/// [`merge_stats`] written after `out` as `,"facetStats":{..}`; nothing when no shard returned
/// them.
pub(crate) fn merge_stats_into(out: &mut Vec<u8>, shards: &[&ShardFacets<'_>]) {
    let Some(stats) = sum_stats(shards) else {
        return;
    };
    out.push(b',');
    write_key(out, "facetStats");
    out.push(b'{');
    for (i, (facet, (min, max))) in stats.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_key(out, facet);
        out.push(b'{');
        write_key(out, "min");
        write_value(out, &Value::from(*min));
        out.push(b',');
        write_key(out, "max");
        write_value(out, &Value::from(*max));
        out.push(b'}');
    }
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn shard(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    /// A shard's facet maps as the decoded answer held them (what was not an object shows as
    /// `null`).
    fn decoded(shard: &ShardFacets<'_>) -> Value {
        let mut out = Map::new();
        match &shard.distribution {
            Distribution::Missing => {}
            Distribution::NotAnObject => {
                out.insert("facetDistribution".into(), Value::Null);
            }
            Distribution::Facets(lists) => {
                let lists = lists
                    .iter()
                    .map(|l| {
                        let values = l.values.as_ref().map_or(Value::Null, |values| {
                            values
                                .iter()
                                .map(|(v, c)| (v.to_string(), Value::from(*c)))
                                .collect()
                        });
                        (l.facet.to_string(), values)
                    })
                    .collect();
                out.insert("facetDistribution".into(), Value::Object(lists));
            }
        }
        if let Some(stats) = &shard.stats {
            let stats = stats
                .iter()
                .map(|(f, b)| {
                    let b = b.map_or(Value::Null, |(min, max)| json!({"min": min, "max": max}));
                    (f.to_string(), b)
                })
                .collect();
            out.insert("facetStats".into(), Value::Object(stats));
        }
        Value::Object(out)
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
        let mut shards = vec![ShardFacets::default(), ShardFacets::default()];
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
            decoded(&shards[1]),
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
