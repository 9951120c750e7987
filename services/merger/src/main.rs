//! `miroir-merger`: load the config, start telemetry, join NATS, serve the read path until
//! SIGTERM or Ctrl-C, then drain.

use miroir_cluster::{bus, config};
use miroir_merger::Config;
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config: Config = config::load("MIROIR_MERGER_", std::env::args().skip(1), std::env::vars())?;
    config.validate()?;
    config::init_telemetry(config.metrics_addr)?;
    let nats = bus::connect(&config.nats_url, "miroir-merger").await?;
    let shutdown = CancellationToken::new();
    let trigger = shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        trigger.cancel();
    });
    miroir_merger::run(config, nats, shutdown).await
}

async fn wait_for_signal() {
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
}
