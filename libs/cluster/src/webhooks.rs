//! The cluster's webhooks, in the JetStream KV bucket [`WEBHOOKS_BUCKET`]: one JSON record per
//! webhook (`webhooks.<uuid>` -> `{"url": ..., "headers": {...}}`), editable with `nats kv`, and
//! the delivery claims (`delivered.<task uid>`) that make exactly one router replica notify the
//! webhooks of a finished cluster task.
//!
//! Meilisearch's webhook set from its command line (`MEILI_TASK_WEBHOOK_URL`) has the nil uuid and
//! cannot be changed through the API; the cluster's equivalent is the record under the nil uuid,
//! written by the operator with `nats kv put` ([`RESERVED_UUID`]): it is listed with
//! `isEditable: false`, called like the others, and refused by `PATCH` and `DELETE`.
//!
//! Header values are stored as given (the cluster sends them); answers mask the authorization
//! headers as Meilisearch does ([`masked_headers`]).

use std::collections::BTreeMap;

use async_nats::jetstream::kv::{self, Operation};
use futures::StreamExt;
use miroir_proto::subjects::{WEBHOOKS_BUCKET, kv_key_subject};
use serde::{Deserialize, Serialize};

use crate::topology::StoreError;

/// The uuid of the webhook an operator configures outside the API (Meilisearch's CLI webhook).
pub const RESERVED_UUID: &str = "00000000-0000-0000-0000-000000000000";
/// Most webhooks the API lets one create (Meilisearch's limit; the reserved one is not counted).
pub const MAX_WEBHOOKS: usize = 20;
/// Most headers one webhook may carry (Meilisearch's limit).
pub const MAX_HEADERS: usize = 200;

const WEBHOOK_PREFIX: &str = "webhooks";
const CLAIM_PREFIX: &str = "delivered";

/// One webhook as stored (and as Meilisearch keeps it).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Webhook {
    pub url: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

impl Webhook {
    /// The webhook as an answer shows it: `uuid`, `isEditable`, `url`, `headers` (authorization
    /// values masked).
    pub fn view(&self, uuid: &str) -> serde_json::Value {
        serde_json::json!({
            "uuid": uuid,
            "isEditable": uuid != RESERVED_UUID,
            "url": self.url,
            "headers": masked_headers(&self.headers),
        })
    }
}

/// Meilisearch's redaction of a secret from byte `offset` on: a few leading characters are kept
/// (more for longer secrets), the rest becomes `XXX...`-like. Cuts on a character boundary, so a
/// non-ASCII value cannot make it panic.
pub fn hide_secret(secret: &str, offset: usize) -> String {
    let Some(rest) = secret.len().checked_sub(offset) else {
        return secret.to_string();
    };
    let (keep, mask) = match rest {
        x if x < 10 => (0, "XXX..."),
        x if x < 20 => (2, "XXXX..."),
        x if x < 30 => (3, "XXXXX..."),
        _ => (5, "XXXXXX..."),
    };
    let mut cut = offset + keep;
    while cut < secret.len() && !secret.is_char_boundary(cut) {
        cut += 1;
    }
    let cut = cut.min(secret.len());
    format!("{}{mask}", &secret[..cut])
}

/// The headers with every `authorization` header (any case) masked, `Bearer ` kept.
pub fn masked_headers(headers: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    headers
        .iter()
        .map(|(name, value)| {
            let shown = if name.eq_ignore_ascii_case("authorization") {
                if value.starts_with("Bearer ") {
                    hide_secret(value, "Bearer ".len())
                } else {
                    hide_secret(value, 0)
                }
            } else {
                value.clone()
            };
            (name.clone(), shown)
        })
        .collect()
}

fn webhook_key(uuid: &str) -> String {
    [WEBHOOK_PREFIX, uuid].join(".")
}

fn claim_key(task_uid: u64) -> String {
    [CLAIM_PREFIX, &task_uid.to_string()].join(".")
}

/// Every webhook of the bucket, as a live mirror holds them (for the router, which calls them).
#[derive(Clone, Debug, Default)]
pub struct WebhookSet {
    /// By uuid.
    pub webhooks: BTreeMap<String, Webhook>,
    revision: u64,
}

impl crate::kv_mirror::MirrorState for WebhookSet {
    fn apply(&mut self, key: &str, op: Operation, value: &[u8], revision: u64) {
        self.revision = self.revision.max(revision);
        let Some(uuid) = key.strip_prefix("webhooks.") else {
            return;
        };
        if !matches!(op, Operation::Put) {
            self.webhooks.remove(uuid);
            return;
        }
        match serde_json::from_slice::<Webhook>(value) {
            Ok(w) => {
                self.webhooks.insert(uuid.to_string(), w);
            }
            Err(e) => {
                self.webhooks.remove(uuid);
                tracing::error!(%key, error = %e, "ignoring a webhook record that does not parse")
            }
        }
    }

    fn revision(&self) -> u64 {
        self.revision
    }

    fn set_revision(&mut self, revision: u64) {
        self.revision = revision;
    }
}

/// The webhooks bucket.
#[derive(Clone)]
pub struct WebhookStore {
    kv: kv::Store,
}

impl WebhookStore {
    /// Open the bucket, creating it if it does not exist.
    pub async fn open(js: &async_nats::jetstream::Context) -> anyhow::Result<Self> {
        let kv = crate::kv_mirror::open_bucket(
            js,
            kv::Config {
                bucket: WEBHOOKS_BUCKET.to_string(),
                description:
                    "Miroir webhooks called when cluster tasks finish (JSON), and delivery claims"
                        .into(),
                history: 1,
                ..Default::default()
            },
        )
        .await?;
        Ok(WebhookStore { kv })
    }

    /// A live mirror of every webhook.
    pub async fn mirror(
        &self,
    ) -> anyhow::Result<tokio::sync::watch::Receiver<std::sync::Arc<WebhookSet>>> {
        crate::kv_mirror::mirror(&self.kv).await
    }

    /// Every webhook, by uuid, with its revision. A record that does not decode (a bad hand edit)
    /// is skipped with a warning rather than hiding every other webhook.
    pub async fn list(&self) -> Result<BTreeMap<String, (Webhook, u64)>, StoreError> {
        let mut keys = self
            .kv
            .keys()
            .await
            .map_err(|e| StoreError::Kv(e.to_string()))?;
        let mut names = Vec::new();
        while let Some(k) = keys.next().await {
            let k = k.map_err(|e| StoreError::Kv(e.to_string()))?;
            if let Some(uuid) = k.strip_prefix("webhooks.") {
                names.push(uuid.to_string());
            }
        }
        let mut out = BTreeMap::new();
        for uuid in names {
            match self.get(&uuid).await {
                Ok(Some(found)) => {
                    out.insert(uuid, found);
                }
                Ok(None) => {}
                Err(StoreError::Encode(e)) => {
                    tracing::warn!(%uuid, error = %e, "a webhook record does not decode; skipped")
                }
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// One webhook with its revision.
    pub async fn get(&self, uuid: &str) -> Result<Option<(Webhook, u64)>, StoreError> {
        match self
            .kv
            .entry(webhook_key(uuid))
            .await
            .map_err(|e| StoreError::Kv(e.to_string()))?
        {
            Some(e) if matches!(e.operation, Operation::Put) => {
                Ok(Some((serde_json::from_slice(&e.value)?, e.revision)))
            }
            _ => Ok(None),
        }
    }

    /// Store a new webhook; [`StoreError::Exists`] if the uuid is taken.
    pub async fn create(&self, uuid: &str, webhook: &Webhook) -> Result<u64, StoreError> {
        crate::kv_json::create(&self.kv, &webhook_key(uuid), webhook).await
    }

    /// Replace a webhook read at `revision`; [`StoreError::Conflict`] if it changed meanwhile.
    pub async fn update(
        &self,
        uuid: &str,
        webhook: &Webhook,
        revision: u64,
    ) -> Result<u64, StoreError> {
        crate::kv_json::update(&self.kv, &webhook_key(uuid), webhook, revision).await
    }

    /// Delete a webhook read at `revision`.
    pub async fn delete(&self, uuid: &str, revision: u64) -> Result<(), StoreError> {
        crate::kv_json::delete(&self.kv, &webhook_key(uuid), revision).await
    }

    /// Claim the notification of a finished task: `true` for the one caller that creates the
    /// claim, `false` for every other (it was claimed already).
    pub async fn claim(&self, task_uid: u64) -> Result<bool, StoreError> {
        let at = crate::now_rfc3339();
        match crate::kv_json::create(&self.kv, &claim_key(task_uid), &at).await {
            Ok(_) => Ok(true),
            Err(StoreError::Exists(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// When a task's notification was claimed, if it was.
    pub async fn claim_of(&self, task_uid: u64) -> Result<Option<String>, StoreError> {
        Ok(
            crate::kv_json::read::<String>(&self.kv, &claim_key(task_uid))
                .await?
                .map(|(at, _)| at),
        )
    }

    /// Forget a task's claim (its record was deleted): the bucket does not grow with old tasks.
    /// The key's messages are purged from the bucket's stream, so no delete marker stays behind.
    pub async fn release(&self, task_uid: u64) -> Result<(), StoreError> {
        let subject = kv_key_subject(WEBHOOKS_BUCKET, &claim_key(task_uid));
        self.kv
            .stream
            .purge()
            .filter(subject)
            .await
            .map(|_| ())
            .map_err(|e| StoreError::Kv(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_authorization_as_meilisearch() {
        let mut h = BTreeMap::new();
        h.insert("authorization".to_string(), "Bearer xyz".to_string());
        h.insert("x-team".to_string(), "search".to_string());
        h.insert(
            "Authorization".to_string(),
            "a-very-long-secret-token-1234".to_string(),
        );
        let m = masked_headers(&h);
        // Recorded on Meilisearch 1.50 (11-api-1.50-extras, "create webhook").
        assert_eq!(m["authorization"], "Bearer XXX...");
        assert_eq!(m["x-team"], "search");
        // 29 bytes: 3 kept.
        assert_eq!(m["Authorization"], "a-vXXXXX...");
        assert_eq!(hide_secret("Bearer 0123456789ab", 7), "Bearer 01XXXX...");
        assert_eq!(
            hide_secret("Bearer 012345678901234567890123456789", 7),
            "Bearer 01234XXXXXX..."
        );
        assert_eq!(hide_secret("", 0), "XXX...");
        assert_eq!(hide_secret("short", 7), "short");
    }

    #[test]
    fn masking_cuts_on_character_boundaries() {
        // 2 bytes per character: the cut at byte 3 falls inside one.
        let s = "ééééééééééééééé";
        let masked = hide_secret(s, 0);
        assert!(masked.ends_with("XXXXXX...") || masked.ends_with("XXXXX..."));
        assert!(masked.starts_with("éé"));
    }

    #[test]
    fn the_reserved_webhook_is_not_editable() {
        let w = Webhook {
            url: "http://127.0.0.1:9/hook".into(),
            headers: BTreeMap::new(),
        };
        assert_eq!(w.view(RESERVED_UUID)["isEditable"], false);
        let v = w.view("2a74819f-2405-46c5-9faf-27939329bc24");
        assert_eq!(v["isEditable"], true);
        let keys: Vec<&String> = v
            .as_object()
            .map(|m| m.keys().collect())
            .unwrap_or_default();
        assert_eq!(keys, ["uuid", "isEditable", "url", "headers"]);
    }
}
