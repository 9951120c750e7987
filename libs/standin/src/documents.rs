//! Documents as Meilisearch receives and returns them: payload formats (JSON array or object,
//! NDJSON, CSV with typed headers), primary-key inference, document-id validation, and the
//! `fields` selection of the documents routes. Messages are Meilisearch 1.50's.

use miroir_proto::error::{ErrorCode, MeiliError};
use serde_json::{Map, Value};

use crate::engine::Document;

pub const ACCEPTED_CONTENT_TYPES: &[&str] =
    &["application/json", "application/x-ndjson", "text/csv"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PayloadFormat {
    Json,
    Ndjson,
    Csv { delimiter: u8 },
}

impl PayloadFormat {
    fn name(self) -> &'static str {
        match self {
            PayloadFormat::Json => "json",
            PayloadFormat::Ndjson => "ndjson",
            PayloadFormat::Csv { .. } => "csv",
        }
    }
}

/// `type/subtype` of a `Content-Type` header, lowercased, or `None` when it is not a media type.
pub fn media_type(header: &str) -> Option<String> {
    let essence = header.split(';').next()?.trim();
    let (ty, sub) = essence.split_once('/')?;
    let token = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$&-^_.+".contains(c))
    };
    (token(ty) && token(sub))
        .then(|| format!("{}/{}", ty.to_ascii_lowercase(), sub.to_ascii_lowercase()))
}

/// The payload format a document route accepts for this `Content-Type` (and `csvDelimiter`).
pub fn payload_format(
    content_type: Option<&str>,
    csv_delimiter: Option<u8>,
) -> Result<PayloadFormat, MeiliError> {
    let Some(raw) = content_type else {
        return Err(MeiliError::missing_content_type(ACCEPTED_CONTENT_TYPES));
    };
    let Some(media) = media_type(raw) else {
        return Err(MeiliError::invalid_content_type(
            raw,
            ACCEPTED_CONTENT_TYPES,
        ));
    };
    match (media.as_str(), csv_delimiter) {
        ("application/json", None) => Ok(PayloadFormat::Json),
        ("application/x-ndjson", None) => Ok(PayloadFormat::Ndjson),
        ("text/csv", delimiter) => Ok(PayloadFormat::Csv {
            delimiter: delimiter.unwrap_or(b','),
        }),
        ("application/json" | "application/x-ndjson", Some(_)) => Err(MeiliError::new(
            ErrorCode::InvalidContentType,
            format!(
                "The Content-Type `{media}` does not support the use of a csv delimiter. The csv delimiter can only be used with the Content-Type `text/csv`."
            ),
        )),
        (other, _) => Err(MeiliError::invalid_content_type(
            other,
            ACCEPTED_CONTENT_TYPES,
        )),
    }
}

/// Reads a payload into documents, or the 400 Meilisearch answers before enqueuing anything.
pub fn parse_payload(format: PayloadFormat, bytes: &[u8]) -> Result<Vec<Document>, MeiliError> {
    if bytes.is_empty() {
        return Err(MeiliError::new(
            ErrorCode::MissingPayload,
            format!("A {} payload is missing.", format.name()),
        ));
    }
    match format {
        PayloadFormat::Json => parse_json(bytes),
        PayloadFormat::Ndjson => parse_ndjson(bytes),
        PayloadFormat::Csv { delimiter } => parse_csv(bytes, delimiter),
    }
}

fn malformed_json(format: PayloadFormat, detail: &str) -> MeiliError {
    // Meilisearch trims very long messages (the input may be quoted in them) around an ellipsis.
    let mut message = detail.to_string();
    let (prefix, suffix) = (50, 85);
    if message.len() > prefix + suffix + 3 {
        let start = floor_char_boundary(&message, prefix);
        let end = floor_char_boundary(&message, message.len() - suffix);
        message.replace_range(start..end, "...");
    }
    MeiliError::new(
        ErrorCode::MalformedPayload,
        format!(
            "The `{}` payload provided is malformed. `Couldn't serialize document value: {message}`.",
            format.name()
        ),
    )
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

const NOT_OBJECTS: &str = "data are neither an object nor a list of objects";

fn parse_json(bytes: &[u8]) -> Result<Vec<Document>, MeiliError> {
    // Meilisearch reads each document as raw JSON, which reports syntax errors as serde_json's
    // value-skipping parser does ("EOF while parsing an object"); the same parser is used here
    // first so that messages match, then the documents are built.
    serde_json::from_slice::<serde::de::IgnoredAny>(bytes)
        .map_err(|e| malformed_json(PayloadFormat::Json, &e.to_string()))?;
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| malformed_json(PayloadFormat::Json, &e.to_string()))?;
    match value {
        Value::Object(doc) => Ok(vec![doc]),
        Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Value::Object(doc) => Ok(doc),
                _ => Err(malformed_json(PayloadFormat::Json, NOT_OBJECTS)),
            })
            .collect(),
        _ => Err(malformed_json(PayloadFormat::Json, NOT_OBJECTS)),
    }
}

fn parse_ndjson(bytes: &[u8]) -> Result<Vec<Document>, MeiliError> {
    for item in serde_json::Deserializer::from_slice(bytes).into_iter::<serde::de::IgnoredAny>() {
        item.map_err(|e| malformed_json(PayloadFormat::Ndjson, &e.to_string()))?;
    }
    let mut docs = Vec::new();
    for item in serde_json::Deserializer::from_slice(bytes).into_iter::<Value>() {
        match item {
            Ok(Value::Object(doc)) => docs.push(doc),
            Ok(_) => return Err(malformed_json(PayloadFormat::Ndjson, NOT_OBJECTS)),
            Err(e) => return Err(malformed_json(PayloadFormat::Ndjson, &e.to_string())),
        }
    }
    Ok(docs)
}

enum CsvType {
    String,
    Number,
    Boolean,
}

fn parse_csv(bytes: &[u8], delimiter: u8) -> Result<Vec<Document>, MeiliError> {
    let malformed = |detail: String| {
        MeiliError::new(
            ErrorCode::MalformedPayload,
            format!("The `csv` payload provided is malformed: `{detail}`."),
        )
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .from_reader(bytes);
    let headers = reader
        .headers()
        .map_err(|e| malformed(e.to_string()))?
        .clone();
    // `name:type` with a known type is typed; anything else is a string column named as written.
    let columns: Vec<(String, CsvType)> = headers
        .iter()
        .map(|h| match h.rsplit_once(':') {
            Some((name, "string")) => (name.to_string(), CsvType::String),
            Some((name, "number")) => (name.to_string(), CsvType::Number),
            Some((name, "boolean")) => (name.to_string(), CsvType::Boolean),
            _ => (h.to_string(), CsvType::String),
        })
        .collect();
    let mut docs = Vec::new();
    let mut record = csv::StringRecord::new();
    let mut line = 0usize;
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(malformed(e.to_string())),
        }
        line += 1;
        let mut doc = Map::new();
        for (name, _) in &columns {
            doc.insert(name.clone(), Value::Null);
        }
        for (i, (name, ty)) in columns.iter().enumerate() {
            let raw = record.get(i).unwrap_or_default();
            let trimmed = raw.trim();
            let value = match ty {
                CsvType::Number if trimmed.is_empty() => Value::Null,
                CsvType::Number => match trimmed.parse::<i64>() {
                    Ok(n) => Value::from(n),
                    Err(_) => match trimmed.parse::<f64>() {
                        Ok(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
                        Err(e) => {
                            return Err(malformed(format!(
                                "Error parsing number {raw:?} at line {line}: {e}"
                            )));
                        }
                    },
                },
                CsvType::Boolean if trimmed.is_empty() => Value::Null,
                CsvType::Boolean => match trimmed.parse::<bool>() {
                    Ok(b) => Value::Bool(b),
                    Err(e) => {
                        return Err(malformed(format!(
                            "Error parsing boolean {raw:?} at line {line}: {e}"
                        )));
                    }
                },
                CsvType::String if raw.is_empty() => Value::Null,
                CsvType::String => Value::String(raw.to_string()),
            };
            doc.insert(name.clone(), value);
        }
        docs.push(doc);
    }
    Ok(docs)
}

/// A document's value at `primary_key`, which may be a dotted path into nested objects.
pub fn primary_key_value<'a>(doc: &'a Document, primary_key: &str) -> Option<&'a Value> {
    if let Some(v) = doc.get(primary_key) {
        return Some(v);
    }
    // `a.b.c` may be split anywhere: `{"a": {"b.c": ..}}` and `{"a.b": {"c": ..}}` both match.
    let mut split = primary_key.match_indices('.').map(|(i, _)| i);
    split.find_map(|i| {
        let (head, tail) = (&primary_key[..i], &primary_key[i + 1..]);
        doc.get(head)
            .and_then(Value::as_object)
            .and_then(|inner| primary_key_value(inner, tail))
    })
}

/// The canonical external id of a document (`1` and `"1"` are the same document), or
/// Meilisearch's error for a missing or invalid identifier.
pub fn document_id(doc: &Document, primary_key: &str) -> Result<String, MeiliError> {
    let Some(value) = primary_key_value(doc, primary_key) else {
        let shown = serde_json::to_string(doc).unwrap_or_default();
        return Err(MeiliError::new(
            ErrorCode::MissingDocumentId,
            format!("Document doesn't have a `{primary_key}` attribute: `{shown}`."),
        ));
    };
    canonical_id(value).ok_or_else(|| invalid_document_id(value))
}

pub fn canonical_id(value: &Value) -> Option<String> {
    match value {
        Value::Number(n) if n.is_u64() || n.is_i64() => Some(n.to_string()),
        Value::String(s) if valid_id_str(s) => Some(s.clone()),
        _ => None,
    }
}

pub fn valid_id_str(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 511
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

pub fn invalid_document_id(value: &Value) -> MeiliError {
    MeiliError::new(
        ErrorCode::InvalidDocumentId,
        format!(
            "Document identifier `{value}` is invalid. A document identifier can be of type integer or string, only composed of alphanumeric characters (a-z A-Z 0-9), hyphens (-) and underscores (_), and can not be more than 511 bytes."
        ),
    )
}

/// milli's guess: the one field of the first document whose name ends with `id`.
pub fn infer_primary_key(first: &Document) -> Result<String, MeiliError> {
    let mut candidates: Vec<&str> = first
        .keys()
        .map(String::as_str)
        .filter(|k| k.to_lowercase().ends_with("id"))
        .collect();
    candidates.sort_unstable();
    match candidates.as_slice() {
        [] => Err(MeiliError::new(
            ErrorCode::IndexPrimaryKeyNoCandidateFound,
            "The primary key inference failed as the engine did not find any field ending with `id` in its name. Please specify the primary key manually using the `primaryKey` query parameter.",
        )),
        [one] => Ok(one.to_string()),
        [a, b, ..] => Err(MeiliError::new(
            ErrorCode::IndexPrimaryKeyMultipleCandidatesFound,
            format!(
                "The primary key inference failed as the engine found {} fields ending with `id` in their names: '{a}' and '{b}'. Please specify the primary key manually using the `primaryKey` query parameter.",
                candidates.len()
            ),
        )),
    }
}

/// The `fields` selection of the documents routes (`None` or `*`: everything). Dotted names
/// reach into nested objects; the document's own field order is kept.
pub fn select_fields(doc: &Document, fields: Option<&[String]>) -> Document {
    match fields {
        None => doc.clone(),
        Some(fields) if fields.iter().any(|f| f == "*") => doc.clone(),
        Some(fields) => select(doc, &fields.iter().map(String::as_str).collect::<Vec<_>>()),
    }
}

fn select(doc: &Map<String, Value>, selectors: &[&str]) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, value) in doc {
        if selectors.contains(&key.as_str()) {
            out.insert(key.clone(), value.clone());
            continue;
        }
        let nested: Vec<&str> = selectors
            .iter()
            .filter_map(|s| s.strip_prefix(key.as_str())?.strip_prefix('.'))
            .collect();
        if nested.is_empty() {
            continue;
        }
        match value {
            Value::Object(inner) => {
                out.insert(key.clone(), Value::Object(select(inner, &nested)));
            }
            Value::Array(items) => {
                let kept: Vec<Value> = items
                    .iter()
                    .filter_map(|item| item.as_object().map(|o| Value::Object(select(o, &nested))))
                    .filter(|v| v.as_object().is_some_and(|o| !o.is_empty()))
                    .collect();
                out.insert(key.clone(), Value::Array(kept));
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::*;

    #[test]
    fn recorded_malformed_json_message() {
        let e = parse_payload(PayloadFormat::Json, b"[{\"id\":1,").unwrap_err();
        assert_eq!(
            e.message,
            "The `json` payload provided is malformed. `Couldn't serialize document value: EOF while parsing an object at line 1 column 9`."
        );
    }

    #[test]
    fn csv_types_follow_headers_and_ids_stay_strings() {
        let docs = parse_payload(
            PayloadFormat::Csv { delimiter: b',' },
            b"id,title,year:number\n6,Parasite,2019\n",
        )
        .unwrap();
        assert_eq!(
            Value::Object(docs[0].clone()),
            json!({"id": "6", "title": "Parasite", "year": 2019})
        );
        let e =
            parse_payload(PayloadFormat::Csv { delimiter: b',' }, b"a:number\nx\n").unwrap_err();
        assert_eq!(e.code, "malformed_payload");
    }

    #[test]
    fn ids_and_inference() {
        let doc = json!({"id": 1, "uid": 2}).as_object().cloned().unwrap();
        let e = infer_primary_key(&doc).unwrap_err();
        assert_eq!(
            e.message,
            "The primary key inference failed as the engine found 2 fields ending with `id` in their names: 'id' and 'uid'. Please specify the primary key manually using the `primaryKey` query parameter."
        );
        assert_eq!(document_id(&doc, "id").unwrap(), "1");
        let bad = json!({"id": "bad id!"}).as_object().cloned().unwrap();
        assert!(
            document_id(&bad, "id")
                .unwrap_err()
                .message
                .starts_with("Document identifier `\"bad id!\"` is invalid.")
        );
        let none = json!({"title": "no id"}).as_object().cloned().unwrap();
        assert_eq!(
            document_id(&none, "id").unwrap_err().message,
            "Document doesn't have a `id` attribute: `{\"title\":\"no id\"}`."
        );
        let nested = json!({"a": {"b": "x1"}}).as_object().cloned().unwrap();
        assert_eq!(document_id(&nested, "a.b").unwrap(), "x1");
    }

    #[test]
    fn content_types() {
        assert_eq!(
            payload_format(Some("application/json; charset=utf-8"), None).unwrap(),
            PayloadFormat::Json
        );
        let e = payload_format(Some("text/plain"), None).unwrap_err();
        assert_eq!(
            e.message,
            "The Content-Type `text/plain` is invalid. Accepted values for the Content-Type header are: `application/json`, `application/x-ndjson`, `text/csv`"
        );
        assert_eq!(
            payload_format(None, None).unwrap_err().code,
            "missing_content_type"
        );
    }

    #[test]
    fn field_selection_keeps_document_order() {
        let doc = json!({"id": 1, "title": "Carol", "rating": 4.5, "n": {"a": 1, "b": 2}})
            .as_object()
            .cloned()
            .unwrap();
        let f = vec!["rating".to_string(), "title".to_string(), "n.b".to_string()];
        assert_eq!(
            Value::Object(select_fields(&doc, Some(&f))),
            json!({"title": "Carol", "rating": 4.5, "n": {"b": 2}})
        );
    }
}
