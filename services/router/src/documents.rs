//! Document batches and deletions.
//!
//! A batch is read from the WAL twice: first to resolve the primary key and check every document's
//! id (so a bad batch fails whole, before any node sees it, as one Meilisearch task does), then to
//! split it per shard and send each shard's part to every copy. The first pass is skipped when
//! the gateway already checked every id under the resolved key while it spooled the batch
//! (`DocumentsCommit::ids_checked`). Per-shard buffers are flushed at
//! `shard_flush_bytes`, so memory stays bounded whatever the batch size.

use std::collections::{BTreeMap, HashSet};

use bytes::Bytes;
use futures::StreamExt;
use miroir_cluster::wal;
use miroir_placement::{PrimaryKeyValue, ShardCount, ShardId, shard_for_key};
use miroir_proto::rpc::{
    DeleteSelector, DocumentsCommit, DocumentsDelete, EnqueuedTask, WriteMethod,
};
use miroir_proto::topology::IndexRecord;
use miroir_proto::{ErrorCode, MeiliError};
use reqwest::Method;
use serde_json::{Map, Value, json};

use crate::Router;
use crate::fanout::{Call, WalRef, copies, json_body};

impl Router {
    pub(crate) async fn documents_commit(
        &self,
        req: DocumentsCommit,
    ) -> Result<EnqueuedTask, MeiliError> {
        let mut hinted = HashSet::new();
        let result = self.commit_batch(&req, &mut hinted).await;
        // A copy that missed the batch replays it from the WAL: keep the batch until the WAL's max
        // age then (the handoff bound is shorter, see the health-checker's repair).
        // The purge is cleanup, not part of the answer: it runs after it, so that a purge that
        // waits out its request timeout (sent as NATS went away) does not hold the client's write.
        if hinted.is_empty() {
            let wal = self.wal.clone();
            let batch_id = req.batch_id;
            tokio::spawn(async move { wal::purge_batch(&wal, &batch_id).await });
        }
        result
    }

    async fn commit_batch(
        &self,
        req: &DocumentsCommit,
        hinted: &mut HashSet<(String, u16)>,
    ) -> Result<EnqueuedTask, MeiliError> {
        let task = self
            .new_task(
                Some(&req.index_uid),
                "documentAdditionOrUpdate",
                json!({ "receivedDocuments": req.documents, "indexedDocuments": null }),
            )
            .await?;
        let mut task = task;
        task.custom_metadata.clone_from(&req.custom_metadata);
        let failed_details = json!({ "receivedDocuments": req.documents, "indexedDocuments": 0 });
        let (record, created) = match self
            .topology
            .read_index(&req.index_uid)
            .await
            .map_err(|e| MeiliError::internal(e.to_string()))?
        {
            Some((r, _)) => (r, false),
            None => match self
                .create_index_record(&req.index_uid, req.primary_key.clone())
                .await
            {
                Ok(r) => (r, true),
                Err(e) if e.code == ErrorCode::IndexAlreadyExists => {
                    match self.topology.read_index(&req.index_uid).await {
                        Ok(Some((r, _))) => (r, false),
                        _ => {
                            return Err(MeiliError::internal(
                                "the index vanished while documents were added, retry",
                            ));
                        }
                    }
                }
                Err(e) => return Err(e),
            },
        };
        if let Err(e) = self.check_quorum(&record) {
            task.details = failed_details;
            return self.fail(task, e).await;
        }
        if created {
            let calls = self.shard_creation_calls(&record);
            self.fan_out(&mut task, calls).await?;
        }

        // Pass 1: the primary key, and every document's id.
        let primary_key = match self.resolve_primary_key(&record, req).await {
            Ok(pk) => pk,
            Err(e) => {
                task.details = failed_details;
                return self.fail(task, e).await;
            }
        };
        // The gateway checked every id while it spooled the batch, under the same key: no need
        // to read the whole batch once more before sending it.
        let vouched = primary_key.is_some() && req.ids_checked == primary_key;
        if vouched {
            crate::metrics::id_check_skipped();
        } else if let Err(e) = self.check_ids(req, primary_key.as_deref()).await {
            task.details = failed_details;
            return self.fail(task, e).await;
        }
        let Some(primary_key) = primary_key else {
            // An empty batch: nothing to send, nothing to infer.
            return self.enqueued(&task).await;
        };
        let record = self.remember_primary_key(record, &primary_key).await?;

        // Pass 2: split per shard and write every copy.
        let shards = ShardCount::new(record.shard_count)
            .ok_or_else(|| MeiliError::internal("invalid shard count in the index record"))?;
        let mut buffers: BTreeMap<u16, Vec<u8>> = BTreeMap::new();
        let flush_at = self.config.shard_flush_bytes;
        let method = match req.method {
            WriteMethod::Replace => Method::POST,
            WriteMethod::Update => Method::PUT,
        };
        // Parts for different copies are in flight together; parts for one copy go one after the
        // other, so each copy receives its documents in the batch's order (a later version of a
        // document must land after an earlier one). Each copy goes at its own pace: a busy node
        // does not hold back the next part for the shard's other copy.
        let mut in_flight = futures::stream::FuturesUnordered::new();
        let mut busy: HashSet<(u16, String)> = HashSet::new();
        let wal_ref = WalRef {
            batch_id: req.batch_id.clone(),
            chunks: req.chunks,
            shard_count: record.shard_count,
            primary_key: primary_key.clone(),
        };
        let mut reader = wal::BatchReader::new(&self.wal, &req.batch_id, req.chunks);
        let mut finished = false;
        while !finished {
            let mut ready: Vec<(u16, Bytes)> = Vec::new();
            match reader.next().await {
                Some(chunk) => {
                    let chunk = chunk?;
                    for line in chunk
                        .ndjson
                        .split(|b| *b == b'\n')
                        .filter(|l| !l.is_empty())
                    {
                        // Pass 1 checked every id: a line without one now is a WAL that changed
                        // under the batch, not something to route to shard 0.
                        let shard = miroir_placement::shard_of_json_line(line, &primary_key, shards)
                            .map(|s| s.get())
                            .ok_or_else(|| {
                                MeiliError::internal(format!(
                                    "batch {}: a document has no readable `{primary_key}` after the check",
                                    req.batch_id
                                ))
                            })?;
                        let buf = buffers.entry(shard).or_default();
                        buf.extend_from_slice(line);
                        buf.push(b'\n');
                        if buf.len() >= flush_at {
                            ready.push((shard, Bytes::from(std::mem::take(buf))));
                        }
                    }
                }
                None => {
                    finished = true;
                    ready.extend(
                        std::mem::take(&mut buffers)
                            .into_iter()
                            .filter(|(_, b)| !b.is_empty())
                            .map(|(s, b)| (s, Bytes::from(b))),
                    );
                }
            }
            for (shard, body) in ready {
                let calls = document_calls(
                    &record,
                    shard,
                    &method,
                    &primary_key,
                    req.skip_creation,
                    body,
                    wal_ref.clone(),
                );
                for call in calls {
                    let copy = (shard, call.node.clone());
                    while busy.contains(&copy) {
                        let Some((done, results)) = in_flight.next().await else {
                            break;
                        };
                        busy.remove(&done);
                        self.book(&mut task, results, hinted).await?;
                    }
                    busy.insert(copy.clone());
                    in_flight.push(async move {
                        (
                            copy,
                            self.send_calls(Some(&req.index_uid), vec![call], true)
                                .await,
                        )
                    });
                }
            }
        }
        while let Some((_, results)) = in_flight.next().await {
            self.book(&mut task, results, hinted).await?;
        }
        self.enqueued(&task).await
    }

    /// The index's primary key, the one the client gave, or the one inferred from the first
    /// document, with Meilisearch's errors.
    async fn resolve_primary_key(
        &self,
        record: &IndexRecord,
        req: &DocumentsCommit,
    ) -> Result<Option<String>, MeiliError> {
        match (&record.primary_key, &req.primary_key) {
            (Some(existing), Some(asked)) if existing != asked => Err(MeiliError::new(
                ErrorCode::IndexPrimaryKeyAlreadyExists,
                format!(
                    "Index `{}` already has a primary key: `{existing}`.",
                    record.uid
                ),
            )),
            (Some(existing), _) => Ok(Some(existing.clone())),
            (None, Some(asked)) => Ok(Some(asked.clone())),
            (None, None) => {
                if req.chunks == 0 || req.documents == 0 {
                    return Ok(None);
                }
                let mut first: Option<Map<String, Value>> = None;
                wal::read_batch(&self.wal, &req.batch_id, 1, |chunk| {
                    if let Some(line) = chunk.ndjson.split(|b| *b == b'\n').find(|l| !l.is_empty())
                    {
                        first = serde_json::from_slice(line).ok();
                    }
                    async { Ok(()) }
                })
                .await?;
                let doc = first.ok_or_else(|| {
                    MeiliError::internal("the first document of the batch is unreadable")
                })?;
                infer_primary_key(&doc).map(Some)
            }
        }
    }

    /// Every document must carry a valid id, or the whole batch fails before any write.
    async fn check_ids(
        &self,
        req: &DocumentsCommit,
        primary_key: Option<&str>,
    ) -> Result<(), MeiliError> {
        let Some(pk) = primary_key else { return Ok(()) };
        wal::read_batch(&self.wal, &req.batch_id, req.chunks, |chunk| {
            let mut result = Ok(());
            for line in chunk
                .ndjson
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
            {
                let doc: Map<String, Value> = match serde_json::from_slice(line) {
                    Ok(d) => d,
                    Err(e) => {
                        result = Err(MeiliError::malformed_payload("json", e));
                        break;
                    }
                };
                match doc.get(pk) {
                    None => {
                        result = Err(MeiliError::new(
                            ErrorCode::MissingDocumentId,
                            format!(
                                "Document doesn't have a `{pk}` attribute: `{}`.",
                                Value::Object(doc.clone())
                            ),
                        ));
                        break;
                    }
                    Some(id) => {
                        if let Err(e) = PrimaryKeyValue::from_json(id) {
                            result =
                                Err(MeiliError::new(ErrorCode::InvalidDocumentId, e.to_string()));
                            break;
                        }
                    }
                }
            }
            async move { result }
        })
        .await
    }

    /// Store a newly resolved primary key in the index record (compare-and-set, retried).
    async fn remember_primary_key(
        &self,
        record: IndexRecord,
        pk: &str,
    ) -> Result<IndexRecord, MeiliError> {
        if record.primary_key.as_deref() == Some(pk) {
            return Ok(record);
        }
        for _ in 0..16 {
            let Some((mut current, rev)) = self
                .topology
                .read_index(&record.uid)
                .await
                .map_err(|e| MeiliError::internal(e.to_string()))?
            else {
                return Err(MeiliError::index_not_found(&record.uid));
            };
            if let Some(existing) = &current.primary_key {
                if existing != pk {
                    return Err(MeiliError::new(
                        ErrorCode::IndexPrimaryKeyAlreadyExists,
                        format!(
                            "Index `{}` already has a primary key: `{existing}`.",
                            record.uid
                        ),
                    ));
                }
                return Ok(current);
            }
            current.primary_key = Some(pk.to_string());
            current.updated_at = miroir_cluster::now_rfc3339();
            if let Ok(rev) = self.topology.update_index(&current, rev).await {
                self.topology
                    .wait_for_revision(rev, std::time::Duration::from_secs(2))
                    .await;
                return Ok(current);
            }
        }
        Err(MeiliError::internal(
            "could not record the primary key: too many concurrent changes",
        ))
    }

    pub(crate) async fn documents_delete(
        &self,
        req: DocumentsDelete,
    ) -> Result<EnqueuedTask, MeiliError> {
        let record = self
            .topology
            .read_index(&req.index_uid)
            .await
            .map_err(|e| MeiliError::internal(e.to_string()))?;
        let (details, make_calls): (Value, CallMaker<'_>) = match &req.selector {
            DeleteSelector::All => (
                json!({ "deletedDocuments": null }),
                Box::new(|r: &IndexRecord| {
                    self.for_every_copy(r, |n| {
                        (Method::DELETE, format!("/indexes/{n}/documents"), None)
                    })
                }),
            ),
            DeleteSelector::Filter(filter) => {
                let filter_value: Value =
                    serde_json::from_str(filter).unwrap_or(Value::String(filter.clone()));
                let body = json!({ "filter": filter_value });
                (
                    json!({ "providedIds": 0, "deletedDocuments": null, "originalFilter": filter }),
                    Box::new(move |r: &IndexRecord| {
                        self.for_every_copy(r, |n| {
                            (
                                Method::POST,
                                format!("/indexes/{n}/documents/delete"),
                                Some(json_body(&body)),
                            )
                        })
                    }),
                )
            }
            DeleteSelector::Ids(ids) => {
                let ids = ids.clone();
                (
                    json!({ "providedIds": ids.len(), "deletedDocuments": null, "originalFilter": null }),
                    Box::new(move |r: &IndexRecord| delete_ids_calls(r, &ids)),
                )
            }
        };
        let mut task = self
            .new_task(Some(&req.index_uid), "documentDeletion", details)
            .await?;
        task.custom_metadata.clone_from(&req.custom_metadata);
        let Some((record, _)) = record else {
            return self
                .fail(task, MeiliError::index_not_found(&req.index_uid))
                .await;
        };
        if let Err(e) = self.check_quorum(&record) {
            return self.fail(task, e).await;
        }
        let calls = make_calls(&record);
        self.fan_out(&mut task, calls).await?;
        self.enqueued(&task).await
    }
}

/// Builds the node calls of a deletion for the index record read when it runs.
type CallMaker<'a> = Box<dyn Fn(&IndexRecord) -> Vec<Call> + Send + Sync + 'a>;

fn document_calls(
    record: &IndexRecord,
    shard: u16,
    method: &Method,
    primary_key: &str,
    skip_creation: bool,
    body: Bytes,
    wal: WalRef,
) -> Vec<Call> {
    let Some(shard_id) = ShardId::new(shard) else {
        return Vec::new();
    };
    let Some(placement) = record.shards.get(usize::from(shard)) else {
        return Vec::new();
    };
    let name = miroir_cluster::shard_name(record, shard_id);
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair("primaryKey", primary_key);
    // Each copy skips the documents it does not hold: a document lives on one shard only.
    if skip_creation {
        query.append_pair("skipCreation", "true");
    }
    let query = query.finish();
    copies(placement)
        .map(|(node, replica)| Call {
            node: node.to_string(),
            shard,
            replica,
            method: method.clone(),
            path: format!("/indexes/{name}/documents?{query}"),
            body: Some(("application/x-ndjson", body.clone())),
            wal: Some(wal.clone()),
        })
        .collect()
}

fn delete_ids_calls(record: &IndexRecord, ids: &[String]) -> Vec<Call> {
    let Some(shards) = ShardCount::new(record.shard_count) else {
        return Vec::new();
    };
    let mut per_shard: BTreeMap<u16, Vec<&str>> = BTreeMap::new();
    for id in ids {
        // An id Meilisearch would refuse cannot be stored anywhere: let shard 0's node word the error.
        let shard = PrimaryKeyValue::from_str_id(id)
            .map(|k| shard_for_key(&k, shards).get())
            .unwrap_or(0);
        per_shard.entry(shard).or_default().push(id);
    }
    let mut calls = Vec::new();
    for (shard, ids) in per_shard {
        let (Some(shard_id), Some(placement)) =
            (ShardId::new(shard), record.shards.get(usize::from(shard)))
        else {
            continue;
        };
        let name = miroir_cluster::shard_name(record, shard_id);
        let body = json_body(&json!(ids));
        for (node, replica) in copies(placement) {
            calls.push(Call {
                node: node.to_string(),
                shard,
                replica,
                method: Method::POST,
                path: format!("/indexes/{name}/documents/delete-batch"),
                body: Some(body.clone()),
                wal: None,
            });
        }
    }
    calls
}

/// Meilisearch's inference: the one field whose name ends with `id`.
pub(crate) fn infer_primary_key(doc: &Map<String, Value>) -> Result<String, MeiliError> {
    let candidates: Vec<&String> = doc
        .keys()
        .filter(|k| k.to_ascii_lowercase().ends_with("id"))
        .collect();
    match candidates.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(MeiliError::new(
            ErrorCode::IndexPrimaryKeyNoCandidateFound,
            "The primary key inference failed as the engine did not find any field ending with `id` in its name. Please specify the primary key manually using the `primaryKey` query parameter.",
        )),
        many => {
            let quoted: Vec<String> = many.iter().map(|k| format!("'{k}'")).collect();
            let listed = match quoted.split_last() {
                Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
                _ => quoted.join(""),
            };
            Err(MeiliError::new(
                ErrorCode::IndexPrimaryKeyMultipleCandidatesFound,
                format!(
                    "The primary key inference failed as the engine found {} fields ending with `id` in their names: {listed}. Please specify the primary key manually using the `primaryKey` query parameter.",
                    many.len()
                ),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn doc(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn inference_matches_the_recordings() {
        assert_eq!(
            infer_primary_key(&doc(json!({"id": 1, "title": "x"}))).unwrap(),
            "id"
        );
        let e = infer_primary_key(&doc(json!({"name": "x"}))).unwrap_err();
        assert_eq!(e.code, "index_primary_key_no_candidate_found");
        let e = infer_primary_key(&doc(json!({"id": 1, "uid": 2, "name": "x"}))).unwrap_err();
        assert_eq!(
            e.message,
            "The primary key inference failed as the engine found 2 fields ending with `id` in their names: 'id' and 'uid'. Please specify the primary key manually using the `primaryKey` query parameter."
        );
    }
}
