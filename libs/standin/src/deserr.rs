//! Meilisearch validates request bodies and query strings with `deserr`, whose messages clients
//! see verbatim (`Invalid value type at `.limit`: expected a positive integer, but found a
//! negative integer: `-1``). These helpers write the same messages, and parse query strings
//! the way its query-parameter extractor does.

use indexmap::IndexMap;
use miroir_proto::error::{ErrorCode, MeiliError};
pub use miroir_proto::suggest::{did_you_mean, quoted};
use serde_json::Value;

/// `"a positive integer"`, `"a string"`... as deserr names the kind of a JSON value.
pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_u64() => "a positive integer",
        Value::Number(n) if n.is_i64() => "a negative integer",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The value with its kind: ``a string: `"x"` ``, or `null`.
pub fn described(v: &Value) -> String {
    match v {
        Value::Null => "null".to_string(),
        other => format!("{}: `{}`", kind(other), other),
    }
}

fn at(loc: &str, article: &str) -> String {
    if loc.is_empty() {
        String::new()
    } else {
        format!(" {article} `{loc}`")
    }
}

/// `Invalid value type at `.loc`: expected {expected}, but found {value}`.
pub fn invalid_type(code: ErrorCode, loc: &str, expected: &str, v: &Value) -> MeiliError {
    MeiliError::new(
        code,
        format!(
            "Invalid value type{}: expected {expected}, but found {}",
            at(loc, "at"),
            described(v)
        ),
    )
}

/// `Invalid value at `.loc`: {msg}`.
pub fn invalid_value(code: ErrorCode, loc: &str, msg: impl std::fmt::Display) -> MeiliError {
    MeiliError::new(code, format!("Invalid value{}: {msg}", at(loc, "at")))
}

/// `Unknown field `key` inside `.loc`: did you mean ...? expected one of ...`.
pub fn unknown_field(code: ErrorCode, loc: &str, key: &str, accepted: &[&str]) -> MeiliError {
    MeiliError::new(
        code,
        format!(
            "Unknown field `{key}`{}: {}expected one of {}",
            at(loc, "inside"),
            did_you_mean(key, accepted),
            quoted(accepted)
        ),
    )
}

/// `Unknown value `v` at `.loc`: expected one of ...`.
pub fn unknown_value(code: ErrorCode, loc: &str, value: &str, accepted: &[&str]) -> MeiliError {
    MeiliError::new(
        code,
        format!(
            "Unknown value `{value}`{}: {}expected one of {}",
            at(loc, "at"),
            did_you_mean(value, accepted),
            quoted(accepted)
        ),
    )
}

/// `Missing field `field` inside `.loc``.
pub fn missing_field(code: ErrorCode, loc: &str, field: &str) -> MeiliError {
    MeiliError::new(
        code,
        format!("Missing field `{field}`{}", at(loc, "inside")),
    )
}

/// A query string as deserr's query-parameter extractor sees it: keys in order of first
/// appearance, each with every value it was given.
#[derive(Debug, Default)]
pub struct QueryParams {
    pairs: IndexMap<String, Vec<String>>,
}

impl QueryParams {
    pub fn parse(raw: Option<&str>) -> Self {
        let mut pairs: IndexMap<String, Vec<String>> = IndexMap::new();
        if let Some(raw) = raw {
            for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
                pairs
                    .entry(k.into_owned())
                    .or_default()
                    .push(v.into_owned());
            }
        }
        QueryParams { pairs }
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Every parameter in order, each with its single value, or the error a repeated parameter
    /// gets. `codes` maps accepted names to their error codes; an unknown name is `bad_request`.
    pub fn entries<'a>(
        &'a self,
        accepted: &[(&str, ErrorCode)],
    ) -> Result<Vec<(&'a str, &'a str)>, MeiliError> {
        let names: Vec<&str> = accepted.iter().map(|(n, _)| *n).collect();
        let mut out = Vec::with_capacity(self.pairs.len());
        for (key, values) in &self.pairs {
            let Some((_, code)) = accepted.iter().find(|(n, _)| n == key) else {
                return Err(MeiliError::bad_request(format!(
                    "Unknown parameter `{key}`: {}expected one of {}",
                    did_you_mean(key, &names),
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

/// `Invalid value in parameter `name`: {msg}`.
pub fn invalid_param(code: ErrorCode, name: &str, msg: impl std::fmt::Display) -> MeiliError {
    MeiliError::new(code, format!("Invalid value in parameter `{name}`: {msg}"))
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

pub fn param_u32(code: ErrorCode, name: &str, v: &str) -> Result<u32, MeiliError> {
    v.parse::<u32>().map_err(|_| {
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

/// A comma-separated list where `*` stands for "no filter": `None` then.
pub fn star_or_list(v: &str) -> Option<Vec<String>> {
    let items: Vec<String> = v.split(',').map(|s| s.trim().to_string()).collect();
    if items.iter().any(|s| s == "*") {
        None
    } else {
        Some(items)
    }
}

/// A JSON value expected to be a non-negative integer that fits a `usize`.
pub fn json_usize(code: ErrorCode, loc: &str, v: &Value) -> Result<usize, MeiliError> {
    match v.as_u64() {
        Some(n) => usize::try_from(n).map_err(|_| invalid_type(code, loc, "a positive integer", v)),
        None => Err(invalid_type(code, loc, "a positive integer", v)),
    }
}

pub fn json_bool(code: ErrorCode, loc: &str, v: &Value) -> Result<bool, MeiliError> {
    v.as_bool()
        .ok_or_else(|| invalid_type(code, loc, "a boolean", v))
}

pub fn json_string(code: ErrorCode, loc: &str, v: &Value) -> Result<String, MeiliError> {
    v.as_str()
        .map(str::to_string)
        .ok_or_else(|| invalid_type(code, loc, "a string", v))
}

/// An array of strings; `loc` is the array's location, elements are `loc[i]`.
pub fn json_strings(code: ErrorCode, loc: &str, v: &Value) -> Result<Vec<String>, MeiliError> {
    let Value::Array(items) = v else {
        return Err(invalid_type(code, loc, "an array", v));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| json_string(code, &format!("{loc}[{i}]"), item))
        .collect()
}

pub fn json_object<'a>(
    code: ErrorCode,
    loc: &str,
    v: &'a Value,
) -> Result<&'a serde_json::Map<String, Value>, MeiliError> {
    v.as_object()
        .ok_or_else(|| invalid_type(code, loc, "an object", v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_match_deserr() {
        let e = invalid_type(
            ErrorCode::InvalidSearchLimit,
            ".limit",
            "a positive integer",
            &serde_json::json!(-1),
        );
        assert_eq!(
            e.message,
            "Invalid value type at `.limit`: expected a positive integer, but found a negative integer: `-1`"
        );
        let e = unknown_field(
            ErrorCode::BadRequest,
            "",
            "filler",
            &["q", "filter", "sort"],
        );
        assert_eq!(
            e.message,
            "Unknown field `filler`: did you mean `filter`? expected one of `q`, `filter`, `sort`"
        );
        let e = unknown_field(ErrorCode::BadRequest, "", "nope", &["q", "filter"]);
        assert_eq!(
            e.message,
            "Unknown field `nope`: expected one of `q`, `filter`"
        );
    }

    #[test]
    fn query_params_keep_order_and_reject_repeats() {
        let q = QueryParams::parse(Some("limit=1&from=2&limit=3"));
        let e = q.entries(&[
            ("limit", ErrorCode::InvalidTaskLimit),
            ("from", ErrorCode::InvalidTaskFrom),
        ]);
        assert_eq!(
            e.err().map(|e| e.code.to_string()),
            Some("invalid_task_limit".to_string())
        );
        let q = QueryParams::parse(Some("nope=1"));
        let e = q.entries(&[("limit", ErrorCode::InvalidTaskLimit)]).err();
        assert_eq!(
            e.map(|e| e.message),
            Some("Unknown parameter `nope`: expected one of `limit`".to_string())
        );
    }
}
