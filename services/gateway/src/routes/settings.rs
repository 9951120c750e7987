//! `/indexes/{uid}/settings` and its sub-routes: reads from the merger, changes through the
//! router (which applies them to every shard).

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use miroir_proto::MeiliError;
use miroir_proto::rpc::{HttpMethod, SettingsGet, SettingsUpdate};

use super::PathParams;
use crate::body::{expect_object, json_body};
use crate::errors::{enqueued, method_not_allowed, raw_json, route_not_found};
use crate::params::check_index_uid;
use crate::state::AppState;

/// Meilisearch's settings sub-routes and the verb that updates each.
const SUB_ROUTES: &[(&str, Method)] = &[
    ("filterable-attributes", Method::PUT),
    ("sortable-attributes", Method::PUT),
    ("displayed-attributes", Method::PUT),
    ("typo-tolerance", Method::PATCH),
    ("searchable-attributes", Method::PUT),
    ("stop-words", Method::PUT),
    ("non-separator-tokens", Method::PUT),
    ("separator-tokens", Method::PUT),
    ("dictionary", Method::PUT),
    ("synonyms", Method::PUT),
    ("distinct-attribute", Method::PUT),
    ("proximity-precision", Method::PUT),
    ("localized-attributes", Method::PUT),
    ("ranking-rules", Method::PUT),
    ("faceting", Method::PATCH),
    ("pagination", Method::PATCH),
    ("embedders", Method::PATCH),
    ("search-cutoff-ms", Method::PUT),
    ("facet-search", Method::PUT),
    ("prefix-search", Method::PUT),
    ("foreign-keys", Method::PUT),
];

/// The sub-route, if Meilisearch has it and serves `method` on it.
fn sub_route(method: &Method, uid: &str, name: &str) -> Result<(), MeiliError> {
    let path = format!("/indexes/{uid}/settings/{name}");
    let Some((_, update_verb)) = SUB_ROUTES.iter().find(|(n, _)| *n == name) else {
        return Err(route_not_found(method.as_str(), &path));
    };
    if method == Method::GET || method == Method::DELETE || method == update_verb {
        Ok(())
    } else {
        Err(method_not_allowed(method.as_str(), &path))
    }
}

async fn read(
    state: &AppState,
    uid: String,
    sub_route: Option<String>,
) -> Result<Response, MeiliError> {
    check_index_uid(&uid)?;
    state.existing_index(&uid).await?;
    let reply = state
        .call(
            &SettingsGet {
                index_uid: uid.clone(),
                sub_route,
            },
            state.config().read_timeout(),
            Some(&uid),
        )
        .await?;
    Ok(raw_json(StatusCode::OK, reply.body))
}

async fn change(
    state: &AppState,
    uid: String,
    sub_route: Option<String>,
    method: HttpMethod,
    query: Option<String>,
    body: Option<(HeaderMap, Body)>,
) -> Result<Response, MeiliError> {
    let custom_metadata = super::documents::custom_metadata_param(query.as_deref())?;
    let body = match body {
        Some((headers, body)) => {
            let (raw, value) = json_body(&headers, body, state.config().max_payload_bytes).await?;
            // The whole settings object must be an object; a sub-route takes any JSON value.
            if sub_route.is_none() {
                expect_object(&value)?;
            }
            Some(raw)
        }
        None => None,
    };
    check_index_uid(&uid)?;
    let request = SettingsUpdate {
        index_uid: uid.clone(),
        sub_route,
        method,
        body,
        custom_metadata,
    };
    let task = state
        .call(&request, state.config().write_timeout(), Some(&uid))
        .await?;
    Ok(enqueued(task))
}

pub async fn get_all(
    State(state): State<AppState>,
    PathParams(uid): PathParams<String>,
) -> Result<Response, MeiliError> {
    read(&state, uid, None).await
}

pub async fn update_all(
    State(state): State<AppState>,
    PathParams(uid): PathParams<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, MeiliError> {
    change(
        &state,
        uid,
        None,
        HttpMethod::Patch,
        query,
        Some((headers, body)),
    )
    .await
}

pub async fn reset_all(
    State(state): State<AppState>,
    PathParams(uid): PathParams<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, MeiliError> {
    change(&state, uid, None, HttpMethod::Delete, query, None).await
}

pub async fn get_one(
    State(state): State<AppState>,
    PathParams((uid, name)): PathParams<(String, String)>,
) -> Result<Response, MeiliError> {
    sub_route(&Method::GET, &uid, &name)?;
    read(&state, uid, Some(name)).await
}

pub async fn put_one(
    State(state): State<AppState>,
    PathParams((uid, name)): PathParams<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, MeiliError> {
    sub_route(&Method::PUT, &uid, &name)?;
    change(
        &state,
        uid,
        Some(name),
        HttpMethod::Put,
        query,
        Some((headers, body)),
    )
    .await
}

pub async fn patch_one(
    State(state): State<AppState>,
    PathParams((uid, name)): PathParams<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, MeiliError> {
    sub_route(&Method::PATCH, &uid, &name)?;
    change(
        &state,
        uid,
        Some(name),
        HttpMethod::Patch,
        query,
        Some((headers, body)),
    )
    .await
}

pub async fn reset_one(
    State(state): State<AppState>,
    PathParams((uid, name)): PathParams<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Response, MeiliError> {
    sub_route(&Method::DELETE, &uid, &name)?;
    change(&state, uid, Some(name), HttpMethod::Delete, query, None).await
}
