//! Search routes: `/indexes/{uid}/search` (POST and GET), `/facet-search`, `/similar` and
//! `/multi-search` (plain and federated). Parsing and ranking are the engine's; this module finds
//! the index, checks access, and assembles multi-search answers.

use std::panic::{AssertUnwindSafe, catch_unwind};

use axum::body::Body;
use axum::extract::{Path, RawQuery};
use axum::http::HeaderMap;
use miroir_proto::error::{ErrorCode, MeiliError};
use serde_json::{Map, Value, json};

use super::{HttpResult, Shared, auth, check_uid, json_body, ok};
use crate::auth::Access;
use crate::deserr::{self, QueryParams};
use crate::engine::{self, SearchQuery};
use crate::node::Node;
use crate::store::{invalid_index_uid_message, valid_index_uid};

/// Runs engine code so that a bug in it answers 500 instead of dropping the connection.
fn guarded<T>(f: impl FnOnce() -> Result<T, MeiliError>) -> Result<T, MeiliError> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Err(MeiliError::internal(
            "the search engine failed on this request",
        ))
    })
}

fn run_search(node: &Node, uid: &str, query: &SearchQuery) -> Result<Value, MeiliError> {
    let store = node.store();
    let index = store.index(uid)?;
    guarded(|| engine::search(&index.view(), query))
}

pub(super) async fn search_post(
    node: Shared,
    headers: HeaderMap,
    Path(uid): Path<String>,
    body: Body,
) -> HttpResult {
    auth(&node, &headers, "search", Some(&uid))?;
    let body = json_body(&node, &headers, body).await?;
    {
        let store = node.store();
        if let Ok(index) = store.index(&uid)
            && super::vectors::is_semantic(index, &body)
        {
            return ok(guarded(|| super::vectors::search(index, &body))?);
        }
    }
    let query = guarded(|| engine::parse_search_body(&body))?;
    check_uid(&uid)?;
    ok(run_search(&node, &uid, &query)?)
}

pub(super) async fn search_get(
    node: Shared,
    headers: HeaderMap,
    Path(uid): Path<String>,
    RawQuery(q): RawQuery,
) -> HttpResult {
    auth(&node, &headers, "search", Some(&uid))?;
    let raw = q.unwrap_or_default();
    let query = guarded(|| engine::parse_search_params(&raw))?;
    check_uid(&uid)?;
    ok(run_search(&node, &uid, &query)?)
}

pub(super) async fn facet_search(
    node: Shared,
    headers: HeaderMap,
    Path(uid): Path<String>,
    body: Body,
) -> HttpResult {
    auth(&node, &headers, "search", Some(&uid))?;
    let body = json_body(&node, &headers, body).await?;
    check_uid(&uid)?;
    let store = node.store();
    let index = store.index(&uid)?;
    ok(guarded(|| engine::facet_search(&index.view(), &body))?)
}

const SIMILAR_FIELDS: &[&str] = &[
    "id",
    "offset",
    "limit",
    "filter",
    "embedder",
    "attributesToRetrieve",
    "retrieveVectors",
    "showRankingScore",
    "showRankingScoreDetails",
    "showPerformanceDetails",
    "rankingScoreThreshold",
];

/// A similar query names a document and an embedder; the rest of it (page, filter, what to
/// show) reads as a search's (`rest`). An embedder the index does not have is refused as a node
/// refuses it; the neighbours are [`vectors::similar`](super::vectors::similar)'s.
fn similar(
    node: &Node,
    uid: &str,
    fields: Vec<(String, Value)>,
    missing: impl Fn(&str) -> MeiliError,
    rest: impl FnOnce(&[(String, Value)]) -> Result<SearchQuery, MeiliError>,
) -> HttpResult {
    let mut embedder = None;
    let mut has_id = None;
    for (k, v) in &fields {
        match k.as_str() {
            "id" => {
                if crate::documents::canonical_id(v).is_none() {
                    return Err(deserr::invalid_value(
                        ErrorCode::InvalidSimilarId,
                        ".id",
                        "the value of `id` is invalid. A document identifier can be of type integer or string, only composed of alphanumeric characters (a-z A-Z 0-9), hyphens (-) and underscores (_), and can not be more than 511 bytes.",
                    ));
                }
                has_id = crate::documents::canonical_id(v);
            }
            "embedder" => {
                embedder = Some(deserr::json_string(
                    ErrorCode::InvalidSimilarEmbedder,
                    ".embedder",
                    v,
                )?)
            }
            _ => {}
        }
    }
    let Some(id) = has_id else {
        return Err(missing("id"));
    };
    let Some(embedder) = embedder else {
        return Err(missing("embedder"));
    };
    check_uid(uid)?;
    let store = node.store();
    let index = store.index(uid)?;
    if !index.settings.embedders.contains_key(&embedder) {
        return Err(MeiliError::new(
            ErrorCode::InvalidSimilarEmbedder,
            format!("Cannot find embedder with name `{embedder}`."),
        ));
    }
    let others: Vec<(String, Value)> = fields
        .into_iter()
        .filter(|(k, _)| k != "id" && k != "embedder")
        .collect();
    let query = rest(&others)?;
    ok(guarded(|| {
        super::vectors::similar(index, &id, &embedder, &query)
    })?)
}

pub(super) async fn similar_post(
    node: Shared,
    headers: HeaderMap,
    Path(uid): Path<String>,
    body: Body,
) -> HttpResult {
    auth(&node, &headers, "search", Some(&uid))?;
    let body = json_body(&node, &headers, body).await?;
    let map = deserr::json_object(ErrorCode::BadRequest, "", &body)?;
    let mut fields = Vec::new();
    for (k, v) in map {
        if !SIMILAR_FIELDS.contains(&k.as_str()) {
            return Err(deserr::unknown_field(
                ErrorCode::BadRequest,
                "",
                k,
                SIMILAR_FIELDS,
            ));
        }
        fields.push((k.clone(), v.clone()));
    }
    similar(
        &node,
        &uid,
        fields,
        |f| deserr::missing_field(ErrorCode::BadRequest, "", f),
        |rest| engine::parse_search_body(&Value::Object(rest.iter().cloned().collect())),
    )
}

pub(super) async fn similar_get(
    node: Shared,
    headers: HeaderMap,
    Path(uid): Path<String>,
    RawQuery(q): RawQuery,
) -> HttpResult {
    auth(&node, &headers, "search", Some(&uid))?;
    let params = QueryParams::parse(q.as_deref());
    let accepted: Vec<(&str, ErrorCode)> = SIMILAR_FIELDS
        .iter()
        .map(|f| (*f, ErrorCode::BadRequest))
        .collect();
    let fields: Vec<(String, Value)> = params
        .entries(&accepted)?
        .into_iter()
        .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
        .collect();
    similar(
        &node,
        &uid,
        fields,
        |f| MeiliError::bad_request(format!("Missing parameter `{f}`")),
        |rest| {
            let query: String = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(
                    rest.iter()
                        .map(|(k, v)| (k, v.as_str().unwrap_or_default())),
                )
                .finish();
            engine::parse_search_params(&query)
        },
    )
}

/// An engine validation error of one query, located inside the multi-search body as deserr
/// would locate it; any other error is prefixed with the query it comes from.
fn in_query(e: MeiliError, i: usize) -> MeiliError {
    let prefix = format!(".queries[{i}]");
    let m = &e.message;
    let message = if let Some(rest) = m.strip_prefix("Invalid value type at `") {
        format!("Invalid value type at `{prefix}{rest}")
    } else if let Some(rest) = m.strip_prefix("Invalid value at `") {
        format!("Invalid value at `{prefix}{rest}")
    } else if let Some(rest) = m.strip_prefix("Invalid value type: ") {
        format!("Invalid value type at `{prefix}`: {rest}")
    } else if m.starts_with("Unknown field `") && !m.contains("` inside `") {
        m.replacen("`: ", &format!("` inside `{prefix}`: "), 1)
    } else if m.starts_with("Missing field `") && !m.contains(" inside `") {
        format!("{m} inside `{prefix}`")
    } else {
        let status = if e.status == 404 { 400 } else { e.status };
        let message = format!("Inside `.queries[{i}]`: {m}");
        return e.with_status(status).with_message(message);
    };
    e.with_message(message)
}

struct Query {
    index_uid: String,
    body: Map<String, Value>,
    weight: f64,
}

fn parse_queries(v: &Value, federated: bool) -> Result<Vec<Query>, MeiliError> {
    let Value::Array(items) = v else {
        return Err(deserr::invalid_type(
            ErrorCode::BadRequest,
            ".queries",
            "an array",
            v,
        ));
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let loc = format!(".queries[{i}]");
        let map = deserr::json_object(ErrorCode::BadRequest, &loc, item)?;
        let mut body = Map::new();
        let (mut index_uid, mut weight) = (None, 1.0);
        for (k, v) in map {
            match k.as_str() {
                "indexUid" => {
                    let at = format!("{loc}.indexUid");
                    let uid = deserr::json_string(ErrorCode::InvalidIndexUid, &at, v)?;
                    if !valid_index_uid(&uid) {
                        return Err(deserr::invalid_value(
                            ErrorCode::InvalidIndexUid,
                            &at,
                            invalid_index_uid_message(&uid),
                        ));
                    }
                    index_uid = Some(uid);
                }
                "federationOptions" => {
                    if !federated {
                        return Err(MeiliError::new(
                            ErrorCode::InvalidMultiSearchFederationOptions,
                            format!(
                                "Using `federationOptions` is not allowed in a non-federated search.\n - Hint: remove `federationOptions` from query #{i} or add `federation` to the request."
                            ),
                        ));
                    }
                    let code = ErrorCode::InvalidMultiSearchFederationOptions;
                    let at = format!("{loc}.federationOptions");
                    for (fk, fv) in deserr::json_object(code, &at, v)? {
                        match fk.as_str() {
                            "weight" => {
                                weight = fv.as_f64().filter(|w| *w >= 0.0).ok_or_else(|| {
                                    deserr::invalid_value(
                                        ErrorCode::InvalidMultiSearchWeight,
                                        &format!("{at}.weight"),
                                        "the value of `weight` is invalid, expected a positive float (>= 0.0).",
                                    )
                                })?;
                            }
                            "remote" | "queryPosition" => {}
                            other => {
                                return Err(deserr::unknown_field(
                                    code,
                                    &at,
                                    other,
                                    &["weight", "remote", "queryPosition"],
                                ));
                            }
                        }
                    }
                }
                _ => {
                    body.insert(k.clone(), v.clone());
                }
            }
        }
        let index_uid = index_uid
            .ok_or_else(|| deserr::missing_field(ErrorCode::MissingIndexUid, &loc, "indexUid"))?;
        if federated {
            for p in ["limit", "offset", "page", "hitsPerPage"] {
                if body.contains_key(p) {
                    return Err(MeiliError::new(
                        ErrorCode::InvalidMultiSearchQueryPagination,
                        format!(
                            "Inside `.queries[{i}]`: Using pagination options is not allowed in federated queries.\n - Hint: remove `{p}` from query #{i} or remove `federation` from the request\n - Hint: pass `federation.limit` and `federation.offset` for pagination in federated search"
                        ),
                    ));
                }
            }
            if let Some(facets) = body.get("facets") {
                return Err(MeiliError::new(
                    ErrorCode::InvalidMultiSearchQueryFacets,
                    format!(
                        "Inside `.queries[{i}]`: Using facet options is not allowed in federated queries.\n - Hint: remove `facets` from query #{i} or remove `federation` from the request\n - Hint: pass `federation.facetsByIndex.{index_uid}: {facets}` for facets in federated search"
                    ),
                ));
            }
        }
        out.push(Query {
            index_uid,
            body,
            weight,
        });
    }
    Ok(out)
}

fn check_access(access: &Access, queries: &[Query]) -> Result<(), MeiliError> {
    for (i, q) in queries.iter().enumerate() {
        if !access.allows_index(&q.index_uid) {
            let e = access.unauthorized_index(&q.index_uid);
            let message = format!("Inside `.queries[{i}]`: {}", e.message);
            return Err(e.with_message(message));
        }
    }
    Ok(())
}

fn request_uid() -> String {
    // A UUID v7 as Meilisearch writes them: 48 bits of milliseconds, then random bits.
    let millis =
        u64::try_from(crate::time_fmt::now().unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    let mut bytes = *uuid::Uuid::new_v4().as_bytes();
    bytes[..6].copy_from_slice(&millis.to_be_bytes()[2..]);
    bytes[6] = (bytes[6] & 0x0f) | 0x70;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    uuid::Uuid::from_bytes(bytes).to_string()
}

pub(super) async fn multi_search(node: Shared, headers: HeaderMap, body: Body) -> HttpResult {
    let access = auth(&node, &headers, "search", None)?;
    let body = json_body(&node, &headers, body).await?;
    let map = deserr::json_object(ErrorCode::BadRequest, "", &body)?;
    let (mut queries_v, mut federation) = (None, None);
    for (k, v) in map {
        match k.as_str() {
            "queries" => queries_v = Some(v),
            "federation" => {
                federation = if v.is_null() {
                    None
                } else {
                    Some(deserr::json_object(
                        ErrorCode::InvalidMultiSearchFederated,
                        ".federation",
                        v,
                    )?)
                }
            }
            other => {
                return Err(deserr::unknown_field(
                    ErrorCode::BadRequest,
                    "",
                    other,
                    &["federation", "queries"],
                ));
            }
        }
    }
    let queries_v =
        queries_v.ok_or_else(|| deserr::missing_field(ErrorCode::BadRequest, "", "queries"))?;
    let queries = parse_queries(queries_v, federation.is_some())?;
    let parsed: Vec<SearchQuery> = queries
        .iter()
        .enumerate()
        .map(|(i, q)| {
            guarded(|| engine::parse_search_body(&Value::Object(q.body.clone())))
                .map_err(|e| in_query(e, i))
        })
        .collect::<Result<_, _>>()?;
    check_access(&access, &queries)?;
    match federation {
        None => {
            let uid = request_uid();
            let mut results = Vec::with_capacity(queries.len());
            for (i, (q, parsed)) in queries.iter().zip(&parsed).enumerate() {
                let response =
                    run_search(&node, &q.index_uid, parsed).map_err(|e| in_query(e, i))?;
                let mut out = Map::new();
                out.insert("indexUid".into(), json!(q.index_uid));
                if let Value::Object(fields) = response {
                    for (k, v) in fields {
                        let v = if k == "requestUid" { json!(uid) } else { v };
                        out.insert(k, v);
                    }
                }
                results.push(Value::Object(out));
            }
            ok(json!({"results": results}))
        }
        Some(federation) => ok(federated(&node, &queries, federation)?),
    }
}

/// Federated multi-search, best effort: each query is run for `offset + limit` hits with its
/// ranking score, hits are merged on score times weight, then cut.
fn federated(
    node: &Node,
    queries: &[Query],
    federation: &Map<String, Value>,
) -> Result<Value, MeiliError> {
    const FIELDS: &[&str] = &["limit", "offset", "facetsByIndex", "mergeFacets"];
    let code = ErrorCode::InvalidMultiSearchFederated;
    let (mut limit, mut offset, mut facets_by_index, mut merge_facets) =
        (20usize, 0usize, None, false);
    for (k, v) in federation {
        let at = format!(".federation.{k}");
        match k.as_str() {
            "limit" => limit = deserr::json_usize(ErrorCode::InvalidSearchLimit, &at, v)?,
            "offset" => offset = deserr::json_usize(ErrorCode::InvalidSearchOffset, &at, v)?,
            "facetsByIndex" => {
                facets_by_index = if v.is_null() {
                    None
                } else {
                    Some(
                        deserr::json_object(ErrorCode::InvalidMultiSearchFacetsByIndex, &at, v)?
                            .clone(),
                    )
                }
            }
            "mergeFacets" => merge_facets = !v.is_null(),
            other => return Err(deserr::unknown_field(code, ".federation", other, FIELDS)),
        }
    }
    let mut merged: Vec<(f64, usize, usize, Map<String, Value>)> = Vec::new();
    let mut estimated: u64 = 0;
    for (i, q) in queries.iter().enumerate() {
        let wants_score = q
            .body
            .get("showRankingScore")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let mut body = q.body.clone();
        body.insert("limit".into(), json!(offset.saturating_add(limit)));
        body.insert("offset".into(), json!(0));
        body.insert("showRankingScore".into(), json!(true));
        let parsed = guarded(|| engine::parse_search_body(&Value::Object(body)))
            .map_err(|e| in_query(e, i))?;
        let response = run_search(node, &q.index_uid, &parsed).map_err(|e| in_query(e, i))?;
        estimated += response
            .get("estimatedTotalHits")
            .or_else(|| response.get("totalHits"))
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let hits = response
            .get("hits")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for (position, hit) in hits.into_iter().enumerate() {
            let Value::Object(mut hit) = hit else {
                continue;
            };
            let score = hit
                .get("_rankingScore")
                .and_then(Value::as_f64)
                .unwrap_or(0.0);
            if !wants_score {
                hit.remove("_rankingScore");
            }
            let weighted = score * q.weight;
            hit.insert("_federation".into(), json!({"indexUid": q.index_uid, "queriesPosition": i, "weightedRankingScore": weighted}));
            merged.push((weighted, i, position, hit));
        }
    }
    merged.sort_by(|a, b| {
        b.0.partial_cmp(&a.0)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(a.1.cmp(&b.1))
            .then(a.2.cmp(&b.2))
    });
    let hits: Vec<Value> = merged
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(|(_, _, _, h)| Value::Object(h))
        .collect();
    let mut out = Map::new();
    out.insert("hits".into(), json!(hits));
    out.insert("processingTimeMs".into(), json!(0));
    out.insert("limit".into(), json!(limit));
    out.insert("offset".into(), json!(offset));
    out.insert("estimatedTotalHits".into(), json!(estimated));
    if let Some(by_index) = facets_by_index {
        let mut per_index = Map::new();
        for (uid, facets) in &by_index {
            let Some(q) = queries.iter().find(|q| &q.index_uid == uid) else {
                continue;
            };
            let mut body = q.body.clone();
            body.insert("facets".into(), facets.clone());
            body.insert("limit".into(), json!(0));
            let parsed = guarded(|| engine::parse_search_body(&Value::Object(body)))?;
            let response = run_search(node, uid, &parsed)?;
            per_index.insert(
                uid.clone(),
                json!({
                    "distribution": response.get("facetDistribution").cloned().unwrap_or_else(|| json!({})),
                    "stats": response.get("facetStats").cloned().unwrap_or_else(|| json!({})),
                }),
            );
        }
        if merge_facets {
            let (distribution, stats) = merge_facet_results(&per_index);
            out.insert("facetDistribution".into(), distribution);
            out.insert("facetStats".into(), stats);
        } else {
            out.insert("facetsByIndex".into(), Value::Object(per_index));
        }
    }
    out.insert("requestUid".into(), json!(request_uid()));
    Ok(Value::Object(out))
}

fn merge_facet_results(per_index: &Map<String, Value>) -> (Value, Value) {
    let mut distribution: Map<String, Value> = Map::new();
    let mut stats: Map<String, Value> = Map::new();
    for facets in per_index.values() {
        if let Some(Value::Object(d)) = facets.get("distribution") {
            for (facet, values) in d {
                let entry = distribution
                    .entry(facet.clone())
                    .or_insert_with(|| json!({}));
                if let (Value::Object(target), Value::Object(values)) = (entry, values) {
                    for (value, count) in values {
                        let sum = target.get(value).and_then(Value::as_u64).unwrap_or(0)
                            + count.as_u64().unwrap_or(0);
                        target.insert(value.clone(), json!(sum));
                    }
                }
            }
        }
        if let Some(Value::Object(s)) = facets.get("stats") {
            for (facet, minmax) in s {
                let (min, max) = (
                    minmax.get("min").and_then(Value::as_f64),
                    minmax.get("max").and_then(Value::as_f64),
                );
                let entry = stats
                    .entry(facet.clone())
                    .or_insert_with(|| json!({"min": min, "max": max}));
                let cur_min = entry.get("min").and_then(Value::as_f64);
                let cur_max = entry.get("max").and_then(Value::as_f64);
                let lo = match (cur_min, min) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                let hi = match (cur_max, max) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                };
                *entry = json!({"min": lo, "max": hi});
            }
        }
    }
    (Value::Object(distribution), Value::Object(stats))
}
