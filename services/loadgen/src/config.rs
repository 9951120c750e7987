//! The generator's configuration: file < `MIROIR_LOAD_*` environment < flags, as for every
//! Miroir binary (`miroir_cluster::config`), plus `MIROIR_URL` and `MIROIR_KEY`, the variables the
//! k6 scripts read, so that one environment drives both tools.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::scenario::parse_duration;

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("{0:?} is not an http:// URL")]
    NotHttp(String),
    #[error(
        "{url} is not on this machine (loopback: 127.0.0.0/8, ::1, localhost); pass --allow-remote to load a cluster elsewhere that you operate"
    )]
    Remote { url: String },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Scenarios to run, in order; none: every scenario of the file.
    #[serde(default)]
    pub scenarios: Vec<String>,
    /// The scenario file (the one the k6 scripts read).
    #[serde(default = "default_file")]
    pub file: PathBuf,
    /// Base URL of the gateway (or of any Meilisearch).
    #[serde(default = "default_url")]
    pub url: String,
    /// API key sent as a bearer token.
    #[serde(default, deserialize_with = "miroir_cluster::config::optional_text")]
    pub key: Option<String>,
    /// Run each scenario for this long instead (k6 duration), every time in it scaled alike.
    #[serde(default)]
    pub duration: Option<String>,
    /// The longest load phase accepted, in seconds: a scenario (or --duration) longer is refused.
    #[serde(default = "default_max_duration_secs")]
    pub max_duration_secs: u64,
    /// Timeout of one request, in milliseconds.
    #[serde(default = "default_request_timeout_ms")]
    pub request_timeout_ms: u64,
    /// After the load, how long to wait for the acknowledged writes' tasks to end, in ms.
    #[serde(default = "default_settle_ms")]
    pub settle_ms: u64,
    /// Allow a target that is not a loopback address.
    #[serde(default)]
    pub allow_remote: bool,
    /// Write the summary as JSON to this file too.
    #[serde(default)]
    pub summary_json: Option<PathBuf>,
    /// `ACTION=COMMAND`: the shell command that performs a scenario event (`add-node=...`).
    #[serde(default)]
    pub event_cmd: Vec<String>,
    /// No progress bar.
    #[serde(default)]
    pub quiet: bool,
}

impl Default for Config {
    /// The defaults of every key: every scenario of `loadtest/scenarios.json` against the demo's
    /// gateway, without a key.
    fn default() -> Self {
        Config {
            scenarios: Vec::new(),
            file: default_file(),
            url: default_url(),
            key: None,
            duration: None,
            max_duration_secs: default_max_duration_secs(),
            request_timeout_ms: default_request_timeout_ms(),
            settle_ms: default_settle_ms(),
            allow_remote: false,
            summary_json: None,
            event_cmd: Vec::new(),
            quiet: false,
        }
    }
}

fn default_file() -> PathBuf {
    PathBuf::from("loadtest/scenarios.json")
}
fn default_url() -> String {
    "http://127.0.0.1:7700".into()
}
fn default_max_duration_secs() -> u64 {
    600
}
fn default_request_timeout_ms() -> u64 {
    10_000
}
fn default_settle_ms() -> u64 {
    60_000
}

impl Config {
    pub fn duration(&self) -> Result<Option<Duration>, crate::scenario::ScenarioError> {
        self.duration.as_deref().map(parse_duration).transpose()
    }

    pub fn max_duration(&self) -> Duration {
        Duration::from_secs(self.max_duration_secs)
    }

    /// The command for an event's action, if one was given.
    pub fn event_command(&self, action: &str) -> Option<&str> {
        self.event_cmd.iter().find_map(|e| {
            e.split_once('=')
                .filter(|(a, _)| a.trim() == action)
                .map(|(_, cmd)| cmd.trim())
        })
    }
}

/// The base URL without a trailing slash, refused unless it is on this machine (or
/// `allow_remote`): a load generator pointed at the wrong host is an attack.
pub fn check_target(url: &str, allow_remote: bool) -> Result<String, TargetError> {
    let parsed = reqwest::Url::parse(url).map_err(|_| TargetError::NotHttp(url.into()))?;
    if parsed.scheme() != "http" && parsed.scheme() != "https" {
        return Err(TargetError::NotHttp(url.into()));
    }
    let host = parsed
        .host_str()
        .ok_or_else(|| TargetError::NotHttp(url.into()))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let local = host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if !local && !allow_remote {
        return Err(TargetError::Remote { url: url.into() });
    }
    Ok(url.trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn only_loopback_targets_unless_allowed() {
        for ok in [
            "http://127.0.0.1:7700",
            "http://127.9.9.9:1/",
            "http://localhost:7700",
            "http://[::1]:7700",
        ] {
            assert!(check_target(ok, false).is_ok(), "{ok}");
        }
        assert_eq!(
            check_target("http://127.0.0.1:7700/", false).unwrap(),
            "http://127.0.0.1:7700"
        );
        for remote in [
            "http://10.0.0.7:7700",
            "http://192.168.1.2",
            "http://example.com",
            "http://[2001:db8::1]/",
        ] {
            assert!(
                matches!(check_target(remote, false), Err(TargetError::Remote { .. })),
                "{remote}"
            );
            assert!(
                check_target(remote, true).is_ok(),
                "{remote} with --allow-remote"
            );
        }
        for bad in [
            "127.0.0.1:7700",
            "ftp://127.0.0.1/",
            "nats://127.0.0.1:4222",
        ] {
            assert!(
                matches!(check_target(bad, true), Err(TargetError::NotHttp(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn configuration_layers_and_event_commands() {
        let c: Config = miroir_cluster::config::load(
            "MIROIR_LOAD_",
            vec![
                "--url".into(),
                "http://127.0.0.1:1".into(),
                "--event-cmd".into(),
                "[\"add-node=miroirctl node add n5 http://127.0.0.1:7705\"]".into(),
            ],
            vec![
                ("MIROIR_LOAD_KEY".into(), "0123".into()),
                ("MIROIR_LOAD_DURATION".into(), "5s".into()),
            ],
        )
        .unwrap();
        assert_eq!(c.url, "http://127.0.0.1:1");
        assert_eq!(
            c.key.as_deref(),
            Some("0123"),
            "an all-digit key stays text"
        );
        assert_eq!(c.duration().unwrap(), Some(Duration::from_secs(5)));
        assert_eq!(c.file, PathBuf::from("loadtest/scenarios.json"));
        assert_eq!(
            c.event_command("add-node"),
            Some("miroirctl node add n5 http://127.0.0.1:7705")
        );
        assert_eq!(c.event_command("drain"), None);
        let e = miroir_cluster::config::load::<Config>(
            "MIROIR_LOAD_",
            vec!["--rps".into(), "3".into()],
            vec![],
        );
        assert!(e.is_err(), "unknown keys are refused");
    }
}
