//! The search engine of the stand-in node: tokenizer, inverted index, query evaluation with
//! Meilisearch 1.50's ranking rules and score details, filters, facets, formatting.
//!
//! Scores are corpus-independent on purpose: a document's ranking details depend only on the
//! document, the query and the settings (never on other documents), so that the answers of
//! shards can be merged exactly; hits come in the lexicographic order of those details, rule
//! by rule, ties broken by internal document id.
//!
//! The HTTP side owns the documents and the settings; it keeps a [`SearchIndex`] in step with
//! [`SearchIndex::insert`] / [`SearchIndex::remove`] and calls [`SearchIndex::rebuild`] after
//! any settings change (the index notices stale settings and then falls back to reading the
//! documents, slower but still right).
//!
//! What goes where: `tokenizer` (words and positions), `index` (inverted index),
//! `facet_index` + `docset` (filterable/sortable values), `query` + `levenshtein` (terms and
//! their derivations), `matching` + `ranking` (candidates and rule details), `pagination`
//! (threshold, distinct, counts), `format` (hits), `facets`, `facet_search`, `params`
//! (request parsing), `filter` (syntax and evaluation), `search` (the whole request).

use std::collections::{BTreeMap, BTreeSet};

pub mod filter;

mod docset;
mod facet_index;
mod facet_search;
mod facets;
pub(crate) mod fields;
mod format;
mod index;
mod levenshtein;
mod matching;
mod pagination;
mod params;
mod query;
mod ranking;
mod search;
mod tokenizer;

#[cfg(test)]
mod behaviour_tests;
#[cfg(test)]
mod tests;

pub use facet_search::facet_search;
pub use index::SearchIndex;
pub use params::{
    SEARCH_FIELDS, SearchQuery, parse_search_body, parse_search_body_with, parse_search_params,
};
pub use ranking::MatchingStrategy;
pub use search::search;

pub type DocId = u32;
pub type Document = serde_json::Map<String, serde_json::Value>;

/// The resolved settings the engine needs (the HTTP side owns the user-facing settings, their
/// defaults, validation and merging, and converts to this).
#[derive(Clone, Debug)]
pub struct EngineSettings {
    /// `None` = `*`: every field, all with the same weight.
    pub searchable: Option<Vec<String>>,
    /// `None` = `*`.
    pub displayed: Option<Vec<String>>,
    /// Attribute patterns as the user gave them.
    pub filterable: Vec<String>,
    pub sortable: Vec<String>,
    /// `words`, `typo`, `proximity`, `attribute` | `attributeRank`, `sort`, `wordPosition`,
    /// `exactness`, `field:asc|desc`.
    pub ranking_rules: Vec<String>,
    pub stop_words: BTreeSet<String>,
    pub synonyms: BTreeMap<String, Vec<String>>,
    pub separator_tokens: Vec<String>,
    pub non_separator_tokens: Vec<String>,
    pub dictionary: Vec<String>,
    pub distinct_attribute: Option<String>,
    pub typo_enabled: bool,
    /// Default 5.
    pub min_word_size_one_typo: u8,
    /// Default 9.
    pub min_word_size_two_typos: u8,
    pub typo_disable_on_words: BTreeSet<String>,
    pub typo_disable_on_attributes: BTreeSet<String>,
    pub typo_disable_on_numbers: bool,
    /// Default 100.
    pub max_values_per_facet: usize,
    /// Attribute (or `*`) -> `alpha` | `count`.
    pub sort_facet_values_by: BTreeMap<String, String>,
    /// Default 1000.
    pub max_total_hits: usize,
    pub facet_search: bool,
    /// `indexingTime` => true, `disabled` => false.
    pub prefix_search: bool,
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            searchable: None,
            displayed: None,
            filterable: Vec::new(),
            sortable: Vec::new(),
            ranking_rules: [
                "words",
                "typo",
                "proximity",
                "attributeRank",
                "sort",
                "wordPosition",
                "exactness",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            stop_words: BTreeSet::new(),
            synonyms: BTreeMap::new(),
            separator_tokens: Vec::new(),
            non_separator_tokens: Vec::new(),
            dictionary: Vec::new(),
            distinct_attribute: None,
            typo_enabled: true,
            min_word_size_one_typo: 5,
            min_word_size_two_typos: 9,
            typo_disable_on_words: BTreeSet::new(),
            typo_disable_on_attributes: BTreeSet::new(),
            typo_disable_on_numbers: false,
            max_values_per_facet: 100,
            sort_facet_values_by: [("*".to_string(), "alpha".to_string())]
                .into_iter()
                .collect(),
            max_total_hits: 1000,
            facet_search: true,
            prefix_search: true,
        }
    }
}

/// A read-only view of one index, what a search needs.
pub struct IndexView<'a> {
    pub uid: &'a str,
    pub primary_key: Option<&'a str>,
    pub docs: &'a BTreeMap<DocId, Document>,
    pub settings: &'a EngineSettings,
    pub search: &'a SearchIndex,
}
