//! The health-checker's configuration: file < `MIROIR_HEALTH_CHECKER_*` environment < `--flags`
//! (see `miroir_cluster::config::load`), unknown keys refused. `config.example.toml` documents
//! every field with its default.

use std::net::SocketAddr;
use std::time::Duration;

use miroir_cluster::config::ConfigError;
use serde::Deserialize;

use crate::health::Thresholds;
use crate::repair::RepairConfig;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case", default)]
pub struct Config {
    /// NATS server(s), comma-separated.
    pub nats_url: String,
    /// The Meilisearch nodes' master key, sent with the authenticated probe (`GET /version`).
    #[serde(default, deserialize_with = "miroir_cluster::config::optional_text")]
    pub node_api_key: Option<String>,
    /// Time between two probes of a node.
    pub probe_interval_ms: u64,
    /// Up to this much is added at random to each interval, so replicas and nodes do not probe
    /// in lockstep. 0 turns it off.
    pub probe_jitter_ms: u64,
    /// Longest wait for one probe (both requests); no answer in time is a failed probe.
    pub probe_timeout_ms: u64,
    /// Failed probes in a row that make an `up` node `suspect`.
    pub suspect_after: u32,
    /// Further failed probes in a row that make a `suspect` node `down`.
    pub down_after: u32,
    /// Further probes in a row that connected and then timed out, with no hard failure among
    /// them, that make a `suspect` node `down` (at least `down_after`): an overloaded node is
    /// kept as `suspect`, read last but still written to, for this long.
    pub down_after_slow: u32,
    /// Successful probes in a row that make a `suspect` or `down` node `up` again.
    pub up_after: u32,
    /// TTL of the lease that makes one replica the active one, in whole seconds (the NATS
    /// per-message TTL has a one-second resolution). A standby takes over within 2 x TTL.
    pub lease_ttl_ms: u64,
    /// A copy's handoff queue holding more hints than this is handed to re-replication.
    pub handoff_max_hints: u64,
    /// A copy's handoff queue whose oldest hint is older than this is handed to re-replication.
    pub handoff_max_age_ms: u64,
    /// How often the replayer looks for handoff work when nothing woke it.
    pub repair_interval_ms: u64,
    /// Where Prometheus scrapes `/metrics`; none by default.
    pub metrics_addr: Option<SocketAddr>,
    /// How log lines are written: `text` (the default) or `json`, one object a line.
    #[serde(default)]
    pub log_format: miroir_cluster::telemetry::LogFormat,
    /// On shutdown, how long the lease release and the replayer get to finish.
    pub shutdown_grace_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            nats_url: "nats://127.0.0.1:4222".into(),
            node_api_key: None,
            probe_interval_ms: 1_000,
            probe_jitter_ms: 200,
            probe_timeout_ms: 1_000,
            suspect_after: 2,
            down_after: 2,
            down_after_slow: 30,
            up_after: 2,
            lease_ttl_ms: 5_000,
            handoff_max_hints: 100_000,
            handoff_max_age_ms: 3_600_000,
            repair_interval_ms: 500,
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
        if self.node_api_key.as_deref().is_some_and(str::is_empty) {
            return invalid("`node_api_key` is empty: leave it out for nodes without a master key");
        }
        let positive = [
            ("probe_interval_ms", self.probe_interval_ms),
            ("probe_timeout_ms", self.probe_timeout_ms),
            ("suspect_after", u64::from(self.suspect_after)),
            ("down_after", u64::from(self.down_after)),
            ("down_after_slow", u64::from(self.down_after_slow)),
            ("up_after", u64::from(self.up_after)),
            ("handoff_max_hints", self.handoff_max_hints),
            ("handoff_max_age_ms", self.handoff_max_age_ms),
            ("repair_interval_ms", self.repair_interval_ms),
            ("shutdown_grace_ms", self.shutdown_grace_ms),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return invalid(&format!("`{name}` must be positive"));
        }
        if self.probe_timeout_ms > self.probe_interval_ms {
            return invalid(
                "`probe_timeout_ms` must not exceed `probe_interval_ms`: probes would pile up",
            );
        }
        if self.probe_jitter_ms >= self.probe_interval_ms {
            return invalid("`probe_jitter_ms` must be below `probe_interval_ms`");
        }
        if self.lease_ttl_ms < 1_000 {
            return invalid("`lease_ttl_ms` must be at least 1000");
        }
        if !self.lease_ttl_ms.is_multiple_of(1_000) {
            return invalid(
                "`lease_ttl_ms` must be whole seconds (the NATS per-message TTL is in seconds)",
            );
        }
        Ok(())
    }

    pub fn probe_interval(&self) -> Duration {
        Duration::from_millis(self.probe_interval_ms)
    }

    pub fn probe_jitter(&self) -> Duration {
        Duration::from_millis(self.probe_jitter_ms)
    }

    pub fn probe_timeout(&self) -> Duration {
        Duration::from_millis(self.probe_timeout_ms)
    }

    pub fn lease_ttl(&self) -> Duration {
        Duration::from_millis(self.lease_ttl_ms)
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_millis(self.shutdown_grace_ms)
    }

    pub fn thresholds(&self) -> Thresholds {
        Thresholds::with_slow(
            self.suspect_after,
            self.down_after,
            self.down_after_slow,
            self.up_after,
        )
    }

    pub fn repair(&self) -> RepairConfig {
        RepairConfig {
            max_queue_hints: self.handoff_max_hints,
            max_queue_age: Duration::from_millis(self.handoff_max_age_ms),
            interval: Duration::from_millis(self.repair_interval_ms),
        }
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
        assert_eq!(format!("{file:?}"), format!("{:?}", Config::default()));
        file.validate().unwrap();
    }

    #[test]
    fn every_key_of_the_example_is_documented_and_set() {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config.example.toml"))
                .unwrap();
        let keys = [
            "nats_url",
            "node_api_key",
            "probe_interval_ms",
            "probe_jitter_ms",
            "probe_timeout_ms",
            "suspect_after",
            "down_after",
            "down_after_slow",
            "up_after",
            "lease_ttl_ms",
            "handoff_max_hints",
            "handoff_max_age_ms",
            "repair_interval_ms",
            "metrics_addr",
            "log_format",
            "shutdown_grace_ms",
        ];
        for key in keys {
            assert!(
                text.contains(&format!("{key} =")),
                "config.example.toml does not mention `{key}`"
            );
        }
    }

    #[test]
    fn nonsense_is_refused() {
        let bad = [
            Config {
                probe_interval_ms: 0,
                ..Config::default()
            },
            Config {
                probe_timeout_ms: 0,
                ..Config::default()
            },
            Config {
                suspect_after: 0,
                ..Config::default()
            },
            Config {
                down_after: 0,
                ..Config::default()
            },
            Config {
                up_after: 0,
                ..Config::default()
            },
            Config {
                handoff_max_hints: 0,
                ..Config::default()
            },
            Config {
                repair_interval_ms: 0,
                ..Config::default()
            },
            Config {
                lease_ttl_ms: 999,
                ..Config::default()
            },
            Config {
                lease_ttl_ms: 1_500,
                ..Config::default()
            },
            Config {
                probe_timeout_ms: 1_001,
                ..Config::default()
            },
            Config {
                probe_jitter_ms: 1_000,
                ..Config::default()
            },
            Config {
                node_api_key: Some(String::new()),
                ..Config::default()
            },
            Config {
                nats_url: " ".into(),
                ..Config::default()
            },
        ];
        for c in bad {
            assert!(c.validate().is_err(), "accepted {c:?}");
        }
        Config {
            probe_jitter_ms: 0,
            lease_ttl_ms: 1_000,
            ..Config::default()
        }
        .validate()
        .unwrap();
    }

    #[test]
    fn environment_and_flags_are_read() {
        let c: Config = miroir_cluster::config::load(
            "MIROIR_HEALTH_CHECKER_",
            vec!["--down-after".into(), "5".into()],
            vec![("MIROIR_HEALTH_CHECKER_NODE_API_KEY".into(), "1234".into())],
        )
        .unwrap();
        assert_eq!(c.down_after, 5);
        assert_eq!(c.node_api_key.as_deref(), Some("1234"));
        let e = miroir_cluster::config::load::<Config>(
            "T_",
            vec!["--down-afterr".into(), "1".into()],
            vec![],
        );
        assert!(e.is_err());
    }

    fn toml_from(text: &str) -> Config {
        let dir =
            std::env::temp_dir().join(format!("miroir-health-checker-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("health-checker.toml");
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
