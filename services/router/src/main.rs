//! `miroir-router`: parse the config, connect, serve until SIGTERM.

use miroir_router::{run, Config};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config: Config = miroir_cluster::config::load("MIROIR_ROUTER_", std::env::args().skip(1), std::env::vars())?;
    config.validate()?;
    miroir_cluster::config::init_telemetry(config.metrics_addr)?;
    let nats = miroir_cluster::bus::connect(&config.nats_url, "miroir-router").await?;
    let shutdown = CancellationToken::new();
    let signal = shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        signal.cancel();
    });
    run(config, nats, shutdown).await
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = term.recv() => {},
            _ = tokio::signal::ctrl_c() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
