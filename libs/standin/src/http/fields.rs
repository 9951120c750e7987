//! `POST /indexes/{uid}/fields`: every field of the index with what its settings make of it,
//! alphabetically, paginated (`offset`, `limit`: 20), optionally only the fields matching
//! `filter.attributePatterns`, in the recorded shape.
//!
//! The stand-in lists the top-level fields its documents have held (nested paths are not
//! listed). A filterable field given as a plain pattern has every filter feature on, as a node
//! treats the legacy form; the object form says its own features (`facetSearch` off, `equality`
//! on, `comparison` off unless given).

use axum::body::Body;
use axum::extract::Path;
use axum::http::HeaderMap;
use miroir_proto::error::{ErrorCode, MeiliError};
use serde_json::{Value, json};

use super::{HttpResult, Shared, auth, check_uid, json_body, ok};
use crate::deserr;
use crate::engine::fields::{match_pattern, matches_any};
use crate::settings::Settings;
use crate::store::Index;

const BODY_FIELDS: &[&str] = &["offset", "limit", "filter"];
const FILTER_FIELDS: &[&str] = &["attributePatterns"];

struct Query {
    offset: usize,
    limit: usize,
    patterns: Option<Vec<String>>,
}

fn parse(body: &Value) -> Result<Query, MeiliError> {
    let code = ErrorCode::BadRequest;
    let map = deserr::json_object(code, "", body)?;
    let mut q = Query {
        offset: 0,
        limit: 20,
        patterns: None,
    };
    for (k, v) in map {
        let loc = format!(".{k}");
        match k.as_str() {
            "offset" => q.offset = deserr::json_usize(code, &loc, v)?,
            "limit" => q.limit = deserr::json_usize(code, &loc, v)?,
            "filter" if v.is_null() => {}
            "filter" => {
                for (fk, fv) in deserr::json_object(code, &loc, v)? {
                    match fk.as_str() {
                        "attributePatterns" if fv.is_null() => {}
                        "attributePatterns" => {
                            q.patterns =
                                Some(deserr::json_strings(code, &format!("{loc}.{fk}"), fv)?)
                        }
                        other => {
                            return Err(deserr::unknown_field(code, &loc, other, FILTER_FIELDS));
                        }
                    }
                }
            }
            other => return Err(deserr::unknown_field(code, "", other, BODY_FIELDS)),
        }
    }
    Ok(q)
}

/// The filterable features of a field: `(enabled, facetSearch, equality, comparison)`.
fn filterable(settings: &Settings, field: &str) -> (bool, bool, bool, bool) {
    for rule in &settings.filterable {
        match rule {
            Value::String(pattern) if match_pattern(pattern, field) => {
                return (true, true, true, true);
            }
            Value::Object(rule) => {
                let patterns: Vec<String> = rule
                    .get("attributePatterns")
                    .and_then(Value::as_array)
                    .map(|p| {
                        p.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default();
                if !matches_any(&patterns, field) {
                    continue;
                }
                let features = rule.get("features");
                let flag = |path: &[&str], default: bool| {
                    path.iter()
                        .try_fold(features?, |v, k| v.get(k))
                        .and_then(Value::as_bool)
                        .or(Some(default))
                };
                let facet_search = flag(&["facetSearch"], false).unwrap_or(false);
                let equality = flag(&["filter", "equality"], true).unwrap_or(true);
                let comparison = flag(&["filter", "comparison"], false).unwrap_or(false);
                return (true, facet_search, equality, comparison);
            }
            _ => {}
        }
    }
    (false, false, false, false)
}

fn locales(settings: &Settings, field: &str) -> Value {
    settings
        .localized_attributes
        .iter()
        .flatten()
        .find(|rule| {
            rule.get("attributePatterns")
                .and_then(Value::as_array)
                .is_some_and(|p| {
                    p.iter()
                        .filter_map(Value::as_str)
                        .any(|p| match_pattern(p, field))
                })
        })
        .and_then(|rule| rule.get("locales").cloned())
        .unwrap_or_else(|| json!([]))
}

fn describe(index: &Index, field: &str) -> Value {
    let s = &index.settings;
    let listed = |list: &Option<Vec<String>>| list.as_ref().is_none_or(|l| matches_any(l, field));
    let ranking_rule = s.ranking_rules.iter().any(|r| {
        r.rsplit_once(':')
            .is_some_and(|(f, o)| f == field && (o == "asc" || o == "desc"))
    });
    let sort_by = s
        .sort_facet_values_by
        .get(field)
        .or_else(|| s.sort_facet_values_by.get("*"))
        .cloned()
        .unwrap_or_else(|| "alpha".into());
    let (enabled, facet_search, equality, comparison) = filterable(s, field);
    json!({
        "name": field,
        "displayed": {"enabled": listed(&s.displayed)},
        "searchable": {"enabled": listed(&s.searchable)},
        "sortable": {"enabled": s.sortable.contains(field)},
        "distinct": {"enabled": s.distinct_attribute.as_deref() == Some(field)},
        "rankingRule": {"enabled": ranking_rule},
        "filterable": {
            "enabled": enabled,
            "sortBy": sort_by,
            "facetSearch": facet_search,
            "equality": equality,
            "comparison": comparison,
        },
        "localized": {"locales": locales(s, field)},
    })
}

pub(super) async fn fields(
    node: Shared,
    headers: HeaderMap,
    Path(uid): Path<String>,
    body: Body,
) -> HttpResult {
    auth(&node, &headers, "fields.post", Some(&uid))?;
    let body = json_body(&node, &headers, body).await?;
    let q = parse(&body)?;
    check_uid(&uid)?;
    let store = node.store();
    let index = store.index(&uid)?;
    let mut names: Vec<&String> = index
        .fields
        .iter()
        .filter(|f| q.patterns.as_ref().is_none_or(|p| matches_any(p, f)))
        .collect();
    names.sort();
    let total = names.len();
    let results: Vec<Value> = names
        .into_iter()
        .skip(q.offset)
        .take(q.limit)
        .map(|f| describe(index, f))
        .collect();
    ok(json!({"results": results, "offset": q.offset, "limit": q.limit, "total": total}))
}
