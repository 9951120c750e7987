//! An index's user-facing settings object: its Meilisearch 1.50 defaults, the validation of a
//! `PATCH /settings` body or of a sub-route body (with Meilisearch's error codes and messages),
//! the task `details` a change shows (only the keys sent, in canonical order), merging a change
//! in (`null` resets), the `GET` view, and the conversion to what the engine needs.

use std::collections::{BTreeMap, BTreeSet};

use miroir_proto::error::{ErrorCode, MeiliError};
use serde_json::{Map, Value, json};

use crate::deserr;
use crate::engine::EngineSettings;

/// A field of a settings change: left alone, reset to its default, or given a value.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Setting<T> {
    #[default]
    NotSet,
    Reset,
    Set(T),
}

/// Every field a settings body may have, in Meilisearch's order (the order of the error message
/// for an unknown field, of task details and of the `GET` view).
pub const FIELDS: &[&str] = &[
    "displayedAttributes",
    "searchableAttributes",
    "filterableAttributes",
    "sortableAttributes",
    "foreignKeys",
    "rankingRules",
    "stopWords",
    "nonSeparatorTokens",
    "separatorTokens",
    "dictionary",
    "synonyms",
    "distinctAttribute",
    "proximityPrecision",
    "typoTolerance",
    "faceting",
    "pagination",
    "embedders",
    "searchCutoffMs",
    "localizedAttributes",
    "facetSearch",
    "prefixSearch",
    "chat",
];

/// The settings sub-routes: path segment, field, and the verb that updates it.
pub const SUB_ROUTES: &[(&str, &str, &str)] = &[
    ("filterable-attributes", "filterableAttributes", "PUT"),
    ("sortable-attributes", "sortableAttributes", "PUT"),
    ("displayed-attributes", "displayedAttributes", "PUT"),
    ("typo-tolerance", "typoTolerance", "PATCH"),
    ("searchable-attributes", "searchableAttributes", "PUT"),
    ("stop-words", "stopWords", "PUT"),
    ("non-separator-tokens", "nonSeparatorTokens", "PUT"),
    ("separator-tokens", "separatorTokens", "PUT"),
    ("dictionary", "dictionary", "PUT"),
    ("synonyms", "synonyms", "PUT"),
    ("distinct-attribute", "distinctAttribute", "PUT"),
    ("proximity-precision", "proximityPrecision", "PUT"),
    ("localized-attributes", "localizedAttributes", "PUT"),
    ("ranking-rules", "rankingRules", "PUT"),
    ("faceting", "faceting", "PATCH"),
    ("pagination", "pagination", "PATCH"),
    ("embedders", "embedders", "PATCH"),
    ("search-cutoff-ms", "searchCutoffMs", "PUT"),
    ("facet-search", "facetSearch", "PUT"),
    ("prefix-search", "prefixSearch", "PUT"),
    ("foreign-keys", "foreignKeys", "PUT"),
];

const DEFAULT_RANKING_RULES: &[&str] = &[
    "words",
    "typo",
    "proximity",
    "attributeRank",
    "sort",
    "wordPosition",
    "exactness",
];

/// The settings an index has.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    pub displayed: Option<Vec<String>>,
    pub searchable: Option<Vec<String>>,
    pub filterable: Vec<Value>,
    pub sortable: BTreeSet<String>,
    pub ranking_rules: Vec<String>,
    pub stop_words: BTreeSet<String>,
    pub non_separator_tokens: BTreeSet<String>,
    pub separator_tokens: BTreeSet<String>,
    pub dictionary: BTreeSet<String>,
    pub synonyms: BTreeMap<String, Vec<String>>,
    pub distinct_attribute: Option<String>,
    pub proximity_precision: String,
    pub typo_enabled: bool,
    pub one_typo: u8,
    pub two_typos: u8,
    pub disable_on_words: BTreeSet<String>,
    pub disable_on_attributes: BTreeSet<String>,
    pub disable_on_numbers: bool,
    pub max_values_per_facet: usize,
    pub sort_facet_values_by: BTreeMap<String, String>,
    pub max_total_hits: usize,
    pub search_cutoff_ms: Option<u64>,
    pub localized_attributes: Option<Vec<Value>>,
    /// Embedders by name; the stand-in knows `userProvided` ones (vectors given with documents).
    pub embedders: Map<String, Value>,
    pub facet_search: bool,
    pub prefix_search: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            displayed: None,
            searchable: None,
            filterable: Vec::new(),
            sortable: BTreeSet::new(),
            ranking_rules: DEFAULT_RANKING_RULES
                .iter()
                .map(|s| s.to_string())
                .collect(),
            stop_words: BTreeSet::new(),
            non_separator_tokens: BTreeSet::new(),
            separator_tokens: BTreeSet::new(),
            dictionary: BTreeSet::new(),
            synonyms: BTreeMap::new(),
            distinct_attribute: None,
            proximity_precision: "byWord".into(),
            typo_enabled: true,
            one_typo: 5,
            two_typos: 9,
            disable_on_words: BTreeSet::new(),
            disable_on_attributes: BTreeSet::new(),
            disable_on_numbers: false,
            max_values_per_facet: 100,
            sort_facet_values_by: [("*".to_string(), "alpha".to_string())]
                .into_iter()
                .collect(),
            max_total_hits: 1000,
            search_cutoff_ms: None,
            localized_attributes: None,
            embedders: Map::new(),
            facet_search: true,
            prefix_search: "indexingTime".into(),
        }
    }
}

impl Settings {
    /// The whole `GET /settings` object.
    pub fn view(&self) -> Value {
        let mut out = Map::new();
        // `foreignKeys` has a sub-route but, with its feature off, no place in the whole object.
        for field in FIELDS.iter().filter(|f| **f != "foreignKeys") {
            if let Some(v) = self.field_view(field) {
                out.insert(field.to_string(), v);
            }
        }
        Value::Object(out)
    }

    /// One field as `GET /settings` and its sub-route show it; `None` for fields a Community
    /// Edition node does not show (`chat`; `foreignKeys` only on its sub-route, as `[]`).
    pub fn field_view(&self, field: &str) -> Option<Value> {
        let wildcard =
            |v: &Option<Vec<String>>| v.clone().map_or_else(|| json!(["*"]), |v| json!(v));
        Some(match field {
            "displayedAttributes" => wildcard(&self.displayed),
            "searchableAttributes" => wildcard(&self.searchable),
            "filterableAttributes" => json!(self.filterable),
            "sortableAttributes" => json!(self.sortable),
            "rankingRules" => json!(self.ranking_rules),
            "stopWords" => json!(self.stop_words),
            "nonSeparatorTokens" => json!(self.non_separator_tokens),
            "separatorTokens" => json!(self.separator_tokens),
            "dictionary" => json!(self.dictionary),
            "synonyms" => json!(self.synonyms),
            "distinctAttribute" => json!(self.distinct_attribute),
            "proximityPrecision" => json!(self.proximity_precision),
            "typoTolerance" => json!({
                "enabled": self.typo_enabled,
                "minWordSizeForTypos": {"oneTypo": self.one_typo, "twoTypos": self.two_typos},
                "disableOnWords": self.disable_on_words,
                "disableOnAttributes": self.disable_on_attributes,
                "disableOnNumbers": self.disable_on_numbers,
            }),
            "faceting" => json!({
                "maxValuesPerFacet": self.max_values_per_facet,
                "sortFacetValuesBy": self.sort_facet_values_by,
            }),
            "pagination" => json!({"maxTotalHits": self.max_total_hits}),
            "embedders" => json!(self.embedders),
            "searchCutoffMs" => json!(self.search_cutoff_ms),
            "localizedAttributes" => json!(self.localized_attributes),
            "facetSearch" => json!(self.facet_search),
            "prefixSearch" => json!(self.prefix_search),
            // Never set: the `foreignKeys` feature is off on the stand-in.
            "foreignKeys" => json!([]),
            _ => return None,
        })
    }

    /// What the engine needs of these settings.
    pub fn to_engine(&self) -> EngineSettings {
        let mut filterable = Vec::new();
        for rule in &self.filterable {
            match rule {
                Value::String(s) => filterable.push(s.clone()),
                Value::Object(o) => {
                    if let Some(Value::Array(patterns)) = o.get("attributePatterns") {
                        filterable.extend(
                            patterns
                                .iter()
                                .filter_map(|p| p.as_str().map(str::to_string)),
                        );
                    }
                }
                _ => {}
            }
        }
        EngineSettings {
            searchable: self.searchable.clone(),
            displayed: self.displayed.clone(),
            filterable,
            sortable: self.sortable.iter().cloned().collect(),
            ranking_rules: self.ranking_rules.clone(),
            stop_words: self.stop_words.clone(),
            synonyms: self.synonyms.clone(),
            separator_tokens: self.separator_tokens.iter().cloned().collect(),
            non_separator_tokens: self.non_separator_tokens.iter().cloned().collect(),
            dictionary: self.dictionary.iter().cloned().collect(),
            distinct_attribute: self.distinct_attribute.clone(),
            typo_enabled: self.typo_enabled,
            min_word_size_one_typo: self.one_typo,
            min_word_size_two_typos: self.two_typos,
            typo_disable_on_words: self.disable_on_words.clone(),
            typo_disable_on_attributes: self.disable_on_attributes.clone(),
            typo_disable_on_numbers: self.disable_on_numbers,
            max_values_per_facet: self.max_values_per_facet,
            sort_facet_values_by: self.sort_facet_values_by.clone(),
            max_total_hits: self.max_total_hits,
            facet_search: self.facet_search,
            prefix_search: self.prefix_search != "disabled",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct TypoPatch {
    enabled: Setting<bool>,
    min_word_size: Setting<(Setting<u8>, Setting<u8>)>,
    disable_on_words: Setting<BTreeSet<String>>,
    disable_on_attributes: Setting<BTreeSet<String>>,
    disable_on_numbers: Setting<bool>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct FacetingPatch {
    max_values_per_facet: Setting<usize>,
    sort_facet_values_by: Setting<BTreeMap<String, String>>,
}

/// A validated settings change (`PATCH /settings`, a sub-route, or a reset).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SettingsPatch {
    displayed: Setting<Vec<String>>,
    searchable: Setting<Vec<String>>,
    filterable: Setting<Vec<Value>>,
    sortable: Setting<BTreeSet<String>>,
    ranking_rules: Setting<Vec<String>>,
    stop_words: Setting<BTreeSet<String>>,
    non_separator_tokens: Setting<BTreeSet<String>>,
    separator_tokens: Setting<BTreeSet<String>>,
    dictionary: Setting<BTreeSet<String>>,
    synonyms: Setting<BTreeMap<String, Vec<String>>>,
    distinct_attribute: Setting<String>,
    proximity_precision: Setting<String>,
    typo_tolerance: Setting<TypoPatch>,
    faceting: Setting<FacetingPatch>,
    pagination: Setting<Setting<usize>>,
    embedders: Setting<Map<String, Value>>,
    search_cutoff_ms: Setting<u64>,
    localized_attributes: Setting<Vec<Value>>,
    facet_search: Setting<bool>,
    prefix_search: Setting<String>,
    /// `foreignKeys` reset (`null`): the only change accepted while the `foreignKeys`
    /// experimental feature is off, which it always is on the stand-in.
    foreign_keys_reset: bool,
}

impl SettingsPatch {
    /// Parses a `PATCH /settings` body.
    pub fn parse(body: &Value) -> Result<Self, MeiliError> {
        let map = body
            .as_object()
            .ok_or_else(|| deserr::invalid_type(ErrorCode::BadRequest, "", "an object", body))?;
        let mut patch = SettingsPatch::default();
        for (k, v) in map {
            if !FIELDS.contains(&k.as_str()) {
                return Err(deserr::unknown_field(ErrorCode::BadRequest, "", k, FIELDS));
            }
            patch.parse_field(k, &format!(".{k}"), v)?;
        }
        Ok(patch)
    }

    /// Parses a sub-route body: the field's value itself, `null` resetting it.
    pub fn parse_sub_route(field: &str, body: &Value) -> Result<Self, MeiliError> {
        let mut patch = SettingsPatch::default();
        patch.parse_field(field, "", body)?;
        Ok(patch)
    }

    /// `DELETE` of one sub-route.
    pub fn reset_field(field: &str) -> Self {
        let mut patch = SettingsPatch::default();
        // A reset cannot fail to parse: `null` is accepted for every field.
        let _ = patch.parse_field(field, "", &Value::Null);
        patch
    }

    /// `DELETE /settings`: everything back to its default.
    pub fn reset_all() -> Self {
        let mut patch = SettingsPatch::default();
        for field in FIELDS {
            if !matches!(*field, "foreignKeys" | "chat") {
                let _ = patch.parse_field(field, "", &Value::Null);
            }
        }
        patch
    }

    fn parse_field(&mut self, field: &str, loc: &str, v: &Value) -> Result<(), MeiliError> {
        let code = code_for(field);
        match field {
            "displayedAttributes" => {
                self.displayed = nullable(v, |v| deserr::json_strings(code, loc, v))?
            }
            "searchableAttributes" => {
                self.searchable = nullable(v, |v| deserr::json_strings(code, loc, v))?
            }
            "filterableAttributes" => {
                self.filterable = nullable(v, |v| parse_filterable(code, loc, v))?
            }
            "sortableAttributes" => {
                self.sortable = nullable(v, |v| {
                    Ok(deserr::json_strings(code, loc, v)?.into_iter().collect())
                })?
            }
            "rankingRules" => {
                self.ranking_rules = nullable(v, |v| parse_ranking_rules(code, loc, v))?
            }
            "stopWords" => self.stop_words = nullable(v, |v| string_set(code, loc, v))?,
            "nonSeparatorTokens" => {
                self.non_separator_tokens = nullable(v, |v| string_set(code, loc, v))?
            }
            "separatorTokens" => self.separator_tokens = nullable(v, |v| string_set(code, loc, v))?,
            "dictionary" => self.dictionary = nullable(v, |v| string_set(code, loc, v))?,
            "synonyms" => self.synonyms = nullable(v, |v| parse_synonyms(code, loc, v))?,
            "distinctAttribute" => {
                self.distinct_attribute = nullable(v, |v| deserr::json_string(code, loc, v))?
            }
            "proximityPrecision" => {
                self.proximity_precision =
                    nullable(v, |v| one_of(code, loc, v, &["byWord", "byAttribute"]))?
            }
            "typoTolerance" => self.typo_tolerance = nullable(v, |v| parse_typo(code, loc, v))?,
            "faceting" => self.faceting = nullable(v, |v| parse_faceting(code, loc, v))?,
            "pagination" => self.pagination = nullable(v, |v| parse_pagination(code, loc, v))?,
            "embedders" => self.embedders = nullable(v, |v| parse_embedders(code, loc, v))?,
            "searchCutoffMs" => {
                self.search_cutoff_ms = nullable(v, |v| {
                    v.as_u64()
                        .ok_or_else(|| deserr::invalid_type(code, loc, "a positive integer", v))
                })?
            }
            "localizedAttributes" => {
                self.localized_attributes = nullable(v, |v| parse_localized(code, loc, v))?
            }
            "facetSearch" => self.facet_search = nullable(v, |v| deserr::json_bool(code, loc, v))?,
            "prefixSearch" => {
                self.prefix_search =
                    nullable(v, |v| one_of(code, loc, v, &["indexingTime", "disabled"]))?
            }
            "foreignKeys" => {
                if v.is_null() {
                    self.foreign_keys_reset = true;
                    return Ok(());
                }
                check_foreign_keys(code, loc, v)?;
                return Err(MeiliError::new(
                    ErrorCode::FeatureNotEnabled,
                    "setting `foreignKeys` in the index settings requires enabling the `foreign_keys` experimental feature. See https://github.com/orgs/meilisearch/discussions/873",
                ));
            }
            "chat" => {
                return Err(feature_not_enabled(
                    "Using the `chat` setting",
                    "chatCompletions",
                ));
            }
            other => {
                return Err(deserr::unknown_field(
                    ErrorCode::BadRequest,
                    "",
                    other,
                    FIELDS,
                ));
            }
        }
        Ok(())
    }

    /// The task `details` of this change: only the fields sent, in Meilisearch's order; a reset
    /// is `null`, except for the two wildcard lists which show `["*"]`.
    pub fn details(&self) -> Map<String, Value> {
        let mut out = Map::new();
        let mut put = |name: &str, v: Option<Value>| {
            if let Some(v) = v {
                out.insert(name.to_string(), v);
            }
        };
        let wildcard = |s: &Setting<Vec<String>>| match s {
            Setting::NotSet => None,
            Setting::Reset => Some(json!(["*"])),
            Setting::Set(v) => Some(json!(v)),
        };
        put("displayedAttributes", wildcard(&self.displayed));
        put("searchableAttributes", wildcard(&self.searchable));
        put("filterableAttributes", shown(&self.filterable));
        put("sortableAttributes", shown(&self.sortable));
        put("rankingRules", shown(&self.ranking_rules));
        put("stopWords", shown(&self.stop_words));
        put("nonSeparatorTokens", shown(&self.non_separator_tokens));
        put("separatorTokens", shown(&self.separator_tokens));
        put("dictionary", shown(&self.dictionary));
        put("synonyms", shown(&self.synonyms));
        put("distinctAttribute", shown(&self.distinct_attribute));
        put("proximityPrecision", shown(&self.proximity_precision));
        put(
            "typoTolerance",
            shown_with(&self.typo_tolerance, typo_details),
        );
        put("faceting", shown_with(&self.faceting, faceting_details));
        put(
            "pagination",
            shown_with(&self.pagination, |p| {
                let mut m = Map::new();
                if let Some(v) = shown(p) {
                    m.insert("maxTotalHits".into(), v);
                }
                Value::Object(m)
            }),
        );
        put("embedders", shown(&self.embedders));
        put("searchCutoffMs", shown(&self.search_cutoff_ms));
        put("localizedAttributes", shown(&self.localized_attributes));
        put("facetSearch", shown(&self.facet_search));
        put("prefixSearch", shown(&self.prefix_search));
        if self.foreign_keys_reset {
            put("foreignKeys", Some(Value::Null));
        }
        out
    }

    /// The settings after this change, or the error the task fails with.
    pub fn apply(&self, current: &Settings) -> Result<Settings, MeiliError> {
        let d = Settings::default();
        let mut s = current.clone();
        let wild = |v: &Vec<String>| {
            if v.iter().any(|f| f == "*") {
                None
            } else {
                Some(v.clone())
            }
        };
        merge(&mut s.displayed, &self.displayed, d.displayed.clone(), wild);
        merge(
            &mut s.searchable,
            &self.searchable,
            d.searchable.clone(),
            wild,
        );
        merge(
            &mut s.filterable,
            &self.filterable,
            d.filterable.clone(),
            Clone::clone,
        );
        merge(
            &mut s.sortable,
            &self.sortable,
            d.sortable.clone(),
            Clone::clone,
        );
        merge(
            &mut s.ranking_rules,
            &self.ranking_rules,
            d.ranking_rules.clone(),
            Clone::clone,
        );
        merge(
            &mut s.stop_words,
            &self.stop_words,
            d.stop_words.clone(),
            Clone::clone,
        );
        merge(
            &mut s.non_separator_tokens,
            &self.non_separator_tokens,
            d.non_separator_tokens.clone(),
            Clone::clone,
        );
        merge(
            &mut s.separator_tokens,
            &self.separator_tokens,
            d.separator_tokens.clone(),
            Clone::clone,
        );
        merge(
            &mut s.dictionary,
            &self.dictionary,
            d.dictionary.clone(),
            Clone::clone,
        );
        merge(
            &mut s.synonyms,
            &self.synonyms,
            d.synonyms.clone(),
            Clone::clone,
        );
        merge(
            &mut s.distinct_attribute,
            &self.distinct_attribute,
            None,
            |v| Some(v.clone()),
        );
        merge(
            &mut s.proximity_precision,
            &self.proximity_precision,
            d.proximity_precision.clone(),
            Clone::clone,
        );
        match &self.typo_tolerance {
            Setting::NotSet => {}
            Setting::Reset => {
                s.typo_enabled = d.typo_enabled;
                s.one_typo = d.one_typo;
                s.two_typos = d.two_typos;
                s.disable_on_words = d.disable_on_words.clone();
                s.disable_on_attributes = d.disable_on_attributes.clone();
                s.disable_on_numbers = d.disable_on_numbers;
            }
            Setting::Set(t) => {
                merge(&mut s.typo_enabled, &t.enabled, d.typo_enabled, |v| *v);
                match &t.min_word_size {
                    Setting::NotSet => {}
                    Setting::Reset => {
                        s.one_typo = d.one_typo;
                        s.two_typos = d.two_typos;
                    }
                    Setting::Set((one, two)) => {
                        merge(&mut s.one_typo, one, d.one_typo, |v| *v);
                        merge(&mut s.two_typos, two, d.two_typos, |v| *v);
                    }
                }
                merge(
                    &mut s.disable_on_words,
                    &t.disable_on_words,
                    d.disable_on_words.clone(),
                    Clone::clone,
                );
                merge(
                    &mut s.disable_on_attributes,
                    &t.disable_on_attributes,
                    d.disable_on_attributes.clone(),
                    Clone::clone,
                );
                merge(
                    &mut s.disable_on_numbers,
                    &t.disable_on_numbers,
                    d.disable_on_numbers,
                    |v| *v,
                );
            }
        }
        match &self.faceting {
            Setting::NotSet => {}
            Setting::Reset => {
                s.max_values_per_facet = d.max_values_per_facet;
                s.sort_facet_values_by = d.sort_facet_values_by.clone();
            }
            Setting::Set(f) => {
                merge(
                    &mut s.max_values_per_facet,
                    &f.max_values_per_facet,
                    d.max_values_per_facet,
                    |v| *v,
                );
                merge(
                    &mut s.sort_facet_values_by,
                    &f.sort_facet_values_by,
                    d.sort_facet_values_by.clone(),
                    |m| {
                        // The `*` entry always exists; a map without one gets the default order.
                        let mut m = m.clone();
                        m.entry("*".to_string())
                            .or_insert_with(|| "alpha".to_string());
                        m
                    },
                );
            }
        }
        match &self.pagination {
            Setting::NotSet => {}
            Setting::Reset => s.max_total_hits = d.max_total_hits,
            Setting::Set(p) => merge(&mut s.max_total_hits, p, d.max_total_hits, |v| *v),
        }
        merge(&mut s.search_cutoff_ms, &self.search_cutoff_ms, None, |v| {
            Some(*v)
        });
        merge(
            &mut s.localized_attributes,
            &self.localized_attributes,
            None,
            |v| Some(v.clone()),
        );
        // Embedders are patched by name: `null` removes one, an object replaces it.
        let mut embedders = s.embedders.clone();
        if let Setting::Set(changes) = &self.embedders {
            for (name, change) in changes {
                if change.is_null() {
                    embedders.shift_remove(name);
                } else {
                    embedders.insert(name.clone(), change.clone());
                }
            }
        }
        merge(&mut s.embedders, &self.embedders, Map::new(), |_| {
            embedders.clone()
        });
        merge(
            &mut s.facet_search,
            &self.facet_search,
            d.facet_search,
            |v| *v,
        );
        merge(
            &mut s.prefix_search,
            &self.prefix_search,
            d.prefix_search.clone(),
            Clone::clone,
        );
        if s.one_typo > s.two_typos {
            return Err(MeiliError::new(
                ErrorCode::InvalidSettingsTypoTolerance,
                format!(
                    "`minWordSizeForTypos` setting is invalid. `oneTypo` and `twoTypos` fields should be between `0` and `255`, and `twoTypos` should be greater or equals to `oneTypo` but found `oneTypo: {}` and twoTypos: {}`.",
                    s.one_typo, s.two_typos
                ),
            ));
        }
        Ok(s)
    }

    pub fn is_empty(&self) -> bool {
        *self == SettingsPatch::default()
    }
}

fn merge<T, U>(target: &mut T, change: &Setting<U>, default: T, set: impl Fn(&U) -> T) {
    match change {
        Setting::NotSet => {}
        Setting::Reset => *target = default,
        Setting::Set(v) => *target = set(v),
    }
}

fn shown<T: serde::Serialize>(s: &Setting<T>) -> Option<Value> {
    shown_with(s, |v| json!(v))
}

fn shown_with<T>(s: &Setting<T>, f: impl Fn(&T) -> Value) -> Option<Value> {
    match s {
        Setting::NotSet => None,
        Setting::Reset => Some(Value::Null),
        Setting::Set(v) => Some(f(v)),
    }
}

fn typo_details(t: &TypoPatch) -> Value {
    let mut m = Map::new();
    if let Some(v) = shown(&t.enabled) {
        m.insert("enabled".into(), v);
    }
    if let Some(v) = shown_with(&t.min_word_size, |(one, two)| {
        let mut mw = Map::new();
        if let Some(v) = shown(one) {
            mw.insert("oneTypo".into(), v);
        }
        if let Some(v) = shown(two) {
            mw.insert("twoTypos".into(), v);
        }
        Value::Object(mw)
    }) {
        m.insert("minWordSizeForTypos".into(), v);
    }
    if let Some(v) = shown(&t.disable_on_words) {
        m.insert("disableOnWords".into(), v);
    }
    if let Some(v) = shown(&t.disable_on_attributes) {
        m.insert("disableOnAttributes".into(), v);
    }
    if let Some(v) = shown(&t.disable_on_numbers) {
        m.insert("disableOnNumbers".into(), v);
    }
    Value::Object(m)
}

fn faceting_details(f: &FacetingPatch) -> Value {
    let mut m = Map::new();
    if let Some(v) = shown(&f.max_values_per_facet) {
        m.insert("maxValuesPerFacet".into(), v);
    }
    if let Some(v) = shown(&f.sort_facet_values_by) {
        m.insert("sortFacetValuesBy".into(), v);
    }
    Value::Object(m)
}

fn code_for(field: &str) -> ErrorCode {
    match field {
        "displayedAttributes" => ErrorCode::InvalidSettingsDisplayedAttributes,
        "searchableAttributes" => ErrorCode::InvalidSettingsSearchableAttributes,
        "filterableAttributes" => ErrorCode::InvalidSettingsFilterableAttributes,
        "sortableAttributes" => ErrorCode::InvalidSettingsSortableAttributes,
        "rankingRules" => ErrorCode::InvalidSettingsRankingRules,
        "stopWords" => ErrorCode::InvalidSettingsStopWords,
        "nonSeparatorTokens" => ErrorCode::InvalidSettingsNonSeparatorTokens,
        "separatorTokens" => ErrorCode::InvalidSettingsSeparatorTokens,
        "dictionary" => ErrorCode::InvalidSettingsDictionary,
        "synonyms" => ErrorCode::InvalidSettingsSynonyms,
        "distinctAttribute" => ErrorCode::InvalidSettingsDistinctAttribute,
        "proximityPrecision" => ErrorCode::InvalidSettingsProximityPrecision,
        "typoTolerance" => ErrorCode::InvalidSettingsTypoTolerance,
        "faceting" => ErrorCode::InvalidSettingsFaceting,
        "pagination" => ErrorCode::InvalidSettingsPagination,
        "embedders" => ErrorCode::InvalidSettingsEmbedders,
        "searchCutoffMs" => ErrorCode::InvalidSettingsSearchCutoffMs,
        "localizedAttributes" => ErrorCode::InvalidSettingsLocalizedAttributes,
        "facetSearch" => ErrorCode::InvalidSettingsFacetSearch,
        "prefixSearch" => ErrorCode::InvalidSettingsPrefixSearch,
        "foreignKeys" => ErrorCode::InvalidSettingsForeignKeys,
        _ => ErrorCode::BadRequest,
    }
}

/// The shape of `foreignKeys`, checked before the feature is (as a node does): a list of
/// `{"foreignIndexUid": string, "fieldName": string}`.
fn check_foreign_keys(code: ErrorCode, loc: &str, v: &Value) -> Result<(), MeiliError> {
    const KEYS: &[&str] = &["foreignIndexUid", "fieldName"];
    let Value::Array(items) = v else {
        return Err(deserr::invalid_type(code, loc, "an array", v));
    };
    for (i, item) in items.iter().enumerate() {
        let at = format!("{loc}[{i}]");
        let map = deserr::json_object(code, &at, item)?;
        for (k, val) in map {
            if !KEYS.contains(&k.as_str()) {
                return Err(deserr::unknown_field(code, &at, k, KEYS));
            }
            if !val.is_string() {
                return Err(deserr::invalid_type(
                    code,
                    &format!("{at}.{k}"),
                    "a string",
                    val,
                ));
            }
        }
        for k in KEYS {
            if !map.contains_key(*k) {
                return Err(deserr::missing_field(code, &at, k));
            }
        }
    }
    Ok(())
}

fn feature_not_enabled(action: &str, feature: &str) -> MeiliError {
    MeiliError::new(
        ErrorCode::FeatureNotEnabled,
        format!(
            "{action} requires enabling the `{feature}` experimental feature. See https://github.com/orgs/meilisearch/discussions"
        ),
    )
}

fn nullable<T>(
    v: &Value,
    parse: impl FnOnce(&Value) -> Result<T, MeiliError>,
) -> Result<Setting<T>, MeiliError> {
    if v.is_null() {
        Ok(Setting::Reset)
    } else {
        parse(v).map(Setting::Set)
    }
}

fn string_set(code: ErrorCode, loc: &str, v: &Value) -> Result<BTreeSet<String>, MeiliError> {
    Ok(deserr::json_strings(code, loc, v)?.into_iter().collect())
}

fn one_of(code: ErrorCode, loc: &str, v: &Value, accepted: &[&str]) -> Result<String, MeiliError> {
    let s = deserr::json_string(code, loc, v)?;
    if accepted.contains(&s.as_str()) {
        Ok(s)
    } else {
        Err(deserr::unknown_value(code, loc, &s, accepted))
    }
}

fn small_int(code: ErrorCode, loc: &str, v: &Value) -> Result<u8, MeiliError> {
    let n = v
        .as_u64()
        .ok_or_else(|| deserr::invalid_type(code, loc, "a positive integer", v))?;
    u8::try_from(n).map_err(|_| {
        deserr::invalid_value(
            code,
            loc,
            format!(
                "value: `{n}` is too large to be deserialized, maximum value authorized is `255`"
            ),
        )
    })
}

fn parse_ranking_rules(code: ErrorCode, loc: &str, v: &Value) -> Result<Vec<String>, MeiliError> {
    let rules = deserr::json_strings(code, loc, v)?;
    for (i, rule) in rules.iter().enumerate() {
        if let Err(msg) = check_ranking_rule(rule) {
            return Err(deserr::invalid_value(code, &format!("{loc}[{i}]"), msg));
        }
    }
    Ok(rules)
}

/// milli's `Criterion::from_str`, with the rule names of Meilisearch 1.50.
fn check_ranking_rule(rule: &str) -> Result<(), String> {
    if miroir_proto::RANKING_RULES.contains(&rule) {
        return Ok(());
    }
    let invalid = || {
        format!(
            "`{rule}` ranking rule is invalid. Valid ranking rules are words, typo, sort, proximity, attribute, exactness and custom ranking rules."
        )
    };
    let Some((field, order)) = rule.rsplit_once(':') else {
        return Err(invalid());
    };
    if order != "asc" && order != "desc" {
        return Err(invalid());
    }
    let reserved = |name: &str| {
        format!("`{name}` is a reserved keyword and thus can't be used as a ranking rule")
    };
    if field.starts_with("_geoPoint") {
        return Err(format!(
            "{}. `_geoPoint` can only be used for sorting at search time",
            reserved("_geoPoint")
        ));
    }
    for name in ["_geoRadius", "_geoBoundingBox", "_geoPolygon"] {
        if field.starts_with(name) {
            return Err(format!(
                "{}. `{name}` can only be used for filtering at search time",
                reserved(name)
            ));
        }
    }
    if field == "_geo" || field == "_geoDistance" {
        return Err(reserved(field));
    }
    if field.is_empty() {
        return Err(invalid());
    }
    Ok(())
}

fn parse_filterable(code: ErrorCode, loc: &str, v: &Value) -> Result<Vec<Value>, MeiliError> {
    let Value::Array(items) = v else {
        return Err(deserr::invalid_type(code, loc, "an array", v));
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let loc = format!("{loc}[{i}]");
        match item {
            Value::String(_) => out.push(item.clone()),
            Value::Object(o) => {
                const RULE: &[&str] = &["attributePatterns", "features"];
                let mut has_patterns = false;
                for (k, val) in o {
                    let inner = format!("{loc}.{k}");
                    match k.as_str() {
                        "attributePatterns" => {
                            deserr::json_strings(code, &inner, val)?;
                            has_patterns = true;
                        }
                        "features" => check_features(code, &inner, val)?,
                        other => return Err(deserr::unknown_field(code, &loc, other, RULE)),
                    }
                }
                if !has_patterns {
                    return Err(deserr::missing_field(code, &loc, "attributePatterns"));
                }
                out.push(item.clone());
            }
            other => {
                return Err(deserr::invalid_type(
                    code,
                    &loc,
                    "a string or an object",
                    other,
                ));
            }
        }
    }
    Ok(out)
}

fn check_features(code: ErrorCode, loc: &str, v: &Value) -> Result<(), MeiliError> {
    const FEATURES: &[&str] = &["facetSearch", "filter"];
    const FILTER: &[&str] = &["equality", "comparison"];
    for (k, val) in deserr::json_object(code, loc, v)? {
        let inner = format!("{loc}.{k}");
        match k.as_str() {
            "facetSearch" => {
                deserr::json_bool(code, &inner, val)?;
            }
            "filter" => {
                for (fk, fv) in deserr::json_object(code, &inner, val)? {
                    if !FILTER.contains(&fk.as_str()) {
                        return Err(deserr::unknown_field(code, &inner, fk, FILTER));
                    }
                    deserr::json_bool(code, &format!("{inner}.{fk}"), fv)?;
                }
            }
            other => return Err(deserr::unknown_field(code, loc, other, FEATURES)),
        }
    }
    Ok(())
}

fn parse_synonyms(
    code: ErrorCode,
    loc: &str,
    v: &Value,
) -> Result<BTreeMap<String, Vec<String>>, MeiliError> {
    let mut out = BTreeMap::new();
    for (k, val) in deserr::json_object(code, loc, v)? {
        out.insert(
            k.clone(),
            deserr::json_strings(code, &format!("{loc}.{k}"), val)?,
        );
    }
    Ok(out)
}

fn parse_typo(code: ErrorCode, loc: &str, v: &Value) -> Result<TypoPatch, MeiliError> {
    const TYPO: &[&str] = &[
        "enabled",
        "minWordSizeForTypos",
        "disableOnWords",
        "disableOnAttributes",
        "disableOnNumbers",
    ];
    const MIN: &[&str] = &["oneTypo", "twoTypos"];
    let mut t = TypoPatch::default();
    for (k, val) in deserr::json_object(code, loc, v)? {
        let inner = format!("{loc}.{k}");
        match k.as_str() {
            "enabled" => t.enabled = nullable(val, |v| deserr::json_bool(code, &inner, v))?,
            "minWordSizeForTypos" => {
                t.min_word_size = nullable(val, |v| {
                    let (mut one, mut two) = (Setting::NotSet, Setting::NotSet);
                    for (mk, mv) in deserr::json_object(code, &inner, v)? {
                        let at = format!("{inner}.{mk}");
                        match mk.as_str() {
                            "oneTypo" => one = nullable(mv, |v| small_int(code, &at, v))?,
                            "twoTypos" => two = nullable(mv, |v| small_int(code, &at, v))?,
                            other => return Err(deserr::unknown_field(code, &inner, other, MIN)),
                        }
                    }
                    if let (Setting::Set(o), Setting::Set(w)) = (&one, &two)
                        && o > w
                    {
                        return Err(deserr::invalid_value(
                            code,
                            &inner,
                            format!(
                                "`minWordSizeForTypos` setting is invalid. `oneTypo` and `twoTypos` fields should be between `0` and `255`, and `twoTypos` should be greater or equals to `oneTypo` but found `oneTypo: {o}` and twoTypos: {w}`."
                            ),
                        ));
                    }
                    Ok((one, two))
                })?
            }
            "disableOnWords" => {
                t.disable_on_words = nullable(val, |v| string_set(code, &inner, v))?
            }
            "disableOnAttributes" => {
                t.disable_on_attributes = nullable(val, |v| string_set(code, &inner, v))?
            }
            "disableOnNumbers" => {
                t.disable_on_numbers = nullable(val, |v| deserr::json_bool(code, &inner, v))?
            }
            other => return Err(deserr::unknown_field(code, loc, other, TYPO)),
        }
    }
    Ok(t)
}

fn parse_faceting(code: ErrorCode, loc: &str, v: &Value) -> Result<FacetingPatch, MeiliError> {
    const FACETING: &[&str] = &["maxValuesPerFacet", "sortFacetValuesBy"];
    let mut f = FacetingPatch::default();
    for (k, val) in deserr::json_object(code, loc, v)? {
        let inner = format!("{loc}.{k}");
        match k.as_str() {
            "maxValuesPerFacet" => {
                f.max_values_per_facet = nullable(val, |v| deserr::json_usize(code, &inner, v))?
            }
            "sortFacetValuesBy" => {
                f.sort_facet_values_by = nullable(val, |v| {
                    let mut out = BTreeMap::new();
                    for (name, order) in deserr::json_object(code, &inner, v)? {
                        out.insert(
                            name.clone(),
                            one_of(code, &format!("{inner}.{name}"), order, &["alpha", "count"])?,
                        );
                    }
                    Ok(out)
                })?
            }
            other => return Err(deserr::unknown_field(code, loc, other, FACETING)),
        }
    }
    Ok(f)
}

fn parse_pagination(code: ErrorCode, loc: &str, v: &Value) -> Result<Setting<usize>, MeiliError> {
    let mut max = Setting::NotSet;
    for (k, val) in deserr::json_object(code, loc, v)? {
        let inner = format!("{loc}.{k}");
        match k.as_str() {
            "maxTotalHits" => max = nullable(val, |v| deserr::json_usize(code, &inner, v))?,
            other => return Err(deserr::unknown_field(code, loc, other, &["maxTotalHits"])),
        }
    }
    Ok(max)
}

fn parse_embedders(
    code: ErrorCode,
    loc: &str,
    v: &Value,
) -> Result<Map<String, Value>, MeiliError> {
    let map = deserr::json_object(code, loc, v)?;
    for (name, embedder) in map {
        if embedder.is_null() {
            continue;
        }
        // Only `userProvided` embedders (vectors come with the documents): the stand-in has no
        // model to embed text with.
        let at = format!("{loc}.{name}");
        let fields = deserr::json_object(code, &at, embedder)?;
        let source = fields.get("source").and_then(Value::as_str);
        if source != Some("userProvided") {
            return Err(MeiliError::new(
                ErrorCode::NotImplemented,
                format!(
                    "The Miroir stand-in node implements only `userProvided` embedders (embedder `{name}`)."
                ),
            ));
        }
        if let Some(d) = fields.get("dimensions") {
            deserr::json_usize(code, &format!("{at}.dimensions"), d)?;
        }
    }
    Ok(map.clone())
}

fn parse_localized(code: ErrorCode, loc: &str, v: &Value) -> Result<Vec<Value>, MeiliError> {
    const RULE: &[&str] = &["attributePatterns", "locales"];
    let Value::Array(items) = v else {
        return Err(deserr::invalid_type(code, loc, "an array", v));
    };
    for (i, item) in items.iter().enumerate() {
        let at = format!("{loc}[{i}]");
        let o = deserr::json_object(code, &at, item)?;
        for (k, val) in o {
            match k.as_str() {
                "attributePatterns" | "locales" => {
                    deserr::json_strings(code, &format!("{at}.{k}"), val)?;
                }
                other => return Err(deserr::unknown_field(code, &at, other, RULE)),
            }
        }
        for required in RULE {
            if !o.contains_key(*required) {
                return Err(deserr::missing_field(code, &at, required));
            }
        }
    }
    Ok(items.clone())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn recorded_patch_details_and_merge() {
        let body = json!({"searchableAttributes": ["title"], "displayedAttributes": ["*"], "rankingRules": ["words", "typo", "proximity", "attribute", "sort", "exactness", "year:desc"], "stopWords": ["the"], "synonyms": {"film": ["movie"]}, "distinctAttribute": null, "typoTolerance": {"minWordSizeForTypos": {"oneTypo": 4}}, "pagination": {"maxTotalHits": 500}, "faceting": {"maxValuesPerFacet": 50}});
        let patch = SettingsPatch::parse(&body).unwrap();
        let details = Value::Object(patch.details());
        let expected = json!({"displayedAttributes": ["*"], "searchableAttributes": ["title"], "rankingRules": ["words", "typo", "proximity", "attribute", "sort", "exactness", "year:desc"], "stopWords": ["the"], "synonyms": {"film": ["movie"]}, "distinctAttribute": null, "typoTolerance": {"minWordSizeForTypos": {"oneTypo": 4}}, "faceting": {"maxValuesPerFacet": 50}, "pagination": {"maxTotalHits": 500}});
        assert_eq!(
            serde_json::to_string(&details).unwrap(),
            serde_json::to_string(&expected).unwrap()
        );
        let s = patch.apply(&Settings::default()).unwrap();
        assert_eq!(s.one_typo, 4);
        assert_eq!(s.two_typos, 9);
        assert_eq!(s.max_total_hits, 500);
        assert_eq!(s.displayed, None);
    }

    #[test]
    fn sortable_details_are_sorted_and_unknown_fields_listed() {
        let patch =
            SettingsPatch::parse(&json!({"sortableAttributes": ["year", "title"]})).unwrap();
        assert_eq!(
            Value::Object(patch.details()),
            json!({"sortableAttributes": ["title", "year"]})
        );
        let e = SettingsPatch::parse(&json!({"nope": 1})).unwrap_err();
        assert!(
            e.message
                .starts_with("Unknown field `nope`: expected one of `displayedAttributes`"),
            "{}",
            e.message
        );
        let e = SettingsPatch::parse(&json!({"rankingRules": ["nonsense"]})).unwrap_err();
        assert_eq!(e.code, "invalid_settings_ranking_rules");
        assert_eq!(
            e.message,
            "Invalid value at `.rankingRules[0]`: `nonsense` ranking rule is invalid. Valid ranking rules are words, typo, sort, proximity, attribute, exactness and custom ranking rules."
        );
    }

    #[test]
    fn resets_show_null_or_wildcard() {
        assert_eq!(
            Value::Object(SettingsPatch::reset_field("stopWords").details()),
            json!({"stopWords": null})
        );
        assert_eq!(
            Value::Object(SettingsPatch::reset_field("displayedAttributes").details()),
            json!({"displayedAttributes": ["*"]})
        );
        let all = SettingsPatch::reset_all()
            .apply(&Settings {
                max_total_hits: 5,
                ..Settings::default()
            })
            .unwrap();
        assert_eq!(all, Settings::default());
    }

    #[test]
    fn typo_sizes_must_be_ordered() {
        let patch = SettingsPatch::parse(
            &json!({"typoTolerance": {"minWordSizeForTypos": {"oneTypo": 10}}}),
        )
        .unwrap();
        assert_eq!(
            patch.apply(&Settings::default()).unwrap_err().code,
            "invalid_settings_typo_tolerance"
        );
    }
}
