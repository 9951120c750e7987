//! `miroir-health-checker`: parses its flags, loads the configuration (file <
//! `MIROIR_HEALTH_CHECKER_*` environment < flags), validates it, starts telemetry, joins NATS,
//! probes nodes (while this replica holds the lease) until SIGTERM or Ctrl-C, then releases the
//! lease.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use miroir_cluster::{bus, config, shutdown, telemetry};
use miroir_health_checker::Config;

/// Miroir's health-checker: probes every node, marks it up / suspect / down in KV, and replays
/// the writes a copy missed (hinted handoff) once its node is back.
///
/// Every flag is also a key of the config file and a MIROIR_HEALTH_CHECKER_<KEY> environment
/// variable: a flag wins over the environment, which wins over the file. Unknown keys are
/// refused.
#[derive(Parser, serde::Serialize)]
#[command(name = "miroir-health-checker", version)]
struct Flags {
    /// A TOML file with any of the keys below (see services/health-checker/config.example.toml).
    #[arg(long, env = "MIROIR_HEALTH_CHECKER_CONFIG", value_name = "PATH")]
    #[serde(skip)]
    config: Option<PathBuf>,
    /// NATS server(s), comma-separated [default: nats://127.0.0.1:4222]
    #[arg(long, env = "MIROIR_HEALTH_CHECKER_NATS_URL", value_name = "URL")]
    nats_url: Option<String>,
    /// The Meilisearch nodes' master key, sent with the authenticated probe
    #[arg(
        long,
        env = "MIROIR_HEALTH_CHECKER_NODE_API_KEY",
        value_name = "KEY",
        hide_env_values = true
    )]
    node_api_key: Option<String>,
    /// Time between two probes of a node, in milliseconds [default: 1000]
    #[arg(
        long,
        env = "MIROIR_HEALTH_CHECKER_PROBE_INTERVAL_MS",
        value_name = "MS"
    )]
    probe_interval_ms: Option<u64>,
    /// Up to this much is added at random to each interval, in milliseconds [default: 200]
    #[arg(long, env = "MIROIR_HEALTH_CHECKER_PROBE_JITTER_MS", value_name = "MS")]
    probe_jitter_ms: Option<u64>,
    /// Longest wait for one probe, in milliseconds [default: 1000]
    #[arg(
        long,
        env = "MIROIR_HEALTH_CHECKER_PROBE_TIMEOUT_MS",
        value_name = "MS"
    )]
    probe_timeout_ms: Option<u64>,
    /// Failed probes in a row that make an `up` node `suspect` [default: 2]
    #[arg(long, env = "MIROIR_HEALTH_CHECKER_SUSPECT_AFTER", value_name = "N")]
    suspect_after: Option<u32>,
    /// Further failed probes in a row that make a `suspect` node `down` [default: 2]
    #[arg(long, env = "MIROIR_HEALTH_CHECKER_DOWN_AFTER", value_name = "N")]
    down_after: Option<u32>,
    /// Further probes in a row that connected and timed out, none failing hard, that make a
    /// `suspect` node `down` (an overloaded node) [default: 30]
    #[arg(long, env = "MIROIR_HEALTH_CHECKER_DOWN_AFTER_SLOW", value_name = "N")]
    down_after_slow: Option<u32>,
    /// Successful probes in a row that make a node `up` again [default: 2]
    #[arg(long, env = "MIROIR_HEALTH_CHECKER_UP_AFTER", value_name = "N")]
    up_after: Option<u32>,
    /// TTL of the lease of the active replica, in milliseconds (whole seconds) [default: 5000]
    #[arg(long, env = "MIROIR_HEALTH_CHECKER_LEASE_TTL_MS", value_name = "MS")]
    lease_ttl_ms: Option<u64>,
    /// A handoff queue holding more hints goes to re-replication [default: 100000]
    #[arg(
        long,
        env = "MIROIR_HEALTH_CHECKER_HANDOFF_MAX_HINTS",
        value_name = "N"
    )]
    handoff_max_hints: Option<u64>,
    /// A handoff queue whose oldest hint is older goes to re-replication, in milliseconds
    /// [default: 3600000]
    #[arg(
        long,
        env = "MIROIR_HEALTH_CHECKER_HANDOFF_MAX_AGE_MS",
        value_name = "MS"
    )]
    handoff_max_age_ms: Option<u64>,
    /// How often the replayer looks for handoff work, in milliseconds [default: 500]
    #[arg(
        long,
        env = "MIROIR_HEALTH_CHECKER_REPAIR_INTERVAL_MS",
        value_name = "MS"
    )]
    repair_interval_ms: Option<u64>,
    /// Where Prometheus scrapes `/metrics` [default: none]
    #[arg(long, env = "MIROIR_HEALTH_CHECKER_METRICS_ADDR", value_name = "ADDR")]
    metrics_addr: Option<SocketAddr>,
    /// How log lines are written: text or json (one object a line) [default: text]
    #[arg(long, env = "MIROIR_HEALTH_CHECKER_LOG_FORMAT", value_name = "FORMAT", value_parser = ["text", "json"])]
    log_format: Option<String>,
    /// On shutdown, how long the lease release and the replayer get, in milliseconds
    /// [default: 5000]
    #[arg(
        long,
        env = "MIROIR_HEALTH_CHECKER_SHUTDOWN_GRACE_MS",
        value_name = "MS"
    )]
    shutdown_grace_ms: Option<u64>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let flags = Flags::parse();
    let config: Config =
        config::load_with_flags("MIROIR_HEALTH_CHECKER_", flags.config.as_deref(), &flags)?;
    config.validate()?;
    telemetry::init(config.log_format, config.metrics_addr)?;
    let nats = bus::connect(&config.nats_url, "miroir-health-checker").await?;
    miroir_health_checker::run(config, nats, shutdown::on_signal("health-checker")).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_consistent() {
        use clap::CommandFactory;
        Flags::command().debug_assert();
    }
}
