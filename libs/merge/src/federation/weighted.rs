//! Meilisearch's order between hits of different queries in a federated search.
//!
//! milli turns a hit's score details into "weighted score values": consecutive relevancy rules
//! are folded into one rank (`Rank::merge`, the same fold as the global score) and shown as its
//! local score times the query's weight; a sort rule gives its value, a geo sort its distance, a
//! vector rule its similarity times the weight. Two hits are compared value by value: scores
//! within `f64::EPSILON` are equal, sort values compare as milli's `compare_sort_values`; when the
//! two lists disagree on the kind of a value (a score against a sort value), the one with more
//! values left wins, then the larger weighted global score. Equal hits keep the lower query first.
//!
//! The details show ranks for `words`, `typo` and `exactness` but only the local score of
//! `proximity`, `attributeRank`, `wordPosition` (and the legacy `attribute`), whose max ranks
//! depend on the query and the settings. A group's fold needs the max rank of every rule but its
//! last, so when one of those rules is followed by another rule of its group (which happens only
//! when a sort or geo rule splits the relevancy rules, as with the default rules and a `sort`),
//! the max rank is estimated from the query's own hits: the least common multiple of the
//! denominators of the rule's local scores within a words bucket. A group that holds all of a
//! hit's relevancy rules needs no estimate: its fold is the hit's `_rankingScore`.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::compare::compare_sort_values;

/// Largest denominator tried when reading a local score as a fraction.
const MAX_DENOMINATOR: u64 = 1000;
/// Largest estimated max rank (the least common multiple stops growing there).
const MAX_ESTIMATE: u64 = 1_000_000;

/// One weighted score value, as milli's `WeightedScoreValue`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Weighted {
    Score(f64),
    Sort { asc: bool, value: Value },
    GeoSort { asc: bool, distance: Option<f64> },
    Vector(f64),
}

/// What a hit is compared on.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct HitScore {
    pub values: Vec<Weighted>,
    /// `_rankingScore * weight`.
    pub global: f64,
}

/// One entry of the details, before folding.
#[derive(Clone, Debug, PartialEq)]
enum Item {
    Rank {
        rank: u64,
        max: u64,
    },
    /// A relevancy rule known by its local score only.
    Local {
        name: String,
        score: f64,
    },
    Sort {
        asc: bool,
        value: Value,
    },
    GeoSort {
        asc: bool,
        distance: Option<f64>,
    },
    Vector(f64),
}

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

fn items(details: &Map<String, Value>) -> (Vec<Item>, Option<u64>) {
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
                    rank: (max + 1).saturating_sub(count),
                    max: max + 1,
                },
                _ => continue,
            },
            "exactness" => match d.get("matchType").and_then(Value::as_str) {
                Some("exactMatch") => Item::Rank { rank: 3, max: 3 },
                Some("matchesStart") => Item::Rank { rank: 2, max: 3 },
                // ExactAttribute 1/3 folded with ExactWords (m+1)/(max+1).
                Some("noExactMatch") => match (uint("matchingWords"), uint("maxMatchingWords")) {
                    (Some(m), Some(max)) => Item::Rank {
                        rank: m + 1,
                        max: 3 * (max + 1),
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
                Some(dir @ ("asc" | "desc")) if name.starts_with("_geoPoint(") => Item::GeoSort {
                    asc: dir == "asc",
                    distance: d.get("distance").and_then(Value::as_f64),
                },
                Some(dir @ ("asc" | "desc")) => Item::Sort {
                    asc: dir == "asc",
                    value: d.get("value").cloned().unwrap_or(Value::Null),
                },
                _ => match score {
                    Some(score) => Item::Local {
                        name: name.clone(),
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

/// The smallest denominator `q <= MAX_DENOMINATOR` with `score ≈ p / q`.
fn denominator(score: f64) -> Option<u64> {
    (1..=MAX_DENOMINATOR).find(|&q| {
        let scaled = score * q as f64;
        (scaled - scaled.round()).abs() < 1e-9
    })
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// Estimated max ranks of the rules known by their local score, for one query's hits:
/// `(rule, words bucket) -> max rank`.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct MaxRanks(BTreeMap<(String, Option<u64>), u64>);

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
            let entry = self.0.entry((name, bucket)).or_insert(1);
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
pub(crate) fn hit_score(
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

fn by_global(left: &HitScore, right: &HitScore) -> Ordering {
    left.global
        .partial_cmp(&right.global)
        .unwrap_or(Ordering::Equal)
}

/// `Greater` when `left` comes first.
pub(crate) fn compare(left: &HitScore, right: &HitScore) -> Ordering {
    use Weighted::*;
    let mut l = left.values.iter();
    let mut r = right.values.iter();
    loop {
        let (a, b) = match (l.next(), r.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(a), Some(b)) => (a, b),
        };
        match (a, b) {
            (Score(x) | Vector(x), Score(y) | Vector(y)) => {
                if (x - y).abs() <= f64::EPSILON {
                    continue;
                }
                return x.partial_cmp(y).unwrap_or(Ordering::Equal);
            }
            (Sort { asc: la, value: x }, Sort { asc: ra, value: y }) => {
                if la != ra {
                    return by_global(left, right);
                }
                match compare_sort_values(*la, x, y) {
                    Ordering::Equal => continue,
                    order => return order,
                }
            }
            (
                GeoSort {
                    asc: la,
                    distance: x,
                },
                GeoSort {
                    asc: ra,
                    distance: y,
                },
            ) => {
                if la != ra {
                    return by_global(left, right);
                }
                let order = match (x, y) {
                    (None, None) => Ordering::Equal,
                    (None, Some(_)) => Ordering::Less,
                    (Some(_), None) => Ordering::Greater,
                    (Some(x), Some(y)) if (x - y).abs() <= f64::EPSILON => Ordering::Equal,
                    // The nearer ranks first when ascending.
                    (Some(x), Some(y)) if *la => y.partial_cmp(x).unwrap_or(Ordering::Equal),
                    (Some(x), Some(y)) => x.partial_cmp(y).unwrap_or(Ordering::Equal),
                };
                match order {
                    Ordering::Equal => continue,
                    order => return order,
                }
            }
            // Values of different kinds: more groups left wins, then the global score.
            _ => {
                let (left_rest, right_rest) = (l.count(), r.count());
                return left_rest
                    .cmp(&right_rest)
                    .then_with(|| by_global(left, right));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn details(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn one_group_compares_on_the_weighted_global_score() {
        let d = details(json!({
            "words": {"order": 0, "matchingWords": 1, "maxMatchingWords": 1, "score": 1.0},
            "proximity": {"order": 1, "score": 0.5},
        }));
        let s = hit_score(Some(&d), 0.75, 2.0, &MaxRanks::default());
        assert_eq!(s.values, vec![Weighted::Score(1.5)]);
        assert_eq!(s.global, 1.5);
        let t = hit_score(Some(&d), 0.75, 1.0, &MaxRanks::default());
        assert_eq!(compare(&s, &t), Ordering::Greater);
        assert_eq!(compare(&t, &t.clone()), Ordering::Equal);
    }

    #[test]
    fn a_sort_splits_the_rules_into_groups_compared_in_turn() {
        let hit = |typos: u64, downloads: u64, exact: &str| {
            details(json!({
                "words": {"order": 0, "matchingWords": 1, "maxMatchingWords": 1, "score": 1.0},
                "typo": {"order": 1, "typoCount": typos, "maxTypoCount": 2, "score": 0.0},
                "downloads:desc": {"order": 2, "value": downloads},
                "exactness": {"order": 3, "matchType": exact, "score": 0.0},
            }))
        };
        let none = MaxRanks::default();
        let s = |d: &Map<String, Value>| hit_score(Some(d), 0.5, 1.0, &none);
        let a = s(&hit(0, 10, "noExactMatch"));
        assert_eq!(
            a.values,
            vec![
                Weighted::Score(1.0),
                Weighted::Sort {
                    asc: false,
                    value: json!(10)
                },
                Weighted::Score(1.0 / 3.0)
            ]
        );
        // Fewer typos wins before the sort; then the larger downloads; then exactness.
        assert_eq!(
            compare(&a, &s(&hit(1, 99, "exactMatch"))),
            Ordering::Greater
        );
        assert_eq!(compare(&a, &s(&hit(0, 11, "noExactMatch"))), Ordering::Less);
        assert_eq!(compare(&a, &s(&hit(0, 10, "exactMatch"))), Ordering::Less);
    }

    #[test]
    fn local_scores_inside_a_group_use_the_estimated_max_rank() {
        let hit = |prox: f64| {
            details(json!({
                "proximity": {"order": 0, "score": prox},
                "title:asc": {"order": 1, "value": "a"},
                "exactness": {"order": 2, "matchType": "matchesStart", "score": 0.0},
            }))
        };
        let mut ranks = MaxRanks::default();
        for p in [1.0, 6.0 / 7.0, 5.0 / 7.0] {
            ranks.observe(&hit(p));
        }
        assert_eq!(ranks.get("proximity", None), Some(7));
        // A group of one rule is its local score, whatever its max rank.
        let s = hit_score(Some(&hit(5.0 / 7.0)), 0.0, 1.0, &ranks);
        assert_eq!(s.values[0], Weighted::Score(5.0 / 7.0));
        let group = [
            Item::Local {
                name: "proximity".into(),
                score: 5.0 / 7.0,
            },
            Item::Rank { rank: 2, max: 3 },
        ];
        // ((5 - 1) * 3 + 2) / 21
        assert!((fold(&group, &ranks, None) - 14.0 / 21.0).abs() < 1e-12);
    }

    #[test]
    fn kinds_that_disagree_fall_back_on_groups_left_then_global() {
        let a = HitScore {
            values: vec![
                Weighted::Score(1.0),
                Weighted::Sort {
                    asc: true,
                    value: json!(1),
                },
                Weighted::Score(0.5),
            ],
            global: 0.5,
        };
        let b = HitScore {
            values: vec![Weighted::Score(1.0), Weighted::Score(0.9)],
            global: 0.9,
        };
        assert_eq!(compare(&a, &b), Ordering::Greater);
        let c = HitScore {
            values: vec![
                Weighted::Score(1.0),
                Weighted::Score(0.9),
                Weighted::Score(0.1),
            ],
            global: 0.1,
        };
        assert_eq!(
            compare(&a, &c),
            Ordering::Greater,
            "same count left: global"
        );
        assert_eq!(compare(&c, &a), Ordering::Less);
    }

    #[test]
    fn sort_values_follow_milli() {
        let v = |asc: bool, value: Value| HitScore {
            values: vec![Weighted::Sort { asc, value }],
            global: 0.0,
        };
        assert_eq!(
            compare(&v(true, json!(1)), &v(true, json!(2))),
            Ordering::Greater
        );
        assert_eq!(
            compare(&v(false, json!(1)), &v(false, json!(2))),
            Ordering::Less
        );
        assert_eq!(
            compare(&v(true, Value::Null), &v(true, json!(2))),
            Ordering::Less
        );
        assert_eq!(
            compare(&v(true, json!(9)), &v(true, json!("a"))),
            Ordering::Greater
        );
        let geo = |d: f64| HitScore {
            values: vec![Weighted::GeoSort {
                asc: true,
                distance: Some(d),
            }],
            global: 0.0,
        };
        assert_eq!(compare(&geo(1.0), &geo(2.0)), Ordering::Greater);
    }
}
