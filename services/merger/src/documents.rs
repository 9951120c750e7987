//! `DocumentGet` (one shard, found from the id) and `DocumentsFetch` (every shard, or only those
//! holding the requested ids).
//!
//! **Order of a fetch.** One Meilisearch index lists documents in its internal id order (about
//! insertion order), which a cluster cannot reproduce exactly: the shards number their documents
//! independently. The cluster merges the shards' lists (each kept in its own order) by primary
//! key, integers by value before strings, which is one index's order whenever documents were
//! inserted by increasing id. Each shard is asked for its first `offset + limit` documents, which
//! is enough to cut the global `[offset, offset + limit)` from the merge.
//!
//! **With `sort`**, each shard sorts its own documents and the pages merge by the sort values
//! ([`documents_sort`](crate::documents_sort)), ties by primary key, so that the page is the one
//! index's exactly (up to documents the node itself leaves tied). The fields the merge reads
//! (primary key, sort fields) are added to `fields` when the client left them out, and removed
//! again. A field that is not sortable is refused by the shards in a node's words.

use std::collections::HashSet;

use bytes::Bytes;
use miroir_placement::{PrimaryKeyValue, ShardCount, ShardId, shard_for_key};
use miroir_proto::MeiliError;
use miroir_proto::rpc::{DocumentGet, DocumentsFetch, JsonBody};
use reqwest::Method;
use serde_json::{Map, Value};
use tokio::time::Instant;

use crate::documents_sort::{self, SortRule};
use crate::fetch::ShardCall;
use crate::gather::{first_shard_verdict, gather, scatter};
use crate::metrics;
use crate::state::Merger;

/// Meilisearch's default page of `GET /documents` and `POST /documents/fetch`.
const DEFAULT_LIMIT: u64 = 20;

pub async fn get(merger: &Merger, request: DocumentGet) -> Result<JsonBody, MeiliError> {
    let started = Instant::now();
    let result = get_one(merger, &request).await;
    metrics::request("document", started.elapsed(), &result);
    result
}

async fn get_one(merger: &Merger, request: &DocumentGet) -> Result<JsonBody, MeiliError> {
    let deadline = merger.deadline(0);
    let topology = merger.topology();
    let record = merger.index(&topology, &request.index_uid)?;
    // An id Meilisearch could never have stored is simply not found, as on one node.
    let id = PrimaryKeyValue::from_str_id(&request.document_id)
        .map_err(|_| MeiliError::document_not_found(&request.document_id))?;
    let count = ShardCount::try_from(record.shard_count).map_err(|e| {
        MeiliError::internal(format!(
            "the topology record of index `{}` is invalid: {e}",
            record.uid
        ))
    })?;
    let shard = shard_for_key(&id, count);
    let query = request.query.trim_start_matches('?');
    let suffix = if query.is_empty() {
        format!("/documents/{}", id.as_str())
    } else {
        format!("/documents/{}?{query}", id.as_str())
    };
    let call = ShardCall {
        op: "document",
        method: Method::GET,
        suffix: &suffix,
        body: None,
    };
    let replicas = merger.replicas(
        &topology,
        &record,
        shard,
        &merger.latency(),
        merger.next_turn(),
    );
    let body = merger
        .read_shard(&replicas, &record, shard, &call, deadline)
        .await?;
    Ok(JsonBody { body })
}

pub async fn fetch(merger: &Merger, request: DocumentsFetch) -> Result<JsonBody, MeiliError> {
    let started = Instant::now();
    let result = fetch_all(merger, &request).await;
    metrics::request("fetch", started.elapsed(), &result);
    result
}

/// What the merger reads from a fetch request; every other field goes to the shards as is.
struct FetchParams {
    offset: u64,
    limit: u64,
    /// Fields added to `fields` for the merge (primary key, sort fields), stripped from the
    /// results.
    added: Vec<String>,
    ids: Option<Vec<Value>>,
    sort: Option<Vec<SortRule>>,
}

fn uint(body: &Map<String, Value>, key: &str, default: u64) -> Result<u64, MeiliError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v
            .as_u64()
            .ok_or_else(|| MeiliError::bad_request(format!("`{key}` is not a positive integer"))),
    }
}

fn read_params(
    body: &Map<String, Value>,
    primary_key: Option<&str>,
) -> Result<FetchParams, MeiliError> {
    let offset = uint(body, "offset", 0)?;
    let limit = uint(body, "limit", DEFAULT_LIMIT)?;
    let sort = documents_sort::rules(body.get("sort"))?;
    let needed = primary_key
        .into_iter()
        .map(str::to_string)
        .chain(sort.iter().flatten().map(|r| r.field.clone()));
    let added = match body.get("fields") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(fields)) => {
            if fields.iter().any(|f| !f.is_string()) {
                return Err(MeiliError::bad_request("`fields` is not a list of strings"));
            }
            let asked = |name: &str| {
                fields
                    .iter()
                    .any(|f| f.as_str().is_some_and(|f| f == "*" || f == name))
            };
            let mut added: Vec<String> = Vec::new();
            for name in needed {
                if !asked(&name) && !added.contains(&name) {
                    added.push(name);
                }
            }
            added
        }
        Some(_) => return Err(MeiliError::bad_request("`fields` is not a list")),
    };
    let ids = match body.get("ids") {
        None | Some(Value::Null) => None,
        Some(Value::Array(ids)) => Some(ids.clone()),
        Some(_) => return Err(MeiliError::bad_request("`ids` is not a list")),
    };
    Ok(FetchParams {
        offset,
        limit,
        added,
        ids,
        sort,
    })
}

/// Which shards to ask, each with its own body: with `ids`, only the shards holding some of them
/// (an id no document can have goes to the first shard, which answers as one node would); at
/// least one shard is always asked, so an empty list gets a node's own answer.
fn shard_requests(
    body: &Map<String, Value>,
    params: &FetchParams,
    shards: &[ShardId],
    count: ShardCount,
) -> Result<Vec<(ShardId, Option<Bytes>)>, MeiliError> {
    let mut base = body.clone();
    base.insert("offset".into(), Value::from(0u64));
    base.insert(
        "limit".into(),
        Value::from(params.offset.saturating_add(params.limit)),
    );
    if let Some(Value::Array(fields)) = base.get_mut("fields") {
        fields.extend(params.added.iter().map(|f| Value::from(f.as_str())));
    }
    let encode = |b: &Map<String, Value>| {
        serde_json::to_vec(b)
            .map(Bytes::from)
            .map_err(|e| MeiliError::internal(e.to_string()))
    };
    let Some(ids) = &params.ids else {
        let bytes = encode(&base)?;
        return Ok(shards.iter().map(|&s| (s, Some(bytes.clone()))).collect());
    };
    let mut per_shard: Vec<Vec<Value>> = vec![Vec::new(); shards.len()];
    for id in ids {
        let shard =
            PrimaryKeyValue::from_json(id).map_or(0, |key| shard_for_key(&key, count).index());
        if let Some(list) = per_shard.get_mut(shard) {
            list.push(id.clone());
        }
    }
    let mut requests = Vec::new();
    for (&shard, list) in shards.iter().zip(per_shard) {
        if !list.is_empty() {
            let mut b = base.clone();
            b.insert("ids".into(), Value::Array(list));
            requests.push((shard, Some(encode(&b)?)));
        }
    }
    if let (true, Some(&first)) = (requests.is_empty(), shards.first()) {
        requests.push((first, Some(encode(&base)?)));
    }
    Ok(requests)
}

async fn fetch_all(merger: &Merger, request: &DocumentsFetch) -> Result<JsonBody, MeiliError> {
    let deadline = merger.deadline(0);
    let topology = merger.topology();
    let record = merger.index(&topology, &request.index_uid)?;
    let body: Value = serde_json::from_slice(&request.body)
        .map_err(|e| MeiliError::malformed_payload("json", e))?;
    let shards = merger.shards(&record)?;
    let count = ShardCount::try_from(record.shard_count)
        .map_err(|e| MeiliError::internal(e.to_string()))?;
    let pk = record.primary_key.as_deref();
    let template = ShardCall {
        op: "fetch",
        method: Method::POST,
        suffix: "/documents/fetch",
        body: None,
    };
    let parsed = body
        .as_object()
        .ok_or_else(|| MeiliError::bad_request("the body is not a JSON object"))
        .and_then(|obj| {
            let params = read_params(obj, pk)?;
            let requests = shard_requests(obj, &params, &shards, count)?;
            Ok((params, requests))
        });
    let (params, requests) = match parsed {
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
    let answers = scatter(merger, &topology, &record, &template, requests, deadline).await;
    let responses = gather(answers)?;
    let page = concatenate(&responses, &params, pk)?;
    let bytes = serde_json::to_vec(&page).map_err(|e| MeiliError::internal(e.to_string()))?;
    Ok(JsonBody {
        body: Bytes::from(bytes),
    })
}

/// The client's page from the shards' pages, merged by the sort values then by primary key (see
/// the module docs), a document held by two shards (mid-migration) counted once.
fn concatenate(
    responses: &[Value],
    params: &FetchParams,
    primary_key: Option<&str>,
) -> Result<Value, MeiliError> {
    let mut seen: HashSet<PrimaryKeyValue> = HashSet::new();
    let mut duplicates = 0u64;
    let mut total = 0u64;
    let mut documents = Vec::new();
    let mut lists: Vec<&Vec<Value>> = Vec::with_capacity(responses.len());
    for (shard, response) in responses.iter().enumerate() {
        let results = response
            .get("results")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                MeiliError::internal(format!(
                    "shard answer #{shard} to a documents fetch has no `results`"
                ))
            })?;
        total = total.saturating_add(response.get("total").and_then(Value::as_u64).unwrap_or(0));
        lists.push(results);
    }
    let id = |doc: &Value| primary_key.and_then(|pk| doc.get(pk)).cloned();
    let rules = params.sort.as_deref().unwrap_or_default();
    let mut heads = vec![0usize; lists.len()];
    loop {
        let mut best: Option<(usize, &Value)> = None;
        for (s, list) in lists.iter().enumerate() {
            let Some(doc) = heads.get(s).and_then(|h| list.get(*h)) else {
                continue;
            };
            let better = best.is_none_or(|(_, b)| {
                let by_sort = match (doc.as_object(), b.as_object()) {
                    (Some(x), Some(y)) => documents_sort::compare(rules, x, y),
                    _ => std::cmp::Ordering::Equal,
                };
                by_sort
                    .then_with(|| match (id(doc), id(b)) {
                        (Some(x), Some(y)) => miroir_merge::compare_document_ids(&x, &y),
                        _ => std::cmp::Ordering::Equal,
                    })
                    .is_lt()
            });
            if better {
                best = Some((s, doc));
            }
        }
        let Some((s, doc)) = best else { break };
        if let Some(h) = heads.get_mut(s) {
            *h += 1;
        }
        let key = id(doc).and_then(|v| PrimaryKeyValue::from_json(&v).ok());
        if let Some(key) = key
            && !seen.insert(key)
        {
            duplicates += 1;
            continue;
        }
        documents.push(doc);
    }
    let skip = usize::try_from(params.offset).unwrap_or(usize::MAX);
    let take = usize::try_from(params.limit).unwrap_or(usize::MAX);
    let results: Vec<Value> = documents
        .into_iter()
        .skip(skip)
        .take(take)
        .map(|doc| {
            let mut doc = doc.clone();
            if let Some(obj) = doc.as_object_mut() {
                for field in &params.added {
                    documents_sort::remove(obj, field);
                }
            }
            doc
        })
        .collect();
    let mut out = Map::new();
    out.insert("results".into(), Value::Array(results));
    out.insert("offset".into(), Value::from(params.offset));
    out.insert("limit".into(), Value::from(params.limit));
    out.insert(
        "total".into(),
        Value::from(total.saturating_sub(duplicates)),
    );
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn each_shard_is_asked_for_the_whole_prefix_with_the_key() {
        let body = obj(json!({"offset": 3, "limit": 2, "fields": ["title"], "filter": "a = 1"}));
        let p = read_params(&body, Some("id")).unwrap();
        assert_eq!(p.added, ["id"]);
        let count = ShardCount::try_from(2u16).unwrap();
        let shards: Vec<ShardId> = count.shards().collect();
        let r = shard_requests(&body, &p, &shards, count).unwrap();
        assert_eq!(r.len(), 2);
        let sent: Value = serde_json::from_slice(r[1].1.as_ref().unwrap()).unwrap();
        assert_eq!(
            sent,
            json!({"offset": 0, "limit": 5, "fields": ["title", "id"], "filter": "a = 1"})
        );
        assert!(
            read_params(&obj(json!({"fields": ["*"]})), Some("id"))
                .unwrap()
                .added
                .is_empty()
        );
        assert!(read_params(&obj(json!({"limit": -1})), Some("id")).is_err());
    }

    #[test]
    fn ids_go_only_to_their_shards() {
        let count = ShardCount::try_from(4u16).unwrap();
        let shards: Vec<ShardId> = count.shards().collect();
        let key = |v: Value| shard_for_key(&PrimaryKeyValue::from_json(&v).unwrap(), count);
        let body = obj(json!({"ids": ["1", 2]}));
        let p = read_params(&body, Some("id")).unwrap();
        let r = shard_requests(&body, &p, &shards, count).unwrap();
        let mut expected: Vec<ShardId> = vec![key(json!("1")), key(json!(2))];
        expected.sort();
        expected.dedup();
        assert_eq!(r.iter().map(|(s, _)| *s).collect::<Vec<_>>(), expected);
        let empty = obj(json!({"ids": []}));
        let p = read_params(&empty, Some("id")).unwrap();
        assert_eq!(shard_requests(&empty, &p, &shards, count).unwrap().len(), 1);
    }

    #[test]
    fn pages_merge_by_primary_key_without_duplicates() {
        let p = FetchParams {
            offset: 1,
            limit: 2,
            added: vec!["id".into()],
            ids: None,
            sort: None,
        };
        let a = json!({"results": [{"id": 1, "t": "a"}, {"id": 3, "t": "c"}], "total": 2});
        let b = json!({"results": [{"id": "3", "t": "c"}, {"id": 2, "t": "b"}], "total": 2});
        let page = concatenate(&[a, b], &p, Some("id")).unwrap();
        assert_eq!(
            page,
            json!({"results": [{"t": "c"}, {"t": "b"}], "offset": 1, "limit": 2, "total": 3})
        );
    }

    #[test]
    fn sorted_pages_merge_by_sort_values_then_key_and_sort_fields_are_stripped() {
        let body =
            obj(json!({"sort": ["rating:desc"], "fields": ["title"], "offset": 1, "limit": 3}));
        let p = read_params(&body, Some("id")).unwrap();
        assert_eq!(p.added, ["id", "rating"]);
        let count = ShardCount::try_from(2u16).unwrap();
        let shards: Vec<ShardId> = count.shards().collect();
        let r = shard_requests(&body, &p, &shards, count).unwrap();
        let sent: Value = serde_json::from_slice(r[0].1.as_ref().unwrap()).unwrap();
        assert_eq!(
            sent,
            json!({"sort": ["rating:desc"], "fields": ["title", "id", "rating"], "offset": 0, "limit": 4})
        );
        // Each shard's page is sorted; ties (8.0) go by primary key across shards.
        let a = json!({"results": [
            {"id": 1, "title": "a", "rating": 9.1},
            {"id": 4, "title": "d", "rating": 8.0},
            {"id": 5, "title": "e", "rating": 7.0},
        ], "total": 3});
        let b = json!({"results": [
            {"id": 3, "title": "c", "rating": 8.5},
            {"id": 2, "title": "b", "rating": 8.0},
            {"id": 6, "title": "f"},
        ], "total": 3});
        let page = concatenate(&[a, b], &p, Some("id")).unwrap();
        assert_eq!(
            page,
            json!({"results": [{"title": "c"}, {"title": "b"}, {"title": "d"}], "offset": 1, "limit": 3, "total": 6})
        );
    }
}
