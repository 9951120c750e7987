//! From a parsed query to the ranked candidates: read the postings of every derivation, group
//! the occurrences by document, keep the documents the matching strategy accepts, and compute
//! each rule's details for them.

use std::collections::{BTreeMap, HashSet};

use super::fields::{any_leaf, max_weight, searchable_weight};
use super::index::SearchIndex;
use super::query::{DerivKind, Query, Term};
use super::ranking::{Detail, ExactKind, MatchingStrategy, Rank, Rule, Scored};
use super::tokenizer::bucketed_position;
use super::{DocId, Document, EngineSettings};

/// Words within this proximity are "close"; farther pairs all cost the same.
const MAX_PROXIMITY: u32 = 4;

/// One occurrence of a term in a document.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Occ {
    pub field: u16,
    /// First and last position (they differ for phrases).
    pub pos: u16,
    pub end: u16,
    pub typos: u8,
    /// The query word (or phrase) itself, not a derivation of it.
    pub exact: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Hit {
    doc: DocId,
    term: u8,
    occ: Occ,
}

/// How the matching strategy removes terms: groups of term indices, removed in order.
struct RemovalPlan {
    steps: Vec<Vec<usize>>,
    /// `maxMatchingWords`.
    max: u32,
}

/// Everything the per-document scoring needs, computed once per query.
pub struct Matcher<'a> {
    pub index: &'a SearchIndex,
    pub settings: &'a EngineSettings,
    pub query: &'a Query,
    pub rules: &'a [Rule],
    pub strategy: MatchingStrategy,
    /// Fields a search is restricted to (`attributesToSearchOn`), by field id.
    pub allowed_fields: Option<Vec<bool>>,
}

impl Matcher<'_> {
    /// Without a `words` rule before it (matching strategy `all`), the typo rule sees
    /// Meilisearch's whole query graph, where consecutive words also stand as one glued word
    /// (an n-gram costing one typo per extra word), and its maximum counts those paths.
    fn typo_sees_ngrams(&self) -> bool {
        let first_graph_rule = self.rules.iter().find(|r| !matches!(r, Rule::Sort { .. }));
        first_graph_rule == Some(&Rule::Typo)
    }

    /// Every candidate with its details, in no particular order. `keep` decides (filter,
    /// negated words are already handled) whether a matching document is a candidate.
    pub fn candidates(
        &self,
        docs: &BTreeMap<DocId, Document>,
        keep: &mut dyn FnMut(DocId) -> bool,
    ) -> Vec<(DocId, Scored)> {
        let terms = &self.query.terms;
        let n = terms.len();
        let field_count = self.index.field_count();
        let mut weights = Vec::with_capacity(field_count);
        let mut typo_exact = Vec::with_capacity(field_count);
        for f in 0..field_count {
            let name = u16::try_from(f)
                .ok()
                .and_then(|f| self.index.field_name(f))
                .unwrap_or("");
            weights.push(
                searchable_weight(self.settings.searchable.as_deref(), name).unwrap_or(u16::MAX),
            );
            typo_exact.push(
                self.settings
                    .typo_disable_on_attributes
                    .iter()
                    .any(|a| a == name || name.starts_with(&format!("{a}."))),
            );
        }
        let max_w = max_weight(self.settings.searchable.as_deref());

        let mut hits: Vec<Hit> = Vec::new();
        for (t, term) in terms.iter().enumerate() {
            let t8 = u8::try_from(t).unwrap_or(u8::MAX);
            self.gather(term, t8, &typo_exact, &mut hits);
        }
        hits.sort_unstable();
        hits.dedup();

        let excluded = self.excluded_docs();
        let plan = self.removal_plan(&hits);
        let ctx = DocContext {
            m: self,
            weights: &weights,
            max_weight: max_w,
            docs,
        };

        let mut out = Vec::new();
        let mut i = 0;
        let mut per_term: Vec<&[Hit]> = vec![&[]; n];
        while i < hits.len() {
            let doc = hits[i].doc;
            let mut j = i;
            while j < hits.len() && hits[j].doc == doc {
                j += 1;
            }
            let group = &hits[i..j];
            i = j;
            for s in per_term.iter_mut() {
                *s = &[];
            }
            let mut mask = 0u32;
            let mut a = 0;
            while a < group.len() {
                let t = group[a].term as usize;
                let mut b = a;
                while b < group.len() && group[b].term as usize == t {
                    b += 1;
                }
                if let Some(slot) = per_term.get_mut(t) {
                    *slot = &group[a..b];
                    mask |= 1 << t;
                }
                a = b;
            }
            let Some((kept, removed_cost)) = plan_outcome(&plan, mask, n, self.strategy) else {
                continue;
            };
            if excluded.contains(&doc) || !keep(doc) {
                continue;
            }
            let scored = ctx.score(doc, &per_term, kept, plan.max, removed_cost);
            out.push((doc, scored));
        }
        out
    }

    fn gather(&self, term: &Term, t: u8, typo_exact: &[bool], hits: &mut Vec<Hit>) {
        let allowed = |field: u16, typos: u8| -> bool {
            let f = field as usize;
            if typos > 0 && typo_exact.get(f).copied().unwrap_or(false) {
                return false;
            }
            match &self.allowed_fields {
                Some(a) => a.get(f).copied().unwrap_or(false),
                None => true,
            }
        };
        for d in &term.derivations {
            match &d.kind {
                DerivKind::Word { id, exact } => {
                    for p in self.index.postings(*id) {
                        if allowed(p.field, d.typos) {
                            hits.push(Hit {
                                doc: p.doc,
                                term: t,
                                occ: Occ {
                                    field: p.field,
                                    pos: p.pos,
                                    end: p.pos,
                                    typos: d.typos,
                                    exact: *exact,
                                },
                            });
                        }
                    }
                }
                DerivKind::Phrase(ids) => {
                    let exact = term.is_phrase;
                    for (doc, field, start, end) in phrase_occurrences(self.index, ids) {
                        if allowed(field, d.typos) {
                            hits.push(Hit {
                                doc,
                                term: t,
                                occ: Occ {
                                    field,
                                    pos: start,
                                    end,
                                    typos: d.typos,
                                    exact,
                                },
                            });
                        }
                    }
                }
            }
        }
    }

    fn excluded_docs(&self) -> HashSet<DocId> {
        let mut out = HashSet::new();
        for w in &self.query.negative_words {
            if let Some(id) = self.index.word_of(w) {
                out.extend(self.index.postings(id).iter().map(|p| p.doc));
            }
        }
        for phrase in &self.query.negative_phrases {
            let ids: Option<Vec<Option<u32>>> = phrase
                .iter()
                .map(|w| match w {
                    None => Some(None),
                    Some(w) => self.index.word_of(w).map(Some),
                })
                .collect();
            if let Some(ids) = ids {
                out.extend(
                    phrase_occurrences(self.index, &ids)
                        .into_iter()
                        .map(|(d, ..)| d),
                );
            }
        }
        out
    }

    fn removal_plan(&self, hits: &[Hit]) -> RemovalPlan {
        let terms = &self.query.terms;
        let phrase_words: usize = terms
            .iter()
            .filter(|t| t.is_phrase)
            .map(|t| t.original.split(' ').count())
            .sum();
        let has_mandatory = terms.iter().any(|t| t.is_phrase);
        let removable: Vec<usize> = (0..terms.len()).filter(|&i| !terms[i].is_phrase).collect();
        let mut steps: Vec<Vec<usize>> = match self.strategy {
            MatchingStrategy::All => Vec::new(),
            MatchingStrategy::Last => removable.iter().rev().map(|&i| vec![i]).collect(),
            MatchingStrategy::Frequency => {
                // Most frequent terms go first; equal frequencies go together.
                let mut freq = vec![0u64; terms.len()];
                let mut last: Option<(DocId, u8)> = None;
                for h in hits {
                    if last != Some((h.doc, h.term)) {
                        if let Some(f) = freq.get_mut(h.term as usize) {
                            *f += 1;
                        }
                        last = Some((h.doc, h.term));
                    }
                }
                let mut groups: BTreeMap<std::cmp::Reverse<u64>, Vec<usize>> = BTreeMap::new();
                for &i in &removable {
                    let f = if freq[i] == 0 { u64::MAX } else { freq[i] };
                    groups.entry(std::cmp::Reverse(f)).or_default().push(i);
                }
                groups.into_values().collect()
            }
        };
        if !has_mandatory {
            // The last group is never removed: something must match.
            steps.pop();
        }
        let removable_count: usize = steps.iter().map(Vec::len).sum();
        let adjust = if self.strategy == MatchingStrategy::All {
            0
        } else {
            phrase_words.saturating_sub(1)
        };
        let max = u32::try_from(1 + removable_count + adjust).unwrap_or(u32::MAX);
        RemovalPlan { steps, max }
    }
}

/// The terms a document keeps (bit mask) and the number of terms removed to accept it.
fn plan_outcome(
    plan: &RemovalPlan,
    mask: u32,
    n: usize,
    strategy: MatchingStrategy,
) -> Option<(u32, u32)> {
    let all: u32 = if n >= 32 { u32::MAX } else { (1u32 << n) - 1 };
    let mut required = all;
    let mut removed = 0u32;
    if mask & required == required {
        return Some((required, 0));
    }
    if strategy == MatchingStrategy::All {
        return None;
    }
    for step in &plan.steps {
        for &t in step {
            required &= !(1u32 << t);
            removed += 1;
        }
        if mask & required == required {
            return Some((required, removed));
        }
    }
    None
}

/// The typo rule's maximum over the query graph with 2- and 3-grams of adjacent words.
fn ngram_typo_max(terms: &[Term], settings: &EngineSettings) -> u32 {
    let n = terms.len();
    // best[i] = largest cost of a path covering terms[..i].
    let mut best = vec![0u32; n + 1];
    for i in 1..=n {
        best[i] = best[i - 1] + terms[i - 1].max_typo_cost();
        for k in 2..=3usize {
            if i < k {
                break;
            }
            let group = &terms[i - k..i];
            let glued = group.iter().all(|t| !t.is_phrase)
                && group.windows(2).all(|w| w[0].end + 1 == w[1].start);
            if !glued {
                break;
            }
            let word: String = group.iter().map(|t| t.original.as_str()).collect();
            let extra = u8::try_from(k - 1).unwrap_or(u8::MAX);
            let typos = super::query::typos_allowed(&word, settings).saturating_sub(extra);
            let cost = u32::try_from(k).unwrap_or(0) + u32::from(typos.max(1));
            best[i] = best[i].max(best[i - k] + cost);
        }
    }
    best[n]
}

/// Positions of a phrase: (doc, field, first position, last position).
pub fn phrase_occurrences(index: &SearchIndex, ids: &[Option<u32>]) -> Vec<(DocId, u16, u16, u16)> {
    let Some((anchor_offset, anchor)) = ids.iter().enumerate().find_map(|(i, w)| w.map(|w| (i, w)))
    else {
        return Vec::new();
    };
    let len = u16::try_from(ids.len()).unwrap_or(u16::MAX);
    let anchor_offset = u16::try_from(anchor_offset).unwrap_or(u16::MAX);
    let mut out = Vec::new();
    for p in index.postings(anchor) {
        let Some(start) = p.pos.checked_sub(anchor_offset) else {
            continue;
        };
        let all = ids.iter().enumerate().all(|(k, w)| match w {
            None => true,
            Some(w) => u16::try_from(k)
                .ok()
                .and_then(|k| start.checked_add(k))
                .is_some_and(|pos| index.has_at(*w, p.doc, p.field, pos)),
        });
        if all {
            out.push((p.doc, p.field, start, start.saturating_add(len - 1)));
        }
    }
    out
}

struct DocContext<'a, 'b> {
    m: &'a Matcher<'b>,
    weights: &'a [u16],
    max_weight: u16,
    docs: &'a BTreeMap<DocId, Document>,
}

/// Meilisearch's buckets of distance between where a word is and where it was in the query.
fn cost_from_distance(distance: u32) -> u32 {
    match distance {
        0 => 0,
        1 => 1,
        2..=4 => 2,
        5..=7 => 3,
        8..=11 => 4,
        12..=16 => 5,
        17..=24 => 6,
        25..=64 => 7,
        65..=256 => 8,
        257..=1024 => 9,
        _ => 10,
    }
}

fn proximity(left_end: u16, right_start: u16) -> Option<u32> {
    let (l, r) = (u32::from(left_end), u32::from(right_start));
    match r.cmp(&l) {
        std::cmp::Ordering::Greater => Some(r - l),
        std::cmp::Ordering::Less => Some(l - r + 1),
        std::cmp::Ordering::Equal => None,
    }
}

impl DocContext<'_, '_> {
    fn score(
        &self,
        doc: DocId,
        per_term: &[&[Hit]],
        kept: u32,
        words_max: u32,
        removed: u32,
    ) -> Scored {
        let terms = &self.m.query.terms;
        let kept_idx: Vec<usize> = (0..terms.len()).filter(|t| kept & (1 << t) != 0).collect();
        let min_typos: Vec<u8> = per_term
            .iter()
            .map(|hits| hits.iter().map(|h| h.occ.typos).min().unwrap_or(0))
            .collect();
        let mut narrowed = false;
        let occs = |t: usize, narrowed: bool| -> Vec<Occ> {
            let hits = per_term.get(t).copied().unwrap_or(&[]);
            let min = min_typos.get(t).copied().unwrap_or(0);
            hits.iter()
                .filter(|h| !narrowed || h.occ.typos == min)
                .map(|h| h.occ)
                .collect()
        };
        let mut details = Vec::with_capacity(self.m.rules.len());
        for rule in self.m.rules {
            match rule {
                Rule::Words => details.push(Detail::Words {
                    matching: words_max.saturating_sub(removed),
                    max: words_max,
                }),
                Rule::Typo => {
                    let count: u32 = kept_idx.iter().map(|&t| u32::from(min_typos[t])).sum();
                    let max: u32 = if self.m.typo_sees_ngrams() {
                        ngram_typo_max(terms, self.m.settings)
                    } else {
                        kept_idx.iter().map(|&t| terms[t].max_typo_cost()).sum()
                    };
                    details.push(Detail::Typo { count, max });
                    narrowed = true;
                }
                Rule::Proximity => {
                    let mut cost = 0;
                    let mut pairs = 0;
                    for w in kept_idx.windows(2) {
                        let (a, b) = (w[0], w[1]);
                        if terms[a].end + 1 != terms[b].start {
                            continue;
                        }
                        pairs += 1;
                        let (oa, ob) = (occs(a, narrowed), occs(b, narrowed));
                        let mut best = MAX_PROXIMITY;
                        for x in &oa {
                            for y in &ob {
                                if x.field == y.field
                                    && let Some(p) = proximity(x.end, y.pos)
                                {
                                    best = best.min(p);
                                }
                            }
                        }
                        cost += best.min(MAX_PROXIMITY) - 1;
                    }
                    let max = 1 + (MAX_PROXIMITY - 1) * pairs;
                    details.push(Detail::Proximity(Rank {
                        rank: max - cost,
                        max,
                    }));
                }
                Rule::Fid => details.push(Detail::Fid(self.fid_rank(&kept_idx, &occs, narrowed))),
                Rule::Position => details.push(Detail::Position(
                    self.position_rank(&kept_idx, &occs, narrowed),
                )),
                Rule::Attribute => {
                    let fid = self.fid_rank(&kept_idx, &occs, narrowed);
                    let pos = self.position_rank(&kept_idx, &occs, narrowed);
                    details.push(Detail::Attribute { fid, pos });
                }
                Rule::Exactness => {
                    details.push(self.exactness(doc, &kept_idx, &occs, &min_typos, narrowed))
                }
                Rule::Sort { field, asc } => {
                    let value = self
                        .docs
                        .get(&doc)
                        .map(|d| sort_value(d, field, *asc))
                        .unwrap_or(serde_json::Value::Null);
                    details.push(Detail::Sort {
                        field: field.clone(),
                        asc: *asc,
                        value,
                        rank: None,
                    });
                }
            }
        }
        Scored { details }
    }

    fn fid_rank(
        &self,
        kept: &[usize],
        occs: &dyn Fn(usize, bool) -> Vec<Occ>,
        narrowed: bool,
    ) -> Rank {
        let mut cost = 0u32;
        for &t in kept {
            let best = occs(t, narrowed)
                .iter()
                .map(|o| {
                    self.weights
                        .get(o.field as usize)
                        .copied()
                        .unwrap_or(self.max_weight)
                        .min(self.max_weight)
                })
                .min()
                .unwrap_or(self.max_weight);
            cost += u32::from(best);
        }
        let max = 1 + u32::from(self.max_weight) * u32::try_from(kept.len()).unwrap_or(0);
        Rank {
            rank: max - cost,
            max,
        }
    }

    fn position_rank(
        &self,
        kept: &[usize],
        occs: &dyn Fn(usize, bool) -> Vec<Occ>,
        narrowed: bool,
    ) -> Rank {
        let terms = &self.m.query.terms;
        let mut cost = 0u32;
        for &t in kept {
            let q = terms[t].start;
            let best = occs(t, narrowed)
                .iter()
                .map(|o| cost_from_distance(bucketed_position(u32::from(o.pos)).abs_diff(q)))
                .min()
                .unwrap_or(10);
            cost += best;
        }
        let max = 1 + 10 * u32::try_from(kept.len()).unwrap_or(0);
        Rank {
            rank: max - cost,
            max,
        }
    }

    fn exactness(
        &self,
        doc: DocId,
        kept: &[usize],
        occs: &dyn Fn(usize, bool) -> Vec<Occ>,
        min_typos: &[u8],
        narrowed: bool,
    ) -> Detail {
        let terms = &self.m.query.terms;
        // A term takes part only if its exact form survived the previous rules.
        let eligible: Vec<usize> = kept
            .iter()
            .copied()
            .filter(|&t| !narrowed || min_typos[t] == 0)
            .collect();
        let exact_occs: Vec<Vec<Occ>> = (0..terms.len())
            .map(|t| occs(t, narrowed).into_iter().filter(|o| o.exact).collect())
            .collect();
        let exact_words = eligible
            .iter()
            .filter(|&&t| !exact_occs[t].is_empty())
            .count();
        let words = Rank {
            rank: u32::try_from(exact_words).unwrap_or(0) + 1,
            max: u32::try_from(kept.len()).unwrap_or(0) + 1,
        };
        let kind = self.exact_attribute(doc, &eligible, &exact_occs);
        Detail::Exactness { kind, words }
    }

    fn exact_attribute(
        &self,
        doc: DocId,
        eligible: &[usize],
        exact_occs: &[Vec<Occ>],
    ) -> ExactKind {
        let terms = &self.m.query.terms;
        // No hole: the eligible terms must be the first ones of the query.
        if eligible.is_empty() || eligible.iter().enumerate().any(|(i, &t)| t != i) {
            return ExactKind::NoExactMatch;
        }
        // Each term at its query position, in some field.
        for &t in eligible {
            let q = bucketed_position(terms[t].start);
            if !exact_occs[t]
                .iter()
                .any(|o| bucketed_position(u32::from(o.pos)) == q)
            {
                return ExactKind::NoExactMatch;
            }
        }
        let positions: u32 = eligible
            .iter()
            .map(|&t| terms[t].end - terms[t].start + 1)
            .sum();
        let mut fields: Vec<u16> = exact_occs[eligible[0]].iter().map(|o| o.field).collect();
        fields.sort_unstable();
        fields.dedup();
        let mut kind = ExactKind::NoExactMatch;
        for f in fields {
            if eligible
                .iter()
                .all(|&t| exact_occs[t].iter().any(|o| o.field == f))
            {
                let count = self.m.index.field_word_count(doc, f).map(u32::from);
                if count == Some(positions) {
                    return ExactKind::ExactMatch;
                }
                kind = ExactKind::MatchesStart;
            }
        }
        kind
    }
}

/// The value a sort rule sees: the smallest (asc) or largest (desc) number of the field, else
/// its smallest/largest string (normalised), else null.
pub fn sort_value(doc: &Document, field: &str, asc: bool) -> serde_json::Value {
    let mut num: Option<f64> = None;
    let mut string: Option<String> = None;
    let better = |a: f64, b: f64| if asc { a < b } else { a > b };
    any_leaf(doc, field, &mut |v| {
        match v {
            serde_json::Value::Number(n) => {
                if let Some(f) = n.as_f64()
                    && num.is_none_or(|cur| better(f, cur))
                {
                    num = Some(f);
                }
            }
            serde_json::Value::String(_) | serde_json::Value::Bool(_) => {
                let s = match v {
                    serde_json::Value::String(s) => s.trim().to_lowercase(),
                    other => other.to_string(),
                };
                let replace = match &string {
                    None => true,
                    Some(cur) => {
                        if asc {
                            s < *cur
                        } else {
                            s > *cur
                        }
                    }
                };
                if replace {
                    string = Some(s);
                }
            }
            _ => {}
        }
        false
    });
    if let Some(f) = num {
        return serde_json::Number::from_f64(f)
            .map_or(serde_json::Value::Null, serde_json::Value::Number);
    }
    string.map_or(serde_json::Value::Null, serde_json::Value::String)
}
