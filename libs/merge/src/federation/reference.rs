//! The federated merge as it was written before it kept hits as text: every answer decoded into
//! `serde_json::Value` and the answer built as one, each hit's details read from a map
//! ([`weighted`]). The byte merge ([`super::merge`]) is tested against it (`tests.rs`), on
//! answers the tests decode exactly (see `tests::exact`).
#![allow(clippy::unwrap_used)]

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashSet};

use miroir_proto::error::MeiliError;
use miroir_proto::rpc_search::Federation;
use serde_json::{Map, Value};

use super::weighted::{HitScore, compare};
use super::{AFTER_FEDERATION, DEFAULT_HITS_PER_PAGE, QueryAnswer, facets, required_hits, window};
use crate::IndexMergeContext;
use crate::hits::document_id;
use weighted::{MaxRanks, hit_score};

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
    let by_index = super::facets_by_index(federation, answers, &bodies, contexts);
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
        let cap = super::index_cap(contexts, uid, required);
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

/// The weighted score as it was computed before the details were read from their text: from
/// the details decoded into a map (arithmetic on counts beyond reason wrapping, as release builds
/// did). Tested against the text reading (`tests.rs`).
pub(super) mod weighted {
    use std::borrow::Cow;
    use std::collections::BTreeMap;

    use serde_json::{Map, Value};

    use super::super::weighted::{HitScore, Item, Weighted, denominator, gcd};

    /// Largest estimated max rank (the least common multiple stops growing there).
    const MAX_ESTIMATE: u64 = 1_000_000;

    fn rules_in_order(details: &Map<String, Value>) -> Vec<(&String, &Value)> {
        let mut rules: Vec<(u64, &String, &Value)> = details
            .iter()
            .enumerate()
            .map(|(i, (name, d))| {
                let order = d.get("order").and_then(Value::as_u64).unwrap_or(i as u64);
                (order, name, d)
            })
            .collect();
        rules.sort_by_key(|(order, _, _)| *order);
        rules.into_iter().map(|(_, n, d)| (n, d)).collect()
    }

    fn items(details: &Map<String, Value>) -> (Vec<Item<'_>>, Option<u64>) {
        let mut out = Vec::new();
        let mut words_bucket = None;
        for (name, d) in rules_in_order(details) {
            let uint = |k: &str| d.get(k).and_then(Value::as_u64);
            let score = d.get("score").and_then(Value::as_f64);
            let item = match name.as_str() {
                "words" => match (uint("matchingWords"), uint("maxMatchingWords")) {
                    (Some(rank), Some(max)) => {
                        words_bucket.get_or_insert(rank);
                        Item::Rank { rank, max }
                    }
                    _ => continue,
                },
                "typo" => match (uint("typoCount"), uint("maxTypoCount")) {
                    (Some(count), Some(max)) => Item::Rank {
                        rank: max.wrapping_add(1).saturating_sub(count),
                        max: max.wrapping_add(1),
                    },
                    _ => continue,
                },
                "exactness" => match d.get("matchType").and_then(Value::as_str) {
                    Some("exactMatch") => Item::Rank { rank: 3, max: 3 },
                    Some("matchesStart") => Item::Rank { rank: 2, max: 3 },
                    // ExactAttribute 1/3 folded with ExactWords (m+1)/(max+1).
                    Some("noExactMatch") => match (uint("matchingWords"), uint("maxMatchingWords"))
                    {
                        (Some(m), Some(max)) => Item::Rank {
                            rank: m.wrapping_add(1),
                            max: max.wrapping_add(1).wrapping_mul(3),
                        },
                        _ => Item::Rank { rank: 1, max: 3 },
                    },
                    _ => continue,
                },
                "skipped" => Item::Rank { rank: 0, max: 1 },
                "vectorSort" => {
                    Item::Vector(d.get("similarity").and_then(Value::as_f64).unwrap_or(0.0))
                }
                _ => match name.rsplit_once(':').map(|(_, dir)| dir) {
                    Some(dir @ ("asc" | "desc")) if name.starts_with("_geoPoint(") => {
                        Item::GeoSort {
                            asc: dir == "asc",
                            distance: d.get("distance").and_then(Value::as_f64),
                        }
                    }
                    Some(dir @ ("asc" | "desc")) => Item::Sort {
                        asc: dir == "asc",
                        value: d.get("value").cloned().unwrap_or(Value::Null),
                    },
                    _ => match score {
                        Some(score) => Item::Local {
                            name: Cow::Owned(name.clone()),
                            score,
                        },
                        None => continue,
                    },
                },
            };
            out.push(item);
        }
        (out, words_bucket)
    }

    /// Estimated max ranks of the rules known by their local score, for one query's hits:
    /// `(rule, words bucket) -> max rank`.
    #[derive(Clone, Debug, Default, PartialEq)]
    pub(in crate::federation) struct MaxRanks(BTreeMap<(String, Option<u64>), u64>);

    impl MaxRanks {
        pub fn observe(&mut self, details: &Map<String, Value>) {
            let (items, bucket) = items(details);
            for item in items {
                let Item::Local { name, score } = item else {
                    continue;
                };
                let Some(q) = denominator(score) else {
                    continue;
                };
                let entry = self.0.entry((name.into_owned(), bucket)).or_insert(1);
                let lcm = (*entry / gcd(*entry, q)).saturating_mul(q);
                *entry = lcm.min(MAX_ESTIMATE);
            }
        }

        fn get(&self, name: &str, bucket: Option<u64>) -> Option<u64> {
            self.0.get(&(name.to_owned(), bucket)).copied()
        }
    }

    /// Fold one group of relevancy rules into its score, last rule first.
    fn fold(group: &[Item], max_ranks: &MaxRanks, bucket: Option<u64>) -> f64 {
        let mut tail = 1.0;
        for item in group.iter().rev() {
            tail = match item {
                Item::Rank { rank, max } if *max > 0 => (*rank as f64 - 1.0 + tail) / *max as f64,
                Item::Rank { .. } => 0.0,
                Item::Local { name, score } => match max_ranks.get(name, bucket) {
                    Some(max) if max > 0 => score - (1.0 - tail) / max as f64,
                    _ => *score,
                },
                _ => tail,
            };
        }
        tail.clamp(0.0, 1.0)
    }

    /// A hit's weighted score values. `global_score` is its (whole index) `_rankingScore`.
    pub(in crate::federation) fn hit_score(
        details: Option<&Map<String, Value>>,
        global_score: f64,
        weight: f64,
        max_ranks: &MaxRanks,
    ) -> HitScore {
        let global = global_score * weight;
        let Some(details) = details else {
            return HitScore {
                values: vec![Weighted::Score(global)],
                global,
            };
        };
        let (items, bucket) = items(details);
        let is_relevancy = |i: &Item| matches!(i, Item::Rank { .. } | Item::Local { .. });
        let only_one_group = {
            let first = items.iter().position(is_relevancy);
            let last = items.iter().rposition(is_relevancy);
            match (first, last) {
                (Some(f), Some(l)) => items.iter().take(l + 1).skip(f).all(is_relevancy),
                _ => true,
            }
        };
        let mut values = Vec::new();
        let mut group: Vec<Item> = Vec::new();
        let flush = |group: &mut Vec<Item>, values: &mut Vec<Weighted>| {
            if group.is_empty() {
                return;
            }
            let score = if only_one_group && !items.iter().any(|i| matches!(i, Item::Vector(_))) {
                global_score
            } else {
                fold(group, max_ranks, bucket)
            };
            values.push(Weighted::Score(score * weight));
            group.clear();
        };
        for item in &items {
            match item {
                Item::Rank { .. } | Item::Local { .. } => group.push(item.clone()),
                Item::Sort { asc, value } => {
                    flush(&mut group, &mut values);
                    values.push(Weighted::Sort {
                        asc: *asc,
                        value: value.clone(),
                    });
                }
                Item::GeoSort { asc, distance } => {
                    flush(&mut group, &mut values);
                    values.push(Weighted::GeoSort {
                        asc: *asc,
                        distance: *distance,
                    });
                }
                Item::Vector(similarity) => {
                    flush(&mut group, &mut values);
                    values.push(Weighted::Vector(similarity * weight));
                }
            }
        }
        flush(&mut group, &mut values);
        HitScore { values, global }
    }
}
