//! Vectors for `userProvided` embedders: documents' `_vectors`, `retrieveVectors`, a search with
//! `vector` and `hybrid.embedder`, and `/similar`.
//!
//! The stand-in ranks by cosine similarity, exhaustively, and gives a hit the score
//! `(1 + cosine) / 2`; a node uses an approximate index (arroy) and its own distance-to-score
//! mapping, so only the order of clearly separated vectors is a node's. The semantic search is
//! purely semantic whatever `semanticRatio` says (the stand-in has no model to embed `q` with),
//! and hits carry no highlighting or cropping.

use std::cmp::Ordering;
use std::time::Instant;

use miroir_proto::error::{ErrorCode, MeiliError};
use serde_json::{Map, Value, json};

use crate::documents::{self as docs, primary_key_value};
use crate::engine::fields::matches_any;
use crate::engine::{Document, SearchQuery, filter};
use crate::store::Index;

/// The first vector a document holds for `embedder` (`[..]`, `[[..], ..]` or
/// `{"embeddings": ..}`).
pub(super) fn embedding(doc: &Document, embedder: &str) -> Option<Vec<f64>> {
    let v = doc.get("_vectors")?.get(embedder)?;
    let v = match v {
        Value::Object(o) => o.get("embeddings")?,
        other => other,
    };
    let first = match v.as_array()?.first()? {
        Value::Array(inner) => inner,
        Value::Number(_) => v.as_array()?,
        _ => return None,
    };
    first.iter().map(Value::as_f64).collect()
}

/// `_vectors` as `retrieveVectors` shows it: every embedder of the index with the document's
/// embeddings.
pub(super) fn retrieved(doc: &Document, embedders: &Map<String, Value>) -> Value {
    let shown: Map<String, Value> = embedders
        .keys()
        .map(|name| {
            let embeddings: Vec<Value> = embedding(doc, name)
                .map(|v| vec![json!(v)])
                .unwrap_or_default();
            (
                name.clone(),
                json!({"embeddings": embeddings, "regenerate": false}),
            )
        })
        .collect();
    Value::Object(shown)
}

fn score(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    let (na, nb) = (norm(a), norm(b));
    if na == 0.0 || nb == 0.0 {
        return 0.5;
    }
    ((1.0 + dot / (na * nb)) / 2.0).clamp(0.0, 1.0)
}

/// What a semantic ranking shows of each hit, and which page.
struct Page {
    offset: usize,
    limit: usize,
    filter: Option<Value>,
    attributes: Option<Vec<String>>,
    retrieve_vectors: bool,
    show_score: bool,
    threshold: Option<f64>,
}

impl Page {
    fn of(q: &SearchQuery) -> Page {
        Page {
            offset: q.offset.unwrap_or(0),
            limit: q.limit.unwrap_or(20),
            filter: q.filter.clone(),
            attributes: q.attributes_to_retrieve.clone(),
            retrieve_vectors: q.retrieve_vectors,
            show_score: q.show_ranking_score,
            threshold: q.ranking_score_threshold,
        }
    }
}

/// The documents nearest to `target` (the reference excluded), ranked and paged:
/// `(hits, estimatedTotalHits)`.
fn rank(
    index: &Index,
    embedder: &str,
    target: &[f64],
    exclude: Option<&str>,
    page: &Page,
    filter_code: ErrorCode,
) -> Result<(Vec<Value>, usize), MeiliError> {
    let parsed = match &page.filter {
        Some(f) => {
            let parsed = filter::parse(f, filter_code)?;
            parsed.check_filterable(
                &index.engine_settings.filterable,
                Some(&index.uid),
                filter_code,
            )?;
            Some(parsed)
        }
        None => None,
    };
    let pk = index.primary_key.as_deref().unwrap_or("id");
    let mut scored: Vec<(f64, &Document)> = index
        .docs
        .values()
        .filter(|d| {
            exclude.is_none_or(|id| {
                primary_key_value(d, pk)
                    .and_then(docs::canonical_id)
                    .as_deref()
                    != Some(id)
            })
        })
        .filter(|d| parsed.as_ref().is_none_or(|f| f.matches(d)))
        .filter_map(|d| embedding(d, embedder).map(|v| (score(target, &v), d)))
        .filter(|(s, _)| page.threshold.is_none_or(|t| *s >= t))
        .collect();
    scored.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(Ordering::Equal));
    let total = scored.len();
    let displayed = index.engine_settings.displayed.as_deref();
    let hits = scored
        .into_iter()
        .skip(page.offset)
        .take(page.limit)
        .map(|(s, d)| {
            let mut hit = docs::select_fields(d, page.attributes.as_deref());
            if let Some(shown) = displayed {
                hit.retain(|k, _| k == "_vectors" || matches_any(shown, k));
            }
            hit.shift_remove("_vectors");
            if page.retrieve_vectors {
                hit.insert("_vectors".into(), retrieved(d, &index.settings.embedders));
            }
            if page.show_score {
                hit.insert("_rankingScore".into(), json!(s));
            }
            Value::Object(hit)
        })
        .collect();
    Ok((hits, total))
}

fn dimensions_check(index: &Index, embedder: &str, v: &[f64]) -> Result<(), MeiliError> {
    let expected = index
        .settings
        .embedders
        .get(embedder)
        .and_then(|e| e.get("dimensions"))
        .and_then(Value::as_u64);
    match expected {
        Some(d) if d != v.len() as u64 => Err(MeiliError::new(
            ErrorCode::InvalidSearchVector,
            format!(
                "Invalid vector dimensions: expected: `{d}`, found: `{}`.",
                v.len()
            ),
        )),
        _ => Ok(()),
    }
}

/// Whether a search body asks for a semantic search on an index that has embedders (otherwise
/// the engine refuses its semantic parameters as a node without embedders does).
pub(super) fn is_semantic(index: &Index, body: &Value) -> bool {
    !index.settings.embedders.is_empty()
        && ["vector", "hybrid"]
            .iter()
            .any(|k| body.get(k).is_some_and(|v| !v.is_null()))
}

/// `POST /search` with `vector` and `hybrid.embedder`.
pub(super) fn search(index: &Index, body: &Value) -> Result<Value, MeiliError> {
    let started = Instant::now();
    let mut rest = body.as_object().cloned().unwrap_or_default();
    let vector = rest.shift_remove("vector");
    let hybrid = rest.shift_remove("hybrid");
    let q = crate::engine::parse_search_body(&Value::Object(rest))?;
    let hybrid = hybrid.filter(|h| !h.is_null()).ok_or_else(|| {
        MeiliError::new(
            ErrorCode::MissingSearchHybrid,
            "Passing `vector` as a parameter requires `hybrid` to be set.",
        )
    })?;
    let embedder = hybrid
        .get("embedder")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            MeiliError::new(
                ErrorCode::InvalidSearchHybridQuery,
                "Missing field `embedder` inside `.hybrid`",
            )
        })?;
    if !index.settings.embedders.contains_key(embedder) {
        return Err(MeiliError::new(
            ErrorCode::InvalidSearchEmbedder,
            format!("Cannot find embedder with name `{embedder}`."),
        ));
    }
    let vector: Vec<f64> = match vector.filter(|v| !v.is_null()) {
        Some(Value::Array(items)) => items
            .iter()
            .map(Value::as_f64)
            .collect::<Option<_>>()
            .ok_or_else(|| {
                MeiliError::new(
                    ErrorCode::InvalidSearchVector,
                    "`vector` is not a list of numbers",
                )
            })?,
        Some(_) => {
            return Err(MeiliError::new(
                ErrorCode::InvalidSearchVector,
                "`vector` is not a list of numbers",
            ));
        }
        None => {
            return Err(MeiliError::new(
                ErrorCode::InvalidSearchVector,
                "The Miroir stand-in node searches semantically only with a `vector`.",
            ));
        }
    };
    dimensions_check(index, embedder, &vector)?;
    let page = Page::of(&q);
    let (hits, total) = rank(
        index,
        embedder,
        &vector,
        None,
        &page,
        ErrorCode::InvalidSearchFilter,
    )?;
    let semantic = hits.len();
    Ok(json!({
        "hits": hits,
        "query": q.q.unwrap_or_default(),
        "processingTimeMs": started.elapsed().as_millis() as u64,
        "limit": page.limit,
        "offset": page.offset,
        "estimatedTotalHits": total,
        "semanticHitCount": semantic,
    }))
}

/// `/similar` on an index that has `embedder`: the documents nearest to document `id`.
pub(super) fn similar(
    index: &Index,
    id: &str,
    embedder: &str,
    q: &SearchQuery,
) -> Result<Value, MeiliError> {
    let started = Instant::now();
    let reference = index
        .document(id)
        .ok_or_else(|| MeiliError::document_not_found(id))?;
    let page = Page::of(q);
    let (hits, total) = match embedding(reference, embedder) {
        Some(target) => rank(
            index,
            embedder,
            &target,
            Some(id),
            &page,
            ErrorCode::InvalidSimilarFilter,
        )?,
        None => (Vec::new(), 0),
    };
    Ok(json!({
        "hits": hits,
        "id": id,
        "processingTimeMs": started.elapsed().as_millis() as u64,
        "limit": page.limit,
        "offset": page.offset,
        "estimatedTotalHits": total,
    }))
}
