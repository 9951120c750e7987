//! Re-normalising `_rankingScore` from one shard's scale to the whole index's.
//!
//! milli's global score folds each relevancy rule's `Rank { rank, max_rank }` in rule order
//! (sort rules excluded): `S = Σ_i (rank_i - 1) / P_i + 1 / P_n` with `P_i` the product of the
//! max ranks of rules `0..=i`. Nested, `S_i = (rank_i - 1 + S_{i+1}) / max_rank_i`.
//!
//! Most max ranks depend only on the query and the settings, so they are equal on every shard.
//! Three depend on the shard's own dictionary and are shown in the details:
//! - words: `maxMatchingWords`;
//! - typo: `maxTypoCount` (max rank `maxTypoCount + 1`). It also depends on which query words
//!   the words rule kept, so it is tracked per words bucket (`matchingWords`);
//! - exactness of a noExactMatch: `maxMatchingWords` of the exact words (max rank
//!   `3 * (max + 1)`), also tracked per words bucket.
//!
//! The whole index's value of each is the largest seen across all shards' hits ([`Maxima`]).
//! For a hit, the tail of the score after the last rule whose max rank changed is the same on
//! the shard and on the whole index; it is recovered from the shard's own score by peeling the
//! leading rules off, `S_{i+1} = S_i * max_rank_i - (rank_i - 1)`, and the leading rules are put
//! back with the whole index's max ranks. This needs the ranks of the peeled rules, which the
//! details give for words, typo and exactness; a rule known only by its local score
//! (proximity, attributeRank, ...) before the last changed rule would block it, and then the
//! shard's score is kept. With the default rule order (words, typo first) that never happens.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::compare::{Ranking, RuleOutcome};

/// The whole index's dictionary-dependent max ranks, as the shards' hits reveal them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Maxima {
    pub max_matching_words: u64,
    /// words bucket (`matchingWords`, or `None` without a words rule before typo) -> maxTypoCount
    pub max_typo_count: BTreeMap<Option<u64>, u64>,
    /// words bucket -> the exactness rule's `maxMatchingWords` of a noExactMatch
    pub max_exact_words: BTreeMap<Option<u64>, u64>,
}

/// One relevancy rule's rank on the shard's scale and on the whole index's.
#[derive(Clone, Copy, Debug)]
enum Step {
    Known {
        rank: u64,
        max: u64,
        global_rank: u64,
        global_max: u64,
    },
    /// Known only by its local score; same on every shard.
    Unknown,
}

impl Maxima {
    /// Take note of one hit's dictionary-dependent maxima.
    pub fn observe(&mut self, ranking: &Ranking) {
        for (i, rule) in ranking.rules.iter().enumerate() {
            match rule.outcome {
                RuleOutcome::Words { max, .. } => {
                    self.max_matching_words = self.max_matching_words.max(max)
                }
                RuleOutcome::Typo { max, .. } => {
                    let entry = self
                        .max_typo_count
                        .entry(ranking.words_bucket_before(i))
                        .or_default();
                    *entry = (*entry).max(max);
                }
                RuleOutcome::Exactness {
                    exact_words: Some((_, max)),
                    ..
                } => {
                    let entry = self
                        .max_exact_words
                        .entry(ranking.words_bucket_before(i))
                        .or_default();
                    *entry = (*entry).max(max);
                }
                _ => {}
            }
        }
    }

    fn steps(&self, ranking: &Ranking) -> Vec<Step> {
        let mut steps = Vec::new();
        for (i, rule) in ranking.rules.iter().enumerate() {
            let step = match rule.outcome {
                RuleOutcome::Words { matching, max } => {
                    let global_max = self.max_matching_words.max(max);
                    Step::Known {
                        rank: matching,
                        max,
                        global_rank: matching,
                        global_max,
                    }
                }
                RuleOutcome::Typo { count, max } => {
                    let global = self
                        .max_typo_count
                        .get(&ranking.words_bucket_before(i))
                        .map_or(max, |g| max.max(*g));
                    Step::Known {
                        rank: max.saturating_add(1).saturating_sub(count),
                        max: max.saturating_add(1),
                        global_rank: global.saturating_add(1).saturating_sub(count),
                        global_max: global.saturating_add(1),
                    }
                }
                RuleOutcome::Exactness {
                    match_rank,
                    exact_words,
                } => match exact_words {
                    // The two ranks milli folds for a noExactMatch, ExactAttribute 1/3 then
                    // ExactWords (m+1)/(max+1), folded into one: (m+1) / (3 * (max+1)).
                    Some((m, max)) => {
                        let global = self
                            .max_exact_words
                            .get(&ranking.words_bucket_before(i))
                            .map_or(max, |g| max.max(*g));
                        Step::Known {
                            rank: m.saturating_add(1),
                            max: max.saturating_add(1).saturating_mul(3),
                            global_rank: m.saturating_add(1),
                            global_max: global.saturating_add(1).saturating_mul(3),
                        }
                    }
                    None => Step::Known {
                        rank: match_rank,
                        max: 3,
                        global_rank: match_rank,
                        global_max: 3,
                    },
                },
                RuleOutcome::Sort { .. } => continue,
                RuleOutcome::Scored(_) | RuleOutcome::Opaque => Step::Unknown,
            };
            steps.push(step);
        }
        steps
    }

    /// The hit's `_rankingScore` on the whole index: the shard's own score when no max rank it
    /// depends on differs, else the re-normalised one. `None` when the shard gave no score.
    pub fn global_score(&self, ranking: &Ranking) -> Option<f64> {
        let shard_score = ranking.score?;
        let steps = self.steps(ranking);
        let last_changed = steps
            .iter()
            .rposition(|s| matches!(s, Step::Known { max, global_max, .. } if max != global_max));
        let Some(last_changed) = last_changed else {
            return Some(shard_score);
        };
        let mut tail = shard_score;
        for step in &steps[..=last_changed] {
            match *step {
                Step::Known { rank, max, .. } if max > 0 && rank > 0 => {
                    tail = tail * max as f64 - (rank - 1) as f64
                }
                _ => return Some(shard_score),
            }
        }
        // The peeled tail is a score in [0, 1]; rounding may push it a hair outside.
        let mut score = tail.clamp(0.0, 1.0);
        for step in steps[..=last_changed].iter().rev() {
            if let Step::Known {
                global_rank,
                global_max,
                ..
            } = *step
            {
                score = (global_rank.saturating_sub(1) as f64 + score) / global_max as f64;
            }
        }
        Some(score.clamp(0.0, 1.0))
    }

    /// Rewrite a hit's `_rankingScoreDetails` with the whole index's maxima and local scores,
    /// leaving untouched every entry whose maxima did not change (so its floats stay verbatim).
    /// `ranking` is the hit's ranking as read from these details.
    pub fn fix_details(&self, ranking: &Ranking, details: &mut Map<String, Value>) {
        for (i, rule) in ranking.rules.iter().enumerate() {
            let Some(Value::Object(entry)) = details.get_mut(rule.name.as_ref()) else {
                continue;
            };
            let bucket = ranking.words_bucket_before(i);
            match rule.outcome {
                RuleOutcome::Words { matching, max } if self.max_matching_words > max => {
                    let global = self.max_matching_words;
                    entry.insert("maxMatchingWords".into(), Value::from(global));
                    entry.insert("score".into(), Value::from(matching as f64 / global as f64));
                }
                RuleOutcome::Typo { count, max } => {
                    let Some(&global) = self.max_typo_count.get(&bucket).filter(|g| **g > max)
                    else {
                        continue;
                    };
                    entry.insert("maxTypoCount".into(), Value::from(global));
                    let max_rank = global.saturating_add(1);
                    let rank = max_rank.saturating_sub(count);
                    entry.insert("score".into(), Value::from(rank as f64 / max_rank as f64));
                }
                RuleOutcome::Exactness {
                    exact_words: Some((m, max)),
                    ..
                } => {
                    let Some(&global) = self.max_exact_words.get(&bucket).filter(|g| **g > max)
                    else {
                        continue;
                    };
                    entry.insert("maxMatchingWords".into(), Value::from(global));
                    let max_rank = global.saturating_add(1).saturating_mul(3);
                    let score = m.saturating_add(1) as f64 / max_rank as f64;
                    entry.insert("score".into(), Value::from(score));
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn ranking(details: Value, score: f64) -> Ranking {
        let hit = json!({"_rankingScore": score, "_rankingScoreDetails": details});
        Ranking::from_hit(hit.as_object().unwrap())
    }

    /// "react router" top hit from scoring.md: words 2/2, typo 3/3, proximity, attributeRank and
    /// wordPosition 1.0 (max ranks multiplying to 420), exactness matchesStart 2/3.
    fn react_router(max_typo: u64, score: f64) -> Ranking {
        ranking(
            json!({
                "words": {"order": 0, "matchingWords": 2, "maxMatchingWords": 2, "score": 1.0},
                "typo": {"order": 1, "typoCount": 0, "maxTypoCount": max_typo, "score": 1.0},
                "proximity": {"order": 2, "score": 1.0},
                "attributeRank": {"order": 3, "score": 1.0},
                "wordPosition": {"order": 4, "score": 1.0},
                "exactness": {"order": 5, "matchType": "matchesStart", "score": 2.0 / 3.0},
            }),
            score,
        )
    }

    #[test]
    fn unchanged_maxima_keep_the_shard_score_verbatim() {
        let r = react_router(2, 0.9998677248677249);
        let mut maxima = Maxima::default();
        maxima.observe(&r);
        assert_eq!(maxima.global_score(&r), Some(0.9998677248677249));
    }

    #[test]
    fn a_larger_whole_index_max_typo_count_is_folded_back_in() {
        // On a shard that knows 1-typo derivations only, the same hit: typo 2/2. The tail
        // (proximity..exactness, 1 - 1/(420*3) of its range) is the same on both.
        let tail = 1.0 - 1.0 / 1260.0;
        let shard_score = (1.0 + (1.0 + tail) / 2.0) / 2.0;
        let r = react_router(1, shard_score);
        let mut maxima = Maxima::default();
        maxima.observe(&r);
        maxima.observe(&react_router(2, 0.9998677248677249));
        let global = maxima.global_score(&r).unwrap();
        assert!((global - 0.9998677248677249).abs() < 1e-15, "{global}");
    }

    #[test]
    fn a_rule_known_only_by_its_score_before_a_changed_one_keeps_the_shard_score() {
        let details = |max_typo: u64| {
            json!({
                "proximity": {"order": 0, "score": 0.5},
                "typo": {"order": 1, "typoCount": 0, "maxTypoCount": max_typo, "score": 1.0},
            })
        };
        let (low, high) = (ranking(details(1), 0.75), ranking(details(2), 0.7));
        let mut maxima = Maxima::default();
        maxima.observe(&low);
        maxima.observe(&high);
        assert_eq!(maxima.global_score(&low), Some(0.75));
    }

    #[test]
    fn details_get_the_whole_index_maxima() {
        let r = react_router(1, 0.99);
        let mut maxima = Maxima::default();
        maxima.observe(&r);
        maxima.observe(&react_router(3, 0.99));
        let mut details = json!({
            "words": {"order": 0, "matchingWords": 2, "maxMatchingWords": 2, "score": 1.0},
            "typo": {"order": 1, "typoCount": 1, "maxTypoCount": 1, "score": 0.5},
        });
        let r = ranking(details.clone(), 0.75);
        maxima.fix_details(&r, details.as_object_mut().unwrap());
        assert_eq!(
            details["typo"],
            json!({"order": 1, "typoCount": 1, "maxTypoCount": 3, "score": 0.75})
        );
        assert_eq!(details["words"]["score"], json!(1.0));
    }
}
