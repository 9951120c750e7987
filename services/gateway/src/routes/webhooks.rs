//! `/webhooks` and `/webhooks/{uuid}`: Meilisearch 1.50's webhook routes, served by the cluster
//! itself on the `miroir-webhooks` KV bucket (`libs/cluster/src/webhooks.rs`); the router calls
//! them when a cluster task finishes. The nodes' own webhooks are never set.
//!
//! Bodies are checked as Meilisearch's deserr checks them (fields in the order given, `uuid` and
//! `isEditable` immutable), then the limits and the URL and headers, in Meilisearch's order
//! (`routes/webhooks.rs`: `post_webhook`, `patch_webhook_inner`, `check_changed`).

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use miroir_cluster::topology::StoreError;
use miroir_cluster::webhooks::{MAX_HEADERS, MAX_WEBHOOKS, RESERVED_UUID, Webhook, WebhookStore};
use miroir_proto::{ErrorCode, MeiliError};
use serde_json::{Value, json};
use uuid::Uuid;

use super::PathParams;
use crate::body::{expect_object, json_body};
use crate::params::{invalid_type, quoted, unknown_field};
use crate::state::AppState;

const FIELDS: &[&str] = &["url", "headers"];
/// Attempts of a `PATCH` against concurrent changes of the same webhook.
const CAS_ATTEMPTS: usize = 8;

/// A field of a webhook body: absent, `null` (reset), or a value.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Setting<T> {
    #[default]
    NotSet,
    Reset,
    Set(T),
}

/// The body of `POST /webhooks` and `PATCH /webhooks/{uuid}`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WebhookSettings {
    pub url: Setting<String>,
    pub headers: Setting<BTreeMap<String, Setting<String>>>,
}

fn missing_url(uuid: &Uuid) -> MeiliError {
    MeiliError::new(
        ErrorCode::InvalidWebhookUrl,
        format!("The URL for the webhook `{uuid}` is missing."),
    )
}

fn too_many_headers(uuid: &Uuid) -> MeiliError {
    MeiliError::new(
        ErrorCode::InvalidWebhookHeaders,
        format!(
            "Too many headers for the webhook `{uuid}`. Please limit the number of headers to {MAX_HEADERS}. Hint: To remove an already defined header set its value to `null`"
        ),
    )
}

fn too_many_webhooks() -> MeiliError {
    MeiliError::new(
        ErrorCode::InvalidWebhooks,
        format!(
            "Defining too many webhooks would crush the server. Please limit the number of webhooks to {MAX_WEBHOOKS}. You may use a third-party proxy server to dispatch events to more than {MAX_WEBHOOKS} endpoints."
        ),
    )
}

fn immutable(uuid: &Uuid) -> MeiliError {
    MeiliError::new(
        ErrorCode::ImmutableWebhook,
        format!(
            "Webhook `{uuid}` is immutable. The webhook defined from the command line cannot be modified using the API."
        ),
    )
}

fn not_found(uuid: &Uuid) -> MeiliError {
    MeiliError::new(
        ErrorCode::WebhookNotFound,
        format!("Webhook `{uuid}` not found."),
    )
}

fn store_error(e: StoreError) -> MeiliError {
    MeiliError::internal(format!("cannot reach the webhooks store: {e}"))
}

/// The uuid in the path, parsed as Meilisearch parses it (any form the uuid crate accepts).
pub fn parse_uuid(raw: &str) -> Result<Uuid, MeiliError> {
    Uuid::parse_str(raw)
        .map_err(|e| MeiliError::new(ErrorCode::InvalidWebhookUuid, format!("Invalid UUID: {e}")))
}

/// Read a webhook body as deserr does: the first problem, in the order the fields are given.
pub fn parse_settings(body: &Value) -> Result<WebhookSettings, MeiliError> {
    let mut out = WebhookSettings::default();
    for (key, v) in expect_object(body)? {
        match key.as_str() {
            "url" => {
                out.url = match v {
                    Value::Null => Setting::Reset,
                    Value::String(s) => Setting::Set(s.clone()),
                    other => {
                        return Err(invalid_type(
                            ErrorCode::InvalidWebhookUrl,
                            ".url",
                            "a string",
                            other,
                        ));
                    }
                }
            }
            "headers" => {
                out.headers = match v {
                    Value::Null => Setting::Reset,
                    Value::Object(map) => {
                        let mut headers = BTreeMap::new();
                        for (name, value) in map {
                            let value = match value {
                                Value::Null => Setting::Reset,
                                Value::String(s) => Setting::Set(s.clone()),
                                other => {
                                    return Err(invalid_type(
                                        ErrorCode::InvalidWebhookHeaders,
                                        &format!(".headers.{name}"),
                                        "a string",
                                        other,
                                    ));
                                }
                            };
                            headers.insert(name.clone(), value);
                        }
                        Setting::Set(headers)
                    }
                    other => {
                        return Err(invalid_type(
                            ErrorCode::InvalidWebhookHeaders,
                            ".headers",
                            "an object",
                            other,
                        ));
                    }
                }
            }
            other => {
                let code = match other {
                    "uuid" => ErrorCode::ImmutableWebhookUuid,
                    "isEditable" => ErrorCode::ImmutableWebhookIsEditable,
                    _ => return Err(unknown_field(other, FIELDS)),
                };
                return Err(MeiliError::new(
                    code,
                    format!(
                        "Immutable field `{other}`: expected one of {}",
                        quoted(FIELDS)
                    ),
                ));
            }
        }
    }
    Ok(out)
}

/// Meilisearch's `check_changed`: URL present, headers within the limit and valid HTTP, URL
/// parseable.
pub fn check(uuid: &Uuid, webhook: &Webhook) -> Result<(), MeiliError> {
    if uuid.is_nil() {
        return Err(immutable(uuid));
    }
    if webhook.url.is_empty() {
        return Err(missing_url(uuid));
    }
    if webhook.headers.len() > MAX_HEADERS {
        return Err(too_many_headers(uuid));
    }
    for (name, value) in &webhook.headers {
        if let Err(e) = HeaderName::from_bytes(name.as_bytes()) {
            return Err(MeiliError::new(
                ErrorCode::InvalidWebhookHeaders,
                format!("Invalid header name `{name}`: {e}"),
            ));
        }
        if let Err(e) = HeaderValue::from_str(value) {
            return Err(MeiliError::new(
                ErrorCode::InvalidWebhookHeaders,
                format!("Invalid header value `{name}`: {e}"),
            ));
        }
    }
    if let Err(e) = url::Url::parse(&webhook.url) {
        return Err(MeiliError::new(
            ErrorCode::InvalidWebhookUrl,
            format!("Invalid URL `{}`: {e}", webhook.url),
        ));
    }
    Ok(())
}

/// The webhook a `POST` creates, with its checks in Meilisearch's order (`runtime`: how many
/// webhooks the API made so far).
pub fn new_webhook(
    uuid: &Uuid,
    settings: WebhookSettings,
    runtime: usize,
) -> Result<Webhook, MeiliError> {
    if matches!(&settings.headers, Setting::Set(h) if h.len() > MAX_HEADERS) {
        return Err(too_many_headers(uuid));
    }
    if runtime >= MAX_WEBHOOKS {
        return Err(too_many_webhooks());
    }
    let Setting::Set(url) = settings.url else {
        return Err(missing_url(uuid));
    };
    let headers = match settings.headers {
        Setting::Set(h) => h
            .into_iter()
            .map(|(k, v)| match v {
                Setting::Set(v) => (k, v),
                _ => (k, String::new()),
            })
            .collect(),
        _ => BTreeMap::new(),
    };
    let webhook = Webhook { url, headers };
    check(uuid, &webhook)?;
    Ok(webhook)
}

/// A `PATCH` applied to `old`: `null` URL is refused, a `null` header removes it, `null`
/// headers remove them all.
pub fn patched(
    uuid: &Uuid,
    old: Webhook,
    settings: WebhookSettings,
) -> Result<Webhook, MeiliError> {
    let Webhook { url, mut headers } = old;
    let url = match settings.url {
        Setting::Set(url) => url,
        Setting::NotSet => url,
        Setting::Reset => return Err(missing_url(uuid)),
    };
    match settings.headers {
        Setting::Set(changes) => {
            for (name, value) in changes {
                match value {
                    Setting::Set(v) => {
                        headers.insert(name, v);
                    }
                    Setting::Reset => {
                        headers.remove(&name);
                    }
                    Setting::NotSet => {}
                }
            }
        }
        Setting::Reset => headers.clear(),
        Setting::NotSet => {}
    }
    if headers.len() > MAX_HEADERS {
        return Err(too_many_headers(uuid));
    }
    let webhook = Webhook { url, headers };
    check(uuid, &webhook)?;
    Ok(webhook)
}

async fn store(state: &AppState) -> Result<WebhookStore, MeiliError> {
    WebhookStore::open(state.jetstream())
        .await
        .map_err(|e| MeiliError::internal(format!("cannot open the webhooks store: {e}")))
}

/// `GET /webhooks`: every webhook (the reserved one first, as its nil uuid sorts first).
pub async fn list(State(state): State<AppState>) -> Result<Response, MeiliError> {
    let all = store(&state).await?.list().await.map_err(store_error)?;
    let results: Vec<Value> = all
        .iter()
        .filter(|(uuid, _)| Uuid::parse_str(uuid).is_ok())
        .map(|(uuid, (w, _))| w.view(uuid))
        .collect();
    Ok(Json(json!({ "results": results })).into_response())
}

pub async fn get(
    State(state): State<AppState>,
    PathParams(raw): PathParams<String>,
) -> Result<Response, MeiliError> {
    let uuid = parse_uuid(&raw)?;
    let key = uuid.hyphenated().to_string();
    let (webhook, _) = store(&state)
        .await?
        .get(&key)
        .await
        .map_err(store_error)?
        .ok_or_else(|| not_found(&uuid))?;
    Ok(Json(webhook.view(&key)).into_response())
}

pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, MeiliError> {
    let (_, value) = json_body(&headers, body, state.config().max_payload_bytes).await?;
    let settings = parse_settings(&value)?;
    let uuid = Uuid::new_v4();
    let store = store(&state).await?;
    // Two gateways creating at the same moment can both pass the count (documented limit).
    let runtime = store
        .list()
        .await
        .map_err(store_error)?
        .keys()
        .filter(|k| k.as_str() != RESERVED_UUID)
        .count();
    let webhook = new_webhook(&uuid, settings, runtime)?;
    let key = uuid.hyphenated().to_string();
    store.create(&key, &webhook).await.map_err(store_error)?;
    Ok((StatusCode::CREATED, Json(webhook.view(&key))).into_response())
}

pub async fn update(
    State(state): State<AppState>,
    PathParams(raw): PathParams<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, MeiliError> {
    let (_, value) = json_body(&headers, body, state.config().max_payload_bytes).await?;
    let settings = parse_settings(&value)?;
    let uuid = parse_uuid(&raw)?;
    if uuid.is_nil() {
        return Err(immutable(&uuid));
    }
    let key = uuid.hyphenated().to_string();
    let store = store(&state).await?;
    // Compare-and-set: a concurrent change of the same webhook makes this one apply again on it.
    for _ in 0..CAS_ATTEMPTS {
        let (old, revision) = store
            .get(&key)
            .await
            .map_err(store_error)?
            .ok_or_else(|| not_found(&uuid))?;
        let webhook = patched(&uuid, old, settings.clone())?;
        match store.update(&key, &webhook, revision).await {
            Ok(_) => return Ok(Json(webhook.view(&key)).into_response()),
            Err(StoreError::Conflict(_)) => continue,
            Err(e) => return Err(store_error(e)),
        }
    }
    Err(MeiliError::internal(format!(
        "the webhook `{uuid}` kept changing under concurrent requests; try again"
    )))
}

pub async fn delete(
    State(state): State<AppState>,
    PathParams(raw): PathParams<String>,
) -> Result<Response, MeiliError> {
    let uuid = parse_uuid(&raw)?;
    if uuid.is_nil() {
        return Err(immutable(&uuid));
    }
    let key = uuid.hyphenated().to_string();
    let store = store(&state).await?;
    let (_, revision) = store
        .get(&key)
        .await
        .map_err(store_error)?
        .ok_or_else(|| not_found(&uuid))?;
    match store.delete(&key, revision).await {
        Ok(()) | Err(StoreError::Conflict(_)) => Ok(StatusCode::NO_CONTENT.into_response()),
        Err(e) => Err(store_error(e)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn uuid() -> Uuid {
        Uuid::parse_str("4238bd17-cad1-4fd8-ab87-2541b9cc36c3").unwrap()
    }

    fn create(body: Value, runtime: usize) -> Result<Webhook, MeiliError> {
        new_webhook(&uuid(), parse_settings(&body)?, runtime)
    }

    #[test]
    fn recorded_errors() {
        // 11-api-1.50-extras: "create webhook bad url", "create webhook no url".
        let e = create(json!({"url": "not a url"}), 0).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidWebhookUrl);
        assert_eq!(
            e.message,
            "Invalid URL `not a url`: relative URL without a base"
        );
        let e = create(json!({"headers": {}}), 0).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidWebhookUrl);
        assert_eq!(
            e.message,
            "The URL for the webhook `4238bd17-cad1-4fd8-ab87-2541b9cc36c3` is missing."
        );
        assert_eq!(e.status, 400);
    }

    #[test]
    fn body_checks_in_field_order() {
        let e = create(json!({"uuid": "x", "url": 1}), 0).unwrap_err();
        assert_eq!(e.code, ErrorCode::ImmutableWebhookUuid);
        assert_eq!(
            e.message,
            "Immutable field `uuid`: expected one of `url`, `headers`"
        );
        let e = create(json!({"url": 1, "isEditable": true}), 0).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidWebhookUrl);
        assert_eq!(
            e.message,
            "Invalid value type at `.url`: expected a string, but found a positive integer: `1`"
        );
        let e = create(json!({"isEditable": true}), 0).unwrap_err();
        assert_eq!(e.code, ErrorCode::ImmutableWebhookIsEditable);
        let e = create(json!({"headers": {"a": 2}}), 0).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidWebhookHeaders);
        assert_eq!(
            e.message,
            "Invalid value type at `.headers.a`: expected a string, but found a positive integer: `2`"
        );
        let e = create(json!({"headers": []}), 0).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidWebhookHeaders);
        let e = create(json!({"urls": "x"}), 0).unwrap_err();
        assert_eq!(e.code, ErrorCode::BadRequest);
        let e = create(json!([]), 0).unwrap_err();
        assert_eq!(e.code, ErrorCode::BadRequest);
    }

    #[test]
    fn limits() {
        let e = create(json!({"url": "http://a/"}), MAX_WEBHOOKS).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidWebhooks);
        assert!(e.message.contains("limit the number of webhooks to 20"));
        assert!(create(json!({"url": "http://a/"}), MAX_WEBHOOKS - 1).is_ok());
        let many: serde_json::Map<String, Value> = (0..=MAX_HEADERS)
            .map(|i| (format!("h{i}"), json!("v")))
            .collect();
        // The header count is checked before the webhook count, as Meilisearch does.
        let e = create(json!({"url": "http://a/", "headers": many}), MAX_WEBHOOKS).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidWebhookHeaders);
        assert!(
            e.message
                .starts_with("Too many headers for the webhook `4238bd17")
        );
    }

    #[test]
    fn header_names_and_values_must_be_http() {
        let e = create(json!({"url": "http://a/", "headers": {"bad name": "v"}}), 0).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidWebhookHeaders);
        assert_eq!(
            e.message,
            "Invalid header name `bad name`: invalid HTTP header name"
        );
        let e = create(json!({"url": "http://a/", "headers": {"x": "a\nb"}}), 0).unwrap_err();
        assert_eq!(
            e.message,
            "Invalid header value `x`: failed to parse header value"
        );
        // A null header on creation is an empty value, as on a node.
        let w = create(json!({"url": "http://a/", "headers": {"x": null}}), 0).unwrap();
        assert_eq!(w.headers["x"], "");
    }

    #[test]
    fn patch_merges_headers_and_refuses_a_null_url() {
        let old = Webhook {
            url: "http://127.0.0.1:9/hook".into(),
            headers: [("authorization", "Bearer xyz"), ("x-team", "search")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        let s = parse_settings(&json!({"headers": {"x-team": null, "x-env": "prod"}})).unwrap();
        let w = patched(&uuid(), old.clone(), s).unwrap();
        // Recorded: "patch webhook".
        assert_eq!(
            w.view("u")["headers"],
            json!({"authorization": "Bearer XXX...", "x-env": "prod"})
        );
        assert_eq!(w.headers["authorization"], "Bearer xyz", "stored unmasked");
        let s = parse_settings(&json!({"headers": null})).unwrap();
        assert!(patched(&uuid(), old.clone(), s).unwrap().headers.is_empty());
        let s = parse_settings(&json!({"url": null})).unwrap();
        assert_eq!(
            patched(&uuid(), old.clone(), s).unwrap_err().code,
            ErrorCode::InvalidWebhookUrl
        );
        let s = parse_settings(&json!({"url": "nope"})).unwrap();
        assert_eq!(
            patched(&uuid(), old, s).unwrap_err().code,
            ErrorCode::InvalidWebhookUrl
        );
    }

    #[test]
    fn uuids() {
        let e = parse_uuid("nope").unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidWebhookUuid);
        assert!(e.message.starts_with("Invalid UUID: "), "{}", e.message);
        assert!(parse_uuid(RESERVED_UUID).unwrap().is_nil());
        let e = check(&Uuid::nil(), &Webhook::default()).unwrap_err();
        assert_eq!(e.code, ErrorCode::ImmutableWebhook);
        assert_eq!(
            e.message,
            "Webhook `00000000-0000-0000-0000-000000000000` is immutable. The webhook defined from the command line cannot be modified using the API."
        );
        assert_eq!(not_found(&uuid()).status, 404);
    }
}
