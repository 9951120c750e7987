//! The gateway's view of the cluster's API keys: the KV mirror ([`KeyStore`]) plus what a
//! request check needs and should not recompute each time (every key's secret value, its
//! expanded actions, its parsed dates), rebuilt when the mirror moves on.
//!
//! A key's value is `hex(HMAC-SHA256(master key, uid as hyphenated lowercase))`, as
//! Meilisearch derives it: SDK users can compute it, and changing the master key changes them all.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream;
use hmac::{Hmac, Mac};
use miroir_cluster::keys::{ApiKeyRecord, KeyStore, Keys};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use super::actions::expand;
use super::same_bytes;

/// How long a lookup waits for the mirror to catch up with the bucket (a key created a moment
/// ago through another gateway).
const FRESHNESS_WAIT: Duration = Duration::from_secs(1);

/// `hex(HMAC-SHA256(key = master key, message = uid hyphenated lowercase))`.
pub fn key_value(master: &str, uid: &Uuid) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(master.as_bytes()) else {
        // HMAC takes keys of any length; this arm only avoids a panic path.
        return String::new();
    };
    mac.update(uid.hyphenated().to_string().as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One key, ready for request checks.
#[derive(Clone, Debug)]
pub struct RingKey {
    pub record: ApiKeyRecord,
    pub uid: Uuid,
    /// The secret clients send; empty without a master key.
    pub value: String,
    pub granted: BTreeSet<&'static str>,
    pub expires_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
}

impl RingKey {
    pub(crate) fn new(record: ApiKeyRecord, master: Option<&str>) -> Option<Self> {
        let uid = Uuid::parse_str(&record.uid).ok()?;
        let parse = |s: &str| OffsetDateTime::parse(s, &Rfc3339).ok();
        // An expiry that does not parse (a bad hand edit) closes the key rather than opening it.
        let expires_at = record
            .expires_at
            .as_deref()
            .map(|s| parse(s).unwrap_or(OffsetDateTime::UNIX_EPOCH));
        Some(RingKey {
            uid,
            value: master.map(|m| key_value(m, &uid)).unwrap_or_default(),
            granted: expand(&record.actions),
            expires_at,
            created_at: parse(&record.created_at).unwrap_or(OffsetDateTime::UNIX_EPOCH),
            record,
        })
    }

    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        self.expires_at.is_some_and(|exp| now >= exp)
    }

    /// Whether the key may do `action` now (on its indexes).
    pub fn allows(&self, action: &str, now: OffsetDateTime) -> bool {
        self.granted.contains(action) && !self.is_expired(now)
    }

    /// `None` when the key opens every index.
    pub fn index_patterns(&self) -> Option<Vec<String>> {
        if self.record.indexes.iter().any(|p| p == "*") {
            None
        } else {
            Some(self.record.indexes.clone())
        }
    }
}

/// Every key of one mirror snapshot, newest first (Meilisearch's listing order).
#[derive(Debug, Default)]
pub struct Ring {
    pub revision: u64,
    pub keys: Vec<RingKey>,
}

impl Ring {
    pub fn by_uid(&self, uid: &Uuid) -> Option<&RingKey> {
        self.keys.iter().find(|k| &k.uid == uid)
    }

    /// The key whose value is `value` (hex, in either case, as Meilisearch decodes it). Every
    /// key is compared, in constant time each, so that the answer's timing says nothing about
    /// how close a guess was.
    pub fn by_value(&self, value: &str) -> Option<&RingKey> {
        let value = value.to_ascii_lowercase();
        let mut found = None;
        for key in &self.keys {
            if !key.value.is_empty() && same_bytes(value.as_bytes(), key.value.as_bytes()) {
                found = Some(key);
            }
        }
        found
    }
}

/// The keys store with the master key.
#[derive(Clone)]
pub struct Keyring {
    store: KeyStore,
    master: Option<String>,
    cache: Arc<Mutex<Arc<Ring>>>,
}

impl Keyring {
    pub async fn open(js: &jetstream::Context, master: Option<String>) -> anyhow::Result<Self> {
        let store = KeyStore::open(js).await?;
        let ring = Keyring {
            store,
            master,
            cache: Arc::new(Mutex::new(Arc::new(Ring {
                revision: u64::MAX,
                keys: Vec::new(),
            }))),
        };
        ring.create_default_keys().await?;
        Ok(ring)
    }

    pub fn store(&self) -> &KeyStore {
        &self.store
    }

    pub fn master(&self) -> Option<&str> {
        self.master.as_deref()
    }

    pub fn value_of(&self, uid: &Uuid) -> String {
        self.master
            .as_deref()
            .map(|m| key_value(m, uid))
            .unwrap_or_default()
    }

    /// The ring of the mirror's latest snapshot.
    pub fn ring(&self) -> Arc<Ring> {
        let snapshot = self.store.current();
        let mut cache = match self.cache.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if cache.revision != snapshot.revision {
            *cache = Arc::new(self.build(&snapshot));
        }
        cache.clone()
    }

    fn build(&self, snapshot: &Keys) -> Ring {
        let mut keys: Vec<RingKey> = snapshot
            .keys
            .values()
            .filter_map(|(record, _)| RingKey::new(record.clone(), self.master.as_deref()))
            .collect();
        keys.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then_with(|| a.uid.cmp(&b.uid))
        });
        Ring {
            revision: snapshot.revision,
            keys,
        }
    }

    /// The ring once the mirror has caught up with every write made to the bucket before this
    /// call (by any gateway), or as it is after [`FRESHNESS_WAIT`].
    pub async fn fresh_ring(&self) -> Arc<Ring> {
        match self.store.last_revision().await {
            Ok(last) => {
                if !self.store.wait_for_revision(last, FRESHNESS_WAIT).await {
                    tracing::warn!(
                        revision = last,
                        "the keys mirror is behind the bucket; answering from it anyway"
                    );
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the keys bucket's revision; answering from the mirror")
            }
        }
        self.ring()
    }

    /// Meilisearch's four default keys, created in a bucket that never held a key (as
    /// Meilisearch creates them in an empty database) when a master key is set. Their uids
    /// derive from the master key, so that gateways starting together create the same four
    /// and KV `create` lets exactly one of them write each.
    async fn create_default_keys(&self) -> anyhow::Result<()> {
        let Some(master) = self.master.as_deref() else {
            return Ok(());
        };
        if !self.store.is_pristine().await? {
            return Ok(());
        }
        let base = OffsetDateTime::now_utc();
        // Oldest first, so that the newest-first listing reads Search, Admin, Read-Only, Chat.
        for (i, (name, description, actions)) in DEFAULT_KEYS.iter().enumerate() {
            let at = (base + time::Duration::microseconds(i as i64))
                .format(&Rfc3339)
                .unwrap_or_default();
            let record = ApiKeyRecord {
                uid: default_uid(master, name).to_string(),
                name: Some((*name).to_string()),
                description: Some((*description).to_string()),
                actions: actions.iter().map(|a| (*a).to_string()).collect(),
                indexes: vec!["*".to_string()],
                expires_at: None,
                created_at: at.clone(),
                updated_at: at,
            };
            match self.store.create(&record).await {
                Ok(_) | Err(miroir_cluster::topology::StoreError::Exists(_)) => {}
                Err(e) => {
                    return Err(anyhow::anyhow!(
                        "cannot create the default key `{name}`: {e}"
                    ));
                }
            }
        }
        Ok(())
    }
}

const DEFAULT_KEYS: [(&str, &str, &[&str]); 4] = [
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

/// A version-4-shaped uuid from SHA-256 of the key's name and the master key: the same on every
/// gateway of a cluster, different between clusters, and revealing nothing of the master key.
fn default_uid(master: &str, name: &str) -> Uuid {
    let digest = Sha256::new()
        .chain_update(b"miroir default API key\0")
        .chain_update(name.as_bytes())
        .chain_update(b"\0")
        .chain_update(master.as_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    for (b, d) in bytes.iter_mut().zip(digest.iter()) {
        *b = *d;
    }
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn values_are_meilisearchs_derivation() {
        // The same derivation as the stand-in node's (libs/standin/src/auth.rs) and
        // Meilisearch's `generate_key_as_hexa`: HMAC-SHA256 over the hyphenated uid.
        let uid = Uuid::parse_str("550e8400-e29b-41d4-a716-446655440000").unwrap();
        let mut mac = Hmac::<Sha256>::new_from_slice(b"my-secret-master-key").unwrap();
        mac.update(b"550e8400-e29b-41d4-a716-446655440000");
        let expected: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(key_value("my-secret-master-key", &uid), expected);
        assert_eq!(expected.len(), 64);
    }

    #[test]
    fn default_uids_are_fixed_per_master_key() {
        let a = default_uid("k1", "Default Admin API Key");
        assert_eq!(a, default_uid("k1", "Default Admin API Key"));
        assert_ne!(a, default_uid("k2", "Default Admin API Key"));
        assert_ne!(a, default_uid("k1", "Default Search API Key"));
        assert_eq!(a.get_version_num(), 4);
    }
}
