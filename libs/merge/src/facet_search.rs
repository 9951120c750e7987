//! Merging the shards' answers to `POST /indexes/{uid}/facet-search` into the whole index's.
//!
//! Each shard answers `{facetHits: [{value, count}], facetQuery, processingTimeMs}` with at most
//! `faceting.maxValuesPerFacet` values (100 by default), in the order milli's
//! `SearchForFacetValues` gives them:
//! - `alpha` (the default): in the order of the facet's normalised strings (trimmed,
//!   lowercased), the first `maxValuesPerFacet` that have a count among the search's candidates;
//! - `count`: the values with the largest counts, by count descending, ties larger value first
//!   (milli keeps them in a heap of `(count, value)` and returns it sorted in reverse).
//!
//! The merge sums the counts of a value across shards (a value is its normalised form; the first
//! spelling seen is shown), then orders and cuts as above. In `alpha` order this is exact: a value
//! among the whole index's first N is among the first N of every shard that has it (what precedes
//! it on a shard precedes it in the whole index too), so every shard reported its count. In
//! `count` order a shard that listed N values may have cut a value that the sum would have kept,
//! and then that value's count is short: [`may_be_cut`] says when that can have happened.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::{IndexMergeContext, MergeError};

/// Whether `facet` is ordered by count in `ctx`'s `sortFacetValuesBy`.
pub fn orders_by_count(ctx: &IndexMergeContext, facet: &str) -> bool {
    ctx.sort_facet_values_by
        .get(facet)
        .or_else(|| ctx.sort_facet_values_by.get("*"))
        .is_some_and(|o| o == "count")
}

struct Tally {
    shown: String,
    count: u64,
}

fn hits_of(shard: usize, response: &Value) -> Result<&Vec<Value>, MergeError> {
    let bad = |reason: &str| MergeError::NotASearchResponse {
        shard,
        reason: reason.to_owned(),
    };
    response
        .as_object()
        .ok_or_else(|| bad("a facet-search answer must be an object"))?
        .get("facetHits")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("no `facetHits` array"))
}

/// The whole index's answer from the shards' answers (in a fixed shard order: it decides which
/// spelling of a value is shown). `facet_name` is the request's `facetName`.
pub fn merge(
    shard_responses: &[Value],
    facet_name: &str,
    ctx: &IndexMergeContext,
) -> Result<Value, MergeError> {
    let mut tallies: BTreeMap<String, Tally> = BTreeMap::new();
    for (shard, response) in shard_responses.iter().enumerate() {
        for hit in hits_of(shard, response)? {
            let (Some(value), Some(count)) = (
                hit.get("value").and_then(Value::as_str),
                hit.get("count").and_then(Value::as_u64),
            ) else {
                return Err(MergeError::NotASearchResponse {
                    shard,
                    reason: format!("a facet hit is not `{{value, count}}`: {hit}"),
                });
            };
            let tally = tallies
                .entry(value.trim().to_lowercase())
                .or_insert_with(|| Tally {
                    shown: value.to_owned(),
                    count: 0,
                });
            tally.count = tally.count.saturating_add(count);
        }
    }
    let mut values: Vec<Tally> = tallies.into_values().collect();
    if orders_by_count(ctx, facet_name) {
        values.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| b.shown.cmp(&a.shown)));
    }
    values.truncate(ctx.max_values_per_facet);
    let facet_hits: Vec<Value> = values
        .into_iter()
        .map(|t| {
            let mut hit = Map::new();
            hit.insert("value".into(), Value::from(t.shown));
            hit.insert("count".into(), Value::from(t.count));
            Value::Object(hit)
        })
        .collect();
    let facet_query = shard_responses
        .iter()
        .find_map(|r| r.get("facetQuery"))
        .cloned()
        .unwrap_or(Value::Null);
    let slowest = shard_responses
        .iter()
        .filter_map(|r| r.get("processingTimeMs").and_then(Value::as_u64))
        .max()
        .unwrap_or(0);
    let mut out = Map::new();
    out.insert("facetHits".into(), Value::Array(facet_hits));
    out.insert("facetQuery".into(), facet_query);
    out.insert("processingTimeMs".into(), Value::from(slowest));
    Ok(Value::Object(out))
}

/// In `count` order, whether a shard listed as many values as its limit allows, so that a value
/// it cut may be missing from a sum.
pub fn may_be_cut(shard_responses: &[Value], facet_name: &str, ctx: &IndexMergeContext) -> bool {
    orders_by_count(ctx, facet_name)
        && shard_responses.iter().any(|r| {
            r.get("facetHits")
                .and_then(Value::as_array)
                .is_some_and(|h| h.len() >= ctx.max_values_per_facet)
        })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn shard(hits: &[(&str, u64)]) -> Value {
        let hits: Vec<Value> = hits
            .iter()
            .map(|(v, c)| json!({"value": v, "count": c}))
            .collect();
        json!({"facetHits": hits, "facetQuery": "typ", "processingTimeMs": 2})
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

    #[test]
    fn counts_are_summed_and_values_come_alphabetically() {
        let ctx = IndexMergeContext::default();
        let a = shard(&[("typed", 1), ("types", 200), ("typescript", 1)]);
        let b = shard(&[("typed", 1), ("typedorm", 1), ("types", 68)]);
        let c = shard(&[("typescript-eslint", 2)]);
        let merged = merge(&[a, b, c], "scope", &ctx).unwrap();
        assert_eq!(
            serde_json::to_string(&merged).unwrap(),
            r#"{"facetHits":[{"value":"typed","count":2},{"value":"typedorm","count":1},{"value":"types","count":268},{"value":"typescript","count":1},{"value":"typescript-eslint","count":2}],"facetQuery":"typ","processingTimeMs":2}"#
        );
    }

    #[test]
    fn the_cut_keeps_the_first_values_and_spellings_merge() {
        let ctx = IndexMergeContext {
            max_values_per_facet: 2,
            ..Default::default()
        };
        let a = shard(&[("Blue", 2), ("green", 1)]);
        let b = shard(&[("apple", 1), ("blue ", 3)]);
        let merged = merge(&[a, b], "color", &ctx).unwrap();
        assert_eq!(
            values(&merged),
            [("apple".to_owned(), 1), ("Blue".to_owned(), 5)]
        );
        assert!(!may_be_cut(&[shard(&[("x", 1), ("y", 1)])], "color", &ctx));
    }

    #[test]
    fn count_order_is_descending_with_ties_larger_value_first() {
        let ctx = IndexMergeContext {
            max_values_per_facet: 3,
            sort_facet_values_by: BTreeMap::from([
                ("*".to_owned(), "alpha".to_owned()),
                ("tags".to_owned(), "count".to_owned()),
            ]),
            ..Default::default()
        };
        let a = shard(&[("x", 1), ("y", 3), ("z", 2)]);
        let b = shard(&[("w", 2), ("x", 2)]);
        let merged = merge(&[a.clone(), b.clone()], "tags", &ctx).unwrap();
        assert_eq!(
            values(&merged),
            [
                ("y".to_owned(), 3),
                ("x".to_owned(), 3),
                ("z".to_owned(), 2)
            ]
        );
        assert!(may_be_cut(&[a.clone(), b.clone()], "tags", &ctx));
        // Another facet of the same index keeps the default order.
        let merged = merge(&[a, b], "other", &ctx).unwrap();
        assert_eq!(
            values(&merged),
            [
                ("w".to_owned(), 2),
                ("x".to_owned(), 3),
                ("y".to_owned(), 3)
            ]
        );
    }

    #[test]
    fn a_shard_answer_that_is_not_a_facet_search_is_refused() {
        let ctx = IndexMergeContext::default();
        assert!(merge(&[json!({"hits": []})], "f", &ctx).is_err());
        assert!(merge(&[json!({"facetHits": [{"value": 1}]})], "f", &ctx).is_err());
        let empty = merge(&[], "f", &ctx).unwrap();
        assert_eq!(empty["facetHits"], json!([]));
        assert_eq!(empty["facetQuery"], Value::Null);
    }
}
