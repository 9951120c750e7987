//! `distinct`, `rankingScoreThreshold` and the hit counts that go with them.
//!
//! The hits themselves are exact: the ranked candidates, without those below the threshold,
//! keeping the best document of each distinct value. The counts follow Meilisearch: with
//! `page`/`hitsPerPage` they are exhaustive; with `offset`/`limit` Meilisearch only walks the
//! buckets it needs to fill the page, so `estimatedTotalHits` discounts only the documents it
//! saw fall below the threshold or lose to a distinct sibling on the way.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::fields::leaf_values;
use super::ranking::Scored;
use super::{DocId, Document};

/// The distinct keys of a document's value(s) for `field`.
fn distinct_keys(doc: &Document, field: &str) -> Vec<String> {
    leaf_values(doc, field)
        .into_iter()
        .filter_map(|v| match v {
            Value::Number(n) => n.as_f64().map(|f| format!("n{}", f.to_bits())),
            Value::String(s) => Some(format!("s{}", s.trim().to_lowercase())),
            Value::Bool(b) => Some(format!("s{b}")),
            _ => None,
        })
        .collect()
}

/// The ranked hits after threshold and distinct, and the number of hits to report.
pub struct Selection {
    pub hits: Vec<(DocId, Scored)>,
    pub total: usize,
}

pub struct Rules<'a> {
    pub threshold: Option<f64>,
    pub distinct: Option<&'a str>,
    /// Exhaustive counts (`page`/`hitsPerPage`).
    pub exhaustive: bool,
    pub offset: usize,
    pub limit: usize,
}

pub fn select(
    ranked: Vec<(DocId, Scored)>,
    rules: &Rules,
    docs: &std::collections::BTreeMap<DocId, Document>,
) -> Selection {
    let candidates = ranked.len();
    let keys: Option<Vec<Vec<String>>> = rules.distinct.map(|f| {
        ranked
            .iter()
            .map(|(id, _)| {
                docs.get(id)
                    .map(|d| distinct_keys(d, f))
                    .unwrap_or_default()
            })
            .collect()
    });
    let scores: Option<Vec<f64>> = rules
        .threshold
        .map(|_| ranked.iter().map(|(_, s)| s.global()).collect());
    let below = |i: usize| match (&scores, rules.threshold) {
        (Some(s), Some(t)) => s[i] < t,
        _ => false,
    };

    // Exact selection.
    let mut seen: HashSet<&str> = HashSet::new();
    let mut kept_idx = Vec::new();
    for i in 0..ranked.len() {
        if below(i) {
            continue;
        }
        if let Some(keys) = &keys {
            if keys[i].iter().any(|k| seen.contains(k.as_str())) {
                continue;
            }
            seen.extend(keys[i].iter().map(String::as_str));
        }
        kept_idx.push(i);
    }
    if rules.exhaustive {
        let total = kept_idx.len();
        let hits = take_indices(ranked, &kept_idx);
        return Selection { hits, total };
    }

    // Meilisearch's walk: buckets of equal details, until `limit` hits past `offset`.
    let mut removed: HashSet<usize> = HashSet::new();
    if rules.limit > 0 && (rules.threshold.is_some() || rules.distinct.is_some()) {
        let mut by_key: HashMap<&str, Vec<usize>> = HashMap::new();
        if let Some(keys) = &keys {
            for (i, ks) in keys.iter().enumerate() {
                for k in ks {
                    by_key.entry(k.as_str()).or_default().push(i);
                }
            }
        }
        let mut collected = 0usize;
        let mut position = 0usize;
        let mut start = 0;
        while start < ranked.len() && collected < rules.limit {
            let mut end = start + 1;
            while end < ranked.len()
                && ranked[end].1.cmp(&ranked[start].1) == std::cmp::Ordering::Equal
            {
                end += 1;
            }
            let bucket: Vec<usize> = (start..end).filter(|i| !removed.contains(i)).collect();
            start = end;
            if bucket.first().is_some_and(|&i| below(i)) {
                removed.extend(bucket);
                continue;
            }
            for i in bucket {
                if removed.contains(&i) {
                    continue;
                }
                if let Some(keys) = &keys {
                    for k in &keys[i] {
                        for &j in by_key.get(k.as_str()).map(Vec::as_slice).unwrap_or(&[]) {
                            if j != i {
                                removed.insert(j);
                            }
                        }
                    }
                }
                if position >= rules.offset && collected < rules.limit {
                    collected += 1;
                }
                position += 1;
            }
        }
    }
    let total = candidates - removed.len();
    let hits = take_indices(ranked, &kept_idx);
    Selection { hits, total }
}

fn take_indices(ranked: Vec<(DocId, Scored)>, idx: &[usize]) -> Vec<(DocId, Scored)> {
    if idx.len() == ranked.len() {
        return ranked;
    }
    let wanted: HashSet<usize> = idx.iter().copied().collect();
    ranked
        .into_iter()
        .enumerate()
        .filter(|(i, _)| wanted.contains(i))
        .map(|(_, h)| h)
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;
    use crate::engine::ranking::{Detail, Rank};

    fn scored(r: u32) -> Scored {
        Scored {
            details: vec![Detail::Proximity(Rank { rank: r, max: 10 })],
        }
    }

    #[test]
    fn exhaustive_and_walked_counts() {
        let docs: BTreeMap<DocId, Document> = (0..6u32)
            .map(|i| {
                (
                    i,
                    json!({"k": if i < 4 { "a" } else { "b" }})
                        .as_object()
                        .cloned()
                        .unwrap(),
                )
            })
            .collect();
        let ranked: Vec<(DocId, Scored)> = (0..6u32).map(|i| (i, scored(10 - i))).collect();
        let rules = Rules {
            threshold: None,
            distinct: Some("k"),
            exhaustive: true,
            offset: 0,
            limit: 1,
        };
        let s = select(ranked.clone(), &rules, &docs);
        assert_eq!(
            s.hits.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
            vec![0, 4]
        );
        assert_eq!(s.total, 2);
        // Filling one hit only excludes the siblings of document 0.
        let rules = Rules {
            exhaustive: false,
            ..rules
        };
        assert_eq!(select(ranked.clone(), &rules, &docs).total, 3);
        // Threshold: buckets below it are discounted only when walked.
        let rules = Rules {
            threshold: Some(0.75),
            distinct: None,
            exhaustive: false,
            offset: 0,
            limit: 5,
        };
        let s = select(ranked.clone(), &rules, &docs);
        assert_eq!(s.hits.len(), 3);
        assert_eq!(s.total, 3);
        let rules = Rules { limit: 2, ..rules };
        assert_eq!(select(ranked, &rules, &docs).total, 6);
    }
}
