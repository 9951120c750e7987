//! One active replica of a service, by a lease in the KV bucket [`LEASES_BUCKET`].
//!
//! The lease is the key `<name>` holding `{holder, acquiredAt, renewedAt}`, written with a
//! per-message TTL (NATS 2.11 `Nats-TTL`). The holder renews it every `ttl / 3` with
//! compare-and-set on the revision it wrote last; a renewal that fails (another writer moved the
//! key, or NATS is unreachable for longer than the TTL) loses the lease at once. A standby tries
//! to create the key every `ttl / 3`; the create succeeds only once the key has expired or been
//! released, so a dead holder is replaced within `ttl + ttl / 3`, under 2 x TTL.
//!
//! The guarantee is the usual one for leases: at most one holder *believes* it holds the lease at
//! any time, as long as clocks advance at the same rate, because a holder that cannot renew
//! gives up after `ttl * 2 / 3` without a successful renewal, before the key can expire. Work done
//! under the lease must still be safe to repeat (every write Miroir makes under it is a
//! compare-and-set), so a paused holder that wakes up late cannot corrupt anything.

use std::time::Duration;

use async_nats::header::{HeaderMap, NATS_EXPECTED_LAST_SUBJECT_SEQUENCE};
use async_nats::jetstream::{self, kv};
use bytes::Bytes;
use miroir_proto::subjects::{LEASES_BUCKET, kv_key_subject};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::kv_mirror;

/// The value of a lease key (JSON, readable with `nats kv get miroir-leases <name>`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LeaseValue {
    pub holder: String,
    pub acquired_at: String,
    pub renewed_at: String,
}

#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error("lease TTL must be at least 1 s (got {0:?})")]
    Ttl(Duration),
    #[error("cannot open the leases bucket: {0}")]
    Open(String),
}

/// A lease to campaign for. [`Lease::run`] keeps campaigning until `shutdown`, and publishes on
/// a watch channel whether this replica holds the lease right now.
pub struct Lease {
    kv: kv::Store,
    js: jetstream::Context,
    name: String,
    holder: String,
    ttl: Duration,
}

/// Open (creating if needed) the leases bucket, with per-message TTLs allowed.
pub async fn open_bucket(js: &jetstream::Context) -> Result<kv::Store, LeaseError> {
    kv_mirror::open_bucket(
        js,
        kv::Config {
            bucket: LEASES_BUCKET.to_string(),
            description: "Miroir leases: the one active replica of a service (JSON, per-key TTL)"
                .into(),
            history: 1,
            limit_markers: Some(Duration::from_secs(1)),
            ..Default::default()
        },
    )
    .await
    .map_err(|e| LeaseError::Open(e.to_string()))
}

impl Lease {
    /// `name`: the lease key (`health-checker`); `holder`: this replica's id, unique per process.
    pub async fn new(
        js: &jetstream::Context,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Self, LeaseError> {
        if ttl < Duration::from_secs(1) {
            return Err(LeaseError::Ttl(ttl));
        }
        let kv = open_bucket(js).await?;
        Ok(Lease {
            kv,
            js: js.clone(),
            name: name.to_string(),
            holder: holder.to_string(),
            ttl,
        })
    }

    /// Campaign until `shutdown`: the receiver says whether this replica is the active one.
    /// On shutdown a held lease is released, so a standby takes over at once.
    pub fn spawn(self, shutdown: CancellationToken) -> watch::Receiver<bool> {
        let (tx, rx) = watch::channel(false);
        tokio::spawn(async move { self.run(tx, shutdown).await });
        rx
    }

    async fn run(self, tx: watch::Sender<bool>, shutdown: CancellationToken) {
        let step = self.ttl / 3;
        // Without a renewal for this long, the holder steps down before the key can expire.
        let give_up_after = self.ttl * 2 / 3;
        let mut held: Option<(u64, String, Instant)> = None;
        loop {
            let now = crate::now_rfc3339();
            held = match held.take() {
                None => match self.create(&now).await {
                    Ok(rev) => {
                        tracing::info!(lease = %self.name, holder = %self.holder, "lease acquired: this replica is active");
                        Some((rev, now, Instant::now()))
                    }
                    Err(_) => None,
                },
                Some((rev, acquired_at, last_ok)) => {
                    match self.renew(rev, &acquired_at, &now).await {
                        Ok(rev) => Some((rev, acquired_at, Instant::now())),
                        Err(RenewError::Lost) => {
                            tracing::warn!(lease = %self.name, holder = %self.holder, "lease taken over by another replica");
                            None
                        }
                        Err(RenewError::Unreachable(e)) if last_ok.elapsed() < give_up_after => {
                            tracing::warn!(lease = %self.name, error = %e, "cannot renew the lease; retrying");
                            Some((rev, acquired_at, last_ok))
                        }
                        Err(RenewError::Unreachable(e)) => {
                            tracing::warn!(lease = %self.name, error = %e, "lease not renewed in time: stepping down");
                            None
                        }
                    }
                }
            };
            let active = held.is_some();
            if *tx.borrow() != active {
                let _ = tx.send(active);
            }
            metrics::gauge!("miroir_lease_held", "lease" => self.name.clone()).set(if active {
                1.0
            } else {
                0.0
            });
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(step) => {}
            }
        }
        if let Some((rev, _, _)) = held {
            let _ = tokio::time::timeout(
                Duration::from_secs(2),
                self.kv.delete_expect_revision(&self.name, Some(rev)),
            )
            .await;
            tracing::info!(lease = %self.name, "lease released");
        }
        let _ = tx.send(false);
    }

    fn value(&self, acquired_at: &str, now: &str) -> Bytes {
        let v = LeaseValue {
            holder: self.holder.clone(),
            acquired_at: acquired_at.to_string(),
            renewed_at: now.to_string(),
        };
        Bytes::from(serde_json::to_vec(&v).unwrap_or_default())
    }

    /// Take the key if it is absent, deleted or expired. Like the KV API's create, but the value
    /// carries the TTL also when it replaces a delete or expiry marker (`create_with_ttl` writes
    /// a marker's replacement without one, which would never expire).
    async fn create(&self, now: &str) -> Result<u64, RenewError> {
        let expected = match self.kv.entry(&self.name).await {
            Ok(None) => 0,
            Ok(Some(e)) if !matches!(e.operation, kv::Operation::Put) => e.revision,
            Ok(Some(_)) => return Err(RenewError::Lost),
            Err(e) => return Err(RenewError::Unreachable(e.to_string())),
        };
        self.put_expecting(expected, now, now).await
    }

    async fn renew(&self, revision: u64, acquired_at: &str, now: &str) -> Result<u64, RenewError> {
        self.put_expecting(revision, acquired_at, now).await
    }

    /// A compare-and-set put with a fresh TTL (the KV API has no public "update with TTL").
    async fn put_expecting(
        &self,
        revision: u64,
        acquired_at: &str,
        now: &str,
    ) -> Result<u64, RenewError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            NATS_EXPECTED_LAST_SUBJECT_SEQUENCE,
            revision.to_string().as_str(),
        );
        // Whole seconds, rounded up: the key must not expire before the holder gives up on it.
        headers.insert(
            "Nats-TTL",
            format!("{}s", self.ttl.as_millis().div_ceil(1000)).as_str(),
        );
        let subject = kv_key_subject(LEASES_BUCKET, &self.name);
        let ack = self
            .js
            .publish_with_headers(subject, headers, self.value(acquired_at, now))
            .await
            .map_err(|e| RenewError::Unreachable(e.to_string()))?;
        match tokio::time::timeout(self.ttl / 3, ack).await {
            Ok(Ok(ack)) => Ok(ack.sequence),
            Ok(Err(e)) if e.kind() == jetstream::context::PublishErrorKind::WrongLastSequence => {
                Err(RenewError::Lost)
            }
            Ok(Err(e)) => Err(RenewError::Unreachable(e.to_string())),
            Err(_) => Err(RenewError::Unreachable("no acknowledgement".into())),
        }
    }
}

enum RenewError {
    Lost,
    Unreachable(String),
}

/// Who holds `name` now, from KV (for status displays and tests).
pub async fn holder(js: &jetstream::Context, name: &str) -> Option<LeaseValue> {
    let kv = open_bucket(js).await.ok()?;
    let entry = kv.entry(name).await.ok()??;
    if !matches!(entry.operation, kv::Operation::Put) {
        return None;
    }
    serde_json::from_slice(&entry.value).ok()
}
