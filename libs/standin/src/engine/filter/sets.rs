//! Evaluating a filter to the set of matching documents from the facet index, with the same
//! semantics as [`super::eval`] on each document (a test holds them equal on the npm corpus).

use std::ops::Bound;
use std::sync::Arc;

use super::{Cond, Expr, Tok};
use crate::engine::DocId;
use crate::engine::docset::DocSet;
use crate::engine::facet_index::{FacetIndex, FieldFacets, ordered_key};

pub fn eval(expr: &Expr, facets: &FacetIndex, universe: &DocSet) -> DocSet {
    match expr {
        Expr::And(v) => {
            let mut it = v.iter();
            let Some(first) = it.next() else {
                return universe.clone();
            };
            let mut acc = eval(first, facets, universe);
            for e in it {
                acc.intersect_with(&eval(e, facets, universe));
            }
            acc
        }
        Expr::Or(v) => {
            let mut acc = DocSet::new();
            for e in v {
                acc.union_with(&eval(e, facets, universe));
            }
            acc
        }
        Expr::Not(e) => eval(e, facets, universe).complement_in(universe),
        Expr::In { field, values } => {
            let mut acc = DocSet::new();
            if let Some(f) = facets.fields.get(field.value.as_str()) {
                for v in values {
                    acc.union_with(&equal(f, v));
                }
            }
            acc
        }
        Expr::Cond { field, cond } => match facets.fields.get(field.value.as_str()) {
            Some(f) => condition(f, cond, universe),
            // A field no document has: only negations match.
            None => match cond {
                Cond::Ne(_) => universe.clone(),
                _ => DocSet::new(),
            },
        },
    }
}

fn add(acc: &mut DocSet, ids: &[DocId]) {
    for id in ids {
        acc.insert(*id);
    }
}

fn equal(f: &FieldFacets, tok: &Tok) -> DocSet {
    let mut acc = DocSet::new();
    if let Some(ids) = f.strings.get(tok.norm.as_str()) {
        add(&mut acc, ids);
    }
    if let Some(n) = tok.number
        && let Some(ids) = f.numbers.get(&ordered_key(n))
    {
        add(&mut acc, ids);
    }
    acc
}

fn numbers(f: &FieldFacets, lo: Bound<f64>, hi: Bound<f64>) -> DocSet {
    let map = |b: Bound<f64>| match b {
        Bound::Included(x) => Bound::Included(ordered_key(x)),
        Bound::Excluded(x) => Bound::Excluded(ordered_key(x)),
        Bound::Unbounded => Bound::Unbounded,
    };
    let (lo, hi) = (map(lo), map(hi));
    let mut acc = DocSet::new();
    let empty = match (lo, hi) {
        (Bound::Included(a) | Bound::Excluded(a), Bound::Included(b) | Bound::Excluded(b)) => a > b,
        _ => false,
    };
    if !empty && !matches!((lo, hi), (Bound::Excluded(a), Bound::Excluded(b)) if a == b) {
        for ids in f.numbers.range((lo, hi)).map(|(_, ids)| ids) {
            add(&mut acc, ids);
        }
    }
    acc
}

fn strings(f: &FieldFacets, pred: impl Fn(&str) -> bool) -> DocSet {
    let mut acc = DocSet::new();
    for (k, ids) in &f.strings {
        if pred(k) {
            add(&mut acc, ids);
        }
    }
    acc
}

fn range(f: &FieldFacets, tok: &Tok, lo_incl: Option<bool>, hi_incl: Option<bool>) -> DocSet {
    // `lo_incl`: Some(inclusive) when the token is the lower bound; `hi_incl` likewise.
    match tok.number {
        Some(n) => {
            let lo = lo_incl.map_or(Bound::Unbounded, |i| {
                if i {
                    Bound::Included(n)
                } else {
                    Bound::Excluded(n)
                }
            });
            let hi = hi_incl.map_or(Bound::Unbounded, |i| {
                if i {
                    Bound::Included(n)
                } else {
                    Bound::Excluded(n)
                }
            });
            numbers(f, lo, hi)
        }
        None => {
            let t: Arc<str> = tok.norm.as_str().into();
            strings(f, |k| {
                let ord = k.cmp(&t);
                let lo_ok = lo_incl.is_none_or(|i| {
                    ord == std::cmp::Ordering::Greater || (i && ord == std::cmp::Ordering::Equal)
                });
                let hi_ok = hi_incl.is_none_or(|i| {
                    ord == std::cmp::Ordering::Less || (i && ord == std::cmp::Ordering::Equal)
                });
                lo_ok && hi_ok
            })
        }
    }
}

fn condition(f: &FieldFacets, cond: &Cond, universe: &DocSet) -> DocSet {
    match cond {
        Cond::Eq(t) => equal(f, t),
        Cond::Ne(t) => equal(f, t).complement_in(universe),
        Cond::Gt(t) => range(f, t, Some(false), None),
        Cond::Gte(t) => range(f, t, Some(true), None),
        Cond::Lt(t) => range(f, t, None, Some(false)),
        Cond::Lte(t) => range(f, t, None, Some(true)),
        // One value must lie between both bounds.
        Cond::Between(a, b) => match (a.number, b.number) {
            (Some(x), Some(y)) => numbers(f, Bound::Included(x), Bound::Included(y)),
            (None, None) => strings(f, |k| k >= a.norm.as_str() && k <= b.norm.as_str()),
            _ => DocSet::new(),
        },
        Cond::Exists => f.exists.clone(),
        Cond::IsNull => f.nulls.clone(),
        Cond::IsEmpty => f.empties.clone(),
        Cond::Contains(t) => strings(f, |k| k.contains(t.norm.as_str())),
        Cond::StartsWith(t) => strings(f, |k| k.starts_with(t.norm.as_str())),
    }
}
