//! Rule-by-rule comparison of two hits from `_rankingScoreDetails`, as one index ranks them.
//!
//! One index ranks by bucket sorting: the first rule splits the candidates into buckets, the
//! next rule splits each bucket, and so on. Two hits from different shards are therefore
//! compared rule by rule in the rules' `order`, and the first rule that tells them apart
//! decides. Each rule is compared on what is the same on every shard:
//! - `words`: `matchingWords` (more is better);
//! - `typo`: `typoCount` (fewer is better). Not the score: `maxTypoCount` is the number of
//!   typos the query's derivations *in that shard's dictionary* allow, so equal scores on two
//!   shards can hide different typo counts;
//! - `exactness`: `matchType` (exactMatch > matchesStart > noExactMatch), then the exact
//!   `matchingWords` of a noExactMatch;
//! - `proximity`, `attributeRank`, `wordPosition`, `attribute` and any other rule with a
//!   `score`: the score, whose max rank depends only on the query and settings;
//! - a sort rule `field:asc|desc`: its `value` with [`compare_sort_values`]; a geo sort
//!   `_geoPoint(..):asc|desc` on its `distance`.
//!
//! A rule absent from either hit, or malformed, does not separate them.

use std::cmp::Ordering;
use std::sync::Arc;

use serde_json::Value;

use crate::scan::{self, Raw, Scanner};

/// One ranking rule's outcome for one hit.
#[derive(Clone, Debug, PartialEq)]
pub enum RuleOutcome {
    Words {
        matching: u64,
        max: u64,
    },
    Typo {
        count: u64,
        max: u64,
    },
    /// `match_rank`: 3 exactMatch, 2 matchesStart, 1 noExactMatch; `exact_words`: the
    /// `(matchingWords, maxMatchingWords)` a noExactMatch carries.
    Exactness {
        match_rank: u64,
        exact_words: Option<(u64, u64)>,
    },
    /// A rule known only by its local score (same max rank on every shard).
    Scored(f64),
    /// A sort rule: the value compared, and the direction.
    Sort {
        ascending: bool,
        value: Value,
    },
    /// A shape this crate does not know: compares equal, blocks score re-normalisation.
    Opaque,
}

/// A rule's name as the details key it, and its outcome.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    /// The rule's key in the details; Meilisearch's own rule names are not allocated.
    pub name: std::borrow::Cow<'static, str>,
    pub outcome: RuleOutcome,
}

/// A hit's ranking: its rules in `order`, and the `_rankingScore` its shard gave. The rules
/// are shared by the hits whose details repeat one another's ([`LastDetails`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Ranking {
    pub rules: Arc<[Rule]>,
    pub score: Option<f64>,
}

impl Ranking {
    /// Read a hit's `_rankingScore` and `_rankingScoreDetails`; anything missing or malformed
    /// is left out rather than refused, so that a strange hit still merges (just less finely).
    pub fn from_hit(hit: &serde_json::Map<String, Value>) -> Ranking {
        Ranking::from_parts(
            hit.get("_rankingScore").and_then(Value::as_f64),
            hit.get("_rankingScoreDetails"),
        )
    }

    /// [`from_hit`](Self::from_hit) from the two fields alone, for a hit kept as raw JSON.
    pub fn from_parts(score: Option<f64>, details: Option<&Value>) -> Ranking {
        let mut rules: Vec<(u64, Rule)> = match details {
            Some(Value::Object(details)) => details
                .iter()
                .enumerate()
                .map(|(position, (name, detail))| {
                    let order = detail
                        .get("order")
                        .and_then(Value::as_u64)
                        .unwrap_or(position as u64);
                    (
                        order,
                        Rule {
                            name: rule_name(name),
                            outcome: outcome(name, detail),
                        },
                    )
                })
                .collect(),
            _ => Vec::new(),
        };
        rules.sort_by_key(|(order, _)| *order);
        Ranking {
            rules: rules.into_iter().map(|(_, r)| r).collect(),
            score,
        }
    }

    /// [`from_parts`](Self::from_parts) from the details' JSON text, decoding only the fields
    /// the comparison reads (a rule of an unexpected shape is decoded whole, as before).
    pub fn from_raw(score: Option<f64>, details: Option<&str>) -> Ranking {
        // One pass over the text: each rule's fields decoded where they stand. Anything unusual
        // (a rule of another shape, a repeated key) is read again below, rule by rule.
        if let Some(Ok(pass)) = details.map(OnePass::parse)
            && let Some(ranking) = Ranking::from_one_pass(score, pass)
        {
            return ranking;
        }
        let members = details.and_then(|d| crate::raw::RawObject::parse(d).ok());
        let Some(members) = members else {
            let value = details.and_then(|d| serde_json::from_str::<Value>(d).ok());
            return Ranking::from_parts(score, value.as_ref());
        };
        let mut rules: Vec<(u64, Rule)> = Vec::with_capacity(members.members.len());
        for (position, (name, raw)) in members.members.iter().enumerate() {
            if rules.iter().any(|(_, r)| r.name == *name) {
                // A repeated key: what a decoded object would hold, read the slow way.
                let value = details.and_then(|d| serde_json::from_str::<Value>(d).ok());
                return Ranking::from_parts(score, value.as_ref());
            }
            let (order, outcome) = match RawDetail::parse(raw.get()) {
                Ok(detail) => (detail.order, outcome(name, &detail)),
                Err(_) => {
                    let detail: Value = serde_json::from_str(raw.get()).unwrap_or(Value::Null);
                    (detail.uint("order"), outcome(name, &detail))
                }
            };
            let rule = Rule {
                name: rule_name(name),
                outcome,
            };
            rules.push((order.unwrap_or(position as u64), rule));
        }
        rules.sort_by_key(|(order, _)| *order);
        Ranking {
            rules: rules.into_iter().map(|(_, r)| r).collect(),
            score,
        }
    }

    /// The ranking of details read in one pass; `None` when a rule is named twice (read the
    /// text again rule by rule, as [`from_raw`](Self::from_raw) does).
    pub(crate) fn from_one_pass(score: Option<f64>, pass: OnePass) -> Option<Ranking> {
        Some(Ranking {
            rules: pass.ranked?,
            score,
        })
    }

    /// `Less` when `self` ranks before `other` in one whole index; `Equal` when no rule tells
    /// them apart (the caller breaks the tie).
    pub fn compare(&self, other: &Ranking) -> Ordering {
        for (i, rule) in self.rules.iter().enumerate() {
            // Shards of one index list the same rules in the same order, by the same static
            // names: the rule at the same place is looked at first, by address first.
            let theirs = match other.rules.get(i) {
                Some(r) if same_name(&r.name, &rule.name) => r,
                _ => match other.rules.iter().find(|r| same_name(&r.name, &rule.name)) {
                    Some(r) => r,
                    None => continue,
                },
            };
            let ord = compare_outcomes(&rule.outcome, &theirs.outcome);
            if ord != Ordering::Equal {
                return ord;
            }
        }
        Ordering::Equal
    }

    /// The words rule's `matchingWords` if the words rule comes before rule number `index`:
    /// the bucket whose terms later rules (typo, exactness) rank.
    pub(crate) fn words_bucket_before(&self, index: usize) -> Option<u64> {
        self.rules.iter().take(index).find_map(|r| match r.outcome {
            RuleOutcome::Words { matching, .. } => Some(matching),
            _ => None,
        })
    }
}

/// Whether two rule names are the same text, found equal without reading it when both are
/// the same static text ([`rule_name`] hands out one per known rule).
fn same_name(a: &str, b: &str) -> bool {
    std::ptr::eq(a, b) || a == b
}

/// A rule's name, borrowed when it is one of Meilisearch's ranking rules (every hit of every
/// shard names the same few): a built-in rule, or `vectorSort`, which ranks semantic hits.
fn rule_name(name: &str) -> std::borrow::Cow<'static, str> {
    let known = miroir_proto::RANKING_RULES
        .iter()
        .chain(&["vectorSort"])
        .find(|k| **k == name);
    match known {
        Some(known) => std::borrow::Cow::Borrowed(known),
        None => std::borrow::Cow::Owned(name.to_owned()),
    }
}

/// What [`outcome`] reads of one rule's details: a decoded `Value`, or the few fields decoded
/// straight from the text ([`RawDetail`]).
trait Detail {
    fn uint(&self, key: &str) -> Option<u64>;
    fn float(&self, key: &str) -> Option<f64>;
    fn text(&self, key: &str) -> Option<&str>;
    fn value(&self, key: &str) -> Option<Value>;
}

impl Detail for Value {
    fn uint(&self, key: &str) -> Option<u64> {
        self.get(key).and_then(Value::as_u64)
    }
    fn float(&self, key: &str) -> Option<f64> {
        self.get(key).and_then(Value::as_f64)
    }
    fn text(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }
    fn value(&self, key: &str) -> Option<Value> {
        self.get(key).cloned()
    }
}

/// One rule's details as the merge reads them, decoded from the text without building the
/// object. A field of an unexpected type (or named twice) fails the reading, and the rule is
/// then read from a decoded `Value` as before, so both readings agree.
#[derive(Debug, Default)]
struct RawDetail<'a> {
    order: Option<u64>,
    matching_words: Option<u64>,
    max_matching_words: Option<u64>,
    typo_count: Option<u64>,
    max_typo_count: Option<u64>,
    match_type: Option<std::borrow::Cow<'a, str>>,
    score: Option<f64>,
    similarity: Option<f64>,
    value: Option<Raw<'a>>,
    distance: Option<Raw<'a>>,
}

impl<'a> RawDetail<'a> {
    /// The rule's details at the scanner's position (an object).
    fn read(s: &mut Scanner<'a>) -> scan::Result<Self> {
        // Written as Meilisearch writes them (compact, flat), they are read without the general
        // reading's steps; anything else, or any refusal, is read again the general way.
        let mut seen = 0u16;
        let mut detail = RawDetail::default();
        if s.compact_object(|key, raw| detail.take(&mut seen, key, raw).is_ok())
            .is_some()
        {
            return Ok(detail);
        }
        RawDetail::read_general(s)
    }

    /// [`read`](Self::read), member by member with the general reading.
    fn read_general(s: &mut Scanner<'a>) -> scan::Result<Self> {
        // A member given as `null` reads as absent (as serde reads an `Option`); `seen` still
        // tells a repeated member.
        let mut seen = 0u16;
        let mut detail = RawDetail::default();
        let mut members = s.object()?;
        while let Some(key) = members.next_key()? {
            let raw = members.scanner.value()?;
            detail.take(&mut seen, &key, raw)?;
        }
        Ok(detail)
    }

    /// One member: a field the merge reads is decoded (an error when repeated or of another
    /// type), any other is left.
    fn take(&mut self, seen: &mut u16, key: &str, raw: Raw<'a>) -> scan::Result<()> {
        let bit = match key {
            "order" => 0,
            "matchingWords" => 1,
            "maxMatchingWords" => 2,
            "typoCount" => 3,
            "maxTypoCount" => 4,
            "matchType" => 5,
            "score" => 6,
            "similarity" => 7,
            "value" => 8,
            "distance" => 9,
            _ => return Ok(()),
        };
        if *seen & (1 << bit) != 0 {
            return Err(scan::invalid(format_args!("duplicate field `{key}`")));
        }
        *seen |= 1 << bit;
        match bit {
            0 => self.order = scan::uint(raw)?,
            1 => self.matching_words = scan::uint(raw)?,
            2 => self.max_matching_words = scan::uint(raw)?,
            3 => self.typo_count = scan::uint(raw)?,
            4 => self.max_typo_count = scan::uint(raw)?,
            5 => self.match_type = scan::text(raw)?,
            6 => self.score = scan::float(raw)?,
            7 => self.similarity = scan::float(raw)?,
            8 => self.value = scan::not_null(raw),
            _ => self.distance = scan::not_null(raw),
        }
        Ok(())
    }

    /// The rule's details in `text`, whole.
    fn parse(text: &'a str) -> scan::Result<Self> {
        scan::whole(text, RawDetail::read)
    }
}

/// A whole `_rankingScoreDetails` object read in one pass: each rule's order (its `order`, or
/// its position) and the rule, named and decided as the details are read; nothing of the text
/// is kept. Fails on anything [`RawDetail`] cannot read.
///
/// Cloned for every hit whose details repeat the previous hit's ([`LastDetails`]): both
/// readings are shared, not copied.
#[derive(Clone, Debug)]
pub(crate) struct OnePass {
    /// The rules in the text's order, with their order.
    rules: Arc<[(u64, Rule)]>,
    /// The rules in ranking order; `None` when a rule is named twice (the text is then read
    /// again rule by rule, as [`Ranking::from_raw`] does).
    ranked: Option<Arc<[Rule]>>,
}

/// The last `_rankingScoreDetails` a shard's cursor read, as text and as read, whole and rule
/// by rule: a shard lists the hits of one bucket one after another, and they carry the same
/// details, byte for byte (63% of the hits after the first in the recorded Meilisearch 1.50
/// answers of `10-sharded-oracle.json`); and hits of neighbouring buckets differ in a rule or
/// two, the others (often `words` and `typo`) written the same.
#[derive(Debug, Default)]
pub(crate) struct LastDetails<'a> {
    /// The whole details' text and reading (its rules in the text's order).
    pub whole: Option<(Raw<'a>, OnePass)>,
    /// The key and value text of each of those rules, in the same order.
    rules: Vec<RuleText<'a>>,
}

/// One rule of a details object as it was written: its key and its value's text (an object:
/// where its brackets close is where the text ends, so the same bytes are the same value).
type RuleText<'a> = (std::borrow::Cow<'a, str>, Raw<'a>);

impl OnePass {
    /// The details at the scanner's position (an object), read where they stand in a hit.
    pub(crate) fn read(s: &mut Scanner<'_>) -> scan::Result<Self> {
        OnePass::read_rules(s, &[], &[], None)
    }

    /// [`read`](Self::read), each rule whose key and value text repeat the rule at the same
    /// place of the details read before (`previous`, read as `previous_pass`) taking that
    /// reading; `texts`, when given, gets every rule's key and text.
    fn read_rules<'a>(
        s: &mut Scanner<'a>,
        previous: &[RuleText<'a>],
        previous_pass: &[(u64, Rule)],
        mut texts: Option<&mut Vec<RuleText<'a>>>,
    ) -> scan::Result<Self> {
        let mut rules: Vec<(u64, Rule)> = Vec::with_capacity(8);
        let mut members = s.object()?;
        while let Some(key) = members.next_key()? {
            let at = rules.len();
            let same = previous
                .get(at)
                .filter(|(k, text)| *k == key && members.scanner.skip_repeat(*text))
                .and_then(|(_, text)| Some((*text, previous_pass.get(at)?.clone())));
            let (text, rule) = match same {
                Some(reused) => reused,
                None => {
                    let (text, detail) = members.scanner.read_text(RawDetail::read)?;
                    let rule = Rule {
                        name: rule_name(&key),
                        outcome: outcome(&key, &detail),
                    };
                    (text, (detail.order.unwrap_or(at as u64), rule))
                }
            };
            rules.push(rule);
            if let Some(texts) = texts.as_deref_mut() {
                texts.push((key, text));
            }
        }
        Ok(OnePass::new(rules))
    }

    /// The rules read, in the text's order, with their ranking order.
    fn new(rules: Vec<(u64, Rule)>) -> OnePass {
        let repeated = rules.iter().enumerate().any(|(i, (_, rule))| {
            rules[..i]
                .iter()
                .any(|(_, r)| same_name(&r.name, &rule.name))
        });
        let ranked = (!repeated).then(|| {
            let mut ranked: Vec<&(u64, Rule)> = rules.iter().collect();
            ranked.sort_by_key(|(order, _)| *order);
            ranked.into_iter().map(|(_, rule)| rule.clone()).collect()
        });
        OnePass {
            rules: rules.into(),
            ranked,
        }
    }

    /// The details in `text`, whole.
    pub(crate) fn parse(text: &str) -> scan::Result<Self> {
        scan::whole(text, OnePass::read)
    }

    /// [`read`](Self::read), unless the text at the scanner repeats `last`'s byte for byte:
    /// then `last`'s reading, without reading the text again; else each rule whose key and
    /// text repeat the same rule of `last` takes its reading. `last` becomes what was read.
    pub(crate) fn read_after<'a>(
        s: &mut Scanner<'a>,
        last: &mut LastDetails<'a>,
    ) -> scan::Result<Self> {
        if let Some((text, pass)) = &last.whole
            && s.skip_repeat(*text)
        {
            return Ok(pass.clone());
        }
        let previous = std::mem::take(&mut last.rules);
        let previous_pass = last.whole.take().map(|(_, pass)| pass.rules);
        let previous_pass = previous_pass.as_deref().unwrap_or_default();
        let mut texts = Vec::with_capacity(previous.len().max(8));
        let (text, pass) =
            s.read_text(|s| OnePass::read_rules(s, &previous, previous_pass, Some(&mut texts)))?;
        last.whole = Some((text, pass.clone()));
        last.rules = texts;
        Ok(pass)
    }
}

impl Detail for RawDetail<'_> {
    fn uint(&self, key: &str) -> Option<u64> {
        match key {
            "matchingWords" => self.matching_words,
            "maxMatchingWords" => self.max_matching_words,
            "typoCount" => self.typo_count,
            "maxTypoCount" => self.max_typo_count,
            _ => None,
        }
    }
    fn float(&self, key: &str) -> Option<f64> {
        match key {
            "score" => self.score,
            "similarity" => self.similarity,
            _ => None,
        }
    }
    fn text(&self, key: &str) -> Option<&str> {
        match key {
            "matchType" => self.match_type.as_deref(),
            _ => None,
        }
    }
    fn value(&self, key: &str) -> Option<Value> {
        let raw = match key {
            "value" => self.value?,
            "distance" => self.distance?,
            _ => return None,
        };
        serde_json::from_str(raw.get()).ok()
    }
}

fn outcome(name: &str, detail: &impl Detail) -> RuleOutcome {
    let uint = |key: &str| detail.uint(key);
    match name {
        "words" => match (uint("matchingWords"), uint("maxMatchingWords")) {
            (Some(matching), Some(max)) => RuleOutcome::Words { matching, max },
            _ => RuleOutcome::Opaque,
        },
        "typo" => match (uint("typoCount"), uint("maxTypoCount")) {
            (Some(count), Some(max)) => RuleOutcome::Typo { count, max },
            _ => RuleOutcome::Opaque,
        },
        "exactness" => {
            let match_rank = match detail.text("matchType") {
                Some("exactMatch") => 3,
                Some("matchesStart") => 2,
                Some("noExactMatch") => 1,
                _ => return RuleOutcome::Opaque,
            };
            let exact_words = match (match_rank, uint("matchingWords"), uint("maxMatchingWords")) {
                (1, Some(m), Some(max)) => Some((m, max)),
                _ => None,
            };
            RuleOutcome::Exactness {
                match_rank,
                exact_words,
            }
        }
        _ => {
            let direction = name.rsplit_once(':').and_then(|(_, dir)| match dir {
                "asc" => Some(true),
                "desc" => Some(false),
                _ => None,
            });
            match (direction, detail.float("score")) {
                (Some(ascending), _) => {
                    // Geo sorts show the point as `value` and rank on `distance`.
                    let key = if name.starts_with("_geoPoint(") {
                        "distance"
                    } else {
                        "value"
                    };
                    RuleOutcome::Sort {
                        ascending,
                        value: detail.value(key).unwrap_or(Value::Null),
                    }
                }
                (None, Some(score)) => RuleOutcome::Scored(score),
                (None, None) => match detail.float("similarity") {
                    Some(similarity) => RuleOutcome::Scored(similarity),
                    None => RuleOutcome::Opaque,
                },
            }
        }
    }
}

/// `Less` when outcome `a` ranks first.
fn compare_outcomes(a: &RuleOutcome, b: &RuleOutcome) -> Ordering {
    use RuleOutcome::*;
    match (a, b) {
        (Words { matching: x, .. }, Words { matching: y, .. }) => y.cmp(x),
        (Typo { count: x, .. }, Typo { count: y, .. }) => x.cmp(y),
        (
            Exactness {
                match_rank: x,
                exact_words: xw,
            },
            Exactness {
                match_rank: y,
                exact_words: yw,
            },
        ) => y.cmp(x).then_with(|| match (xw, yw) {
            (Some((xm, _)), Some((ym, _))) => ym.cmp(xm),
            _ => Ordering::Equal,
        }),
        // Both scores went through the same arithmetic with the same max rank, so they are
        // bit-identical when the ranks are equal: no tolerance.
        (Scored(x), Scored(y)) => y.partial_cmp(x).unwrap_or(Ordering::Equal),
        (
            Sort {
                ascending,
                value: x,
            },
            Sort { value: y, .. },
        ) => compare_sort_values(*ascending, x, y).reverse(),
        _ => Ordering::Equal,
    }
}

/// Meilisearch's order of sort values, as its federated search compares them: `Greater` when
/// `left` ranks first. `null` (no value) ranks last and numbers rank before strings, in both
/// directions; within a type, ascending puts the smaller first. Other JSON types tie.
pub fn compare_sort_values(ascending: bool, left: &Value, right: &Value) -> Ordering {
    use Value::{Null, Number, String};
    let directed = |ord: Ordering| if ascending { ord.reverse() } else { ord };
    match (left, right) {
        (Null, Null) => Ordering::Equal,
        (Null, _) => Ordering::Less,
        (_, Null) => Ordering::Greater,
        (Number(_), String(_)) => Ordering::Greater,
        (String(_), Number(_)) => Ordering::Less,
        (Number(l), Number(r)) => match (l.as_f64(), r.as_f64()) {
            (Some(l), Some(r)) => directed(l.partial_cmp(&r).unwrap_or(Ordering::Equal)),
            _ => Ordering::Equal,
        },
        (String(l), String(r)) => directed(l.cmp(r)),
        _ => Ordering::Equal,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn ranking(details: Value) -> Ranking {
        Ranking::from_hit(
            json!({"_rankingScoreDetails": details})
                .as_object()
                .unwrap(),
        )
    }

    #[test]
    fn rankings_read_from_the_text_equal_rankings_read_from_values() {
        let cases = [
            json!({"words": {"order": 0, "matchingWords": 2, "maxMatchingWords": 3, "score": 0.6}, "typo": {"order": 1, "typoCount": 1, "maxTypoCount": 2}}),
            json!({"exactness": {"order": 0, "matchType": "noExactMatch", "matchingWords": 1, "maxMatchingWords": 3}, "x:asc": {"order": 1, "value": "a\"b"}}),
            json!({"_geoPoint(1,2):asc": {"order": 0, "value": {"lat": 1.0}, "distance": 3.5}, "vectorSort": {"order": 1, "similarity": 0.25}}),
            json!({"words": {"order": "zero", "matchingWords": -1, "maxMatchingWords": 1.5}, "typo": 7, "proximity": {"score": 1}}),
            json!({"b": {"order": 2, "score": 0.5}, "a": {"score": 0.1}, "c": {"order": 0}}),
            json!([1, 2]),
            json!(null),
        ];
        for details in cases {
            let text = details.to_string();
            assert_eq!(
                Ranking::from_raw(Some(0.5), Some(&text)),
                Ranking::from_parts(Some(0.5), Some(&details)),
                "{text}"
            );
        }
        assert_eq!(Ranking::from_raw(None, None), Ranking::default());
        // Texts no `Value` prints: a repeated rule, a repeated field, an escaped name.
        for text in [
            r#"{"words": {"order": 0, "matchingWords": 2, "maxMatchingWords": 3}, "typo": {"order": 1, "typoCount": 0, "maxTypoCount": 2}, "words": {"order": 2, "matchingWords": 1, "maxMatchingWords": 3}}"#,
            r#"{"typo": {"order": 0, "typoCount": 0, "typoCount": 2, "maxTypoCount": 2}}"#,
            r#"{"t\u0079po": {"order": 0, "typoCount": 1, "maxTypoCount": 2}}"#,
        ] {
            let value: Value = serde_json::from_str(text).unwrap();
            assert_eq!(
                Ranking::from_raw(Some(0.5), Some(text)),
                Ranking::from_parts(Some(0.5), Some(&value)),
                "{text}"
            );
        }
    }

    proptest::proptest! {
        /// Details written compactly (as Meilisearch writes them) read the same, errors
        /// included, whether the compact reading takes them or the general reading does.
        #[test]
        fn compact_details_read_as_the_general_reading_reads_them(
            members in proptest::collection::vec((detail_key(), detail_value()), 0..7),
            spaced in proptest::bool::ANY,
        ) {
            let body: Vec<String> = members.iter().map(|(k, v)| format!("{k}:{v}")).collect();
            let sep = if spaced { ", " } else { "," };
            let text = format!("{{{}}}", body.join(sep));
            let fast = RawDetail::parse(&text).map(|d| format!("{d:?}")).map_err(|e| e.to_string());
            let general = scan::whole(&text, RawDetail::read_general)
                .map(|d| format!("{d:?}"))
                .map_err(|e| e.to_string());
            proptest::prop_assert_eq!(fast, general, "{}", text);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1024))]
        /// Details read one after another, each taking from the previous one's reading the
        /// rules that repeat it (or all of it when it repeats whole), read as each reads alone,
        /// errors included.
        #[test]
        fn details_read_after_others_read_as_they_read_alone(
            details in proptest::collection::vec(
                proptest::collection::vec((rule_key(), rule_value()), 0..4), 1..6),
        ) {
            let texts: Vec<String> = details
                .iter()
                .map(|rules| {
                    let body: Vec<String> = rules.iter().map(|(k, v)| format!("{k}:{v}")).collect();
                    format!("{{{}}}", body.join(","))
                })
                .collect();
            let list = format!("[{}]", texts.join(","));
            let mut s = Scanner::new(&list);
            let mut items = s.array().unwrap();
            let mut last = LastDetails::default();
            for text in &texts {
                proptest::prop_assert!(items.next().unwrap());
                let chained = OnePass::read_after(&mut *items.scanner, &mut last);
                let alone = OnePass::parse(text);
                match (chained, alone) {
                    (Ok(chained), Ok(alone)) => {
                        proptest::prop_assert_eq!(format!("{chained:?}"), format!("{alone:?}"), "{}", list);
                    }
                    (Err(_), Err(_)) => break,
                    (chained, alone) => {
                        proptest::prop_assert!(false, "{}: {:?} / {:?}", list, chained.is_ok(), alone.is_ok());
                    }
                }
            }
        }
    }

    /// A rule's name: Meilisearch's, a sort's, and one with an escape.
    fn rule_key() -> impl proptest::strategy::Strategy<Value = String> {
        crate::test_texts::one_of(&[
            r#""words""#,
            r#""typo""#,
            r#""proximity""#,
            r#""exactness""#,
            r#""downloads:desc""#,
            r#""w\u006frds""#,
        ])
    }

    /// A rule's value: a few that differ by one field, the same spaced, without `order`, and
    /// malformed ones.
    fn rule_value() -> impl proptest::strategy::Strategy<Value = String> {
        crate::test_texts::one_of(&[
            r#"{"order":0,"matchingWords":2,"maxMatchingWords":2,"score":1.0}"#,
            r#"{"order":0,"matchingWords":1,"maxMatchingWords":2,"score":0.5}"#,
            r#"{"order": 0, "matchingWords": 2, "maxMatchingWords": 2, "score": 1.0}"#,
            r#"{"order":1,"typoCount":0,"maxTypoCount":2,"score":1.0}"#,
            r#"{"order":1,"typoCount":1,"maxTypoCount":2,"score":0.6666666666666666}"#,
            r#"{"typoCount":1,"maxTypoCount":2}"#,
            r#"{"order":2,"score":0.5}"#,
            r#"{"order":2,"score":0.25}"#,
            r#"{"order":3,"matchType":"exactMatch","score":1.0}"#,
            r#"{"order":4,"value":1132}"#,
            r#"{"order":4,"value":"x"}"#,
            r#"{"order":0,"matchingWords":}"#,
            "[1]",
            "{}",
        ])
    }

    /// A key as it may come: one the merge reads, another, or one with an escape.
    fn detail_key() -> impl proptest::strategy::Strategy<Value = String> {
        crate::test_texts::one_of(&[
            r#""order""#,
            r#""matchingWords""#,
            r#""maxMatchingWords""#,
            r#""typoCount""#,
            r#""maxTypoCount""#,
            r#""matchType""#,
            r#""score""#,
            r#""similarity""#,
            r#""value""#,
            r#""distance""#,
            r#""attributeRankingOrderScore""#,
            r#""sc\u006fre""#,
            r#""x y""#,
        ])
    }

    /// A value as it may come: numbers of every shape, literals, strings with and without
    /// escapes, nested values, and a few malformed texts.
    fn detail_value() -> impl proptest::strategy::Strategy<Value = String> {
        crate::test_texts::one_of(&[
            "0",
            "2",
            "18446744073709551616",
            "-1",
            "1.0",
            "0.6666666666666666",
            "1e3",
            "-0.5E-2",
            "01",
            "1.",
            "null",
            "true",
            "false",
            "nul",
            r#""exactMatch""#,
            r#""noExactMatch""#,
            r#""a\"b""#,
            r#""""#,
            r#"{"lat":1,"lng":2}"#,
            "[1,2]",
            "[]",
            "{}",
            r#""open"#,
            "",
        ])
    }

    #[test]
    fn a_rule_missing_on_one_side_does_not_separate() {
        let a = ranking(json!({"words": {"order": 0, "matchingWords": 2, "maxMatchingWords": 2}}));
        let b = ranking(json!({
            "words": {"order": 0, "matchingWords": 2, "maxMatchingWords": 3},
            "typo": {"order": 1, "typoCount": 1, "maxTypoCount": 2},
        }));
        assert_eq!(a.compare(&b), Ordering::Equal);
        assert_eq!(b.compare(&a), Ordering::Equal);
        let garbled = ranking(json!({"words": {"order": 0, "matchingWords": "two"}}));
        assert_eq!(garbled.compare(&a), Ordering::Equal);
    }

    #[test]
    fn rules_are_read_in_their_order_not_the_key_order() {
        let hit = |typos: u64, prox: f64| {
            ranking(json!({
                "proximity": {"order": 1, "score": prox},
                "typo": {"order": 0, "typoCount": typos, "maxTypoCount": 2},
            }))
        };
        assert_eq!(hit(0, 0.1).compare(&hit(1, 1.0)), Ordering::Less);
    }

    #[test]
    fn exactness_compares_match_type_then_exact_words() {
        let hit = |match_type: &str, exact: u64| {
            ranking(
                json!({"exactness": {"order": 0, "matchType": match_type, "matchingWords": exact, "maxMatchingWords": 3}}),
            )
        };
        assert_eq!(
            hit("exactMatch", 0).compare(&hit("matchesStart", 0)),
            Ordering::Less
        );
        assert_eq!(
            hit("matchesStart", 0).compare(&hit("noExactMatch", 3)),
            Ordering::Less
        );
        assert_eq!(
            hit("noExactMatch", 2).compare(&hit("noExactMatch", 1)),
            Ordering::Less
        );
    }

    #[test]
    fn geo_sorts_rank_on_distance_and_vectors_on_similarity() {
        let geo = |d: f64| {
            ranking(
                json!({"_geoPoint(48.8,2.3):asc": {"order": 0, "value": {"lat": 1.0, "lng": 2.0}, "distance": d}}),
            )
        };
        assert_eq!(geo(10.0).compare(&geo(20.0)), Ordering::Less);
        let vector =
            |s: f64| ranking(json!({"vectorSort": {"order": 0, "similarity": s, "value": [1.0]}}));
        assert_eq!(vector(0.9).compare(&vector(0.5)), Ordering::Less);
    }
}
