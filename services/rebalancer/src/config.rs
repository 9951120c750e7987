//! The rebalancer's configuration: file < `MIROIR_REBALANCER_*` environment < `--flags`, unknown
//! keys refused. `config.example.toml` documents every key with its default.

use std::net::SocketAddr;
use std::time::Duration;

use miroir_cluster::config::ConfigError;
use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case", default)]
pub struct Config {
    /// NATS server(s), comma-separated.
    pub nats_url: String,
    /// The Meilisearch nodes' master key (copies are read and written with it).
    #[serde(default, deserialize_with = "miroir_cluster::config::optional_text")]
    pub node_api_key: Option<String>,
    /// Longest wait for one HTTP request to a node.
    pub node_timeout_ms: u64,
    /// A node down (health) for longer than this has its copies re-created elsewhere; shorter
    /// outages are caught up by hinted handoff. Elasticsearch waits 1 min; 5 min by default.
    pub reallocate_after_ms: u64,
    /// How often the plan is computed again when nothing changed.
    pub interval_ms: u64,
    /// Copies built at the same time in the whole cluster.
    pub max_moves: usize,
    /// Copies built at the same time onto one node.
    pub max_moves_per_node: usize,
    /// Documents per page read from the source copy.
    pub copy_page_size: usize,
    /// Upper bound of documents copied per second per copy (0: no bound).
    pub copy_docs_per_sec: u64,
    /// After a copy is dropped from the placement, how long its shard index stays on the node
    /// (searches in flight may still read it) before it is deleted.
    pub drop_grace_ms: u64,
    /// How long a new copy is placed (marked `lost`) before its documents are read from the
    /// source: at least how far a router's view of the topology may lag (the router's
    /// `lag_settle_ms`, 1 s by default), see `build`.
    pub view_settle_ms: u64,
    /// TTL of the lease that makes one replica the active one (whole seconds).
    pub lease_ttl_ms: u64,
    /// Where Prometheus scrapes `/metrics`; none by default.
    pub metrics_addr: Option<SocketAddr>,
    /// How log lines are written: `text` (the default) or `json`, one object a line.
    #[serde(default)]
    pub log_format: miroir_cluster::telemetry::LogFormat,
    /// On shutdown, how long the lease release gets.
    pub shutdown_grace_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            nats_url: "nats://127.0.0.1:4222".into(),
            node_api_key: None,
            node_timeout_ms: 30_000,
            reallocate_after_ms: 300_000,
            interval_ms: 1_000,
            max_moves: 4,
            max_moves_per_node: 2,
            copy_page_size: 1_000,
            copy_docs_per_sec: 0,
            drop_grace_ms: 5_000,
            view_settle_ms: 1_000,
            lease_ttl_ms: 5_000,
            metrics_addr: None,
            log_format: Default::default(),
            shutdown_grace_ms: 5_000,
        }
    }
}

impl Config {
    /// Refuse values that cannot work, before anything connects.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: &str| Err(ConfigError::Invalid(m.to_string()));
        if self.nats_url.trim().is_empty() {
            return invalid("`nats_url` is empty");
        }
        for (name, v) in [
            ("node_timeout_ms", self.node_timeout_ms),
            ("interval_ms", self.interval_ms),
            ("lease_ttl_ms", self.lease_ttl_ms),
        ] {
            if v == 0 {
                return invalid(&format!("`{name}` must be positive"));
            }
        }
        if self.max_moves == 0 || self.max_moves_per_node == 0 {
            return invalid("`max_moves` and `max_moves_per_node` must be at least 1");
        }
        if !(1..=10_000).contains(&self.copy_page_size) {
            return invalid("`copy_page_size` must be in 1..=10000");
        }
        if self.lease_ttl_ms < 1_000 || !self.lease_ttl_ms.is_multiple_of(1_000) {
            return invalid("`lease_ttl_ms` must be whole seconds, at least 1000");
        }
        Ok(())
    }

    pub fn reallocate_after(&self) -> Duration {
        Duration::from_millis(self.reallocate_after_ms)
    }

    pub fn view_settle(&self) -> Duration {
        Duration::from_millis(self.view_settle_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_nonsense_is_refused() {
        assert!(Config::default().validate().is_ok());
        assert!(
            Config {
                max_moves: 0,
                ..Default::default()
            }
            .validate()
            .is_err()
        );
        assert!(
            Config {
                lease_ttl_ms: 1_500,
                ..Default::default()
            }
            .validate()
            .is_err()
        );
        assert!(
            Config {
                copy_page_size: 0,
                ..Default::default()
            }
            .validate()
            .is_err()
        );
        assert!(
            Config {
                nats_url: " ".into(),
                ..Default::default()
            }
            .validate()
            .is_err()
        );
    }
}
