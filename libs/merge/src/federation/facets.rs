//! The facets of a federated search: `facetsByIndex` (each index's distribution and stats over
//! its queries' candidates, ordered and cut by the index's own faceting settings) and
//! `mergeFacets` (one distribution over all indexes).
//!
//! An index's facets come from its queries' (sharded, already merged) answers, asked with the
//! index's facets. With one query on the index they are exact. With several, milli computes them
//! on the union of the queries' candidates, which counts alone cannot give: the counts are
//! summed, so a document that two queries of the index match is counted twice.

use std::collections::BTreeMap;

use miroir_proto::error::{ErrorCode, MeiliError};
use miroir_proto::rpc_search::MergeFacets;
use serde_json::{Map, Value, json};

use crate::IndexMergeContext;
use crate::facet_search::orders_by_count;
use crate::facets::{merge_distribution, merge_stats};

/// milli's name of a facet order, as its error messages print it.
fn order_name(by_count: bool) -> &'static str {
    if by_count {
        "by count"
    } else {
        "alphanumerically"
    }
}

/// With `mergeFacets`, every index that computes a facet must order its values the same way.
/// `indexes` are `(index uid, its context, its facets)` in the order milli visits them (the
/// indexes of the queries by uid, then the others by uid); the error is milli's, unprefixed,
/// with the index it is about.
pub fn check_facet_order<'a>(
    indexes: impl IntoIterator<Item = (&'a str, &'a IndexMergeContext, &'a [String])>,
) -> Result<(), (String, MeiliError)> {
    let mut seen: BTreeMap<&str, (&str, bool)> = BTreeMap::new();
    for (uid, ctx, facets) in indexes {
        for facet in facets {
            let by_count = orders_by_count(ctx, facet);
            let (first_uid, first_order) = *seen.entry(facet).or_insert((uid, by_count));
            if first_order != by_count {
                let message = format!(
                    "Inconsistent order for values in facet `{facet}`: index `{first_uid}` orders {}, but index `{uid}` orders {}.\n - Hint: Remove `federation.mergeFacets` or change `faceting.sortFacetValuesBy` to be consistent in settings.",
                    order_name(first_order),
                    order_name(by_count)
                );
                let error = MeiliError::new(ErrorCode::InvalidMultiSearchFacetOrder, message);
                return Err((uid.to_owned(), error));
            }
        }
    }
    Ok(())
}

/// One index's `{distribution, stats}` from the answers of its queries.
pub(crate) fn index_facets(answers: &[&Map<String, Value>], ctx: &IndexMergeContext) -> Value {
    let candidates = answers
        .iter()
        .filter_map(|a| {
            ["estimatedTotalHits", "totalHits"]
                .iter()
                .find_map(|k| a.get(*k).and_then(Value::as_u64))
        })
        .fold(0u64, u64::saturating_add);
    let distribution =
        merge_distribution(answers.iter().copied(), ctx, candidates).unwrap_or_else(|| json!({}));
    let stats = merge_stats(answers.iter().copied()).unwrap_or_else(|| json!({}));
    json!({"distribution": distribution, "stats": stats})
}

/// `mergeFacets`: the indexes' distributions summed value by value (values are compared as
/// written), ordered as the indexes order the facet (`alpha`: by the value's text; `count`: by
/// count descending) and cut at `maxValuesPerFacet` when given; stats are min of mins and max
/// of maxes. `None` when no index computed facets.
pub(crate) fn merge_indexes(
    by_index: &BTreeMap<String, Value>,
    contexts: &BTreeMap<String, IndexMergeContext>,
    merge: MergeFacets,
) -> Option<(Value, Value)> {
    if by_index.is_empty() {
        return None;
    }
    let mut sums: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    let mut order: BTreeMap<String, bool> = BTreeMap::new();
    let mut stats: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    for (uid, facets) in by_index {
        let ctx = contexts.get(uid).cloned().unwrap_or_default();
        let distribution = facets.get("distribution").and_then(Value::as_object);
        for (facet, values) in distribution.into_iter().flatten() {
            order
                .entry(facet.clone())
                .or_insert_with(|| orders_by_count(&ctx, facet));
            let sum = sums.entry(facet.clone()).or_default();
            for (value, count) in values.as_object().into_iter().flatten() {
                let slot = sum.entry(value.clone()).or_default();
                *slot = slot.saturating_add(count.as_u64().unwrap_or(0));
            }
        }
        let index_stats = facets.get("stats").and_then(Value::as_object);
        for (facet, s) in index_stats.into_iter().flatten() {
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
    let limit = merge
        .max_values_per_facet
        .map(|m| usize::try_from(m).unwrap_or(usize::MAX));
    let distribution: Map<String, Value> = sums
        .into_iter()
        .map(|(facet, values)| {
            // The map is already in the values' text order.
            let mut values: Vec<(String, u64)> = values.into_iter().collect();
            if order.get(&facet).copied().unwrap_or(false) {
                values.sort_by_key(|v| std::cmp::Reverse(v.1));
            }
            if let Some(limit) = limit {
                values.truncate(limit);
            }
            let values: Map<String, Value> = values
                .into_iter()
                .map(|(v, c)| (v, Value::from(c)))
                .collect();
            (facet, Value::Object(values))
        })
        .collect();
    let stats: Map<String, Value> = stats
        .into_iter()
        .map(|(facet, (min, max))| (facet, json!({"min": min, "max": max})))
        .collect();
    Some((Value::Object(distribution), Value::Object(stats)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn by_count(facet: &str) -> IndexMergeContext {
        IndexMergeContext {
            sort_facet_values_by: BTreeMap::from([
                ("*".to_owned(), "alpha".to_owned()),
                (facet.to_owned(), "count".to_owned()),
            ]),
            ..Default::default()
        }
    }

    #[test]
    fn the_order_of_a_facet_must_agree_across_indexes() {
        let alpha = IndexMergeContext::default();
        let count = by_count("genre");
        let facets = ["genre".to_owned(), "year".to_owned()];
        assert!(
            check_facet_order([("a", &alpha, &facets[1..]), ("b", &count, &facets[1..])]).is_ok()
        );
        let (uid, e) = check_facet_order([("a", &alpha, &facets[..]), ("b", &count, &facets[..])])
            .unwrap_err();
        assert_eq!(uid, "b");
        assert_eq!(e.code, "invalid_multi_search_facet_order");
        assert!(
            e.message.starts_with(
                "Inconsistent order for values in facet `genre`: index `a` orders alphanumerically, but index `b` orders by count."
            ),
            "{}",
            e.message
        );
    }

    #[test]
    fn one_index_sums_its_queries_and_fills_empty_stats() {
        let a = json!({"estimatedTotalHits": 2, "facetDistribution": {"genre": {"drama": 1, "comedy": 1}}});
        let b = json!({"estimatedTotalHits": 1, "facetDistribution": {"genre": {"drama": 1}}});
        let f = index_facets(
            &[a.as_object().unwrap(), b.as_object().unwrap()],
            &IndexMergeContext::default(),
        );
        assert_eq!(
            serde_json::to_string(&f).unwrap(),
            r#"{"distribution":{"genre":{"comedy":1,"drama":2}},"stats":{}}"#
        );
    }

    #[test]
    fn merged_facets_sum_order_and_cut() {
        let by_index = BTreeMap::from([
            (
                "movies".to_owned(),
                json!({"distribution": {"genre": {"Drama": 3, "comedy": 1}, "year": {"1999": 2}}, "stats": {"year": {"min": 1999.0, "max": 1999.0}}}),
            ),
            (
                "series".to_owned(),
                json!({"distribution": {"genre": {"Drama": 1, "action": 5}}, "stats": {"year": {"min": 1990.0, "max": 1995.0}}}),
            ),
        ]);
        let contexts = BTreeMap::new();
        let (d, s) = merge_indexes(&by_index, &contexts, MergeFacets::default()).unwrap();
        assert_eq!(
            serde_json::to_string(&d).unwrap(),
            r#"{"genre":{"Drama":4,"action":5,"comedy":1},"year":{"1999":2}}"#
        );
        assert_eq!(s, json!({"year": {"min": 1990.0, "max": 1999.0}}));
        let contexts = BTreeMap::from([("movies".to_owned(), by_count("genre"))]);
        let cut = MergeFacets {
            max_values_per_facet: Some(2),
        };
        let (d, _) = merge_indexes(&by_index, &contexts, cut).unwrap();
        assert_eq!(
            serde_json::to_string(&d["genre"]).unwrap(),
            r#"{"action":5,"Drama":4}"#
        );
        assert!(merge_indexes(&BTreeMap::new(), &contexts, cut).is_none());
    }
}
