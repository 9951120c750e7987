//! `GET` / `PATCH /experimental-features`: the cluster's switches, kept by the router in KV and
//! applied to every node. The body is checked here as a node checks it (deserr's messages); the
//! router refuses the features that cannot work on a sharded index and says why.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use miroir_proto::features::FEATURES;
use miroir_proto::rpc::{FeaturesGet, FeaturesUpdate};
use miroir_proto::{ErrorCode, MeiliError};
use serde_json::Value;

use crate::body::{expect_object, json_body};
use crate::errors::raw_json;
use crate::params::{invalid_type, unknown_field};
use crate::state::AppState;

pub async fn get(State(state): State<AppState>) -> Result<Response, MeiliError> {
    let reply = state
        .call(&FeaturesGet {}, state.config().read_timeout(), None)
        .await?;
    Ok(raw_json(StatusCode::OK, reply.body))
}

/// A node's checks of the body: known names only, each a boolean or `null`.
fn check(value: &Value) -> Result<(), MeiliError> {
    for (name, v) in expect_object(value)? {
        if !FEATURES.contains(&name.as_str()) {
            return Err(unknown_field(name, FEATURES));
        }
        if !(v.is_boolean() || v.is_null()) {
            return Err(invalid_type(
                ErrorCode::BadRequest,
                &format!(".{name}"),
                "a boolean",
                v,
            ));
        }
    }
    Ok(())
}

pub async fn patch(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, MeiliError> {
    let (raw, value) = json_body(&headers, body, state.config().max_payload_bytes).await?;
    check(&value)?;
    let reply = state
        .call(
            &FeaturesUpdate { body: raw },
            state.config().write_timeout(),
            None,
        )
        .await?;
    Ok(raw_json(StatusCode::OK, reply.body))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn bodies_are_checked_as_a_node_checks_them() {
        assert!(check(&json!({"containsFilter": true, "metrics": null})).is_ok());
        let e = check(&json!({"containsFiltr": true})).unwrap_err();
        assert_eq!(e.code, ErrorCode::BadRequest);
        assert!(
            e.message
                .starts_with("Unknown field `containsFiltr`: did you mean `containsFilter`?"),
            "{}",
            e.message
        );
        let e = check(&json!({"metrics": "yes"})).unwrap_err();
        assert_eq!(
            e.message,
            "Invalid value type at `.metrics`: expected a boolean, but found a string: `\"yes\"`"
        );
        assert!(check(&json!([true])).is_err());
    }
}
