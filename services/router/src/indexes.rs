//! Index creation, update and deletion: broadcast to every copy of every shard.
//!
//! A rename (`PATCH /indexes/{uid}` with `{"uid": "new"}`) touches no node: the index record
//! moves to its new key in one atomic KV batch, keeping its storage base, so the shards keep their
//! node-local names (see [`crate::swap`], whose rename it is). Tasks enqueued before it follow the
//! data and name the new uid; the rename task itself keeps the old one, as on a node.

use miroir_proto::rpc::{EnqueuedTask, IndexCreate, IndexDelete, IndexUpdate};
use miroir_proto::rpc_tasks::SwapPair;
use miroir_proto::topology::IndexState;
use miroir_proto::{ErrorCode, MeiliError};
use reqwest::Method;
use serde_json::json;

use crate::Router;
use crate::fanout::json_body;

impl Router {
    pub(crate) async fn index_create(&self, req: IndexCreate) -> Result<EnqueuedTask, MeiliError> {
        let mut task = self
            .new_task(
                Some(&req.uid),
                "indexCreation",
                json!({ "primaryKey": req.primary_key }),
            )
            .await?;
        let record = match self
            .create_index_record(&req.uid, req.primary_key.clone())
            .await
        {
            Ok(r) => r,
            Err(e) if e.status < 500 => return self.fail(task, e).await,
            Err(e) => return Err(e),
        };
        let calls = self.shard_creation_calls(&record);
        self.fan_out(&mut task, calls).await?;
        self.enqueued(&task).await
    }

    pub(crate) async fn index_update(&self, req: IndexUpdate) -> Result<EnqueuedTask, MeiliError> {
        let details = match &req.new_uid {
            Some(new) => {
                json!({ "primaryKey": req.primary_key, "oldIndexUid": req.uid, "newIndexUid": new })
            }
            None => json!({ "primaryKey": req.primary_key }),
        };
        let task = self
            .new_task(Some(&req.uid), "indexUpdate", details)
            .await?;
        let Some((mut record, revision)) = self
            .topology
            .read_index(&req.uid)
            .await
            .map_err(|e| MeiliError::internal(e.to_string()))?
        else {
            return self.fail(task, MeiliError::index_not_found(&req.uid)).await;
        };
        let mut task = task;
        if let Some(new_pk) = &req.primary_key
            && record.primary_key.as_deref() != Some(new_pk.as_str())
        {
            if let Some(old) = &record.primary_key
                && self.index_has_documents(&record).await?
            {
                return self
                    .fail(
                        task,
                        MeiliError::new(
                            ErrorCode::IndexPrimaryKeyAlreadyExists,
                            format!("Index `{}` already has a primary key: `{old}`.", record.uid),
                        ),
                    )
                    .await;
            }
            record.primary_key = Some(new_pk.clone());
        }
        let started = miroir_cluster::now_rfc3339();
        if let Some(new_uid) = &req.new_uid
            && *new_uid != req.uid
        {
            // Checked before the primary key is sent anywhere, so that a refused rename changes
            // nothing; `swap_records` checks it again atomically.
            if self
                .topology
                .read_index(new_uid)
                .await
                .ok()
                .flatten()
                .is_some()
            {
                return self
                    .fail(task, MeiliError::index_already_exists(new_uid))
                    .await;
            }
        }
        record.updated_at = miroir_cluster::now_rfc3339();
        match self.topology.update_index(&record, revision).await {
            Ok(rev) => {
                self.topology
                    .wait_for_revision(rev, std::time::Duration::from_secs(2))
                    .await;
            }
            Err(e) => {
                return Err(MeiliError::internal(format!(
                    "the index changed while it was updated, retry: {e}"
                )));
            }
        }
        let Some(new_uid) = req.new_uid.filter(|n| *n != req.uid) else {
            let body = json!({ "primaryKey": req.primary_key });
            let calls = self.for_every_copy(&record, |name| {
                (
                    Method::PATCH,
                    format!("/indexes/{name}"),
                    Some(json_body(&body)),
                )
            });
            self.fan_out(&mut task, calls).await?;
            return self.enqueued(&task).await;
        };
        if req.primary_key.is_some() {
            // The shards learn the primary key under their own names, which a rename keeps.
            let body = json!({ "primaryKey": req.primary_key });
            let calls = self.for_every_copy(&record, |name| {
                (
                    Method::PATCH,
                    format!("/indexes/{name}"),
                    Some(json_body(&body)),
                )
            });
            self.fan_out(&mut task, calls).await?;
        }
        let pair = [SwapPair {
            lhs: req.uid.clone(),
            rhs: new_uid.clone(),
            rename: true,
        }];
        if let Err(e) = self.swap_records(&pair, task.uid).await {
            let e = if e.code == ErrorCode::IndexAlreadyExists {
                MeiliError::index_already_exists(&new_uid)
            } else {
                e
            };
            return if e.status < 500 {
                self.fail(task, e).await
            } else {
                Err(e)
            };
        }
        self.rename_history(task.uid, &pair).await;
        crate::metrics::index_renamed();
        if task.node_tasks.is_empty() {
            self.settle(&mut task, started);
        }
        self.enqueued(&task).await
    }

    pub(crate) async fn index_delete(&self, req: IndexDelete) -> Result<EnqueuedTask, MeiliError> {
        let task = self
            .new_task(
                Some(&req.uid),
                "indexDeletion",
                json!({ "deletedDocuments": 0 }),
            )
            .await?;
        let Some((mut record, revision)) = self
            .topology
            .read_index(&req.uid)
            .await
            .map_err(|e| MeiliError::internal(e.to_string()))?
        else {
            return self.fail(task, MeiliError::index_not_found(&req.uid)).await;
        };
        let mut task = task;
        // Mark it first so readers stop using it, then delete the shards, then forget it.
        record.state = IndexState::Deleting;
        let revision = self
            .topology
            .update_index(&record, revision)
            .await
            .map_err(|e| {
                MeiliError::internal(format!(
                    "the index changed while it was deleted, retry: {e}"
                ))
            })?;
        let calls = self.for_every_copy(&record, |name| {
            (Method::DELETE, format!("/indexes/{name}"), None)
        });
        self.fan_out(&mut task, calls).await?;
        if let Err(e) = self.topology.delete_index(&record.uid, revision).await {
            tracing::warn!(index = %record.uid, error = %e, "cannot remove the index record");
        }
        self.enqueued(&task).await
    }

    /// Whether any shard of the index holds a document (asks one copy of each shard).
    pub(crate) async fn index_has_documents(
        &self,
        record: &miroir_proto::topology::IndexRecord,
    ) -> Result<bool, MeiliError> {
        let topo = self.topology.current();
        for (s, placement) in record.shards.iter().enumerate() {
            let Some(shard) = miroir_placement::ShardId::new(s as u16) else {
                continue;
            };
            let name = miroir_cluster::shard_name(record, shard);
            for node in &placement.nodes {
                let Some(url) = topo.node_url(node) else {
                    continue;
                };
                if let Ok(stats) = self
                    .nodes
                    .json(url, Method::GET, &format!("/indexes/{name}/stats"), None)
                    .await
                {
                    if stats
                        .get("numberOfDocuments")
                        .and_then(|n| n.as_u64())
                        .unwrap_or(0)
                        > 0
                    {
                        return Ok(true);
                    }
                    break;
                }
            }
        }
        Ok(false)
    }
}
