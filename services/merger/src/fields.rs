//! `FieldsList` (`POST /indexes/{uid}/fields`): the fields of an index with what its settings
//! make of them, merged over the shards.
//!
//! Every shard holds the same settings, so a field's entry is the same on every shard that has
//! seen the field; a shard only misses the fields none of its documents had. Each shard is asked
//! for all its fields that match the client's filter (from 0, without a page limit: `total` is
//! the size of the union, which no shard's page can give), the lists are joined by name in a
//! node's alphabetical order, and the client's page is cut from the union.

use std::collections::BTreeMap;

use bytes::Bytes;
use miroir_proto::MeiliError;
use miroir_proto::rpc::{FieldsList, JsonBody};
use reqwest::Method;
use serde_json::{Map, Value};
use tokio::time::Instant;

use crate::fetch::ShardCall;
use crate::gather::{first_shard_verdict, gather, scatter};
use crate::metrics;
use crate::state::Merger;

/// A node's page size for the fields route.
const DEFAULT_LIMIT: u64 = 20;
/// What each shard is asked for: every field it has.
const ALL: u64 = u32::MAX as u64;

pub async fn fields(merger: &Merger, request: FieldsList) -> Result<JsonBody, MeiliError> {
    let started = Instant::now();
    let result = list(merger, &request).await;
    metrics::request("fields", started.elapsed(), &result);
    result
}

/// The client's page: `(offset, limit)`, anything else left to the shards.
fn page(body: &Value) -> Result<(u64, u64), MeiliError> {
    let obj = body
        .as_object()
        .ok_or_else(|| MeiliError::bad_request("the body is not a JSON object"))?;
    let uint = |key: &str, default: u64| match obj.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v
            .as_u64()
            .ok_or_else(|| MeiliError::bad_request(format!("`{key}` is not a positive integer"))),
    };
    Ok((uint("offset", 0)?, uint("limit", DEFAULT_LIMIT)?))
}

/// The body each shard gets: the client's filter, every field from the first.
fn shard_body(body: &Value) -> Result<Bytes, MeiliError> {
    let mut b = body.as_object().cloned().unwrap_or_default();
    b.insert("offset".into(), Value::from(0u64));
    b.insert("limit".into(), Value::from(ALL));
    serde_json::to_vec(&b)
        .map(Bytes::from)
        .map_err(|e| MeiliError::internal(e.to_string()))
}

async fn list(merger: &Merger, request: &FieldsList) -> Result<JsonBody, MeiliError> {
    let deadline = merger.deadline(0);
    let topology = merger.topology();
    let record = merger.index(&topology, &request.index_uid)?;
    let shards = merger.shards(&record)?;
    let template = ShardCall {
        op: "fields",
        method: Method::POST,
        suffix: "/fields",
        body: None,
    };
    let parsed = serde_json::from_slice::<Value>(&request.body)
        .map_err(|e| MeiliError::malformed_payload("json", e))
        .and_then(|body| Ok((page(&body)?, shard_body(&body)?)));
    let ((offset, limit), body) = match parsed {
        Ok(p) => p,
        Err(own) => {
            let call = ShardCall {
                body: Some(request.body.clone()),
                ..template
            };
            return Err(first_shard_verdict(
                merger, &topology, &record, &shards, &call, deadline, own,
            )
            .await);
        }
    };
    let requests = shards.iter().map(|&s| (s, Some(body.clone()))).collect();
    let answers = scatter(merger, &topology, &record, &template, requests, deadline).await;
    let merged = merge(&gather(answers)?, offset, limit)?;
    let bytes = serde_json::to_vec(&merged).map_err(|e| MeiliError::internal(e.to_string()))?;
    Ok(JsonBody {
        body: Bytes::from(bytes),
    })
}

/// The union of the shards' field lists by name, alphabetically, cut to the client's page.
pub fn merge(responses: &[Value], offset: u64, limit: u64) -> Result<Value, MeiliError> {
    let mut union: BTreeMap<&str, &Value> = BTreeMap::new();
    for (shard, response) in responses.iter().enumerate() {
        let results = response
            .get("results")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                MeiliError::internal(format!(
                    "shard answer #{shard} to a fields list has no `results`"
                ))
            })?;
        for field in results {
            let name = field.get("name").and_then(Value::as_str).ok_or_else(|| {
                MeiliError::internal(format!(
                    "shard answer #{shard} lists a field without a name"
                ))
            })?;
            union.entry(name).or_insert(field);
        }
    }
    let total = union.len();
    let skip = usize::try_from(offset).unwrap_or(usize::MAX);
    let take = usize::try_from(limit).unwrap_or(usize::MAX);
    let results: Vec<Value> = union.into_values().skip(skip).take(take).cloned().collect();
    let mut out = Map::new();
    out.insert("results".into(), Value::Array(results));
    out.insert("offset".into(), Value::from(offset));
    out.insert("limit".into(), Value::from(limit));
    out.insert("total".into(), Value::from(total));
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn field(name: &str) -> Value {
        json!({"name": name, "sortable": {"enabled": name == "year"}})
    }

    #[test]
    fn shards_are_asked_for_every_field_with_the_filter() {
        let body = json!({"filter": {"attributePatterns": ["ti*"]}, "offset": 3, "limit": 1});
        let sent: Value = serde_json::from_slice(&shard_body(&body).unwrap()).unwrap();
        assert_eq!(
            sent,
            json!({"filter": {"attributePatterns": ["ti*"]}, "offset": 0, "limit": ALL})
        );
        assert_eq!(page(&body).unwrap(), (3, 1));
        assert_eq!(page(&json!({})).unwrap(), (0, 20));
        assert!(page(&json!({"limit": -1})).is_err());
        assert!(page(&json!([])).is_err());
    }

    #[test]
    fn the_union_is_counted_once_per_name_and_paged_alphabetically() {
        let a = json!({"results": [field("genre"), field("id"), field("year")], "total": 3});
        let b = json!({"results": [field("id"), field("rating"), field("title")], "total": 3});
        let c = json!({"results": [], "total": 0});
        let all = merge(&[a.clone(), b.clone(), c.clone()], 0, 20).unwrap();
        let names: Vec<&str> = all["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["genre", "id", "rating", "title", "year"]);
        assert_eq!(all["total"], json!(5));
        let page = merge(&[a, b, c], 1, 2).unwrap();
        assert_eq!(
            page,
            json!({"results": [field("id"), field("rating")], "offset": 1, "limit": 2, "total": 5})
        );
        assert!(merge(&[json!({"results": [{"nope": 1}]})], 0, 1).is_err());
    }
}
