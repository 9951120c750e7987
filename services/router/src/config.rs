//! The router's configuration: file < `MIROIR_ROUTER_*` environment < flags (see
//! `miroir_cluster::config`), unknown keys refused, validated before any port is bound.
//! `services/router/config.example.toml` documents every key.

use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// NATS server(s) to connect to.
    #[serde(default = "default_nats_url")]
    pub nats_url: String,
    /// Master key of the Meilisearch nodes (never shown to clients).
    #[serde(default, deserialize_with = "miroir_cluster::config::optional_text")]
    pub node_api_key: Option<String>,
    /// Timeout of one HTTP call to a node.
    #[serde(default = "default_node_timeout_ms")]
    pub node_timeout_ms: u64,
    /// Prometheus endpoint, e.g. `127.0.0.1:9101`.
    #[serde(default)]
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// How log lines are written: `text` (the default) or `json`, one object a line.
    #[serde(default)]
    pub log_format: miroir_cluster::telemetry::LogFormat,
    /// Nodes to register on a fresh cluster (`id=url` or `id=url@zone`); ignored when the topology
    /// already has nodes.
    #[serde(default)]
    pub bootstrap_nodes: Vec<String>,
    /// Shards of a new index, unless the `cluster` KV key says otherwise.
    #[serde(default)]
    pub default_shards: Option<u16>,
    /// Copies of each shard, unless the `cluster` KV key says otherwise.
    #[serde(default)]
    pub default_replication_factor: Option<u8>,
    /// Documents are sent to a shard's nodes in requests of about this size (a batch's first
    /// parts for a shard smaller: 1/16 of it, then 1/8, 1/4, 1/2, so that nodes start early).
    #[serde(default = "default_flush_bytes")]
    pub shard_flush_bytes: usize,
    /// How often every copy of every shard is checked for settings that drifted apart
    /// (`0` disables the periodic check; a failed settings task and a node coming back up still
    /// trigger one).
    #[serde(default = "default_drift_interval_ms")]
    pub settings_drift_interval_ms: u64,
    /// How often tasks that nobody looked at since they were enqueued are asked to their nodes,
    /// so that their final state is cached and task listings need no node round-trip.
    #[serde(default = "default_settle_interval_ms")]
    pub task_settle_interval_ms: u64,
    /// How many copies of each shard must take a write for its task to succeed; the others get
    /// it later through their handoff queue. Unset: 1 below RF 3, a majority from RF 3. Capped
    /// at the shard's number of copies.
    #[serde(default)]
    pub write_quorum: Option<u8>,
    /// A write deferred to a copy that has just left the read set (its node failed the write,
    /// or went down) is acknowledged only once the copy has been out for this long, in
    /// milliseconds: every merger must have seen the copy leave before a client can expect the
    /// write in an answer. Above the time a topology change takes to reach every service.
    #[serde(default = "default_lag_settle_ms")]
    pub lag_settle_ms: u64,
    /// On shutdown, how long requests in flight may take to finish, in milliseconds.
    #[serde(default = "default_shutdown_grace_ms")]
    pub shutdown_grace_ms: u64,
    /// Where `POST /dumps` writes cluster dumps (`<dumpUid>.dump`), as Meilisearch's `--dump-dir`.
    #[serde(default = "default_dump_dir")]
    pub dump_dir: std::path::PathBuf,
}

fn default_nats_url() -> String {
    "nats://127.0.0.1:4222".into()
}
fn default_node_timeout_ms() -> u64 {
    30_000
}
fn default_flush_bytes() -> usize {
    4 * 1024 * 1024
}
fn default_drift_interval_ms() -> u64 {
    30_000
}
fn default_settle_interval_ms() -> u64 {
    2_000
}
fn default_lag_settle_ms() -> u64 {
    1_000
}
fn default_shutdown_grace_ms() -> u64 {
    30_000
}
fn default_dump_dir() -> std::path::PathBuf {
    "dumps/".into()
}

impl Default for Config {
    fn default() -> Self {
        Config {
            nats_url: default_nats_url(),
            node_api_key: None,
            node_timeout_ms: default_node_timeout_ms(),
            metrics_addr: None,
            log_format: Default::default(),
            bootstrap_nodes: Vec::new(),
            default_shards: None,
            default_replication_factor: None,
            shard_flush_bytes: default_flush_bytes(),
            settings_drift_interval_ms: default_drift_interval_ms(),
            task_settle_interval_ms: default_settle_interval_ms(),
            write_quorum: None,
            lag_settle_ms: default_lag_settle_ms(),
            shutdown_grace_ms: default_shutdown_grace_ms(),
            dump_dir: default_dump_dir(),
        }
    }
}

impl Config {
    pub fn validate(&self) -> anyhow::Result<()> {
        if let Some(s) = self.default_shards {
            anyhow::ensure!(
                (1..=1024).contains(&s),
                "default_shards must be in 1..=1024, got {s}"
            );
        }
        if let Some(rf) = self.default_replication_factor {
            anyhow::ensure!(rf >= 1, "default_replication_factor must be at least 1");
        }
        anyhow::ensure!(self.node_timeout_ms > 0, "node_timeout_ms must be positive");
        anyhow::ensure!(
            self.task_settle_interval_ms > 0,
            "task_settle_interval_ms must be positive"
        );
        anyhow::ensure!(
            self.write_quorum != Some(0),
            "write_quorum must be at least 1"
        );
        for n in &self.bootstrap_nodes {
            parse_bootstrap_node(n)?;
        }
        Ok(())
    }
}

/// `id=url` or `id=url@zone`.
pub fn parse_bootstrap_node(spec: &str) -> anyhow::Result<miroir_proto::topology::NodeRecord> {
    let (id, rest) = spec
        .split_once('=')
        .ok_or_else(|| anyhow::anyhow!("bootstrap node `{spec}` is not `id=url[@zone]`"))?;
    miroir_placement::NodeId::new(id)
        .map_err(|e| anyhow::anyhow!("bootstrap node `{spec}`: {e}"))?;
    let (url, zone) = match rest.rsplit_once('@') {
        Some((u, z)) => (u, Some(z.to_string())),
        None => (rest, None),
    };
    anyhow::ensure!(
        url.starts_with("http://") || url.starts_with("https://"),
        "bootstrap node `{spec}`: url must be http(s)"
    );
    Ok(miroir_proto::topology::NodeRecord {
        id: id.to_string(),
        url: url.to_string(),
        zone,
        state: Default::default(),
        health: Default::default(),
        health_since: None,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_example_loads_and_unknown_keys_are_refused() {
        let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml");
        let c: Config = miroir_cluster::config::load(
            "T_NONE_",
            vec!["--config".into(), example.display().to_string()],
            vec![],
        )
        .unwrap();
        c.validate().unwrap();
        assert_eq!(
            (c.shutdown_grace_ms, c.shard_flush_bytes),
            (30_000, 4 * 1024 * 1024)
        );
        let c: Config = miroir_cluster::config::load(
            "T_",
            vec!["--shutdown-grace-ms".into(), "500".into()],
            vec![
                ("T_NODE_API_KEY".into(), "0123".into()),
                (
                    "T_BOOTSTRAP_NODES".into(),
                    "[\"n1=http://a:7700@z1\"]".into(),
                ),
            ],
        )
        .unwrap();
        assert_eq!(c.shutdown_grace_ms, 500);
        assert_eq!(c.node_api_key.as_deref(), Some("0123"));
        assert_eq!(c.bootstrap_nodes, vec!["n1=http://a:7700@z1".to_string()]);
        assert!(
            miroir_cluster::config::load::<Config>(
                "T_",
                vec!["--shutdown-grace".into(), "1".into()],
                vec![]
            )
            .is_err()
        );
        assert!(
            Config {
                write_quorum: Some(0),
                ..Config::default()
            }
            .validate()
            .is_err()
        );
    }
}
