//! The inverted index: every word of the searchable fields with its postings (document,
//! field, position), kept sorted so that a query reads only the postings of the words it
//! derives, and maintained document by document.

use std::collections::{BTreeMap, HashMap};

use super::docset::DocSet;
use super::facet_index::{FacetIndex, FacetKey, patterns_of};
use super::fields::{leaves, searchable_weight};
use super::tokenizer::{HARD_GAP, MAX_WORD_LENGTH, Tokenizer};
use super::{DocId, Document, EngineSettings};

/// One occurrence of a word.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Posting {
    pub doc: DocId,
    pub field: u16,
    pub pos: u16,
}

pub(crate) struct WordEntry {
    pub word: String,
    /// Sorted by (doc, field, pos).
    pub postings: Vec<Posting>,
    /// Number of distinct documents holding the word.
    pub doc_count: u32,
}

#[derive(Default)]
struct DocEntry {
    words: Vec<u32>,
    facets: Vec<(std::sync::Arc<str>, FacetKey)>,
    /// Indexed words per field, for the exactness rule.
    field_counts: Vec<(u16, u16)>,
}

/// What the tokenizer depends on, to notice when settings changed it.
#[derive(Clone, Default, PartialEq)]
struct TokenizerKey {
    separators: Vec<String>,
    non_separators: Vec<String>,
    dictionary: Vec<String>,
    stop_words: std::collections::BTreeSet<String>,
}

impl TokenizerKey {
    fn of(s: &EngineSettings) -> Self {
        TokenizerKey {
            separators: s.separator_tokens.clone(),
            non_separators: s.non_separator_tokens.clone(),
            dictionary: s.dictionary.clone(),
            stop_words: s.stop_words.clone(),
        }
    }
}

/// Per-index search structures (inverted index over the searchable fields).
#[derive(Default)]
pub struct SearchIndex {
    fields: Vec<String>,
    field_ids: HashMap<String, u16>,
    pub(crate) dict: BTreeMap<String, u32>,
    pub(crate) words: Vec<WordEntry>,
    free_ids: Vec<u32>,
    docs: HashMap<DocId, DocEntry>,
    /// Every field path ever seen in a document (Meilisearch's fields map never shrinks).
    pub(crate) all_fields: std::collections::BTreeSet<String>,
    tokenizer: Tokenizer,
    tokenizer_key: TokenizerKey,
    pub(crate) facets: FacetIndex,
    /// Every indexed document.
    pub(crate) universe: DocSet,
}

impl SearchIndex {
    pub fn new() -> Self {
        Self::default()
    }

    /// Index (or re-index) one document.
    pub fn insert(&mut self, settings: &EngineSettings, id: DocId, doc: &Document) {
        self.sync_tokenizer(settings);
        if self.docs.contains_key(&id) {
            self.forget(id);
        }
        let mut occurrences: Vec<(u32, Posting)> = Vec::new();
        let mut last_position: HashMap<u16, u32> = HashMap::new();
        let mut counts: BTreeMap<u16, u16> = BTreeMap::new();
        for (path, value) in leaves(doc) {
            if !self.all_fields.contains(&path) {
                self.all_fields.insert(path.clone());
            }
            if searchable_weight(settings.searchable.as_deref(), &path).is_none() {
                continue;
            }
            let field = self.field_id(&path);
            let start = match last_position.get_mut(&field) {
                Some(p) => {
                    *p += HARD_GAP;
                    *p
                }
                None => {
                    last_position.insert(field, 0);
                    0
                }
            };
            let text = match value {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Bool(b) => b.to_string(),
                _ => continue,
            };
            for token in self.tokenizer.tokenize(&text, start) {
                let Ok(pos) = u16::try_from(token.position) else {
                    break;
                };
                last_position.insert(field, token.position);
                if token.stop || token.word.len() > MAX_WORD_LENGTH {
                    continue;
                }
                let word_id = self.word_id(&token.word);
                occurrences.push((
                    word_id,
                    Posting {
                        doc: id,
                        field,
                        pos,
                    },
                ));
                let c = counts.entry(field).or_insert(0);
                *c = c.saturating_add(1);
            }
        }
        occurrences.sort_unstable();
        occurrences.dedup();
        if self.docs.is_empty() && !self.facets.usable_for(&patterns_of(settings)) {
            // Nothing indexed yet: adopt the current filterable attributes.
            self.facets = FacetIndex::new(&patterns_of(settings));
        }
        let facets = self.facets.insert(&patterns_of(settings), id, doc);
        self.universe.insert(id);
        let mut entry = DocEntry {
            words: Vec::new(),
            facets,
            field_counts: counts.into_iter().collect(),
        };
        let mut i = 0;
        while i < occurrences.len() {
            let word_id = occurrences[i].0;
            let mut j = i;
            while j < occurrences.len() && occurrences[j].0 == word_id {
                j += 1;
            }
            if let Some(w) = self.words.get_mut(word_id as usize) {
                let new = occurrences[i..j].iter().map(|(_, p)| *p);
                let sorted_append = w.postings.last().is_none_or(|last| last.doc < id);
                if sorted_append {
                    w.postings.extend(new);
                } else {
                    let at = w.postings.partition_point(|p| p.doc < id);
                    w.postings.splice(at..at, new);
                }
                w.doc_count += 1;
            }
            entry.words.push(word_id);
            i = j;
        }
        self.docs.insert(id, entry);
    }

    /// Forget one document.
    pub fn remove(&mut self, _settings: &EngineSettings, id: DocId, _doc: &Document) {
        self.forget(id);
    }

    /// Rebuild everything after a settings change.
    pub fn rebuild<'a>(
        &mut self,
        settings: &EngineSettings,
        docs: impl Iterator<Item = (DocId, &'a Document)>,
    ) {
        *self = SearchIndex {
            facets: FacetIndex::new(&patterns_of(settings)),
            ..SearchIndex::default()
        };
        self.sync_tokenizer(settings);
        for (id, doc) in docs {
            self.insert(settings, id, doc);
        }
    }

    fn forget(&mut self, id: DocId) {
        let Some(entry) = self.docs.remove(&id) else {
            return;
        };
        self.facets.remove(id, &entry.facets);
        self.universe.remove(id);
        for word_id in entry.words {
            let Some(w) = self.words.get_mut(word_id as usize) else {
                continue;
            };
            let from = w.postings.partition_point(|p| p.doc < id);
            let to = w.postings.partition_point(|p| p.doc <= id);
            w.postings.drain(from..to);
            w.doc_count = w.doc_count.saturating_sub(1);
            if w.postings.is_empty() {
                let word = std::mem::take(&mut w.word);
                self.dict.remove(&word);
                self.free_ids.push(word_id);
            }
        }
    }

    fn sync_tokenizer(&mut self, settings: &EngineSettings) {
        let key = TokenizerKey::of(settings);
        if key != self.tokenizer_key || self.fields.is_empty() && self.docs.is_empty() {
            self.tokenizer = Tokenizer::new(
                &key.separators,
                &key.non_separators,
                &key.dictionary,
                &key.stop_words,
            );
            self.tokenizer_key = key;
        }
    }

    fn field_id(&mut self, path: &str) -> u16 {
        if let Some(id) = self.field_ids.get(path) {
            return *id;
        }
        let id = u16::try_from(self.fields.len()).unwrap_or(u16::MAX);
        self.fields.push(path.to_string());
        self.field_ids.insert(path.to_string(), id);
        id
    }

    fn word_id(&mut self, word: &str) -> u32 {
        if let Some(id) = self.dict.get(word) {
            return *id;
        }
        let entry = WordEntry {
            word: word.to_string(),
            postings: Vec::new(),
            doc_count: 0,
        };
        let id = match self.free_ids.pop() {
            Some(id) => {
                if let Some(slot) = self.words.get_mut(id as usize) {
                    *slot = entry;
                }
                id
            }
            None => {
                self.words.push(entry);
                u32::try_from(self.words.len() - 1).unwrap_or(u32::MAX)
            }
        };
        self.dict.insert(word.to_string(), id);
        id
    }

    /// The tokenizer matching the settings the index was last built with.
    pub(crate) fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    pub(crate) fn field_name(&self, field: u16) -> Option<&str> {
        self.fields.get(field as usize).map(String::as_str)
    }

    pub(crate) fn field_count(&self) -> usize {
        self.fields.len()
    }

    pub(crate) fn postings(&self, word_id: u32) -> &[Posting] {
        self.words
            .get(word_id as usize)
            .map(|w| w.postings.as_slice())
            .unwrap_or(&[])
    }

    pub(crate) fn word_of(&self, word: &str) -> Option<u32> {
        self.dict.get(word).copied()
    }

    /// Number of indexed words of `doc` in `field`.
    pub(crate) fn field_word_count(&self, doc: DocId, field: u16) -> Option<u16> {
        let entry = self.docs.get(&doc)?;
        entry
            .field_counts
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, c)| *c)
    }

    /// Whether `doc` holds `word_id` at (`field`, `pos`).
    pub(crate) fn has_at(&self, word_id: u32, doc: DocId, field: u16, pos: u16) -> bool {
        self.postings(word_id)
            .binary_search(&Posting { doc, field, pos })
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::*;

    fn doc(v: serde_json::Value) -> Document {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn postings_follow_inserts_and_removals() {
        let s = EngineSettings {
            searchable: Some(vec!["title".into(), "tags".into()]),
            ..Default::default()
        };
        let mut idx = SearchIndex::new();
        let d0 = doc(json!({"id": 1, "title": "Hello world", "tags": ["hello", "x"]}));
        let d1 = doc(json!({"id": 2, "title": "world"}));
        idx.insert(&s, 0, &d0);
        idx.insert(&s, 1, &d1);
        let world = idx.word_of("world").unwrap();
        assert_eq!(
            idx.postings(world),
            &[
                Posting {
                    doc: 0,
                    field: 0,
                    pos: 1
                },
                Posting {
                    doc: 1,
                    field: 0,
                    pos: 0
                }
            ]
        );
        let hello = idx.word_of("hello").unwrap();
        // Array values are 8 positions apart.
        assert_eq!(
            idx.postings(hello),
            &[
                Posting {
                    doc: 0,
                    field: 0,
                    pos: 0
                },
                Posting {
                    doc: 0,
                    field: 1,
                    pos: 0
                }
            ]
        );
        let x = idx.word_of("x").unwrap();
        assert_eq!(
            idx.postings(x),
            &[Posting {
                doc: 0,
                field: 1,
                pos: 8
            }]
        );
        assert_eq!(idx.words[world as usize].doc_count, 2);
        // The id is not searchable.
        assert!(idx.word_of("1").is_none());
        idx.remove(&s, 0, &d0);
        assert!(idx.word_of("hello").is_none());
        assert_eq!(
            idx.postings(world),
            &[Posting {
                doc: 1,
                field: 0,
                pos: 0
            }]
        );
        // Re-inserting an id replaces its postings.
        idx.insert(&s, 1, &doc(json!({"title": "other"})));
        assert!(idx.word_of("world").is_none());
        assert_eq!(idx.field_word_count(1, 0), Some(1));
    }
}
