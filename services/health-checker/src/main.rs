//! `miroir-health-checker`: load the config, start telemetry, join NATS, probe nodes (while this
//! replica holds the lease) until SIGTERM or Ctrl-C, then release the lease.

use miroir_cluster::{bus, config, shutdown};
use miroir_health_checker::Config;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config: Config = config::load(
        "MIROIR_HEALTH_CHECKER_",
        std::env::args().skip(1),
        std::env::vars(),
    )?;
    config.validate()?;
    config::init_telemetry(config.metrics_addr)?;
    let nats = bus::connect(&config.nats_url, "miroir-health-checker").await?;
    let shutdown = shutdown::on_signal("health-checker");
    miroir_health_checker::run(config, nats, shutdown).await
}
