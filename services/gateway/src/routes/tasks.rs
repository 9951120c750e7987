//! `/tasks` and `/tasks/{uid}`: cluster tasks, kept by the router.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use miroir_proto::MeiliError;
use miroir_proto::rpc::{TaskGet, TaskList};

use super::PathParams;
use crate::errors::raw_json;
use crate::state::AppState;

/// Meilisearch's task uids are `u32`; anything else is refused before asking anyone.
pub fn parse_task_uid(raw: &str) -> Result<u32, MeiliError> {
    raw.parse::<u32>().map_err(|_| {
        MeiliError::invalid(
            "invalid_task_uids",
            format!("Task uid `{raw}` is invalid. It should only contain numeric characters."),
        )
    })
}

pub async fn get(
    State(state): State<AppState>,
    PathParams(raw): PathParams<String>,
) -> Result<Response, MeiliError> {
    let uid = parse_task_uid(&raw)?;
    let reply = state
        .call(
            &TaskGet {
                uid: u64::from(uid),
            },
            state.config().read_timeout(),
            None,
        )
        .await?;
    Ok(raw_json(StatusCode::OK, reply.body))
}

pub async fn list(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Response, MeiliError> {
    let request = TaskList {
        query: query.unwrap_or_default(),
    };
    let reply = state
        .call(&request, state.config().read_timeout(), None)
        .await?;
    Ok(raw_json(StatusCode::OK, reply.body))
}
