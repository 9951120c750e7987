//! Query strings and path segments checked as Meilisearch checks them (its `deserr` messages),
//! and the conversion of `GET` query parameters into the JSON bodies of the matching `POST`
//! routes (search, documents fetch), with Meilisearch's types.

use miroir_placement::MAX_LOGICAL_INDEX_UID_BYTES;
pub use miroir_proto::suggest::{did_you_mean, quoted};
use miroir_proto::{ErrorCode, MeiliError};
use serde_json::{Map, Value};

const UID_RULES: &str = "Index uid can be an integer or a string containing only alphanumeric characters, hyphens (-) and underscores (_), and can not be more than 512 bytes.";

/// Why `uid` is not a valid index uid, in Meilisearch's words (without the location prefix).
pub fn index_uid_problem(uid: &str) -> Option<String> {
    let charset_ok = !uid.is_empty()
        && uid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !charset_ok || uid.len() > miroir_placement::MAX_INDEX_UID_BYTES {
        return Some(format!("`{uid}` is not a valid index uid. {UID_RULES}"));
    }
    if uid.len() > MAX_LOGICAL_INDEX_UID_BYTES {
        // Meilisearch would take it, but the shard names built from it would be too long.
        return Some(format!(
            "`{uid}` is not a valid index uid. Miroir index uids can not be more than {MAX_LOGICAL_INDEX_UID_BYTES} bytes: the rest of Meilisearch's 512 is needed to name their shards."
        ));
    }
    None
}

/// An index uid taken from the path.
pub fn check_index_uid(uid: &str) -> Result<(), MeiliError> {
    match index_uid_problem(uid) {
        Some(message) => Err(MeiliError::new(ErrorCode::InvalidIndexUid, message)),
        None => Ok(()),
    }
}

/// A query string as deserr's query-parameter extractor sees it: names in order of first
/// appearance, each with all its values.
#[derive(Debug, Default)]
pub struct QueryParams {
    pairs: Vec<(String, Vec<String>)>,
}

pub fn invalid_param(code: ErrorCode, name: &str, msg: impl std::fmt::Display) -> MeiliError {
    MeiliError::new(code, format!("Invalid value in parameter `{name}`: {msg}"))
}

impl QueryParams {
    pub fn parse(raw: Option<&str>) -> Self {
        let mut pairs: Vec<(String, Vec<String>)> = Vec::new();
        for (k, v) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
            match pairs.iter_mut().find(|(name, _)| *name == k) {
                Some((_, values)) => values.push(v.into_owned()),
                None => pairs.push((k.into_owned(), vec![v.into_owned()])),
            }
        }
        QueryParams { pairs }
    }

    /// Every parameter with its single value, refusing unknown names (`bad_request`) and
    /// repeated ones (the parameter's own code). `accepted` pairs names with error codes.
    pub fn entries<'a>(
        &'a self,
        accepted: &[(&str, ErrorCode)],
    ) -> Result<Vec<(&'a str, &'a str)>, MeiliError> {
        let names: Vec<&str> = accepted.iter().map(|(n, _)| *n).collect();
        let mut out = Vec::with_capacity(self.pairs.len());
        for (key, values) in &self.pairs {
            let Some((_, code)) = accepted.iter().find(|(n, _)| n == key) else {
                return Err(MeiliError::bad_request(format!(
                    "Unknown parameter `{key}`: expected one of {}",
                    quoted(&names)
                )));
            };
            match values.as_slice() {
                [one] => out.push((key.as_str(), one.as_str())),
                _ => {
                    return Err(MeiliError::new(
                        *code,
                        format!(
                            "Invalid value type for parameter `{key}`: expected a string, but found multiple values"
                        ),
                    ));
                }
            }
        }
        Ok(out)
    }
}

/// deserr's error for an unknown key of a JSON body.
pub fn unknown_field(key: &str, accepted: &[&str]) -> MeiliError {
    MeiliError::bad_request(format!(
        "Unknown field `{key}`: {}expected one of {}",
        did_you_mean(key, accepted),
        quoted(accepted)
    ))
}

/// deserr's error for a JSON value of the wrong type at `loc` (`.uid`).
pub fn invalid_type(
    code: ErrorCode,
    loc: &str,
    expected: &str,
    v: &serde_json::Value,
) -> MeiliError {
    MeiliError::new(
        code,
        format!(
            "Invalid value type at `{loc}`: expected {expected}, but found {}",
            crate::body::described(v)
        ),
    )
}

pub fn param_usize(code: ErrorCode, name: &str, v: &str) -> Result<usize, MeiliError> {
    v.parse::<usize>().map_err(|_| {
        invalid_param(
            code,
            name,
            format!("could not parse `{v}` as a positive integer"),
        )
    })
}

pub fn param_bool(code: ErrorCode, name: &str, v: &str) -> Result<bool, MeiliError> {
    v.parse::<bool>().map_err(|_| {
        invalid_param(
            code,
            name,
            format!("could not parse `{v}` as a boolean, expected either `true` or `false`"),
        )
    })
}

fn param_f64(code: ErrorCode, name: &str, v: &str) -> Result<Value, MeiliError> {
    let f = v
        .trim()
        .parse::<f64>()
        .map_err(|_| invalid_param(code, name, format!("could not parse `{v}` as a float")))?;
    serde_json::Number::from_f64(f)
        .map(Value::Number)
        .ok_or_else(|| invalid_param(code, name, format!("could not parse `{v}` as a float")))
}

/// deserr's comma-separated list.
fn list(v: &str) -> Vec<Value> {
    v.split(',')
        .map(|s| Value::String(s.trim().to_string()))
        .collect()
}

/// A filter given in a query string is JSON when it parses as JSON (an array of conditions),
/// and a plain string otherwise.
fn filter(v: &str) -> Value {
    serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_string()))
}

/// Meilisearch's `fix_sort_query_parameters`: split on commas, except inside `_geoPoint(...)`.
pub fn sort_list(sort_query: &str) -> Vec<String> {
    let mut sort_parameters: Vec<String> = Vec::new();
    let mut merge = false;
    for current in sort_query.trim_matches('"').split(',').map(str::trim) {
        if current.starts_with("_geoPoint(") {
            sort_parameters.push(current.to_string());
            merge = true;
        } else if let (true, Some(last)) = (merge, sort_parameters.last_mut()) {
            last.push(',');
            last.push_str(current);
            if current.ends_with("):desc") || current.ends_with("):asc") {
                merge = false;
            }
        } else {
            sort_parameters.push(current.to_string());
            merge = false;
        }
    }
    sort_parameters
}

#[derive(Clone, Copy)]
enum Kind {
    Str,
    Usize,
    Bool,
    Float,
    FloatList,
    List,
    /// A list where `*` means "everything", i.e. the parameter is left out.
    StarList,
    Filter,
    Sort,
}

fn convert(kind: Kind, code: ErrorCode, name: &str, v: &str) -> Result<Option<Value>, MeiliError> {
    Ok(Some(match kind {
        Kind::Str => Value::String(v.to_string()),
        Kind::Usize => Value::from(param_usize(code, name, v)?),
        Kind::Bool => Value::Bool(param_bool(code, name, v)?),
        Kind::Float => param_f64(code, name, v)?,
        Kind::FloatList => Value::Array(
            v.split(',')
                .map(|item| param_f64(code, name, item))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Kind::List => Value::Array(list(v)),
        Kind::StarList => {
            let items = list(v);
            if items.iter().any(|i| i.as_str() == Some("*")) {
                return Ok(None);
            }
            Value::Array(items)
        }
        Kind::Filter => filter(v),
        Kind::Sort => Value::Array(sort_list(v).into_iter().map(Value::String).collect()),
    }))
}

const SEARCH_PARAMS: &[(&str, Kind, ErrorCode)] = &[
    ("q", Kind::Str, ErrorCode::InvalidSearchQ),
    ("vector", Kind::FloatList, ErrorCode::InvalidSearchVector),
    ("offset", Kind::Usize, ErrorCode::InvalidSearchOffset),
    ("limit", Kind::Usize, ErrorCode::InvalidSearchLimit),
    ("page", Kind::Usize, ErrorCode::InvalidSearchPage),
    (
        "hitsPerPage",
        Kind::Usize,
        ErrorCode::InvalidSearchHitsPerPage,
    ),
    (
        "attributesToRetrieve",
        Kind::List,
        ErrorCode::InvalidSearchAttributesToRetrieve,
    ),
    (
        "retrieveVectors",
        Kind::Bool,
        ErrorCode::InvalidSearchRetrieveVectors,
    ),
    (
        "attributesToCrop",
        Kind::List,
        ErrorCode::InvalidSearchAttributesToCrop,
    ),
    (
        "cropLength",
        Kind::Usize,
        ErrorCode::InvalidSearchCropLength,
    ),
    (
        "attributesToHighlight",
        Kind::List,
        ErrorCode::InvalidSearchAttributesToHighlight,
    ),
    ("filter", Kind::Filter, ErrorCode::InvalidSearchFilter),
    ("sort", Kind::Sort, ErrorCode::InvalidSearchSort),
    ("distinct", Kind::Str, ErrorCode::InvalidSearchDistinct),
    (
        "showMatchesPosition",
        Kind::Bool,
        ErrorCode::InvalidSearchShowMatchesPosition,
    ),
    (
        "showRankingScore",
        Kind::Bool,
        ErrorCode::InvalidSearchShowRankingScore,
    ),
    (
        "showRankingScoreDetails",
        Kind::Bool,
        ErrorCode::InvalidSearchShowRankingScoreDetails,
    ),
    ("facets", Kind::List, ErrorCode::InvalidSearchFacets),
    (
        "highlightPreTag",
        Kind::Str,
        ErrorCode::InvalidSearchHighlightPreTag,
    ),
    (
        "highlightPostTag",
        Kind::Str,
        ErrorCode::InvalidSearchHighlightPostTag,
    ),
    ("cropMarker", Kind::Str, ErrorCode::InvalidSearchCropMarker),
    (
        "matchingStrategy",
        Kind::Str,
        ErrorCode::InvalidSearchMatchingStrategy,
    ),
    (
        "attributesToSearchOn",
        Kind::List,
        ErrorCode::InvalidSearchAttributesToSearchOn,
    ),
    (
        "hybridEmbedder",
        Kind::Str,
        ErrorCode::InvalidSearchEmbedder,
    ),
    (
        "hybridSemanticRatio",
        Kind::Float,
        ErrorCode::InvalidSearchSemanticRatio,
    ),
    (
        "rankingScoreThreshold",
        Kind::Float,
        ErrorCode::InvalidSearchRankingScoreThreshold,
    ),
    ("locales", Kind::List, ErrorCode::InvalidSearchLocales),
];

fn convert_all(
    raw: Option<&str>,
    table: &[(&str, Kind, ErrorCode)],
) -> Result<Map<String, Value>, MeiliError> {
    let params = QueryParams::parse(raw);
    let accepted: Vec<(&str, ErrorCode)> = table.iter().map(|(n, _, c)| (*n, *c)).collect();
    let mut body = Map::new();
    for (name, value) in params.entries(&accepted)? {
        let Some((_, kind, code)) = table.iter().find(|(n, _, _)| *n == name) else {
            continue;
        };
        if let Some(v) = convert(*kind, *code, name, value)? {
            body.insert(name.to_string(), v);
        }
    }
    Ok(body)
}

/// `GET /indexes/{uid}/search?...` as the JSON body of the `POST` route.
pub fn search_body(raw: Option<&str>) -> Result<Value, MeiliError> {
    let mut body = convert_all(raw, SEARCH_PARAMS)?;
    let embedder = body.remove("hybridEmbedder");
    let ratio = body.remove("hybridSemanticRatio");
    match (embedder, ratio) {
        (None, None) => {}
        (None, Some(_)) => {
            return Err(MeiliError::new(
                ErrorCode::InvalidSearchHybridQuery,
                "`hybridEmbedder` is mandatory when `hybridSemanticRatio` is present",
            ));
        }
        (Some(embedder), ratio) => {
            let mut hybrid = Map::new();
            hybrid.insert("embedder".into(), embedder);
            if let Some(ratio) = ratio {
                hybrid.insert("semanticRatio".into(), ratio);
            }
            body.insert("hybrid".into(), Value::Object(hybrid));
        }
    }
    if body.contains_key("vector") && !body.contains_key("hybrid") {
        return Err(MeiliError::new(
            ErrorCode::MissingSearchHybrid,
            "`hybridEmbedder` is mandatory when `vector` is present",
        ));
    }
    Ok(Value::Object(body))
}

const DOCUMENTS_PARAMS: &[(&str, Kind, ErrorCode)] = &[
    ("offset", Kind::Usize, ErrorCode::InvalidDocumentOffset),
    ("limit", Kind::Usize, ErrorCode::InvalidDocumentLimit),
    ("fields", Kind::StarList, ErrorCode::InvalidDocumentFields),
    (
        "retrieveVectors",
        Kind::Bool,
        ErrorCode::InvalidDocumentRetrieveVectors,
    ),
    ("ids", Kind::List, ErrorCode::InvalidDocumentIds),
    ("filter", Kind::Filter, ErrorCode::InvalidDocumentFilter),
    ("sort", Kind::Sort, ErrorCode::InvalidDocumentSort),
];

/// `GET /indexes/{uid}/documents?...` as the JSON body of `POST .../documents/fetch`.
pub fn documents_body(raw: Option<&str>) -> Result<Value, MeiliError> {
    Ok(Value::Object(convert_all(raw, DOCUMENTS_PARAMS)?))
}

const SIMILAR_PARAMS: &[(&str, Kind, ErrorCode)] = &[
    ("id", Kind::Str, ErrorCode::InvalidSimilarId),
    ("embedder", Kind::Str, ErrorCode::InvalidSimilarEmbedder),
    ("offset", Kind::Usize, ErrorCode::InvalidSimilarOffset),
    ("limit", Kind::Usize, ErrorCode::InvalidSimilarLimit),
    ("filter", Kind::Filter, ErrorCode::InvalidSimilarFilter),
    (
        "attributesToRetrieve",
        Kind::List,
        ErrorCode::InvalidSimilarAttributesToRetrieve,
    ),
    (
        "retrieveVectors",
        Kind::Bool,
        ErrorCode::InvalidSimilarRetrieveVectors,
    ),
    (
        "showRankingScore",
        Kind::Bool,
        ErrorCode::InvalidSimilarShowRankingScore,
    ),
    (
        "showRankingScoreDetails",
        Kind::Bool,
        ErrorCode::InvalidSimilarShowRankingScoreDetails,
    ),
    ("showPerformanceDetails", Kind::Bool, ErrorCode::BadRequest),
    (
        "rankingScoreThreshold",
        Kind::Float,
        ErrorCode::InvalidSimilarRankingScoreThreshold,
    ),
];

/// `GET /indexes/{uid}/similar?...` as the JSON body of the `POST` route.
pub fn similar_body(raw: Option<&str>) -> Result<Value, MeiliError> {
    Ok(Value::Object(convert_all(raw, SIMILAR_PARAMS)?))
}

/// `offset` and `limit` of `GET /indexes`.
pub fn index_page(raw: Option<&str>) -> Result<(usize, usize), MeiliError> {
    let params = QueryParams::parse(raw);
    let (mut offset, mut limit) = (0, 20);
    for (name, value) in params.entries(&[
        ("offset", ErrorCode::InvalidIndexOffset),
        ("limit", ErrorCode::InvalidIndexLimit),
    ])? {
        match name {
            "offset" => offset = param_usize(ErrorCode::InvalidIndexOffset, name, value)?,
            _ => limit = param_usize(ErrorCode::InvalidIndexLimit, name, value)?,
        }
    }
    Ok((offset, limit))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn search_params_get_meilisearch_types() {
        let body = search_body(Some(
            "q=lodash&limit=2&showRankingScore=true&facets=a,%20b&filter=%5B%22x%20%3D%201%22%5D&sort=_geoPoint(1,2):asc,price:desc&rankingScoreThreshold=0.5",
        ))
        .unwrap();
        assert_eq!(
            body,
            json!({"q": "lodash", "limit": 2, "showRankingScore": true, "facets": ["a", "b"],
                   "filter": ["x = 1"], "sort": ["_geoPoint(1,2):asc", "price:desc"], "rankingScoreThreshold": 0.5})
        );
        let e = search_body(Some("limit=abc")).unwrap_err();
        assert_eq!(
            (e.code.as_str(), e.message.as_str()),
            (
                "invalid_search_limit",
                "Invalid value in parameter `limit`: could not parse `abc` as a positive integer"
            )
        );
        assert_eq!(search_body(Some("nope=1")).unwrap_err().code, "bad_request");
        assert_eq!(
            search_body(Some("hybridSemanticRatio=0.5"))
                .unwrap_err()
                .code,
            "invalid_search_hybrid_query"
        );
        assert_eq!(
            search_body(Some("hybridEmbedder=e&hybridSemanticRatio=0.5")).unwrap(),
            json!({"hybrid": {"embedder": "e", "semanticRatio": 0.5}})
        );
    }

    #[test]
    fn documents_params_and_uids() {
        assert_eq!(
            documents_body(Some("fields=*&limit=3&filter=year%20%3D%202019&ids=1,2")).unwrap(),
            json!({"limit": 3, "filter": "year = 2019", "ids": ["1", "2"]})
        );
        assert_eq!(index_page(Some("limit=10&offset=0")).unwrap(), (0, 10));
        assert!(check_index_uid("books-2_x").is_ok());
        let e = check_index_uid("bad uid!").unwrap_err();
        assert!(
            e.message
                .starts_with("`bad uid!` is not a valid index uid.")
        );
        assert!(check_index_uid(&"a".repeat(506)).is_err());
        assert_eq!(
            unknown_field("primaryKy", &["uid", "primaryKey"]).message,
            "Unknown field `primaryKy`: did you mean `primaryKey`? expected one of `uid`, `primaryKey`"
        );
        assert_eq!(
            unknown_field("nope", &["uid"]).message,
            "Unknown field `nope`: expected one of `uid`"
        );
    }
}
