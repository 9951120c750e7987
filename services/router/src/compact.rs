//! `POST /indexes/{uid}/compact`: every copy of every shard compacts its own files; the client
//! sees one `indexCompaction` task whose sizes are the sums over all copies (the disk the index
//! takes in the whole cluster, before and after), derived in [`crate::tasks`].

use miroir_proto::MeiliError;
use miroir_proto::rpc::{EnqueuedTask, IndexCompact};
use reqwest::Method;
use serde_json::json;

use crate::Router;

impl Router {
    pub(crate) async fn index_compact(
        &self,
        req: IndexCompact,
    ) -> Result<EnqueuedTask, MeiliError> {
        let task = self
            .new_task(
                Some(&req.uid),
                "indexCompaction",
                json!({ "preCompactionSize": null, "postCompactionSize": null }),
            )
            .await?;
        let Some((record, _)) = self
            .topology
            .read_index(&req.uid)
            .await
            .map_err(|e| MeiliError::internal(e.to_string()))?
        else {
            return self.fail(task, MeiliError::index_not_found(&req.uid)).await;
        };
        let mut task = task;
        if let Err(e) = self.check_quorum(&record) {
            return self.fail(task, e).await;
        }
        let calls = self.for_every_copy(&record, |name| {
            (Method::POST, format!("/indexes/{name}/compact"), None)
        });
        self.fan_out(&mut task, calls).await?;
        self.enqueued(&task).await
    }
}
