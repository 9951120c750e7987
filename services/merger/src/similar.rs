//! `Similar` (`/indexes/{uid}/similar`): the documents nearest to a reference document by one of
//! the index's embedders, over every shard.
//!
//! Only the reference's own shard can answer a similar query (the others do not hold the
//! document), so:
//! 1. the client's query goes to the reference's shard as a similar query (from 0, for
//!    `offset + limit` hits, with scores): its neighbours there, and every error a node gives
//!    (unknown embedder, unknown document, bad filter) worded by a node;
//! 2. the reference's vector for that embedder is read from the same shard
//!    (`GET /documents/{id}?retrieveVectors=true`);
//! 3. every other shard is searched with that vector (`vector` with `hybrid: {embedder,
//!    semanticRatio: 1.0}`, the client's filter and fields), for `offset + limit` hits;
//! 4. the hits are merged by `_rankingScore` (a similar query and a vector search with the same
//!    embedder score with the same distance), ties by primary key, the reference itself and a
//!    document seen twice (mid-migration) dropped, and the client's page cut.
//!
//! The answer has the reference shard's shape; `estimatedTotalHits` is the sum over shards.

use std::cmp::Ordering;
use std::collections::HashSet;

use bytes::Bytes;
use miroir_placement::{PrimaryKeyValue, ShardCount, ShardId, shard_for_key};
use miroir_proto::MeiliError;
use miroir_proto::rpc::{JsonBody, Similar};
use reqwest::Method;
use serde_json::{Map, Value};
use tokio::time::Instant;

use crate::fetch::ShardCall;
use crate::gather::{first_shard_verdict, gather, scatter};
use crate::metrics;
use crate::state::{Deadline, Merger};

const DEFAULT_LIMIT: u64 = 20;

/// The fields of a similar query that a vector search takes as they are.
const PASSED_ON: &[&str] = &[
    "filter",
    "attributesToRetrieve",
    "retrieveVectors",
    "rankingScoreThreshold",
];

pub async fn similar(merger: &Merger, request: Similar) -> Result<JsonBody, MeiliError> {
    let started = Instant::now();
    let result = run(merger, &request, started).await;
    metrics::request("similar", started.elapsed(), &result);
    result
}

/// What the merger reads from the client's query.
#[derive(Debug, PartialEq)]
pub struct Query {
    pub id: PrimaryKeyValue,
    pub embedder: String,
    pub offset: u64,
    pub limit: u64,
    pub show_score: bool,
    /// The primary key was added to `attributesToRetrieve` and is stripped from the hits.
    pub added_key: bool,
}

fn flag(body: &Map<String, Value>, key: &str) -> Result<bool, MeiliError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(v) => v
            .as_bool()
            .ok_or_else(|| MeiliError::bad_request(format!("`{key}` is not a boolean"))),
    }
}

fn uint(body: &Map<String, Value>, key: &str, default: u64) -> Result<u64, MeiliError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v
            .as_u64()
            .ok_or_else(|| MeiliError::bad_request(format!("`{key}` is not a positive integer"))),
    }
}

/// The query, or an error that only means "let a node word it".
pub fn read(body: &Value, primary_key: Option<&str>) -> Result<Query, MeiliError> {
    let obj = body
        .as_object()
        .ok_or_else(|| MeiliError::bad_request("the body is not a JSON object"))?;
    let id = obj
        .get("id")
        .and_then(|v| PrimaryKeyValue::from_json(v).ok())
        .ok_or_else(|| MeiliError::bad_request("`id` is missing or invalid"))?;
    let embedder = obj
        .get("embedder")
        .and_then(Value::as_str)
        .ok_or_else(|| MeiliError::bad_request("`embedder` is missing or invalid"))?
        .to_string();
    let added_key = match (obj.get("attributesToRetrieve"), primary_key) {
        (None | Some(Value::Null), _) | (_, None) => false,
        (Some(Value::Array(fields)), Some(pk)) => !fields
            .iter()
            .any(|f| f.as_str().is_some_and(|f| f == "*" || f == pk)),
        (Some(_), Some(_)) => {
            return Err(MeiliError::bad_request(
                "`attributesToRetrieve` is not a list",
            ));
        }
    };
    Ok(Query {
        id,
        embedder,
        offset: uint(obj, "offset", 0)?,
        limit: uint(obj, "limit", DEFAULT_LIMIT)?,
        show_score: flag(obj, "showRankingScore")?,
        added_key,
    })
}

fn encode(body: &Map<String, Value>) -> Result<Bytes, MeiliError> {
    serde_json::to_vec(body)
        .map(Bytes::from)
        .map_err(|e| MeiliError::internal(e.to_string()))
}

/// The similar query the reference's shard gets: the client's, from 0, with scores and the key.
pub fn reference_request(
    body: &Value,
    q: &Query,
    primary_key: Option<&str>,
) -> Result<Bytes, MeiliError> {
    let mut b = body.as_object().cloned().unwrap_or_default();
    b.insert("offset".into(), Value::from(0u64));
    b.insert(
        "limit".into(),
        Value::from(q.offset.saturating_add(q.limit)),
    );
    b.insert("showRankingScore".into(), Value::Bool(true));
    add_key(&mut b, q, primary_key);
    encode(&b)
}

/// The vector search every other shard gets.
pub fn neighbour_request(
    body: &Value,
    q: &Query,
    vector: &Value,
    primary_key: Option<&str>,
) -> Result<Bytes, MeiliError> {
    let client = body.as_object().cloned().unwrap_or_default();
    let mut b = Map::new();
    b.insert("vector".into(), vector.clone());
    let mut hybrid = Map::new();
    hybrid.insert("embedder".into(), Value::from(q.embedder.as_str()));
    hybrid.insert("semanticRatio".into(), Value::from(1.0));
    b.insert("hybrid".into(), Value::Object(hybrid));
    b.insert("offset".into(), Value::from(0u64));
    b.insert(
        "limit".into(),
        Value::from(q.offset.saturating_add(q.limit)),
    );
    b.insert("showRankingScore".into(), Value::Bool(true));
    for key in PASSED_ON {
        if let Some(v) = client.get(*key).filter(|v| !v.is_null()) {
            b.insert((*key).to_string(), v.clone());
        }
    }
    add_key(&mut b, q, primary_key);
    encode(&b)
}

fn add_key(b: &mut Map<String, Value>, q: &Query, primary_key: Option<&str>) {
    if let (true, Some(pk), Some(Value::Array(fields))) =
        (q.added_key, primary_key, b.get_mut("attributesToRetrieve"))
    {
        fields.push(Value::from(pk));
    }
}

/// The reference's vector for `embedder` in a document read with `retrieveVectors`.
pub fn reference_vector(document: &Value, embedder: &str) -> Option<Value> {
    let v = document.get("_vectors")?.get(embedder)?;
    let embeddings = match v {
        Value::Object(o) => o.get("embeddings")?,
        other => other,
    };
    match embeddings.as_array()?.first()? {
        first @ Value::Array(_) => Some(first.clone()),
        Value::Number(_) => Some(embeddings.clone()),
        _ => None,
    }
}

async fn run(merger: &Merger, request: &Similar, started: Instant) -> Result<JsonBody, MeiliError> {
    let deadline = merger.deadline(0);
    let topology = merger.topology();
    let record = merger.index(&topology, &request.index_uid)?;
    let shards = merger.shards(&record)?;
    let pk = record.primary_key.clone();
    let pk = pk.as_deref();
    let template = ShardCall {
        op: "similar",
        method: Method::POST,
        suffix: "/similar",
        body: None,
    };
    let count = ShardCount::try_from(record.shard_count)
        .map_err(|e| MeiliError::internal(e.to_string()))?;
    let parsed = serde_json::from_slice::<Value>(&request.body)
        .map_err(|e| MeiliError::malformed_payload("json", e))
        .and_then(|body| {
            let q = read(&body, pk)?;
            let first = reference_request(&body, &q, pk)?;
            Ok((body, q, first))
        });
    let (body, q, first) = match parsed {
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
    let home = shard_for_key(&q.id, count);
    let reference = read_one(merger, &record, home, &template, Some(first), deadline).await?;
    let suffix = format!("/documents/{}?retrieveVectors=true", q.id.as_str());
    let document_call = ShardCall {
        op: "document",
        method: Method::GET,
        suffix: &suffix,
        body: None,
    };
    let document = read_one(merger, &record, home, &document_call, None, deadline).await?;
    let mut answers = vec![reference];
    if let Some(vector) = reference_vector(&document, &q.embedder) {
        let search = neighbour_request(&body, &q, &vector, pk)?;
        let call = ShardCall {
            op: "similar",
            method: Method::POST,
            suffix: "/search",
            body: None,
        };
        let requests = shards
            .iter()
            .filter(|&&s| s != home)
            .map(|&s| (s, Some(search.clone())))
            .collect();
        answers.extend(gather(
            scatter(merger, &topology, &record, &call, requests, deadline).await,
        )?);
    }
    let mut merged = merge(&answers, &q, pk)?;
    if let Some(obj) = merged.as_object_mut()
        && obj.contains_key("processingTimeMs")
    {
        let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        obj.insert("processingTimeMs".into(), Value::from(ms));
    }
    let bytes = serde_json::to_vec(&merged).map_err(|e| MeiliError::internal(e.to_string()))?;
    Ok(JsonBody {
        body: Bytes::from(bytes),
    })
}

async fn read_one(
    merger: &Merger,
    record: &miroir_proto::topology::IndexRecord,
    shard: ShardId,
    template: &ShardCall<'_>,
    body: Option<Bytes>,
    deadline: Deadline,
) -> Result<Value, MeiliError> {
    let topology = merger.topology();
    let replicas = merger.replicas(
        &topology,
        record,
        shard,
        &merger.latency(),
        merger.next_turn(),
    );
    let call = ShardCall {
        body,
        ..template.clone()
    };
    let bytes = merger
        .read_shard(&replicas, record, shard, &call, deadline)
        .await?;
    serde_json::from_slice(&bytes)
        .map_err(|e| MeiliError::internal(format!("a shard's answer is not JSON: {e}")))
}

/// The client's answer from the reference shard's (first) and the other shards' answers.
pub fn merge(answers: &[Value], q: &Query, primary_key: Option<&str>) -> Result<Value, MeiliError> {
    let mut hits: Vec<(f64, &Value)> = Vec::new();
    let mut total = 0u64;
    for (i, answer) in answers.iter().enumerate() {
        let list = answer
            .get("hits")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                MeiliError::internal(format!(
                    "shard answer #{i} to a similar query has no `hits`"
                ))
            })?;
        total = total.saturating_add(
            answer
                .get("estimatedTotalHits")
                .and_then(Value::as_u64)
                .unwrap_or(0),
        );
        for hit in list {
            let score = hit
                .get("_rankingScore")
                .and_then(Value::as_f64)
                .unwrap_or(0.0);
            hits.push((score, hit));
        }
    }
    let id_of = |hit: &Value| primary_key.and_then(|pk| hit.get(pk)).cloned();
    hits.sort_by(|(sa, a), (sb, b)| {
        sb.partial_cmp(sa)
            .unwrap_or(Ordering::Equal)
            .then_with(|| match (id_of(a), id_of(b)) {
                (Some(x), Some(y)) => miroir_merge::compare_document_ids(&x, &y),
                _ => Ordering::Equal,
            })
    });
    let mut seen: HashSet<PrimaryKeyValue> = HashSet::new();
    seen.insert(q.id.clone());
    let mut kept = Vec::new();
    for (_, hit) in hits {
        let key = id_of(hit).and_then(|v| PrimaryKeyValue::from_json(&v).ok());
        if let Some(key) = key
            && !seen.insert(key)
        {
            total = total.saturating_sub(1);
            continue;
        }
        kept.push(hit);
    }
    let skip = usize::try_from(q.offset).unwrap_or(usize::MAX);
    let take = usize::try_from(q.limit).unwrap_or(usize::MAX);
    let page: Vec<Value> = kept
        .into_iter()
        .skip(skip)
        .take(take)
        .map(|hit| {
            let mut hit = hit.clone();
            if let Some(obj) = hit.as_object_mut() {
                if !q.show_score {
                    obj.shift_remove("_rankingScore");
                }
                if let (true, Some(pk)) = (q.added_key, primary_key) {
                    obj.shift_remove(pk);
                }
            }
            hit
        })
        .collect();
    let mut out = answers
        .first()
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    out.insert("hits".into(), Value::Array(page));
    out.insert("offset".into(), Value::from(q.offset));
    out.insert("limit".into(), Value::from(q.limit));
    out.insert("estimatedTotalHits".into(), Value::from(total));
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn the_reference_shard_gets_a_similar_query_and_the_others_a_vector_search() {
        let body = json!({"id": 7, "embedder": "default", "offset": 1, "limit": 2,
            "filter": "genre = crime", "attributesToRetrieve": ["title"], "showRankingScoreDetails": false});
        let q = read(&body, Some("id")).unwrap();
        assert_eq!(
            (q.offset, q.limit, q.show_score, q.added_key),
            (1, 2, false, true)
        );
        let first: Value =
            serde_json::from_slice(&reference_request(&body, &q, Some("id")).unwrap()).unwrap();
        assert_eq!(
            first,
            json!({"id": 7, "embedder": "default", "offset": 0, "limit": 3, "filter": "genre = crime",
                "attributesToRetrieve": ["title", "id"], "showRankingScoreDetails": false, "showRankingScore": true})
        );
        let other: Value = serde_json::from_slice(
            &neighbour_request(&body, &q, &json!([0.5, 1.0]), Some("id")).unwrap(),
        )
        .unwrap();
        assert_eq!(
            other,
            json!({"vector": [0.5, 1.0], "hybrid": {"embedder": "default", "semanticRatio": 1.0},
                "offset": 0, "limit": 3, "showRankingScore": true, "filter": "genre = crime",
                "attributesToRetrieve": ["title", "id"]})
        );
        assert!(read(&json!({"embedder": "default"}), Some("id")).is_err());
        assert!(read(&json!({"id": 1}), Some("id")).is_err());
        assert!(read(&json!({"id": "no way!", "embedder": "e"}), Some("id")).is_err());
    }

    #[test]
    fn the_reference_vector_is_read_in_every_form() {
        let e = "default";
        let shown =
            json!({"_vectors": {"default": {"embeddings": [[1.0, 2.0]], "regenerate": false}}});
        assert_eq!(reference_vector(&shown, e), Some(json!([1.0, 2.0])));
        let flat = json!({"_vectors": {"default": [1.0, 2.0]}});
        assert_eq!(reference_vector(&flat, e), Some(json!([1.0, 2.0])));
        let none = json!({"_vectors": {"default": {"embeddings": [], "regenerate": false}}});
        assert_eq!(reference_vector(&none, e), None);
        assert_eq!(reference_vector(&json!({"id": 1}), e), None);
    }

    #[test]
    fn hits_merge_by_score_without_the_reference_or_duplicates() {
        let q = Query {
            id: PrimaryKeyValue::from_json(&json!(7)).unwrap(),
            embedder: "default".into(),
            offset: 1,
            limit: 3,
            show_score: false,
            added_key: false,
        };
        let home = json!({"hits": [{"id": 3, "_rankingScore": 0.9}, {"id": 5, "_rankingScore": 0.4}],
            "id": "7", "processingTimeMs": 1, "limit": 4, "offset": 0, "estimatedTotalHits": 2});
        let other = json!({"hits": [{"id": 7, "_rankingScore": 1.0}, {"id": 1, "_rankingScore": 0.95},
            {"id": 2, "_rankingScore": 0.9}, {"id": 3, "_rankingScore": 0.9}], "query": "", "estimatedTotalHits": 4});
        let out = merge(&[home, other], &q, Some("id")).unwrap();
        assert_eq!(
            out,
            json!({"hits": [{"id": 2}, {"id": 3}, {"id": 5}], "id": "7", "processingTimeMs": 1,
                "limit": 3, "offset": 1, "estimatedTotalHits": 4})
        );
    }
}
