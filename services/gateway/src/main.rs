//! `miroir-gateway`: loads the configuration (file < `MIROIR_*` environment < `--flags`), sets up
//! logs and metrics, connects to NATS, binds the HTTP port and serves until SIGTERM or Ctrl-C.

use anyhow::Context;
use miroir_cluster::{bus, config};
use miroir_gateway::Config;
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config: Config = config::load("MIROIR_GATEWAY_", std::env::args().skip(1), std::env::vars())?;
    config.validate()?;
    config::init_telemetry(config.metrics_addr)?;
    let nats = bus::connect(&config.nats_url, "miroir-gateway").await?;
    let listener = tokio::net::TcpListener::bind(config.http_addr)
        .await
        .with_context(|| format!("cannot listen on {}", config.http_addr))?;
    let shutdown = CancellationToken::new();
    tokio::spawn(stop_on_signal(shutdown.clone()));
    miroir_gateway::run(config, nats, listener, shutdown).await
}

async fn stop_on_signal(shutdown: CancellationToken) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("shutting down: no new connections, finishing requests in flight");
    shutdown.cancel();
}
