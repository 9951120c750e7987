//! `miroir-merger`: parses its flags, loads the configuration (file < `MIROIR_MERGER_*`
//! environment < flags), validates it, starts telemetry, joins NATS and serves the read path
//! until SIGTERM or Ctrl-C, then drains.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use miroir_cluster::{bus, config, runtime, shutdown, telemetry};
use miroir_merger::Config;

/// mimalloc rather than glibc's malloc: a search allocates and frees many small buffers (shard
/// answers, their parsed members, the merged answer) across tasks, and glibc spent about 12% of
/// the merger's CPU on it in the cluster bench's profile.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Miroir's read path: scatter a search to one live copy of every shard, gather, merge exactly.
///
/// Every flag is also a key of the config file and a MIROIR_MERGER_<KEY> environment variable:
/// a flag wins over the environment, which wins over the file. Unknown keys are refused.
#[derive(Parser, serde::Serialize)]
#[command(name = "miroir-merger", version)]
struct Flags {
    /// A TOML file with any of the keys below (see services/merger/config.example.toml).
    #[arg(long, env = "MIROIR_MERGER_CONFIG", value_name = "PATH")]
    #[serde(skip)]
    config: Option<PathBuf>,
    /// NATS server(s), comma-separated [default: nats://127.0.0.1:4222]
    #[arg(long, env = "MIROIR_MERGER_NATS_URL", value_name = "URL")]
    nats_url: Option<String>,
    /// The Meilisearch nodes' master key (never shown to a client)
    #[arg(
        long,
        env = "MIROIR_MERGER_NODE_API_KEY",
        value_name = "KEY",
        hide_env_values = true
    )]
    node_api_key: Option<String>,
    /// Longest wait for one HTTP request to one node, in milliseconds [default: 5000]
    #[arg(long, env = "MIROIR_MERGER_NODE_TIMEOUT_MS", value_name = "MS")]
    node_timeout_ms: Option<u64>,
    /// Longest wait before a second copy is asked (a hedge), in milliseconds; 0 disables
    /// hedging [default: 50]
    #[arg(long, env = "MIROIR_MERGER_HEDGE_AFTER_MS", value_name = "MS")]
    hedge_after_ms: Option<u64>,
    /// Shortest wait before a hedge, in milliseconds [default: 10]
    #[arg(long, env = "MIROIR_MERGER_HEDGE_MIN_MS", value_name = "MS")]
    hedge_min_ms: Option<u64>,
    /// At most this share (percent) of shard reads may add a hedge [default: 10]
    #[arg(
        long,
        env = "MIROIR_MERGER_HEDGE_BUDGET_PERCENT",
        value_name = "PERCENT"
    )]
    hedge_budget_percent: Option<u32>,
    /// How long an index's merge-relevant settings are reused, in milliseconds [default: 1000]
    #[arg(long, env = "MIROIR_MERGER_SETTINGS_TTL_MS", value_name = "MS")]
    settings_ttl_ms: Option<u64>,
    /// Where Prometheus scrapes `/metrics` [default: none]
    #[arg(long, env = "MIROIR_MERGER_METRICS_ADDR", value_name = "ADDR")]
    metrics_addr: Option<SocketAddr>,
    /// How log lines are written: text or json (one object a line) [default: text]
    #[arg(long, env = "MIROIR_MERGER_LOG_FORMAT", value_name = "FORMAT", value_parser = ["text", "json"])]
    log_format: Option<String>,
    /// On shutdown, how long requests in flight get to finish, in milliseconds [default: 10000]
    #[arg(long, env = "MIROIR_MERGER_SHUTDOWN_GRACE_MS", value_name = "MS")]
    shutdown_grace_ms: Option<u64>,
    /// The deadline of a request that carries none, in milliseconds [default: 5000]
    #[arg(long, env = "MIROIR_MERGER_DEFAULT_DEADLINE_MS", value_name = "MS")]
    default_deadline_ms: Option<u64>,
    /// Threads running the merger's tasks; 0 is one per core [default: 1]
    #[arg(long, env = "MIROIR_MERGER_WORKER_THREADS", value_name = "N")]
    worker_threads: Option<usize>,
}

fn main() -> anyhow::Result<()> {
    let flags = Flags::parse();
    let config: Config =
        config::load_with_flags("MIROIR_MERGER_", flags.config.as_deref(), &flags)?;
    config.validate()?;
    let runtime = runtime::build("miroir-merger", config.worker_threads)?;
    runtime.block_on(async {
        telemetry::init(config.log_format, config.metrics_addr)?;
        let nats = bus::connect(&config.nats_url, "miroir-merger").await?;
        miroir_merger::run(config, nats, shutdown::on_signal("merger")).await
    })
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
