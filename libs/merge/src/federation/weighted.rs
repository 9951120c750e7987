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
//!
//! A hit's details are read from their text ([`super::details`]) into [`Details`]: each rule
//! already turned into the one [`Item`] it counts as, no map built. A query's hits are scored by
//! a [`Scorer`], one hit at a time as the merge reaches it, into one reused [`Details`]; the
//! estimated max ranks are worked out (from all of the query's hits) only if a fold needs one.

use std::borrow::Cow;
use std::cmp::Ordering;

use serde_json::Value;

use super::details;
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

/// One rule of the details, as it counts in the weighted score.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Item<'a> {
    Rank {
        rank: u64,
        max: u64,
    },
    /// A relevancy rule known by its local score only.
    Local {
        name: Cow<'a, str>,
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

/// What a rule is, by its name in the details.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Kind {
    Words,
    Typo,
    Exactness,
    Skipped,
    Vector,
    GeoSort {
        asc: bool,
    },
    Sort {
        asc: bool,
    },
    /// Any other rule: a relevancy rule known by its `score`.
    Other,
}

impl Kind {
    pub fn of(name: &str) -> Kind {
        match name {
            "words" => Kind::Words,
            "typo" => Kind::Typo,
            "exactness" => Kind::Exactness,
            "skipped" => Kind::Skipped,
            "vectorSort" => Kind::Vector,
            _ => match name.rsplit_once(':').map(|(_, dir)| dir) {
                Some(dir @ ("asc" | "desc")) if name.starts_with("_geoPoint(") => {
                    Kind::GeoSort { asc: dir == "asc" }
                }
                Some(dir @ ("asc" | "desc")) => Kind::Sort { asc: dir == "asc" },
                _ => Kind::Other,
            },
        }
    }
}

/// An exactness rule's `matchType`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum MatchType {
    ExactMatch,
    MatchesStart,
    NoExactMatch,
    Other,
}

impl MatchType {
    pub fn of(text: &str) -> MatchType {
        match text {
            "exactMatch" => MatchType::ExactMatch,
            "matchesStart" => MatchType::MatchesStart,
            "noExactMatch" => MatchType::NoExactMatch,
            _ => MatchType::Other,
        }
    }
}

/// The fields of one rule's details that its [`Item`] is made of, each `None` when absent,
/// `null` or not of its type (as `Value::as_u64`, `as_f64` and `as_str` read them). A reader
/// may leave out the fields the rule's [`Kind`] does not read.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Fields {
    pub order: Option<u64>,
    pub matching_words: Option<u64>,
    pub max_matching_words: Option<u64>,
    pub typo_count: Option<u64>,
    pub max_typo_count: Option<u64>,
    pub match_type: Option<MatchType>,
    pub score: Option<f64>,
    pub similarity: Option<f64>,
    pub distance: Option<f64>,
    pub value: Option<Value>,
}

/// The item rule `name` counts as, `None` when it counts for nothing (a rank rule without its
/// counts, a rule without a score). Counts beyond reason wrap as they did in release builds
/// (they no longer panic in debug ones).
fn item<'a>(name: Cow<'a, str>, kind: Kind, f: Fields) -> Option<Item<'a>> {
    Some(match kind {
        Kind::Words => Item::Rank {
            rank: f.matching_words?,
            max: f.max_matching_words?,
        },
        Kind::Typo => {
            let (count, max) = (f.typo_count?, f.max_typo_count?);
            Item::Rank {
                rank: max.wrapping_add(1).saturating_sub(count),
                max: max.wrapping_add(1),
            }
        }
        Kind::Exactness => match f.match_type? {
            MatchType::ExactMatch => Item::Rank { rank: 3, max: 3 },
            MatchType::MatchesStart => Item::Rank { rank: 2, max: 3 },
            // ExactAttribute 1/3 folded with ExactWords (m+1)/(max+1).
            MatchType::NoExactMatch => match (f.matching_words, f.max_matching_words) {
                (Some(m), Some(max)) => Item::Rank {
                    rank: m.wrapping_add(1),
                    max: max.wrapping_add(1).wrapping_mul(3),
                },
                _ => Item::Rank { rank: 1, max: 3 },
            },
            MatchType::Other => return None,
        },
        Kind::Skipped => Item::Rank { rank: 0, max: 1 },
        Kind::Vector => Item::Vector(f.similarity.unwrap_or(0.0)),
        Kind::GeoSort { asc } => Item::GeoSort {
            asc,
            distance: f.distance,
        },
        Kind::Sort { asc } => Item::Sort {
            asc,
            value: f.value.unwrap_or(Value::Null),
        },
        Kind::Other => Item::Local {
            name,
            score: f.score?,
        },
    })
}

/// One rule's item and where it ranks among the hit's rules (its `order`, else its position).
#[derive(Clone, Debug, PartialEq)]
struct Entry<'a> {
    order: u64,
    /// Whether the rule is `words` (its rank is the words bucket).
    words: bool,
    item: Item<'a>,
}

/// A hit's `_rankingScoreDetails` as the weighted score reads them: its rules' items in their
/// order, and its words bucket (`matchingWords`). Filled by [`super::details::read`]; reused
/// from hit to hit (cleared, its buffers kept).
#[derive(Debug, Default)]
pub(crate) struct Details<'a> {
    entries: Vec<Entry<'a>>,
    bucket: Option<u64>,
    /// The rules' names, for a reader to tell a repeated one.
    pub(crate) names: Vec<&'a str>,
}

impl<'a> Details<'a> {
    pub fn clear(&mut self) {
        self.entries.clear();
        self.names.clear();
        self.bucket = None;
    }

    /// Add the rule `name` (at `position` among the details' rules) whose fields are `fields`.
    pub fn push(&mut self, position: u64, name: Cow<'a, str>, kind: Kind, fields: Fields) {
        let order = fields.order.unwrap_or(position);
        if let Some(item) = item(name, kind, fields) {
            self.entries.push(Entry {
                order,
                words: kind == Kind::Words,
                item,
            });
        }
    }

    /// Once every rule is in: the rules in their order (ties in the details' order), and the
    /// words bucket.
    pub fn finish(&mut self) {
        if !self.entries.is_sorted_by_key(|e| e.order) {
            self.entries.sort_by_key(|e| e.order);
        }
        self.bucket = self.entries.iter().find_map(|e| match e.item {
            Item::Rank { rank, .. } if e.words => Some(rank),
            _ => None,
        });
    }

    /// The items in order.
    #[cfg(test)]
    pub fn items(&self) -> impl Iterator<Item = &Item<'a>> {
        self.entries.iter().map(|e| &e.item)
    }

    #[cfg(test)]
    pub fn bucket(&self) -> Option<u64> {
        self.bucket
    }
}

/// The smallest denominator `q <= MAX_DENOMINATOR` with `score ≈ p / q`.
pub(super) fn denominator(score: f64) -> Option<u64> {
    (1..=MAX_DENOMINATOR).find(|&q| {
        let scaled = score * q as f64;
        (scaled - scaled.round()).abs() < 1e-9
    })
}

pub(super) fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// Estimated max ranks of the rules known by their local score, for one query's hits:
/// `(rule, words bucket) -> max rank`, in the order first seen (a handful of rules).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct MaxRanks<'a>(Vec<(Cow<'a, str>, Option<u64>, u64)>);

impl<'a> MaxRanks<'a> {
    /// Estimate from every hit's details (`None` for a hit without).
    pub fn of(details: &[Option<&'a str>]) -> MaxRanks<'a> {
        let mut ranks = MaxRanks::default();
        let mut read = Details::default();
        for text in details.iter().flatten() {
            if details::read(text, &mut read) {
                ranks.observe(&read);
            }
        }
        ranks
    }

    pub fn observe(&mut self, details: &Details<'a>) {
        let bucket = details.bucket;
        for entry in &details.entries {
            let Item::Local { name, score } = &entry.item else {
                continue;
            };
            let Some(q) = denominator(*score) else {
                continue;
            };
            let at = match self
                .0
                .iter()
                .position(|(n, b, _)| n == name && *b == bucket)
            {
                Some(at) => at,
                None => {
                    self.0.push((name.clone(), bucket, 1));
                    self.0.len() - 1
                }
            };
            if let Some((_, _, max)) = self.0.get_mut(at) {
                let lcm = (*max / gcd(*max, q)).saturating_mul(q);
                *max = lcm.min(MAX_ESTIMATE);
            }
        }
    }

    pub fn get(&self, name: &str, bucket: Option<u64>) -> Option<u64> {
        self.0
            .iter()
            .find(|(n, b, _)| n == name && *b == bucket)
            .map(|(_, _, max)| *max)
    }
}

/// Fold one group of relevancy rules into its score, last rule first. `max_rank` gives a local
/// rule's estimated max rank; it is asked only when the rules after it did not fold to 1 (the
/// max rank then changes nothing).
fn fold(
    group: &[Entry<'_>],
    bucket: Option<u64>,
    max_rank: &mut dyn FnMut(&str, Option<u64>) -> Option<u64>,
) -> f64 {
    let mut tail = 1.0;
    for entry in group.iter().rev() {
        tail = match &entry.item {
            Item::Rank { rank, max } if *max > 0 => (*rank as f64 - 1.0 + tail) / *max as f64,
            Item::Rank { .. } => 0.0,
            // `score - 0.0 / max` is `score`.
            Item::Local { score, .. } if tail == 1.0 => *score,
            Item::Local { name, score } => match max_rank(name, bucket) {
                Some(max) if max > 0 => score - (1.0 - tail) / max as f64,
                _ => *score,
            },
            _ => tail,
        };
    }
    tail.clamp(0.0, 1.0)
}

/// A hit's weighted score values. `global_score` is its (whole index) `_rankingScore`;
/// `details` its details, `None` when it has none (or they are not a JSON object).
pub(crate) fn hit_score(
    details: Option<&Details<'_>>,
    global_score: f64,
    weight: f64,
    max_rank: &mut dyn FnMut(&str, Option<u64>) -> Option<u64>,
) -> HitScore {
    let global = global_score * weight;
    let Some(details) = details else {
        return HitScore {
            values: vec![Weighted::Score(global)],
            global,
        };
    };
    let entries = details.entries.as_slice();
    let is_relevancy = |e: &Entry<'_>| matches!(e.item, Item::Rank { .. } | Item::Local { .. });
    let only_one_group = {
        let first = entries.iter().position(is_relevancy);
        let last = entries.iter().rposition(is_relevancy);
        match (first, last) {
            (Some(f), Some(l)) => entries.iter().take(l + 1).skip(f).all(is_relevancy),
            _ => true,
        }
    };
    // The fold of one group of all the relevancy rules is the global score.
    let whole = only_one_group && !entries.iter().any(|e| matches!(e.item, Item::Vector(_)));
    let mut group_score = |group: &[Entry<'_>]| {
        let score = if whole {
            global_score
        } else {
            fold(group, details.bucket, max_rank)
        };
        Weighted::Score(score * weight)
    };
    let mut values = Vec::with_capacity(if whole { 1 } else { entries.len() });
    let mut group_start = None;
    for (i, entry) in entries.iter().enumerate() {
        let value = match &entry.item {
            Item::Rank { .. } | Item::Local { .. } => {
                group_start.get_or_insert(i);
                continue;
            }
            Item::Sort { asc, value } => Weighted::Sort {
                asc: *asc,
                value: value.clone(),
            },
            Item::GeoSort { asc, distance } => Weighted::GeoSort {
                asc: *asc,
                distance: *distance,
            },
            Item::Vector(similarity) => Weighted::Vector(similarity * weight),
        };
        if let Some(start) = group_start.take() {
            values.push(group_score(entries.get(start..i).unwrap_or_default()));
        }
        values.push(value);
    }
    if let Some(start) = group_start {
        values.push(group_score(entries.get(start..).unwrap_or_default()));
    }
    HitScore { values, global }
}

/// Scores one query's hits: each from its details' text, read when asked for (the merge asks
/// only for the hits it compares); the max ranks estimated from all of them when first needed.
pub(crate) struct Scorer<'a> {
    weight: f64,
    /// Each hit's `_rankingScoreDetails` text.
    details: Vec<Option<&'a str>>,
    read: Details<'a>,
    max_ranks: Option<MaxRanks<'a>>,
}

impl<'a> Scorer<'a> {
    pub fn new(weight: f64, details: Vec<Option<&'a str>>) -> Scorer<'a> {
        Scorer {
            weight,
            details,
            read: Details::default(),
            max_ranks: None,
        }
    }

    /// The score of hit number `hit`, whose `_rankingScore` is `global_score`.
    pub fn score(&mut self, hit: usize, global_score: f64) -> HitScore {
        let Scorer {
            weight,
            details,
            read,
            max_ranks,
        } = self;
        let text = details.get(hit).copied().flatten();
        let found = text.is_some_and(|text| details::read(text, read));
        let mut max_rank = |name: &str, bucket: Option<u64>| {
            max_ranks
                .get_or_insert_with(|| MaxRanks::of(details))
                .get(name, bucket)
        };
        hit_score(
            found.then_some(&*read),
            global_score,
            *weight,
            &mut max_rank,
        )
    }
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

    /// The scores of one query's hits, from their details.
    fn scores(weight: f64, hits: &[(Value, f64)]) -> Vec<HitScore> {
        let texts: Vec<String> = hits.iter().map(|(d, _)| d.to_string()).collect();
        let mut scorer = Scorer::new(weight, texts.iter().map(|t| Some(t.as_str())).collect());
        hits.iter()
            .enumerate()
            .map(|(i, (_, global))| scorer.score(i, *global))
            .collect()
    }

    fn score(details: Value, global: f64, weight: f64) -> HitScore {
        scores(weight, &[(details, global)]).remove(0)
    }

    #[test]
    fn one_group_compares_on_the_weighted_global_score() {
        let d = json!({
            "words": {"order": 0, "matchingWords": 1, "maxMatchingWords": 1, "score": 1.0},
            "proximity": {"order": 1, "score": 0.5},
        });
        let s = score(d.clone(), 0.75, 2.0);
        assert_eq!(s.values, vec![Weighted::Score(1.5)]);
        assert_eq!(s.global, 1.5);
        let t = score(d, 0.75, 1.0);
        assert_eq!(compare(&s, &t), Ordering::Greater);
        assert_eq!(compare(&t, &t.clone()), Ordering::Equal);
    }

    #[test]
    fn a_sort_splits_the_rules_into_groups_compared_in_turn() {
        let hit = |typos: u64, downloads: u64, exact: &str| {
            json!({
                "words": {"order": 0, "matchingWords": 1, "maxMatchingWords": 1, "score": 1.0},
                "typo": {"order": 1, "typoCount": typos, "maxTypoCount": 2, "score": 0.0},
                "downloads:desc": {"order": 2, "value": downloads},
                "exactness": {"order": 3, "matchType": exact, "score": 0.0},
            })
        };
        let s = |d: Value| score(d, 0.5, 1.0);
        let a = s(hit(0, 10, "noExactMatch"));
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
        assert_eq!(compare(&a, &s(hit(1, 99, "exactMatch"))), Ordering::Greater);
        assert_eq!(compare(&a, &s(hit(0, 11, "noExactMatch"))), Ordering::Less);
        assert_eq!(compare(&a, &s(hit(0, 10, "exactMatch"))), Ordering::Less);
    }

    #[test]
    fn rules_are_read_in_their_order_and_without_one_in_their_position() {
        let text = r#"{"exactness": {"order": 2, "matchType": "exactMatch"}, "title:asc": {"value": "a"}, "words": {"order": 0, "matchingWords": 2, "maxMatchingWords": 3}, "custom": {"order": 1}}"#;
        let mut d = Details::default();
        assert!(details::read(text, &mut d));
        let items: Vec<&Item<'_>> = d.items().collect();
        assert_eq!(
            items,
            [
                &Item::Rank { rank: 2, max: 3 },
                &Item::Sort {
                    asc: true,
                    value: json!("a")
                },
                &Item::Rank { rank: 3, max: 3 },
            ]
        );
        assert_eq!(d.bucket, Some(2));
    }

    #[test]
    fn local_scores_inside_a_group_use_the_estimated_max_rank() {
        let hit = |prox: f64| {
            json!({
                "proximity": {"order": 0, "score": prox},
                "title:asc": {"order": 1, "value": "a"},
                "exactness": {"order": 2, "matchType": "matchesStart", "score": 0.0},
            })
        };
        let texts: Vec<String> = [1.0, 6.0 / 7.0, 5.0 / 7.0]
            .iter()
            .map(|p| hit(*p).to_string())
            .collect();
        let ranks = MaxRanks::of(&texts.iter().map(|t| Some(t.as_str())).collect::<Vec<_>>());
        assert_eq!(ranks.get("proximity", None), Some(7));
        // A group of one rule is its local score, whatever its max rank.
        let s = score(hit(5.0 / 7.0), 0.0, 1.0);
        assert_eq!(s.values[0], Weighted::Score(5.0 / 7.0));
        let group = [
            Entry {
                order: 0,
                words: false,
                item: Item::Local {
                    name: "proximity".into(),
                    score: 5.0 / 7.0,
                },
            },
            Entry {
                order: 1,
                words: false,
                item: Item::Rank { rank: 2, max: 3 },
            },
        ];
        // ((5 - 1) * 3 + 2) / 21
        let mut max_rank = |name: &str, bucket| ranks.get(name, bucket);
        assert!((fold(&group, None, &mut max_rank) - 14.0 / 21.0).abs() < 1e-12);
        // The same through a query's scorer, whose hits give the estimate.
        let split = |prox: f64| {
            json!({
                "words": {"order": 0, "matchingWords": 1, "maxMatchingWords": 1},
                "title:asc": {"order": 1, "value": "a"},
                "proximity": {"order": 2, "score": prox},
                "exactness": {"order": 3, "matchType": "matchesStart"},
            })
        };
        let hits: Vec<(Value, f64)> = [1.0, 6.0 / 7.0, 5.0 / 7.0]
            .iter()
            .map(|p| (split(*p), 0.5))
            .collect();
        let got = scores(1.0, &hits);
        assert!(matches!(got[2].values[2], Weighted::Score(s) if (s - 14.0 / 21.0).abs() < 1e-12));
    }

    #[test]
    fn details_that_are_not_an_object_score_as_none_and_an_empty_object_as_no_rule() {
        for text in ["[1]", "\"x\"", "null", r#"{"words": 1e999}"#] {
            let mut scorer = Scorer::new(2.0, vec![Some(text)]);
            assert_eq!(
                scorer.score(0, 0.25),
                HitScore {
                    values: vec![Weighted::Score(0.5)],
                    global: 0.5
                },
                "{text}"
            );
        }
        let mut scorer = Scorer::new(2.0, vec![Some("{}"), None]);
        assert_eq!(scorer.score(0, 0.25).values, []);
        assert_eq!(scorer.score(1, 0.25).values, [Weighted::Score(0.5)]);
        // Out of range: no hit.
        assert_eq!(scorer.score(2, 0.25).values, [Weighted::Score(0.5)]);
    }

    #[test]
    fn counts_beyond_reason_wrap_instead_of_panicking() {
        let d = json!({
            "typo": {"order": 0, "typoCount": 1, "maxTypoCount": u64::MAX},
            "x:asc": {"order": 1, "value": 1},
            "exactness": {"order": 2, "matchType": "noExactMatch", "matchingWords": u64::MAX, "maxMatchingWords": u64::MAX},
        });
        let s = score(d, 0.5, 1.0);
        assert_eq!(s.values[0], Weighted::Score(0.0));
        assert_eq!(s.values[2], Weighted::Score(0.0));
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
