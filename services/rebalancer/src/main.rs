//! `miroir-rebalancer`: parses its flags, loads the configuration (file <
//! `MIROIR_REBALANCER_*` environment < flags), validates it, starts telemetry, joins NATS, moves
//! shard copies (while this replica holds the lease) until SIGTERM or Ctrl-C, then releases the
//! lease.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use miroir_cluster::{bus, config, shutdown, telemetry};
use miroir_rebalancer::Config;

/// Miroir's rebalancer: keeps every index at its placement over the target nodes, building
/// copies live and dropping retired ones.
///
/// Every flag is also a key of the config file and a MIROIR_REBALANCER_<KEY> environment
/// variable: a flag wins over the environment, which wins over the file. Unknown keys are
/// refused.
#[derive(Parser, serde::Serialize)]
#[command(name = "miroir-rebalancer", version)]
struct Flags {
    /// A TOML file with any of the keys below.
    #[arg(long, env = "MIROIR_REBALANCER_CONFIG", value_name = "PATH")]
    #[serde(skip)]
    config: Option<PathBuf>,
    /// NATS server(s), comma-separated [default: nats://127.0.0.1:4222]
    #[arg(long, env = "MIROIR_REBALANCER_NATS_URL", value_name = "URL")]
    nats_url: Option<String>,
    /// The Meilisearch nodes' master key
    #[arg(
        long,
        env = "MIROIR_REBALANCER_NODE_API_KEY",
        value_name = "KEY",
        hide_env_values = true
    )]
    node_api_key: Option<String>,
    /// Longest wait for one HTTP request to a node, in milliseconds [default: 30000]
    #[arg(long, env = "MIROIR_REBALANCER_NODE_TIMEOUT_MS", value_name = "MS")]
    node_timeout_ms: Option<u64>,
    /// A node down longer than this has its copies re-created elsewhere, in milliseconds
    /// [default: 300000]
    #[arg(long, env = "MIROIR_REBALANCER_REALLOCATE_AFTER_MS", value_name = "MS")]
    reallocate_after_ms: Option<u64>,
    /// How often the plan is computed again when nothing changed, in milliseconds [default: 1000]
    #[arg(long, env = "MIROIR_REBALANCER_INTERVAL_MS", value_name = "MS")]
    interval_ms: Option<u64>,
    /// Copies built at the same time in the whole cluster [default: 4]
    #[arg(long, env = "MIROIR_REBALANCER_MAX_MOVES", value_name = "N")]
    max_moves: Option<usize>,
    /// Copies built at the same time onto one node [default: 2]
    #[arg(long, env = "MIROIR_REBALANCER_MAX_MOVES_PER_NODE", value_name = "N")]
    max_moves_per_node: Option<usize>,
    /// Documents per page read from the source copy [default: 1000]
    #[arg(long, env = "MIROIR_REBALANCER_COPY_PAGE_SIZE", value_name = "N")]
    copy_page_size: Option<usize>,
    /// Upper bound of documents copied per second per copy; 0: no bound [default: 0]
    #[arg(long, env = "MIROIR_REBALANCER_COPY_DOCS_PER_SEC", value_name = "N")]
    copy_docs_per_sec: Option<u64>,
    /// How long a dropped copy stays on its node before it is deleted, in milliseconds
    /// [default: 5000]
    #[arg(long, env = "MIROIR_REBALANCER_DROP_GRACE_MS", value_name = "MS")]
    drop_grace_ms: Option<u64>,
    /// How long a new copy is placed before its documents are read from the source, in
    /// milliseconds: at least the routers' `lag_settle_ms` [default: 1000]
    #[arg(long, env = "MIROIR_REBALANCER_VIEW_SETTLE_MS", value_name = "MS")]
    view_settle_ms: Option<u64>,
    /// TTL of the lease of the active replica, in milliseconds (whole seconds) [default: 5000]
    #[arg(long, env = "MIROIR_REBALANCER_LEASE_TTL_MS", value_name = "MS")]
    lease_ttl_ms: Option<u64>,
    /// Where Prometheus scrapes `/metrics` [default: none]
    #[arg(long, env = "MIROIR_REBALANCER_METRICS_ADDR", value_name = "ADDR")]
    metrics_addr: Option<SocketAddr>,
    /// How log lines are written: text or json (one object a line) [default: text]
    #[arg(long, env = "MIROIR_REBALANCER_LOG_FORMAT", value_name = "FORMAT", value_parser = ["text", "json"])]
    log_format: Option<String>,
    /// On shutdown, how long the lease release gets, in milliseconds [default: 5000]
    #[arg(long, env = "MIROIR_REBALANCER_SHUTDOWN_GRACE_MS", value_name = "MS")]
    shutdown_grace_ms: Option<u64>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let flags = Flags::parse();
    let config: Config =
        config::load_with_flags("MIROIR_REBALANCER_", flags.config.as_deref(), &flags)?;
    config.validate()?;
    telemetry::init(config.log_format, config.metrics_addr)?;
    let nats = bus::connect(&config.nats_url, "miroir-rebalancer").await?;
    miroir_rebalancer::run(config, nats, shutdown::on_signal("rebalancer")).await
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
