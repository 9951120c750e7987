//! API keys as a Meilisearch node has them: the master key opens everything, the default keys
//! are derived from it (`hex(HMAC-SHA256(master key, key uid))`), and each key is limited to its
//! `actions` on its `indexes`. Tenant tokens are not implemented: a JWT is an invalid key here.

use hmac::{Hmac, Mac};
use miroir_proto::error::{ErrorCode, MeiliError};
use serde_json::{Value, json};
use sha2::Sha256;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::deserr;
use crate::time_fmt::{now, rfc3339, rfc3339_value};

pub use miroir_proto::key_actions::ACTIONS;

/// One API key.
#[derive(Clone, Debug)]
pub struct Key {
    pub uid: Uuid,
    pub name: Option<String>,
    pub description: Option<String>,
    pub actions: Vec<String>,
    pub indexes: Vec<String>,
    pub expires_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// What a request may see once authenticated: `None` is every index.
#[derive(Clone, Debug, Default)]
pub struct Access {
    pub indexes: Option<Vec<String>>,
}

impl Access {
    pub fn all() -> Self {
        Access { indexes: None }
    }

    pub fn allows_index(&self, uid: &str) -> bool {
        self.indexes
            .as_ref()
            .is_none_or(|patterns| patterns.iter().any(|p| pattern_matches(p, uid)))
    }

    pub fn unauthorized_index(&self, uid: &str) -> MeiliError {
        let allowed: Vec<String> = self
            .indexes
            .iter()
            .flatten()
            .map(|s| format!("{s:?}"))
            .collect();
        MeiliError::new(
            ErrorCode::InvalidApiKey,
            format!(
                "The API key cannot acces the index `{uid}`, authorized indexes are [{}].",
                allowed.join(", ")
            ),
        )
    }
}

fn pattern_matches(pattern: &str, uid: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => uid.starts_with(prefix),
        None => pattern == uid,
    }
}

/// Whether a key's actions open `action`, expanded as Meilisearch stores them (shared with the
/// gateway, so `*.get` opens no `keys.get` and `documents.*` does not grant itself).
fn action_allowed(granted: &[String], action: &str) -> bool {
    miroir_proto::key_actions::expand(granted).contains(action)
}

fn is_keys_action(action: &str) -> bool {
    miroir_proto::key_actions::is_keys_action(action)
}

pub fn missing_master_key() -> MeiliError {
    MeiliError::new(
        ErrorCode::MissingMasterKey,
        "Meilisearch is running without a master key. To access this API endpoint, you must have set a master key at launch.",
    )
}

/// The node's keys and master key.
pub struct Keys {
    master: Option<String>,
    keys: Vec<Key>,
}

impl Keys {
    pub fn new(master: Option<String>) -> Self {
        let mut keys = Vec::new();
        if master.is_some() {
            // Created oldest first so that the newest-first listing reads Search, Admin,
            // Read-Only Admin, Chat, as on a fresh Meilisearch 1.50 database.
            let base = now();
            let defaults: [(&str, &str, &[&str]); 4] = [
                (
                    "Default Chat API Key",
                    "Use it to chat and search from the frontend",
                    &["chatCompletions", "search"],
                ),
                (
                    "Default Read-Only Admin API Key",
                    "Use it to read information across the whole database. Caution! Do not expose this key on a public frontend",
                    &["*.get", "keys.get"],
                ),
                (
                    "Default Admin API Key",
                    "Use it for anything that is not a search operation. Caution! Do not expose it on a public frontend",
                    &["*"],
                ),
                (
                    "Default Search API Key",
                    "Use it to search from the frontend",
                    &["search"],
                ),
            ];
            for (i, (name, description, actions)) in defaults.iter().enumerate() {
                let at = base + time::Duration::microseconds(i as i64);
                keys.push(Key {
                    uid: Uuid::new_v4(),
                    name: Some(name.to_string()),
                    description: Some(description.to_string()),
                    actions: actions.iter().map(|a| a.to_string()).collect(),
                    indexes: vec!["*".to_string()],
                    expires_at: None,
                    created_at: at,
                    updated_at: at,
                });
            }
        }
        Keys { master, keys }
    }

    /// The key's secret: what clients send as a bearer token.
    pub fn secret(&self, uid: &Uuid) -> String {
        let master = self.master.as_deref().unwrap_or_default();
        key_value(master, uid)
    }

    /// Checks a request's `Authorization` header for `action` on `index` (the index of the
    /// route, if it has one), with Meilisearch's errors and in its order.
    pub fn authenticate(
        &self,
        header: Option<&str>,
        action: &str,
        index: Option<&str>,
    ) -> Result<Access, MeiliError> {
        let Some(master) = self.master.as_deref() else {
            return if is_keys_action(action) {
                Err(missing_master_key())
            } else {
                Ok(Access::all())
            };
        };
        let Some(header) = header else {
            return Err(MeiliError::missing_authorization_header());
        };
        let mut parts = header.splitn(2, ' ');
        if parts.next() != Some("Bearer") {
            return Err(MeiliError::missing_authorization_header());
        }
        let Some(token) = parts.next() else {
            return Err(MeiliError::invalid_api_key());
        };
        if token == master {
            return Ok(Access::all());
        }
        let key = self
            .keys
            .iter()
            .find(|k| key_value(master, &k.uid) == token)
            .ok_or_else(MeiliError::invalid_api_key)?;
        if key.expires_at.is_some_and(|e| e <= now()) {
            return Err(MeiliError::invalid_api_key());
        }
        let access = if key.indexes.iter().any(|i| i == "*") {
            Access::all()
        } else {
            Access {
                indexes: Some(key.indexes.clone()),
            }
        };
        if let Some(index) = index
            && !access.allows_index(index)
        {
            return Err(access.unauthorized_index(index));
        }
        if !action_allowed(&key.actions, action) {
            return Err(MeiliError::invalid_api_key());
        }
        Ok(access)
    }

    pub fn view(&self, key: &Key) -> Value {
        json!({
            "name": key.name,
            "description": key.description,
            "key": self.secret(&key.uid),
            "uid": key.uid.to_string(),
            "actions": key.actions,
            "indexes": key.indexes,
            "expiresAt": rfc3339_value(key.expires_at),
            "createdAt": rfc3339(key.created_at),
            "updatedAt": rfc3339(key.updated_at),
        })
    }

    /// Newest first, as Meilisearch lists them.
    pub fn list(&self) -> Vec<&Key> {
        let mut keys: Vec<&Key> = self.keys.iter().collect();
        keys.sort_by_key(|k| std::cmp::Reverse(k.created_at));
        keys
    }

    /// A key by uid or by its secret.
    pub fn find(&self, uid_or_key: &str) -> Option<&Key> {
        let master = self.master.as_deref().unwrap_or_default();
        self.keys
            .iter()
            .find(|k| k.uid.to_string() == uid_or_key || key_value(master, &k.uid) == uid_or_key)
    }

    pub fn find_mut(&mut self, uid_or_key: &str) -> Option<&mut Key> {
        let master = self.master.clone().unwrap_or_default();
        self.keys
            .iter_mut()
            .find(|k| k.uid.to_string() == uid_or_key || key_value(&master, &k.uid) == uid_or_key)
    }

    pub fn insert(&mut self, key: Key) -> Result<(), MeiliError> {
        if self.keys.iter().any(|k| k.uid == key.uid) {
            return Err(MeiliError::new(
                ErrorCode::ApiKeyAlreadyExists,
                format!("`{}` already exists.", key.uid),
            ));
        }
        self.keys.push(key);
        Ok(())
    }

    pub fn remove(&mut self, uid_or_key: &str) -> bool {
        let master = self.master.clone().unwrap_or_default();
        let before = self.keys.len();
        self.keys.retain(|k| {
            k.uid.to_string() != uid_or_key && key_value(&master, &k.uid) != uid_or_key
        });
        self.keys.len() != before
    }
}

pub fn key_not_found(uid_or_key: &str) -> MeiliError {
    MeiliError::new(
        ErrorCode::ApiKeyNotFound,
        format!("API key `{uid_or_key}` not found."),
    )
}

/// `hex(HMAC-SHA256(key = master key, message = hyphenated lowercase uid))`.
pub fn key_value(master: &str, uid: &Uuid) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(master.as_bytes()) else {
        // HMAC accepts keys of any length; this branch exists only to avoid a panic path.
        return String::new();
    };
    mac.update(uid.hyphenated().to_string().as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Parses `POST /keys`: fields in the order given, missing fields checked at the end.
pub fn parse_create(body: &Value) -> Result<Key, MeiliError> {
    const FIELDS: &[&str] = &[
        "description",
        "name",
        "uid",
        "actions",
        "indexes",
        "expiresAt",
    ];
    let map = body
        .as_object()
        .ok_or_else(|| deserr::invalid_type(ErrorCode::BadRequest, "", "an object", body))?;
    let (mut description, mut name, mut uid) = (None, None, None);
    let (mut actions, mut indexes, mut expires_at) = (None, None, None);
    for (k, v) in map {
        let loc = format!(".{k}");
        match k.as_str() {
            "description" => {
                description = optional_string(ErrorCode::InvalidApiKeyDescription, &loc, v)?
            }
            "name" => name = optional_string(ErrorCode::InvalidApiKeyName, &loc, v)?,
            "uid" => {
                let s = deserr::json_string(ErrorCode::InvalidApiKeyUid, &loc, v)?;
                uid =
                    Some(Uuid::parse_str(&s).map_err(|e| {
                        deserr::invalid_value(ErrorCode::InvalidApiKeyUid, &loc, e)
                    })?);
            }
            "actions" => {
                let list = deserr::json_strings(ErrorCode::InvalidApiKeyActions, &loc, v)?;
                for (i, a) in list.iter().enumerate() {
                    if !ACTIONS.contains(&a.as_str()) {
                        return Err(deserr::unknown_value(
                            ErrorCode::InvalidApiKeyActions,
                            &format!("{loc}[{i}]"),
                            a,
                            ACTIONS,
                        ));
                    }
                }
                actions = Some(list);
            }
            "indexes" => {
                let list = deserr::json_strings(ErrorCode::InvalidApiKeyIndexes, &loc, v)?;
                for (i, p) in list.iter().enumerate() {
                    if !valid_index_pattern(p) {
                        return Err(deserr::invalid_value(
                            ErrorCode::InvalidApiKeyIndexes,
                            &format!("{loc}[{i}]"),
                            format!(
                                "`{p}` is not a valid index uid pattern. Index uid patterns can be an integer or a string containing only alphanumeric characters, hyphens (-), underscores (_), and optionally end with a star (*)."
                            ),
                        ));
                    }
                }
                indexes = Some(list);
            }
            "expiresAt" => expires_at = Some(parse_expiration(&loc, v)?),
            other => {
                return Err(deserr::unknown_field(
                    ErrorCode::BadRequest,
                    "",
                    other,
                    FIELDS,
                ));
            }
        }
    }
    let actions = actions
        .ok_or_else(|| deserr::missing_field(ErrorCode::MissingApiKeyActions, "", "actions"))?;
    let indexes = indexes
        .ok_or_else(|| deserr::missing_field(ErrorCode::MissingApiKeyIndexes, "", "indexes"))?;
    let expires_at = expires_at
        .ok_or_else(|| deserr::missing_field(ErrorCode::MissingApiKeyExpiresAt, "", "expiresAt"))?;
    let at = now();
    Ok(Key {
        uid: uid.unwrap_or_else(Uuid::new_v4),
        name,
        description,
        actions,
        indexes,
        expires_at,
        created_at: at,
        updated_at: at,
    })
}

/// Applies `PATCH /keys/{key}`: only `name` and `description` may change.
pub fn apply_patch(key: &mut Key, body: &Value) -> Result<(), MeiliError> {
    const FIELDS: &[&str] = &["description", "name"];
    let map = body
        .as_object()
        .ok_or_else(|| deserr::invalid_type(ErrorCode::BadRequest, "", "an object", body))?;
    let (mut description, mut name) = (None, None);
    for (k, v) in map {
        let loc = format!(".{k}");
        match k.as_str() {
            "description" => {
                description = Some(optional_string(
                    ErrorCode::InvalidApiKeyDescription,
                    &loc,
                    v,
                )?)
            }
            "name" => name = Some(optional_string(ErrorCode::InvalidApiKeyName, &loc, v)?),
            immutable @ ("uid" | "actions" | "indexes" | "expiresAt" | "createdAt"
            | "updatedAt") => {
                let code = match immutable {
                    "uid" => ErrorCode::ImmutableApiKeyUid,
                    "actions" => ErrorCode::ImmutableApiKeyActions,
                    "indexes" => ErrorCode::ImmutableApiKeyIndexes,
                    "expiresAt" => ErrorCode::ImmutableApiKeyExpiresAt,
                    "createdAt" => ErrorCode::ImmutableApiKeyCreatedAt,
                    _ => ErrorCode::ImmutableApiKeyUpdatedAt,
                };
                return Err(MeiliError::new(
                    code,
                    format!(
                        "Immutable field `{immutable}`: expected one of {}",
                        deserr::quoted(FIELDS)
                    ),
                ));
            }
            other => {
                return Err(deserr::unknown_field(
                    ErrorCode::BadRequest,
                    "",
                    other,
                    FIELDS,
                ));
            }
        }
    }
    if let Some(d) = description {
        key.description = d;
    }
    if let Some(n) = name {
        key.name = n;
    }
    key.updated_at = now();
    Ok(())
}

fn optional_string(code: ErrorCode, loc: &str, v: &Value) -> Result<Option<String>, MeiliError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        other => Err(deserr::invalid_type(code, loc, "a string", other)),
    }
}

fn valid_index_pattern(p: &str) -> bool {
    let body = p.strip_suffix('*').unwrap_or(p);
    (p == "*" || !body.is_empty())
        && body.len() <= 400
        && body
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn parse_expiration(loc: &str, v: &Value) -> Result<Option<OffsetDateTime>, MeiliError> {
    use time::format_description::well_known::Rfc3339;
    use time::macros::format_description;
    let s = match v {
        Value::Null => return Ok(None),
        Value::String(s) => s,
        other => {
            return Err(deserr::invalid_type(
                ErrorCode::InvalidApiKeyExpiresAt,
                loc,
                "null or a string",
                other,
            ));
        }
    };
    let parsed = OffsetDateTime::parse(s, &Rfc3339)
        .ok()
        .or_else(|| {
            time::PrimitiveDateTime::parse(
                s,
                format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"),
            )
            .ok()
            .map(|p| p.assume_utc())
        })
        .or_else(|| {
            time::PrimitiveDateTime::parse(
                s,
                format_description!("[year]-[month]-[day] [hour]:[minute]:[second]"),
            )
            .ok()
            .map(|p| p.assume_utc())
        })
        .or_else(|| {
            time::Date::parse(s, format_description!("[year]-[month]-[day]"))
                .ok()
                .map(|d| d.midnight().assume_utc())
        });
    match parsed {
        Some(t) if t > now() => Ok(Some(t)),
        _ => Err(deserr::invalid_value(
            ErrorCode::InvalidApiKeyExpiresAt,
            loc,
            format!(
                "`{s}` is not a valid date. It should follow the RFC 3339 format to represents a date or datetime in the future or specified as a null value. e.g. 'YYYY-MM-DD' or 'YYYY-MM-DD HH:MM:SS'.\n"
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn wildcard_actions_expand() {
        let g = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(action_allowed(&g(&["*"]), "keys.get"));
        assert!(action_allowed(&g(&["documents.*"]), "documents.add"));
        assert!(!action_allowed(&g(&["documents.*"]), "search"));
        assert!(action_allowed(&g(&["*.get"]), "settings.get"));
        assert!(!action_allowed(&g(&["*.get"]), "settings.update"));
        assert!(!action_allowed(&g(&["search"]), "documents.add"));
    }

    #[test]
    fn key_checks_follow_meilisearch_order() {
        let mut keys = Keys::new(Some("master".into()));
        let key =
            parse_create(&json!({"actions": ["search"], "indexes": ["npm"], "expiresAt": null}))
                .unwrap();
        let secret = keys.secret(&key.uid);
        keys.insert(key).unwrap();
        let bearer = format!("Bearer {secret}");
        assert!(
            keys.authenticate(Some(&bearer), "search", Some("npm"))
                .is_ok()
        );
        let e = keys
            .authenticate(Some(&bearer), "search", Some("movies"))
            .unwrap_err();
        assert_eq!(
            e.message,
            "The API key cannot acces the index `movies`, authorized indexes are [\"npm\"]."
        );
        let e = keys
            .authenticate(Some(&bearer), "documents.add", Some("npm"))
            .unwrap_err();
        assert_eq!(e.message, "The provided API key is invalid.");
        assert_eq!(
            keys.authenticate(None, "search", None).unwrap_err().status,
            401
        );
        assert_eq!(
            keys.authenticate(Some("Bearer nope"), "search", None)
                .unwrap_err()
                .status,
            403
        );
        assert!(
            keys.authenticate(Some("Bearer master"), "keys.get", None)
                .is_ok()
        );
    }

    #[test]
    fn without_master_key_only_keys_routes_are_closed() {
        let keys = Keys::new(None);
        assert!(keys.authenticate(None, "search", Some("x")).is_ok());
        assert_eq!(
            keys.authenticate(None, "keys.get", None).unwrap_err().code,
            "missing_master_key"
        );
    }
}
