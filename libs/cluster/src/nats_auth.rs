//! The credentials a service presents to NATS, and the connect options built from them.
//!
//! NATS grants each Miroir service only the subjects it needs (`nats/nats-server.conf`, the Helm
//! chart's NATS ConfigMap), so a service must say who it is. The credentials come from the
//! process environment, which Kubernetes fills from a Secret; they are never config-file keys, so
//! they never sit in a ConfigMap or in a `--config` file that gets printed:
//!
//! | variable                       | meaning                                                   |
//! |--------------------------------|-----------------------------------------------------------|
//! | `MIROIR_NATS_USER`             | user name (with a password)                               |
//! | `MIROIR_NATS_PASSWORD`         | its password                                              |
//! | `MIROIR_NATS_PASSWORD_FILE`    | a file holding the password (a mounted Secret)            |
//!
//! nkeys and `.creds` files (decentralised JWT auth) would need async-nats's `nkeys` feature,
//! which the workspace does not build; `MIROIR_NATS_CREDS_FILE` and `MIROIR_NATS_NKEY_SEED_FILE`
//! are refused rather than ignored, so nobody believes they are in use.
//!
//! A `nats://user:password@host` URL works too (async-nats reads the user info). Every service
//! also takes its replies on an inbox of its own, `_INBOX.<connection name>.>`, so the server can
//! let a service read its own replies and nobody else's.
//!
//! Nothing here prints a secret: [`NatsAuth`]'s `Debug` shows which kind of credential is set,
//! never its value, and errors name the variable or the file, never the content.

use std::fmt;

/// Prefix of the variables above.
pub const ENV_PREFIX: &str = "MIROIR_NATS_";

#[derive(Debug, thiserror::Error)]
pub enum NatsAuthError {
    #[error("{0} is set without {1}")]
    Incomplete(&'static str, &'static str),
    #[error("cannot read {variable} ({path}): {reason}")]
    File {
        variable: &'static str,
        path: String,
        reason: String,
    },
    #[error("{0}: set one kind of NATS credential, not several")]
    Several(String),
    #[error("{0} is not supported by this build (user and password only)")]
    Unsupported(&'static str),
}

/// One service's NATS credentials; `Default` is none (a server without authorization).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct NatsAuth {
    credential: Option<Credential>,
}

#[derive(Clone, PartialEq, Eq)]
enum Credential {
    UserPassword { user: String, password: String },
}

impl fmt::Debug for NatsAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.credential {
            None => "none".to_string(),
            Some(Credential::UserPassword { user, .. }) => format!("user {user} with a password"),
        };
        f.debug_struct("NatsAuth")
            .field("credential", &kind)
            .finish()
    }
}

impl NatsAuth {
    /// User and password.
    pub fn user_password(user: impl Into<String>, password: impl Into<String>) -> NatsAuth {
        NatsAuth {
            credential: Some(Credential::UserPassword {
                user: user.into(),
                password: password.into(),
            }),
        }
    }

    /// Whether any credential is set.
    pub fn is_set(&self) -> bool {
        self.credential.is_some()
    }

    /// The credentials named by this process's `MIROIR_NATS_*` variables.
    pub fn from_env() -> Result<NatsAuth, NatsAuthError> {
        let vars = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
        NatsAuth::from_vars(vars)
    }

    /// The credentials named by these `(name, value)` variables (for tests).
    pub fn from_vars(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<NatsAuth, NatsAuthError> {
        let mut user = None;
        let mut password = None;
        let mut password_file = None;
        for (name, value) in vars {
            let Some(key) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            if value.is_empty() {
                continue;
            }
            match key {
                "USER" => user = Some(value),
                "PASSWORD" => password = Some(value),
                "PASSWORD_FILE" => password_file = Some(value),
                "CREDS_FILE" => return Err(NatsAuthError::Unsupported("MIROIR_NATS_CREDS_FILE")),
                "NKEY_SEED_FILE" => {
                    return Err(NatsAuthError::Unsupported("MIROIR_NATS_NKEY_SEED_FILE"));
                }
                _ => {}
            }
        }
        if let Some(path) = password_file {
            if password.is_some() {
                return Err(NatsAuthError::Several(
                    "both MIROIR_NATS_PASSWORD and MIROIR_NATS_PASSWORD_FILE are set".into(),
                ));
            }
            password = Some(read_secret("MIROIR_NATS_PASSWORD_FILE", &path)?);
        }
        let credential = match (user, password) {
            (Some(user), Some(password)) => Some(Credential::UserPassword { user, password }),
            (Some(_), None) => {
                return Err(NatsAuthError::Incomplete(
                    "MIROIR_NATS_USER",
                    "MIROIR_NATS_PASSWORD or MIROIR_NATS_PASSWORD_FILE",
                ));
            }
            (None, Some(_)) => {
                return Err(NatsAuthError::Incomplete(
                    "a NATS password",
                    "MIROIR_NATS_USER",
                ));
            }
            (None, None) => None,
        };
        Ok(NatsAuth { credential })
    }

    /// Connect options for the connection `name` (`miroir-gateway`, …): these credentials and the
    /// service's own reply inbox, `_INBOX.<name>`.
    pub async fn connect_options(&self, name: &str) -> anyhow::Result<async_nats::ConnectOptions> {
        let options = async_nats::ConnectOptions::new()
            .name(name)
            .custom_inbox_prefix(inbox_prefix(name));
        Ok(match &self.credential {
            None => options,
            Some(Credential::UserPassword { user, password }) => {
                options.user_and_password(user.clone(), password.clone())
            }
        })
    }
}

/// The reply inbox prefix of the connection `name`: `_INBOX.<name>`, the prefix the NATS
/// permissions let that service (and only it) subscribe to.
pub fn inbox_prefix(name: &str) -> String {
    ["_INBOX", name].join(".")
}

/// A secret held in a file (a mounted Secret): its content without the trailing newline.
fn read_secret(variable: &'static str, path: &str) -> Result<String, NatsAuthError> {
    let text = std::fs::read_to_string(path).map_err(|e| NatsAuthError::File {
        variable,
        path: path.to_string(),
        reason: e.kind().to_string(),
    })?;
    Ok(text.trim_end_matches(['\n', '\r']).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn user_and_password_from_variables() {
        let auth = NatsAuth::from_vars(vars(&[
            ("MIROIR_NATS_USER", "gateway"),
            ("MIROIR_NATS_PASSWORD", "s3cret-value"),
            ("MIROIR_GATEWAY_NATS_URL", "nats://x"),
        ]))
        .unwrap_or_default();
        assert_eq!(auth, NatsAuth::user_password("gateway", "s3cret-value"));
        let shown = format!("{auth:?}");
        assert!(
            shown.contains("gateway") && !shown.contains("s3cret-value"),
            "{shown}"
        );
    }

    #[test]
    fn password_from_a_file_without_its_newline() {
        let dir = std::env::temp_dir().join(format!("miroir-nats-auth-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("password");
        std::fs::write(&path, "from-file\n").ok();
        let auth = NatsAuth::from_vars(vars(&[
            ("MIROIR_NATS_USER", "router"),
            ("MIROIR_NATS_PASSWORD_FILE", &path.to_string_lossy()),
        ]));
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(
            auth.ok(),
            Some(NatsAuth::user_password("router", "from-file"))
        );
    }

    #[test]
    fn incomplete_or_several_credentials_are_refused() {
        assert!(NatsAuth::from_vars(vars(&[("MIROIR_NATS_USER", "x")])).is_err());
        assert!(NatsAuth::from_vars(vars(&[("MIROIR_NATS_PASSWORD", "x")])).is_err());
        assert!(
            NatsAuth::from_vars(vars(&[
                ("MIROIR_NATS_USER", "x"),
                ("MIROIR_NATS_PASSWORD", "y"),
                ("MIROIR_NATS_CREDS_FILE", "/z"),
            ]))
            .is_err()
        );
        let missing = NatsAuth::from_vars(vars(&[
            ("MIROIR_NATS_USER", "x"),
            ("MIROIR_NATS_PASSWORD_FILE", "/nonexistent/miroir/secret"),
        ]));
        assert!(matches!(missing, Err(NatsAuthError::File { .. })));
        assert_eq!(
            NatsAuth::from_vars(vars(&[])).ok(),
            Some(NatsAuth::default())
        );
    }
}
