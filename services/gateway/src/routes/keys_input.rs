//! The bodies of `POST /keys` and `PATCH /keys/{key}`, checked as Meilisearch's deserr checks
//! them: fields in the order given, the first problem reported with its code and message,
//! missing required fields (`actions`, `indexes`, `expiresAt`) checked last, in that order.

use miroir_proto::{ErrorCode, MeiliError};
use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime, PrimitiveDateTime};
use uuid::Uuid;

use crate::auth::ACTIONS;
use crate::body::expect_object;
use crate::params::{did_you_mean, invalid_type, quoted, unknown_field};

/// A key to create, before it gets its dates.
#[derive(Debug, PartialEq)]
pub struct NewKey {
    pub uid: Uuid,
    pub name: Option<String>,
    pub description: Option<String>,
    pub actions: Vec<String>,
    pub indexes: Vec<String>,
    pub expires_at: Option<OffsetDateTime>,
}

/// `Some(None)` resets the field, `None` leaves it.
#[derive(Debug, Default, PartialEq)]
pub struct KeyPatch {
    pub name: Option<Option<String>>,
    pub description: Option<Option<String>>,
}

fn invalid_value(code: ErrorCode, loc: &str, msg: impl std::fmt::Display) -> MeiliError {
    MeiliError::new(code, format!("Invalid value at `{loc}`: {msg}"))
}

fn missing(code: ErrorCode, field: &str) -> MeiliError {
    MeiliError::new(code, format!("Missing field `{field}`"))
}

fn optional_string(code: ErrorCode, loc: &str, v: &Value) -> Result<Option<String>, MeiliError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        other => Err(invalid_type(code, loc, "a string", other)),
    }
}

fn strings<'a>(code: ErrorCode, loc: &str, v: &'a Value) -> Result<Vec<&'a str>, MeiliError> {
    let Value::Array(items) = v else {
        return Err(invalid_type(code, loc, "an array", v));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            item.as_str()
                .ok_or_else(|| invalid_type(code, &format!("{loc}[{i}]"), "a string", item))
        })
        .collect()
}

fn actions(v: &Value) -> Result<Vec<String>, MeiliError> {
    const CODE: ErrorCode = ErrorCode::InvalidApiKeyActions;
    let mut out = Vec::new();
    for (i, action) in strings(CODE, ".actions", v)?.into_iter().enumerate() {
        if !ACTIONS.contains(&action) {
            return Err(MeiliError::new(
                CODE,
                format!(
                    "Unknown value `{action}` at `.actions[{i}]`: {}expected one of {}",
                    did_you_mean(action, ACTIONS),
                    quoted(ACTIONS)
                ),
            ));
        }
        out.push(action.to_string());
    }
    Ok(out)
}

/// Meilisearch's `IndexUidPattern`: an index uid, optionally ending with `*`, or `*` alone.
fn pattern_problem(pattern: &str) -> Option<String> {
    let uid = match pattern.strip_suffix('*') {
        Some("") => return None,
        Some(prefix) => prefix,
        None => pattern,
    };
    let valid = !uid.is_empty()
        && uid.len() <= miroir_placement::MAX_INDEX_UID_BYTES
        && uid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    (!valid).then(|| {
        format!(
            "`{uid}` is not a valid index uid pattern. Index uid patterns can be an integer or a string containing only alphanumeric characters, hyphens (-), underscores (_), and optionally end with a star (*)."
        )
    })
}

fn indexes(v: &Value) -> Result<Vec<String>, MeiliError> {
    const CODE: ErrorCode = ErrorCode::InvalidApiKeyIndexes;
    let mut out = Vec::new();
    for (i, pattern) in strings(CODE, ".indexes", v)?.into_iter().enumerate() {
        if let Some(problem) = pattern_problem(pattern) {
            return Err(invalid_value(CODE, &format!(".indexes[{i}]"), problem));
        }
        out.push(pattern.to_string());
    }
    Ok(out)
}

/// RFC 3339, `YYYY-MM-DDTHH:MM:SS`, `YYYY-MM-DD HH:MM:SS` or `YYYY-MM-DD` (UTC), in the future.
fn expiration(v: &Value, now: OffsetDateTime) -> Result<Option<OffsetDateTime>, MeiliError> {
    const CODE: ErrorCode = ErrorCode::InvalidApiKeyExpiresAt;
    let s = match v {
        Value::Null => return Ok(None),
        Value::String(s) => s,
        other => return Err(invalid_type(CODE, ".expiresAt", "a string", other)),
    };
    let parsed = OffsetDateTime::parse(s, &Rfc3339)
        .ok()
        .or_else(|| {
            PrimitiveDateTime::parse(
                s,
                format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"),
            )
            .ok()
            .map(PrimitiveDateTime::assume_utc)
        })
        .or_else(|| {
            PrimitiveDateTime::parse(
                s,
                format_description!("[year]-[month]-[day] [hour]:[minute]:[second]"),
            )
            .ok()
            .map(PrimitiveDateTime::assume_utc)
        })
        .or_else(|| {
            Date::parse(s, format_description!("[year]-[month]-[day]"))
                .ok()
                .map(|d| d.midnight().assume_utc())
        });
    match parsed {
        Some(at) if at > now => Ok(Some(at)),
        _ => Err(invalid_value(
            CODE,
            ".expiresAt",
            format!(
                "`{s}` is not a valid date. It should follow the RFC 3339 format to represents a date or datetime in the future or specified as a null value. e.g. 'YYYY-MM-DD' or 'YYYY-MM-DD HH:MM:SS'.\n"
            ),
        )),
    }
}

/// `POST /keys`.
pub fn parse_create(body: &Value, now: OffsetDateTime) -> Result<NewKey, MeiliError> {
    const FIELDS: &[&str] = &[
        "description",
        "name",
        "uid",
        "actions",
        "indexes",
        "expiresAt",
    ];
    let fields: &Map<String, Value> = expect_object(body)?;
    let (mut name, mut description, mut uid) = (None, None, None);
    let (mut acts, mut idx, mut expires) = (None, None, None);
    for (key, v) in fields {
        match key.as_str() {
            "description" => {
                description =
                    optional_string(ErrorCode::InvalidApiKeyDescription, ".description", v)?
            }
            "name" => name = optional_string(ErrorCode::InvalidApiKeyName, ".name", v)?,
            "uid" => {
                let Value::String(s) = v else {
                    return Err(invalid_type(
                        ErrorCode::InvalidApiKeyUid,
                        ".uid",
                        "a string",
                        v,
                    ));
                };
                uid = Some(
                    Uuid::parse_str(s)
                        .map_err(|e| invalid_value(ErrorCode::InvalidApiKeyUid, ".uid", e))?,
                );
            }
            "actions" => acts = Some(actions(v)?),
            "indexes" => idx = Some(indexes(v)?),
            "expiresAt" => expires = Some(expiration(v, now)?),
            other => return Err(unknown_field(other, FIELDS)),
        }
    }
    let actions = acts.ok_or_else(|| missing(ErrorCode::MissingApiKeyActions, "actions"))?;
    let indexes = idx.ok_or_else(|| missing(ErrorCode::MissingApiKeyIndexes, "indexes"))?;
    let expires_at =
        expires.ok_or_else(|| missing(ErrorCode::MissingApiKeyExpiresAt, "expiresAt"))?;
    Ok(NewKey {
        uid: uid.unwrap_or_else(Uuid::new_v4),
        name,
        description,
        actions,
        indexes,
        expires_at,
    })
}

/// `PATCH /keys/{key}`: only `name` and `description` may change.
pub fn parse_patch(body: &Value) -> Result<KeyPatch, MeiliError> {
    const FIELDS: &[&str] = &["description", "name"];
    let fields = expect_object(body)?;
    let mut patch = KeyPatch::default();
    for (key, v) in fields {
        let immutable = match key.as_str() {
            "description" => {
                patch.description = Some(optional_string(
                    ErrorCode::InvalidApiKeyDescription,
                    ".description",
                    v,
                )?);
                continue;
            }
            "name" => {
                patch.name = Some(optional_string(ErrorCode::InvalidApiKeyName, ".name", v)?);
                continue;
            }
            "uid" => ErrorCode::ImmutableApiKeyUid,
            "actions" => ErrorCode::ImmutableApiKeyActions,
            "indexes" => ErrorCode::ImmutableApiKeyIndexes,
            "expiresAt" => ErrorCode::ImmutableApiKeyExpiresAt,
            "createdAt" => ErrorCode::ImmutableApiKeyCreatedAt,
            "updatedAt" => ErrorCode::ImmutableApiKeyUpdatedAt,
            other => return Err(unknown_field(other, FIELDS)),
        };
        return Err(MeiliError::new(
            immutable,
            format!(
                "Immutable field `{key}`: expected one of {}",
                quoted(FIELDS)
            ),
        ));
    }
    Ok(patch)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn now() -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    #[test]
    fn recorded_unknown_action_message() {
        let recorded = miroir_testkit::load_recordings("08-keys.json").unwrap();
        let exchange = recorded
            .iter()
            .find(|e| e.name == "create key invalid action")
            .unwrap();
        let e = parse_create(&exchange.request.body, now()).unwrap_err();
        assert_eq!(e.to_json(), exchange.response.body);
    }

    #[test]
    fn meilisearchs_messages() {
        let e = parse_create(&json!({"actions": ["search"], "indexes": ["*"]}), now()).unwrap_err();
        assert_eq!(
            (e.code.as_str(), e.message.as_str()),
            ("missing_api_key_expires_at", "Missing field `expiresAt`")
        );
        let e = parse_create(&json!({"indexes": ["*"], "expiresAt": null}), now()).unwrap_err();
        assert_eq!(e.code, "missing_api_key_actions");
        let e = parse_create(
            &json!({"uid": "aaaaabbbbbccc", "actions": [], "indexes": [], "expiresAt": null}),
            now(),
        )
        .unwrap_err();
        // The uuid crate's words (Meilisearch's recorded test shows an older uuid's wording).
        assert!(
            e.message
                .starts_with("Invalid value at `.uid`: invalid length"),
            "{}",
            e.message
        );
        assert_eq!(e.code, "invalid_api_key_uid");
        let e = parse_create(
            &json!({"indexes": ["invalid index # / \\name with spaces"]}),
            now(),
        )
        .unwrap_err();
        assert_eq!(
            e.message,
            "Invalid value at `.indexes[0]`: `invalid index # / \\name with spaces` is not a valid index uid pattern. Index uid patterns can be an integer or a string containing only alphanumeric characters, hyphens (-), underscores (_), and optionally end with a star (*)."
        );
        let e = parse_create(&json!({"expiresAt": "2010-11-13T00:00:00Z"}), now()).unwrap_err();
        assert_eq!(
            e.message,
            "Invalid value at `.expiresAt`: `2010-11-13T00:00:00Z` is not a valid date. It should follow the RFC 3339 format to represents a date or datetime in the future or specified as a null value. e.g. 'YYYY-MM-DD' or 'YYYY-MM-DD HH:MM:SS'.\n"
        );
        let e = parse_create(&json!({"expiresAt": {"name": "products"}}), now()).unwrap_err();
        assert_eq!(
            e.message,
            "Invalid value type at `.expiresAt`: expected a string, but found an object: `{\"name\":\"products\"}`"
        );
        let e = parse_create(&json!({"actions": {"name": "products"}}), now()).unwrap_err();
        assert_eq!(
            e.message,
            "Invalid value type at `.actions`: expected an array, but found an object: `{\"name\":\"products\"}`"
        );
        let e = parse_create(&json!({"actions": ["serch"]}), now()).unwrap_err();
        assert!(
            e.message.starts_with(
                "Unknown value `serch` at `.actions[0]`: did you mean `search`? expected one of `*`"
            ),
            "{}",
            e.message
        );
        let e = parse_create(&json!({"nope": 1}), now()).unwrap_err();
        assert_eq!(e.code, "bad_request");
        let ok = parse_create(
            &json!({"uid": "4bc0887a-0e41-4f3b-935d-0c451dcee9c8", "indexes": ["products", "mov*", "*"], "actions": ["search"], "expiresAt": "2050-11-13"}),
            now(),
        )
        .unwrap();
        assert_eq!(
            ok.expires_at.unwrap().format(&Rfc3339).unwrap(),
            "2050-11-13T00:00:00Z"
        );
        assert_eq!(ok.uid.to_string(), "4bc0887a-0e41-4f3b-935d-0c451dcee9c8");
    }

    #[test]
    fn patch_takes_only_name_and_description() {
        assert_eq!(
            parse_patch(&json!({"name": "bob", "description": null})).unwrap(),
            KeyPatch {
                name: Some(Some("bob".into())),
                description: Some(None)
            }
        );
        let e = parse_patch(&json!({"indexes": ["products", "prices"]})).unwrap_err();
        assert_eq!(
            (e.code.as_str(), e.message.as_str()),
            (
                "immutable_api_key_indexes",
                "Immutable field `indexes`: expected one of `description`, `name`"
            )
        );
        let e = parse_patch(&json!({"name": 1})).unwrap_err();
        assert_eq!(
            e.message,
            "Invalid value type at `.name`: expected a string, but found a positive integer: `1`"
        );
    }
}
