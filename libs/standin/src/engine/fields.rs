//! Document fields as Meilisearch sees them: nested objects flattened to dotted paths, arrays
//! spread into their leaves, and attribute patterns (`title`, `doggo` covering `doggo.name`,
//! `attr_*`) matched against those paths.

use serde_json::Value;

use super::Document;

/// Every leaf value of a document with its dotted path, in document order, as the indexer
/// walks it (objects inside arrays extend the path; arrays are spread).
pub fn leaves(doc: &Document) -> Vec<(String, &Value)> {
    let mut out = Vec::new();
    for (k, v) in doc {
        walk(k.clone(), v, &mut out);
    }
    out
}

fn walk<'a>(path: String, v: &'a Value, out: &mut Vec<(String, &'a Value)>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                walk(format!("{path}.{k}"), child, out);
            }
        }
        Value::Array(items) => {
            for item in items {
                walk(path.clone(), item, out);
            }
        }
        leaf => out.push((path, leaf)),
    }
}

/// The values stored at `path` (dotted), found through nested objects or literal dotted keys.
/// Arrays are returned as they are (not spread); see [`leaf_values`].
pub fn values_at<'a>(doc: &'a Document, path: &str) -> Vec<&'a Value> {
    let mut out = Vec::new();
    if !path.contains('.') {
        // Only a top-level key can hold an undotted path.
        out.extend(doc.get(path));
        return out;
    }
    collect_in_object(doc, path, &mut out);
    out
}

/// Whether `pred` holds for one of the scalar values at `path` (arrays spread), without
/// collecting them.
pub fn any_leaf(doc: &Document, path: &str, pred: &mut dyn FnMut(&Value) -> bool) -> bool {
    fn spread_any(v: &Value, pred: &mut dyn FnMut(&Value) -> bool) -> bool {
        match v {
            Value::Array(items) => items.iter().any(|i| spread_any(i, pred)),
            other => pred(other),
        }
    }
    if !path.contains('.') {
        return doc.get(path).is_some_and(|v| spread_any(v, pred));
    }
    values_at(doc, path)
        .into_iter()
        .any(|v| spread_any(v, pred))
}

fn collect_in_object<'a>(
    map: &'a serde_json::Map<String, Value>,
    path: &str,
    out: &mut Vec<&'a Value>,
) {
    for (k, v) in map {
        if k == path {
            out.push(v);
        } else if let Some(rest) = path
            .strip_prefix(k.as_str())
            .and_then(|r| r.strip_prefix('.'))
        {
            collect_in_value(v, rest, out);
        }
    }
}

fn collect_in_value<'a>(v: &'a Value, path: &str, out: &mut Vec<&'a Value>) {
    match v {
        Value::Object(map) => collect_in_object(map, path, out),
        Value::Array(items) => {
            for item in items {
                collect_in_value(item, path, out);
            }
        }
        _ => {}
    }
}

/// The scalar values at `path`, arrays spread (a document matches a filter on an array when
/// any element matches).
pub fn leaf_values<'a>(doc: &'a Document, path: &str) -> Vec<&'a Value> {
    let mut out = Vec::new();
    for v in values_at(doc, path) {
        spread(v, &mut out);
    }
    out
}

fn spread<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    match v {
        Value::Array(items) => {
            for item in items {
                spread(item, out);
            }
        }
        other => out.push(other),
    }
}

/// How an attribute pattern relates to a field path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatternMatch {
    /// The field is the attribute or lies under it (`doggo` matches `doggo.name`).
    Match,
    /// The field is a parent of the attribute (`doggo` for the pattern `doggo.name`).
    Parent,
    NoMatch,
}

/// Meilisearch's legacy matching: exact name or nested under it, no wildcards.
pub fn match_legacy(pattern: &str, field: &str) -> PatternMatch {
    if pattern == field || pattern == "*" {
        return PatternMatch::Match;
    }
    if field.len() > pattern.len()
        && field.starts_with(pattern)
        && field.as_bytes().get(pattern.len()) == Some(&b'.')
    {
        return PatternMatch::Match;
    }
    if pattern.len() > field.len()
        && pattern.starts_with(field)
        && pattern.as_bytes().get(field.len()) == Some(&b'.')
    {
        return PatternMatch::Parent;
    }
    PatternMatch::NoMatch
}

/// Pattern matching with `*` wildcards at the start and/or end (`attr_*`, `*_date`, `*`),
/// plus the legacy nesting rule.
pub fn match_pattern(pattern: &str, field: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    let starts = pattern.starts_with('*');
    let ends = pattern.ends_with('*') && pattern.len() > 1;
    match (starts, ends) {
        (true, true) => field.contains(&pattern[1..pattern.len() - 1]),
        (true, false) => field.ends_with(&pattern[1..]),
        (false, true) => field.starts_with(&pattern[..pattern.len() - 1]),
        (false, false) => match_legacy(pattern, field) == PatternMatch::Match,
    }
}

/// Whether `field` is covered by one of `patterns`.
pub fn matches_any(patterns: &[String], field: &str) -> bool {
    patterns.iter().any(|p| match_pattern(p, field))
}

/// The weight (rank of the matching pattern) of a searchable field; `None` when it is not
/// searchable. With every attribute searchable, all fields weigh 0, as in Meilisearch.
pub fn searchable_weight(searchable: Option<&[String]>, field: &str) -> Option<u16> {
    match searchable {
        None => Some(0),
        Some(list) => {
            if list.iter().any(|p| p == "*") {
                return Some(0);
            }
            list.iter()
                .position(|p| match_legacy(p, field) == PatternMatch::Match)
                .map(|i| u16::try_from(i).unwrap_or(u16::MAX))
        }
    }
}

/// The largest weight a searchable field can have under these settings.
pub fn max_weight(searchable: Option<&[String]>) -> u16 {
    match searchable {
        Some(list) if !list.iter().any(|p| p == "*") => {
            u16::try_from(list.len().saturating_sub(1)).unwrap_or(u16::MAX)
        }
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::*;

    fn doc(v: Value) -> Document {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn leaves_flatten_objects_and_spread_arrays() {
        let d = doc(json!({"a": {"b": 1, "c": [2, {"d": 3}]}, "e": "x"}));
        let got: Vec<(String, Value)> = leaves(&d)
            .into_iter()
            .map(|(p, v)| (p, v.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("a.b".into(), json!(1)),
                ("a.c".into(), json!(2)),
                ("a.c.d".into(), json!(3)),
                ("e".into(), json!("x"))
            ]
        );
    }

    #[test]
    fn values_at_follow_nesting_and_dotted_keys() {
        let d = doc(json!({"a": {"b": 1}, "a.b": 2, "c": [{"d": 1}, {"d": [2, 3]}]}));
        assert_eq!(values_at(&d, "a.b"), vec![&json!(1), &json!(2)]);
        assert_eq!(
            leaf_values(&d, "c.d"),
            vec![&json!(1), &json!(2), &json!(3)]
        );
        assert!(values_at(&d, "zz").is_empty());
    }

    #[test]
    fn patterns() {
        assert_eq!(match_legacy("doggo", "doggo.name"), PatternMatch::Match);
        assert_eq!(match_legacy("doggo.name", "doggo"), PatternMatch::Parent);
        assert_eq!(match_legacy("dog", "doggo"), PatternMatch::NoMatch);
        assert!(match_pattern("attr_*", "attr_x"));
        assert!(match_pattern("*_date", "release_date"));
        assert!(!match_pattern("title", "titles"));
        let s = vec!["name".to_string(), "summary".to_string()];
        assert_eq!(searchable_weight(Some(&s), "summary"), Some(1));
        assert_eq!(searchable_weight(Some(&s), "tags"), None);
        assert_eq!(searchable_weight(None, "tags"), Some(0));
        assert_eq!(max_weight(Some(&s)), 1);
    }
}
