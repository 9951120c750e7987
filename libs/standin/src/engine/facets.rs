//! Facet distribution and statistics over a set of candidates, as Meilisearch computes them:
//! numbers first then strings, each field cut at `maxValuesPerFacet`, values in the order
//! `sortFacetValuesBy` asks (alphabetical by default: string order of the values when there
//! are at most 3000 candidates, numeric order of numbers beyond, as Meilisearch's two
//! strategies give), strings counted by their normalised form and shown as first seen.

use std::collections::{BTreeMap, BTreeSet};

use indexmap::IndexMap;
use miroir_proto::error::{ErrorCode, MeiliError};
use serde_json::{Map, Value, json};

use super::docset::DocSet;
use super::facet_index::{from_ordered_key, normalize_facet, patterns_of};
use super::fields::{PatternMatch, any_leaf, match_legacy, matches_any};
use super::{DocId, Document, EngineSettings, SearchIndex};

/// Above this many candidates Meilisearch walks its facet tree (numeric order) instead of the
/// documents (string order).
const LINEAR_SCAN_THRESHOLD: usize = 3000;

/// Meilisearch's display of a facet number: `1`, `4.5`.
pub fn number_key(f: f64) -> String {
    format!("{f}")
}

/// Whether the `facets` parameter is valid: every entry must be filterable.
pub fn check_facets(facets: &[String], filterable: &[String]) -> Result<(), MeiliError> {
    for f in facets {
        if f == "*" || matches_any(filterable, f) {
            continue;
        }
        let mut patterns: Vec<&String> = filterable.iter().collect();
        patterns.sort();
        let tail = if patterns.is_empty() {
            "This index does not have configured filterable attributes.".to_string()
        } else {
            format!(
                "Available filterable attributes patterns are: `{}`.",
                patterns
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        return Err(MeiliError::new(
            ErrorCode::InvalidSearchFacets,
            format!("Invalid facet distribution: Pattern `{f}` is not filterable. {tail}"),
        ));
    }
    Ok(())
}

/// The fields a `facets` parameter selects among the index's fields.
pub fn selected_fields<'a>(
    facets: &[String],
    filterable: &[String],
    all_fields: &'a BTreeSet<String>,
) -> Vec<&'a String> {
    all_fields
        .iter()
        .filter(|name| matches_any(filterable, name))
        .filter(|name| {
            facets
                .iter()
                .any(|f| f == "*" || match_legacy(f, name) == PatternMatch::Match)
        })
        .collect()
}

#[derive(Default)]
struct FieldValues {
    /// f64 bits -> (value, count)
    numbers: BTreeMap<u64, (f64, u64)>,
    /// normalised -> (first original, count)
    strings: BTreeMap<String, (String, u64)>,
    /// From the facet index: normalised -> first candidate holding it, whose original
    /// spelling is looked up only if the value is shown.
    firsts: BTreeMap<String, DocId>,
}

/// The values of `field` among many candidates, read from the facet index.
fn collect_from_index(field: &str, candidates: &DocSet, index: &SearchIndex) -> FieldValues {
    let mut out = FieldValues::default();
    let Some(f) = index.facets.fields.get(field) else {
        return out;
    };
    for (key, ids) in &f.numbers {
        let count = ids.iter().filter(|id| candidates.contains(**id)).count() as u64;
        if count > 0 {
            let v = from_ordered_key(*key);
            out.numbers.insert(v.to_bits(), (v, count));
        }
    }
    for (norm, ids) in &f.strings {
        let mut hits = ids.iter().filter(|id| candidates.contains(**id));
        if let Some(first) = hits.next() {
            let count = 1 + hits.count() as u64;
            out.strings.insert(norm.to_string(), (String::new(), count));
            out.firsts.insert(norm.to_string(), *first);
        }
    }
    out
}

/// The spelling of a normalised value in a document.
fn original_in(doc: &Document, field: &str, norm: &str) -> Option<String> {
    let mut found = None;
    any_leaf(doc, field, &mut |v| {
        let s = match v {
            Value::String(s) => s.clone(),
            Value::Bool(b) => b.to_string(),
            _ => return false,
        };
        if normalize_facet(&s) == norm {
            found = Some(s);
            return true;
        }
        false
    });
    found
}

/// The documents of sorted `candidates`; a large share of the index is read by walking the
/// map in order rather than by one lookup per id.
fn candidate_docs<'a>(
    candidates: &'a [DocId],
    docs: &'a BTreeMap<DocId, Document>,
) -> Box<dyn Iterator<Item = &'a Document> + 'a> {
    if candidates.len().saturating_mul(4) < docs.len() {
        return Box::new(candidates.iter().filter_map(|id| docs.get(id)));
    }
    let mut next = 0usize;
    Box::new(docs.iter().filter_map(move |(id, doc)| {
        while next < candidates.len() && candidates[next] < *id {
            next += 1;
        }
        (next < candidates.len() && candidates[next] == *id).then_some(doc)
    }))
}

fn collect(field: &str, candidates: &[DocId], docs: &BTreeMap<DocId, Document>) -> FieldValues {
    let mut out = FieldValues::default();
    // Per-document de-duplication (a value counts once per document), reused across documents.
    let mut seen_nums: Vec<u64> = Vec::new();
    let mut seen_strs: Vec<String> = Vec::new();
    let mut buf = String::new();
    for doc in candidate_docs(candidates, docs) {
        seen_nums.clear();
        seen_strs.clear();
        any_leaf(doc, field, &mut |v| {
            match v {
                Value::Number(n) => {
                    if let Some(f) = n.as_f64() {
                        let bits = f.to_bits();
                        if !seen_nums.contains(&bits) {
                            seen_nums.push(bits);
                            out.numbers.entry(bits).or_insert((f, 0)).1 += 1;
                        }
                    }
                }
                Value::String(_) | Value::Bool(_) => {
                    let original: std::borrow::Cow<str> = match v {
                        Value::String(s) => std::borrow::Cow::Borrowed(s.as_str()),
                        Value::Bool(b) => std::borrow::Cow::Owned(b.to_string()),
                        _ => std::borrow::Cow::Borrowed(""),
                    };
                    buf.clear();
                    let trimmed = original.trim();
                    if trimmed.is_ascii() {
                        buf.push_str(trimmed);
                        buf.make_ascii_lowercase();
                    } else {
                        buf.push_str(&trimmed.to_lowercase());
                    }
                    if !seen_strs.contains(&buf) {
                        seen_strs.push(buf.clone());
                        match out.strings.get_mut(buf.as_str()) {
                            Some(entry) => entry.1 += 1,
                            None => {
                                out.strings.insert(buf.clone(), (original.into_owned(), 1));
                            }
                        }
                    }
                }
                _ => {}
            }
            false
        });
    }
    out
}

/// `facetDistribution` and `facetStats` for the selected fields.
pub fn distribution(
    fields: &[&String],
    candidates: &[DocId],
    docs: &BTreeMap<DocId, Document>,
    settings: &EngineSettings,
    index: &SearchIndex,
) -> (Value, Value) {
    let mut dist = Map::new();
    let mut stats = Map::new();
    let max = settings.max_values_per_facet;
    let use_index =
        candidates.len() > LINEAR_SCAN_THRESHOLD && index.facets.usable_for(&patterns_of(settings));
    let candidate_set = if use_index {
        DocSet::from_sorted(candidates)
    } else {
        DocSet::new()
    };
    for field in fields {
        let values = if use_index {
            collect_from_index(field, &candidate_set, index)
        } else {
            collect(field, candidates, docs)
        };
        let order = settings
            .sort_facet_values_by
            .get(field.as_str())
            .or_else(|| settings.sort_facet_values_by.get("*"))
            .map(String::as_str)
            .unwrap_or("alpha");
        let mut out: IndexMap<String, u64> = IndexMap::new();
        let mut numbers: Vec<(f64, u64)> = values.numbers.values().copied().collect();
        if order == "count" {
            numbers.sort_by(|a, b| {
                b.1.cmp(&a.1)
                    .then(a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal))
            });
        } else if candidates.len() <= LINEAR_SCAN_THRESHOLD {
            numbers.sort_by_key(|a| number_key(a.0));
        } else {
            numbers.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
        }
        for (f, c) in numbers.into_iter().take(max) {
            out.insert(number_key(f), c);
        }
        let mut strings: Vec<(&String, &(String, u64))> = values.strings.iter().collect();
        if order == "count" {
            strings.sort_by(|a, b| b.1.1.cmp(&a.1.1).then(a.0.cmp(b.0)));
        }
        for (norm, (original, c)) in strings.into_iter().take(max.saturating_sub(out.len())) {
            let shown = match values.firsts.get(norm) {
                Some(first) => docs
                    .get(first)
                    .and_then(|d| original_in(d, field, norm))
                    .unwrap_or_else(|| norm.clone()),
                None => original.clone(),
            };
            out.insert(shown, *c);
        }
        dist.insert(field.to_string(), json!(out));
        let (min, max_v) = values
            .numbers
            .values()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), (f, _)| {
                (lo.min(*f), hi.max(*f))
            });
        if min.is_finite() && max_v.is_finite() {
            stats.insert(field.to_string(), json!({"min": min, "max": max_v}));
        }
    }
    (Value::Object(dist), Value::Object(stats))
}

/// Values of `field` among `candidates` for facet search: normalised value -> (original, count).
pub fn string_values(
    field: &str,
    candidates: &[DocId],
    docs: &BTreeMap<DocId, Document>,
) -> BTreeMap<String, (String, u64)> {
    collect(field, candidates, docs).strings
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn docs(values: &[Value]) -> BTreeMap<DocId, Document> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| (i as u32, v.as_object().cloned().unwrap()))
            .collect()
    }

    #[test]
    fn alpha_order_numbers_then_strings_and_cut() {
        let d = docs(&[
            json!({"m": 1, "s": "B"}),
            json!({"m": 11, "s": "b"}),
            json!({"m": 2, "s": "a"}),
            json!({"m": [2, 2]}),
        ]);
        let settings = EngineSettings {
            max_values_per_facet: 2,
            ..Default::default()
        };
        let fields = ["m".to_string(), "s".to_string()];
        let refs: Vec<&String> = fields.iter().collect();
        let (dist, stats) = distribution(&refs, &[0, 1, 2, 3], &d, &settings, &SearchIndex::new());
        assert_eq!(dist, json!({"m": {"1": 1, "11": 1}, "s": {"a": 1, "B": 2}}));
        let keys: Vec<&String> = dist["m"].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["1", "11"]);
        assert_eq!(stats, json!({"m": {"min": 1.0, "max": 11.0}}));
    }

    #[test]
    fn count_order() {
        let d = docs(&[json!({"s": "x"}), json!({"s": "y"}), json!({"s": "y"})]);
        let mut settings = EngineSettings::default();
        settings
            .sort_facet_values_by
            .insert("*".into(), "count".into());
        let fields = ["s".to_string()];
        let refs: Vec<&String> = fields.iter().collect();
        let (dist, _) = distribution(&refs, &[0, 1, 2], &d, &settings, &SearchIndex::new());
        let keys: Vec<&String> = dist["s"].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["y", "x"]);
    }

    #[test]
    fn invalid_facet_error() {
        let f: Vec<String> = ["scope", "major", "downloads", "tags"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let e = check_facets(&["name".into()], &f).unwrap_err();
        assert_eq!(
            e.message,
            "Invalid facet distribution: Pattern `name` is not filterable. Available filterable attributes patterns are: `downloads, major, scope, tags`."
        );
        assert!(check_facets(&["*".into(), "tags".into()], &f).is_ok());
    }
}
