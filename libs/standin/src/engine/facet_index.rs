//! The facet index: for every filterable field, which documents hold which value (strings by
//! their normalised form, numbers in numeric order), and which hold the field at all, a null
//! or an empty value. Filters evaluate to document sets from it and large facet counts read
//! it instead of opening every document.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::Value;

use super::docset::DocSet;
use super::fields::matches_any;
use super::{DocId, Document, EngineSettings};

/// A total order on finite floats, as bytes order them.
pub fn ordered_key(f: f64) -> u64 {
    let f = if f == 0.0 { 0.0 } else { f };
    let bits = f.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    }
}

pub fn from_ordered_key(k: u64) -> f64 {
    let bits = if k >> 63 == 1 { k & !(1 << 63) } else { !k };
    f64::from_bits(bits)
}

/// The attributes the facet index covers: filterable ones (for filters and facets) and
/// sortable ones (for sorting without opening documents).
pub fn patterns_of(settings: &EngineSettings) -> Vec<String> {
    let mut p = settings.filterable.clone();
    p.extend(settings.sortable.iter().cloned());
    p
}

/// Facet strings are compared trimmed and lowercased.
pub fn normalize_facet(s: &str) -> String {
    let t = s.trim();
    if t.is_ascii() {
        t.to_ascii_lowercase()
    } else {
        t.to_lowercase()
    }
}

#[derive(Default)]
pub struct FieldFacets {
    pub strings: BTreeMap<Arc<str>, Vec<DocId>>,
    pub numbers: BTreeMap<u64, Vec<DocId>>,
    pub exists: DocSet,
    pub nulls: DocSet,
    pub empties: DocSet,
}

/// What a document contributed, to take it back out.
#[derive(Clone, Debug)]
pub enum FacetKey {
    Str(Arc<str>),
    Num(u64),
    Exists,
    Null,
    Empty,
}

pub struct FacetIndex {
    pub fields: HashMap<Arc<str>, FieldFacets>,
    /// The patterns ([`patterns_of`]) the index was built for.
    patterns: Vec<String>,
    /// False once documents were indexed under other patterns (until a rebuild).
    consistent: bool,
}

impl Default for FacetIndex {
    fn default() -> Self {
        FacetIndex::new(&[])
    }
}

fn insert_sorted(list: &mut Vec<DocId>, id: DocId) {
    if list.last().is_none_or(|l| *l < id) {
        list.push(id);
    } else if let Err(at) = list.binary_search(&id) {
        list.insert(at, id);
    }
}

impl FacetIndex {
    pub fn new(patterns: &[String]) -> Self {
        FacetIndex {
            fields: HashMap::new(),
            patterns: patterns.to_vec(),
            consistent: true,
        }
    }

    /// Whether filters on these settings can be answered from the index.
    pub fn usable_for(&self, filterable: &[String]) -> bool {
        self.consistent && self.patterns == filterable
    }

    pub fn insert(
        &mut self,
        filterable: &[String],
        id: DocId,
        doc: &Document,
    ) -> Vec<(Arc<str>, FacetKey)> {
        if self.patterns != filterable {
            self.consistent = false;
        }
        let mut out = Vec::new();
        if filterable.is_empty() {
            return out;
        }
        for (k, v) in doc {
            self.walk(filterable, k, v, false, id, &mut out);
        }
        out
    }

    fn record(
        &mut self,
        path: &str,
        key: FacetKey,
        id: DocId,
        out: &mut Vec<(Arc<str>, FacetKey)>,
    ) {
        let path: Arc<str> = self
            .fields
            .get_key_value(path)
            .map_or_else(|| path.into(), |(k, _)| k.clone());
        let field = self.fields.entry(path.clone()).or_default();
        let key = match key {
            FacetKey::Str(s) => {
                let key = field
                    .strings
                    .get_key_value(&*s)
                    .map_or(s, |(k, _)| k.clone());
                insert_sorted(field.strings.entry(key.clone()).or_default(), id);
                FacetKey::Str(key)
            }
            FacetKey::Num(n) => {
                insert_sorted(field.numbers.entry(n).or_default(), id);
                FacetKey::Num(n)
            }
            FacetKey::Exists => {
                field.exists.insert(id);
                FacetKey::Exists
            }
            FacetKey::Null => {
                field.nulls.insert(id);
                FacetKey::Null
            }
            FacetKey::Empty => {
                field.empties.insert(id);
                FacetKey::Empty
            }
        };
        out.push((path, key));
    }

    fn walk(
        &mut self,
        filterable: &[String],
        path: &str,
        v: &Value,
        in_array: bool,
        id: DocId,
        out: &mut Vec<(Arc<str>, FacetKey)>,
    ) {
        let wanted = matches_any(filterable, path);
        if wanted && !in_array {
            self.record(path, FacetKey::Exists, id, out);
        }
        match v {
            Value::Object(map) => {
                if map.is_empty() && wanted && !in_array {
                    self.record(path, FacetKey::Empty, id, out);
                }
                for (k, child) in map {
                    self.walk(filterable, &format!("{path}.{k}"), child, false, id, out);
                }
            }
            Value::Array(items) => {
                if items.is_empty() && wanted && !in_array {
                    self.record(path, FacetKey::Empty, id, out);
                }
                for item in items {
                    self.walk(filterable, path, item, true, id, out);
                }
            }
            Value::Null if wanted => self.record(path, FacetKey::Null, id, out),
            Value::String(s) if wanted => {
                if s.is_empty() && !in_array {
                    self.record(path, FacetKey::Empty, id, out);
                }
                self.record(path, FacetKey::Str(normalize_facet(s).into()), id, out);
            }
            Value::Bool(b) if wanted => {
                self.record(path, FacetKey::Str(b.to_string().into()), id, out)
            }
            Value::Number(n) if wanted => {
                if let Some(f) = n.as_f64() {
                    self.record(path, FacetKey::Num(ordered_key(f)), id, out);
                }
            }
            _ => {}
        }
    }

    pub fn remove(&mut self, id: DocId, keys: &[(Arc<str>, FacetKey)]) {
        for (path, key) in keys {
            let Some(field) = self.fields.get_mut(&**path) else {
                continue;
            };
            match key {
                FacetKey::Str(s) => {
                    if let Some(list) = field.strings.get_mut(&**s) {
                        if let Ok(at) = list.binary_search(&id) {
                            list.remove(at);
                        }
                        if list.is_empty() {
                            field.strings.remove(&**s);
                        }
                    }
                }
                FacetKey::Num(n) => {
                    if let Some(list) = field.numbers.get_mut(n) {
                        if let Ok(at) = list.binary_search(&id) {
                            list.remove(at);
                        }
                        if list.is_empty() {
                            field.numbers.remove(n);
                        }
                    }
                }
                FacetKey::Exists => field.exists.remove(id),
                FacetKey::Null => field.nulls.remove(id),
                FacetKey::Empty => field.empties.remove(id),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::*;

    #[test]
    fn ordered_keys_sort_numerically() {
        let mut v = [3.5, -2.0, 0.0, -0.0, 1e9, -1e-9];
        let mut keys: Vec<u64> = v.iter().map(|f| ordered_key(*f)).collect();
        keys.sort_unstable();
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let back: Vec<f64> = keys.iter().map(|k| from_ordered_key(*k)).collect();
        assert_eq!(back, vec![-2.0, -1e-9, 0.0, 0.0, 3.5, 1e9]);
    }

    #[test]
    fn records_and_forgets_values() {
        let filterable = vec!["tags".to_string(), "info".to_string()];
        let mut idx = FacetIndex::new(&filterable);
        let doc = json!({"tags": ["A ", "b", 3], "info": {"x": null, "y": []}, "other": 1})
            .as_object()
            .cloned()
            .unwrap();
        let keys = idx.insert(&filterable, 7, &doc);
        let tags = &idx.fields["tags" as &str];
        assert_eq!(
            tags.strings
                .keys()
                .map(|k| k.to_string())
                .collect::<Vec<_>>(),
            vec!["a", "b"]
        );
        assert_eq!(tags.numbers.values().next(), Some(&vec![7]));
        assert!(idx.fields["info.x" as &str].nulls.contains(7));
        assert!(
            idx.fields["info.y" as &str].empties.contains(7)
                && idx.fields["info" as &str].exists.contains(7)
        );
        assert!(!idx.fields.contains_key("other"));
        idx.remove(7, &keys);
        assert!(
            idx.fields["tags" as &str].strings.is_empty()
                && !idx.fields["info" as &str].exists.contains(7)
        );
        assert!(idx.usable_for(&filterable) && !idx.usable_for(&[]));
    }
}
