//! Reading request bodies as Meilisearch does: the `Content-Type` check, the size limit, and
//! its messages for a missing or malformed JSON payload.

use axum::body::Body;
use axum::http::HeaderMap;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use miroir_proto::{ErrorCode, MeiliError};
use serde_json::Value;

use crate::body_timeout::BodyTimeout;

/// The essence of a `Content-Type` value, lowercased: `type/subtype`, and the `+suffix` of the
/// subtype if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mime {
    pub type_: String,
    pub subtype: String,
    pub suffix: Option<String>,
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
}

/// A `Content-Type` value's type, subtype and suffix (the subtype's part after its first `+`),
/// as written; `None` when it is not a media type at all.
fn media_type(raw: &str) -> Option<(&str, &str, Option<&str>)> {
    let essence = raw.split(';').next().unwrap_or_default().trim();
    let (type_, subtype) = essence.split_once('/')?;
    if !is_token(type_) || !is_token(subtype) {
        return None;
    }
    Some(match subtype.split_once('+') {
        Some((subtype, suffix)) => (type_, subtype, Some(suffix)),
        None => (type_, subtype, None),
    })
}

/// Parse a `Content-Type` header value; `None` when it is not a media type at all.
pub fn parse_mime(raw: &str) -> Option<Mime> {
    let (type_, subtype, suffix) = media_type(raw)?;
    Some(Mime {
        type_: type_.to_ascii_lowercase(),
        subtype: subtype.to_ascii_lowercase(),
        suffix: suffix.map(str::to_ascii_lowercase),
    })
}

/// The raw `Content-Type` header, if any (lossy when it is not UTF-8).
pub fn content_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get(CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

/// Meilisearch's JSON routes accept any `*/json` or `*/*+json` media type.
pub fn check_json_content_type(headers: &HeaderMap) -> Result<(), MeiliError> {
    const ACCEPTED: &[&str] = &["application/json"];
    let Some(value) = headers.get(CONTENT_TYPE) else {
        return Err(MeiliError::missing_content_type(ACCEPTED));
    };
    // Borrowed unless the header is not UTF-8 (then read lossily, as `content_type` reads it).
    let raw = String::from_utf8_lossy(value.as_bytes());
    if is_json(&raw) {
        Ok(())
    } else {
        Err(MeiliError::invalid_content_type(&raw, ACCEPTED))
    }
}

/// Whether `raw` is a media type whose subtype or suffix is `json` (any case), as its
/// [`parse_mime`] says, without allocating (every search body goes through here).
fn is_json(raw: &str) -> bool {
    media_type(raw).is_some_and(|(_, subtype, suffix)| {
        subtype.eq_ignore_ascii_case("json")
            || suffix.is_some_and(|s| s.eq_ignore_ascii_case("json"))
    })
}

/// Refuse a body announced larger than `limit` before reading any of it.
pub fn check_content_length(headers: &HeaderMap, limit: u64) -> Result<(), MeiliError> {
    let announced = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match announced {
        Some(n) if n > limit => Err(MeiliError::payload_too_large(limit)),
        _ => Ok(()),
    }
}

pub fn incomplete_payload() -> MeiliError {
    MeiliError::bad_request("The provided payload is incomplete and cannot be parsed")
}

/// A body that failed while being read: 408 if it stalled or took too long (see
/// `body_timeout`), else the client cut it short (Meilisearch's incomplete payload).
pub fn read_error(error: axum::Error) -> MeiliError {
    match BodyTimeout::of(error) {
        Some(timeout) => timeout.to_meili(),
        None => incomplete_payload(),
    }
}

/// Read a whole (small) body, refusing more than `limit` bytes.
pub async fn read_limited(
    headers: &HeaderMap,
    body: Body,
    limit: u64,
) -> Result<Bytes, MeiliError> {
    check_content_length(headers, limit)?;
    let mut stream = body.into_data_stream();
    let mut buf = BytesMut::new();
    while let Some(frame) = stream.next().await {
        let frame = frame.map_err(read_error)?;
        if (buf.len() + frame.len()) as u64 > limit {
            return Err(MeiliError::payload_too_large(limit));
        }
        buf.extend_from_slice(&frame);
    }
    Ok(buf.freeze())
}

pub fn missing_json_payload() -> MeiliError {
    MeiliError::new(ErrorCode::MissingPayload, "A json payload is missing.")
}

/// Parse bytes as JSON with the messages of Meilisearch's JSON extractor.
pub fn parse_json(bytes: &[u8]) -> Result<Value, MeiliError> {
    if bytes.is_empty() {
        return Err(missing_json_payload());
    }
    serde_json::from_slice(bytes).map_err(|e| {
        MeiliError::new(
            ErrorCode::MalformedPayload,
            format!("The json payload provided is malformed. `{e}`."),
        )
    })
}

/// A JSON route's body: content type checked, size bounded, parsed. The raw bytes are kept so
/// that they can be forwarded untouched (big numbers, key order).
pub async fn json_body(
    headers: &HeaderMap,
    body: Body,
    limit: u64,
) -> Result<(Bytes, Value), MeiliError> {
    check_json_content_type(headers)?;
    let bytes = read_limited(headers, body, limit).await?;
    let value = parse_json(&bytes)?;
    Ok((bytes, value))
}

/// deserr's name for the kind of a JSON value, as its messages print it.
pub fn described(v: &Value) -> String {
    let kind = match v {
        Value::Null => return "null".to_string(),
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

/// deserr's error when a body must be a JSON object.
pub fn expect_object(v: &Value) -> Result<&serde_json::Map<String, Value>, MeiliError> {
    v.as_object().ok_or_else(|| {
        MeiliError::bad_request(format!(
            "Invalid value type: expected an object, but found {}",
            described(v)
        ))
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn json_media_types_are_told_as_the_parsed_type_tells_them() {
        let parsed = |raw: &str| {
            parse_mime(raw)
                .is_some_and(|m| m.subtype == "json" || m.suffix.as_deref() == Some("json"))
        };
        for raw in [
            "application/json",
            "application/json; charset=utf-8",
            "Application/JSON",
            "  application/json  ;x=y",
            "text/json",
            "application/vnd.api+json",
            "application/json+xml",
            "application/a+b+json",
            "application/+json",
            "application/json+",
            "application/jsonx",
            "application/xjson",
            "application/x-ndjson",
            "text/csv",
            "application",
            "/json",
            "application/",
            "appli cation/json",
            "application/js on",
            "",
            ";",
            "application/json/extra",
            "*/*",
            "application/JSON+Xml",
            "application/ld+JSON; profile=x",
        ] {
            assert_eq!(is_json(raw), parsed(raw), "{raw:?}");
        }
        assert!(is_json("application/json") && is_json("application/ld+json"));
        assert!(!is_json("text/csv") && !is_json("application/x-ndjson"));
    }

    #[test]
    fn media_types_parse_like_the_mime_crate() {
        assert_eq!(
            parse_mime("application/json; charset=utf-8")
                .unwrap()
                .subtype,
            "json"
        );
        assert_eq!(parse_mime("Text/CSV").unwrap().type_, "text");
        assert_eq!(
            parse_mime("application/ld+json").unwrap().suffix.as_deref(),
            Some("json")
        );
        assert!(parse_mime("json").is_none());
        assert!(parse_mime("application/").is_none());
    }

    #[test]
    fn json_messages_are_meilisearchs() {
        assert_eq!(parse_json(b"").unwrap_err().code, "missing_payload");
        let e = parse_json(br#"{"q":"#).unwrap_err();
        assert_eq!(
            e.message,
            "The json payload provided is malformed. `EOF while parsing a value at line 1 column 5`."
        );
        let e = expect_object(&serde_json::json!([1])).unwrap_err();
        assert_eq!(
            e.message,
            "Invalid value type: expected an object, but found an array: `[1]`"
        );
    }
}
