//! `/indexes/{uid}/settings` and its sub-routes, each updated with the verb Meilisearch uses.

use axum::body::Body;
use axum::extract::Path;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use miroir_proto::error::{ErrorCode, MeiliError};

use super::{HttpResult, Shared, accepted, auth, check_uid, json_body, ok, route_not_found};
use crate::settings::{SUB_ROUTES, SettingsPatch};
use crate::tasks::TaskContent;

pub(super) async fn get_all(
    node: Shared,
    headers: HeaderMap,
    Path(uid): Path<String>,
) -> HttpResult {
    auth(&node, &headers, "settings.get", Some(&uid))?;
    check_uid(&uid)?;
    ok(node.store().index(&uid)?.settings.view())
}

pub(super) async fn update_all(
    node: Shared,
    headers: HeaderMap,
    Path(uid): Path<String>,
    body: Body,
) -> HttpResult {
    auth(&node, &headers, "settings.update", Some(&uid))?;
    let body = json_body(&node, &headers, body).await?;
    let patch = SettingsPatch::parse(&body)?;
    check_uid(&uid)?;
    accepted(node.enqueue(
        Some(uid),
        TaskContent::SettingsUpdate {
            patch: Box::new(patch),
        },
    ))
}

pub(super) async fn reset_all(
    node: Shared,
    headers: HeaderMap,
    Path(uid): Path<String>,
) -> HttpResult {
    auth(&node, &headers, "settings.update", Some(&uid))?;
    check_uid(&uid)?;
    accepted(node.enqueue(
        Some(uid),
        TaskContent::SettingsUpdate {
            patch: Box::new(SettingsPatch::reset_all()),
        },
    ))
}

/// The field of a sub-route and the verb that updates it; an unknown sub-route does not exist.
fn sub_route(
    method: &str,
    uid: &str,
    name: &str,
) -> Result<(&'static str, &'static str), MeiliError> {
    SUB_ROUTES
        .iter()
        .find(|(route, _, _)| *route == name)
        .map(|(_, field, verb)| (*field, *verb))
        .ok_or_else(|| route_not_found(method, &format!("/indexes/{uid}/settings/{name}")))
}

pub(super) async fn get_one(
    node: Shared,
    headers: HeaderMap,
    Path((uid, name)): Path<(String, String)>,
) -> HttpResult {
    let (field, _) = sub_route("GET", &uid, &name)?;
    auth(&node, &headers, "settings.get", Some(&uid))?;
    check_uid(&uid)?;
    let store = node.store();
    let view = store
        .index(&uid)?
        .settings
        .field_view(field)
        .unwrap_or_default();
    ok(view)
}

async fn update_one(
    node: Shared,
    headers: HeaderMap,
    uid: String,
    name: String,
    body: Body,
    verb: &str,
) -> HttpResult {
    let (field, expected_verb) = sub_route(verb, &uid, &name)?;
    if verb != expected_verb {
        return Ok(MeiliError::new(
            ErrorCode::MethodNotAllowed,
            format!("The method `{verb}` is not allowed on `/indexes/{uid}/settings/{name}`."),
        )
        .into_response());
    }
    auth(&node, &headers, "settings.update", Some(&uid))?;
    let body = json_body(&node, &headers, body).await?;
    let patch = SettingsPatch::parse_sub_route(field, &body)?;
    check_uid(&uid)?;
    accepted(node.enqueue(
        Some(uid),
        TaskContent::SettingsUpdate {
            patch: Box::new(patch),
        },
    ))
}

pub(super) async fn put_one(
    node: Shared,
    headers: HeaderMap,
    Path((uid, name)): Path<(String, String)>,
    body: Body,
) -> HttpResult {
    update_one(node, headers, uid, name, body, "PUT").await
}

pub(super) async fn patch_one(
    node: Shared,
    headers: HeaderMap,
    Path((uid, name)): Path<(String, String)>,
    body: Body,
) -> HttpResult {
    update_one(node, headers, uid, name, body, "PATCH").await
}

pub(super) async fn reset_one(
    node: Shared,
    headers: HeaderMap,
    Path((uid, name)): Path<(String, String)>,
) -> HttpResult {
    let (field, _) = sub_route("DELETE", &uid, &name)?;
    auth(&node, &headers, "settings.update", Some(&uid))?;
    check_uid(&uid)?;
    accepted(node.enqueue(
        Some(uid),
        TaskContent::SettingsUpdate {
            patch: Box::new(SettingsPatch::reset_field(field)),
        },
    ))
}
