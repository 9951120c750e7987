//! Typed service configuration, layered with figment: a TOML file < `<PREFIX><KEY>` environment
//! variables < command-line flags, unknown keys refused, validated before any port is bound (the
//! pattern Meilisearch's own `option.rs` follows).
//!
//! A service declares its `Config` with `#[serde(deny_unknown_fields)]`; its binary parses its
//! flags with clap (one `Option` field per key, plus `--config <PATH>` read from
//! `<PREFIX>CONFIG` too) and calls [`load_with_flags`]; tests (and a binary without a clap
//! struct) give arguments and variables as values to [`load`]. figment layers them, reads the
//! file and names the layer a bad value came from. Values from the environment are parsed as
//! TOML scalars when they are one (numbers, booleans, arrays) and taken as strings otherwise, so
//! a text field that may be all digits (a key) uses [`optional_text`].
//!
//! ```
//! #[derive(serde::Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct Config {
//!     nats_url: String,
//! }
//! #[derive(serde::Serialize)]
//! struct Flags {
//!     nats_url: Option<String>,
//! }
//! let flags = Flags { nats_url: Some("nats://10.0.0.1:4222".into()) };
//! let config: Config =
//!     miroir_cluster::config::load_with_flags("MIROIR_DOC_", None, &flags).unwrap();
//! assert_eq!(config.nats_url, "nats://10.0.0.1:4222");
//! ```

use std::path::Path;

use figment::providers::{Format, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

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

/// The configuration of a binary: the TOML file `file` (its `--config`, which clap also reads
/// from `<PREFIX>CONFIG`), then every `<PREFIX><KEY>` environment variable (`MIROIR_ROUTER_` +
/// `NATS_URL` sets `nats_url`), then the flags given on the command line. `flags` is the binary's
/// clap struct: its fields are the config keys, `None` (or an empty list) for a flag not given;
/// fields that are not config keys (such as `config`) are `#[serde(skip)]`.
pub fn load_with_flags<T: DeserializeOwned>(
    env_prefix: &str,
    file: Option<&Path>,
    flags: &impl Serialize,
) -> Result<T, ConfigError> {
    // Variables that are not Unicode cannot be config values; they are somebody else's.
    let env = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
    let (_, variables) = variables(env_prefix, env);
    extract(file, variables, given(flags)?)
}

/// The same layers, with the environment and the command line given as values rather than read
/// from the process: `--key value` / `--key=value` arguments (`--config path` names the file,
/// as `<PREFIX>CONFIG` does) and `(name, value)` variables. For tests, and for a binary that has
/// no clap struct yet.
pub fn load<T: DeserializeOwned>(
    env_prefix: &str,
    args: impl IntoIterator<Item = String>,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<T, ConfigError> {
    let args: Vec<String> = args.into_iter().collect();
    let (mut file, variables) = variables(env_prefix, env);
    let mut flags = Layer {
        name: "command-line flags".into(),
        values: Dict::new(),
    };
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        let Some(name) = arg.strip_prefix("--") else {
            return Err(ConfigError::Unexpected(arg.clone()));
        };
        let (name, value) = match name.split_once('=') {
            Some((name, value)) => (name.to_string(), value.to_string()),
            None => {
                i += 1;
                let value = args
                    .get(i)
                    .ok_or_else(|| ConfigError::MissingValue(arg.clone()))?;
                (name.to_string(), value.clone())
            }
        };
        if name == "config" {
            file = Some(value);
        } else {
            flags.values.insert(name.replace('-', "_"), scalar(&value));
        }
        i += 1;
    }
    extract(file.as_deref().map(Path::new), variables, flags)
}

/// Values that did not come from a file: the environment or the command line.
struct Layer {
    name: String,
    values: Dict,
}

impl Provider for Layer {
    fn metadata(&self) -> Metadata {
        Metadata::named(self.name.clone())
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.values.clone()))
    }
}

/// The `<PREFIX><KEY>` variables as config values, and `<PREFIX>CONFIG` (the file) apart.
fn variables(
    prefix: &str,
    env: impl IntoIterator<Item = (String, String)>,
) -> (Option<String>, Layer) {
    let mut file = None;
    let mut layer = Layer {
        name: format!("`{prefix}*` environment variables"),
        values: Dict::new(),
    };
    for (name, value) in env {
        match name.strip_prefix(prefix) {
            None | Some("") => {}
            Some("CONFIG") => file = Some(value),
            Some(key) => {
                layer
                    .values
                    .insert(key.to_ascii_lowercase(), scalar(&value));
            }
        }
    }
    (file, layer)
}

/// A value from the environment or the command line: a TOML scalar or array when it is one
/// (`30000`, `true`, `["a", "b"]`), else its text. TOML has no leading zeros, so a key such as
/// `0123` stays text.
fn scalar(raw: &str) -> Value {
    let parsed = format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"));
    match parsed {
        Some(value) => Value::serialize(value).unwrap_or_else(|_| Value::from(raw.to_string())),
        None => Value::from(raw.to_string()),
    }
}

fn extract<T: DeserializeOwned>(
    file: Option<&Path>,
    env: impl Provider,
    flags: impl Provider,
) -> Result<T, ConfigError> {
    let mut figment = Figment::new();
    if let Some(path) = file {
        // figment skips a file that is not there; a file named by the operator must exist.
        if !path.is_file() {
            return Err(ConfigError::File {
                path: path.display().to_string(),
                reason: "no such file".into(),
            });
        }
        figment = figment.merge(Toml::file_exact(path));
    }
    figment
        .merge(env)
        .merge(flags)
        .extract()
        .map_err(|e| ConfigError::Invalid(e.to_string()))
}

/// The flags actually given: clap leaves the others `None` (or empty), which must not override
/// the file or the environment.
fn given(flags: &impl Serialize) -> Result<Layer, ConfigError> {
    let value = Value::serialize(flags).map_err(|e| ConfigError::Invalid(format!("flags: {e}")))?;
    let Value::Dict(_, dict) = value else {
        return Err(ConfigError::Invalid("flags must be a struct".into()));
    };
    let dict: Dict = dict
        .into_iter()
        .filter(|(_, v)| {
            !matches!(v, Value::Empty(..)) && !matches!(v, Value::Array(_, a) if a.is_empty())
        })
        .collect();
    Ok(Layer {
        name: "command-line flags".into(),
        values: dict,
    })
}

/// For secrets and other text fields: a value given in the environment or on the command line
/// is parsed as a scalar when it looks like one, so an all-digit key arrives as a number;
/// take it back as its text. Use with `#[serde(default, deserialize_with = "...")]`.
pub fn optional_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        Integer(i64),
        Unsigned(u64),
        Float(f64),
        Bool(bool),
    }
    Ok(Option::<Raw>::deserialize(d)?.map(|raw| match raw {
        Raw::Text(s) => s,
        Raw::Integer(n) => n.to_string(),
        Raw::Unsigned(n) => n.to_string(),
        Raw::Float(f) => f.to_string(),
        Raw::Bool(b) => b.to_string(),
    }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::result_large_err)] // figment::Jail takes closures returning its error
    use super::*;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct C {
        nats_url: String,
        #[serde(default)]
        replicas: u32,
        #[serde(default)]
        debug: bool,
        #[serde(default)]
        seeds: Vec<String>,
        #[serde(default, deserialize_with = "optional_text")]
        key: Option<String>,
    }

    /// What a binary's clap struct serializes to (its `--config` is `#[serde(skip)]`).
    #[derive(Default, serde::Serialize)]
    struct Flags {
        nats_url: Option<String>,
        replicas: Option<u32>,
        debug: Option<bool>,
        seeds: Vec<String>,
        key: Option<String>,
    }

    #[test]
    fn precedence_is_file_then_env_then_flags() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("c.toml", "nats_url = \"nats://file\"\nreplicas = 1\nseeds = [\"a\", \"b\"]\nkey = \"from-file\"\n")?;
            jail.set_env("T_NATS_URL", "nats://env");
            jail.set_env("T_DEBUG", "true");
            jail.set_env("T_KEY", "0123");
            jail.set_env("T_CONFIG", "ignored-here.toml");
            let flags = Flags {
                replicas: Some(3),
                ..Default::default()
            };
            let c: C = load_with_flags("T_", Some(Path::new("c.toml")), &flags).unwrap();
            assert_eq!(
                c,
                C {
                    nats_url: "nats://env".into(),
                    replicas: 3,
                    debug: true,
                    seeds: vec!["a".into(), "b".into()],
                    key: Some("0123".into())
                },
                "a flag not given, or an empty list, keeps the lower layers"
            );
            let flags = Flags {
                nats_url: Some("nats://flag".into()),
                seeds: vec!["c".into()],
                ..Default::default()
            };
            let c: C = load_with_flags("T_", Some(Path::new("c.toml")), &flags).unwrap();
            assert_eq!(
                (c.nats_url.as_str(), c.seeds),
                ("nats://flag", vec!["c".to_string()])
            );
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_and_missing_files_are_refused() {
        figment::Jail::expect_with(|jail| {
            let flags = Flags {
                nats_url: Some("nats://x".into()),
                ..Default::default()
            };
            jail.set_env("T_NOPE", "1");
            let e = load_with_flags::<C>("T_", None, &flags).unwrap_err();
            assert!(e.to_string().contains("nope"), "an unknown variable: {e}");
            jail.clear_env();
            jail.create_file("typo.toml", "nats_urll = \"nats://x\"\n")?;
            let e = load_with_flags::<C>("T_", Some(Path::new("typo.toml")), &flags).unwrap_err();
            assert!(
                e.to_string().contains("nats_urll"),
                "an unknown file key: {e}"
            );
            let e = load_with_flags::<C>("T_", Some(Path::new("absent.toml")), &flags).unwrap_err();
            assert!(matches!(e, ConfigError::File { .. }), "{e}");
            Ok(())
        });
    }

    #[test]
    fn given_arguments_and_variables_follow_the_same_layers() {
        let dir = std::env::temp_dir().join(format!("miroir-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.toml");
        std::fs::write(&file, "nats_url = \"nats://file\"\nreplicas = 1\n").unwrap();
        let c: C = load(
            "T_",
            vec![
                "--config".into(),
                file.display().to_string(),
                "--replicas=3".into(),
            ],
            vec![
                ("T_NATS_URL".into(), "nats://env".into()),
                ("T_DEBUG".into(), "true".into()),
            ],
        )
        .unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(
            c,
            C {
                nats_url: "nats://env".into(),
                replicas: 3,
                debug: true,
                seeds: vec![],
                key: None
            }
        );
        let e = load::<C>(
            "T_",
            vec!["--nats-url".into(), "x".into(), "--nope".into(), "1".into()],
            vec![],
        )
        .unwrap_err();
        assert!(e.to_string().contains("nope"), "{e}");
        assert!(load::<C>("T_", vec!["--nats-url".into()], vec![]).is_err());
        assert!(load::<C>("T_", vec!["positional".into()], vec![]).is_err());
    }
}
