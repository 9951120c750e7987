//! Meilisearch's filter expressions: the string syntax (`genres = horror AND year > 2000`),
//! the array form (outer AND of inner OR), the filterable-attribute check and the evaluation
//! of a filter against a document.

mod eval;
mod parser;
mod sets;

use std::fmt;

use miroir_proto::error::{ErrorCode, MeiliError};
use serde_json::Value;

use super::Document;
use super::fields::matches_any;

/// A token of the filter with its place in the source string (in characters).
#[derive(Clone, Debug, PartialEq)]
pub struct Tok {
    pub value: String,
    /// `value` trimmed and lowercased, as facet strings are compared.
    pub norm: String,
    /// `value` as a finite number, if it is one.
    pub number: Option<f64>,
    pub start: usize,
    pub len: usize,
    /// Index of the source string (the array form has several).
    pub source: usize,
}

/// What a condition asks of a field.
#[derive(Clone, Debug, PartialEq)]
pub enum Cond {
    Eq(Tok),
    Ne(Tok),
    Gt(Tok),
    Gte(Tok),
    Lt(Tok),
    Lte(Tok),
    Between(Tok, Tok),
    Exists,
    IsNull,
    IsEmpty,
    Contains(Tok),
    StartsWith(Tok),
}

/// A filter expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Cond { field: Tok, cond: Cond },
    In { field: Tok, values: Vec<Tok> },
}

/// A parsed filter; `None` inside means "no filter" (an empty string or array).
#[derive(Clone, Debug, PartialEq)]
pub struct Filter {
    expr: Option<Expr>,
    sources: Vec<String>,
}

/// Meilisearch's filter syntax, string or array form. `code` is the error code to use
/// (`invalid_search_filter`, `invalid_document_filter`, ...).
pub fn parse(filter: &Value, code: ErrorCode) -> Result<Filter, MeiliError> {
    let mut sources = Vec::new();
    let expr = match filter {
        Value::Null => None,
        Value::String(s) => parse_source(s, &mut sources, code)?,
        Value::Array(items) => {
            let mut ands = Vec::new();
            for item in items {
                match item {
                    Value::String(s) => ands.extend(parse_source(s, &mut sources, code)?),
                    Value::Array(inner) => {
                        let mut ors = Vec::new();
                        for v in inner {
                            match v {
                                Value::String(s) => {
                                    ors.extend(parse_source(s, &mut sources, code)?)
                                }
                                other => return Err(syntax_error(code, "String", other)),
                            }
                        }
                        match ors.len() {
                            0 => {}
                            1 => ands.extend(ors),
                            _ => ands.push(Expr::Or(ors)),
                        }
                    }
                    other => return Err(syntax_error(code, "String, Array", other)),
                }
            }
            match ands.len() {
                0 => None,
                1 => ands.pop(),
                _ => Some(Expr::And(ands)),
            }
        }
        other => return Err(syntax_error(code, "String, Array", other)),
    };
    Ok(Filter { expr, sources })
}

fn syntax_error(code: ErrorCode, expected: &str, found: &Value) -> MeiliError {
    MeiliError::new(
        code,
        format!("Invalid syntax for the filter parameter: `expected {expected}, found: {found}`."),
    )
}

fn parse_source(
    s: &str,
    sources: &mut Vec<String>,
    code: ErrorCode,
) -> Result<Option<Expr>, MeiliError> {
    if s.trim().is_empty() {
        return Ok(None);
    }
    let id = sources.len();
    sources.push(s.to_string());
    parser::Parser::new(s, id).parse().map(Some).map_err(|e| {
        MeiliError::new(
            code,
            format!(
                "{}\n{}:{} {}",
                e.message,
                e.start + 1,
                e.start + 1 + e.len,
                s
            ),
        )
    })
}

impl Tok {
    pub fn new(value: String, start: usize, len: usize, source: usize) -> Self {
        let norm = value.trim().to_lowercase();
        let number = value.trim().parse::<f64>().ok().filter(|f| f.is_finite());
        Tok {
            value,
            norm,
            number,
            start,
            len,
            source,
        }
    }
}

impl Filter {
    /// No condition at all (empty string or array).
    pub fn is_empty(&self) -> bool {
        self.expr.is_none()
    }

    /// Every attribute used must match a filterable pattern; otherwise Meilisearch's error.
    /// `index_prefix`: Some(uid) prefixes the message with "Index `uid`: ".
    pub fn check_filterable(
        &self,
        filterable: &[String],
        index_prefix: Option<&str>,
        code: ErrorCode,
    ) -> Result<(), MeiliError> {
        let Some(expr) = &self.expr else {
            return Ok(());
        };
        let mut fields = Vec::new();
        expr.fields(&mut fields);
        for tok in fields {
            if matches_any(filterable, &tok.value) {
                continue;
            }
            let mut patterns: Vec<&String> = filterable.iter().collect();
            patterns.sort();
            let tail = if patterns.is_empty() {
                "This index does not have configured filterable attributes.".to_string()
            } else {
                let list = patterns
                    .iter()
                    .map(|p| format!("`{p}`"))
                    .collect::<Vec<_>>()
                    .join(", ");
                format!("Available filterable attribute patterns are: {list}.")
            };
            let source = self
                .sources
                .get(tok.source)
                .map(String::as_str)
                .unwrap_or("");
            let prefix = index_prefix
                .map(|uid| format!("Index `{uid}`: "))
                .unwrap_or_default();
            return Err(MeiliError::new(
                code,
                format!(
                    "{prefix}Attribute `{}` is not filterable. {tail}\n{}:{} {source}",
                    tok.value,
                    tok.start + 1,
                    tok.start + 1 + tok.len
                ),
            ));
        }
        Ok(())
    }

    /// The matching documents, from the facet index, when it covers these filterable
    /// attributes (it does unless settings changed without a rebuild).
    pub(crate) fn doc_set(
        &self,
        index: &crate::engine::SearchIndex,
        settings: &crate::engine::EngineSettings,
    ) -> Option<crate::engine::docset::DocSet> {
        if !index
            .facets
            .usable_for(&crate::engine::facet_index::patterns_of(settings))
        {
            return None;
        }
        Some(match &self.expr {
            None => index.universe.clone(),
            Some(e) => sets::eval(e, &index.facets, &index.universe),
        })
    }

    pub fn matches(&self, doc: &Document) -> bool {
        match &self.expr {
            None => true,
            Some(e) => eval::matches(e, doc),
        }
    }

    /// The filter re-written with every attribute and value double-quoted, as Meilisearch's
    /// search route re-renders a filter before checking it (its errors then point into the
    /// re-rendered string).
    pub fn requoted(&self) -> Filter {
        match &self.expr {
            None => self.clone(),
            Some(e) => {
                let text = e.render_quoted();
                match parser::Parser::new(&text, 0).parse() {
                    Ok(expr) => Filter {
                        expr: Some(expr),
                        sources: vec![text],
                    },
                    Err(_) => self.clone(),
                }
            }
        }
    }

    /// The attributes the filter uses, in order of appearance.
    pub fn attributes(&self) -> Vec<String> {
        let mut toks = Vec::new();
        if let Some(e) = &self.expr {
            e.fields(&mut toks);
        }
        toks.into_iter().map(|t| t.value.clone()).collect()
    }
}

impl Expr {
    fn fields<'a>(&'a self, out: &mut Vec<&'a Tok>) {
        match self {
            Expr::And(v) | Expr::Or(v) => v.iter().for_each(|e| e.fields(out)),
            Expr::Not(e) => e.fields(out),
            Expr::Cond { field, .. } | Expr::In { field, .. } => out.push(field),
        }
    }

    fn render_quoted(&self) -> String {
        let q = |t: &Tok| format!("\"{}\"", t.value.replace('\\', "\\\\").replace('"', "\\\""));
        match self {
            Expr::And(v) => v
                .iter()
                .map(|e| e.render_group())
                .collect::<Vec<_>>()
                .join(" AND "),
            Expr::Or(v) => v
                .iter()
                .map(|e| e.render_group())
                .collect::<Vec<_>>()
                .join(" OR "),
            Expr::Not(e) => format!("NOT {}", e.render_group()),
            Expr::In { field, values } => {
                format!(
                    "{} IN [{}]",
                    q(field),
                    values.iter().map(q).collect::<Vec<_>>().join(", ")
                )
            }
            Expr::Cond { field, cond } => {
                let f = q(field);
                match cond {
                    Cond::Eq(v) => format!("{f} = {}", q(v)),
                    Cond::Ne(v) => format!("{f} != {}", q(v)),
                    Cond::Gt(v) => format!("{f} > {}", q(v)),
                    Cond::Gte(v) => format!("{f} >= {}", q(v)),
                    Cond::Lt(v) => format!("{f} < {}", q(v)),
                    Cond::Lte(v) => format!("{f} <= {}", q(v)),
                    Cond::Between(a, b) => format!("{f} {} TO {}", q(a), q(b)),
                    Cond::Exists => format!("{f} EXISTS"),
                    Cond::IsNull => format!("{f} IS NULL"),
                    Cond::IsEmpty => format!("{f} IS EMPTY"),
                    Cond::Contains(v) => format!("{f} CONTAINS {}", q(v)),
                    Cond::StartsWith(v) => format!("{f} STARTS WITH {}", q(v)),
                }
            }
        }
    }

    fn render_group(&self) -> String {
        match self {
            Expr::And(_) | Expr::Or(_) => format!("({})", self.render_quoted()),
            _ => self.render_quoted(),
        }
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::And(v) => write!(
                f,
                "({})",
                v.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(" AND ")
            ),
            Expr::Or(v) => write!(
                f,
                "({})",
                v.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(" OR ")
            ),
            Expr::Not(e) => write!(f, "NOT ({e})"),
            Expr::In { field, values } => {
                write!(
                    f,
                    "{} IN [{}]",
                    field.value,
                    values
                        .iter()
                        .map(|v| v.value.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
            Expr::Cond { field, cond } => {
                let name = &field.value;
                match cond {
                    Cond::Eq(v) => write!(f, "{name} = {}", v.value),
                    Cond::Ne(v) => write!(f, "{name} != {}", v.value),
                    Cond::Gt(v) => write!(f, "{name} > {}", v.value),
                    Cond::Gte(v) => write!(f, "{name} >= {}", v.value),
                    Cond::Lt(v) => write!(f, "{name} < {}", v.value),
                    Cond::Lte(v) => write!(f, "{name} <= {}", v.value),
                    Cond::Between(a, b) => write!(f, "{name} {} TO {}", a.value, b.value),
                    Cond::Exists => write!(f, "{name} EXISTS"),
                    Cond::IsNull => write!(f, "{name} IS NULL"),
                    Cond::IsEmpty => write!(f, "{name} IS EMPTY"),
                    Cond::Contains(v) => write!(f, "{name} CONTAINS {}", v.value),
                    Cond::StartsWith(v) => write!(f, "{name} STARTS WITH {}", v.value),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::*;

    fn filterable() -> Vec<String> {
        ["scope", "major", "downloads", "tags"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    #[test]
    fn recorded_syntax_error() {
        let e = parse(&json!("major >"), ErrorCode::InvalidSearchFilter).unwrap_err();
        assert_eq!(
            e.message,
            "Was expecting a value but instead got nothing.\n8:8 major >"
        );
        assert_eq!(e.code, "invalid_search_filter");
    }

    #[test]
    fn recorded_not_filterable_errors() {
        let f = parse(&json!("title = Joker"), ErrorCode::InvalidDocumentFilter).unwrap();
        let e = f
            .check_filterable(
                &["year".into(), "genres".into()],
                None,
                ErrorCode::InvalidDocumentFilter,
            )
            .unwrap_err();
        assert_eq!(
            e.message,
            "Attribute `title` is not filterable. Available filterable attribute patterns are: `genres`, `year`.\n1:6 title = Joker"
        );
        // The search route checks the re-quoted filter.
        let f = parse(&json!("version = 1"), ErrorCode::InvalidSearchFilter)
            .unwrap()
            .requoted();
        let e = f
            .check_filterable(&filterable(), Some("npm"), ErrorCode::InvalidSearchFilter)
            .unwrap_err();
        assert_eq!(
            e.message,
            "Index `npm`: Attribute `version` is not filterable. Available filterable attribute patterns are: `downloads`, `major`, `scope`, `tags`.\n2:9 \"version\" = \"1\""
        );
    }

    #[test]
    fn array_form_is_and_of_ors() {
        let f = parse(
            &json!([["scope = types", "scope = babel"], "major > 5"]),
            ErrorCode::BadRequest,
        )
        .unwrap();
        assert_eq!(
            f.expr.as_ref().unwrap().to_string(),
            "((scope = types OR scope = babel) AND major > 5)"
        );
        let doc = |v: Value| v.as_object().cloned().unwrap();
        assert!(f.matches(&doc(json!({"scope": "Types", "major": 7}))));
        assert!(!f.matches(&doc(json!({"scope": "types", "major": 5}))));
        assert!(!f.matches(&doc(json!({"scope": "other", "major": 7}))));
        let e = parse(&json!([1]), ErrorCode::BadRequest).unwrap_err();
        assert_eq!(
            e.message,
            "Invalid syntax for the filter parameter: `expected String, Array, found: 1`."
        );
        let e = parse(&json!([[["x"]]]), ErrorCode::BadRequest).unwrap_err();
        assert_eq!(
            e.message,
            "Invalid syntax for the filter parameter: `expected String, found: [\"x\"]`."
        );
        assert!(parse(&json!(""), ErrorCode::BadRequest).unwrap().is_empty());
        assert!(parse(&json!([]), ErrorCode::BadRequest).unwrap().is_empty());
    }

    #[test]
    fn nested_attributes_are_filterable_through_their_parent() {
        let f = parse(&json!("doggo.age > 2"), ErrorCode::BadRequest).unwrap();
        assert!(
            f.check_filterable(&["doggo".into()], None, ErrorCode::BadRequest)
                .is_ok()
        );
        assert!(
            f.check_filterable(&["dog".into()], None, ErrorCode::BadRequest)
                .is_err()
        );
        let e = f
            .check_filterable(&[], None, ErrorCode::BadRequest)
            .unwrap_err();
        assert!(
            e.message
                .contains("This index does not have configured filterable attributes.")
        );
    }
}
