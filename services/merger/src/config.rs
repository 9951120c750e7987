//! The merger's configuration: file < `MIROIR_*` environment < `--flags` (see
//! `miroir_cluster::config::load`), unknown keys refused. `config.example.toml` documents every
//! field with its default.

use std::net::SocketAddr;
use std::time::Duration;

use miroir_cluster::config::ConfigError;
use serde::Deserialize;

use crate::fetch::HedgePolicy;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case", default)]
pub struct Config {
    /// NATS server(s), comma-separated.
    pub nats_url: String,
    /// The Meilisearch nodes' master key. Sent to nodes only, never shown to a client.
    #[serde(default, deserialize_with = "miroir_cluster::config::optional_text")]
    pub node_api_key: Option<String>,
    /// Longest wait for one HTTP request to one node. A request's own deadline, when shorter,
    /// wins.
    pub node_timeout_ms: u64,
    /// The longest wait for a shard's copy before the same request also goes to the next copy
    /// (a hedge; the first answer wins), and the wait used for a copy not yet measured. A
    /// measured copy is hedged after its mean latency plus four deviations (more while hedges
    /// keep losing: [`crate::latency::Patience`]), within [`hedge_min_ms`, `hedge_after_ms`].
    /// 0 disables hedging.
    pub hedge_after_ms: u64,
    /// The shortest wait before a hedge, however fast and steady the copy.
    pub hedge_min_ms: u64,
    /// At most this share (percent) of shard reads may add a hedge, plus a small burst, and
    /// less while hedges keep losing (see `budget`); once spent, slow copies are waited for.
    /// Retries after a failure are not counted. 0 sends no hedge at all.
    pub hedge_budget_percent: u32,
    /// How long an index's merge-relevant settings (faceting, pagination, distinct attribute)
    /// read from a shard are reused before being read again.
    pub settings_ttl_ms: u64,
    /// Where Prometheus scrapes `/metrics`; none by default.
    pub metrics_addr: Option<SocketAddr>,
    /// How log lines are written: `text` (the default) or `json`, one object a line.
    #[serde(default)]
    pub log_format: miroir_cluster::telemetry::LogFormat,
    /// On shutdown, how long requests in flight get to finish.
    pub shutdown_grace_ms: u64,
    /// The deadline used when a request carries none (`deadline_ms: 0`).
    pub default_deadline_ms: u64,
    /// Threads running the merger's tasks; 0 is one per core. One is the default: a search is
    /// a chain of short steps, and spreading them over cores costs more in wake-ups than it
    /// gains (see `miroir_cluster::runtime`); scale out with replicas, one per core.
    pub worker_threads: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            nats_url: "nats://127.0.0.1:4222".into(),
            node_api_key: None,
            node_timeout_ms: 5_000,
            hedge_after_ms: 50,
            hedge_min_ms: 10,
            hedge_budget_percent: 10,
            settings_ttl_ms: 1_000,
            metrics_addr: None,
            log_format: Default::default(),
            shutdown_grace_ms: 10_000,
            default_deadline_ms: 5_000,
            worker_threads: 1,
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
        if self.node_timeout_ms == 0 {
            return invalid("`node_timeout_ms` must be positive");
        }
        if self.default_deadline_ms == 0 {
            return invalid("`default_deadline_ms` must be positive");
        }
        if self.hedge_after_ms > 0 && self.hedge_min_ms > self.hedge_after_ms {
            return invalid("`hedge_min_ms` must not exceed `hedge_after_ms`");
        }
        if self.hedge_budget_percent > 100 {
            return invalid("`hedge_budget_percent` is a percentage: at most 100");
        }
        if self.node_api_key.as_deref().is_some_and(str::is_empty) {
            return invalid("`node_api_key` is empty: leave it out for nodes without a master key");
        }
        Ok(())
    }

    pub fn node_timeout(&self) -> Duration {
        Duration::from_millis(self.node_timeout_ms)
    }

    /// `None` when hedging is off.
    pub fn hedging(&self) -> Option<HedgePolicy> {
        (self.hedge_after_ms > 0).then(|| HedgePolicy {
            min: Duration::from_millis(self.hedge_min_ms.min(self.hedge_after_ms)),
            max: Duration::from_millis(self.hedge_after_ms),
            budget_percent: self.hedge_budget_percent.min(100),
        })
    }

    pub fn settings_ttl(&self) -> Duration {
        Duration::from_millis(self.settings_ttl_ms)
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_millis(self.shutdown_grace_ms)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_example_config_is_the_default_and_valid() {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config.example.toml"))
                .unwrap();
        let file: Config = toml_from(&text);
        let default = Config::default();
        assert_eq!(format!("{file:?}"), format!("{default:?}"));
        file.validate().unwrap();
    }

    #[test]
    fn bad_values_are_refused() {
        let c = Config {
            node_timeout_ms: 0,
            ..Config::default()
        };
        assert!(c.validate().is_err());
        let c = Config {
            node_api_key: Some(String::new()),
            ..Config::default()
        };
        assert!(c.validate().is_err());
        let e = miroir_cluster::config::load::<Config>(
            "T_",
            vec!["--hedge-afterms".into(), "1".into()],
            vec![],
        );
        assert!(e.is_err());
        let c = miroir_cluster::config::load::<Config>(
            "T_",
            vec!["--hedge-after-ms".into(), "0".into()],
            vec![],
        )
        .unwrap();
        assert!(c.hedging().is_none());
        for bad in [
            Config {
                hedge_min_ms: 60,
                ..Config::default()
            },
            Config {
                hedge_budget_percent: 101,
                ..Config::default()
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
        let on = Config::default().hedging().unwrap();
        assert_eq!(
            (on.min, on.max, on.budget_percent),
            (Duration::from_millis(10), Duration::from_millis(50), 10)
        );
    }

    fn toml_from(text: &str) -> Config {
        let dir = std::env::temp_dir().join(format!("miroir-merger-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("merger.toml");
        std::fs::write(&path, text).unwrap();
        let c = miroir_cluster::config::load::<Config>(
            "T_NONE_",
            vec!["--config".into(), path.display().to_string()],
            vec![],
        );
        let _ = std::fs::remove_dir_all(&dir);
        c.unwrap()
    }
}
