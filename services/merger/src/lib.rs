//! The merger: Miroir's read path. A NATS service (queue group `miroir-merger`, registered with
//! the NATS service API, so any number of replicas share the load) that answers the gateway's
//! `Search`, `DocumentGet`, `DocumentsFetch`, `Stats` and `SettingsGet` requests.
//!
//! A search goes to one copy of every shard of the index, chosen from the topology mirror and the
//! latency this merger has measured (healthy copies first, the faster ones more often; suspect
//! ones only as a last resort: [`replicas`], [`latency`]), with a retry on another copy when one
//! fails and a hedge, within a budget, when one is slower than usual ([`fetch`], [`budget`]); the answers are merged by
//! `miroir_merge`'s pure function into what one whole index would have answered. A shard with no
//! answering copy turns the whole answer into an explicit 503 naming it, never a partial answer.
//! Errors that nodes word (bad filter, unknown field) reach the client as one node would have
//! said them, with the node-local shard index names turned back into the client's uid
//! ([`errors`]).

pub mod budget;
pub mod config;
pub mod context;
pub mod documents;
pub mod documents_sort;
pub mod errors;
pub mod facet_search;
pub mod fetch;
pub mod fields;
pub mod gather;
pub mod latency;
mod metrics;
pub mod multi_search;
pub mod replicas;
pub mod search;
pub mod settings;
pub mod similar;
pub mod state;
pub mod stats;

use std::sync::Arc;

use miroir_cluster::bus::ServiceRunner;
use miroir_cluster::topology::TopologyStore;
use miroir_proto::rpc::{DocumentGet, DocumentsFetch, Search, SettingsGet, Stats};
use miroir_proto::subjects::Service;
use tokio_util::sync::CancellationToken;

pub use config::Config;
use state::Merger;

/// Serve the read path until `shutdown` is cancelled, then stop taking requests (the queue group
/// hands new ones to other replicas) and let those in flight finish within the grace period.
pub async fn run(
    config: Config,
    nats: async_nats::Client,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    config.validate()?;
    metrics::describe();
    let grace = config.shutdown_grace();
    let jetstream = async_nats::jetstream::new(nats.clone());
    let topology = TopologyStore::open(&jetstream).await?;
    let merger = Arc::new(Merger::new(config, topology)?);
    let mut runner = ServiceRunner::start(
        &nats,
        Service::Merger,
        env!("CARGO_PKG_VERSION"),
        "Miroir read path: sharded search with exact merge, documents, stats, settings",
    )
    .await?;
    let m = merger.clone();
    runner
        .serve::<Search, _, _>(move |req, _| {
            let m = m.clone();
            async move { search::search(&m, req).await }
        })
        .await?;
    let m = merger.clone();
    runner
        .serve::<DocumentGet, _, _>(move |req, _| {
            let m = m.clone();
            async move { documents::get(&m, req).await }
        })
        .await?;
    let m = merger.clone();
    runner
        .serve::<DocumentsFetch, _, _>(move |req, _| {
            let m = m.clone();
            async move { documents::fetch(&m, req).await }
        })
        .await?;
    let m = merger.clone();
    runner
        .serve::<Stats, _, _>(move |req, _| {
            let m = m.clone();
            async move { stats::stats(&m, req).await }
        })
        .await?;
    let m = merger.clone();
    runner
        .serve::<SettingsGet, _, _>(move |req, _| {
            let m = m.clone();
            async move { settings::get(&m, req).await }
        })
        .await?;
    let m = merger.clone();
    runner
        .serve::<miroir_proto::rpc_search::MultiSearch, _, _>(move |req, _| {
            let m = m.clone();
            async move { multi_search::multi_search(&m, req).await }
        })
        .await?;
    let m = merger.clone();
    runner
        .serve::<miroir_proto::rpc_search::FacetSearch, _, _>(move |req, _| {
            let m = m.clone();
            async move { facet_search::facet_search(&m, req).await }
        })
        .await?;
    let m = merger.clone();
    runner
        .serve::<miroir_proto::rpc::FieldsList, _, _>(move |req, _| {
            let m = m.clone();
            async move { fields::fields(&m, req).await }
        })
        .await?;
    let m = merger.clone();
    runner
        .serve::<miroir_proto::rpc::Similar, _, _>(move |req, _| {
            let m = m.clone();
            async move { similar::similar(&m, req).await }
        })
        .await?;
    runner.ready().await?;
    tracing::info!("merger serving");
    shutdown.cancelled().await;
    tracing::info!("merger draining");
    runner.shutdown(grace).await;
    Ok(())
}
