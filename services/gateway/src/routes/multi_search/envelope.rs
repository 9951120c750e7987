//! The multi-search body as Meilisearch's deserr reads it: `{queries, federation}`, each query's
//! `indexUid` and `federationOptions`, and the `federation` object, with Meilisearch's codes and
//! messages. Each query's search parameters are left to the nodes, which check them as one node
//! would (the merger moves their errors' locations inside the query).
//!
//! Then the rules Meilisearch applies before running anything: `federationOptions` only in a
//! federated search; no pagination and no `facets` inside a federated query.

use std::collections::BTreeMap;

use miroir_proto::rpc_search::{Federation, MergeFacets};
use miroir_proto::{ErrorCode, MeiliError};
use serde_json::{Map, Value};

use crate::body::{described, expect_object};
use crate::params::{index_uid_problem, invalid_type, unknown_field};

/// One query, its `indexUid` and `federationOptions` taken out.
#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    pub index_uid: String,
    pub body: Map<String, Value>,
    pub weight: f64,
    pub has_federation_options: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Envelope {
    pub queries: Vec<Query>,
    pub federation: Option<Federation>,
}

const TOP_FIELDS: &[&str] = &["queries", "federation"];
const FEDERATION_FIELDS: &[&str] = &[
    "limit",
    "offset",
    "page",
    "hitsPerPage",
    "facetsByIndex",
    "mergeFacets",
];

/// deserr's unknown-field error at a location, with `code`.
fn unknown_inside(code: ErrorCode, loc: &str, key: &str, accepted: &[&str]) -> MeiliError {
    let plain = unknown_field(key, accepted).message;
    let located = plain.replacen(
        &format!("Unknown field `{key}`"),
        &format!("Unknown field `{key}` inside `{loc}`"),
        1,
    );
    MeiliError::new(code, located)
}

fn invalid_value(code: ErrorCode, loc: &str, message: impl std::fmt::Display) -> MeiliError {
    MeiliError::new(code, format!("Invalid value at `{loc}`: {message}"))
}

fn uint(code: ErrorCode, loc: &str, v: &Value) -> Result<u64, MeiliError> {
    v.as_u64()
        .ok_or_else(|| invalid_type(code, loc, "a positive integer", v))
}

fn optional_uint(code: ErrorCode, loc: &str, v: &Value) -> Result<Option<u64>, MeiliError> {
    match v {
        Value::Null => Ok(None),
        v => uint(code, loc, v).map(Some),
    }
}

pub fn parse(body: &Value) -> Result<Envelope, MeiliError> {
    let object = expect_object(body)?;
    let mut queries = None;
    let mut federation = None;
    for (key, v) in object {
        match key.as_str() {
            "queries" => queries = Some(parse_queries(v)?),
            "federation" => {
                federation = match v {
                    Value::Null => None,
                    v => Some(parse_federation(v)?),
                }
            }
            other => return Err(unknown_field(other, TOP_FIELDS)),
        }
    }
    let Some(queries) = queries else {
        return Err(MeiliError::bad_request("Missing field `queries`"));
    };
    check_rules(&queries, federation.is_some())?;
    Ok(Envelope {
        queries,
        federation,
    })
}

fn parse_queries(v: &Value) -> Result<Vec<Query>, MeiliError> {
    let Value::Array(items) = v else {
        return Err(invalid_type(
            ErrorCode::BadRequest,
            ".queries",
            "an array",
            v,
        ));
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let loc = format!(".queries[{i}]");
        let Value::Object(fields) = item else {
            return Err(invalid_type(ErrorCode::BadRequest, &loc, "an object", item));
        };
        let mut body = Map::new();
        let mut index_uid = None;
        let mut weight = 1.0;
        let mut has_federation_options = false;
        for (key, v) in fields {
            match key.as_str() {
                "indexUid" => {
                    let at = format!("{loc}.indexUid");
                    let Value::String(uid) = v else {
                        return Err(invalid_type(ErrorCode::InvalidIndexUid, &at, "a string", v));
                    };
                    if let Some(problem) = index_uid_problem(uid) {
                        return Err(invalid_value(ErrorCode::InvalidIndexUid, &at, problem));
                    }
                    index_uid = Some(uid.clone());
                }
                "federationOptions" => {
                    if let Some(w) = parse_federation_options(&loc, v)? {
                        weight = w;
                    }
                    has_federation_options = !v.is_null();
                }
                _ => {
                    body.insert(key.clone(), v.clone());
                }
            }
        }
        let Some(index_uid) = index_uid else {
            return Err(MeiliError::new(
                ErrorCode::MissingIndexUid,
                format!("Missing field `indexUid` inside `{loc}`"),
            ));
        };
        out.push(Query {
            index_uid,
            body,
            weight,
            has_federation_options,
        });
    }
    Ok(out)
}

/// `federationOptions`: its `weight` if given.
fn parse_federation_options(loc: &str, v: &Value) -> Result<Option<f64>, MeiliError> {
    const CODE: ErrorCode = ErrorCode::InvalidMultiSearchFederationOptions;
    const FIELDS: &[&str] = &["weight", "remote", "queryPosition"];
    let at = format!("{loc}.federationOptions");
    let options = match v {
        Value::Null => return Ok(None),
        Value::Object(options) => options,
        other => return Err(invalid_type(CODE, &at, "an object", other)),
    };
    let mut weight = None;
    for (key, v) in options {
        match key.as_str() {
            "weight" => {
                let w_at = format!("{at}.weight");
                let Some(w) = v.as_f64() else {
                    return Err(invalid_type(
                        ErrorCode::InvalidMultiSearchWeight,
                        &w_at,
                        "a number",
                        v,
                    ));
                };
                if w < 0.0 {
                    return Err(invalid_value(
                        ErrorCode::InvalidMultiSearchWeight,
                        &w_at,
                        "the value of `weight` is invalid, expected a positive float (>= 0.0).",
                    ));
                }
                weight = Some(w);
            }
            // Remote (network) queries are a Meilisearch Enterprise feature; without a network
            // every query is local, as Meilisearch without one treats them.
            "remote" | "queryPosition" => {}
            other => return Err(unknown_inside(CODE, &at, other, FIELDS)),
        }
    }
    Ok(weight)
}

fn parse_federation(v: &Value) -> Result<Federation, MeiliError> {
    const CODE: ErrorCode = ErrorCode::InvalidMultiSearchFederated;
    let Value::Object(fields) = v else {
        return Err(invalid_type(CODE, ".federation", "an object", v));
    };
    let mut federation = Federation::default();
    for (key, v) in fields {
        let at = format!(".federation.{key}");
        match key.as_str() {
            "limit" => federation.limit = uint(ErrorCode::InvalidSearchLimit, &at, v)?,
            "offset" => federation.offset = uint(ErrorCode::InvalidSearchOffset, &at, v)?,
            "page" => federation.page = optional_uint(ErrorCode::InvalidSearchPage, &at, v)?,
            "hitsPerPage" => {
                federation.hits_per_page =
                    optional_uint(ErrorCode::InvalidSearchHitsPerPage, &at, v)?
            }
            "facetsByIndex" => federation.facets_by_index = parse_facets_by_index(&at, v)?,
            "mergeFacets" => federation.merge_facets = parse_merge_facets(&at, v)?,
            other => {
                return Err(unknown_inside(
                    CODE,
                    ".federation",
                    other,
                    FEDERATION_FIELDS,
                ));
            }
        }
    }
    Ok(federation)
}

fn parse_facets_by_index(
    at: &str,
    v: &Value,
) -> Result<BTreeMap<String, Option<Vec<String>>>, MeiliError> {
    const CODE: ErrorCode = ErrorCode::InvalidMultiSearchFacetsByIndex;
    let by_index = match v {
        Value::Null => return Ok(BTreeMap::new()),
        Value::Object(by_index) => by_index,
        other => return Err(invalid_type(CODE, at, "an object", other)),
    };
    let mut out = BTreeMap::new();
    for (uid, facets) in by_index {
        let uid_at = format!("{at}.{uid}");
        if let Some(problem) = index_uid_problem(uid) {
            return Err(invalid_value(ErrorCode::InvalidIndexUid, &uid_at, problem));
        }
        let facets = match facets {
            Value::Null => None,
            Value::Array(items) => Some(
                items
                    .iter()
                    .enumerate()
                    .map(|(j, f)| match f {
                        Value::String(s) => Ok(s.clone()),
                        other => Err(invalid_type(
                            CODE,
                            &format!("{uid_at}[{j}]"),
                            "a string",
                            other,
                        )),
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            other => return Err(invalid_type(CODE, &uid_at, "an array", other)),
        };
        out.insert(uid.clone(), facets);
    }
    Ok(out)
}

fn parse_merge_facets(at: &str, v: &Value) -> Result<Option<MergeFacets>, MeiliError> {
    const CODE: ErrorCode = ErrorCode::InvalidMultiSearchMergeFacets;
    let fields = match v {
        Value::Null => return Ok(None),
        Value::Object(fields) => fields,
        other => return Err(invalid_type(CODE, at, "an object", other)),
    };
    let mut merge = MergeFacets::default();
    for (key, v) in fields {
        match key.as_str() {
            "maxValuesPerFacet" => {
                merge.max_values_per_facet = optional_uint(
                    ErrorCode::InvalidMultiSearchMaxValuesPerFacet,
                    &format!("{at}.maxValuesPerFacet"),
                    v,
                )?
            }
            other => return Err(unknown_inside(CODE, at, other, &["maxValuesPerFacet"])),
        }
    }
    Ok(Some(merge))
}

/// The rules Meilisearch checks on the parsed queries, in its order.
fn check_rules(queries: &[Query], federated: bool) -> Result<(), MeiliError> {
    for (i, q) in queries.iter().enumerate() {
        if !federated {
            if q.has_federation_options {
                return Err(MeiliError::new(
                    ErrorCode::InvalidMultiSearchFederationOptions,
                    format!(
                        "Using `federationOptions` is not allowed in a non-federated search.\n - Hint: remove `federationOptions` from query #{i} or add `federation` to the request."
                    ),
                ));
            }
            continue;
        }
        let present = |k: &str| q.body.get(k).is_some_and(|v| !v.is_null());
        if let Some(p) = ["offset", "limit", "page", "hitsPerPage"]
            .into_iter()
            .find(|p| present(p))
        {
            return Err(MeiliError::new(
                ErrorCode::InvalidMultiSearchQueryPagination,
                format!(
                    "Inside `.queries[{i}]`: Using pagination options is not allowed in federated queries.\n - Hint: remove `{p}` from query #{i} or remove `federation` from the request\n - Hint: pass `federation.limit` and `federation.offset` for pagination in federated search"
                ),
            ));
        }
        if let Some(Value::Array(facets)) = q.body.get("facets")
            && !facets.is_empty()
        {
            // Meilisearch prints the list with Rust's `Debug`: `["a", "b"]`.
            let names: Vec<String> = facets
                .iter()
                .map(|f| match f {
                    Value::String(s) => format!("{s:?}"),
                    other => described(other),
                })
                .collect();
            return Err(MeiliError::new(
                ErrorCode::InvalidMultiSearchQueryFacets,
                format!(
                    "Inside `.queries[{i}]`: Using facet options is not allowed in federated queries.\n - Hint: remove `facets` from query #{i} or remove `federation` from the request\n - Hint: pass `federation.facetsByIndex.{}: [{}]` for facets in federated search",
                    q.index_uid,
                    names.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn a_plain_multi_search() {
        let e = parse(&json!({"queries": [{"indexUid": "npm", "q": "react", "limit": 2}, {"indexUid": "movies"}]})).unwrap();
        assert_eq!(e.federation, None);
        assert_eq!(e.queries[0].index_uid, "npm");
        assert_eq!(
            Value::Object(e.queries[0].body.clone()),
            json!({"q": "react", "limit": 2})
        );
        assert_eq!(e.queries[1].weight, 1.0);
    }

    #[test]
    fn a_federated_multi_search() {
        let e = parse(&json!({
            "federation": {"limit": 5, "page": null, "facetsByIndex": {"npm": ["major"], "movies": null}, "mergeFacets": {"maxValuesPerFacet": 3}},
            "queries": [{"indexUid": "movies", "q": "carol", "federationOptions": {"weight": 2.0}}],
        }))
        .unwrap();
        let f = e.federation.unwrap();
        assert_eq!((f.limit, f.offset, f.page), (5, 0, None));
        assert_eq!(f.facets_by_index["npm"], Some(vec!["major".to_owned()]));
        assert_eq!(f.facets_by_index["movies"], None);
        assert_eq!(f.merge_facets.unwrap().max_values_per_facet, Some(3));
        assert_eq!(e.queries[0].weight, 2.0);
        assert!(!e.queries[0].body.contains_key("federationOptions"));
    }

    #[test]
    fn envelope_errors_are_meilisearchs() {
        let err = |v: Value| parse(&v).unwrap_err();
        let e = err(json!({}));
        assert_eq!(
            (e.code.as_str(), e.message.as_str()),
            ("bad_request", "Missing field `queries`")
        );
        let e = err(json!([]));
        assert_eq!(
            e.message,
            "Invalid value type: expected an object, but found an array: `[]`"
        );
        let e = err(json!({"queries": [{"q": "glass"}]}));
        assert_eq!(
            (e.code.as_str(), e.message.as_str()),
            (
                "missing_index_uid",
                "Missing field `indexUid` inside `.queries[0]`"
            )
        );
        let e = err(json!({"queries": [{"indexUid": "hé"}]}));
        assert_eq!(e.code, "invalid_index_uid");
        assert!(
            e.message.starts_with(
                "Invalid value at `.queries[0].indexUid`: `hé` is not a valid index uid."
            ),
            "{}",
            e.message
        );
        let e = err(json!({"queries": [], "other": 1}));
        assert!(
            e.message.starts_with("Unknown field `other`: "),
            "{}",
            e.message
        );
        let e = err(
            json!({"queries": [{"indexUid": "a", "federationOptions": {"weight": -1}}], "federation": {}}),
        );
        assert_eq!(e.code, "invalid_multi_search_weight");
        assert_eq!(
            e.message,
            "Invalid value at `.queries[0].federationOptions.weight`: the value of `weight` is invalid, expected a positive float (>= 0.0)."
        );
        let e = err(json!({"queries": [], "federation": {"limit": -1}}));
        assert_eq!(e.code, "invalid_search_limit");
        assert_eq!(
            e.message,
            "Invalid value type at `.federation.limit`: expected a positive integer, but found a negative integer: `-1`"
        );
        let e = err(json!({"queries": [], "federation": {"limt": 1}}));
        assert_eq!(e.code, "invalid_multi_search_federated");
        assert!(
            e.message
                .starts_with("Unknown field `limt` inside `.federation`: did you mean `limit`?"),
            "{}",
            e.message
        );
        let e = err(json!({"queries": [], "federation": 3}));
        assert_eq!(e.code, "invalid_multi_search_federated");
        let e =
            err(json!({"queries": [], "federation": {"mergeFacets": {"maxValuesPerFacet": "x"}}}));
        assert_eq!(e.code, "invalid_multi_search_max_values_per_facet");
        let e = err(json!({"queries": [], "federation": {"facetsByIndex": {"npm": "major"}}}));
        assert_eq!(e.code, "invalid_multi_search_facets_by_index");
    }

    #[test]
    fn rules_before_running() {
        let e = parse(&json!({"queries": [{"indexUid": "a"}, {"indexUid": "b", "federationOptions": {"weight": 1}}]})).unwrap_err();
        assert_eq!(e.code, "invalid_multi_search_federation_options");
        assert!(e.message.contains("from query #1 or add `federation`"));
        let e = parse(
            &json!({"federation": {}, "queries": [{"indexUid": "a", "limit": 1, "offset": 2}]}),
        )
        .unwrap_err();
        assert_eq!(e.code, "invalid_multi_search_query_pagination");
        assert!(
            e.message.contains("remove `offset` from query #0"),
            "{}",
            e.message
        );
        let e = parse(&json!({"federation": {}, "queries": [{"indexUid": "npm", "facets": ["major", "scope"]}]})).unwrap_err();
        assert_eq!(e.code, "invalid_multi_search_query_facets");
        assert!(e.message.ends_with("pass `federation.facetsByIndex.npm: [\"major\", \"scope\"]` for facets in federated search"), "{}", e.message);
        assert!(parse(&json!({"federation": {}, "queries": [{"indexUid": "npm", "facets": [], "limit": null}]})).is_ok());
    }
}
