//! `miroir-router`: parses its flags, loads the configuration (file < `MIROIR_ROUTER_*`
//! environment < flags), validates it, connects to NATS and serves until SIGTERM or Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use miroir_cluster::{bus, config, shutdown, telemetry};
use miroir_router::{Config, run};

/// Miroir's write path: primary key -> shard -> replicas, batches split per shard, index and
/// settings changes broadcast, cluster tasks.
///
/// Every flag is also a key of the config file and a MIROIR_ROUTER_<KEY> environment variable:
/// a flag wins over the environment, which wins over the file. Unknown keys are refused.
#[derive(Parser, serde::Serialize)]
#[command(name = "miroir-router", version)]
struct Flags {
    /// A TOML file with any of the keys below (see services/router/config.example.toml).
    #[arg(long, env = "MIROIR_ROUTER_CONFIG", value_name = "PATH")]
    #[serde(skip)]
    config: Option<PathBuf>,
    /// NATS server(s) to connect to; JetStream must be enabled [default: nats://127.0.0.1:4222]
    #[arg(long, env = "MIROIR_ROUTER_NATS_URL", value_name = "URL")]
    nats_url: Option<String>,
    /// Master key of the Meilisearch nodes (never shown to clients)
    #[arg(
        long,
        env = "MIROIR_ROUTER_NODE_API_KEY",
        value_name = "KEY",
        hide_env_values = true
    )]
    node_api_key: Option<String>,
    /// Timeout of one HTTP call to a node, in milliseconds [default: 30000]
    #[arg(long, env = "MIROIR_ROUTER_NODE_TIMEOUT_MS", value_name = "MS")]
    node_timeout_ms: Option<u64>,
    /// Where Prometheus scrapes the metrics, e.g. 127.0.0.1:9101 [default: none]
    #[arg(long, env = "MIROIR_ROUTER_METRICS_ADDR", value_name = "ADDR")]
    metrics_addr: Option<SocketAddr>,
    /// How log lines are written: text or json (one object a line) [default: text]
    #[arg(long, env = "MIROIR_ROUTER_LOG_FORMAT", value_name = "FORMAT", value_parser = ["text", "json"])]
    log_format: Option<String>,
    /// Nodes registered on a fresh cluster (only while the topology has no node): `id=url[@zone]`,
    /// comma-separated or as a list, `["n1=http://a:7700@z1","n2=http://b:7700@z2"]`
    #[arg(long, env = "MIROIR_ROUTER_BOOTSTRAP_NODES", value_name = "NODES", value_parser = node_list)]
    bootstrap_nodes: Option<NodeList>,
    /// Shards of a new index, written to the `cluster` KV key on a fresh cluster only
    #[arg(long, env = "MIROIR_ROUTER_DEFAULT_SHARDS", value_name = "N")]
    default_shards: Option<u16>,
    /// Copies of each shard, written to the `cluster` KV key on a fresh cluster only
    #[arg(
        long,
        env = "MIROIR_ROUTER_DEFAULT_REPLICATION_FACTOR",
        value_name = "N"
    )]
    default_replication_factor: Option<u8>,
    /// Documents go to a shard's nodes in requests of about this many bytes, a batch's first ones
    /// smaller (1/16, 1/8, 1/4, 1/2 of it) [default: 4194304]
    #[arg(long, env = "MIROIR_ROUTER_SHARD_FLUSH_BYTES", value_name = "BYTES")]
    shard_flush_bytes: Option<usize>,
    /// How often copies of a shard are compared for settings that drifted apart, in
    /// milliseconds; 0: only when triggered [default: 30000]
    #[arg(
        long,
        env = "MIROIR_ROUTER_SETTINGS_DRIFT_INTERVAL_MS",
        value_name = "MS"
    )]
    settings_drift_interval_ms: Option<u64>,
    /// How often tasks nobody looked at are asked to their nodes, in milliseconds [default: 2000]
    #[arg(long, env = "MIROIR_ROUTER_TASK_SETTLE_INTERVAL_MS", value_name = "MS")]
    task_settle_interval_ms: Option<u64>,
    /// Copies of each shard that must take a write for its task to succeed [default: 1 below
    /// RF 3, a majority from RF 3]
    #[arg(long, env = "MIROIR_ROUTER_WRITE_QUORUM", value_name = "N")]
    write_quorum: Option<u8>,
    /// On shutdown, how long requests in flight may take to finish, in milliseconds
    /// [default: 30000]
    #[arg(long, env = "MIROIR_ROUTER_SHUTDOWN_GRACE_MS", value_name = "MS")]
    shutdown_grace_ms: Option<u64>,
    /// Where `POST /dumps` writes cluster dumps [default: dumps/]
    #[arg(long, env = "MIROIR_ROUTER_DUMP_DIR", value_name = "DIR")]
    dump_dir: Option<std::path::PathBuf>,
}

/// The value of `--bootstrap-nodes`.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(transparent)]
struct NodeList(Vec<String>);

/// `["a", "b"]` (as in the config file) or `a,b`.
fn node_list(raw: &str) -> Result<NodeList, String> {
    if raw.trim_start().starts_with('[') {
        return serde_json::from_str(raw)
            .map(NodeList)
            .map_err(|e| format!("not a list of strings: {e}"));
    }
    Ok(NodeList(
        raw.split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(String::from)
            .collect(),
    ))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let flags = Flags::parse();
    let config: Config =
        config::load_with_flags("MIROIR_ROUTER_", flags.config.as_deref(), &flags)?;
    config.validate()?;
    telemetry::init(config.log_format, config.metrics_addr)?;
    let nats = bus::connect(&config.nats_url, "miroir-router").await?;
    run(config, nats, shutdown::on_signal("router")).await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn flags_are_consistent() {
        use clap::CommandFactory;
        Flags::command().debug_assert();
    }

    #[test]
    fn bootstrap_nodes_as_a_list_or_comma_separated() {
        let both = NodeList(vec![
            "n1=http://a:7700@z1".into(),
            "n2=http://b:7700".into(),
        ]);
        assert_eq!(
            node_list(r#"["n1=http://a:7700@z1", "n2=http://b:7700"]"#),
            Ok(both.clone())
        );
        assert_eq!(
            node_list("n1=http://a:7700@z1, n2=http://b:7700"),
            Ok(both.clone())
        );
        assert!(node_list("[n1=http://a:7700]").is_err());
        let flags = Flags::try_parse_from([
            "miroir-router",
            "--bootstrap-nodes",
            "n1=http://a:7700@z1,n2=http://b:7700",
        ])
        .map_err(|e| e.to_string());
        let config: Config =
            config::load_with_flags("T_ROUTER_FLAGS_", None, &flags.unwrap()).unwrap();
        assert_eq!(config.bootstrap_nodes, both.0);
    }
}
