//! Search parameters from a POST body or a GET query string, validated with Meilisearch's
//! (deserr's) error codes and messages.

use miroir_proto::error::{ErrorCode, MeiliError};
use serde_json::{Map, Value};

use super::ranking::MatchingStrategy;
use crate::deserr::{self as de, QueryParams};

pub const DEFAULT_LIMIT: usize = 20;
pub const DEFAULT_CROP_LENGTH: usize = 10;
pub const DEFAULT_CROP_MARKER: &str = "…";
pub const DEFAULT_PRE_TAG: &str = "<em>";
pub const DEFAULT_POST_TAG: &str = "</em>";

/// The body fields of a search, in the order Meilisearch lists them in its errors.
pub const SEARCH_FIELDS: &[&str] = &[
    "q",
    "offset",
    "limit",
    "page",
    "hitsPerPage",
    "attributesToRetrieve",
    "attributesToCrop",
    "cropLength",
    "cropMarker",
    "attributesToHighlight",
    "highlightPreTag",
    "highlightPostTag",
    "showMatchesPosition",
    "filter",
    "sort",
    "distinct",
    "facets",
    "matchingStrategy",
    "attributesToSearchOn",
    "rankingScoreThreshold",
    "locales",
    "hybrid",
    "vector",
    "retrieveVectors",
    "media",
    "personalize",
    "useNetwork",
    "showRankingScore",
    "showRankingScoreDetails",
    "showPerformanceDetails",
];

/// The query-string parameters of `GET /indexes/{uid}/search`.
const GET_FIELDS: &[(&str, ErrorCode)] = &[
    ("q", ErrorCode::InvalidSearchQ),
    ("vector", ErrorCode::InvalidSearchVector),
    ("offset", ErrorCode::InvalidSearchOffset),
    ("limit", ErrorCode::InvalidSearchLimit),
    ("page", ErrorCode::InvalidSearchPage),
    ("hitsPerPage", ErrorCode::InvalidSearchHitsPerPage),
    (
        "attributesToRetrieve",
        ErrorCode::InvalidSearchAttributesToRetrieve,
    ),
    ("retrieveVectors", ErrorCode::InvalidSearchRetrieveVectors),
    ("attributesToCrop", ErrorCode::InvalidSearchAttributesToCrop),
    ("cropLength", ErrorCode::InvalidSearchCropLength),
    (
        "attributesToHighlight",
        ErrorCode::InvalidSearchAttributesToHighlight,
    ),
    ("filter", ErrorCode::InvalidSearchFilter),
    ("sort", ErrorCode::InvalidSearchSort),
    ("distinct", ErrorCode::InvalidSearchDistinct),
    (
        "showMatchesPosition",
        ErrorCode::InvalidSearchShowMatchesPosition,
    ),
    ("showRankingScore", ErrorCode::InvalidSearchShowRankingScore),
    (
        "showRankingScoreDetails",
        ErrorCode::InvalidSearchShowRankingScoreDetails,
    ),
    (
        "showPerformanceDetails",
        ErrorCode::InvalidSearchShowPerformanceDetails,
    ),
    ("facets", ErrorCode::InvalidSearchFacets),
    ("highlightPreTag", ErrorCode::InvalidSearchHighlightPreTag),
    ("highlightPostTag", ErrorCode::InvalidSearchHighlightPostTag),
    ("cropMarker", ErrorCode::InvalidSearchCropMarker),
    ("matchingStrategy", ErrorCode::InvalidSearchMatchingStrategy),
    (
        "attributesToSearchOn",
        ErrorCode::InvalidSearchAttributesToSearchOn,
    ),
    ("hybridEmbedder", ErrorCode::InvalidSearchHybridQuery),
    ("hybridSemanticRatio", ErrorCode::InvalidSearchSemanticRatio),
    (
        "rankingScoreThreshold",
        ErrorCode::InvalidSearchRankingScoreThreshold,
    ),
    ("locales", ErrorCode::InvalidSearchLocales),
    ("useNetwork", ErrorCode::InvalidSearchUseNetwork),
];

/// A parsed search request.
#[derive(Clone, Debug, PartialEq)]
pub struct SearchQuery {
    pub q: Option<String>,
    pub offset: Option<usize>,
    pub limit: Option<usize>,
    pub page: Option<usize>,
    pub hits_per_page: Option<usize>,
    pub attributes_to_retrieve: Option<Vec<String>>,
    pub retrieve_vectors: bool,
    pub attributes_to_crop: Option<Vec<String>>,
    pub crop_length: usize,
    pub crop_marker: String,
    pub attributes_to_highlight: Option<Vec<String>>,
    pub highlight_pre_tag: String,
    pub highlight_post_tag: String,
    pub show_matches_position: bool,
    /// The raw filter (string or array form), parsed when the search runs.
    pub filter: Option<Value>,
    pub sort: Option<Vec<String>>,
    pub distinct: Option<String>,
    pub facets: Option<Vec<String>>,
    pub matching_strategy: MatchingStrategy,
    pub attributes_to_search_on: Option<Vec<String>>,
    pub ranking_score_threshold: Option<f64>,
    pub locales: Option<Vec<String>>,
    pub show_ranking_score: bool,
    pub show_ranking_score_details: bool,
    pub show_performance_details: bool,
    pub use_network: Option<bool>,
}

impl Default for SearchQuery {
    fn default() -> Self {
        SearchQuery {
            q: None,
            offset: None,
            limit: None,
            page: None,
            hits_per_page: None,
            attributes_to_retrieve: None,
            retrieve_vectors: false,
            attributes_to_crop: None,
            crop_length: DEFAULT_CROP_LENGTH,
            crop_marker: DEFAULT_CROP_MARKER.to_string(),
            attributes_to_highlight: None,
            highlight_pre_tag: DEFAULT_PRE_TAG.to_string(),
            highlight_post_tag: DEFAULT_POST_TAG.to_string(),
            show_matches_position: false,
            filter: None,
            sort: None,
            distinct: None,
            facets: None,
            matching_strategy: MatchingStrategy::Last,
            attributes_to_search_on: None,
            ranking_score_threshold: None,
            locales: None,
            show_ranking_score: false,
            show_ranking_score_details: false,
            show_performance_details: false,
            use_network: None,
        }
    }
}

impl SearchQuery {
    /// `page`/`hitsPerPage` pagination (exhaustive `totalHits`) rather than offset/limit.
    pub fn is_finite_pagination(&self) -> bool {
        self.page.is_some() || self.hits_per_page.is_some()
    }
}

/// The code of a bad value in search field `field` (Meilisearch's `invalid_search_<field>`).
fn code_of(field: &str) -> ErrorCode {
    match field {
        "q" => ErrorCode::InvalidSearchQ,
        "offset" => ErrorCode::InvalidSearchOffset,
        "limit" => ErrorCode::InvalidSearchLimit,
        "page" => ErrorCode::InvalidSearchPage,
        "hitsPerPage" => ErrorCode::InvalidSearchHitsPerPage,
        "attributesToRetrieve" => ErrorCode::InvalidSearchAttributesToRetrieve,
        "attributesToCrop" => ErrorCode::InvalidSearchAttributesToCrop,
        "cropLength" => ErrorCode::InvalidSearchCropLength,
        "cropMarker" => ErrorCode::InvalidSearchCropMarker,
        "attributesToHighlight" => ErrorCode::InvalidSearchAttributesToHighlight,
        "highlightPreTag" => ErrorCode::InvalidSearchHighlightPreTag,
        "highlightPostTag" => ErrorCode::InvalidSearchHighlightPostTag,
        "showMatchesPosition" => ErrorCode::InvalidSearchShowMatchesPosition,
        "filter" => ErrorCode::InvalidSearchFilter,
        "sort" => ErrorCode::InvalidSearchSort,
        "distinct" => ErrorCode::InvalidSearchDistinct,
        "facets" => ErrorCode::InvalidSearchFacets,
        "matchingStrategy" => ErrorCode::InvalidSearchMatchingStrategy,
        "attributesToSearchOn" => ErrorCode::InvalidSearchAttributesToSearchOn,
        "rankingScoreThreshold" => ErrorCode::InvalidSearchRankingScoreThreshold,
        "locales" => ErrorCode::InvalidSearchLocales,
        "hybrid" => ErrorCode::InvalidSearchHybridQuery,
        "vector" => ErrorCode::InvalidSearchVector,
        "retrieveVectors" => ErrorCode::InvalidSearchRetrieveVectors,
        "media" => ErrorCode::InvalidSearchMedia,
        "personalize" => ErrorCode::InvalidSearchPersonalize,
        "useNetwork" => ErrorCode::InvalidSearchUseNetwork,
        "showRankingScore" => ErrorCode::InvalidSearchShowRankingScore,
        "showRankingScoreDetails" => ErrorCode::InvalidSearchShowRankingScoreDetails,
        "showPerformanceDetails" => ErrorCode::InvalidSearchShowPerformanceDetails,
        _ => ErrorCode::BadRequest,
    }
}

fn opt_strings(code: ErrorCode, loc: &str, v: &Value) -> Result<Option<Vec<String>>, MeiliError> {
    if v.is_null() {
        Ok(None)
    } else {
        de::json_strings(code, loc, v).map(Some)
    }
}

/// Parse a POST search body.
pub fn parse_search_body(body: &Value) -> Result<SearchQuery, MeiliError> {
    parse_search_body_with(body, &[]).map(|(q, _)| q)
}

/// Parse a search object that may also carry `extra` fields (multi-search adds `indexUid`
/// and `federationOptions`); those are returned untouched. Unknown-field errors list the
/// extra fields first.
pub fn parse_search_body_with(
    body: &Value,
    extra: &[&str],
) -> Result<(SearchQuery, Map<String, Value>), MeiliError> {
    let Value::Object(map) = body else {
        return Err(de::invalid_type(
            ErrorCode::BadRequest,
            "",
            "an object",
            body,
        ));
    };
    let mut q = SearchQuery::default();
    let mut extras = Map::new();
    for (key, v) in map {
        if extra.contains(&key.as_str()) {
            extras.insert(key.clone(), v.clone());
            continue;
        }
        if !SEARCH_FIELDS.contains(&key.as_str()) {
            let mut accepted: Vec<&str> = extra.to_vec();
            accepted.extend_from_slice(SEARCH_FIELDS);
            return Err(de::unknown_field(ErrorCode::BadRequest, "", key, &accepted));
        }
        let code = code_of(key);
        let loc = format!(".{key}");
        let loc = loc.as_str();
        match key.as_str() {
            "q" => {
                q.q = if v.is_null() {
                    None
                } else {
                    Some(de::json_string(code, loc, v)?)
                }
            }
            "offset" => q.offset = Some(de::json_usize(code, loc, v)?),
            "limit" => q.limit = Some(de::json_usize(code, loc, v)?),
            "page" => {
                q.page = if v.is_null() {
                    None
                } else {
                    Some(de::json_usize(code, loc, v)?)
                }
            }
            "hitsPerPage" => {
                q.hits_per_page = if v.is_null() {
                    None
                } else {
                    Some(de::json_usize(code, loc, v)?)
                }
            }
            "attributesToRetrieve" => q.attributes_to_retrieve = opt_strings(code, loc, v)?,
            "attributesToCrop" => q.attributes_to_crop = opt_strings(code, loc, v)?,
            "cropLength" => q.crop_length = de::json_usize(code, loc, v)?,
            "cropMarker" => q.crop_marker = de::json_string(code, loc, v)?,
            "attributesToHighlight" => q.attributes_to_highlight = opt_strings(code, loc, v)?,
            "highlightPreTag" => q.highlight_pre_tag = de::json_string(code, loc, v)?,
            "highlightPostTag" => q.highlight_post_tag = de::json_string(code, loc, v)?,
            "showMatchesPosition" => q.show_matches_position = de::json_bool(code, loc, v)?,
            "filter" => q.filter = if v.is_null() { None } else { Some(v.clone()) },
            "sort" => q.sort = opt_strings(code, loc, v)?,
            "distinct" => {
                q.distinct = if v.is_null() {
                    None
                } else {
                    Some(de::json_string(code, loc, v)?)
                }
            }
            "facets" => q.facets = opt_strings(code, loc, v)?,
            "matchingStrategy" => q.matching_strategy = matching_strategy_json(code, loc, v)?,
            "attributesToSearchOn" => q.attributes_to_search_on = opt_strings(code, loc, v)?,
            "rankingScoreThreshold" => q.ranking_score_threshold = threshold_json(code, loc, v)?,
            "locales" => q.locales = opt_strings(code, loc, v)?,
            "retrieveVectors" => q.retrieve_vectors = de::json_bool(code, loc, v)?,
            "showRankingScore" => q.show_ranking_score = de::json_bool(code, loc, v)?,
            "showRankingScoreDetails" => {
                q.show_ranking_score_details = de::json_bool(code, loc, v)?
            }
            "showPerformanceDetails" => q.show_performance_details = de::json_bool(code, loc, v)?,
            "useNetwork" => {
                q.use_network = if v.is_null() {
                    None
                } else {
                    Some(de::json_bool(code, loc, v)?)
                }
            }
            "hybrid" | "vector" | "media" | "personalize" if !v.is_null() => {
                return Err(no_embedders(key));
            }
            _ => {}
        }
    }
    Ok((q, extras))
}

/// This node has no embedders: any semantic parameter is refused.
fn no_embedders(key: &str) -> MeiliError {
    match key {
        "personalize" => MeiliError::new(
            ErrorCode::InvalidSearchPersonalize,
            "Search personalization is not enabled on this instance.",
        ),
        _ => MeiliError::new(
            code_of(key),
            format!(
                "Invalid request: `{key}` needs an embedder, and this index has no embedder configured."
            ),
        ),
    }
}

fn matching_strategy_json(
    code: ErrorCode,
    loc: &str,
    v: &Value,
) -> Result<MatchingStrategy, MeiliError> {
    let s = de::json_string(code, loc, v)?;
    matching_strategy_str(&s)
        .ok_or_else(|| de::unknown_value(code, loc, &s, &["last", "all", "frequency"]))
}

fn matching_strategy_str(s: &str) -> Option<MatchingStrategy> {
    match s {
        "last" => Some(MatchingStrategy::Last),
        "all" => Some(MatchingStrategy::All),
        "frequency" => Some(MatchingStrategy::Frequency),
        _ => None,
    }
}

fn threshold_invalid(code: ErrorCode, loc: &str) -> MeiliError {
    de::invalid_value(
        code,
        loc,
        "the value of `rankingScoreThreshold` is invalid, expected a float between `0.0` and `1.0`.",
    )
}

fn threshold_json(code: ErrorCode, loc: &str, v: &Value) -> Result<Option<f64>, MeiliError> {
    if v.is_null() {
        return Ok(None);
    }
    let f = v
        .as_f64()
        .ok_or_else(|| de::invalid_type(code, loc, "a number", v))?;
    if !(0.0..=1.0).contains(&f) {
        return Err(threshold_invalid(code, loc));
    }
    Ok(Some(f))
}

fn list(v: &str) -> Vec<String> {
    v.split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Parse the query string of `GET /indexes/{uid}/search`.
pub fn parse_search_params(query_string: &str) -> Result<SearchQuery, MeiliError> {
    let params = QueryParams::parse(Some(query_string));
    let mut q = SearchQuery::default();
    for (key, v) in params.entries(GET_FIELDS)? {
        let code = GET_FIELDS
            .iter()
            .find(|(n, _)| *n == key)
            .map(|(_, c)| *c)
            .unwrap_or(ErrorCode::BadRequest);
        match key {
            "q" => q.q = Some(v.to_string()),
            "offset" => q.offset = Some(de::param_usize(code, key, v)?),
            "limit" => q.limit = Some(de::param_usize(code, key, v)?),
            "page" => q.page = Some(de::param_usize(code, key, v)?),
            "hitsPerPage" => q.hits_per_page = Some(de::param_usize(code, key, v)?),
            "attributesToRetrieve" => q.attributes_to_retrieve = Some(list(v)),
            "retrieveVectors" => q.retrieve_vectors = de::param_bool(code, key, v)?,
            "attributesToCrop" => q.attributes_to_crop = Some(list(v)),
            "cropLength" => q.crop_length = de::param_usize(code, key, v)?,
            "attributesToHighlight" => q.attributes_to_highlight = Some(list(v)),
            "filter" => q.filter = Some(Value::String(v.to_string())),
            "sort" => q.sort = Some(list(v)),
            "distinct" => q.distinct = Some(v.to_string()),
            "showMatchesPosition" => q.show_matches_position = de::param_bool(code, key, v)?,
            "showRankingScore" => q.show_ranking_score = de::param_bool(code, key, v)?,
            "showRankingScoreDetails" => q.show_ranking_score_details = de::param_bool(code, key, v)?,
            "showPerformanceDetails" => q.show_performance_details = de::param_bool(code, key, v)?,
            "facets" => q.facets = Some(list(v)),
            "highlightPreTag" => q.highlight_pre_tag = v.to_string(),
            "highlightPostTag" => q.highlight_post_tag = v.to_string(),
            "cropMarker" => q.crop_marker = v.to_string(),
            "matchingStrategy" => {
                q.matching_strategy = matching_strategy_str(v).ok_or_else(|| {
                    MeiliError::new(code, format!("Unknown value `{v}` for parameter `{key}`: expected one of `last`, `all`, `frequency`"),
                    )
                })?
            }
            "attributesToSearchOn" => q.attributes_to_search_on = Some(list(v)),
            "rankingScoreThreshold" => {
                let f: f64 = v
                    .parse()
                    .map_err(|_| de::invalid_param(code, key, format!("could not parse `{v}` as a decimal number")))?;
                if !(0.0..=1.0).contains(&f) {
                    return Err(de::invalid_param(
                        code,
                        key,
                        "the value of `rankingScoreThreshold` is invalid, expected a float between `0.0` and `1.0`.",
                    ));
                }
                q.ranking_score_threshold = Some(f);
            }
            "locales" => q.locales = Some(list(v)),
            "useNetwork" => q.use_network = Some(de::param_bool(code, key, v)?),
            "vector" | "hybridEmbedder" | "hybridSemanticRatio" => return Err(no_embedders(key)),
            _ => {}
        }
    }
    Ok(q)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::*;

    #[test]
    fn recorded_errors() {
        let e = parse_search_body(&json!({"q": "x", "nope": 1})).unwrap_err();
        assert_eq!(e.code, "bad_request");
        assert_eq!(
            e.message,
            "Unknown field `nope`: expected one of `q`, `offset`, `limit`, `page`, `hitsPerPage`, `attributesToRetrieve`, `attributesToCrop`, `cropLength`, `cropMarker`, `attributesToHighlight`, `highlightPreTag`, `highlightPostTag`, `showMatchesPosition`, `filter`, `sort`, `distinct`, `facets`, `matchingStrategy`, `attributesToSearchOn`, `rankingScoreThreshold`, `locales`, `hybrid`, `vector`, `retrieveVectors`, `media`, `personalize`, `useNetwork`, `showRankingScore`, `showRankingScoreDetails`, `showPerformanceDetails`"
        );
        let e = parse_search_body(&json!({"q": "x", "limit": -1})).unwrap_err();
        assert_eq!(e.code, "invalid_search_limit");
        assert_eq!(
            e.message,
            "Invalid value type at `.limit`: expected a positive integer, but found a negative integer: `-1`"
        );
    }

    #[test]
    fn types_and_values_are_checked() {
        let e = parse_search_body(&json!({"q": 1})).unwrap_err();
        assert_eq!(
            (e.code.as_str(), e.message.as_str()),
            (
                "invalid_search_q",
                "Invalid value type at `.q`: expected a string, but found a positive integer: `1`"
            )
        );
        let e = parse_search_body(&json!({"hitsPerPage": "2"})).unwrap_err();
        assert_eq!(e.code, "invalid_search_hits_per_page");
        let e = parse_search_body(&json!({"attributesToRetrieve": [1]})).unwrap_err();
        assert_eq!(
            e.message,
            "Invalid value type at `.attributesToRetrieve[0]`: expected a string, but found a positive integer: `1`"
        );
        let e = parse_search_body(&json!({"matchingStrategy": "most"})).unwrap_err();
        assert_eq!(
            e.message,
            "Unknown value `most` at `.matchingStrategy`: expected one of `last`, `all`, `frequency`"
        );
        let e = parse_search_body(&json!({"rankingScoreThreshold": 2})).unwrap_err();
        assert_eq!(e.code, "invalid_search_ranking_score_threshold");
        let e = parse_search_body(&json!(["q"])).unwrap_err();
        assert_eq!(
            e.message,
            "Invalid value type: expected an object, but found an array: `[\"q\"]`"
        );
        let q = parse_search_body(&json!({"q": "a", "page": 2, "hitsPerPage": 5, "showRankingScore": true, "filter": ["a = 1"]})).unwrap();
        assert!(q.is_finite_pagination() && q.show_ranking_score);
        assert_eq!(q.filter, Some(json!(["a = 1"])));
    }

    #[test]
    fn query_string() {
        let q = parse_search_params(
            "q=lodash&limit=2&showRankingScore=true&attributesToRetrieve=name,downloads&sort=a:asc",
        )
        .unwrap();
        assert_eq!(q.q.as_deref(), Some("lodash"));
        assert_eq!(q.limit, Some(2));
        assert!(q.show_ranking_score);
        assert_eq!(
            q.attributes_to_retrieve,
            Some(vec!["name".to_string(), "downloads".to_string()])
        );
        let e = parse_search_params("limit=-1").unwrap_err();
        assert_eq!(
            e.message,
            "Invalid value in parameter `limit`: could not parse `-1` as a positive integer"
        );
        let e = parse_search_params("nope=1").unwrap_err();
        assert_eq!(e.code, "bad_request");
    }

    #[test]
    fn multi_search_extras() {
        let (q, extras) = parse_search_body_with(
            &json!({"indexUid": "npm", "q": "x", "federationOptions": {"weight": 2.0}}),
            &["indexUid", "federationOptions"],
        )
        .unwrap();
        assert_eq!(q.q.as_deref(), Some("x"));
        assert_eq!(extras.get("indexUid"), Some(&json!("npm")));
        let e = parse_search_body_with(&json!({"nope": 1}), &["indexUid"]).unwrap_err();
        assert!(
            e.message
                .starts_with("Unknown field `nope`: expected one of `indexUid`, `q`")
        );
    }
}
