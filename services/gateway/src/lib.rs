//! Miroir's gateway: the Meilisearch HTTP API that clients and every official SDK talk to,
//! unchanged. It owns authentication (master key, API keys, tenant tokens), request validation and
//! Meilisearch-shaped errors (1.50's codes, statuses and messages), and nothing else: writes go
//! to the router and reads to the merger over NATS, and the topology (which indexes exist) comes
//! from the JetStream KV mirror. Document uploads are parsed while they stream in and spooled to
//! the WAL stream in bounded chunks ([`ingest`]), so memory does not grow with the upload.
//!
//! Start it with [`run`] (what the binary does) or mount [`app`] in-process for tests.

pub mod config;
#[doc(hidden)]
pub mod fuzz_api;
pub mod ingest;

mod auth;
mod body;
mod body_timeout;
mod cors;
mod errors;
mod limits;
mod metrics;
mod params;
pub mod request_id;
mod routes;
mod serve;
mod state;
mod upload_slots;

use std::time::Duration;

use miroir_cluster::bus::ServiceRunner;
use miroir_proto::subjects::Service;
use tokio_util::sync::CancellationToken;

pub use config::Config;
pub use routes::Api as App;
pub use state::AppState;

/// The HTTP API on an opened state (see [`AppState::new`]).
pub fn app(state: AppState) -> App {
    routes::router(state)
}

/// [`app`] with every request going through the router, none answered before it (searches
/// and multi-searches are, see `routes::Api`): what the tests compare those answers with.
#[doc(hidden)]
pub fn app_through_router(state: AppState) -> App {
    routes::router(state).through_router()
}

/// Serve the API on `listener` until `shutdown` is cancelled; then stop accepting connections,
/// let the requests in flight finish (up to `shutdown_grace_ms`) and return.
pub async fn run(
    config: Config,
    nats: async_nats::Client,
    listener: tokio::net::TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    config.validate()?;
    metrics::describe();
    let grace = config.shutdown_grace();
    let header_timeout = config.header_timeout();
    let state = AppState::new(config, nats.clone()).await?;
    // Registered with the NATS service API only so that `$SRV.PING` finds live gateways.
    let mut registration = ServiceRunner::start(
        &nats,
        Service::Gateway,
        env!("CARGO_PKG_VERSION"),
        "Meilisearch-compatible HTTP API",
    )
    .await?;
    registration.ready().await?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "gateway listening");

    let stop = shutdown.clone();
    let mut server = tokio::spawn(serve::serve(listener, app(state), header_timeout, stop));
    let served = tokio::select! {
        joined = &mut server => Some(joined),
        _ = async { shutdown.cancelled().await; tokio::time::sleep(grace).await } => None,
    };
    if served.is_none() {
        // Whatever still runs after the grace period is dropped with the connections.
        server.abort();
    }
    registration.shutdown(Duration::from_secs(1)).await;
    match served {
        Some(Ok(())) => {
            tracing::info!("gateway stopped");
            Ok(())
        }
        Some(Err(e)) => Err(anyhow::anyhow!("the HTTP server task failed: {e}")),
        None => {
            tracing::warn!(
                ?grace,
                "requests still in flight after the grace period were dropped"
            );
            Ok(())
        }
    }
}
