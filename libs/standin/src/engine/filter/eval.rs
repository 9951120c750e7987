//! Evaluating a filter against one document. Strings compare case-insensitively and trimmed
//! (Meilisearch normalises facet strings), numbers numerically, and a field holding an array
//! matches when any of its elements does.

use std::cmp::Ordering;

use serde_json::Value;

use super::{Cond, Expr, Tok};
use crate::engine::Document;
use crate::engine::fields::{any_leaf, values_at};

pub fn matches(expr: &Expr, doc: &Document) -> bool {
    match expr {
        Expr::And(v) => v.iter().all(|e| matches(e, doc)),
        Expr::Or(v) => v.iter().any(|e| matches(e, doc)),
        Expr::Not(e) => !matches(e, doc),
        Expr::In { field, values } => any_leaf(doc, &field.value, &mut |l| {
            values.iter().any(|v| equals(l, v))
        }),
        Expr::Cond { field, cond } => condition(doc, &field.value, cond),
    }
}

fn normalized(s: &str) -> String {
    s.trim().to_lowercase()
}

/// `s` equals the normalised token, compared as Meilisearch compares facet strings.
fn same_string(s: &str, tok: &Tok) -> bool {
    let s = s.trim();
    if s.is_ascii() {
        s.eq_ignore_ascii_case(&tok.norm)
    } else {
        s.to_lowercase() == tok.norm
    }
}

fn equals(v: &Value, tok: &Tok) -> bool {
    match v {
        Value::String(s) => same_string(s, tok),
        Value::Number(n) => match (n.as_f64(), tok.number) {
            (Some(a), Some(b)) => a == b,
            _ => false,
        },
        Value::Bool(b) => (if *b { "true" } else { "false" }) == tok.norm,
        _ => false,
    }
}

/// Order of a document value against the token, when they are comparable: numbers with a
/// numeric token, strings with a non-numeric one.
fn compare(v: &Value, tok: &Tok) -> Option<Ordering> {
    match tok.number {
        Some(t) => match v {
            Value::Number(n) => n.as_f64().and_then(|a| a.partial_cmp(&t)),
            _ => None,
        },
        None => match v {
            Value::String(s) => Some(normalized(s).cmp(&tok.norm)),
            _ => None,
        },
    }
}

fn condition(doc: &Document, field: &str, cond: &Cond) -> bool {
    let any_leaf = |pred: &dyn Fn(&Value) -> bool| any_leaf(doc, field, &mut |v| pred(v));
    match cond {
        Cond::Eq(t) => any_leaf(&|v| equals(v, t)),
        Cond::Ne(t) => !any_leaf(&|v| equals(v, t)),
        Cond::Gt(t) => any_leaf(&|v| compare(v, t) == Some(Ordering::Greater)),
        Cond::Gte(t) => {
            any_leaf(&|v| matches!(compare(v, t), Some(Ordering::Greater | Ordering::Equal)))
        }
        Cond::Lt(t) => any_leaf(&|v| compare(v, t) == Some(Ordering::Less)),
        Cond::Lte(t) => {
            any_leaf(&|v| matches!(compare(v, t), Some(Ordering::Less | Ordering::Equal)))
        }
        Cond::Between(a, b) => any_leaf(&|v| {
            matches!(compare(v, a), Some(Ordering::Greater | Ordering::Equal))
                && matches!(compare(v, b), Some(Ordering::Less | Ordering::Equal))
        }),
        Cond::Exists => !values_at(doc, field).is_empty(),
        Cond::IsNull => {
            values_at(doc, field).iter().any(|v| v.is_null()) || any_leaf(&|v| v.is_null())
        }
        Cond::IsEmpty => values_at(doc, field).iter().any(|v| match v {
            Value::String(s) => s.is_empty(),
            Value::Array(a) => a.is_empty(),
            Value::Object(o) => o.is_empty(),
            _ => false,
        }),
        Cond::Contains(t) => {
            any_leaf(&|v| v.as_str().is_some_and(|s| normalized(s).contains(&t.norm)))
        }
        Cond::StartsWith(t) => any_leaf(&|v| {
            v.as_str()
                .is_some_and(|s| normalized(s).starts_with(&t.norm))
        }),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use crate::engine::filter::parse;
    use miroir_proto::ErrorCode;

    fn check(filter: &str, doc: serde_json::Value) -> bool {
        parse(&json!(filter), ErrorCode::BadRequest)
            .unwrap()
            .matches(doc.as_object().unwrap())
    }

    #[test]
    fn every_operator() {
        let d = json!({"year": 2019, "genres": ["Drama", "Thriller"], "title": " Joker ", "empty": [], "none": null,
                       "nested": {"age": 3}, "flag": true, "blank": ""});
        assert!(check("year = 2019", d.clone()));
        assert!(check("year = '2019.0'", d.clone()));
        assert!(check("genres = drama", d.clone()));
        assert!(check("title = joker", d.clone()));
        assert!(check("genres != comedy", d.clone()));
        assert!(!check("genres != drama", d.clone()));
        assert!(check("missing != x", d.clone()));
        assert!(check(
            "year > 2018 AND year >= 2019 AND year < 2020 AND year <= 2019",
            d.clone()
        ));
        assert!(!check("year > 2019", d.clone()));
        assert!(check("year 2000 TO 2019", d.clone()));
        assert!(!check("year 2020 TO 2030", d.clone()));
        assert!(check("genres IN [comedy, thriller]", d.clone()));
        assert!(check("genres NOT IN [comedy]", d.clone()));
        assert!(check("none EXISTS AND missing NOT EXISTS", d.clone()));
        assert!(check("none IS NULL AND year IS NOT NULL", d.clone()));
        assert!(check(
            "empty IS EMPTY AND blank IS EMPTY AND genres IS NOT EMPTY",
            d.clone()
        ));
        assert!(check("nested.age = 3", d.clone()));
        assert!(check("flag = true", d.clone()));
        assert!(check(
            "title CONTAINS oke AND title STARTS WITH jo",
            d.clone()
        ));
        assert!(check("NOT year = 1 OR year = 1", d.clone()));
        assert!(!check(
            "(year = 1 OR year = 2) AND genres = drama",
            d.clone()
        ));
        assert!(check("year = 1 OR year = 2019 AND genres = drama", d));
    }
}
