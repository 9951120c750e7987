//! The federated merge as it was written before it kept hits as text: every answer decoded into
//! `serde_json::Value` and the answer built as one. The byte merge ([`super::merge`]) is tested
//! against it (`tests.rs`), on answers the tests decode exactly (see `tests::exact`).
#![allow(clippy::unwrap_used)]

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashSet};

use miroir_proto::error::MeiliError;
use miroir_proto::rpc_search::Federation;
use serde_json::{Map, Value};

use super::weighted::{HitScore, MaxRanks, compare, hit_score};
use super::{AFTER_FEDERATION, DEFAULT_HITS_PER_PAGE, QueryAnswer, facets, required_hits, window};
use crate::IndexMergeContext;
use crate::hits::document_id;

struct Candidate<'a> {
    query: usize,
    answer: &'a QueryAnswer,
    doc: &'a Map<String, Value>,
    score: HitScore,
    ranking_score: f64,
}

fn total_of(response: &Map<String, Value>) -> u64 {
    ["estimatedTotalHits", "totalHits"]
        .iter()
        .find_map(|k| response.get(*k).and_then(Value::as_u64))
        .unwrap_or(0)
}

/// The federated answer (without `requestUid`, which the caller adds last). `contexts` holds the
/// merge context of every index of the queries (their `maxTotalHits` and faceting settings).
/// Each answer comes with its response decoded (`QueryAnswer::response` is not read).
pub(super) fn merge(
    federation: &Federation,
    decoded: &[(QueryAnswer, Value)],
    contexts: &BTreeMap<String, IndexMergeContext>,
) -> Result<Value, MeiliError> {
    let empty = Map::new();
    let answers: Vec<QueryAnswer> = decoded.iter().map(|(a, _)| a.clone()).collect();
    let answers = answers.as_slice();
    let bodies: Vec<&Map<String, Value>> = decoded
        .iter()
        .map(|(_, r)| r.as_object().unwrap_or(&empty))
        .collect();
    let lists: Vec<Vec<Candidate<'_>>> = answers
        .iter()
        .zip(&bodies)
        .enumerate()
        .map(|(query, (answer, body))| candidates(query, answer, body))
        .collect();

    let required = required_hits(federation);
    let merged = merge_lists(&lists, contexts, required);
    let (skip, take) = window(federation);
    let hits: Vec<Value> = merged
        .into_iter()
        .skip(usize::try_from(skip).unwrap_or(usize::MAX))
        .take(usize::try_from(take).unwrap_or(usize::MAX))
        .map(client_hit)
        .collect();

    let total = estimated_total(answers, &bodies);
    let slowest = bodies
        .iter()
        .filter_map(|b| b.get("processingTimeMs").and_then(Value::as_u64))
        .max()
        .unwrap_or(0);
    let mut out = Map::new();
    out.insert("hits".into(), Value::Array(hits));
    out.insert("processingTimeMs".into(), Value::from(slowest));
    match (federation.page, federation.hits_per_page) {
        (None, None) => {
            out.insert("limit".into(), Value::from(federation.limit));
            out.insert("offset".into(), Value::from(federation.offset));
            out.insert("estimatedTotalHits".into(), Value::from(total));
        }
        (page, hits_per_page) => {
            let hits_per_page = hits_per_page.unwrap_or(DEFAULT_HITS_PER_PAGE);
            let total_pages = total
                .saturating_add(hits_per_page.saturating_sub(1))
                .checked_div(hits_per_page)
                .unwrap_or(0);
            out.insert("hitsPerPage".into(), Value::from(hits_per_page));
            out.insert("page".into(), Value::from(page.unwrap_or(1)));
            out.insert("totalPages".into(), Value::from(total_pages));
            out.insert("totalHits".into(), Value::from(total));
        }
    }
    let by_index = facets_by_index(federation, answers, &bodies, contexts);
    match federation.merge_facets {
        Some(merge) => {
            if let Some((distribution, stats)) = facets::merge_indexes(&by_index, contexts, merge) {
                out.insert("facetDistribution".into(), distribution);
                out.insert("facetStats".into(), stats);
            }
        }
        None if !by_index.is_empty() => {
            out.insert(
                "facetsByIndex".into(),
                Value::Object(by_index.into_iter().collect()),
            );
        }
        None => {}
    }
    Ok(Value::Object(out))
}

fn candidates<'a>(
    query: usize,
    answer: &'a QueryAnswer,
    body: &'a Map<String, Value>,
) -> Vec<Candidate<'a>> {
    let docs: Vec<&Map<String, Value>> = body
        .get("hits")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .collect();
    let details =
        |d: &'a Map<String, Value>| d.get("_rankingScoreDetails").and_then(Value::as_object);
    let mut max_ranks = MaxRanks::default();
    for d in docs.iter().filter_map(|d| details(d)) {
        max_ranks.observe(d);
    }
    docs.into_iter()
        .map(|doc| {
            let ranking_score = doc
                .get("_rankingScore")
                .and_then(Value::as_f64)
                .unwrap_or(0.0);
            Candidate {
                query,
                answer,
                doc,
                score: hit_score(details(doc), ranking_score, answer.weight, &max_ranks),
                ranking_score,
            }
        })
        .collect()
}

/// A k-way merge of the queries' lists (each in its own order): at each step the best head,
/// ties to the lower query. Documents already taken from the same index are skipped, and an
/// index stops giving hits at `min(required, maxTotalHits)`.
fn merge_lists<'l, 'a>(
    lists: &'l [Vec<Candidate<'a>>],
    contexts: &BTreeMap<String, IndexMergeContext>,
    required: u64,
) -> Vec<&'l Candidate<'a>> {
    let mut heads = vec![0usize; lists.len()];
    let mut seen: HashSet<(&str, String)> = HashSet::new();
    let mut per_index: BTreeMap<&str, u64> = BTreeMap::new();
    let mut out = Vec::new();
    while (out.len() as u64) < required {
        let mut best: Option<&Candidate<'_>> = None;
        for (q, list) in lists.iter().enumerate() {
            let Some(c) = heads.get(q).and_then(|h| list.get(*h)) else {
                continue;
            };
            if best.is_none_or(|b| compare(&c.score, &b.score) == Ordering::Greater) {
                best = Some(c);
            }
        }
        let Some(best) = best else { break };
        if let Some(h) = heads.get_mut(best.query) {
            *h += 1;
        }
        let answer = best.answer;
        let uid = answer.index_uid.as_str();
        let cap = contexts
            .get(uid)
            .map_or(u64::MAX, |c| {
                u64::try_from(c.max_total_hits).unwrap_or(u64::MAX)
            })
            .min(required);
        let taken = per_index.entry(uid).or_default();
        if *taken >= cap {
            continue;
        }
        let id = answer
            .primary_key
            .as_deref()
            .and_then(|pk| document_id(best.doc, pk));
        if let Some(id) = id
            && !seen.insert((uid, id))
        {
            continue;
        }
        *taken += 1;
        out.push(best);
    }
    out
}

/// Sum of the queries' totals, less the documents that several queries of one index found.
fn estimated_total(answers: &[QueryAnswer], bodies: &[&Map<String, Value>]) -> u64 {
    let mut seen: HashSet<(&str, String)> = HashSet::new();
    let mut duplicates = 0u64;
    let mut total = 0u64;
    for (answer, body) in answers.iter().zip(bodies) {
        total = total.saturating_add(total_of(body));
        let Some(pk) = answer.primary_key.as_deref() else {
            continue;
        };
        let mut own: HashSet<String> = HashSet::new();
        let hits = body
            .get("hits")
            .and_then(Value::as_array)
            .into_iter()
            .flatten();
        for id in hits
            .filter_map(Value::as_object)
            .filter_map(|d| document_id(d, pk))
        {
            if own.insert(id.clone()) && !seen.insert((answer.index_uid.as_str(), id)) {
                duplicates += 1;
            }
        }
    }
    total.saturating_sub(duplicates)
}

fn client_hit(c: &Candidate<'_>) -> Value {
    let answer = c.answer;
    let prepared = &answer.prepared;
    let mut doc = c.doc.clone();
    if let Some(field) = &prepared.added_field {
        doc.shift_remove(field);
        if let Some(Value::Object(formatted)) = doc.get_mut("_formatted") {
            formatted.shift_remove(field);
        }
    }
    if !prepared.show_score {
        doc.shift_remove("_rankingScore");
    }
    if !prepared.show_details {
        doc.shift_remove("_rankingScoreDetails");
    }
    let mut federation = Map::new();
    federation.insert("indexUid".into(), Value::from(answer.index_uid.clone()));
    federation.insert("queriesPosition".into(), Value::from(c.query));
    federation.insert(
        "weightedRankingScore".into(),
        Value::from(c.ranking_score * answer.weight),
    );
    let at = doc
        .keys()
        .position(|k| AFTER_FEDERATION.contains(&k.as_str()))
        .unwrap_or(doc.len());
    doc.shift_insert(at, "_federation".into(), Value::Object(federation));
    Value::Object(doc)
}

fn facets_by_index(
    federation: &Federation,
    answers: &[QueryAnswer],
    bodies: &[&Map<String, Value>],
    contexts: &BTreeMap<String, IndexMergeContext>,
) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for (uid, facets) in &federation.facets_by_index {
        if facets.is_none() {
            continue;
        }
        let of_index: Vec<&Map<String, Value>> = answers
            .iter()
            .zip(bodies)
            .filter(|(a, _)| &a.index_uid == uid)
            .map(|(_, b)| *b)
            .collect();
        if of_index.is_empty() {
            continue;
        }
        let ctx = contexts.get(uid).cloned().unwrap_or_default();
        out.insert(uid.clone(), facets::index_facets(&of_index, &ctx));
    }
    out
}
