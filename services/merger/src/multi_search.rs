//! `MultiSearch`: several searches in one request, each one an exact sharded search through the
//! same path as `Search` ([`crate::search`]), run in parallel.
//!
//! - Plain: one result per query, in order, each with its `indexUid`; all share one `requestUid`.
//! - Federated: each query asks for the first `offset + limit` hits with their score details
//!   (and its index's `facetsByIndex` facets), and `miroir_merge::federation` merges them as
//!   Meilisearch's federated search does, from the answers' bytes (documents are not decoded).
//!
//! When queries fail, the client gets the error Meilisearch would report first ([`errors`]):
//! a malformed parameter in any query, else the first failing query (plain), or the failures of
//! the indexes in uid order (federated, as Meilisearch runs them index by index), then the
//! `facetsByIndex` of indexes no query uses.

pub mod errors;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bytes::Bytes;
use futures::stream::{self, StreamExt};
use miroir_cluster::topology::Topology;
use miroir_merge::federation::{self, QueryAnswer};
use miroir_merge::{IndexMergeContext, Overrides};
use miroir_proto::rpc::{JsonBody, Search};
use miroir_proto::rpc_search::{Federation, MultiSearch, MultiSearchQuery};
use miroir_proto::{ErrorCode, MeiliError};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::metrics;
use crate::search;
use crate::state::{Deadline, Merger};

/// Queries searched at once; each fans out to every shard of its index.
const PARALLEL_QUERIES: usize = 8;

pub async fn multi_search(merger: &Merger, request: MultiSearch) -> Result<JsonBody, MeiliError> {
    let started = Instant::now();
    let deadline = merger.deadline(request.deadline_ms);
    let result = match &request.federation {
        None => plain(merger, &request.queries, deadline).await,
        Some(federation) => {
            federated(merger, &request.queries, federation, deadline, started).await
        }
    }
    .map(|bytes| JsonBody {
        body: Bytes::from(bytes),
    });
    metrics::request("multi_search", started.elapsed(), &result);
    result
}

fn request_uid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// One sharded search, with what is left of the multi-search's deadline: its merged answer as
/// the search writes it, carrying `request_uid`.
async fn search_one(
    merger: &Merger,
    index_uid: String,
    body: Bytes,
    deadline: Deadline,
    request_uid: String,
) -> Result<Bytes, MeiliError> {
    let left = deadline.at.saturating_duration_since(Instant::now());
    // Zero would mean "the default deadline" to the search.
    let deadline_ms = u64::try_from(left.max(Duration::from_millis(1)).as_millis()).unwrap_or(1);
    let request = Search {
        index_uid,
        body,
        deadline_ms,
    };
    Ok(search::search_as(merger, request, request_uid).await?.body)
}

/// Run `searches` (index uid, body) in parallel, answers in the same order, all carrying
/// `request_uid`.
async fn search_all(
    merger: &Merger,
    searches: Vec<(String, Bytes)>,
    deadline: Deadline,
    request_uid: &str,
) -> Vec<Result<Bytes, MeiliError>> {
    // Futures are lazy: `buffered` starts at most `PARALLEL_QUERIES` of them at a time.
    let pending: Vec<_> = searches
        .into_iter()
        .map(|(uid, body)| search_one(merger, uid, body, deadline, request_uid.to_owned()))
        .collect();
    stream::iter(pending)
        .buffered(PARALLEL_QUERIES)
        .collect()
        .await
}

/// The error reported first among the queries' (by rank, then position).
fn first_error(failures: Vec<(usize, MeiliError)>) -> Option<MeiliError> {
    failures
        .into_iter()
        .min_by_key(|(i, e)| (errors::rank(e), *i))
        .map(|(i, e)| errors::in_query(e, i))
}

/// One result per query, each the query's merged answer as written, spliced after its
/// `indexUid`: the documents are never parsed again.
async fn plain(
    merger: &Merger,
    queries: &[MultiSearchQuery],
    deadline: Deadline,
) -> Result<Vec<u8>, MeiliError> {
    let searches = queries
        .iter()
        .map(|q| (q.index_uid.clone(), q.body.clone()))
        .collect();
    let answers = search_all(merger, searches, deadline, &request_uid()).await;
    let size = answers
        .iter()
        .map(|a| a.as_ref().map_or(0, |b| b.len() + 32))
        .sum::<usize>();
    let mut out = Vec::with_capacity(size + 16);
    out.extend_from_slice(b"{\"results\":[");
    let mut failures = Vec::new();
    for (i, (query, answer)) in queries.iter().zip(answers).enumerate() {
        let answer = match answer {
            Ok(answer) => answer,
            Err(e) => {
                failures.push((i, e));
                continue;
            }
        };
        // The merge writes `{` first and nothing after the closing `}`.
        let Some(members) = answer.strip_prefix(b"{") else {
            let e = MeiliError::internal("a search answer is not a JSON object");
            failures.push((i, e));
            continue;
        };
        if !out.ends_with(b"[") {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"indexUid\":");
        serde_json::to_writer(&mut out, &query.index_uid)
            .map_err(|e| MeiliError::internal(e.to_string()))?;
        if !members.starts_with(b"}") {
            out.push(b',');
        }
        out.extend_from_slice(members);
    }
    out.extend_from_slice(b"]}");
    match first_error(failures) {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// Contexts of the indexes that exist, for the merge (maxTotalHits, faceting).
async fn contexts(
    merger: &Merger,
    topology: &Topology,
    uids: Vec<String>,
    deadline: Deadline,
) -> Result<BTreeMap<String, IndexMergeContext>, MeiliError> {
    let mut out = BTreeMap::new();
    for uid in uids {
        let Ok(record) = merger.index(topology, &uid) else {
            continue;
        };
        let ctx = merger.merge_context(topology, &record, deadline).await?;
        out.insert(uid, ctx);
    }
    Ok(out)
}

/// The federated answer, written by [`federation::merge`] from the queries' answers as bytes
/// (their documents are not decoded), with the multi-search's `processingTimeMs` (up to the
/// merge) and a `requestUid` of its own. An answer the merge finds malformed (the sharded search
/// wrote it, so never seen) is reported once the queries' own failures are checked.
async fn federated(
    merger: &Merger,
    queries: &[MultiSearchQuery],
    federation: &Federation,
    deadline: Deadline,
    started: Instant,
) -> Result<Vec<u8>, MeiliError> {
    let topology = merger.topology();
    let required = federation::required_hits(federation);
    let mut prepared = Vec::with_capacity(queries.len());
    let mut searches = Vec::with_capacity(queries.len());
    for q in queries {
        let client: Value = serde_json::from_slice(&q.body)
            .map_err(|e| MeiliError::malformed_payload("json", e))?;
        let primary_key = merger
            .index(&topology, &q.index_uid)
            .ok()
            .and_then(|r| r.primary_key);
        let facets = federation
            .facets_by_index
            .get(&q.index_uid)
            .cloned()
            .flatten();
        let p =
            federation::prepare_query(&client, required, facets.as_deref(), primary_key.as_deref());
        let body = serde_json::to_vec(&p.body).map_err(|e| MeiliError::internal(e.to_string()))?;
        searches.push((q.index_uid.clone(), Bytes::from(body)));
        prepared.push((p, primary_key, facets.is_some()));
    }
    let results = search_all(merger, searches, deadline, &request_uid()).await;

    let used: BTreeSet<&str> = queries.iter().map(|q| q.index_uid.as_str()).collect();
    let uids: Vec<String> = used.iter().map(|u| u.to_string()).collect();
    let contexts = contexts(merger, &topology, uids, deadline).await?;
    check_query_failures(queries, federation, &results, &prepared, &contexts)?;
    check_unused_facets(merger, &topology, federation, &used, &contexts, deadline).await?;

    let mut answers = Vec::with_capacity(queries.len());
    for ((q, result), (p, primary_key, _)) in queries.iter().zip(results).zip(prepared) {
        answers.push(QueryAnswer {
            index_uid: q.index_uid.clone(),
            weight: q.weight,
            primary_key,
            prepared: p,
            response: result?,
        });
    }
    let overrides = Overrides {
        processing_time_ms: Some(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)),
        request_uid: Some(request_uid()),
        ..Overrides::default()
    };
    federation::merge(federation, &answers, &contexts, &overrides)
}

/// The first failure in Meilisearch's order: parse errors of any query; then index by index
/// (by uid): the facet order (with `mergeFacets`), the queries' own errors, the index's facets.
fn check_query_failures(
    queries: &[MultiSearchQuery],
    federation: &Federation,
    results: &[Result<Bytes, MeiliError>],
    prepared: &[(federation::PreparedQuery, Option<String>, bool)],
    contexts: &BTreeMap<String, IndexMergeContext>,
) -> Result<(), MeiliError> {
    let failures: Vec<(usize, &MeiliError)> = results
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.as_ref().err().map(|e| (i, e)))
        .collect();
    if let Some((i, e)) = failures
        .iter()
        .filter(|(_, e)| errors::is_parse_error(e))
        .min_by_key(|(i, _)| *i)
    {
        return Err(errors::in_query((*e).clone(), *i));
    }
    let mut by_index: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, q) in queries.iter().enumerate() {
        by_index.entry(q.index_uid.as_str()).or_default().push(i);
    }
    let mut ordered_facets: Vec<(&str, &IndexMergeContext, &[String])> = Vec::new();
    for (uid, positions) in &by_index {
        let first = positions.first().copied();
        if federation.merge_facets.is_some()
            && let (Some(ctx), Some(Some(facets))) =
                (contexts.get(*uid), federation.facets_by_index.get(*uid))
        {
            ordered_facets.push((uid, ctx, facets.as_slice()));
            if let Err((_, e)) =
                miroir_merge::federation::facets::check_facet_order(ordered_facets.iter().copied())
            {
                return Err(errors::in_facets_by_index(e, uid, first));
            }
        }
        let is_facet_error = |i: usize, e: &MeiliError| {
            e.code == ErrorCode::InvalidSearchFacets && prepared.get(i).is_some_and(|p| p.2)
        };
        let own = failures
            .iter()
            .filter(|(i, e)| positions.contains(i) && !is_facet_error(*i, e))
            .min_by_key(|(i, e)| (errors::rank(e), *i));
        if let Some((i, e)) = own {
            return Err(errors::in_query((*e).clone(), *i));
        }
        let facet = failures
            .iter()
            .find(|(i, e)| positions.contains(i) && is_facet_error(*i, e));
        if let Some((_, e)) = facet {
            return Err(errors::in_facets_by_index((*e).clone(), uid, first));
        }
    }
    Ok(())
}

/// Meilisearch checks the `facetsByIndex` of indexes that no query uses too: the index must
/// exist, order its facets like the others (with `mergeFacets`) and be able to compute them.
async fn check_unused_facets(
    merger: &Merger,
    topology: &Topology,
    federation: &Federation,
    used: &BTreeSet<&str>,
    contexts: &BTreeMap<String, IndexMergeContext>,
    deadline: Deadline,
) -> Result<(), MeiliError> {
    // Plain loops: iterator closures held across the awaits below would make the future lose
    // `Send` (a higher-ranked lifetime in the closure's signature).
    let mut ordered: Vec<(String, IndexMergeContext, Vec<String>)> = Vec::new();
    let mut unused: Vec<(String, Option<Vec<String>>)> = Vec::new();
    for (uid, facets) in federation.facets_by_index.clone() {
        if !used.contains(uid.as_str()) {
            unused.push((uid, facets));
        } else if let (Some(ctx), Some(facets)) = (contexts.get(&uid), facets) {
            ordered.push((uid, ctx.clone(), facets));
        }
    }
    for (uid, facets) in unused {
        let record = match merger.index(topology, &uid) {
            Ok(record) => record,
            Err(e) => return Err(errors::in_facets_by_index(e, &uid, None)),
        };
        let ctx = match merger.merge_context(topology, &record, deadline).await {
            Ok(ctx) => ctx,
            Err(e) => return Err(errors::in_facets_by_index(e, &uid, None)),
        };
        if federation.merge_facets.is_some() {
            ordered.push((uid.clone(), ctx, facets.clone().unwrap_or_default()));
            if let Err(e) = facet_order(&ordered) {
                return Err(errors::in_facets_by_index(e, &uid, None));
            }
        }
        if let Some(facets) = facets {
            let body = Bytes::from(json!({"q": "", "limit": 0, "facets": facets}).to_string());
            if let Err(e) = search_one(merger, uid.clone(), body, deadline, request_uid()).await {
                return Err(errors::in_facets_by_index(e, &uid, None));
            }
        }
    }
    Ok(())
}

fn facet_order(ordered: &[(String, IndexMergeContext, Vec<String>)]) -> Result<(), MeiliError> {
    let view = ordered
        .iter()
        .map(|(u, c, f)| (u.as_str(), c, f.as_slice()));
    miroir_merge::federation::facets::check_facet_order(view).map_err(|(_, e)| e)
}
