//! The gateway's configuration: file < `MIROIR_GATEWAY_*` environment < flags (see
//! `miroir_cluster::config`), unknown keys refused, validated before any port is bound.
//! `services/gateway/config.example.toml` documents every key.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case", default)]
pub struct Config {
    /// Where the Meilisearch-compatible HTTP API listens.
    pub http_addr: SocketAddr,
    /// The NATS server (or cluster seed) the services share.
    pub nats_url: String,
    /// Meilisearch's master key: when set, every route but `/health` and `/` needs
    /// `Authorization: Bearer <key>`. Unset: the API is open, as Meilisearch without a master key.
    #[serde(deserialize_with = "miroir_cluster::config::optional_text")]
    pub master_key: Option<String>,
    /// Largest request body accepted, in bytes (Meilisearch's `--http-payload-size-limit`).
    pub max_payload_bytes: u64,
    /// Deepest nesting of arrays and objects in a search or multi-search body (400 bad_request).
    pub max_json_depth: usize,
    /// Longest filter of a search, in bytes (400 invalid_search_filter).
    pub max_filter_bytes: usize,
    /// Deepest nesting of a filter: parentheses, or arrays in array form (400
    /// invalid_search_filter).
    pub max_filter_depth: usize,
    /// Most items in `facets`, `sort` and the `attributesTo*` lists of a search (400 with the
    /// field's invalid_search_* code).
    pub max_list_items: usize,
    /// Most queries in one multi-search (400 bad_request).
    pub max_multi_search_queries: usize,
    /// Most document uploads (`POST`/`PUT /indexes/{uid}/documents`) one API key may have in
    /// flight at once; the master key (or the open API) counts as one key. Beyond it: 429
    /// too_many_requests with `Retry-After`.
    pub max_concurrent_uploads_per_key: usize,
    /// How long a client may take to send a request's headers, in milliseconds, counted from
    /// when the connection is ready for a request (accepted, or idle after an answer): past it
    /// the connection is closed. This also bounds idle keep-alive connections.
    pub header_timeout_ms: u64,
    /// How long a request body may go without a byte, in milliseconds (408 request_timeout, the
    /// connection closed).
    pub body_idle_timeout_ms: u64,
    /// How long the gateway may wait for a request body in all, in milliseconds (408
    /// request_timeout, the connection closed). Time the gateway spends on its side (storing a
    /// chunk in the WAL) is not counted.
    pub body_timeout_ms: u64,
    /// How long a search may take, in milliseconds, before the client gets a 504.
    pub search_timeout_ms: u64,
    /// How long other reads (documents, settings, stats, tasks) may take, in milliseconds.
    pub read_timeout_ms: u64,
    /// How long the router may take to acknowledge a write, in milliseconds.
    pub write_timeout_ms: u64,
    /// On shutdown, how long requests in flight may take to finish, in milliseconds.
    pub shutdown_grace_ms: u64,
    /// Where Prometheus scrapes the metrics (`/metrics`); unset: no metrics endpoint.
    pub metrics_addr: Option<SocketAddr>,
    /// How log lines are written: `text` (the default) or `json`, one object a line.
    #[serde(default)]
    pub log_format: miroir_cluster::telemetry::LogFormat,
    /// Threads running the gateway's tasks; 0 is one per core. One is the default: fewer
    /// threads spend less CPU per search in wake-ups (see `miroir_cluster::runtime`); scale out
    /// with replicas, or give more threads to parse concurrent uploads side by side.
    pub worker_threads: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            http_addr: SocketAddr::from(([0, 0, 0, 0], 7700)),
            nats_url: "nats://127.0.0.1:4222".to_string(),
            master_key: None,
            max_payload_bytes: 100_000_000,
            max_json_depth: 32,
            max_filter_bytes: 65_536,
            max_filter_depth: 32,
            max_list_items: 1_000,
            max_multi_search_queries: 256,
            max_concurrent_uploads_per_key: 8,
            header_timeout_ms: 30_000,
            body_idle_timeout_ms: 30_000,
            body_timeout_ms: 300_000,
            search_timeout_ms: 10_000,
            read_timeout_ms: 10_000,
            write_timeout_ms: 60_000,
            shutdown_grace_ms: 30_000,
            metrics_addr: None,
            log_format: Default::default(),
            worker_threads: 1,
        }
    }
}

impl Config {
    /// Refuse settings that cannot work, with a message naming the key.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.nats_url.trim().is_empty() {
            anyhow::bail!("`nats_url` must not be empty");
        }
        if self.master_key.as_deref().is_some_and(str::is_empty) {
            anyhow::bail!("`master_key` must not be empty (leave it unset for an open API)");
        }
        if self.max_payload_bytes == 0 {
            anyhow::bail!("`max_payload_bytes` must be positive");
        }
        for (name, value) in [
            ("max_json_depth", self.max_json_depth),
            ("max_filter_bytes", self.max_filter_bytes),
            ("max_filter_depth", self.max_filter_depth),
            ("max_list_items", self.max_list_items),
            ("max_multi_search_queries", self.max_multi_search_queries),
            (
                "max_concurrent_uploads_per_key",
                self.max_concurrent_uploads_per_key,
            ),
        ] {
            if value == 0 {
                anyhow::bail!("`{name}` must be positive");
            }
        }
        for (name, value) in [
            ("search_timeout_ms", self.search_timeout_ms),
            ("read_timeout_ms", self.read_timeout_ms),
            ("write_timeout_ms", self.write_timeout_ms),
            ("header_timeout_ms", self.header_timeout_ms),
            ("body_idle_timeout_ms", self.body_idle_timeout_ms),
            ("body_timeout_ms", self.body_timeout_ms),
        ] {
            if value == 0 {
                anyhow::bail!("`{name}` must be positive");
            }
        }
        Ok(())
    }

    pub fn search_timeout(&self) -> Duration {
        Duration::from_millis(self.search_timeout_ms)
    }

    pub fn read_timeout(&self) -> Duration {
        Duration::from_millis(self.read_timeout_ms)
    }

    pub fn write_timeout(&self) -> Duration {
        Duration::from_millis(self.write_timeout_ms)
    }

    pub fn header_timeout(&self) -> Duration {
        Duration::from_millis(self.header_timeout_ms)
    }

    pub fn body_idle_timeout(&self) -> Duration {
        Duration::from_millis(self.body_idle_timeout_ms)
    }

    pub fn body_timeout(&self) -> Duration {
        Duration::from_millis(self.body_timeout_ms)
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
    fn defaults_are_valid_and_unknown_keys_refused() {
        Config::default().validate().unwrap();
        let c: Config = miroir_cluster::config::load(
            "MIROIR_",
            vec!["--search-timeout-ms".into(), "250".into()],
            vec![("MIROIR_MASTER_KEY".into(), "secret-key".into())],
        )
        .unwrap();
        assert_eq!(c.search_timeout_ms, 250);
        assert_eq!(c.master_key.as_deref(), Some("secret-key"));
        let digits: Config = miroir_cluster::config::load(
            "MIROIR_",
            vec![],
            vec![("MIROIR_MASTER_KEY".into(), "123456789".into())],
        )
        .unwrap();
        assert_eq!(digits.master_key.as_deref(), Some("123456789"));
        let e = miroir_cluster::config::load::<Config>(
            "MIROIR_",
            vec!["--node-api-key".into(), "x".into()],
            vec![],
        );
        assert!(e.is_err());
        let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml");
        let from_file: Config = miroir_cluster::config::load(
            "MIROIR_",
            vec!["--config".into(), example.display().to_string()],
            vec![],
        )
        .unwrap();
        assert_eq!(
            from_file,
            Config::default(),
            "the example documents the defaults"
        );
        let empty_key = Config {
            master_key: Some(String::new()),
            ..Config::default()
        };
        assert!(empty_key.validate().is_err());
    }
}
