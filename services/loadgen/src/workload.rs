//! What iterations send: the queries of the query file and batches of the document corpus, in
//! the order the k6 scripts use (iteration `n` of a run takes query `n mod len`, batch `n` takes
//! the corpus documents from `n * batch` on, under fresh ids), so that both tools send the same
//! requests.
//!
//! A query file is NDJSON (one object a line) or a JSON array of objects
//! `{"tag": "typo", "op": "search" | "multi-search" | "facet-search", "body": {...}}`; `tag`
//! becomes the `query` tag of the samples, so that thresholds and the summary can single out a
//! kind of query.

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("{path}, line {line}: {reason}")]
    Line {
        path: String,
        line: usize,
        reason: String,
    },
    #[error("{path} has no {what}")]
    Empty { path: String, what: &'static str },
}

/// The endpoint a query goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Op {
    /// `POST /indexes/{index}/search`
    Search,
    /// `POST /multi-search` (its queries name their index)
    MultiSearch,
    /// `POST /indexes/{index}/facet-search`
    FacetSearch,
    /// `POST /indexes/{index}/documents` (write iterations)
    Write,
}

impl Op {
    pub fn name(self) -> &'static str {
        match self {
            Op::Search => "search",
            Op::MultiSearch => "multi-search",
            Op::FacetSearch => "facet-search",
            Op::Write => "write",
        }
    }

    pub fn path(self, index: &str) -> String {
        match self {
            Op::Search => format!("/indexes/{index}/search"),
            Op::MultiSearch => "/multi-search".into(),
            Op::FacetSearch => format!("/indexes/{index}/facet-search"),
            Op::Write => format!("/indexes/{index}/documents"),
        }
    }

    /// The status a successful call answers, and the field its body must have: the checks each
    /// iteration makes (the same as the k6 scripts' `check`s). A federated multi-search answers
    /// one merged list of `hits`, not `results`.
    pub fn expects(self, body: &Value) -> (u16, &'static str) {
        match self {
            Op::Search => (200, "hits"),
            Op::MultiSearch if body.get("federation").is_some() => (200, "hits"),
            Op::MultiSearch => (200, "results"),
            Op::FacetSearch => (200, "facetHits"),
            Op::Write => (202, "taskUid"),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Query {
    pub tag: String,
    pub op: Op,
    pub body: Value,
}

/// Reads a query file: NDJSON, or a JSON array when its first non-blank character is `[`.
pub fn read_queries(path: &Path) -> Result<Vec<Query>, WorkloadError> {
    let text = read(path)?;
    parse_queries(&text, &path.display().to_string())
}

pub fn parse_queries(text: &str, path: &str) -> Result<Vec<Query>, WorkloadError> {
    let queries: Vec<Query> = if text.trim_start().starts_with('[') {
        serde_json::from_str(text).map_err(|e| WorkloadError::Line {
            path: path.into(),
            line: e.line(),
            reason: e.to_string(),
        })?
    } else {
        lines(text, path)?
    };
    for (i, q) in queries.iter().enumerate() {
        if q.op == Op::Write || !q.body.is_object() {
            return Err(WorkloadError::Line {
                path: path.into(),
                line: i + 1,
                reason: "a query is a search, multi-search or facet-search with an object body"
                    .into(),
            });
        }
    }
    if queries.is_empty() {
        return Err(WorkloadError::Empty {
            path: path.into(),
            what: "query",
        });
    }
    Ok(queries)
}

/// The document corpus (NDJSON objects).
pub fn read_documents(path: &Path) -> Result<Vec<serde_json::Map<String, Value>>, WorkloadError> {
    let text = read(path)?;
    let docs: Vec<serde_json::Map<String, Value>> = lines(&text, &path.display().to_string())?;
    if docs.is_empty() {
        return Err(WorkloadError::Empty {
            path: path.display().to_string(),
            what: "document",
        });
    }
    Ok(docs)
}

/// Batch `n`: `size` corpus documents from `n * size` on (wrapping), the `k`-th written of the
/// run (`k = n * size + i`) under the id `id_offset + k`, or `id_offset + k mod id_space` when
/// `id_space` is not 0: past `id_space` documents, writes replace earlier ones, so that a long
/// run does not grow the index without bound. The k6 scripts build the same batches.
pub fn batch(
    corpus: &[serde_json::Map<String, Value>],
    n: u64,
    size: usize,
    id_offset: u64,
    id_space: u64,
) -> Vec<Value> {
    let first = n.saturating_mul(size as u64);
    (0..size as u64)
        .map(|i| {
            let at = first.wrapping_add(i) % corpus.len().max(1) as u64;
            let mut doc = corpus
                .get(usize::try_from(at).unwrap_or_default())
                .cloned()
                .unwrap_or_default();
            let k = first.wrapping_add(i);
            let k = if id_space == 0 { k } else { k % id_space };
            doc.insert("id".into(), Value::from(id_offset + k));
            Value::Object(doc)
        })
        .collect()
}

fn read(path: &Path) -> Result<String, WorkloadError> {
    std::fs::read_to_string(path).map_err(|e| WorkloadError::Read {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

fn lines<T: serde::de::DeserializeOwned>(text: &str, path: &str) -> Result<Vec<T>, WorkloadError> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| WorkloadError::Line {
                path: path.into(),
                line: i + 1,
                reason: e.to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn ndjson_and_arrays_read_the_same() {
        let nd = "{\"tag\": \"plain\", \"op\": \"search\", \"body\": {\"q\": \"react\"}}\n\n\
                  {\"tag\": \"m\", \"op\": \"multi-search\", \"body\": {\"queries\": []}}\n";
        let arr = r#"[{"tag": "plain", "op": "search", "body": {"q": "react"}},
                      {"tag": "m", "op": "multi-search", "body": {"queries": []}}]"#;
        for text in [nd, arr] {
            let q = parse_queries(text, "q").unwrap();
            assert_eq!(q.len(), 2);
            assert_eq!((q[0].op, q[0].tag.as_str()), (Op::Search, "plain"));
            assert_eq!(q[1].op, Op::MultiSearch);
        }
    }

    #[test]
    fn a_federated_multi_search_answers_hits() {
        assert_eq!(
            Op::MultiSearch.expects(&json!({"queries": []})).1,
            "results"
        );
        assert_eq!(
            Op::MultiSearch
                .expects(&json!({"federation": {}, "queries": []}))
                .1,
            "hits"
        );
        assert_eq!(Op::Write.expects(&json!([])), (202, "taskUid"));
    }

    #[test]
    fn bad_query_lines_name_their_line() {
        let e = parse_queries("{\"tag\": \"a\", \"op\": \"search\", \"body\": {}}\n{\"tag\": \"b\", \"op\": \"browse\", \"body\": {}}\n", "q.ndjson")
            .unwrap_err()
            .to_string();
        assert!(e.contains("q.ndjson, line 2"), "{e}");
        let e =
            parse_queries("{\"tag\": \"a\", \"op\": \"write\", \"body\": {}}", "q").unwrap_err();
        assert!(e.to_string().contains("line 1"), "{e}");
        let e = parse_queries(
            "{\"tag\": \"a\", \"op\": \"search\", \"body\": \"react\"}",
            "q",
        );
        assert!(e.is_err());
        assert!(parse_queries("\n", "q").is_err(), "no query at all");
    }

    #[test]
    fn batches_take_the_corpus_in_order_under_fresh_ids() {
        let corpus: Vec<_> = (0..5)
            .map(|i| {
                json!({"id": i, "name": format!("p{i}")})
                    .as_object()
                    .unwrap()
                    .clone()
            })
            .collect();
        let b = batch(&corpus, 1, 3, 1000, 0);
        let ids: Vec<_> = b.iter().map(|d| d["id"].as_u64().unwrap()).collect();
        let names: Vec<_> = b.iter().map(|d| d["name"].as_str().unwrap()).collect();
        assert_eq!(ids, [1003, 1004, 1005]);
        assert_eq!(names, ["p3", "p4", "p0"], "wraps around the corpus");
        let b = batch(&corpus, 1, 3, 1000, 4);
        let ids: Vec<_> = b.iter().map(|d| d["id"].as_u64().unwrap()).collect();
        assert_eq!(ids, [1003, 1000, 1001], "ids wrap around the id space");
    }

    #[test]
    fn the_repository_query_file_covers_every_kind_of_query() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../loadtest/queries/npm-search.ndjson");
        let q = read_queries(&path).unwrap();
        let tags: std::collections::BTreeSet<_> = q.iter().map(|q| q.tag.as_str()).collect();
        for tag in [
            "plain",
            "typo",
            "prefix",
            "filter",
            "facets",
            "sort",
            "page",
            "multi",
            "facet-search",
        ] {
            assert!(tags.contains(tag), "no {tag} query");
        }
        for op in [Op::Search, Op::MultiSearch, Op::FacetSearch] {
            assert!(q.iter().any(|q| q.op == op), "no {} query", op.name());
        }
    }
}
