//! The few search parameters the merge interprets, read from the client's request with
//! Meilisearch's own defaults, clamping and error messages. Every other parameter is passed to
//! the shards untouched.

use miroir_proto::error::{ErrorCode, MeiliError};
use serde_json::{Map, Value};

/// Meilisearch's default `limit` and `hitsPerPage`.
pub const DEFAULT_LIMIT: u64 = 20;

/// How the client paginates; it decides which totals the answer carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pagination {
    /// `offset`/`limit`: the answer carries `estimatedTotalHits`.
    OffsetLimit { offset: u64, limit: u64 },
    /// `page`/`hitsPerPage` (either one present): the answer carries `totalHits`/`totalPages`.
    Pages { page: u64, hits_per_page: u64 },
}

impl Pagination {
    /// The slice `[start, end)` of the whole ranking that the client gets, clamped to
    /// `maxTotalHits` exactly as Meilisearch clamps it (the offset first, then the limit).
    pub fn window(self, max_total_hits: u64) -> (u64, u64) {
        let (offset, limit) = match self {
            Pagination::OffsetLimit { offset, limit } => (offset, limit),
            // Page 0 or 0 hits per page ask for nothing, as in Meilisearch.
            Pagination::Pages { page: 0, .. }
            | Pagination::Pages {
                hits_per_page: 0, ..
            } => (0, 0),
            Pagination::Pages {
                page,
                hits_per_page,
            } => ((page - 1).saturating_mul(hits_per_page), hits_per_page),
        };
        let offset = offset.min(max_total_hits);
        let limit = limit.min(max_total_hits - offset);
        (offset, offset + limit)
    }
}

/// The client's parameters that shape the merged answer.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ClientParams {
    pub pagination: Pagination,
    pub query: String,
    pub show_score: bool,
    pub show_details: bool,
    pub threshold: Option<f64>,
    pub distinct: Option<String>,
    /// `None` when every displayed attribute is retrieved (absent, null or containing `*`).
    pub attributes_to_retrieve: Option<Vec<String>>,
    /// Attributes the client wants in `_formatted` whatever `attributesToRetrieve` says.
    pub formatted_attributes: Vec<String>,
}

pub(crate) fn read(request: &Value) -> Result<ClientParams, MeiliError> {
    let Some(obj) = request.as_object() else {
        return Err(MeiliError::bad_request(format!(
            "Invalid value type: expected an object, but found {}",
            found(request)
        )));
    };
    let offset = uint(obj, "offset", ErrorCode::InvalidSearchOffset)?;
    let limit = uint(obj, "limit", ErrorCode::InvalidSearchLimit)?;
    let page = uint(obj, "page", ErrorCode::InvalidSearchPage)?;
    let hits_per_page = uint(obj, "hitsPerPage", ErrorCode::InvalidSearchHitsPerPage)?;
    let pagination = if page.is_some() || hits_per_page.is_some() {
        Pagination::Pages {
            page: page.unwrap_or(1),
            hits_per_page: hits_per_page.unwrap_or(DEFAULT_LIMIT),
        }
    } else {
        Pagination::OffsetLimit {
            offset: offset.unwrap_or(0),
            limit: limit.unwrap_or(DEFAULT_LIMIT),
        }
    };
    let query = match obj.get("q") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(q)) => q.clone(),
        Some(other) => {
            return Err(type_error(
                "q",
                "a string",
                other,
                ErrorCode::InvalidSearchQ,
            ));
        }
    };
    let threshold = match obj.get("rankingScoreThreshold") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => match n.as_f64() {
            Some(t) if (0.0..=1.0).contains(&t) => Some(t),
            _ => {
                return Err(MeiliError::new(
                    ErrorCode::InvalidSearchRankingScoreThreshold,
                    "Invalid value at `.rankingScoreThreshold`: the value of `rankingScoreThreshold` is invalid, expected a float between `0.0` and `1.0`.",
                ));
            }
        },
        Some(other) => {
            return Err(type_error(
                "rankingScoreThreshold",
                "a number",
                other,
                ErrorCode::InvalidSearchRankingScoreThreshold,
            ));
        }
    };
    let distinct = match obj.get("distinct") {
        None | Some(Value::Null) => None,
        Some(Value::String(d)) => Some(d.clone()),
        Some(other) => {
            return Err(type_error(
                "distinct",
                "a string",
                other,
                ErrorCode::InvalidSearchDistinct,
            ));
        }
    };
    let attributes_to_retrieve = match strings(
        obj,
        "attributesToRetrieve",
        ErrorCode::InvalidSearchAttributesToRetrieve,
    )? {
        Some(list) if !list.iter().any(|a| a == "*") => Some(list),
        _ => None,
    };
    let mut formatted_attributes = Vec::new();
    for (key, code) in [
        (
            "attributesToHighlight",
            ErrorCode::InvalidSearchAttributesToHighlight,
        ),
        ("attributesToCrop", ErrorCode::InvalidSearchAttributesToCrop),
    ] {
        // A crop spec may carry a length (`summary:5`); the attribute is what precedes it.
        for a in strings(obj, key, code)?.unwrap_or_default() {
            let name = a.split_once(':').map_or(a.as_str(), |(n, _)| n);
            formatted_attributes.push(name.to_owned());
        }
    }
    Ok(ClientParams {
        pagination,
        query,
        show_score: boolean(
            obj,
            "showRankingScore",
            ErrorCode::InvalidSearchShowRankingScore,
        )?,
        show_details: boolean(
            obj,
            "showRankingScoreDetails",
            ErrorCode::InvalidSearchShowRankingScoreDetails,
        )?,
        threshold,
        distinct,
        attributes_to_retrieve,
        formatted_attributes,
    })
}

/// A non-negative integer parameter; `null` counts as absent.
fn uint(obj: &Map<String, Value>, key: &str, code: ErrorCode) -> Result<Option<u64>, MeiliError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| type_error(key, "a positive integer", v, code)),
    }
}

fn boolean(obj: &Map<String, Value>, key: &str, code: ErrorCode) -> Result<bool, MeiliError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(v) => Err(type_error(key, "a boolean", v, code)),
    }
}

fn strings(
    obj: &Map<String, Value>,
    key: &str,
    code: ErrorCode,
) -> Result<Option<Vec<String>>, MeiliError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) => Ok(s.clone()),
                other => Err(type_error(&format!("{key}[{i}]"), "a string", other, code)),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(v) => Err(type_error(key, "an array", v, code)),
    }
}

/// deserr's wording, which Meilisearch returns verbatim.
fn type_error(key: &str, expected: &str, got: &Value, code: ErrorCode) -> MeiliError {
    MeiliError::new(
        code,
        format!(
            "Invalid value type at `.{key}`: expected {expected}, but found {}",
            found(got)
        ),
    )
}

fn found(v: &Value) -> String {
    let kind = match v {
        Value::Null => return "null".to_owned(),
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_u64() => "a positive integer",
        Value::Number(n) if n.is_i64() => "a negative integer",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    format!("{kind}: `{v}`")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn windows_clamp_like_meilisearch() {
        let ol = |offset, limit| Pagination::OffsetLimit { offset, limit };
        let pages = |page, hits_per_page| Pagination::Pages {
            page,
            hits_per_page,
        };
        assert_eq!(ol(995, 10).window(1000), (995, 1000));
        assert_eq!(ol(2000, 10).window(1000), (1000, 1000));
        assert_eq!(pages(3, 7).window(1000), (14, 21));
        assert_eq!(pages(0, 7).window(1000), (0, 0));
        assert_eq!(pages(2, 0).window(1000), (0, 0));
        assert_eq!(pages(u64::MAX, u64::MAX).window(1000), (1000, 1000));
    }

    #[test]
    fn errors_quote_the_parameter() {
        let e = read(&json!({"limit": -1})).unwrap_err();
        assert_eq!(e.code, "invalid_search_limit");
        assert_eq!(
            e.message,
            "Invalid value type at `.limit`: expected a positive integer, but found a negative integer: `-1`"
        );
        assert_eq!(read(&json!([])).unwrap_err().code, "bad_request");
        assert_eq!(
            read(&json!({"rankingScoreThreshold": 1.5}))
                .unwrap_err()
                .code,
            "invalid_search_ranking_score_threshold"
        );
        assert_eq!(
            read(&json!({"attributesToRetrieve": [1]}))
                .unwrap_err()
                .code,
            "invalid_search_attributes_to_retrieve"
        );
    }

    #[test]
    fn page_mode_defaults_and_star() {
        let p = read(&json!({"hitsPerPage": 5, "attributesToRetrieve": ["name", "*"]})).unwrap();
        assert_eq!(
            p.pagination,
            Pagination::Pages {
                page: 1,
                hits_per_page: 5
            }
        );
        assert_eq!(p.attributes_to_retrieve, None);
        let p = read(&json!({"q": null, "page": null})).unwrap();
        assert_eq!(
            p.pagination,
            Pagination::OffsetLimit {
                offset: 0,
                limit: 20
            }
        );
    }
}
