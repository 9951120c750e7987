//! Settings changes: applied to every copy of every shard, so that all shards of an index always
//! hold the same settings (a score is only comparable between shards whose settings match).
//!
//! The change is first sent to one copy and waited for: a setting the node refuses (400) is the
//! client's error and reaches it synchronously, as with Meilisearch, before any other shard moves.

use miroir_proto::rpc::{EnqueuedTask, HttpMethod, SettingsUpdate};
use miroir_proto::{ErrorCode, MeiliError};
use reqwest::Method;
use serde_json::{Value, json};

use crate::Router;

impl Router {
    pub(crate) async fn settings_update(
        &self,
        req: SettingsUpdate,
    ) -> Result<EnqueuedTask, MeiliError> {
        let body: Option<Value> = match &req.body {
            Some(b) => Some(
                serde_json::from_slice(b).map_err(|e| MeiliError::malformed_payload("json", e))?,
            ),
            None => None,
        };
        let method = match req.method {
            HttpMethod::Put => Method::PUT,
            HttpMethod::Patch => Method::PATCH,
            HttpMethod::Delete => Method::DELETE,
        };
        let suffix = match &req.sub_route {
            Some(sub) => format!("/settings/{sub}"),
            None => "/settings".to_string(),
        };

        let existing = self
            .topology
            .read_index(&req.index_uid)
            .await
            .map_err(|e| MeiliError::internal(e.to_string()))?;
        let mut creation = None;
        let record = match existing {
            Some((r, _)) => r,
            None => {
                // Meilisearch creates a missing index on a settings change.
                let r = match self.create_index_record(&req.index_uid, None).await {
                    Ok(r) => r,
                    Err(e) if e.code == ErrorCode::IndexAlreadyExists => self
                        .topology
                        .read_index(&req.index_uid)
                        .await
                        .ok()
                        .flatten()
                        .map(|(r, _)| r)
                        .ok_or_else(|| {
                            MeiliError::internal(
                                "the index vanished during a settings change, retry",
                            )
                        })?,
                    Err(e) => return Err(e),
                };
                creation = Some(r.clone());
                r
            }
        };
        let payload = body.as_ref().map(crate::fanout::json_body);
        let mut calls = self.for_every_copy(&record, |name| {
            (
                method.clone(),
                format!("/indexes/{name}{suffix}"),
                payload.clone(),
            )
        });
        if calls.is_empty() {
            return Err(MeiliError::internal(
                "the index has no shard copy to change",
            ));
        }

        let details = match (&req.sub_route, &body) {
            (None, Some(b)) => b.clone(),
            (Some(sub), Some(b)) => json!({ camel(sub): b }),
            (None, None) => json!({}),
            (Some(sub), None) => json!({ camel(sub): null }),
        };
        // The probe: one copy first, so a refused setting reaches the client as Meilisearch's 400
        // before any task uid is spent or any other shard moves. (A missing index is created
        // first, so there the shard creations must be enqueued before the probe.)
        let topo = self.topology.current();
        if creation.is_none() {
            self.check_quorum(&record)?;
        }
        // The probe goes to a copy that can take the write now (node not down, copy not behind)
        // and still holds its shard (a settings write would create it).
        let mut probe_at = None;
        for (i, call) in calls.iter().enumerate() {
            let takes_writes = record
                .shards
                .get(usize::from(call.shard))
                .is_some_and(|p| topo.takes_writes(p, &call.node));
            let (Some(node), true) = (
                topo.nodes.get(&call.node),
                takes_writes && call.replica != crate::fanout::INCOMING_REPLICA,
            ) else {
                continue;
            };
            let name = crate::fanout::shard_index_of(&call.path).unwrap_or_default();
            if self.copy_exists(&node.url, name).await {
                probe_at = Some(i);
                break;
            }
        }
        let first = calls.remove(probe_at.unwrap_or(0));
        let url = topo
            .node_url(&first.node)
            .map(str::to_string)
            .unwrap_or_default();
        let refused = |e: miroir_proto::MeiliError| {
            miroir_cluster::rewrite_shard_names(e, record.storage_base(), &record.uid)
        };
        let mut probed = None;
        if creation.is_none() {
            match self
                .nodes
                .send(&url, first.method.clone(), &first.path, first.body.clone())
                .await
            {
                Err(miroir_cluster::node::NodeError::Meili(e)) if e.status < 500 => {
                    return Err(refused(e));
                }
                other => probed = Some(other),
            }
        }
        let mut task = self
            .new_task(Some(&req.index_uid), "settingsUpdate", details)
            .await?;
        if let Some(r) = &creation {
            let create = self.shard_creation_calls(r);
            self.fan_out(&mut task, create).await?;
        }
        let answer = match probed {
            Some(answer) => answer,
            None => {
                self.nodes
                    .send(&url, first.method.clone(), &first.path, first.body.clone())
                    .await
            }
        };
        match answer {
            Ok((_, answer)) => {
                let uid = serde_json::from_slice::<Value>(&answer)
                    .ok()
                    .and_then(|v| v.get("taskUid").and_then(Value::as_u64));
                match uid {
                    Some(uid) => task.node_tasks.push(miroir_proto::tasks::NodeTaskRef {
                        node: first.node.clone(),
                        shard: first.shard,
                        replica: first.replica,
                        task_uid: uid,
                    }),
                    None => {
                        task.fanout_error = Some(
                            MeiliError::internal(
                                "a node accepted a settings change without a task uid",
                            )
                            .body(),
                        )
                    }
                }
            }
            Err(miroir_cluster::node::NodeError::Meili(e)) if e.status < 500 => {
                return Err(refused(e));
            }
            // The probed copy is gone: it gets the change through its handoff queue.
            Err(_) => calls.push(first),
        }
        self.fan_out_to_existing(&mut task, calls).await?;
        self.enqueued(&task).await
    }
}

/// `ranking-rules` -> `rankingRules`.
fn camel(sub_route: &str) -> String {
    let mut out = String::with_capacity(sub_route.len());
    let mut upper = false;
    for c in sub_route.chars() {
        if c == '-' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}
