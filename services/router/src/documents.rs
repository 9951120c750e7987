//! Document batches and deletions.
//!
//! A batch is read from the WAL twice: first to resolve the primary key and check every document's
//! id (so a bad batch fails whole, before any node sees it, as one Meilisearch task does), then to
//! split it per shard and send each shard's part to every copy. The first pass is skipped when
//! the gateway already checked every id under the resolved key while it spooled the batch
//! (`DocumentsCommit::ids_checked`). Per-shard buffers are cut into parts of at most
//! `shard_flush_bytes` (a shard's first parts smaller, see `part_size`), sent while the rest of
//! the batch is read, so memory stays bounded whatever the batch size.

use std::collections::{BTreeMap, HashSet, VecDeque};

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
        let mut buffers: BTreeMap<u16, ShardBuffer> = BTreeMap::new();
        let flush_at = self.config.shard_flush_bytes;
        let method = match req.method {
            WriteMethod::Replace => Method::POST,
            WriteMethod::Update => Method::PUT,
        };
        // Parts for different copies are in flight together; parts for one copy go one after the
        // other, so each copy receives its documents in the batch's order (a later version of a
        // document must land after an earlier one). Each copy goes at its own pace: a busy node
        // does not hold back the next part for the shard's other copy.
        //
        // The sends in flight are driven while the WAL is read, so that a copy gets its first
        // part as soon as it is cut and indexes while the rest of the batch is split. Reading
        // pauses while a part waits for its copy (the previous part there not yet accepted):
        // memory stays bounded by one waiting part per copy on top of the buffers.
        let mut in_flight = futures::stream::FuturesUnordered::new();
        let mut busy: HashSet<(u16, String)> = HashSet::new();
        let mut waiting: VecDeque<Call> = VecDeque::new();
        let wal_ref = WalRef {
            batch_id: req.batch_id.clone(),
            chunks: req.chunks,
            shard_count: record.shard_count,
            primary_key: primary_key.clone(),
        };
        // A stream keeps the read in progress when the select below takes a send's answer first.
        let chunks = futures::stream::unfold(
            wal::BatchReader::new(&self.wal, &req.batch_id, req.chunks),
            |mut reader| async move { reader.next().await.map(|chunk| (chunk, reader)) },
        );
        let mut chunks = std::pin::pin!(chunks);
        let mut finished = false;
        loop {
            // Send what waits, in order: a part stays behind an earlier one for the same copy.
            for call in std::mem::take(&mut waiting) {
                let copy = (call.shard, call.node.clone());
                if busy.contains(&copy) {
                    waiting.push_back(call);
                    continue;
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
            if finished && waiting.is_empty() && in_flight.is_empty() {
                break;
            }
            tokio::select! {
                biased;
                Some((done, results)) = in_flight.next(), if !in_flight.is_empty() => {
                    busy.remove(&done);
                    self.book(&mut task, results, hinted).await?;
                }
                chunk = chunks.next(), if !finished && waiting.is_empty() => {
                    let ready = match chunk {
                        Some(chunk) => split_chunk(
                            &chunk?.ndjson,
                            &primary_key,
                            shards,
                            flush_at,
                            &mut buffers,
                            &req.batch_id,
                        )?,
                        None => {
                            finished = true;
                            std::mem::take(&mut buffers)
                                .into_iter()
                                .filter(|(_, b)| !b.bytes.is_empty())
                                .map(|(s, b)| (s, Bytes::from(b.bytes)))
                                .collect()
                        }
                    };
                    for (shard, body) in ready {
                        waiting.extend(document_calls(
                            &record,
                            shard,
                            &method,
                            &primary_key,
                            req.skip_creation,
                            body,
                            wal_ref.clone(),
                        ));
                    }
                }
                // A waiting part always has a send in flight before it (its copy is busy).
                else => {
                    return Err(MeiliError::internal(format!(
                        "batch {}: parts left waiting with nothing in flight",
                        req.batch_id
                    )));
                }
            }
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

/// Append each document of a WAL chunk to its shard's buffer; the buffers that reach
/// `flush_at` are taken as parts to send.
fn split_chunk(
    ndjson: &[u8],
    primary_key: &str,
    shards: ShardCount,
    flush_at: usize,
    buffers: &mut BTreeMap<u16, ShardBuffer>,
    batch_id: &str,
) -> Result<Vec<(u16, Bytes)>, MeiliError> {
    let mut ready = Vec::new();
    for line in ndjson.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        // Pass 1 checked every id: a line without one now is a WAL that changed under the
        // batch, not something to route to shard 0.
        let shard = miroir_placement::shard_of_json_line(line, primary_key, shards)
            .map(|s| s.get())
            .ok_or_else(|| {
                MeiliError::internal(format!(
                    "batch {batch_id}: a document has no readable `{primary_key}` after the check"
                ))
            })?;
        let buffer = buffers.entry(shard).or_default();
        buffer.bytes.extend_from_slice(line);
        buffer.bytes.push(b'\n');
        if buffer.bytes.len() >= part_size(flush_at, buffer.parts) {
            buffer.parts = buffer.parts.saturating_add(1);
            ready.push((shard, Bytes::from(std::mem::take(&mut buffer.bytes))));
        }
    }
    Ok(ready)
}

/// A shard's documents not sent yet, and how many parts of the batch it was sent already.
#[derive(Default)]
struct ShardBuffer {
    bytes: Vec<u8>,
    parts: u32,
}

/// A shard's first part is cut at 1/16 of `shard_flush_bytes`, each next one twice as large up
/// to it: the shard's copies start indexing after a few hundred kilobytes rather than after
/// the whole `shard_flush_bytes` of every shard was read from the WAL, and a large batch still
/// goes in large parts.
const FIRST_PART_SHIFT: u32 = 4;

fn part_size(flush_at: usize, parts: u32) -> usize {
    (flush_at >> FIRST_PART_SHIFT.saturating_sub(parts)).max(1)
}

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
    fn a_shards_parts_double_up_to_the_flush_size() {
        let mb = 1 << 20;
        let sizes: Vec<usize> = (0..7).map(|p| part_size(4 * mb, p)).collect();
        assert_eq!(
            sizes,
            [mb / 4, mb / 2, mb, 2 * mb, 4 * mb, 4 * mb, 4 * mb],
            "first parts small, then the flush size"
        );
        assert_eq!(part_size(4 * mb, u32::MAX), 4 * mb);
        assert_eq!(part_size(8, 0), 1, "never an empty part");
    }

    #[test]
    fn a_chunk_is_split_by_shard_and_full_buffers_are_cut() {
        let shards = ShardCount::new(2).unwrap();
        let mut buffers = BTreeMap::new();
        let lines: Vec<String> = (0..64)
            .map(|i| format!(r#"{{"id":{i},"pad":"xxxxxxxx"}}"#))
            .collect();
        let ndjson = lines.join("\n");
        // 16 bytes at first, 32 for the second part of a shard, then 64 and up.
        let ready = split_chunk(ndjson.as_bytes(), "id", shards, 256, &mut buffers, "b").unwrap();
        let mut seen: Vec<&[u8]> = Vec::new();
        for (shard, part) in &ready {
            for line in part.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                let expected = miroir_placement::shard_of_json_line(line, "id", shards).unwrap();
                assert_eq!(expected.get(), *shard);
                seen.push(line);
            }
        }
        let first: Vec<usize> = [0u16, 1]
            .iter()
            .filter_map(|s| ready.iter().find(|(r, _)| r == s).map(|(_, p)| p.len()))
            .collect();
        assert!(
            first.iter().all(|&len| len < 64),
            "first parts are small: {first:?}"
        );
        for buffer in buffers.values() {
            for line in buffer
                .bytes
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
            {
                seen.push(line);
            }
        }
        assert_eq!(seen.len(), 64, "every document once");
        let err = split_chunk(b"{\"other\":1}", "id", shards, 256, &mut buffers, "b");
        assert!(
            err.is_err(),
            "a document without its id is an error, not shard 0"
        );
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
