//! Ranking rules and their per-document details, in Meilisearch 1.50's shape.
//!
//! Every rank here depends only on the document, the query and the settings (never on other
//! documents), so that the details of hits coming from different shards compare exactly. The
//! order of hits is the lexicographic order of these details, rule by rule, as a merger sees
//! them (`words`: more matching words first; `typo`: fewer typos first; sort rules: by value;
//! every other rule: higher score first), ties broken by internal document id.

use std::cmp::Ordering;
use std::sync::Arc;

use serde_json::{Map, Value, json};

/// A rank out of a maximum: `rank / max` is the rule's local score.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rank {
    pub rank: u32,
    pub max: u32,
}

impl Rank {
    pub fn score(self) -> f64 {
        if self.max == 0 {
            0.0
        } else {
            f64::from(self.rank) / f64::from(self.max)
        }
    }

    /// Compare local scores exactly (no float rounding).
    fn cmp_score(self, other: Rank) -> Ordering {
        (u64::from(self.rank) * u64::from(other.max))
            .cmp(&(u64::from(other.rank) * u64::from(self.max)))
    }
}

/// Meilisearch's global score: ranks merged as mixed-radix digits, outermost rule first.
pub fn global_score(ranks: impl IntoIterator<Item = Rank>) -> f64 {
    let (mut rank, mut max) = (1u128, 1u128);
    for r in ranks {
        rank = rank.saturating_sub(1) * u128::from(r.max) + u128::from(r.rank);
        max *= u128::from(r.max);
    }
    if max == 0 {
        0.0
    } else {
        rank as f64 / max as f64
    }
}

/// A ranking rule, as applied to a query.
#[derive(Clone, Debug, PartialEq)]
pub enum Rule {
    Words,
    Typo,
    Proximity,
    /// `attributeRank`
    Fid,
    /// `wordPosition`
    Position,
    /// Legacy `attribute`: attribute rank then word position, shown as one entry.
    Attribute,
    Exactness,
    Sort {
        field: Arc<str>,
        asc: bool,
    },
}

/// The `matchingStrategy` of a search.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MatchingStrategy {
    #[default]
    Last,
    All,
    Frequency,
}

/// A `field:asc|desc` criterion from the `sort` parameter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SortSpec {
    pub field: String,
    pub asc: bool,
}

/// The rules a search applies, in order: the index's ranking rules, with `words` added before
/// the first rule that needs it (unless the strategy is `all`), `sort` replaced by the search's
/// sort criteria, duplicates dropped; a placeholder search keeps only the sort rules.
pub fn effective_rules(
    ranking_rules: &[String],
    sort: &[SortSpec],
    strategy: MatchingStrategy,
    placeholder: bool,
) -> Vec<Rule> {
    let mut out = Vec::new();
    let mut words = strategy == MatchingStrategy::All;
    let (
        mut typo,
        mut proximity,
        mut attribute,
        mut attr_rank,
        mut attr_pos,
        mut exactness,
        mut sort_done,
    ) = (false, false, false, false, false, false, false);
    let mut sorted: Vec<String> = Vec::new();
    let push_sort = |out: &mut Vec<Rule>, sorted: &mut Vec<String>, field: &str, asc: bool| {
        if !sorted.iter().any(|f| f == field) {
            sorted.push(field.to_string());
            out.push(Rule::Sort {
                field: field.into(),
                asc,
            });
        }
    };
    for rr in ranking_rules {
        let rr = rr.as_str();
        if placeholder {
            match rr {
                "sort" if !sort_done => {
                    sort_done = true;
                    for s in sort {
                        push_sort(&mut out, &mut sorted, &s.field, s.asc);
                    }
                }
                other => {
                    if let Some((field, asc)) = custom_sort_rule(other) {
                        push_sort(&mut out, &mut sorted, field, asc);
                    }
                }
            }
            continue;
        }
        if matches!(rr, "typo" | "attribute" | "proximity" | "exactness") && !words {
            out.push(Rule::Words);
            words = true;
        }
        match rr {
            "words" => {
                if !words {
                    out.push(Rule::Words);
                    words = true;
                }
            }
            "typo" if !typo => {
                typo = true;
                out.push(Rule::Typo);
            }
            "proximity" if !proximity => {
                proximity = true;
                out.push(Rule::Proximity);
            }
            "attribute" if !(attribute || attr_rank || attr_pos) => {
                attribute = true;
                out.push(Rule::Attribute);
            }
            "attributeRank" if !(attribute || attr_rank) => {
                attr_rank = true;
                out.push(Rule::Fid);
            }
            "wordPosition" | "attributePosition" if !(attribute || attr_pos) => {
                attr_pos = true;
                out.push(Rule::Position);
            }
            "sort" if !sort_done => {
                sort_done = true;
                for s in sort {
                    push_sort(&mut out, &mut sorted, &s.field, s.asc);
                }
            }
            "exactness" if !exactness => {
                exactness = true;
                out.push(Rule::Exactness);
            }
            other => {
                if let Some((field, asc)) = custom_sort_rule(other) {
                    push_sort(&mut out, &mut sorted, field, asc);
                }
            }
        }
    }
    out
}

/// `year:desc` as a ranking rule.
pub fn custom_sort_rule(rule: &str) -> Option<(&str, bool)> {
    if let Some(f) = rule.strip_suffix(":asc") {
        return Some((f, true));
    }
    rule.strip_suffix(":desc").map(|f| (f, false))
}

/// The exactness rule's first stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExactKind {
    ExactMatch,
    MatchesStart,
    NoExactMatch,
}

impl ExactKind {
    pub fn rank(self) -> Rank {
        let rank = match self {
            ExactKind::ExactMatch => 3,
            ExactKind::MatchesStart => 2,
            ExactKind::NoExactMatch => 1,
        };
        Rank { rank, max: 3 }
    }

    fn name(self) -> &'static str {
        match self {
            ExactKind::ExactMatch => "exactMatch",
            ExactKind::MatchesStart => "matchesStart",
            ExactKind::NoExactMatch => "noExactMatch",
        }
    }
}

/// One rule's outcome for one document.
#[derive(Clone, Debug, PartialEq)]
pub enum Detail {
    Words {
        matching: u32,
        max: u32,
    },
    Typo {
        count: u32,
        max: u32,
    },
    Proximity(Rank),
    Fid(Rank),
    Position(Rank),
    Attribute {
        fid: Rank,
        pos: Rank,
    },
    /// `words` is the exact-words stage: rank = exact words + 1 of kept terms + 1.
    Exactness {
        kind: ExactKind,
        words: Rank,
    },
    Sort {
        field: Arc<str>,
        asc: bool,
        value: Value,
        /// The value's position in the rule's order, when known from the facet index (the
        /// value itself is then only filled in for the hits shown).
        rank: Option<u32>,
    },
}

impl Detail {
    fn ranks(&self, out: &mut Vec<Rank>) {
        match self {
            Detail::Words { matching, max } => out.push(Rank {
                rank: *matching,
                max: *max,
            }),
            Detail::Typo { count, max } => out.push(Rank {
                rank: (max + 1).saturating_sub(*count),
                max: max + 1,
            }),
            Detail::Proximity(r) | Detail::Fid(r) | Detail::Position(r) => out.push(*r),
            Detail::Attribute { fid, pos } => {
                out.push(*fid);
                out.push(*pos);
            }
            Detail::Exactness { kind, words } => {
                out.push(kind.rank());
                out.push(*words);
            }
            Detail::Sort { .. } => {}
        }
    }

    /// The score shown for the exactness entry (the exact-words stage only shows, and so
    /// only counts for ordering, when nothing matched exactly).
    fn exactness_visible(kind: ExactKind, words: Rank) -> (u64, u64) {
        match kind {
            ExactKind::NoExactMatch => {
                // merge(1/3, words) = words.rank / (3 * words.max)
                (u64::from(words.rank), 3 * u64::from(words.max))
            }
            k => (u64::from(k.rank().rank), 3),
        }
    }

    /// Better first: `Less` when `self` ranks before `other`.
    fn cmp(&self, other: &Detail) -> Ordering {
        match (self, other) {
            (Detail::Words { matching: a, .. }, Detail::Words { matching: b, .. }) => b.cmp(a),
            (Detail::Typo { count: a, .. }, Detail::Typo { count: b, .. }) => a.cmp(b),
            (Detail::Proximity(a), Detail::Proximity(b))
            | (Detail::Fid(a), Detail::Fid(b))
            | (Detail::Position(a), Detail::Position(b)) => b.cmp_score(*a),
            (Detail::Attribute { fid: fa, pos: pa }, Detail::Attribute { fid: fb, pos: pb }) => {
                let a = global_score([*fa, *pa]);
                let b = global_score([*fb, *pb]);
                b.partial_cmp(&a).unwrap_or(Ordering::Equal)
            }
            (
                Detail::Exactness {
                    kind: ka,
                    words: wa,
                },
                Detail::Exactness {
                    kind: kb,
                    words: wb,
                },
            ) => {
                let (an, ad) = Self::exactness_visible(*ka, *wa);
                let (bn, bd) = Self::exactness_visible(*kb, *wb);
                (bn * ad).cmp(&(an * bd))
            }
            (Detail::Sort { rank: Some(a), .. }, Detail::Sort { rank: Some(b), .. }) => a.cmp(b),
            (Detail::Sort { asc, value: a, .. }, Detail::Sort { value: b, .. }) => {
                compare_sort_values(*asc, a, b).reverse()
            }
            _ => Ordering::Equal,
        }
    }

    fn to_json(&self, order: usize, out: &mut Map<String, Value>) {
        match self {
            Detail::Words { matching, max } => {
                let score = Rank {
                    rank: *matching,
                    max: *max,
                }
                .score();
                out.insert("words".into(), json!({"order": order, "matchingWords": matching, "maxMatchingWords": max, "score": score}));
            }
            Detail::Typo { count, max } => {
                let score = Rank {
                    rank: (max + 1).saturating_sub(*count),
                    max: max + 1,
                }
                .score();
                out.insert("typo".into(), json!({"order": order, "typoCount": count, "maxTypoCount": max, "score": score}));
            }
            Detail::Proximity(r) => {
                out.insert(
                    "proximity".into(),
                    json!({"order": order, "score": r.score()}),
                );
            }
            Detail::Fid(r) => {
                out.insert(
                    "attributeRank".into(),
                    json!({"order": order, "score": r.score()}),
                );
            }
            Detail::Position(r) => {
                out.insert(
                    "wordPosition".into(),
                    json!({"order": order, "score": r.score()}),
                );
            }
            Detail::Attribute { fid, pos } => {
                out.insert(
                    "attribute".into(),
                    json!({
                        "order": order,
                        "attributeRankingOrderScore": fid.score(),
                        "queryWordDistanceScore": pos.score(),
                        "score": global_score([*fid, *pos]),
                    }),
                );
            }
            Detail::Exactness { kind, words } => {
                let v = if *kind == ExactKind::NoExactMatch {
                    json!({
                        "order": order,
                        "matchType": kind.name(),
                        "matchingWords": words.rank.saturating_sub(1),
                        "maxMatchingWords": words.max.saturating_sub(1),
                        "score": global_score([kind.rank(), *words]),
                    })
                } else {
                    json!({"order": order, "matchType": kind.name(), "score": kind.rank().score()})
                };
                out.insert("exactness".into(), v);
            }
            Detail::Sort {
                field, asc, value, ..
            } => {
                let name = format!("{field}:{}", if *asc { "asc" } else { "desc" });
                out.insert(name, json!({"order": order, "value": value}));
            }
        }
    }
}

/// Meilisearch's order of sort values: `Greater` means `left` is better. Missing values come
/// last, numbers before strings, ascending puts smaller first.
pub fn compare_sort_values(asc: bool, left: &Value, right: &Value) -> Ordering {
    let order = match (left, right) {
        (Value::Null, Value::Null) => return Ordering::Equal,
        (Value::Null, _) => return Ordering::Less,
        (_, Value::Null) => return Ordering::Greater,
        (Value::Number(_), Value::String(_)) => return Ordering::Greater,
        (Value::String(_), Value::Number(_)) => return Ordering::Less,
        (Value::Number(a), Value::Number(b)) => {
            let (a, b) = (a.as_f64().unwrap_or(0.0), b.as_f64().unwrap_or(0.0));
            a.partial_cmp(&b).unwrap_or(Ordering::Equal)
        }
        (Value::String(a), Value::String(b)) => a.cmp(b),
        _ => return Ordering::Equal,
    };
    if asc { order.reverse() } else { order }
}

/// A document's details for every applied rule.
#[derive(Clone, Debug, PartialEq)]
pub struct Scored {
    pub details: Vec<Detail>,
}

impl Scored {
    pub fn global(&self) -> f64 {
        let mut ranks = Vec::with_capacity(self.details.len() + 2);
        for d in &self.details {
            d.ranks(&mut ranks);
        }
        global_score(ranks)
    }

    /// Rule-by-rule order, better first.
    pub fn cmp(&self, other: &Scored) -> Ordering {
        for (a, b) in self.details.iter().zip(other.details.iter()) {
            let o = a.cmp(b);
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    }

    /// Put the actual sort values in place of positions (before showing the details).
    pub fn fill_sort_values(&mut self, doc: &super::Document) {
        for d in &mut self.details {
            if let Detail::Sort {
                field,
                asc,
                value,
                rank: Some(_),
            } = d
            {
                *value = super::matching::sort_value(doc, field, *asc);
            }
        }
    }

    pub fn to_json(&self) -> Value {
        let mut map = Map::new();
        for (order, d) in self.details.iter().enumerate() {
            d.to_json(order, &mut map);
        }
        Value::Object(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_score_of_the_react_router_top_hit() {
        // words 2/2, typo 0 of 2, proximity 1, attributeRank 1, wordPosition 1, matchesStart.
        let s = Scored {
            details: vec![
                Detail::Words {
                    matching: 2,
                    max: 2,
                },
                Detail::Typo { count: 0, max: 2 },
                Detail::Proximity(Rank { rank: 4, max: 4 }),
                Detail::Fid(Rank { rank: 5, max: 5 }),
                Detail::Position(Rank { rank: 21, max: 21 }),
                Detail::Exactness {
                    kind: ExactKind::MatchesStart,
                    words: Rank { rank: 3, max: 3 },
                },
            ],
        };
        assert_eq!(s.global(), 0.9998677248677249);
        let j = s.to_json();
        assert_eq!(
            j,
            json!({"words": {"order": 0, "matchingWords": 2, "maxMatchingWords": 2, "score": 1.0},
                   "typo": {"order": 1, "typoCount": 0, "maxTypoCount": 2, "score": 1.0},
                   "proximity": {"order": 2, "score": 1.0},
                   "attributeRank": {"order": 3, "score": 1.0},
                   "wordPosition": {"order": 4, "score": 1.0},
                   "exactness": {"order": 5, "matchType": "matchesStart", "score": 0.6666666666666666}})
        );
        // Key order is the rule order.
        let keys: Vec<&String> = j
            .as_object()
            .map(|o| o.keys().collect())
            .unwrap_or_default();
        assert_eq!(
            keys,
            [
                "words",
                "typo",
                "proximity",
                "attributeRank",
                "wordPosition",
                "exactness"
            ]
        );
    }

    #[test]
    fn no_exact_match_merges_exact_words() {
        let d = Scored {
            details: vec![Detail::Exactness {
                kind: ExactKind::NoExactMatch,
                words: Rank { rank: 3, max: 4 },
            }],
        };
        assert_eq!(
            d.to_json(),
            json!({"exactness": {"order": 0, "matchType": "noExactMatch", "matchingWords": 2, "maxMatchingWords": 3, "score": 0.25}})
        );
    }

    #[test]
    fn order_is_rule_by_rule() {
        let a = Scored {
            details: vec![
                Detail::Words {
                    matching: 2,
                    max: 3,
                },
                Detail::Typo { count: 0, max: 3 },
            ],
        };
        let b = Scored {
            details: vec![
                Detail::Words {
                    matching: 3,
                    max: 3,
                },
                Detail::Typo { count: 2, max: 4 },
            ],
        };
        assert_eq!(b.cmp(&a), Ordering::Less);
        let c = Scored {
            details: vec![
                Detail::Words {
                    matching: 2,
                    max: 3,
                },
                Detail::Typo { count: 1, max: 3 },
            ],
        };
        assert_eq!(a.cmp(&c), Ordering::Less);
        // Sort values: numbers before strings before missing, desc puts larger first.
        let s = |v: Value| Scored {
            details: vec![Detail::Sort {
                field: "x".into(),
                asc: false,
                value: v,
                rank: None,
            }],
        };
        let mut v = [s(json!("b")), s(Value::Null), s(json!(3.0)), s(json!(10.0))];
        v.sort_by(|a, b| a.cmp(b));
        let values: Vec<Value> = v
            .iter()
            .map(|s| match &s.details[0] {
                Detail::Sort { value, .. } => value.clone(),
                _ => Value::Null,
            })
            .collect();
        assert_eq!(
            values,
            vec![json!(10.0), json!(3.0), json!("b"), Value::Null]
        );
    }

    #[test]
    fn words_is_inserted_before_the_rules_that_need_it() {
        let rules: Vec<String> = ["typo", "sort", "exactness", "year:desc"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let sort = vec![SortSpec {
            field: "downloads".into(),
            asc: false,
        }];
        assert_eq!(
            effective_rules(&rules, &sort, MatchingStrategy::Last, false),
            vec![
                Rule::Words,
                Rule::Typo,
                Rule::Sort {
                    field: "downloads".into(),
                    asc: false
                },
                Rule::Exactness,
                Rule::Sort {
                    field: "year".into(),
                    asc: false
                }
            ]
        );
        assert_eq!(
            effective_rules(&rules, &sort, MatchingStrategy::All, true),
            vec![
                Rule::Sort {
                    field: "downloads".into(),
                    asc: false
                },
                Rule::Sort {
                    field: "year".into(),
                    asc: false
                }
            ]
        );
    }
}
