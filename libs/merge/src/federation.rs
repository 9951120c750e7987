//! Federated multi-search: the answers of several queries (each already an exact sharded
//! search) merged into one ranked list, as Meilisearch's federated search merges them.
//!
//! Each query is asked for the first `offset + limit` hits (or `page * hitsPerPage`) of its index
//! with its ranking score and details ([`prepare_query`]). [`merge`] then:
//! - merges the queries' lists, best first by milli's weighted comparison ([`weighted`]), ties
//!   to the lower query position; a document that several queries of the same index found
//!   counts once (its best place), and an index gives at most `maxTotalHits` hits;
//! - adds `_federation: {indexUid, queriesPosition, weightedRankingScore}` to each hit, after the
//!   document's fields and before `_formatted` and the score fields, and removes what the client
//!   did not ask for;
//! - slices the client's page; totals are the indexes' totals summed, each index's being the sum
//!   of its queries' totals less the documents seen in more than one of them (exact when the
//!   queries' hits were all fetched, an estimate otherwise, as Meilisearch's own total is);
//! - computes `facetsByIndex` or, with `mergeFacets`, `facetDistribution`/`facetStats`
//!   ([`facets`]).
//!
//! The answers stay bytes ([`QueryAnswer::response`]); no document is decoded. Each answer is
//! scanned once (`crate::scan`): its totals, `processingTimeMs` and facet maps are decoded, and
//! each hit is kept as its top-level members (keys unescaped, values as raw text), of which only
//! `_rankingScore` (read to the bit) and the primary key are decoded, and of a hit the merge
//! compares, the fields of `_rankingScoreDetails` that [`weighted`] reads (straight from the
//! text, no map built: `details`). The merged answer is written by copying the kept members' text,
//! with `_federation` put in and the members to strip left out; only when the primary key was
//! added and the hit has `_formatted` are that member's members read again (not decoded), to cut
//! the key out of it. A malformed answer is an internal error of its query.
//!
//! Not reproduced: milli's check that the queries' ranking rules are compatible
//! (`invalid_multi_search_query_ranking_rules`), remote (network) queries, and the exact
//! union of the candidates of several queries on one index for facet counts (see [`facets`]).

mod details;
pub mod facets;
mod weighted;

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashSet};

use bytes::Bytes;
use miroir_proto::error::MeiliError;
use miroir_proto::rpc_search::Federation;
use serde_json::{Map, Value};

use crate::hits::{document_id, is_within};
use crate::raw::{RawObject, SearchBody, decode_path_members, write_key, write_value};
use crate::{IndexMergeContext, Overrides};
use weighted::{HitScore, Scorer, compare};

/// Meilisearch's default `hitsPerPage`.
const DEFAULT_HITS_PER_PAGE: u64 = 20;

/// How many hits each query must return: Meilisearch's `required_hit_count`.
pub fn required_hits(federation: &Federation) -> u64 {
    match (federation.page, federation.hits_per_page) {
        (None, None) => federation.offset.saturating_add(federation.limit),
        (None, Some(hits_per_page)) => hits_per_page,
        (Some(0), _) => 0,
        (Some(page), None) => DEFAULT_HITS_PER_PAGE.saturating_mul(page),
        (Some(page), Some(hits_per_page)) => hits_per_page.saturating_mul(page),
    }
}

/// The `(skip, take)` of the merged list that the client gets.
fn window(federation: &Federation) -> (u64, u64) {
    match (federation.page, federation.hits_per_page) {
        (None, None) => (federation.offset, federation.limit),
        (None, Some(hits_per_page)) => (0, hits_per_page),
        (Some(0), _) => (0, 0),
        (Some(page), hits_per_page) => {
            let hits_per_page = hits_per_page.unwrap_or(DEFAULT_HITS_PER_PAGE);
            ((page - 1).saturating_mul(hits_per_page), hits_per_page)
        }
    }
}

/// One query as its sharded search must be asked, and what to undo in its hits.
#[derive(Clone, Debug, PartialEq)]
pub struct PreparedQuery {
    /// The search body to send (a JSON object).
    pub body: Value,
    /// Whether the client asked for `_rankingScore` / `_rankingScoreDetails`.
    pub show_score: bool,
    pub show_details: bool,
    /// The primary key, added to `attributesToRetrieve` only to recognise duplicates.
    pub added_field: Option<String>,
}

/// The body of one query's search: `offset: 0`, `limit: required`, the scores and details (the
/// merge compares on them), the index's `facetsByIndex` facets, and the primary key when
/// `attributesToRetrieve` leaves it out. A value of the wrong type for one of the forced
/// parameters is left as the client wrote it, so that the nodes refuse it in their own words.
pub fn prepare_query(
    client: &Value,
    required: u64,
    facets: Option<&[String]>,
    primary_key: Option<&str>,
) -> PreparedQuery {
    let mut body = client.as_object().cloned().unwrap_or_default();
    body.insert("offset".into(), Value::from(0u64));
    body.insert("limit".into(), Value::from(required));
    let mut flag = |key: &str| match body.get(key) {
        None | Some(Value::Null) => {
            body.insert(key.into(), Value::Bool(true));
            false
        }
        Some(Value::Bool(b)) => {
            let asked = *b;
            body.insert(key.into(), Value::Bool(true));
            asked
        }
        Some(_) => false,
    };
    let show_score = flag("showRankingScore");
    let show_details = flag("showRankingScoreDetails");
    if let Some(facets) = facets {
        body.insert("facets".into(), Value::from(facets.to_vec()));
    }
    let mut added_field = None;
    if let (Some(pk), Some(Value::Array(attributes))) =
        (primary_key, body.get_mut("attributesToRetrieve"))
    {
        let names: Vec<&str> = attributes.iter().filter_map(Value::as_str).collect();
        let covered = names.iter().any(|a| *a == "*" || is_within(pk, a));
        if !covered && names.len() == attributes.len() {
            attributes.push(Value::from(pk));
            added_field = Some(pk.to_owned());
        }
    }
    PreparedQuery {
        body: Value::Object(body),
        show_score,
        show_details,
        added_field,
    }
}

/// One query's answer: its (sharded, merged) search response to [`PreparedQuery::body`].
#[derive(Clone, Debug)]
pub struct QueryAnswer {
    pub index_uid: String,
    pub weight: f64,
    pub primary_key: Option<String>,
    pub prepared: PreparedQuery,
    /// The answer's bytes as the search wrote them (a JSON object). The merge decodes only what
    /// it reads (see [`merge`]); the hits it keeps are copied out as they are.
    pub response: Bytes,
}

/// The members of an answer other than `hits` that the merge reads, decoded: small values
/// (totals, facet maps), which [`facets`] reads from a map.
const SUMMARY: &[&str] = &[
    "estimatedTotalHits",
    "totalHits",
    "processingTimeMs",
    "facetDistribution",
    "facetStats",
];

/// One query's answer as the merge reads it: [`SUMMARY`] decoded, each hit's top-level members
/// with their values left as text (borrowed from [`QueryAnswer::response`]).
struct ReadAnswer<'a> {
    summary: Map<String, Value>,
    hits: Vec<RawObject<'a>>,
}

/// Read query `query`'s answer; a malformed one is an internal error, reported for the query as
/// the multi-search reports a query's errors.
fn read_answer(query: usize, answer: &QueryAnswer) -> Result<ReadAnswer<'_>, MeiliError> {
    let body = SearchBody::<RawObject<'_>>::parse_slice(&answer.response).map_err(|e| {
        MeiliError::internal(format!(
            "Inside `.queries[{query}]`: a search answer is not JSON: {e}"
        ))
    })?;
    let mut summary = Map::new();
    for key in SUMMARY {
        if let Some(value) = body.body.decode::<Value>(key) {
            summary.insert((*key).to_owned(), value);
        }
    }
    Ok(ReadAnswer {
        summary,
        hits: body.hits.unwrap_or_default(),
    })
}

struct Candidate<'a> {
    query: usize,
    answer: &'a QueryAnswer,
    /// The hit's members, unparsed.
    doc: &'a RawObject<'a>,
    /// The hit's [`document_id`].
    id: Option<String>,
    ranking_score: f64,
}

fn total_of(response: &Map<String, Value>) -> u64 {
    ["estimatedTotalHits", "totalHits"]
        .iter()
        .find_map(|k| response.get(*k).and_then(Value::as_u64))
        .unwrap_or(0)
}

/// The federated answer, written as bytes. `contexts` holds the merge context of every index of
/// the queries (their `maxTotalHits` and faceting settings). `overrides` gives the
/// `processingTimeMs` (else the slowest query's) and the `requestUid` (else none), which the
/// multi-search sets; its `facet_counts` do not apply here. What is decoded and what is copied:
/// see the module's documentation. A malformed answer is an internal error.
pub fn merge(
    federation: &Federation,
    answers: &[QueryAnswer],
    contexts: &BTreeMap<String, IndexMergeContext>,
    overrides: &Overrides,
) -> Result<Vec<u8>, MeiliError> {
    let read: Vec<ReadAnswer<'_>> = answers
        .iter()
        .enumerate()
        .map(|(query, answer)| read_answer(query, answer))
        .collect::<Result<_, _>>()?;
    let (lists, mut scorers): (Vec<Vec<Candidate<'_>>>, Vec<Scorer<'_>>) = answers
        .iter()
        .zip(&read)
        .enumerate()
        .map(|(query, (answer, read))| candidates(query, answer, &read.hits))
        .unzip();
    let summaries: Vec<&Map<String, Value>> = read.iter().map(|r| &r.summary).collect();

    let required = required_hits(federation);
    let merged = merge_lists(&lists, &mut scorers, contexts, required);
    let (skip, take) = window(federation);
    let page: Vec<&Candidate<'_>> = merged
        .into_iter()
        .skip(usize::try_from(skip).unwrap_or(usize::MAX))
        .take(usize::try_from(take).unwrap_or(usize::MAX))
        .collect();

    let size: usize = page
        .iter()
        .flat_map(|c| &c.doc.members)
        .map(|(k, v)| k.len() + v.get().len() + 4)
        .sum();
    let mut out = Vec::with_capacity(size + page.len() * 96 + 256);
    out.extend_from_slice(b"{\"hits\":[");
    for (i, c) in page.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_hit(&mut out, c);
    }
    out.push(b']');

    let field = |out: &mut Vec<u8>, key: &str, value: &Value| {
        out.push(b',');
        write_key(out, key);
        write_value(out, value);
    };
    let total = estimated_total(answers, &lists, &summaries);
    let slowest = summaries
        .iter()
        .filter_map(|b| b.get("processingTimeMs").and_then(Value::as_u64))
        .max()
        .unwrap_or(0);
    let took = overrides.processing_time_ms.unwrap_or(slowest);
    field(&mut out, "processingTimeMs", &Value::from(took));
    match (federation.page, federation.hits_per_page) {
        (None, None) => {
            field(&mut out, "limit", &Value::from(federation.limit));
            field(&mut out, "offset", &Value::from(federation.offset));
            field(&mut out, "estimatedTotalHits", &Value::from(total));
        }
        (page, hits_per_page) => {
            let hits_per_page = hits_per_page.unwrap_or(DEFAULT_HITS_PER_PAGE);
            let total_pages = total
                .saturating_add(hits_per_page.saturating_sub(1))
                .checked_div(hits_per_page)
                .unwrap_or(0);
            field(&mut out, "hitsPerPage", &Value::from(hits_per_page));
            field(&mut out, "page", &Value::from(page.unwrap_or(1)));
            field(&mut out, "totalPages", &Value::from(total_pages));
            field(&mut out, "totalHits", &Value::from(total));
        }
    }
    let by_index = facets_by_index(federation, answers, &summaries, contexts);
    match federation.merge_facets {
        Some(merge) => {
            if let Some((distribution, stats)) = facets::merge_indexes(&by_index, contexts, merge) {
                field(&mut out, "facetDistribution", &distribution);
                field(&mut out, "facetStats", &stats);
            }
        }
        None if !by_index.is_empty() => {
            let by_index = Value::Object(by_index.into_iter().collect());
            field(&mut out, "facetsByIndex", &by_index);
        }
        None => {}
    }
    if let Some(uid) = &overrides.request_uid {
        field(&mut out, "requestUid", &Value::from(uid.as_str()));
    }
    out.push(b'}');
    Ok(out)
}

/// The query's hits as candidates, of each only its score and its primary key decoded, and the
/// scorer of their details (read only for the hits the merge compares).
fn candidates<'a>(
    query: usize,
    answer: &'a QueryAnswer,
    hits: &'a [RawObject<'a>],
) -> (Vec<Candidate<'a>>, Scorer<'a>) {
    let details = hits
        .iter()
        .map(|doc| doc.get("_rankingScoreDetails").map(|raw| raw.get()))
        .collect();
    let candidates = hits
        .iter()
        .map(|doc| Candidate {
            query,
            answer,
            doc,
            id: answer.primary_key.as_deref().and_then(|pk| hit_id(doc, pk)),
            ranking_score: ranking_score(doc),
        })
        .collect();
    (candidates, Scorer::new(answer.weight, details))
}

/// The hit's [`document_id`]: when the key's (first) member is a string without escapes or an
/// unsigned integer, its text; otherwise only the members the primary key's path names are
/// decoded (the key itself unless it is dotted), and the id read from them.
fn hit_id(doc: &RawObject<'_>, pk: &str) -> Option<String> {
    if let Some(raw) = doc.get(pk) {
        let text = raw.get();
        let plain = text
            .strip_prefix('"')
            .and_then(|t| t.strip_suffix('"'))
            .filter(|t| !t.bytes().any(|b| b == b'\\' || b < 0x20));
        if let Some(id) = plain {
            return Some(id.to_owned());
        }
        if text.bytes().all(|b| b.is_ascii_digit()) && text.parse::<u64>().is_ok() {
            return Some(text.to_owned());
        }
    }
    document_id(&decode_path_members(doc, pk), pk)
}

/// A hit's `_rankingScore`, 0 when it has none (or not a number). Read to the bit, as Rust reads
/// a decimal: serde_json may read one a unit in the last place off (`0.9949494949494949`), and
/// `weightedRankingScore` shows it.
fn ranking_score(doc: &RawObject<'_>) -> f64 {
    doc.get("_rankingScore")
        .map(|raw| raw.get().trim())
        .filter(|text| text.starts_with(|c: char| c == '-' || c.is_ascii_digit()))
        .and_then(|text| text.parse::<f64>().ok())
        .unwrap_or(0.0)
}

/// A k-way merge of the queries' lists (each in its own order): at each step the best head,
/// ties to the lower query. Documents already taken from the same index are skipped, and an
/// index stops giving hits at `min(required, maxTotalHits)`. A hit is scored (`scorers`, one
/// per list) when it becomes its list's head.
fn merge_lists<'l, 'a>(
    lists: &'l [Vec<Candidate<'a>>],
    scorers: &mut [Scorer<'a>],
    contexts: &BTreeMap<String, IndexMergeContext>,
    required: u64,
) -> Vec<&'l Candidate<'a>> {
    // Each list's head and, once scored, its score.
    let mut heads: Vec<(usize, Option<HitScore>)> = vec![(0, None); lists.len()];
    let hits: usize = lists.iter().map(Vec::len).sum();
    let mut seen: HashSet<(&str, &str)> =
        HashSet::with_capacity(hits.min(usize::try_from(required).unwrap_or(usize::MAX)));
    let mut per_index: BTreeMap<&str, u64> = BTreeMap::new();
    let mut out = Vec::new();
    while (out.len() as u64) < required {
        for ((list, (head, score)), scorer) in lists.iter().zip(&mut heads).zip(&mut *scorers) {
            if score.is_none()
                && let Some(c) = list.get(*head)
            {
                *score = Some(scorer.score(*head, c.ranking_score));
            }
        }
        let mut best: Option<(usize, &HitScore)> = None;
        for (q, (_, score)) in heads.iter().enumerate() {
            let Some(score) = score else { continue };
            if best.is_none_or(|(_, b)| compare(score, b) == Ordering::Greater) {
                best = Some((q, score));
            }
        }
        let Some((q, _)) = best else { break };
        let Some(best) = heads.get_mut(q).and_then(|(head, score)| {
            let c = lists.get(q)?.get(*head)?;
            *head += 1;
            *score = None;
            Some(c)
        }) else {
            break;
        };
        let uid = best.answer.index_uid.as_str();
        let cap = index_cap(contexts, uid, required);
        let taken = per_index.entry(uid).or_default();
        if *taken >= cap {
            continue;
        }
        if let Some(id) = best.id.as_deref()
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
fn estimated_total(
    answers: &[QueryAnswer],
    lists: &[Vec<Candidate<'_>>],
    summaries: &[&Map<String, Value>],
) -> u64 {
    let mut seen: HashSet<(&str, &str)> = HashSet::with_capacity(lists.iter().map(Vec::len).sum());
    let mut duplicates = 0u64;
    let mut total = 0u64;
    for ((answer, list), summary) in answers.iter().zip(lists).zip(summaries) {
        total = total.saturating_add(total_of(summary));
        if answer.primary_key.is_none() {
            continue;
        }
        let mut own: HashSet<&str> = HashSet::with_capacity(list.len());
        for id in list.iter().filter_map(|c| c.id.as_deref()) {
            if own.insert(id) && !seen.insert((answer.index_uid.as_str(), id)) {
                duplicates += 1;
            }
        }
    }
    total.saturating_sub(duplicates)
}

/// `_federation` goes after the document's own fields, before these.
const AFTER_FEDERATION: &[&str] = &[
    "_formatted",
    "_matchesPosition",
    "_rankingScore",
    "_rankingScoreDetails",
];

/// Write the client's hit: its members' text as the query's answer holds it, without the
/// primary key the merge added (also cut out of `_formatted`) and the score members the client
/// did not ask for, and with `_federation` before the first of [`AFTER_FEDERATION`] (else
/// last). A `_federation` of the document's own is replaced by the merge's.
fn write_hit(out: &mut Vec<u8>, c: &Candidate<'_>) {
    let prepared = &c.answer.prepared;
    let added = prepared.added_field.as_deref();
    let mut federation_written = false;
    out.push(b'{');
    let start = out.len();
    let sep = |out: &mut Vec<u8>| {
        if out.len() > start {
            out.push(b',');
        }
    };
    for (key, value) in &c.doc.members {
        let key = key.as_ref();
        let stripped = Some(key) == added
            || key == "_federation"
            || (key == "_rankingScore" && !prepared.show_score)
            || (key == "_rankingScoreDetails" && !prepared.show_details);
        if stripped {
            continue;
        }
        if !federation_written && AFTER_FEDERATION.contains(&key) {
            sep(out);
            write_federation(out, c);
            federation_written = true;
        }
        sep(out);
        write_key(out, key);
        match added {
            Some(field) if key == "_formatted" => write_without(out, value.get(), field),
            _ => out.extend_from_slice(value.get().as_bytes()),
        }
    }
    if !federation_written {
        sep(out);
        write_federation(out, c);
    }
    out.push(b'}');
}

fn write_federation(out: &mut Vec<u8>, c: &Candidate<'_>) {
    let answer = c.answer;
    write_key(out, "_federation");
    out.extend_from_slice(b"{\"indexUid\":");
    write_value(out, answer.index_uid.as_str());
    out.extend_from_slice(b",\"queriesPosition\":");
    write_value(out, &c.query);
    out.extend_from_slice(b",\"weightedRankingScore\":");
    // Through `Value`, as before: a score that is not finite is written `null`.
    write_value(out, &Value::from(c.ranking_score * answer.weight));
    out.push(b'}');
}

/// Write the object `text` without its top-level member `field`, the other members' text as it
/// is; `text` as it is when it holds no such member (or is not an object).
fn write_without(out: &mut Vec<u8>, text: &str, field: &str) {
    let object = match RawObject::parse(text) {
        Ok(object) if object.members.iter().any(|(k, _)| k == field) => object,
        _ => {
            out.extend_from_slice(text.as_bytes());
            return;
        }
    };
    out.push(b'{');
    let kept = object.members.iter().filter(|(k, _)| k != field);
    for (i, (key, value)) in kept.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_key(out, key);
        out.extend_from_slice(value.get().as_bytes());
    }
    out.push(b'}');
}

/// How many hits the index `uid` may give the merged list: its `maxTotalHits`, at most
/// `required`.
fn index_cap(contexts: &BTreeMap<String, IndexMergeContext>, uid: &str, required: u64) -> u64 {
    contexts
        .get(uid)
        .map_or(u64::MAX, |c| {
            u64::try_from(c.max_total_hits).unwrap_or(u64::MAX)
        })
        .min(required)
}

fn facets_by_index(
    federation: &Federation,
    answers: &[QueryAnswer],
    summaries: &[&Map<String, Value>],
    contexts: &BTreeMap<String, IndexMergeContext>,
) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for (uid, facets) in &federation.facets_by_index {
        if facets.is_none() {
            continue;
        }
        let of_index: Vec<&Map<String, Value>> = answers
            .iter()
            .zip(summaries)
            .filter(|(a, _)| &a.index_uid == uid)
            .map(|(_, s)| *s)
            .collect();
        if of_index.is_empty() {
            continue;
        }
        let ctx = contexts.get(uid).cloned().unwrap_or_default();
        out.insert(uid.clone(), facets::index_facets(&of_index, &ctx));
    }
    out
}

#[cfg(test)]
mod reference;
#[cfg(test)]
mod tests;
