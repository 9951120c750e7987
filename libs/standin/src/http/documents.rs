//! `/indexes/{uid}/documents` and its sub-routes.

use std::cmp::Ordering;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, RawQuery};
use axum::http::HeaderMap;
use axum::http::header::CONTENT_TYPE;
use miroir_proto::error::{ErrorCode, MeiliError};
use serde_json::{Map, Value, json};

use super::{HttpResult, Shared, accepted, auth, check_uid, json_body, ok, read_body};
use crate::deserr::{self, QueryParams};
use crate::documents::{self as docs, primary_key_value};
use crate::engine::{DocId, Document, filter};
use crate::store::Index;
use crate::tasks::TaskContent;

const FILTER_CODE: ErrorCode = ErrorCode::InvalidDocumentFilter;

async fn add(
    node: Shared,
    headers: HeaderMap,
    uid: String,
    raw: Option<String>,
    body: Body,
    merge: bool,
) -> HttpResult {
    auth(&node, &headers, "documents.add", Some(&uid))?;
    let params = QueryParams::parse(raw.as_deref());
    let (mut primary_key, mut delimiter) = (None, None);
    let (mut custom_metadata, mut skip_creation) = (None, false);
    let accepted_params = [
        ("primaryKey", ErrorCode::InvalidIndexPrimaryKey),
        ("csvDelimiter", ErrorCode::InvalidDocumentCsvDelimiter),
        ("customMetadata", ErrorCode::InvalidIndexCustomMetadata),
        ("skipCreation", ErrorCode::InvalidSkipCreation),
    ];
    for (name, value) in params.entries(&accepted_params)? {
        match name {
            "primaryKey" => primary_key = Some(value.to_string()),
            "customMetadata" => custom_metadata = Some(value.to_string()),
            "skipCreation" => {
                skip_creation = if value.eq_ignore_ascii_case("true") {
                    true
                } else if value.eq_ignore_ascii_case("false") {
                    false
                } else {
                    return Err(deserr::invalid_param(
                        ErrorCode::InvalidSkipCreation,
                        name,
                        format!("skipCreation must be either `true` or `false`. Found: `{value}`"),
                    ));
                }
            }
            _ => {
                let mut chars = value.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) if c.is_ascii() => delimiter = Some(c as u8),
                    (Some(c), None) => {
                        return Err(MeiliError::new(
                            ErrorCode::InvalidDocumentCsvDelimiter,
                            format!("csv delimiter must be an ascii character. Found: `{c}`"),
                        ));
                    }
                    _ => {
                        return Err(deserr::invalid_param(
                            ErrorCode::InvalidDocumentCsvDelimiter,
                            name,
                            format!(
                                "expected a string of one character, but found the following string of {} characters: `{value}`",
                                value.chars().count()
                            ),
                        ));
                    }
                }
            }
        }
    }
    check_uid(&uid)?;
    let content_type = headers
        .get(CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).to_string());
    let format = docs::payload_format(content_type.as_deref(), delimiter)?;
    let bytes = read_body(&node, &headers, body).await?;
    let documents = docs::parse_payload(format, &bytes)?;
    let content = TaskContent::DocumentAdditionOrUpdate {
        documents: Arc::new(documents),
        primary_key,
        merge,
        skip_creation,
    };
    accepted(node.enqueue_with(Some(uid), content, custom_metadata))
}

pub(super) async fn replace(
    node: Shared,
    headers: HeaderMap,
    Path(uid): Path<String>,
    RawQuery(q): RawQuery,
    body: Body,
) -> HttpResult {
    add(node, headers, uid, q, body, false).await
}

pub(super) async fn update(
    node: Shared,
    headers: HeaderMap,
    Path(uid): Path<String>,
    RawQuery(q): RawQuery,
    body: Body,
) -> HttpResult {
    add(node, headers, uid, q, body, true).await
}

/// What `GET /documents` and `POST /documents/fetch` ask for.
#[derive(Default)]
struct Browse {
    offset: usize,
    limit: usize,
    fields: Option<Vec<String>>,
    retrieve_vectors: bool,
    ids: Option<Vec<String>>,
    filter: Option<Value>,
    sort: Option<Vec<String>>,
}

const BROWSE_FIELDS: &[&str] = &[
    "offset",
    "limit",
    "fields",
    "retrieveVectors",
    "ids",
    "filter",
    "sort",
];

fn code_of(field: &str) -> ErrorCode {
    match field {
        "offset" => ErrorCode::InvalidDocumentOffset,
        "limit" => ErrorCode::InvalidDocumentLimit,
        "fields" => ErrorCode::InvalidDocumentFields,
        "retrieveVectors" => ErrorCode::InvalidDocumentRetrieveVectors,
        "ids" => ErrorCode::InvalidDocumentIds,
        "filter" => FILTER_CODE,
        "sort" => ErrorCode::InvalidDocumentSort,
        _ => ErrorCode::BadRequest,
    }
}

fn browse_from_params(raw: Option<&str>) -> Result<Browse, MeiliError> {
    let params = QueryParams::parse(raw);
    let accepted: Vec<(&str, ErrorCode)> = BROWSE_FIELDS.iter().map(|f| (*f, code_of(f))).collect();
    let mut b = Browse {
        limit: 20,
        ..Browse::default()
    };
    for (name, value) in params.entries(&accepted)? {
        let code = code_of(name);
        match name {
            "offset" => b.offset = deserr::param_usize(code, name, value)?,
            "limit" => b.limit = deserr::param_usize(code, name, value)?,
            "fields" => b.fields = deserr::star_or_list(value),
            "retrieveVectors" => b.retrieve_vectors = deserr::param_bool(code, name, value)?,
            "ids" => b.ids = Some(value.split(',').map(|s| s.trim().to_string()).collect()),
            // A filter that reads as JSON (the array form) is taken as JSON, as Meilisearch does.
            "filter" => {
                b.filter = Some(
                    serde_json::from_str(value)
                        .unwrap_or_else(|_| Value::String(value.to_string())),
                )
            }
            _ => b.sort = Some(value.split(',').map(|s| s.trim().to_string()).collect()),
        }
    }
    Ok(b)
}

fn browse_from_body(body: &Value) -> Result<Browse, MeiliError> {
    let map = deserr::json_object(ErrorCode::BadRequest, "", body)?;
    let mut b = Browse {
        limit: 20,
        ..Browse::default()
    };
    for (k, v) in map {
        let loc = format!(".{k}");
        let code = code_of(k);
        match k.as_str() {
            "offset" => b.offset = deserr::json_usize(code, &loc, v)?,
            "limit" => b.limit = deserr::json_usize(code, &loc, v)?,
            "fields" => {
                b.fields = if v.is_null() {
                    None
                } else {
                    Some(deserr::json_strings(code, &loc, v)?)
                }
            }
            "retrieveVectors" => b.retrieve_vectors = deserr::json_bool(code, &loc, v)?,
            "ids" => {
                b.ids = match v {
                    Value::Null => None,
                    Value::Array(items) => Some(
                        items
                            .iter()
                            .enumerate()
                            .map(|(i, id)| {
                                docs::canonical_id(id).ok_or_else(|| {
                                    let e = docs::invalid_document_id(id);
                                    MeiliError::new(code, format!("In `.ids[{i}]`: {}", e.message))
                                })
                            })
                            .collect::<Result<_, _>>()?,
                    ),
                    other => return Err(deserr::invalid_type(code, &loc, "an array", other)),
                }
            }
            "filter" => b.filter = if v.is_null() { None } else { Some(v.clone()) },
            "sort" => {
                b.sort = if v.is_null() {
                    None
                } else {
                    Some(deserr::json_strings(code, &loc, v)?)
                }
            }
            other => {
                return Err(deserr::unknown_field(
                    ErrorCode::BadRequest,
                    "",
                    other,
                    BROWSE_FIELDS,
                ));
            }
        }
    }
    Ok(b)
}

fn is_empty_filter(f: &Value) -> bool {
    match f {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        Value::Array(items) => items.iter().all(is_empty_filter),
        _ => false,
    }
}

/// The value of a field holding several that a node's facet iterator meets first: numbers
/// before strings, the smallest ascending, the largest descending.
fn first_met(v: Option<&Value>, descending: bool) -> Option<&Value> {
    match v {
        Some(Value::Array(items)) => items
            .iter()
            .filter(|i| i.is_number() || i.is_string())
            .reduce(|a, b| {
                if compare(Some(a), Some(b), descending) == Ordering::Greater {
                    b
                } else {
                    a
                }
            }),
        other => other,
    }
}

/// Meilisearch's sort order for documents: numbers before strings, documents without the
/// field last whatever the direction.
fn compare(a: Option<&Value>, b: Option<&Value>, descending: bool) -> Ordering {
    let (a, b) = (first_met(a, descending), first_met(b, descending));
    let rank = |v: Option<&Value>| match v {
        Some(Value::Number(_)) => 0,
        Some(Value::String(_)) => 1,
        _ => 2,
    };
    match (rank(a), rank(b)) {
        (2, 2) => Ordering::Equal,
        (2, _) => Ordering::Greater,
        (_, 2) => Ordering::Less,
        (ra, rb) if ra != rb => ra.cmp(&rb),
        _ => {
            let ord = match (a, b) {
                (Some(Value::Number(x)), Some(Value::Number(y))) => x
                    .as_f64()
                    .unwrap_or(0.0)
                    .partial_cmp(&y.as_f64().unwrap_or(0.0))
                    .unwrap_or(Ordering::Equal),
                (Some(Value::String(x)), Some(Value::String(y))) => {
                    x.to_lowercase().cmp(&y.to_lowercase())
                }
                _ => Ordering::Equal,
            };
            if descending { ord.reverse() } else { ord }
        }
    }
}

fn parse_sort(index: &Index, sort: &[String]) -> Result<Vec<(String, bool)>, MeiliError> {
    let mut out = Vec::with_capacity(sort.len());
    for s in sort {
        let Some((field, order)) = s
            .rsplit_once(':')
            .filter(|(f, o)| !f.is_empty() && (*o == "asc" || *o == "desc"))
        else {
            return Err(MeiliError::new(
                ErrorCode::InvalidDocumentSort,
                format!(
                    "Invalid syntax for the sort parameter: expected expression ending by `:asc` or `:desc`, found `{s}`."
                ),
            ));
        };
        if !index.settings.sortable.contains(field) {
            let available: Vec<&str> = index.settings.sortable.iter().map(String::as_str).collect();
            return Err(MeiliError::new(
                ErrorCode::InvalidDocumentSort,
                format!(
                    "Attribute `{field}` is not sortable. Available sortable attributes are: `{}`.",
                    available.join(", ")
                ),
            ));
        }
        out.push((field.to_string(), order == "desc"));
    }
    Ok(out)
}

fn browse(index: &Index, b: &Browse) -> Result<Value, MeiliError> {
    let mut candidates: Vec<DocId> = match &b.ids {
        Some(ids) => {
            let mut found: Vec<DocId> = ids.iter().filter_map(|id| index.internal_id(id)).collect();
            found.sort_unstable();
            found.dedup();
            found
        }
        None => index.docs.keys().copied().collect(),
    };
    if let Some(f) = &b.filter
        && !is_empty_filter(f)
    {
        let parsed = filter::parse(f, FILTER_CODE)?;
        parsed.check_filterable(&index.engine_settings.filterable, None, FILTER_CODE)?;
        candidates.retain(|id| index.docs.get(id).is_some_and(|d| parsed.matches(d)));
    }
    if let Some(sort) = &b.sort {
        let rules = parse_sort(index, sort)?;
        candidates.sort_by(|x, y| {
            let (dx, dy) = (index.docs.get(x), index.docs.get(y));
            rules
                .iter()
                .map(|(field, desc)| {
                    compare(
                        dx.and_then(|d| primary_key_value(d, field)),
                        dy.and_then(|d| primary_key_value(d, field)),
                        *desc,
                    )
                })
                .find(|o| *o != Ordering::Equal)
                .unwrap_or(Ordering::Equal)
        });
    }
    let total = candidates.len();
    let results: Vec<Value> = candidates
        .iter()
        .skip(b.offset)
        .take(b.limit)
        .filter_map(|id| index.docs.get(id))
        .map(|d| {
            let vectors = b.retrieve_vectors.then_some(&index.settings.embedders);
            shown(d, b.fields.as_deref(), vectors)
        })
        .collect();
    Ok(json!({"results": results, "offset": b.offset, "limit": b.limit, "total": total}))
}

/// A document as listed: its selected fields, and with `retrieveVectors` (the index's
/// embedders given) its vectors.
fn shown(doc: &Document, fields: Option<&[String]>, vectors: Option<&Map<String, Value>>) -> Value {
    let mut d: Map<String, Value> = docs::select_fields(doc, fields);
    if let Some(embedders) = vectors {
        d.insert("_vectors".into(), super::vectors::retrieved(doc, embedders));
    } else {
        d.remove("_vectors");
    }
    Value::Object(d)
}

pub(super) async fn list(
    node: Shared,
    headers: HeaderMap,
    Path(uid): Path<String>,
    RawQuery(q): RawQuery,
) -> HttpResult {
    auth(&node, &headers, "documents.get", Some(&uid))?;
    let b = browse_from_params(q.as_deref())?;
    check_uid(&uid)?;
    let store = node.store();
    ok(browse(store.index(&uid)?, &b)?)
}

pub(super) async fn fetch(
    node: Shared,
    headers: HeaderMap,
    Path(uid): Path<String>,
    body: Body,
) -> HttpResult {
    auth(&node, &headers, "documents.get", Some(&uid))?;
    let body = json_body(&node, &headers, body).await?;
    let b = browse_from_body(&body)?;
    check_uid(&uid)?;
    let store = node.store();
    ok(browse(store.index(&uid)?, &b)?)
}

pub(super) async fn get_one(
    node: Shared,
    headers: HeaderMap,
    Path((uid, id)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> HttpResult {
    auth(&node, &headers, "documents.get", Some(&uid))?;
    let params = QueryParams::parse(q.as_deref());
    let (mut fields, mut vectors) = (None, false);
    for (name, value) in params.entries(&[
        ("fields", ErrorCode::InvalidDocumentFields),
        ("retrieveVectors", ErrorCode::InvalidDocumentRetrieveVectors),
    ])? {
        match name {
            "fields" => fields = deserr::star_or_list(value),
            _ => {
                vectors =
                    deserr::param_bool(ErrorCode::InvalidDocumentRetrieveVectors, name, value)?
            }
        }
    }
    check_uid(&uid)?;
    let store = node.store();
    let index = store.index(&uid)?;
    let doc = index
        .document(&id)
        .ok_or_else(|| MeiliError::document_not_found(&id))?;
    ok(shown(
        doc,
        fields.as_deref(),
        vectors.then_some(&index.settings.embedders),
    ))
}

/// `?customMetadata=` of a route that takes no other parameter.
pub(super) fn custom_metadata(raw: Option<&str>) -> Result<Option<String>, MeiliError> {
    let params = QueryParams::parse(raw);
    Ok(params
        .entries(&[("customMetadata", ErrorCode::InvalidIndexCustomMetadata)])?
        .into_iter()
        .next()
        .map(|(_, v)| v.to_string()))
}

pub(super) async fn delete_one(
    node: Shared,
    headers: HeaderMap,
    Path((uid, id)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> HttpResult {
    auth(&node, &headers, "documents.delete", Some(&uid))?;
    let meta = custom_metadata(q.as_deref())?;
    check_uid(&uid)?;
    accepted(node.enqueue_with(
        Some(uid),
        TaskContent::DocumentDeletion { ids: vec![id] },
        meta,
    ))
}

pub(super) async fn delete_batch(
    node: Shared,
    headers: HeaderMap,
    Path(uid): Path<String>,
    RawQuery(q): RawQuery,
    body: Body,
) -> HttpResult {
    auth(&node, &headers, "documents.delete", Some(&uid))?;
    let meta = custom_metadata(q.as_deref())?;
    let body = json_body(&node, &headers, body).await?;
    let Value::Array(items) = &body else {
        return Err(MeiliError::bad_request(format!(
            "Json deserialize error: invalid type: {}, expected a sequence at line 1 column 1",
            deserr::kind(&body)
                .trim_start_matches("a ")
                .trim_start_matches("an ")
        )));
    };
    let ids: Vec<String> = items
        .iter()
        .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
        .collect();
    check_uid(&uid)?;
    accepted(node.enqueue_with(Some(uid), TaskContent::DocumentDeletion { ids }, meta))
}

pub(super) async fn delete_by_filter(
    node: Shared,
    headers: HeaderMap,
    Path(uid): Path<String>,
    RawQuery(q): RawQuery,
    body: Body,
) -> HttpResult {
    auth(&node, &headers, "documents.delete", Some(&uid))?;
    let meta = custom_metadata(q.as_deref())?;
    let body = json_body(&node, &headers, body).await?;
    let map = deserr::json_object(ErrorCode::BadRequest, "", &body)?;
    let mut filter_expr = None;
    for (k, v) in map {
        match k.as_str() {
            "filter" => filter_expr = Some(v.clone()),
            other => {
                return Err(deserr::unknown_field(
                    ErrorCode::BadRequest,
                    "",
                    other,
                    &["filter"],
                ));
            }
        }
    }
    let filter_expr = filter_expr
        .ok_or_else(|| deserr::missing_field(ErrorCode::MissingDocumentFilter, "", "filter"))?;
    if !matches!(
        filter_expr,
        Value::String(_) | Value::Array(_) | Value::Null
    ) {
        return Err(deserr::invalid_type(
            FILTER_CODE,
            ".filter",
            "a string or an array",
            &filter_expr,
        ));
    }
    if is_empty_filter(&filter_expr) {
        return Err(MeiliError::new(
            FILTER_CODE,
            "Sending an empty filter is forbidden.",
        ));
    }
    // A malformed filter is refused now; whether its attributes are filterable is checked when
    // the task runs, against the settings of that moment.
    filter::parse(&filter_expr, FILTER_CODE)?;
    check_uid(&uid)?;
    accepted(node.enqueue_with(
        Some(uid),
        TaskContent::DocumentDeletionByFilter {
            filter: filter_expr,
        },
        meta,
    ))
}

pub(super) async fn clear(
    node: Shared,
    headers: HeaderMap,
    Path(uid): Path<String>,
    RawQuery(q): RawQuery,
) -> HttpResult {
    auth(&node, &headers, "documents.delete", Some(&uid))?;
    let meta = custom_metadata(q.as_deref())?;
    check_uid(&uid)?;
    accepted(node.enqueue_with(Some(uid), TaskContent::DocumentClear, meta))
}

pub(super) async fn edit(node: Shared, headers: HeaderMap, Path(uid): Path<String>) -> HttpResult {
    auth(&node, &headers, "documents.*", Some(&uid))?;
    let enabled = node
        .features()
        .get("editDocumentsByFunction")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if !enabled {
        return Err(MeiliError::new(
            ErrorCode::FeatureNotEnabled,
            "Using the documents edit route requires enabling the `editDocumentsByFunction` experimental feature. See https://github.com/orgs/meilisearch/discussions/762",
        ));
    }
    Err(super::not_implemented(
        "POST /indexes/{indexUid}/documents/edit",
    ))
}
