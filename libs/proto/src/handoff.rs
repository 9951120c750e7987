//! Hinted handoff: the writes a shard copy missed, kept in order in the JetStream stream
//! [`crate::subjects::HANDOFF_STREAM`] (one subject per copy,
//! [`crate::subjects::handoff_subject`]) until its node is back and they are replayed to it.
//!
//! A hint is the node call the copy did not get. Document batches are not copied again: the hint
//! names the batch in the WAL, which keeps it (the router does not purge a batch any hint refers
//! to) for the WAL's max age; the replayer reads the batch and sends the shard's part.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::envelope::Message;

/// What to send to the copy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum HintBody {
    /// No body (`DELETE /indexes/x/documents`).
    Empty,
    /// A small body kept in the hint (settings, deletions, index creation).
    Inline { content_type: String, bytes: Bytes },
    /// The documents of `shard` in the WAL batch `batch_id`, as NDJSON: the replayer reads the
    /// batch, keeps the lines whose primary key hashes to `shard` of `shard_count`.
    WalShard {
        batch_id: String,
        chunks: u32,
        shard_count: u16,
        primary_key: String,
    },
}

/// One write a copy missed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hint {
    /// The cluster task the write belongs to: its node task is recorded there once replayed.
    pub task_uid: Option<u64>,
    /// The client's index uid (logs and metrics).
    pub index_uid: String,
    pub node: String,
    pub shard: u16,
    pub replica: u8,
    /// HTTP method and path (`/indexes/books__s1/documents?primaryKey=id`).
    pub method: String,
    pub path: String,
    pub body: HintBody,
    /// When the write was deferred (RFC 3339), to bound a queue's age.
    pub deferred_at: String,
}
crate::rpc::message!(Hint, "handoff.hint", 1);
