//! The router: Miroir's write path, a NATS service in the queue group `miroir-router`.
//!
//! It turns each write into one cluster task: index creation, update and deletion, settings and
//! document deletions are broadcast to every shard; document batches (spooled by the gateway in
//! the WAL) are split by `xxh3(primary key) mod shards` and sent to every replica of each shard.
//! A batch is checked whole (primary key resolvable, every id valid) before any node is touched,
//! so a bad batch fails as one Meilisearch task and leaves nothing half-written.
//!
//! Cluster task status is derived from the node tasks when asked ([`tasks`]); task listings run
//! on an in-memory index of the tasks bucket ([`task_index`]). Index swaps trade index records in
//! one atomic KV batch ([`swap`]); a background loop keeps every shard copy's settings equal
//! ([`drift`]).

mod compact;
mod config;
mod documents;
pub mod drift;
mod dump;
mod fanout;
mod features;
mod indexes;
pub mod kv_batch;
pub mod metrics;
mod settings;
mod settler;
mod sizes;
pub mod swap;
mod task_admin;
pub mod task_filter;
pub mod task_index;
mod task_list;
pub mod tasks;
mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use miroir_cluster::bus::ServiceRunner;
use miroir_cluster::node::NodeClient;
use miroir_cluster::tasks::TaskStore;
use miroir_cluster::topology::TopologyStore;
use miroir_proto::rpc::*;
use miroir_proto::rpc_tasks::{
    BatchGet, BatchList, IndexSwap, TaskCancel, TaskDelete, TaskIndexUids, TaskSearch,
};
use miroir_proto::subjects::Service;
use tokio_util::sync::CancellationToken;

pub use config::{Config, parse_bootstrap_node};

/// Everything a request handler needs.
pub struct Router {
    pub(crate) config: Config,
    pub(crate) topology: TopologyStore,
    pub(crate) tasks: TaskStore,
    pub(crate) nodes: NodeClient,
    pub(crate) wal: async_nats::jetstream::stream::Stream,
    /// Queues of the writes copies missed (hinted handoff).
    pub(crate) handoff: miroir_cluster::handoff::HandoffQueues,
    pub(crate) js: async_nats::jetstream::Context,
    pub(crate) task_index: task_index::TaskIndex,
    /// Rung to run the settings drift check now.
    pub(crate) drift: tokio::sync::Notify,
}

/// Serve until `shutdown` is cancelled, then drain.
pub async fn run(
    config: Config,
    nats: async_nats::Client,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    config.validate()?;
    metrics::describe();
    let js = async_nats::jetstream::new(nats.clone());
    let topology = TopologyStore::open(&js).await?;
    let tasks = TaskStore::open(&js).await?;
    let wal = miroir_cluster::wal::open(&js).await?;
    let handoff = miroir_cluster::handoff::HandoffQueues::open(&js).await?;
    bootstrap(&config, &topology).await?;
    let nodes = NodeClient::new(
        config.node_api_key.clone(),
        Duration::from_millis(config.node_timeout_ms),
    )?;
    // Background loops stop when `run` returns, after the drain (requests in flight use them).
    let background = CancellationToken::new();
    let _stop_background = background.clone().drop_guard();
    let task_index = task_index::TaskIndex::open(&js, background.clone()).await?;
    let router = Arc::new(Router {
        config,
        topology,
        tasks,
        nodes,
        wal,
        handoff,
        js,
        task_index,
        drift: tokio::sync::Notify::new(),
    });
    tokio::spawn(drift::run(router.clone(), background.clone()));
    tokio::spawn(settler::run(router.clone(), background.clone()));
    tokio::spawn(features::run(router.clone(), background.clone()));
    tokio::spawn(webhooks::run(router.js.clone(), background.clone()));

    let mut service = ServiceRunner::start(
        &nats,
        Service::Router,
        env!("CARGO_PKG_VERSION"),
        "Miroir write path",
    )
    .await?;
    macro_rules! serve {
        ($req:ty, $method:ident) => {{
            let r = router.clone();
            service
                .serve::<$req, _, _>(move |req, _id| {
                    let r = r.clone();
                    async move { r.$method(req).await }
                })
                .await?;
        }};
    }
    serve!(IndexCreate, index_create);
    serve!(IndexUpdate, index_update);
    serve!(IndexDelete, index_delete);
    serve!(DocumentsCommit, documents_commit);
    serve!(DocumentsDelete, documents_delete);
    serve!(SettingsUpdate, settings_update);
    serve!(TaskGet, task_get);
    serve!(TaskSearch, task_search);
    serve!(TaskCancel, task_cancel);
    serve!(TaskDelete, task_delete);
    serve!(BatchList, batch_list);
    serve!(BatchGet, batch_get);
    serve!(IndexSwap, index_swap);
    serve!(miroir_proto::rpc_dumps::DumpCreate, dump_create);
    serve!(TaskIndexUids, task_index_uids);
    serve!(IndexCompact, index_compact);
    serve!(FeaturesGet, features_get);
    serve!(FeaturesUpdate, features_update);
    service.ready().await?;
    tracing::info!("router serving");
    shutdown.cancelled().await;
    service
        .shutdown(Duration::from_millis(router.config.shutdown_grace_ms))
        .await;
    Ok(())
}

/// Seed the node list of a fresh cluster (no node known yet) and the cluster defaults.
async fn bootstrap(config: &Config, topology: &TopologyStore) -> anyhow::Result<()> {
    if topology.current().nodes.is_empty() {
        for spec in &config.bootstrap_nodes {
            let node = parse_bootstrap_node(spec)?;
            topology.put_node(&node).await?;
        }
    }
    if config.default_shards.is_some() || config.default_replication_factor.is_some() {
        // Only on a fresh cluster: once the `cluster` key exists, it is the operator's.
        let mut defaults = miroir_proto::topology::ClusterDefaults::default();
        if let Some(s) = config.default_shards {
            defaults.shard_count = s;
        }
        if let Some(rf) = config.default_replication_factor {
            defaults.replication_factor = rf;
        }
        topology.create_defaults(&defaults).await?;
    }
    Ok(())
}
