//! Building a hit: the displayed and retrieved attributes, `_formatted` (highlighting with
//! pre/post tags, cropping to `cropLength` words with a marker, numbers as strings) and
//! `_matchesPosition`.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value, json};

use super::Document;
use super::fields::{PatternMatch, match_legacy, match_pattern};
use super::index::SearchIndex;
use super::query::{DerivKind, Query};
use super::tokenizer::{Token, Tokenizer};

/// Which words of a text match the query, and how much of them to highlight.
pub struct MatchSet {
    /// Word -> term index.
    words: HashMap<String, usize>,
    /// Prefix -> (term index, characters to highlight).
    prefixes: Vec<(String, usize, usize)>,
}

impl MatchSet {
    pub fn new(query: &Query, index: &SearchIndex) -> Self {
        let mut words = HashMap::new();
        let mut prefixes = Vec::new();
        for (t, term) in query.terms.iter().enumerate() {
            if term.is_phrase {
                for w in term.original.split(' ') {
                    words.entry(w.to_string()).or_insert(t);
                }
            } else {
                words.entry(term.original.clone()).or_insert(t);
                if term.is_prefix {
                    prefixes.push((term.original.clone(), t, term.original.chars().count()));
                }
            }
            for d in &term.derivations {
                let ids: Vec<u32> = match &d.kind {
                    DerivKind::Word { id, .. } => vec![*id],
                    // A split word's halves are not worth highlighting on their own.
                    DerivKind::Phrase(_) if d.typos > 0 => Vec::new(),
                    DerivKind::Phrase(ids) => ids.iter().flatten().copied().collect(),
                };
                for id in ids {
                    if let Some(w) = index.words.get(id as usize) {
                        // Prefix derivations highlight only the typed prefix.
                        let by_prefix = term.is_prefix
                            && w.word.starts_with(&term.original)
                            && w.word != term.original;
                        if !by_prefix {
                            words.entry(w.word.clone()).or_insert(t);
                        }
                    }
                }
            }
        }
        MatchSet { words, prefixes }
    }

    /// The term matched by a token and how many of its characters to highlight.
    fn match_token(&self, token: &Token) -> Option<(usize, Option<usize>)> {
        if token.stop {
            return None;
        }
        if let Some(t) = self.words.get(&token.word) {
            return Some((*t, None));
        }
        self.prefixes
            .iter()
            .find(|(p, _, _)| token.word.starts_with(p.as_str()))
            .map(|(_, t, chars)| (*t, Some(*chars)))
    }
}

/// The formatting options of a search.
pub struct FormatOptions<'a> {
    pub highlight: Vec<String>,
    /// Attribute pattern and its crop length.
    pub crop: Vec<(String, usize)>,
    pub crop_marker: &'a str,
    pub pre_tag: &'a str,
    pub post_tag: &'a str,
    pub show_matches_position: bool,
}

impl FormatOptions<'_> {
    fn wants_formatted(&self) -> bool {
        !self.highlight.is_empty() || !self.crop.is_empty()
    }
}

/// Keep the parts of `doc` selected by `patterns` (`*`, names, dotted paths), in document order.
pub fn select(doc: &Document, patterns: &[String]) -> Document {
    let mut out = Map::new();
    for (k, v) in doc {
        if patterns.iter().any(|p| match_pattern(p, k)) {
            out.insert(k.clone(), v.clone());
            continue;
        }
        let inner: Vec<String> = patterns
            .iter()
            .filter(|p| match_legacy(p, k) == PatternMatch::Parent)
            .map(|p| p[k.len() + 1..].to_string())
            .collect();
        if inner.is_empty() {
            continue;
        }
        match v {
            Value::Object(o) => {
                out.insert(k.clone(), Value::Object(select(o, &inner)));
            }
            Value::Array(items) => {
                let kept: Vec<Value> = items
                    .iter()
                    .filter_map(|i| i.as_object().map(|o| Value::Object(select(o, &inner))))
                    .filter(|v| v.as_object().is_some_and(|o| !o.is_empty()))
                    .collect();
                out.insert(k.clone(), Value::Array(kept));
            }
            _ => {}
        }
    }
    out
}

/// The hit for one document (without ranking fields).
pub fn build_hit(
    doc: &Document,
    displayed: Option<&[String]>,
    to_retrieve: Option<&[String]>,
    opts: &FormatOptions,
    matches: &MatchSet,
    tokenizer: &Tokenizer,
) -> Map<String, Value> {
    let all = vec!["*".to_string()];
    let displayed_patterns = displayed
        .map(<[String]>::to_vec)
        .unwrap_or_else(|| all.clone());
    let visible = select(doc, &displayed_patterns);
    let retrieve_patterns = to_retrieve.map(<[String]>::to_vec).unwrap_or(all);
    let mut hit = select(&visible, &retrieve_patterns);

    if opts.wants_formatted() {
        let mut patterns = retrieve_patterns.clone();
        patterns.extend(opts.highlight.iter().cloned());
        patterns.extend(opts.crop.iter().map(|(p, _)| p.clone()));
        let base = select(&visible, &patterns);
        let mut formatted = Map::new();
        for (k, v) in &base {
            formatted.insert(
                k.clone(),
                format_value(k, v, opts, matches, tokenizer, true),
            );
        }
        hit.insert("_formatted".into(), Value::Object(formatted));
    }
    if opts.show_matches_position {
        let mut positions = Map::new();
        for (k, v) in &visible {
            collect_positions(k, v, None, matches, tokenizer, &mut positions);
        }
        hit.insert("_matchesPosition".into(), Value::Object(positions));
    }
    hit
}

fn format_value(
    path: &str,
    v: &Value,
    opts: &FormatOptions,
    matches: &MatchSet,
    tokenizer: &Tokenizer,
    allow_crop: bool,
) -> Value {
    let highlight = opts.highlight.iter().any(|p| match_pattern(p, path));
    let crop = if allow_crop {
        opts.crop
            .iter()
            .find(|(p, _)| match_pattern(p, path))
            .map(|(_, n)| *n)
    } else {
        None
    };
    match v {
        Value::String(s) => {
            Value::String(format_text(s, highlight, crop, opts, matches, tokenizer))
        }
        Value::Number(n) => Value::String(format_text(
            &n.to_string(),
            highlight,
            crop,
            opts,
            matches,
            tokenizer,
        )),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|i| format_value(path, i, opts, matches, tokenizer, false))
                .collect(),
        ),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        format_value(
                            &format!("{path}.{k}"),
                            v,
                            opts,
                            matches,
                            tokenizer,
                            allow_crop,
                        ),
                    )
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

fn format_text(
    text: &str,
    highlight: bool,
    crop: Option<usize>,
    opts: &FormatOptions,
    matches: &MatchSet,
    tokenizer: &Tokenizer,
) -> String {
    if !highlight && crop.is_none() {
        return text.to_string();
    }
    let tokens = tokenizer.tokenize(text, 0);
    let matched: Vec<Option<(usize, Option<usize>)>> =
        tokens.iter().map(|t| matches.match_token(t)).collect();
    let (from, to) = match crop {
        Some(n) => crop_window(&tokens, &matched, n),
        None => (0, tokens.len()),
    };
    let mut out = String::new();
    let (text_start, text_end) = if crop.is_some() {
        if tokens.is_empty() || from >= to {
            return if crop == Some(0) || tokens.is_empty() {
                String::new()
            } else {
                text.to_string()
            };
        }
        (tokens[from].start, tokens[to - 1].end)
    } else {
        (0, text.len())
    };
    if crop.is_some() && from > 0 {
        out.push_str(opts.crop_marker);
    }
    let mut cursor = text_start;
    for (tok, m) in tokens.iter().zip(&matched).take(to).skip(from) {
        let Some((_, partial)) = m else { continue };
        if !highlight {
            continue;
        }
        out.push_str(&text[cursor..tok.start]);
        let end = match partial {
            Some(chars) => {
                let raw = &text[tok.start..tok.end];
                raw.char_indices()
                    .nth(*chars)
                    .map_or(tok.end, |(i, _)| tok.start + i)
            }
            None => tok.end,
        };
        out.push_str(opts.pre_tag);
        out.push_str(&text[tok.start..end]);
        out.push_str(opts.post_tag);
        cursor = end;
    }
    out.push_str(&text[cursor..text_end]);
    if crop.is_some() && to < tokens.len() {
        out.push_str(opts.crop_marker);
    }
    out
}

/// The words `[from, to)` to keep: the window of `n` words holding the most distinct query
/// terms (then the closest together), grown evenly around the matches.
fn crop_window(
    tokens: &[Token],
    matched: &[Option<(usize, Option<usize>)>],
    n: usize,
) -> (usize, usize) {
    let len = tokens.len();
    if len <= n {
        return (0, len);
    }
    let hits: Vec<(usize, usize)> = matched
        .iter()
        .enumerate()
        .filter_map(|(i, m)| m.map(|(t, _)| (i, t)))
        .collect();
    if hits.is_empty() || n == 0 {
        return (0, n.min(len));
    }
    let mut best: Option<((usize, i64, usize), usize, usize)> = None;
    for (a, &(first, _)) in hits.iter().enumerate() {
        let mut terms = HashSet::new();
        let mut last = first;
        let mut distance: i64 = 0;
        let mut ordered = 0usize;
        let mut prev: Option<(usize, usize)> = None;
        for &(i, t) in &hits[a..] {
            if i >= first + n {
                break;
            }
            terms.insert(t);
            if let Some((pi, pt)) = prev {
                distance += i64::try_from(i - pi).unwrap_or(i64::MAX);
                if t > pt {
                    ordered += 1;
                }
            }
            prev = Some((i, t));
            last = i;
        }
        let key = (terms.len(), -distance, ordered);
        if best.as_ref().is_none_or(|(k, _, _)| key > *k) {
            best = Some((key, first, last));
        }
    }
    let Some((_, first, last)) = best else {
        return (0, n);
    };
    let mut from = first;
    let mut to = last + 1;
    let mut remaining = n.saturating_sub(to - from);
    while remaining > 0 {
        let can_before = from > 0;
        let can_after = to < len;
        match (can_before, can_after) {
            (true, true) => {
                from -= 1;
                remaining -= 1;
                if remaining > 0 {
                    to += 1;
                    remaining -= 1;
                }
            }
            (true, false) => {
                from -= 1;
                remaining -= 1;
            }
            (false, true) => {
                to += 1;
                remaining -= 1;
            }
            (false, false) => break,
        }
    }
    (from, to)
}

fn collect_positions(
    path: &str,
    v: &Value,
    index: Option<usize>,
    matches: &MatchSet,
    tokenizer: &Tokenizer,
    out: &mut Map<String, Value>,
) {
    let text = match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                collect_positions(
                    path,
                    item,
                    Some(index.unwrap_or(i)),
                    matches,
                    tokenizer,
                    out,
                );
            }
            return;
        }
        Value::Object(o) => {
            for (k, child) in o {
                collect_positions(
                    &format!("{path}.{k}"),
                    child,
                    index,
                    matches,
                    tokenizer,
                    out,
                );
            }
            return;
        }
        _ => return,
    };
    for tok in tokenizer.tokenize(&text, 0) {
        let Some((_, partial)) = matches.match_token(&tok) else {
            continue;
        };
        let length = match partial {
            Some(chars) => text[tok.start..tok.end]
                .char_indices()
                .nth(chars)
                .map_or(tok.end - tok.start, |(i, _)| i),
            None => tok.end - tok.start,
        };
        let mut m = json!({"start": tok.start, "length": length});
        if let (Some(i), Some(o)) = (index, m.as_object_mut()) {
            o.insert("indices".into(), json!([i]));
        }
        if let Value::Array(list) = out
            .entry(path.to_string())
            .or_insert_with(|| Value::Array(Vec::new()))
        {
            list.push(m);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::*;
    use crate::engine::EngineSettings;
    use crate::engine::query::parse_query;

    fn setup(q: &str, texts: &[&str]) -> (SearchIndex, Query) {
        let s = EngineSettings::default();
        let mut idx = SearchIndex::new();
        for (i, t) in texts.iter().enumerate() {
            idx.insert(&s, i as u32, json!({"t": t}).as_object().unwrap());
        }
        let query = parse_query(q, &s, &idx);
        (idx, query)
    }

    fn opts(highlight: &[&str], crop: &[(&str, usize)]) -> FormatOptions<'static> {
        FormatOptions {
            highlight: highlight.iter().map(|s| s.to_string()).collect(),
            crop: crop.iter().map(|(s, n)| (s.to_string(), *n)).collect(),
            crop_marker: "…",
            pre_tag: "<em>",
            post_tag: "</em>",
            show_matches_position: true,
        }
    }

    #[test]
    fn recorded_highlight_and_crop() {
        let text = "Webpack loader that generates TypeScript typings for CSS modules";
        let (idx, q) = setup(
            "webpack loader",
            &[text, "Webpack loader for MessageFormat"],
        );
        let m = MatchSet::new(&q, &idx);
        let doc = json!({"id": 7718, "scope": null, "summary": text, "tags": ["loader", "x"]})
            .as_object()
            .cloned()
            .unwrap();
        let hit = build_hit(
            &doc,
            None,
            None,
            &opts(&["summary"], &[("summary", 5)]),
            &m,
            idx.tokenizer(),
        );
        assert_eq!(
            hit["_formatted"],
            json!({"id": "7718", "scope": null, "summary": "<em>Webpack</em> <em>loader</em> that generates TypeScript…", "tags": ["loader", "x"]})
        );
        let doc = json!({"summary": "Webpack loader for MessageFormat"})
            .as_object()
            .cloned()
            .unwrap();
        let hit = build_hit(
            &doc,
            None,
            None,
            &opts(&["summary"], &[("summary", 5)]),
            &m,
            idx.tokenizer(),
        );
        assert_eq!(
            hit["_formatted"]["summary"],
            json!("<em>Webpack</em> <em>loader</em> for MessageFormat")
        );
    }

    #[test]
    fn recorded_matches_position() {
        let (idx, q) = setup("webpack", &["Webpack driver for Beemo."]);
        let m = MatchSet::new(&q, &idx);
        let doc = json!({"id": 423, "name": "@beemo/driver-webpack", "summary": "Webpack driver for Beemo.", "tags": ["beemo", "driver", "webpack"]})
            .as_object()
            .cloned()
            .unwrap();
        let hit = build_hit(&doc, None, None, &opts(&[], &[]), &m, idx.tokenizer());
        assert!(hit.get("_formatted").is_none());
        assert_eq!(
            hit["_matchesPosition"],
            json!({"name": [{"start": 14, "length": 7}], "summary": [{"start": 0, "length": 7}], "tags": [{"start": 0, "length": 7, "indices": [2]}]})
        );
    }

    #[test]
    fn prefix_matches_highlight_the_prefix_and_crop_centres() {
        let (idx, q) = setup("reac", &["reactive"]);
        let m = MatchSet::new(&q, &idx);
        let doc = json!({"t": "one two three four reactive five six seven eight"})
            .as_object()
            .cloned()
            .unwrap();
        let hit = build_hit(
            &doc,
            None,
            None,
            &opts(&["*"], &[("t", 3)]),
            &m,
            idx.tokenizer(),
        );
        assert_eq!(
            hit["_formatted"]["t"],
            json!("…four <em>reac</em>tive five…")
        );
    }

    #[test]
    fn selection_follows_displayed_and_retrieved() {
        let doc = json!({"id": 1, "a": {"b": 1, "c": 2}, "d": 3})
            .as_object()
            .cloned()
            .unwrap();
        assert_eq!(
            Value::Object(select(&doc, &["a.b".into(), "id".into()])),
            json!({"id": 1, "a": {"b": 1}})
        );
        let (idx, q) = setup("x", &["x"]);
        let m = MatchSet::new(&q, &idx);
        let hit = build_hit(
            &doc,
            Some(&["id".into(), "d".into()]),
            Some(&["d".into(), "a".into()]),
            &opts(&[], &[]),
            &m,
            idx.tokenizer(),
        );
        assert_eq!(Value::Object(hit), json!({"d": 3, "_matchesPosition": {}}));
    }
}
