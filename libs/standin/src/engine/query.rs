//! The search query: its terms (words, quoted phrases, the last word as a prefix), negated
//! words, and every dictionary word each term derives to (exact, prefix, typos, synonyms,
//! split words), with the number of typos each derivation costs.

use std::collections::BTreeMap;
use std::ops::Bound;

use super::EngineSettings;
use super::index::SearchIndex;
use super::levenshtein::{fuzzy_walk, successor};
use super::tokenizer::{Gap, normalize};

/// Meilisearch only considers the first ten terms of a query.
const MAX_TERMS: usize = 10;

/// What a term derives to in the dictionary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DerivKind {
    /// A single word; `exact` when it is the query word itself.
    Word { id: u32, exact: bool },
    /// Consecutive words (`None` = a stop word, any word at that place).
    Phrase(Vec<Option<u32>>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Derivation {
    pub kind: DerivKind,
    pub typos: u8,
}

/// One term of the query.
#[derive(Clone, Debug)]
pub struct Term {
    /// The normalised word, or the phrase's words joined by spaces.
    pub original: String,
    pub is_phrase: bool,
    /// Position range in the query.
    pub start: u32,
    pub end: u32,
    pub is_prefix: bool,
    /// Typos allowed by the settings for this word.
    pub max_typos: u8,
    pub derivations: Vec<Derivation>,
}

impl Term {
    /// The typo rule's maximum for this term: Meilisearch always counts one possible typo
    /// (a split word) for a single word, even when typos are not allowed.
    pub fn max_typo_cost(&self) -> u32 {
        if self.is_phrase {
            0
        } else {
            u32::from(self.max_typos.max(1))
        }
    }
}

/// A parsed query.
#[derive(Clone, Debug, Default)]
pub struct Query {
    pub terms: Vec<Term>,
    /// Words after `-`: documents holding them exactly are excluded.
    pub negative_words: Vec<String>,
    pub negative_phrases: Vec<Vec<Option<String>>>,
}

struct RawTerm {
    words: Vec<Option<String>>,
    phrase: bool,
    start: u32,
    end: u32,
    prefix: bool,
}

/// Split `q` into terms as Meilisearch does and expand them against the index's dictionary.
pub fn parse_query(q: &str, settings: &EngineSettings, index: &SearchIndex) -> Query {
    let tokenizer = index.tokenizer();
    let (tokens, _gaps, trailing) = tokenizer.tokenize_with_gaps(q, 0);
    let quotes = quote_ranges(q);
    let in_quotes = |at: usize| quotes.iter().position(|(s, e)| at > *s && at < *e);
    let negated_at = |at: usize| -> bool {
        // `-` right before, itself at the start or after whitespace.
        let before = &q[..at];
        before.ends_with('-')
            && before[..before.len() - 1]
                .chars()
                .next_back()
                .is_none_or(char::is_whitespace)
    };

    let mut raw: Vec<RawTerm> = Vec::new();
    let mut query = Query::default();
    let mut current_phrase: Option<(usize, RawTerm, bool)> = None;
    let count = tokens.len();
    for (i, tok) in tokens.iter().enumerate() {
        let last = i + 1 == count && trailing == Gap::None;
        match in_quotes(tok.start) {
            Some(qi) => {
                let word = if tok.stop {
                    None
                } else {
                    Some(tok.word.clone())
                };
                match &mut current_phrase {
                    Some((id, term, _)) if *id == qi => {
                        term.words.push(word);
                        term.end = tok.position;
                    }
                    _ => {
                        if let Some((_, term, neg)) = current_phrase.take() {
                            push_phrase(term, neg, &mut raw, &mut query);
                        }
                        let neg = negated_at(quotes[qi].0);
                        current_phrase = Some((
                            qi,
                            RawTerm {
                                words: vec![word],
                                phrase: true,
                                start: tok.position,
                                end: tok.position,
                                prefix: false,
                            },
                            neg,
                        ));
                    }
                }
            }
            None => {
                if let Some((_, term, neg)) = current_phrase.take() {
                    push_phrase(term, neg, &mut raw, &mut query);
                }
                if negated_at(tok.start) {
                    query.negative_words.push(tok.word.clone());
                    continue;
                }
                if tok.stop && !last {
                    continue;
                }
                raw.push(RawTerm {
                    words: vec![Some(tok.word.clone())],
                    phrase: false,
                    start: tok.position,
                    end: tok.position,
                    prefix: last && settings.prefix_search,
                });
            }
        }
    }
    if let Some((_, term, neg)) = current_phrase.take() {
        push_phrase(term, neg, &mut raw, &mut query);
    }
    raw.truncate(MAX_TERMS);

    for r in raw {
        query.terms.push(expand(r, settings, index));
    }
    query
}

fn push_phrase(term: RawTerm, negative: bool, raw: &mut Vec<RawTerm>, query: &mut Query) {
    if term.words.iter().all(Option::is_none) {
        return;
    }
    if negative {
        query.negative_phrases.push(term.words);
    } else {
        raw.push(term);
    }
}

/// Byte ranges `(open, close)` of double-quoted parts; an unclosed quote runs to the end.
fn quote_ranges(q: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut open: Option<usize> = None;
    for (i, c) in q.char_indices() {
        if c == '"' {
            match open.take() {
                Some(s) => out.push((s, i)),
                None => open = Some(i),
            }
        }
    }
    if let Some(s) = open {
        out.push((s, q.len()));
    }
    out
}

/// Typos allowed for a word by the typo-tolerance settings.
pub fn typos_allowed(word: &str, settings: &EngineSettings) -> u8 {
    let len = word.chars().count();
    if !settings.typo_enabled
        || len < usize::from(settings.min_word_size_one_typo)
        || settings
            .typo_disable_on_words
            .iter()
            .any(|w| normalize(w) == word)
        || (settings.typo_disable_on_numbers && word.chars().all(|c| c.is_ascii_digit()))
    {
        0
    } else if len < usize::from(settings.min_word_size_two_typos) {
        1
    } else {
        2
    }
}

fn expand(raw: RawTerm, settings: &EngineSettings, index: &SearchIndex) -> Term {
    if raw.phrase {
        let ids: Option<Vec<Option<u32>>> = raw
            .words
            .iter()
            .map(|w| match w {
                None => Some(None),
                Some(w) => index.word_of(w).map(Some),
            })
            .collect();
        let original = raw
            .words
            .iter()
            .flatten()
            .cloned()
            .collect::<Vec<_>>()
            .join(" ");
        let derivations = ids
            .map(|ids| {
                vec![Derivation {
                    kind: DerivKind::Phrase(ids),
                    typos: 0,
                }]
            })
            .unwrap_or_default();
        return Term {
            original,
            is_phrase: true,
            start: raw.start,
            end: raw.end,
            is_prefix: false,
            max_typos: 0,
            derivations,
        };
    }
    let word = raw.words.into_iter().flatten().next().unwrap_or_default();
    let max_typos = typos_allowed(&word, settings);
    let derivations = derive_word(&word, raw.prefix, max_typos, settings, index);
    Term {
        original: word,
        is_phrase: false,
        start: raw.start,
        end: raw.end,
        is_prefix: raw.prefix,
        max_typos,
        derivations,
    }
}

fn derive_word(
    word: &str,
    prefix: bool,
    max_typos: u8,
    settings: &EngineSettings,
    index: &SearchIndex,
) -> Vec<Derivation> {
    let dict = &index.dict;
    let mut best: BTreeMap<u32, u8> = BTreeMap::new();
    let mut note = |id: u32, typos: u8| {
        let e = best.entry(id).or_insert(typos);
        *e = (*e).min(typos);
    };
    let exact_id = index.word_of(word);
    if let Some(id) = exact_id {
        note(id, 0);
    }
    if prefix {
        for (w, id) in dict.range::<str, _>((Bound::Included(word), Bound::Unbounded)) {
            if !w.starts_with(word) {
                break;
            }
            note(*id, 0);
        }
    }
    let chars: Vec<char> = word.chars().collect();
    if max_typos > 0
        && let Some(first) = chars.first()
    {
        let lo = first.to_string();
        let hi = successor(&lo);
        let hi_bound = hi.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
        // Same first letter: up to `max_typos` edits.
        fuzzy_walk(
            dict,
            &chars,
            max_typos,
            prefix,
            Bound::Included(lo.as_str()),
            hi_bound,
            |_, id, d| {
                if d > 0 {
                    note(id, d);
                }
            },
        );
        if max_typos >= 2 {
            // A typo on the first letter costs two: one edit allowed elsewhere.
            let mut other = |_: &str, id: u32, _d: u8| note(id, 2);
            fuzzy_walk(
                dict,
                &chars,
                1,
                prefix,
                Bound::Unbounded,
                Bound::Excluded(lo.as_str()),
                &mut other,
            );
            if let Some(h) = hi.as_deref() {
                fuzzy_walk(
                    dict,
                    &chars,
                    1,
                    prefix,
                    Bound::Included(h),
                    Bound::Unbounded,
                    &mut other,
                );
            }
        }
    }
    let mut out: Vec<Derivation> = best
        .into_iter()
        .map(|(id, typos)| Derivation {
            kind: DerivKind::Word {
                id,
                exact: Some(id) == exact_id,
            },
            typos,
        })
        .collect();

    // Synonyms are zero-typo alternatives; several words make a phrase.
    let tokenizer = index.tokenizer();
    for (key, alternatives) in &settings.synonyms {
        if normalize(key.trim()) != word {
            continue;
        }
        for alt in alternatives {
            let words: Vec<String> = tokenizer
                .tokenize(alt, 0)
                .into_iter()
                .filter(|t| !t.stop)
                .map(|t| t.word)
                .collect();
            match words.as_slice() {
                [] => {}
                [one] => {
                    if let Some(id) = index.word_of(one)
                        && !out.iter().any(
                            |d| matches!(d.kind, DerivKind::Word { id: other, .. } if other == id),
                        )
                    {
                        out.push(Derivation {
                            kind: DerivKind::Word { id, exact: false },
                            typos: 0,
                        });
                    }
                }
                many => {
                    let ids: Option<Vec<Option<u32>>> =
                        many.iter().map(|w| index.word_of(w).map(Some)).collect();
                    if let Some(ids) = ids {
                        out.push(Derivation {
                            kind: DerivKind::Phrase(ids),
                            typos: 0,
                        });
                    }
                }
            }
        }
    }

    // A word glued from two indexed words matches them side by side, for one typo.
    for (i, _) in word.char_indices().skip(1) {
        let (l, r) = word.split_at(i);
        if let (Some(a), Some(b)) = (index.word_of(l), index.word_of(r)) {
            out.push(Derivation {
                kind: DerivKind::Phrase(vec![Some(a), Some(b)]),
                typos: 1,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::*;

    fn index_of(texts: &[&str]) -> (EngineSettings, SearchIndex) {
        let s = EngineSettings::default();
        let mut idx = SearchIndex::new();
        for (i, t) in texts.iter().enumerate() {
            let d = json!({ "t": t }).as_object().cloned().unwrap();
            idx.insert(&s, i as u32, &d);
        }
        (s, idx)
    }

    fn words_of(idx: &SearchIndex, t: &Term) -> Vec<(String, u8)> {
        let mut v: Vec<(String, u8)> = t
            .derivations
            .iter()
            .filter_map(|d| match d.kind {
                DerivKind::Word { id, .. } => Some((idx.words[id as usize].word.clone(), d.typos)),
                _ => None,
            })
            .collect();
        v.sort();
        v
    }

    #[test]
    fn last_word_is_a_prefix_unless_followed_by_a_separator() {
        let (s, idx) = index_of(&["react reactive router"]);
        let q = parse_query("router reac", &s, &idx);
        assert_eq!(q.terms.len(), 2);
        assert!(!q.terms[0].is_prefix && q.terms[1].is_prefix);
        assert_eq!(
            words_of(&idx, &q.terms[1]),
            vec![("react".into(), 0), ("reactive".into(), 0)]
        );
        let q = parse_query("reac ", &s, &idx);
        assert!(!q.terms[0].is_prefix);
    }

    #[test]
    fn typos_follow_word_length() {
        let (s, idx) = index_of(&["react recat reacts"]);
        assert_eq!(typos_allowed("vue", &s), 0);
        assert_eq!(typos_allowed("react", &s), 1);
        assert_eq!(typos_allowed("component", &s), 2);
        let q = parse_query("recat ", &s, &idx);
        // `reacts` is two edits away: a transposition and an insertion.
        assert_eq!(
            words_of(&idx, &q.terms[0]),
            vec![("react".into(), 1), ("recat".into(), 0)]
        );
        assert_eq!(q.terms[0].max_typo_cost(), 1);
        let q = parse_query("vue ", &s, &idx);
        assert_eq!(q.terms[0].max_typo_cost(), 1);
    }

    #[test]
    fn first_letter_typo_costs_two() {
        let (s, idx) = index_of(&["xomponent xomponents component components"]);
        let q = parse_query("component ", &s, &idx);
        // Another first letter allows no other edit.
        assert_eq!(
            words_of(&idx, &q.terms[0]),
            vec![
                ("component".into(), 0),
                ("components".into(), 1),
                ("xomponent".into(), 2)
            ]
        );
    }

    #[test]
    fn phrases_negations_and_stop_words() {
        let mut s = EngineSettings::default();
        s.stop_words.insert("the".into());
        let mut idx = SearchIndex::new();
        idx.insert(
            &s,
            0,
            json!({"t": "the big cat eats fish"}).as_object().unwrap(),
        );
        let q = parse_query("\"big cat\" -fish the", &s, &idx);
        assert_eq!(q.terms.len(), 2);
        assert!(q.terms[0].is_phrase);
        assert_eq!(q.terms[0].original, "big cat");
        // A stop word in last position is kept, as a prefix.
        assert_eq!(q.terms[1].original, "the");
        assert_eq!(q.negative_words, vec!["fish".to_string()]);
        let q = parse_query("the cat", &s, &idx);
        assert_eq!(q.terms.len(), 1);
        assert_eq!(q.terms[0].start, 1);
    }

    #[test]
    fn synonyms_and_split_words() {
        let mut s = EngineSettings::default();
        s.synonyms.insert("film".into(), vec!["movie".into()]);
        let mut idx = SearchIndex::new();
        idx.insert(
            &s,
            0,
            json!({"t": "movie night sun flower"}).as_object().unwrap(),
        );
        let q = parse_query("film ", &s, &idx);
        assert_eq!(words_of(&idx, &q.terms[0]), vec![("movie".into(), 0)]);
        let q = parse_query("sunflower ", &s, &idx);
        assert!(
            q.terms[0]
                .derivations
                .iter()
                .any(|d| matches!(d.kind, DerivKind::Phrase(_)) && d.typos == 1)
        );
    }
}
