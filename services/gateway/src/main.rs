//! `miroir-gateway`: parses its flags, loads the configuration (file < `MIROIR_GATEWAY_*`
//! environment < flags), validates it, sets up logs and metrics, connects to NATS, binds the
//! HTTP port and serves until SIGTERM or Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use miroir_cluster::{bus, config, runtime, shutdown, telemetry};
use miroir_gateway::Config;

// The system allocator, not mimalloc as in the merger: tried on the cluster bench, mimalloc took
// the gateway's RSS from 13 to 22 MB under search load and from 14 to 38 MB through a 1 MB
// upload, for no CPU gain beyond the bench's noise. Tried again after its layers were folded
// (December 2026, four alternated runs): the same CPU per search, RSS 14 to 19 MB under search
// load and 31 MB through the bench's upload.

/// Miroir's client-facing Meilisearch HTTP API: auth, validation, Meilisearch-shaped errors,
/// streamed document uploads; writes go to the router and reads to the merger over NATS.
///
/// Every flag is also a key of the config file and a MIROIR_GATEWAY_<KEY> environment variable:
/// a flag wins over the environment, which wins over the file. Unknown keys are refused.
#[derive(Parser, serde::Serialize)]
#[command(name = "miroir-gateway", version)]
struct Flags {
    /// A TOML file with any of the keys below (see services/gateway/config.example.toml).
    #[arg(long, env = "MIROIR_GATEWAY_CONFIG", value_name = "PATH")]
    #[serde(skip)]
    config: Option<PathBuf>,
    /// Where the Meilisearch-compatible HTTP API listens [default: 0.0.0.0:7700]
    #[arg(long, env = "MIROIR_GATEWAY_HTTP_ADDR", value_name = "ADDR")]
    http_addr: Option<SocketAddr>,
    /// The NATS server (or cluster seed) the services share [default: nats://127.0.0.1:4222]
    #[arg(long, env = "MIROIR_GATEWAY_NATS_URL", value_name = "URL")]
    nats_url: Option<String>,
    /// Meilisearch's master key; unset: the API is open [default: none]
    #[arg(
        long,
        env = "MIROIR_GATEWAY_MASTER_KEY",
        value_name = "KEY",
        hide_env_values = true
    )]
    master_key: Option<String>,
    /// Largest request body accepted, in bytes [default: 100000000]
    #[arg(long, env = "MIROIR_GATEWAY_MAX_PAYLOAD_BYTES", value_name = "BYTES")]
    max_payload_bytes: Option<u64>,
    /// Most document uploads one API key may have in flight at once [default: 8]
    #[arg(
        long,
        env = "MIROIR_GATEWAY_MAX_CONCURRENT_UPLOADS_PER_KEY",
        value_name = "N"
    )]
    max_concurrent_uploads_per_key: Option<usize>,
    /// How long a client may take to send a request's headers (and an idle keep-alive
    /// connection may stay open), in milliseconds [default: 30000]
    #[arg(long, env = "MIROIR_GATEWAY_HEADER_TIMEOUT_MS", value_name = "MS")]
    header_timeout_ms: Option<u64>,
    /// How long a request body may go without a byte, in milliseconds [default: 30000]
    #[arg(long, env = "MIROIR_GATEWAY_BODY_IDLE_TIMEOUT_MS", value_name = "MS")]
    body_idle_timeout_ms: Option<u64>,
    /// How long the gateway may wait for a request body in all, in milliseconds [default: 300000]
    #[arg(long, env = "MIROIR_GATEWAY_BODY_TIMEOUT_MS", value_name = "MS")]
    body_timeout_ms: Option<u64>,
    /// How long a search may take before the client gets a 504, in milliseconds [default: 10000]
    #[arg(long, env = "MIROIR_GATEWAY_SEARCH_TIMEOUT_MS", value_name = "MS")]
    search_timeout_ms: Option<u64>,
    /// How long other reads may take, in milliseconds [default: 10000]
    #[arg(long, env = "MIROIR_GATEWAY_READ_TIMEOUT_MS", value_name = "MS")]
    read_timeout_ms: Option<u64>,
    /// How long the router may take to acknowledge a write, in milliseconds [default: 60000]
    #[arg(long, env = "MIROIR_GATEWAY_WRITE_TIMEOUT_MS", value_name = "MS")]
    write_timeout_ms: Option<u64>,
    /// On shutdown, how long requests in flight may take to finish, in milliseconds
    /// [default: 30000]
    #[arg(long, env = "MIROIR_GATEWAY_SHUTDOWN_GRACE_MS", value_name = "MS")]
    shutdown_grace_ms: Option<u64>,
    /// Where Prometheus scrapes the metrics (`/metrics`) [default: none]
    #[arg(long, env = "MIROIR_GATEWAY_METRICS_ADDR", value_name = "ADDR")]
    metrics_addr: Option<SocketAddr>,
    /// How log lines are written: text or json (one object a line) [default: text]
    #[arg(long, env = "MIROIR_GATEWAY_LOG_FORMAT", value_name = "FORMAT", value_parser = ["text", "json"])]
    log_format: Option<String>,
    /// Threads running the gateway's tasks; 0 is one per core [default: 1]
    #[arg(long, env = "MIROIR_GATEWAY_WORKER_THREADS", value_name = "N")]
    worker_threads: Option<usize>,
}

fn main() -> anyhow::Result<()> {
    let flags = Flags::parse();
    let config: Config =
        config::load_with_flags("MIROIR_GATEWAY_", flags.config.as_deref(), &flags)?;
    config.validate()?;
    let runtime = runtime::build("miroir-gateway", config.worker_threads)?;
    runtime.block_on(async {
        telemetry::init(config.log_format, config.metrics_addr)?;
        let nats = bus::connect(&config.nats_url, "miroir-gateway").await?;
        let listener = tokio::net::TcpListener::bind(config.http_addr)
            .await
            .with_context(|| format!("cannot listen on {}", config.http_addr))?;
        miroir_gateway::run(config, nats, listener, shutdown::on_signal("gateway")).await
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
