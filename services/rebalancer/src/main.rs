//! `miroir-rebalancer`: load the config, start telemetry, join NATS, move shard copies (while
//! this replica holds the lease) until SIGTERM or Ctrl-C, then release the lease.

use miroir_cluster::{bus, config, shutdown};
use miroir_rebalancer::Config;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config: Config = config::load("MIROIR_REBALANCER_", std::env::args().skip(1), std::env::vars())?;
    config.validate()?;
    config::init_telemetry(config.metrics_addr)?;
    let nats = bus::connect(&config.nats_url, "miroir-rebalancer").await?;
    let shutdown = shutdown::on_signal("rebalancer");
    miroir_rebalancer::run(config, nats, shutdown).await
}
