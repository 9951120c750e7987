//! The order of documents listed with `sort` (`POST /documents/fetch` `{"sort": [...]}`,
//! `GET /documents?sort=`), so that the shards' sorted pages merge into the page one index
//! would have listed.
//!
//! Each shard sorts its own documents; the merger only needs to compare two documents the way a
//! node does: rule by rule, numbers before strings, strings without case, documents without the
//! field last whatever the direction, and a document whose field holds several values placed by
//! the one that comes first (the smallest ascending, the largest descending), as a node's facet
//! iterators meet it. Documents a node leaves tied (internal id order, which a cluster cannot
//! know) are ordered by primary key, the fetch's order without `sort`.

use std::cmp::Ordering;

use miroir_proto::MeiliError;
use serde_json::{Map, Value};

/// One `field:asc` / `field:desc` of the request.
#[derive(Clone, Debug, PartialEq)]
pub struct SortRule {
    pub field: String,
    pub descending: bool,
}

/// The `sort` of a fetch body: `None` without one. A value the merger cannot read is left to the
/// shards (they word the error as a node does): `Err` tells the caller to ask one.
pub fn rules(sort: Option<&Value>) -> Result<Option<Vec<SortRule>>, MeiliError> {
    let items = match sort {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(MeiliError::bad_request("`sort` is not a list")),
    };
    items
        .iter()
        .map(|item| {
            let s = item
                .as_str()
                .ok_or_else(|| MeiliError::bad_request("`sort` is not a list of strings"))?;
            let (field, order) = s
                .rsplit_once(':')
                .filter(|(f, o)| !f.is_empty() && (*o == "asc" || *o == "desc"))
                .ok_or_else(|| MeiliError::bad_request(format!("invalid sort `{s}`")))?;
            Ok(SortRule {
                field: field.to_string(),
                descending: order == "desc",
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// The value of `path` in a document: `a.b.c` may be split anywhere (`{"a": {"b.c": 1}}`).
pub fn lookup<'a>(doc: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    if let Some(v) = doc.get(path) {
        return Some(v);
    }
    path.match_indices('.').find_map(|(i, _)| {
        let (head, tail) = (path.get(..i)?, path.get(i + 1..)?);
        doc.get(head)
            .and_then(Value::as_object)
            .and_then(|inner| lookup(inner, tail))
    })
}

/// Remove `path` from a document (a field the merger added to `fields` for its own use), and
/// an object it leaves empty.
pub fn remove(doc: &mut Map<String, Value>, path: &str) {
    if doc.shift_remove(path).is_some() {
        return;
    }
    for (i, _) in path.match_indices('.') {
        let (Some(head), Some(tail)) = (path.get(..i), path.get(i + 1..)) else {
            continue;
        };
        if let Some(Value::Object(inner)) = doc.get_mut(head) {
            remove(inner, tail);
            if inner.is_empty() {
                doc.shift_remove(head);
            }
            return;
        }
    }
}

/// What a document sorts by for one rule.
#[derive(Debug, PartialEq)]
enum Key {
    Number(f64),
    Text(String),
    Missing,
}

impl Key {
    fn rank(&self) -> u8 {
        match self {
            Key::Number(_) => 0,
            Key::Text(_) => 1,
            Key::Missing => 2,
        }
    }
}

fn key(value: Option<&Value>, descending: bool) -> Key {
    let scalar = |v: &Value| match v {
        Value::Number(n) => n.as_f64().map_or(Key::Missing, Key::Number),
        Value::String(s) => Key::Text(s.to_lowercase()),
        _ => Key::Missing,
    };
    match value {
        Some(Value::Array(items)) => {
            let keys = items.iter().map(scalar).filter(|k| *k != Key::Missing);
            // The value a node's iterator meets first: numbers before strings, then the
            // smallest (ascending) or the largest (descending).
            keys.reduce(|a, b| {
                let ord = compare_keys(&a, &b, descending);
                if ord == Ordering::Greater { b } else { a }
            })
            .unwrap_or(Key::Missing)
        }
        Some(v) => scalar(v),
        None => Key::Missing,
    }
}

fn compare_keys(a: &Key, b: &Key, descending: bool) -> Ordering {
    let ord = match (a, b) {
        (Key::Number(x), Key::Number(y)) => x.partial_cmp(y).unwrap_or(Ordering::Equal),
        (Key::Text(x), Key::Text(y)) => x.cmp(y),
        _ => return a.rank().cmp(&b.rank()),
    };
    if descending { ord.reverse() } else { ord }
}

/// How two documents compare under the rules (`Equal` when the rules leave them tied).
pub fn compare(rules: &[SortRule], a: &Map<String, Value>, b: &Map<String, Value>) -> Ordering {
    rules
        .iter()
        .map(|r| {
            compare_keys(
                &key(lookup(a, &r.field), r.descending),
                &key(lookup(b, &r.field), r.descending),
                r.descending,
            )
        })
        .find(|o| o.is_ne())
        .unwrap_or(Ordering::Equal)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn doc(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn rules_read_fields_and_directions() {
        assert_eq!(rules(None).unwrap(), None);
        assert_eq!(
            rules(Some(&json!(["year:asc", "a.b:c:desc"]))).unwrap(),
            Some(vec![
                SortRule {
                    field: "year".into(),
                    descending: false
                },
                SortRule {
                    field: "a.b:c".into(),
                    descending: true
                },
            ])
        );
        assert!(rules(Some(&json!(["year"]))).is_err());
        assert!(rules(Some(&json!("year:asc"))).is_err());
    }

    #[test]
    fn numbers_before_strings_and_missing_last_both_ways() {
        let asc = [SortRule {
            field: "v".into(),
            descending: false,
        }];
        let desc = [SortRule {
            field: "v".into(),
            descending: true,
        }];
        let (one, two, a, b_upper, none) = (
            doc(json!({"v": 1})),
            doc(json!({"v": 2.5})),
            doc(json!({"v": "a"})),
            doc(json!({"v": "B"})),
            doc(json!({})),
        );
        let order = |rules: &[SortRule]| {
            let mut docs = [&none, &b_upper, &two, &a, &one];
            docs.sort_by(|x, y| compare(rules, x, y));
            docs.iter().map(|d| d.get("v").cloned()).collect::<Vec<_>>()
        };
        assert_eq!(
            order(&asc),
            vec![
                Some(json!(1)),
                Some(json!(2.5)),
                Some(json!("a")),
                Some(json!("B")),
                None
            ]
        );
        assert_eq!(
            order(&desc),
            vec![
                Some(json!(2.5)),
                Some(json!(1)),
                Some(json!("B")),
                Some(json!("a")),
                None
            ]
        );
    }

    #[test]
    fn several_values_sort_by_the_first_met_and_rules_apply_in_turn() {
        let rules = rules(Some(&json!(["tags:asc", "n.m:desc"])))
            .unwrap()
            .unwrap();
        let x = doc(json!({"tags": [5, 1, "z"], "n": {"m": 1}}));
        let y = doc(json!({"tags": 1, "n": {"m": 2}}));
        let z = doc(json!({"tags": [2], "n.m": 9}));
        assert_eq!(compare(&rules, &x, &y), Ordering::Greater);
        assert_eq!(compare(&rules, &y, &z), Ordering::Less);
        let desc = super::rules(Some(&json!(["tags:desc"]))).unwrap().unwrap();
        assert_eq!(compare(&desc, &x, &y), Ordering::Less);
    }

    #[test]
    fn added_fields_are_removed_with_the_objects_they_empty() {
        let mut d = doc(json!({"a": {"b": 1, "c": 2}, "x": {"y": 3}, "p.q": 4}));
        remove(&mut d, "a.b");
        remove(&mut d, "x.y");
        remove(&mut d, "p.q");
        assert_eq!(Value::Object(d), json!({"a": {"c": 2}}));
    }
}
