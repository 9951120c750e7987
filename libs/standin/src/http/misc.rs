//! Node-wide routes: health, version, stats, experimental features, dumps, and the routes of a
//! real node the stand-in answers as a Community Edition node with default features would, or
//! with a Meilisearch-shaped 501 where it does not implement them.

use axum::body::Body;
use axum::extract::{RawQuery, Request};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use miroir_proto::error::{ErrorCode, MeiliError};
use serde_json::{Value, json};

use super::{HttpResult, Shared, accepted, auth, json_body, not_implemented, ok, route_not_found};
use crate::deserr;
use crate::tasks::TaskContent;

pub(super) async fn running() -> HttpResult {
    ok(json!({"status": "Meilisearch is running"}))
}

pub(super) async fn health() -> HttpResult {
    ok(json!({"status": "available"}))
}

pub(super) async fn not_found(req: Request) -> Response {
    route_not_found(req.method().as_str(), req.uri().path()).into_response()
}

pub(super) async fn version(node: Shared, headers: HeaderMap) -> HttpResult {
    auth(&node, &headers, "version", None)?;
    ok(json!({
        "commitSha": "5cb2f2e94befc717bbea60fec4a31ee64d2f60fd",
        "commitDate": "2026-07-23T14:39:41.000000000Z",
        "pkgVersion": "1.50.0",
    }))
}

pub(super) async fn stats(node: Shared, headers: HeaderMap, RawQuery(q): RawQuery) -> HttpResult {
    let access = auth(&node, &headers, "stats.get", None)?;
    let query = super::stats::StatsQuery::parse(q.as_deref())?;
    let indexing: Vec<String> = {
        let queue = node.queue();
        node.store()
            .indexes
            .keys()
            .filter(|uid| queue.is_indexing(uid))
            .cloned()
            .collect()
    };
    let store = node.store();
    let stats = store.stats(&|uid| indexing.iter().any(|i| i == uid));
    let mut stats = query.global(&store, stats);
    if let Some(Value::Object(indexes)) = stats.get_mut("indexes") {
        indexes.retain(|uid, _| access.allows_index(uid));
    }
    ok(stats)
}

pub(super) async fn features_get(node: Shared, headers: HeaderMap) -> HttpResult {
    auth(&node, &headers, "experimental.get", None)?;
    ok(Value::Object(node.features().clone()))
}

pub(super) async fn features_patch(node: Shared, headers: HeaderMap, body: Body) -> HttpResult {
    auth(&node, &headers, "experimental.update", None)?;
    let body = json_body(&node, &headers, body).await?;
    let map = deserr::json_object(ErrorCode::BadRequest, "", &body)?;
    let mut features = node.features().clone();
    let names: Vec<String> = features.keys().cloned().collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    for (k, v) in map {
        if !names.contains(&k.as_str()) {
            return Err(deserr::unknown_field(ErrorCode::BadRequest, "", k, &names));
        }
        if !v.is_null() {
            features.insert(
                k.clone(),
                json!(deserr::json_bool(
                    ErrorCode::BadRequest,
                    &format!(".{k}"),
                    v
                )?),
            );
        }
    }
    *node.features() = features.clone();
    ok(Value::Object(features))
}

fn feature_enabled(node: &crate::node::Node, feature: &str) -> bool {
    node.features()
        .get(feature)
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

fn feature_not_enabled(action: &str, feature: &str, link: &str) -> MeiliError {
    MeiliError::new(
        ErrorCode::FeatureNotEnabled,
        format!("{action} requires enabling the `{feature}` experimental feature. See {link}"),
    )
}

pub(super) async fn dump(node: Shared, headers: HeaderMap) -> HttpResult {
    auth(&node, &headers, "dumps.create", None)?;
    accepted(node.enqueue(None, TaskContent::DumpCreation))
}

pub(super) async fn snapshot(node: Shared, headers: HeaderMap) -> HttpResult {
    auth(&node, &headers, "snapshots.create", None)?;
    Err(not_implemented("POST /snapshots"))
}

pub(super) async fn network(node: Shared, headers: HeaderMap, req: Request) -> HttpResult {
    let action = if req.method() == axum::http::Method::GET {
        "network.get"
    } else {
        "network.update"
    };
    auth(&node, &headers, action, None)?;
    if !feature_enabled(&node, "network") {
        return Err(feature_not_enabled(
            "Using the /network route",
            "network",
            "https://github.com/orgs/meilisearch/discussions/805",
        ));
    }
    Err(not_implemented(&format!("{} /network", req.method())))
}

pub(super) async fn metrics(node: Shared, headers: HeaderMap) -> HttpResult {
    auth(&node, &headers, "metrics.get", None)?;
    if !feature_enabled(&node, "metrics") {
        return Err(feature_not_enabled(
            "Getting metrics",
            "metrics",
            "https://github.com/meilisearch/product/discussions/625",
        ));
    }
    Err(not_implemented("GET /metrics"))
}

pub(super) async fn logs(node: Shared, headers: HeaderMap, req: Request) -> HttpResult {
    auth(&node, &headers, "metrics.get", None)?;
    if !feature_enabled(&node, "logsRoute") {
        return Err(feature_not_enabled(
            "Modifying logs through the `/logs/*` routes",
            "logsRoute",
            "https://github.com/orgs/meilisearch/discussions/721",
        ));
    }
    Err(not_implemented(&format!(
        "{} {}",
        req.method(),
        req.uri().path()
    )))
}

pub(super) async fn export(node: Shared, headers: HeaderMap) -> HttpResult {
    auth(&node, &headers, "export", None)?;
    Err(not_implemented("POST /export"))
}

pub(super) async fn webhooks(node: Shared, headers: HeaderMap, req: Request) -> HttpResult {
    let action = match *req.method() {
        axum::http::Method::GET => "webhooks.get",
        axum::http::Method::POST => "webhooks.create",
        axum::http::Method::DELETE => "webhooks.delete",
        _ => "webhooks.update",
    };
    auth(&node, &headers, action, None)?;
    Err(not_implemented(&format!(
        "{} {}",
        req.method(),
        req.uri().path()
    )))
}

pub(super) async fn chats(node: Shared, headers: HeaderMap, req: Request) -> HttpResult {
    let action = if req.method() == axum::http::Method::GET {
        "chats.get"
    } else {
        "chatCompletions"
    };
    auth(&node, &headers, action, None)?;
    if !feature_enabled(&node, "chatCompletions") {
        return Err(feature_not_enabled(
            "Using the /chats routes",
            "chatCompletions",
            "https://github.com/orgs/meilisearch/discussions/835",
        ));
    }
    Err(not_implemented(&format!(
        "{} {}",
        req.method(),
        req.uri().path()
    )))
}

pub(super) async fn compact(node: Shared, headers: HeaderMap, req: Request) -> HttpResult {
    let uid = req
        .uri()
        .path()
        .trim_start_matches("/indexes/")
        .split('/')
        .next()
        .unwrap_or_default()
        .to_string();
    auth(&node, &headers, "indexes.compact", Some(&uid))?;
    super::check_uid(&uid)?;
    accepted(node.enqueue(Some(uid), TaskContent::IndexCompaction))
}

pub(super) async fn task_documents(node: Shared, headers: HeaderMap) -> HttpResult {
    auth(&node, &headers, "tasks.get", None)?;
    if !feature_enabled(&node, "getTaskDocumentsRoute") {
        return Err(feature_not_enabled(
            "Getting the documents of an enqueued task",
            "getTaskDocumentsRoute",
            "https://github.com/orgs/meilisearch/discussions/808",
        ));
    }
    Err(not_implemented("GET /tasks/{taskUid}/documents"))
}

pub(super) async fn compact_tasks(node: Shared, headers: HeaderMap) -> HttpResult {
    auth(&node, &headers, "tasks.compact", None)?;
    if !feature_enabled(&node, "taskQueueCompactionRoute") {
        return Err(feature_not_enabled(
            "Compacting the task queue",
            "taskQueueCompactionRoute",
            "https://github.com/orgs/meilisearch/discussions/801",
        ));
    }
    Err(not_implemented("POST /tasks/compact"))
}
