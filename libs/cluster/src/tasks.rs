//! Cluster tasks in the JetStream KV bucket `miroir-tasks`: the uid sequence and one JSON record
//! per task ([`ClusterTask`]). Uids are allocated with compare-and-set on the `seq` key, so any
//! number of routers hand out distinct, increasing integers, as SDKs expect of Meilisearch.

use std::time::Duration;

use async_nats::jetstream::kv;
use miroir_proto::subjects::{TASK_KEY_PREFIX, TASK_SEQ_KEY, TASKS_BUCKET, task_key};
use miroir_proto::tasks::ClusterTask;

use crate::topology::StoreError;

#[derive(Clone)]
pub struct TaskStore {
    kv: kv::Store,
}

impl TaskStore {
    pub async fn open(js: &async_nats::jetstream::Context) -> anyhow::Result<Self> {
        let kv = crate::kv_mirror::open_bucket(
            js,
            kv::Config {
                bucket: TASKS_BUCKET.to_string(),
                description: "Miroir cluster tasks (JSON) and their uid sequence".into(),
                history: 1,
                ..Default::default()
            },
        )
        .await?;
        Ok(TaskStore { kv })
    }

    /// Allocate the next task uid (0, 1, 2, ...), racing safely with other allocators.
    pub async fn next_uid(&self) -> Result<u64, StoreError> {
        for attempt in 0..64u32 {
            let entry = self
                .kv
                .entry(TASK_SEQ_KEY)
                .await
                .map_err(|e| StoreError::Kv(e.to_string()))?;
            let result = match entry {
                Some(e) if matches!(e.operation, kv::Operation::Put) => {
                    // A sequence that does not parse (a bad hand edit) must not restart the
                    // uids at 1 and overwrite tasks: refuse to allocate until it is fixed.
                    let Some(last) = std::str::from_utf8(&e.value)
                        .ok()
                        .and_then(|s| s.trim().parse::<u64>().ok())
                    else {
                        return Err(StoreError::Invalid(format!(
                            "the task sequence `{TASK_SEQ_KEY}` holds `{}`, not a number: fix it with `nats kv put {TASKS_BUCKET} {TASK_SEQ_KEY} <last uid>`",
                            String::from_utf8_lossy(&e.value)
                        )));
                    };
                    let next = last + 1;
                    self.kv
                        .update(TASK_SEQ_KEY, next.to_string().into(), e.revision)
                        .await
                        .map(|_| next)
                        .map_err(|e| e.to_string())
                }
                _ => self
                    .kv
                    .create(TASK_SEQ_KEY, "0".into())
                    .await
                    .map(|_| 0)
                    .map_err(|e| e.to_string()),
            };
            match result {
                Ok(uid) => return Ok(uid),
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(u64::from(attempt.min(10)))).await
                }
            }
        }
        Err(StoreError::Conflict(TASK_SEQ_KEY.to_string()))
    }

    /// Store a task record (its uid is its own: no other writer creates it).
    pub async fn put(&self, task: &ClusterTask) -> Result<u64, StoreError> {
        let value = serde_json::to_vec(task)?;
        self.kv
            .put(task_key(task.uid), value.into())
            .await
            .map_err(|e| StoreError::Kv(e.to_string()))
    }

    /// Replace a task record read at `revision`.
    pub async fn update(&self, task: &ClusterTask, revision: u64) -> Result<u64, StoreError> {
        crate::kv_json::update(&self.kv, &task_key(task.uid), task, revision).await
    }

    pub async fn get(&self, uid: u64) -> Result<Option<(ClusterTask, u64)>, StoreError> {
        crate::kv_json::read(&self.kv, &task_key(uid)).await
    }

    /// The highest allocated uid, if any task exists.
    pub async fn last_uid(&self) -> Result<Option<u64>, StoreError> {
        match self
            .kv
            .get(TASK_SEQ_KEY)
            .await
            .map_err(|e| StoreError::Kv(e.to_string()))?
        {
            Some(v) => Ok(std::str::from_utf8(&v)
                .ok()
                .and_then(|s| s.trim().parse().ok())),
            None => Ok(None),
        }
    }

    /// Delete a task record.
    pub async fn delete(&self, uid: u64) -> Result<(), StoreError> {
        self.kv
            .delete(task_key(uid))
            .await
            .map_err(|e| StoreError::Kv(e.to_string()))
    }

    pub fn key_prefix() -> &'static str {
        TASK_KEY_PREFIX
    }
}
