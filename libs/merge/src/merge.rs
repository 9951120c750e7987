//! Turning the shards' answers into the client's answer.

use std::cmp::Ordering;
use std::collections::HashSet;

use miroir_proto::error::MeiliError;
use serde_json::{Map, Value};

use crate::compare::Ranking;
use crate::hits::{self, DistinctKey};
use crate::params::Pagination;
use crate::score::Maxima;
use crate::{IndexMergeContext, MergeError, ShardPlan, facets};

/// A re-normalised score is recomputed through a few float operations; when it is compared
/// with the client's `rankingScoreThreshold`, it gets this much benefit of the doubt.
const RECOMPUTED_SCORE_TOLERANCE: f64 = 1e-12;

/// Keys of a search response that the merge computes; any other key a shard returns is copied
/// from the first shard that has it, after these.
const COMPUTED_KEYS: &[&str] = &[
    "hits",
    "query",
    "queryVector",
    "processingTimeMs",
    "limit",
    "offset",
    "estimatedTotalHits",
    "hitsPerPage",
    "page",
    "totalPages",
    "totalHits",
    "facetDistribution",
    "facetStats",
    "requestUid",
];

struct ShardHit<'a> {
    doc: &'a Map<String, Value>,
    ranking: Ranking,
}

struct ShardAnswer<'a> {
    body: &'a Map<String, Value>,
    hits: Vec<ShardHit<'a>>,
    total: u64,
}

fn read_shard(shard: usize, response: &Value) -> Result<ShardAnswer<'_>, MergeError> {
    let bad = |reason: String| MergeError::NotASearchResponse { shard, reason };
    let Some(body) = response.as_object() else {
        return Err(bad(format!(
            "expected a JSON object, got `{}`",
            truncated(response)
        )));
    };
    if let (Some(Value::String(code)), Some(Value::String(message))) =
        (body.get("code"), body.get("message"))
    {
        return Err(bad(format!(
            "the shard answered an error `{code}`: {message}"
        )));
    }
    let Some(raw_hits) = body.get("hits").and_then(Value::as_array) else {
        return Err(bad("no `hits` array".to_owned()));
    };
    let mut hits = Vec::with_capacity(raw_hits.len());
    for (i, hit) in raw_hits.iter().enumerate() {
        let Some(doc) = hit.as_object() else {
            return Err(bad(format!("hit #{i} is not an object")));
        };
        hits.push(ShardHit {
            doc,
            ranking: Ranking::from_hit(doc),
        });
    }
    let total = ["estimatedTotalHits", "totalHits"]
        .iter()
        .find_map(|k| body.get(*k).and_then(Value::as_u64));
    let Some(total) = total else {
        return Err(bad(
            "no `estimatedTotalHits` or `totalHits` count".to_owned()
        ));
    };
    Ok(ShardAnswer { body, hits, total })
}

fn truncated(v: &Value) -> String {
    let s = v.to_string();
    match s.char_indices().nth(200) {
        Some((cut, _)) => format!("{}...", &s[..cut]),
        None => s,
    }
}

/// Merge the shards' answers to [`ShardPlan::shard_request`] into the answer one whole index
/// would have given the client's request. `shard_responses` are Meilisearch search response
/// bodies, one per shard, in a fixed shard order (it breaks ties, so it must not vary).
///
/// Hits are merged shard list by shard list (each shard's own order is kept), picking at each
/// step the head that ranks first rule by rule ([`Ranking::compare`]), ties going to the lower
/// shard position; then documents already taken (same primary key) are skipped, the client's
/// `rankingScoreThreshold` is applied to the re-normalised score, `distinct` is applied across
/// shards, and the client's page is sliced out. Totals are the shards' sums minus the
/// duplicates seen; `processingTimeMs` is the slowest shard's (the caller may overwrite it, and
/// should overwrite `requestUid`, which is the first shard's).
pub fn merge(
    plan: &ShardPlan,
    shard_responses: &[Value],
    ctx: &IndexMergeContext,
) -> Result<Value, MeiliError> {
    let shards = shard_responses
        .iter()
        .enumerate()
        .map(|(i, r)| read_shard(i, r))
        .collect::<Result<Vec<_>, _>>()?;

    let mut maxima = Maxima::default();
    for hit in shards.iter().flat_map(|s| &s.hits) {
        maxima.observe(&hit.ranking);
    }

    let (start, end) = plan.window;
    let (kept, duplicates) = ranked_hits(&shards, &maxima, plan, ctx);
    let page_len = usize::try_from(end - start).unwrap_or(usize::MAX);
    let page = kept
        .iter()
        .skip(usize::try_from(start).unwrap_or(usize::MAX))
        .take(page_len);
    let out_hits: Vec<Value> = page
        .map(|(hit, score)| Value::Object(client_hit(plan, &maxima, hit, *score)))
        .collect();

    let total = shards
        .iter()
        .fold(0u64, |acc, s| acc.saturating_add(s.total))
        .saturating_sub(duplicates);
    Ok(Value::Object(response(plan, ctx, &shards, out_hits, total)))
}

/// The first `plan.window.1` hits of the whole ranking with their whole-index scores, and how
/// many duplicate documents were skipped on the way.
///
/// A k-way merge of the shards' lists: each list is already in the index's order, so the next
/// hit overall is the best of the lists' heads. Keeping each shard's own order (rather than
/// sorting everything) also keeps the shard's word on anything the details cannot tell apart.
fn ranked_hits<'s, 'a>(
    shards: &'s [ShardAnswer<'a>],
    maxima: &Maxima,
    plan: &ShardPlan,
    ctx: &IndexMergeContext,
) -> (Vec<(&'s ShardHit<'a>, Option<f64>)>, u64) {
    let end = plan.window.1;
    let mut heads = vec![0usize; shards.len()];
    let mut kept = Vec::new();
    let mut seen_ids: HashSet<String> = HashSet::new();
    let mut seen_distinct: HashSet<DistinctKey> = HashSet::new();
    let mut duplicates = 0u64;
    while (kept.len() as u64) < end {
        let mut best: Option<(usize, &ShardHit<'_>)> = None;
        for (s, shard) in shards.iter().enumerate() {
            let Some(candidate) = heads.get(s).and_then(|h| shard.hits.get(*h)) else {
                continue;
            };
            let better = best.is_none_or(|(_, b)| match candidate.ranking.compare(&b.ranking) {
                Ordering::Less => true,
                Ordering::Greater => false,
                Ordering::Equal => tie_break(ctx, candidate, b) == Ordering::Less,
            });
            if better {
                best = Some((s, candidate));
            }
        }
        let Some((s, hit)) = best else { break };
        if let Some(head) = heads.get_mut(s) {
            *head += 1;
        }
        let id = ctx
            .primary_key
            .as_deref()
            .and_then(|pk| hits::document_id(hit.doc, pk));
        if id.is_some_and(|id| !seen_ids.insert(id)) {
            duplicates += 1;
            continue;
        }
        let score = maxima.global_score(&hit.ranking);
        if let (Some(threshold), Some(score)) = (plan.client.threshold, score) {
            let recomputed = hit.ranking.score != Some(score);
            let tolerance = if recomputed {
                RECOMPUTED_SCORE_TOLERANCE
            } else {
                0.0
            };
            if score + tolerance < threshold {
                continue;
            }
        }
        if let Some(attribute) = &plan.distinct {
            let values = hits::distinct_values(hit.doc, attribute);
            if values.iter().any(|v| seen_distinct.contains(v)) {
                continue;
            }
            seen_distinct.extend(values);
        }
        kept.push((hit, score));
    }
    (kept, duplicates)
}

/// Between heads tied on every rule: the smaller primary key first (integers by value, before
/// strings, strings by bytes), then the lower shard position (the caller's `<` on shard order).
///
/// One index breaks such ties by its internal document id, which follows insertion order; for
/// the common case of documents inserted by increasing id, the primary key order is the same
/// order, so even a placeholder search pages through the documents as one index would.
fn tie_break(ctx: &IndexMergeContext, a: &ShardHit<'_>, b: &ShardHit<'_>) -> Ordering {
    let Some(pk) = ctx.primary_key.as_deref() else {
        return Ordering::Equal;
    };
    match (a.doc.get(pk), b.doc.get(pk)) {
        (Some(x), Some(y)) => compare_document_ids(x, y),
        _ => Ordering::Equal,
    }
}

/// Order of primary key values when nothing else tells documents apart: integers by value,
/// before strings, strings by bytes (see [`merge`]'s tie-break).
pub fn compare_document_ids(x: &Value, y: &Value) -> Ordering {
    match (x, y) {
        (Value::Number(a), Value::Number(b)) => match (a.as_i64(), b.as_i64()) {
            (Some(a), Some(b)) => a.cmp(&b),
            _ => a
                .as_f64()
                .partial_cmp(&b.as_f64())
                .unwrap_or(Ordering::Equal),
        },
        (Value::Number(_), _) => Ordering::Less,
        (_, Value::Number(_)) => Ordering::Greater,
        (Value::String(a), Value::String(b)) => a.cmp(b),
        _ => Ordering::Equal,
    }
}

/// One hit as the client asked for it: whole-index score and details, added fields removed.
fn client_hit(
    plan: &ShardPlan,
    maxima: &Maxima,
    hit: &ShardHit<'_>,
    score: Option<f64>,
) -> Map<String, Value> {
    let mut doc = hit.doc.clone();
    match score {
        Some(score) if plan.client.show_score && hit.ranking.score != Some(score) => {
            doc.insert("_rankingScore".into(), Value::from(score));
        }
        _ => {}
    }
    match doc.get_mut("_rankingScoreDetails") {
        Some(Value::Object(details)) if plan.client.show_details => {
            maxima.fix_details(&hit.ranking, details)
        }
        _ => {}
    }
    hits::strip(&mut doc, &plan.added_fields, &plan.client);
    doc
}

/// The response object, keys in Meilisearch's order.
fn response(
    plan: &ShardPlan,
    ctx: &IndexMergeContext,
    shards: &[ShardAnswer<'_>],
    hits: Vec<Value>,
    total: u64,
) -> Map<String, Value> {
    let first = |key: &str| shards.iter().find_map(|s| s.body.get(key));
    let mut out = Map::new();
    out.insert("hits".into(), Value::Array(hits));
    out.insert("query".into(), Value::from(plan.client.query.clone()));
    if let Some(vector) = first("queryVector") {
        out.insert("queryVector".into(), vector.clone());
    }
    let slowest = shards
        .iter()
        .filter_map(|s| s.body.get("processingTimeMs").and_then(Value::as_u64))
        .max();
    out.insert("processingTimeMs".into(), Value::from(slowest.unwrap_or(0)));
    match plan.client.pagination {
        Pagination::OffsetLimit { offset, limit } => {
            out.insert("limit".into(), Value::from(limit));
            out.insert("offset".into(), Value::from(offset));
            out.insert("estimatedTotalHits".into(), Value::from(total));
        }
        Pagination::Pages {
            page,
            hits_per_page,
        } => {
            // Meilisearch 1.50 reports page-mode totals uncapped by `maxTotalHits` (its single-index
            // search runs through the federated path, meilisearch#6482), as it does
            // `estimatedTotalHits`; only the hits themselves stop at `maxTotalHits`.
            let total_pages = total.div_ceil(hits_per_page.max(1)) * u64::from(hits_per_page > 0);
            out.insert("hitsPerPage".into(), Value::from(hits_per_page));
            out.insert("page".into(), Value::from(page));
            out.insert("totalPages".into(), Value::from(total_pages));
            out.insert("totalHits".into(), Value::from(total));
        }
    }
    if let Some(distribution) =
        facets::merge_distribution(shards.iter().map(|s| s.body), ctx, total)
    {
        out.insert("facetDistribution".into(), distribution);
    }
    if let Some(stats) = facets::merge_stats(shards.iter().map(|s| s.body)) {
        out.insert("facetStats".into(), stats);
    }
    if let Some(uid) = first("requestUid") {
        out.insert("requestUid".into(), uid.clone());
    }
    for shard in shards {
        for (key, value) in shard.body {
            if COMPUTED_KEYS.contains(&key.as_str()) || out.contains_key(key) {
                continue;
            }
            let value = if key == "semanticHitCount" {
                let sum = shards
                    .iter()
                    .filter_map(|s| s.body.get(key).and_then(Value::as_u64))
                    .fold(0u64, u64::saturating_add);
                Value::from(sum)
            } else {
                value.clone()
            };
            out.insert(key.clone(), value);
        }
    }
    out
}
