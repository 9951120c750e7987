//! The router: Miroir's write path, a NATS service in the queue group `miroir-router`.
//!
//! It turns each write into one cluster task: index creation, update and deletion, settings and
//! document deletions are broadcast to every shard; document batches (spooled by the gateway in
//! the WAL) are split by `xxh3(primary key) mod shards` and sent to every replica of each shard.
//! A batch is checked whole (primary key resolvable, every id valid) before any node is touched,
//! so a bad batch fails as one Meilisearch task and leaves nothing half-written.
//!
//! Cluster task status is derived from the node tasks when asked ([`tasks`]).

mod config;
mod documents;
mod fanout;
mod indexes;
mod settings;
pub mod tasks;

use std::sync::Arc;
use std::time::Duration;

use miroir_cluster::bus::ServiceRunner;
use miroir_cluster::node::NodeClient;
use miroir_cluster::tasks::TaskStore;
use miroir_cluster::topology::TopologyStore;
use miroir_proto::rpc::*;
use miroir_proto::subjects::Service;
use tokio_util::sync::CancellationToken;

pub use config::{parse_bootstrap_node, Config};

/// Everything a request handler needs.
pub struct Router {
    pub(crate) config: Config,
    pub(crate) topology: TopologyStore,
    pub(crate) tasks: TaskStore,
    pub(crate) nodes: NodeClient,
    pub(crate) wal: async_nats::jetstream::stream::Stream,
}

/// Serve until `shutdown` is cancelled, then drain.
pub async fn run(config: Config, nats: async_nats::Client, shutdown: CancellationToken) -> anyhow::Result<()> {
    config.validate()?;
    let js = async_nats::jetstream::new(nats.clone());
    let topology = TopologyStore::open(&js).await?;
    let tasks = TaskStore::open(&js).await?;
    let wal = miroir_cluster::wal::open(&js).await?;
    bootstrap(&config, &topology).await?;
    let nodes = NodeClient::new(config.node_api_key.clone(), Duration::from_millis(config.node_timeout_ms));
    let router = Arc::new(Router { config, topology, tasks, nodes, wal });

    let mut service = ServiceRunner::start(&nats, Service::Router, env!("CARGO_PKG_VERSION"), "Miroir write path").await?;
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
    serve!(TaskList, task_list);
    service.ready().await?;
    tracing::info!("router serving");
    shutdown.cancelled().await;
    service.shutdown(Duration::from_secs(30)).await;
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
        let mut defaults = topology.current().defaults.clone();
        if let Some(s) = config.default_shards {
            defaults.shard_count = s;
        }
        if let Some(rf) = config.default_replication_factor {
            defaults.replication_factor = rf;
        }
        topology.put_defaults(&defaults).await?;
    }
    Ok(())
}
