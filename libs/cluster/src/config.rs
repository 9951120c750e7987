//! Typed service configuration: file < environment < command line, unknown keys refused, validated
//! before any port is bound (the pattern Meilisearch's own `option.rs` follows).
//!
//! A service declares its `Config` with `#[serde(deny_unknown_fields, rename_all = "snake_case")]`
//! and calls [`load`]: `--config path.toml` (or `MIROIR_CONFIG`) is read first, then every
//! `MIROIR_<FIELD>` environment variable, then `--field value` / `--field=value` arguments. Values
//! from the environment and the command line are parsed as TOML scalars when they look like one
//! (numbers, booleans, arrays) and taken as strings otherwise.

use serde::Deserialize;
use serde::de::DeserializeOwned;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {reason}")]
    File { path: String, reason: String },
    #[error("invalid configuration: {0}")]
    Invalid(String),
    #[error("argument `{0}` needs a value")]
    MissingValue(String),
    #[error("unexpected argument `{0}` (options look like `--name value`)")]
    Unexpected(String),
}

fn scalar(raw: &str) -> toml::Value {
    let doc = format!("v = {raw}");
    match doc.parse::<toml::Table>() {
        Ok(mut t) => t.remove("v").unwrap_or_else(|| toml::Value::String(raw.to_string())),
        Err(_) => toml::Value::String(raw.to_string()),
    }
}

/// Load `T` for a service whose environment variables start with `env_prefix` (e.g. `MIROIR_`).
pub fn load<T: DeserializeOwned>(
    env_prefix: &str,
    args: impl IntoIterator<Item = String>,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<T, ConfigError> {
    let args: Vec<String> = args.into_iter().collect();
    let env: Vec<(String, String)> = env.into_iter().collect();
    let mut table = toml::Table::new();

    let mut config_path = env.iter().find(|(k, _)| k == &format!("{env_prefix}CONFIG")).map(|(_, v)| v.clone());
    let mut cli: Vec<(String, String)> = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        let Some(name) = a.strip_prefix("--") else { return Err(ConfigError::Unexpected(a.clone())) };
        let (name, value) = match name.split_once('=') {
            Some((n, v)) => (n.to_string(), v.to_string()),
            None => {
                i += 1;
                let v = args.get(i).ok_or_else(|| ConfigError::MissingValue(a.clone()))?;
                (name.to_string(), v.clone())
            }
        };
        if name == "config" {
            config_path = Some(value);
        } else {
            cli.push((name.replace('-', "_"), value));
        }
        i += 1;
    }

    if let Some(path) = config_path {
        let text = std::fs::read_to_string(&path).map_err(|e| ConfigError::File { path: path.clone(), reason: e.to_string() })?;
        table = text.parse::<toml::Table>().map_err(|e| ConfigError::File { path, reason: e.to_string() })?;
    }
    for (k, v) in env {
        if let Some(name) = k.strip_prefix(env_prefix) {
            if name == "CONFIG" || name.is_empty() {
                continue;
            }
            table.insert(name.to_ascii_lowercase(), scalar(&v));
        }
    }
    for (k, v) in cli {
        table.insert(k, scalar(&v));
    }
    toml::Value::Table(table).try_into().map_err(|e: toml::de::Error| ConfigError::Invalid(e.to_string()))
}

/// For secrets and other text fields: a value given in the environment or on the command line
/// is parsed as a TOML scalar when it looks like one, so an all-digit key arrives as a number;
/// take it back as its text. Use with `#[serde(default, deserialize_with = "...")]`.
pub fn optional_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        Integer(i64),
        Float(f64),
        Bool(bool),
    }
    Ok(Option::<Raw>::deserialize(d)?.map(|raw| match raw {
        Raw::Text(s) => s,
        Raw::Integer(n) => n.to_string(),
        Raw::Float(f) => f.to_string(),
        Raw::Bool(b) => b.to_string(),
    }))
}

/// Set up logs (`RUST_LOG`, default info) and, when `metrics_addr` is given, the Prometheus
/// endpoint. Safe to call more than once (tests start several services in one process).
pub fn init_telemetry(metrics_addr: Option<std::net::SocketAddr>) -> anyhow::Result<()> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .try_init();
    if let Some(addr) = metrics_addr {
        metrics_exporter_prometheus::PrometheusBuilder::new()
            .with_http_listener(addr)
            .install()
            .map_err(|e| anyhow::anyhow!("cannot start the metrics endpoint on {addr}: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct C {
        nats_url: String,
        #[serde(default)]
        replicas: u32,
        #[serde(default)]
        debug: bool,
    }

    #[test]
    fn precedence_is_file_then_env_then_cli() {
        let dir = std::env::temp_dir().join(format!("miroir-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.toml");
        std::fs::write(&file, "nats_url = \"nats://file\"\nreplicas = 1\n").unwrap();
        let c: C = load(
            "T_",
            vec!["--config".into(), file.display().to_string(), "--replicas=3".into()],
            vec![("T_NATS_URL".into(), "nats://env".into()), ("T_DEBUG".into(), "true".into())],
        )
        .unwrap();
        assert_eq!(c, C { nats_url: "nats://env".into(), replicas: 3, debug: true });
    }

    #[test]
    fn unknown_keys_and_bad_args_are_refused() {
        let e = load::<C>("T_", vec!["--nats-url".into(), "x".into(), "--nope".into(), "1".into()], vec![]).unwrap_err();
        assert!(e.to_string().contains("nope"), "{e}");
        assert!(load::<C>("T_", vec!["--nats-url".into()], vec![]).is_err());
        assert!(load::<C>("T_", vec!["positional".into()], vec![]).is_err());
    }
}
