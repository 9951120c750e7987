//! An in-memory stand-in for one Meilisearch 1.50 node, faithful to its HTTP API: the routes, the
//! status codes, the body shapes, the error codes and messages, the asynchronous task lifecycle
//! and API keys, as the recordings in `libs/testkit/fixtures/meilisearch-1.50/` show them.
//! Miroir's tests and local demo run fleets of these in place of real Meilisearch, which cannot be
//! installed here. Nothing it does is what a real node would not do; relevancy scores come from
//! [`engine`], the rest (HTTP, storage, tasks, settings, keys) lives in the other modules.
//!
//! [`run`] serves until a shutdown future resolves; [`app`] gives the router for in-process tests.

use std::time::Duration;

pub mod auth;
pub mod deserr;
pub mod documents;
pub mod engine;
pub mod http;
pub mod node;
pub mod settings;
pub mod store;
pub mod tasks;
pub mod time_fmt;
mod worker;

/// How a stand-in node is started: the subset of Meilisearch's options that matters here.
#[derive(Clone, Debug)]
pub struct Config {
    /// Without a master key every route is open except `/keys`, as on a real node.
    pub master_key: Option<String>,
    /// Largest request body accepted (Meilisearch's `--http-payload-size-limit`, default 100 MB).
    pub max_payload_bytes: u64,
    /// Artificial time each task spends `processing`, so that tests can watch the lifecycle and
    /// cancel a task in flight. Zero by default.
    pub task_delay: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            master_key: None,
            max_payload_bytes: 100_000_000,
            task_delay: Duration::ZERO,
        }
    }
}

/// Serve the node's API on `listener` until `shutdown` resolves; then stop accepting, let the
/// requests in flight finish, and return.
pub async fn run(
    config: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let node = node::Node::new(config);
    node.start_worker();
    let router = http::router(node.clone());
    let served = axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await;
    node.stop_worker();
    served?;
    Ok(())
}

/// A node's state (indexes, tasks, keys) that outlives the server serving it: what a node's disk
/// is to a real Meilisearch. [`run_with`] serves it; serving it again after a stop is a restart
/// that kept its data.
#[derive(Clone)]
pub struct NodeData(std::sync::Arc<node::Node>);

impl NodeData {
    pub fn new(config: Config) -> Self {
        NodeData(node::Node::new(config))
    }
}

/// [`run`] over `data`, kept across runs: tasks interrupted by the previous stop are processed
/// again, as Meilisearch does after a crash.
pub async fn run_with(
    data: &NodeData,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let node = data.0.clone();
    node.resume();
    node.start_worker();
    let router = http::router(node.clone());
    let served = axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await;
    node.stop_worker();
    served?;
    Ok(())
}

/// The node's router, for in-process tests (`tower::ServiceExt::oneshot` and the like). Its task
/// worker starts with the first request, on the runtime that serves it.
pub fn app(config: Config) -> axum::Router {
    http::router(node::Node::new(config))
}
