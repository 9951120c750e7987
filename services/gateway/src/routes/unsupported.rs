//! Routes a Meilisearch node has that Miroir does not serve on a sharded index, each answered
//! with Meilisearch's error shape and a reason instead of a bare 404.
//!
//! Routes gated by an experimental feature answer exactly as a Meilisearch node with that
//! feature off does (`feature_not_enabled`, 400): Miroir's gateway does not serve them, and the
//! cluster refuses to turn their features on (see `routes/features.rs`). The others answer
//! `not_supported_by_miroir` (501) and say why.

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use miroir_proto::{ErrorCode, MeiliError};

/// Miroir's code for a Meilisearch route it does not serve.
pub const NOT_SUPPORTED: ErrorCode = ErrorCode::NotSupportedByMiroir;

/// `not_supported_by_miroir`, 501, naming the route and the reason.
pub fn not_supported(method: &str, path: &str, why: &str) -> MeiliError {
    MeiliError::new(
        NOT_SUPPORTED,
        format!("The route `{method} {path}` is not supported by Miroir: {why}"),
    )
}

/// Meilisearch's error for a route whose experimental feature is off.
pub fn feature_not_enabled(action: &str, feature: &str, link: &str) -> MeiliError {
    MeiliError::new(
        ErrorCode::FeatureNotEnabled,
        format!("{action} requires enabling the `{feature}` experimental feature. See {link}"),
    )
}

fn refuse(req: &Request, why: &str) -> Response {
    not_supported(req.method().as_str(), req.uri().path(), why).into_response()
}

pub async fn snapshots(req: Request) -> Response {
    refuse(
        &req,
        "a snapshot is the database of one node, and each index of Miroir is split over many nodes. Snapshot the nodes themselves.",
    )
}

pub async fn export(req: Request) -> Response {
    refuse(
        &req,
        "exporting to another instance is done by each Meilisearch node for its own indexes, and Miroir's indexes are split over many nodes. Read the documents back with `GET /indexes/{indexUid}/documents`.",
    )
}

pub async fn chats(req: Request) -> Response {
    refuse(
        &req,
        "chat completions need embedders and the experimental `chatCompletions` feature, which Miroir does not support on sharded indexes.",
    )
}

pub async fn network() -> Response {
    feature_not_enabled(
        "Using the /network route",
        "network",
        "https://github.com/orgs/meilisearch/discussions/805",
    )
    .into_response()
}

pub async fn metrics() -> Response {
    feature_not_enabled(
        "Getting metrics",
        "metrics",
        "https://github.com/meilisearch/product/discussions/625",
    )
    .into_response()
}

pub async fn logs() -> Response {
    feature_not_enabled(
        "Modifying logs through the `/logs/*` routes",
        "logs route",
        "https://github.com/orgs/meilisearch/discussions/721",
    )
    .into_response()
}

pub async fn edit_documents() -> Response {
    feature_not_enabled(
        "Using the documents edit route",
        "edit documents by function",
        "https://github.com/orgs/meilisearch/discussions/762",
    )
    .into_response()
}

pub async fn task_documents() -> Response {
    feature_not_enabled(
        "Getting the documents of an enqueued task",
        "get task documents route",
        "https://github.com/orgs/meilisearch/discussions/808",
    )
    .into_response()
}

pub async fn compact_tasks() -> Response {
    feature_not_enabled(
        "Using the /tasks/compact route",
        "task queue compaction route",
        "https://github.com/orgs/meilisearch/discussions/883",
    )
    .into_response()
}
