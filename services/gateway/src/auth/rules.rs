//! Index uid patterns and a tenant token's search rules, with Meilisearch's semantics: a pattern
//! ending in `*` matches by prefix, the most specific pattern (exact first, then longest) picks
//! an index's rule, and a rule's filter is ANDed with the request's own so that a request can
//! never see more than its token allows.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use serde_json::Value;

/// Whether `pattern` (`*`, `movies`, `movies_*`) matches the index `uid`.
pub fn pattern_matches(pattern: &str, uid: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => uid.starts_with(prefix),
        None => pattern == uid,
    }
}

/// The rules of one index in a token: `{"filter": ...}` (the filter may be absent or null).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct IndexRules {
    #[serde(default)]
    pub filter: Option<Value>,
}

/// A tenant token's `searchRules`: a list of index patterns, or patterns with their rules.
/// Parsed as Meilisearch parses it (an untagged enum), so a malformed value gets its message.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum SearchRules {
    Set(BTreeSet<String>),
    Map(BTreeMap<String, Option<IndexRules>>),
}

impl SearchRules {
    fn patterns(&self) -> Box<dyn Iterator<Item = &String> + '_> {
        match self {
            SearchRules::Set(set) => Box::new(set.iter()),
            SearchRules::Map(map) => Box::new(map.keys()),
        }
    }

    pub fn is_index_authorized(&self, uid: &str) -> bool {
        self.patterns().any(|p| pattern_matches(p, uid))
    }

    pub fn all_indexes_authorized(&self) -> bool {
        self.patterns().any(|p| p == "*")
    }

    /// The patterns, sorted, for error messages.
    pub fn listed(&self) -> Vec<String> {
        let mut out: Vec<String> = self.patterns().cloned().collect();
        out.sort_unstable();
        out
    }

    /// The filter the token imposes on `uid`: that of the most specific matching pattern.
    pub fn filter_for(&self, uid: &str) -> Option<Value> {
        match self {
            SearchRules::Set(_) => None,
            SearchRules::Map(map) => map
                .iter()
                .filter(|(pattern, _)| pattern_matches(pattern, uid))
                .max_by_key(|(pattern, _)| (!pattern.ends_with('*'), pattern.len()))
                .and_then(|(_, rules)| rules.as_ref())
                .and_then(|rules| rules.filter.clone())
                .filter(|f| !f.is_null()),
        }
    }
}

/// Meilisearch's `fuse_filters`: both filters become lists of AND-ed conditions, concatenated.
/// A top-level array is an AND of its elements in Meilisearch's filter syntax (a nested array
/// is an OR), so the result matches only what both filters match.
pub fn fuse_filters(request: Option<Value>, rule: Option<Value>) -> Option<Value> {
    match (request, rule) {
        (None | Some(Value::Null), rule) => rule,
        (request, None) => request,
        (Some(request), Some(rule)) => {
            let mut all = match request {
                Value::Array(items) => items,
                other => vec![other],
            };
            match rule {
                Value::Array(items) => all.extend(items),
                other => all.push(other),
            }
            Some(Value::Array(all))
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn most_specific_pattern_wins() {
        let rules: SearchRules = serde_json::from_value(json!({
            "*": {"filter": "a = 1"},
            "mov*": {"filter": "b = 2"},
            "movies": {"filter": "c = 3"},
            "music": null
        }))
        .unwrap();
        assert_eq!(rules.filter_for("movies"), Some(json!("c = 3")));
        assert_eq!(rules.filter_for("movers"), Some(json!("b = 2")));
        assert_eq!(rules.filter_for("books"), Some(json!("a = 1")));
        assert_eq!(rules.filter_for("music"), None);
        assert!(rules.all_indexes_authorized());
        let set: SearchRules = serde_json::from_value(json!(["npm", "mov*"])).unwrap();
        assert!(set.is_index_authorized("movies") && !set.is_index_authorized("books"));
        assert_eq!(set.listed(), vec!["mov*".to_string(), "npm".to_string()]);
        assert_eq!(set.filter_for("npm"), None);
    }

    #[test]
    fn filters_are_anded() {
        let fused = fuse_filters(
            Some(json!("genre = drama OR genre = comedy")),
            Some(json!("genre = comedy")),
        );
        assert_eq!(
            fused,
            Some(json!(["genre = drama OR genre = comedy", "genre = comedy"]))
        );
        let fused = fuse_filters(
            Some(json!(["a = 1", ["b = 2", "c = 3"]])),
            Some(json!(["d = 4", "e = 5"])),
        );
        assert_eq!(
            fused,
            Some(json!(["a = 1", ["b = 2", "c = 3"], "d = 4", "e = 5"]))
        );
        assert_eq!(
            fuse_filters(Some(Value::Null), Some(json!("x = 1"))),
            Some(json!("x = 1"))
        );
        assert_eq!(
            fuse_filters(Some(json!("x = 1")), None),
            Some(json!("x = 1"))
        );
    }
}
