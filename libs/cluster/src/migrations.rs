//! The migrations bucket ([`MIGRATIONS_BUCKET`]): progress of the shard copies the rebalancer
//! builds. Reporting only: the protocol's state is in the index records.

use std::time::Duration;

use async_nats::jetstream::kv;
use futures::StreamExt;
use miroir_proto::migrations::{MigrationRecord, migration_key};
use miroir_proto::subjects::MIGRATIONS_BUCKET;

use crate::topology::StoreError;

#[derive(Clone)]
pub struct MigrationStore {
    kv: kv::Store,
}

impl MigrationStore {
    /// Open (creating if needed) the bucket. Finished records expire after a day.
    pub async fn open(js: &async_nats::jetstream::Context) -> anyhow::Result<Self> {
        let kv = crate::kv_mirror::open_bucket(
            js,
            kv::Config {
                bucket: MIGRATIONS_BUCKET.to_string(),
                description: "Miroir: shard copies being built by the rebalancer (JSON progress)"
                    .into(),
                history: 1,
                max_age: Duration::from_secs(24 * 3600),
                ..Default::default()
            },
        )
        .await?;
        Ok(MigrationStore { kv })
    }

    pub async fn put(&self, record: &MigrationRecord) -> Result<u64, StoreError> {
        let value = serde_json::to_vec_pretty(record)?;
        self.kv
            .put(
                migration_key(&record.index, record.shard, &record.node),
                value.into(),
            )
            .await
            .map_err(|e| StoreError::Kv(e.to_string()))
    }

    /// Every record (values that do not parse are skipped with a log line).
    pub async fn list(&self) -> Result<Vec<MigrationRecord>, StoreError> {
        let mut keys = self
            .kv
            .keys()
            .await
            .map_err(|e| StoreError::Kv(e.to_string()))?;
        let mut names = Vec::new();
        while let Some(k) = keys.next().await {
            names.push(k.map_err(|e| StoreError::Kv(e.to_string()))?);
        }
        let mut out = Vec::new();
        for k in names {
            match crate::kv_json::read::<MigrationRecord>(&self.kv, &k).await {
                Ok(Some((r, _))) => out.push(r),
                Ok(None) => {}
                Err(e) => tracing::warn!(key = %k, error = %e, "ignoring a migration record"),
            }
        }
        out.sort_by(|a, b| (&a.index, a.shard, &a.node).cmp(&(&b.index, b.shard, &b.node)));
        Ok(out)
    }
}
