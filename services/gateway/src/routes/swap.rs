//! `POST /swap-indexes`: the body is checked here with Meilisearch's messages (its `deserr`
//! errors, then the pair length, then the key's indexes, then duplicates), and the router swaps
//! the index records of all pairs at once.

use std::collections::{BTreeSet, HashSet};

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use miroir_proto::rpc_tasks::{IndexSwap, SwapPair};
use miroir_proto::{ErrorCode, MeiliError};
use serde_json::Value;

use crate::auth::AuthContext;
use crate::body::{described, json_body};
use crate::errors::enqueued;
use crate::params::{index_uid_problem, quoted};
use crate::state::AppState;

pub async fn swap(
    State(state): State<AppState>,
    ctx: AuthContext,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, MeiliError> {
    let (_, value) = json_body(&headers, body, state.config().max_payload_bytes).await?;
    let swaps = parse_swaps(&value)?;
    // Meilisearch's answer when the key does not open every index of the swap.
    if swaps
        .iter()
        .any(|p| !ctx.is_index_authorized(&p.lhs) || !ctx.is_index_authorized(&p.rhs))
    {
        return Err(MeiliError::invalid_api_key());
    }
    check_duplicates(&swaps)?;
    let task = state
        .call(&IndexSwap { swaps }, state.config().write_timeout(), None)
        .await?;
    Ok(enqueued(task))
}

fn type_error(code: ErrorCode, loc: &str, expected: &str, v: &Value) -> MeiliError {
    let at = if loc.is_empty() {
        String::new()
    } else {
        format!(" at `{loc}`")
    };
    MeiliError::new(
        code,
        format!(
            "Invalid value type{at}: expected {expected}, but found {}",
            described(v)
        ),
    )
}

/// The swaps of a body, or the first error Meilisearch would give.
pub fn parse_swaps(value: &Value) -> Result<Vec<SwapPair>, MeiliError> {
    let Value::Array(items) = value else {
        return Err(type_error(ErrorCode::BadRequest, "", "an array", value));
    };
    let mut parsed: Vec<(Vec<String>, bool)> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let loc = format!("[{i}]");
        let Value::Object(fields) = item else {
            return Err(type_error(ErrorCode::BadRequest, &loc, "an object", item));
        };
        let (mut indexes, mut rename) = (None, false);
        for (key, v) in fields {
            let at = format!("{loc}.{key}");
            match key.as_str() {
                "indexes" => {
                    let Value::Array(uids) = v else {
                        return Err(type_error(
                            ErrorCode::InvalidSwapIndexes,
                            &at,
                            "an array",
                            v,
                        ));
                    };
                    let mut names = Vec::with_capacity(uids.len());
                    for (j, uid) in uids.iter().enumerate() {
                        let at = format!("{at}[{j}]");
                        let Value::String(uid) = uid else {
                            return Err(type_error(
                                ErrorCode::InvalidSwapIndexes,
                                &at,
                                "a string",
                                uid,
                            ));
                        };
                        if let Some(problem) = index_uid_problem(uid) {
                            return Err(MeiliError::new(
                                ErrorCode::InvalidSwapIndexes,
                                format!("Invalid value at `{at}`: {problem}"),
                            ));
                        }
                        names.push(uid.clone());
                    }
                    indexes = Some(names);
                }
                "rename" => {
                    rename = v.as_bool().ok_or_else(|| {
                        type_error(ErrorCode::InvalidSwapRename, &at, "a boolean", v)
                    })?;
                }
                other => {
                    return Err(MeiliError::bad_request(format!(
                        "Unknown field `{other}` inside `{loc}`: expected one of {}",
                        quoted(&["indexes", "rename"])
                    )));
                }
            }
        }
        let Some(indexes) = indexes else {
            return Err(MeiliError::new(
                ErrorCode::MissingSwapIndexes,
                format!("Missing field `indexes` inside `{loc}`"),
            ));
        };
        parsed.push((indexes, rename));
    }
    let mut swaps = Vec::with_capacity(parsed.len());
    for (indexes, rename) in parsed {
        match indexes.as_slice() {
            [lhs, rhs] => swaps.push(SwapPair {
                lhs: lhs.clone(),
                rhs: rhs.clone(),
                rename,
            }),
            _ => {
                return Err(MeiliError::new(
                    ErrorCode::InvalidSwapIndexes,
                    format!(
                        "Two indexes must be given for each swap. The list `{indexes:?}` contains {} indexes.",
                        indexes.len()
                    ),
                ));
            }
        }
    }
    Ok(swaps)
}

/// An index named twice in one request: refused before any is enqueued, as Meilisearch does.
pub fn check_duplicates(swaps: &[SwapPair]) -> Result<(), MeiliError> {
    let mut seen = HashSet::new();
    let mut duplicates = BTreeSet::new();
    for pair in swaps {
        for name in [&pair.lhs, &pair.rhs] {
            if !seen.insert(name) {
                duplicates.insert(name.as_str());
            }
        }
    }
    let duplicates: Vec<&str> = duplicates.into_iter().collect();
    match duplicates.as_slice() {
        [] => Ok(()),
        [one] => Err(MeiliError::new(
            ErrorCode::InvalidSwapDuplicateIndexFound,
            format!(
                "Indexes must be declared only once during a swap. `{one}` was specified several times."
            ),
        )),
        many => Err(MeiliError::new(
            ErrorCode::InvalidSwapDuplicateIndexFound,
            format!(
                "Indexes must be declared only once during a swap. {} were specified several times.",
                quoted(many)
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn message(v: Value) -> (String, String) {
        let e = parse_swaps(&v)
            .and_then(|s| check_duplicates(&s))
            .unwrap_err();
        (e.code.to_string(), e.message)
    }

    #[test]
    fn errors_are_meilisearchs() {
        assert_eq!(
            message(json!("doggo")),
            (
                "bad_request".into(),
                "Invalid value type: expected an array, but found a string: `\"doggo\"`".into()
            )
        );
        assert_eq!(
            message(json!(["doggo"])),
            (
                "bad_request".into(),
                "Invalid value type at `[0]`: expected an object, but found a string: `\"doggo\"`"
                    .into()
            )
        );
        assert_eq!(
            message(json!([{"indexes": "doggo"}])),
            ("invalid_swap_indexes".into(), "Invalid value type at `[0].indexes`: expected an array, but found a string: `\"doggo\"`".into())
        );
        assert_eq!(
            message(json!([{"indexes": ["doggo"]}])),
            ("invalid_swap_indexes".into(), "Two indexes must be given for each swap. The list `[\"doggo\"]` contains 1 indexes.".into())
        );
        assert_eq!(
            message(json!([{"indexes": ["doggo", "crabo", "croco"]}])).1,
            "Two indexes must be given for each swap. The list `[\"doggo\", \"crabo\", \"croco\"]` contains 3 indexes."
        );
        assert_eq!(
            message(json!([{"indexes": ["doggo", "doggo"]}])),
            (
                "invalid_swap_duplicate_index_found".into(),
                "Indexes must be declared only once during a swap. `doggo` was specified several times.".into()
            )
        );
        assert_eq!(
            message(json!([{"indexes": ["a", "b"]}, {"indexes": ["b", "a"]}])).1,
            "Indexes must be declared only once during a swap. `a`, `b` were specified several times."
        );
        assert_eq!(
            message(json!([{"rename": true}])),
            (
                "missing_swap_indexes".into(),
                "Missing field `indexes` inside `[0]`".into()
            )
        );
        assert_eq!(
            message(json!([{"indexes": ["a", "b"], "rename": "yes"}])).0,
            "invalid_swap_rename"
        );
        assert_eq!(
            message(json!([{"indexes": ["a", "bad uid!"]}])).0,
            "invalid_swap_indexes"
        );
        assert_eq!(
            message(json!([{"indexes": ["a", "b"], "nope": 1}])).1,
            "Unknown field `nope` inside `[0]`: expected one of `indexes`, `rename`"
        );
    }

    #[test]
    fn pairs_keep_their_order_and_rename_flag() {
        let swaps =
            parse_swaps(&json!([{"indexes": ["a", "b"]}, {"indexes": ["c", "d"], "rename": true}]))
                .unwrap();
        assert_eq!(
            swaps[1],
            SwapPair {
                lhs: "c".into(),
                rhs: "d".into(),
                rename: true
            }
        );
        assert!(!swaps[0].rename);
        assert!(parse_swaps(&json!([])).unwrap().is_empty());
    }
}
