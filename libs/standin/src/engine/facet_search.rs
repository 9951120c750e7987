//! `POST /indexes/{uid}/facet-search`: the values of one filterable attribute among the
//! documents a query (and filter) matches, narrowed to those the facet query prefixes (with
//! the typos its length allows), with their counts.

use std::collections::BTreeMap;
use std::time::Instant;

use miroir_proto::error::{ErrorCode, MeiliError};
use serde_json::{Value, json};

use super::fields::matches_any;
use super::filter;
use super::ranking::MatchingStrategy;
use super::search::{rank, search_on_mask};
use super::{DocId, IndexView, facets};

/// The fields a facet-search body accepts, in Meilisearch's order.
const FACET_SEARCH_FIELDS: &[&str] = &[
    "facetQuery",
    "facetName",
    "q",
    "vector",
    "hybrid",
    "filter",
    "matchingStrategy",
    "attributesToSearchOn",
    "rankingScoreThreshold",
    "locales",
    "exhaustiveFacetCount",
];

/// POST /indexes/{uid}/facet-search.
pub fn facet_search(view: &IndexView, body: &Value) -> Result<Value, MeiliError> {
    use crate::deserr as de;
    let started = Instant::now();
    let Value::Object(map) = body else {
        return Err(de::invalid_type(
            ErrorCode::BadRequest,
            "",
            "an object",
            body,
        ));
    };
    let mut facet_name: Option<String> = None;
    let mut facet_query: Option<String> = None;
    let mut q = String::new();
    let mut filter_value: Option<Value> = None;
    let mut strategy = MatchingStrategy::Last;
    let mut search_on: Option<Vec<String>> = None;
    let mut threshold: Option<f64> = None;
    for (key, v) in map {
        let loc = format!(".{key}");
        match key.as_str() {
            "facetName" => {
                facet_name = Some(de::json_string(
                    ErrorCode::InvalidFacetSearchFacetName,
                    &loc,
                    v,
                )?)
            }
            "facetQuery" => {
                facet_query = if v.is_null() {
                    None
                } else {
                    Some(de::json_string(
                        ErrorCode::InvalidFacetSearchFacetQuery,
                        &loc,
                        v,
                    )?)
                }
            }
            "q" => {
                q = if v.is_null() {
                    String::new()
                } else {
                    de::json_string(ErrorCode::InvalidSearchQ, &loc, v)?
                }
            }
            "filter" => filter_value = if v.is_null() { None } else { Some(v.clone()) },
            "matchingStrategy" => {
                let s = de::json_string(ErrorCode::InvalidSearchMatchingStrategy, &loc, v)?;
                strategy = match s.as_str() {
                    "last" => MatchingStrategy::Last,
                    "all" => MatchingStrategy::All,
                    "frequency" => MatchingStrategy::Frequency,
                    other => {
                        return Err(de::unknown_value(
                            ErrorCode::InvalidSearchMatchingStrategy,
                            &loc,
                            other,
                            &["last", "all", "frequency"],
                        ));
                    }
                }
            }
            "attributesToSearchOn" => {
                search_on = if v.is_null() {
                    None
                } else {
                    Some(de::json_strings(
                        ErrorCode::InvalidSearchAttributesToSearchOn,
                        &loc,
                        v,
                    )?)
                }
            }
            "rankingScoreThreshold" => {
                threshold = if v.is_null() {
                    None
                } else {
                    let f = v.as_f64().ok_or_else(|| {
                        de::invalid_type(
                            ErrorCode::InvalidSearchRankingScoreThreshold,
                            &loc,
                            "a number",
                            v,
                        )
                    })?;
                    Some(f)
                }
            }
            "exhaustiveFacetCount" => {
                if !v.is_null() {
                    de::json_bool(ErrorCode::InvalidFacetSearchExhaustiveFacetCount, &loc, v)?;
                }
            }
            "locales" | "vector" | "hybrid" => {}
            other => {
                return Err(de::unknown_field(
                    ErrorCode::BadRequest,
                    "",
                    other,
                    FACET_SEARCH_FIELDS,
                ));
            }
        }
    }
    let Some(facet_name) = facet_name else {
        return Err(de::missing_field(
            ErrorCode::InvalidFacetSearchFacetName,
            "",
            "facetName",
        ));
    };
    let settings = view.settings;
    if !settings.facet_search {
        return Err(MeiliError::new(
            ErrorCode::FacetSearchDisabled,
            "The facet search is disabled for this index",
        ));
    }
    if !matches_any(&settings.filterable, &facet_name) {
        let mut names: Vec<&String> = settings.filterable.iter().collect();
        names.sort();
        let list = names
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        return Err(MeiliError::new(
            ErrorCode::InvalidFacetSearchFacetName,
            format!(
                "Attribute `{facet_name}` is not facet-searchable. Available facet-searchable attributes patterns are: `{list}`. To make it facet-searchable add it to the `filterableAttributes` index settings."
            ),
        ));
    }
    let filter = match &filter_value {
        Some(f) => {
            let parsed = filter::parse(f, ErrorCode::InvalidSearchFilter)?.requoted();
            parsed.check_filterable(
                &settings.filterable,
                Some(view.uid),
                ErrorCode::InvalidSearchFilter,
            )?;
            Some(parsed)
        }
        None => None,
    };
    let mask = match &search_on {
        Some(a) => search_on_mask(view, a)?,
        None => None,
    };
    let ranked = rank(view, &q, filter.as_ref(), &[], strategy, mask);
    let mut ids: Vec<DocId> = ranked
        .hits
        .iter()
        .filter(|(_, s)| threshold.is_none_or(|t| s.global() >= t))
        .map(|(id, _)| *id)
        .collect();
    ids.sort_unstable();
    let values = facets::string_values(&facet_name, &ids, view.docs);
    let query_norm = facet_query
        .as_deref()
        .map(|s| s.trim().to_lowercase())
        .unwrap_or_default();
    let allowed = super::query::typos_allowed(&query_norm, settings);
    let mut hits: Vec<(&String, &String, u64)> = values
        .iter()
        .filter(|(norm, _)| {
            query_norm.is_empty() || facet_value_matches(norm, &query_norm, allowed)
        })
        .map(|(norm, (orig, count))| (norm, orig, *count))
        .collect();
    let by_count = settings
        .sort_facet_values_by
        .get(&facet_name)
        .or_else(|| settings.sort_facet_values_by.get("*"))
        .is_some_and(|o| o == "count");
    if by_count {
        hits.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(b.0)));
    }
    let facet_hits: Vec<Value> = hits
        .into_iter()
        .take(settings.max_values_per_facet)
        .map(|(_, orig, count)| json!({"value": orig, "count": count}))
        .collect();
    let elapsed = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    Ok(json!({"facetHits": facet_hits, "facetQuery": facet_query, "processingTimeMs": elapsed}))
}

/// A facet value matches the facet query when the query is (within the typos its length
/// allows) a prefix of the value.
fn facet_value_matches(value: &str, query: &str, typos: u8) -> bool {
    if value.starts_with(query) {
        return true;
    }
    if typos == 0 {
        return false;
    }
    let mut dict = BTreeMap::new();
    dict.insert(value.to_string(), 0u32);
    let chars: Vec<char> = query.chars().collect();
    let mut found = false;
    super::levenshtein::fuzzy_walk(
        &dict,
        &chars,
        typos,
        true,
        std::ops::Bound::Unbounded,
        std::ops::Bound::Unbounded,
        |_, _, _| found = true,
    );
    found
}
