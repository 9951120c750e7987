//! Request/reply pairs between services. Each request names its reply type, its service and its
//! operation, so the subject and the decoding of the answer follow from the type alone.
//!
//! Replies travel as an [`Outcome`]: the reply or a Meilisearch-shaped error, in the reply's
//! envelope. Bulky JSON (search answers, documents) travels as raw JSON bytes in [`JsonBody`] so that
//! the gateway can hand it to the client without re-encoding.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::envelope::{Message, ProtoError};
use crate::error::MeiliError;
use crate::subjects::{Service, endpoint};

/// A request with a known reply type, served by one service's queue group.
pub trait Rpc: Message {
    type Reply: Message;
    const SERVICE: Service;
    /// Endpoint name inside the service's group, e.g. `index.create`.
    const OP: &'static str;

    fn subject() -> String {
        endpoint(Self::SERVICE, Self::OP)
    }
}

/// A reply or the error that replaced it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Outcome<T> {
    Ok(T),
    Err(MeiliError),
}

impl<T> From<Result<T, MeiliError>> for Outcome<T> {
    fn from(r: Result<T, MeiliError>) -> Self {
        match r {
            Ok(v) => Outcome::Ok(v),
            Err(e) => Outcome::Err(e),
        }
    }
}

impl<T> From<Outcome<T>> for Result<T, MeiliError> {
    fn from(o: Outcome<T>) -> Self {
        match o {
            Outcome::Ok(v) => Ok(v),
            Outcome::Err(e) => Err(e),
        }
    }
}

#[derive(Serialize)]
struct OutcomeOut<'a, T> {
    v: u16,
    kind: &'a str,
    body: &'a Outcome<T>,
}

#[derive(Deserialize)]
struct OutcomeIn<T> {
    body: Outcome<T>,
}

#[derive(Deserialize)]
struct Header {
    v: u16,
    kind: String,
}

/// Encode a reply (or its error) in the reply type's envelope.
pub fn encode_outcome<T: Message>(outcome: &Outcome<T>) -> Result<Vec<u8>, ProtoError> {
    rmp_serde::to_vec_named(&OutcomeOut {
        v: T::VERSION,
        kind: T::KIND,
        body: outcome,
    })
    .map_err(|e| ProtoError::Encode(e.to_string()))
}

/// Decode a reply (or its error), refusing unknown versions and kinds.
pub fn decode_outcome<T: Message>(bytes: &[u8]) -> Result<Outcome<T>, ProtoError> {
    let header: Header =
        rmp_serde::from_slice(bytes).map_err(|e| ProtoError::Decode(e.to_string()))?;
    if header.kind != T::KIND {
        return Err(ProtoError::WrongKind {
            expected: T::KIND,
            got: header.kind,
        });
    }
    if header.v != T::VERSION {
        return Err(ProtoError::UnsupportedVersion {
            kind: header.kind,
            got: header.v,
            supported: T::VERSION,
        });
    }
    let env: OutcomeIn<T> =
        rmp_serde::from_slice(bytes).map_err(|e| ProtoError::Decode(e.to_string()))?;
    Ok(env.body)
}

macro_rules! message {
    ($ty:ty, $kind:literal, $version:literal) => {
        impl Message for $ty {
            const KIND: &'static str = $kind;
            const VERSION: u16 = $version;
        }
    };
}

macro_rules! rpc {
    ($req:ty => $reply:ty, $service:expr, $op:literal) => {
        impl Rpc for $req {
            type Reply = $reply;
            const SERVICE: Service = $service;
            const OP: &'static str = $op;
        }
    };
}

// Shared with the other `rpc_*` modules of this crate.
pub(crate) use {message, rpc};

// ---------------------------------------------------------------- common replies

/// The answer to every write: Meilisearch's 202 summary of the cluster task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnqueuedTask {
    pub task_uid: u64,
    pub index_uid: Option<String>,
    pub status: String,
    pub task_type: String,
    pub enqueued_at: String,
    /// The client's `?customMetadata=`, echoed in the 202 as a node does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_metadata: Option<String>,
}
message!(EnqueuedTask, "enqueued-task", 1);

/// A JSON document to hand to the client as is (search answer, task, documents...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JsonBody {
    pub body: Bytes,
}
message!(JsonBody, "json-body", 1);

// ---------------------------------------------------------------- router: the write path

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexCreate {
    pub uid: String,
    pub primary_key: Option<String>,
}
message!(IndexCreate, "router.index.create", 1);
rpc!(IndexCreate => EnqueuedTask, Service::Router, "index.create");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexUpdate {
    pub uid: String,
    pub primary_key: Option<String>,
    /// `{"uid": "new"}`: rename the index (its record; the shards keep their node-local names).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_uid: Option<String>,
}
message!(IndexUpdate, "router.index.update", 1);
rpc!(IndexUpdate => EnqueuedTask, Service::Router, "index.update");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexDelete {
    pub uid: String,
}
message!(IndexDelete, "router.index.delete", 1);
rpc!(IndexDelete => EnqueuedTask, Service::Router, "index.delete");

/// Replace whole documents (POST) or merge fields into existing ones (PUT).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WriteMethod {
    Replace,
    Update,
}

/// One chunk of a document batch, spooled by the gateway in the WAL stream. `ndjson` holds whole
/// documents, one JSON object per line, already validated as JSON objects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WalChunk {
    pub batch_id: String,
    pub seq: u32,
    pub documents: u32,
    pub ndjson: Bytes,
}
message!(WalChunk, "wal.chunk", 1);

/// Commit a batch the gateway spooled in the WAL: the router splits it per shard, writes every
/// replica and answers with one cluster task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentsCommit {
    pub index_uid: String,
    pub batch_id: String,
    pub chunks: u32,
    pub documents: u64,
    /// The `?primaryKey=` the client gave, if any.
    pub primary_key: Option<String>,
    pub method: WriteMethod,
    /// The gateway checked, while spooling, that every document has a valid id under this
    /// primary key: when it is the one the router resolves, the router skips its own pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ids_checked: Option<String>,
    /// `?customMetadata=`: kept in the cluster task and shown with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_metadata: Option<String>,
    /// `?skipCreation=true`: existing documents are updated, new ones are not created.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skip_creation: bool,
}
message!(DocumentsCommit, "router.docs.commit", 1);
rpc!(DocumentsCommit => EnqueuedTask, Service::Router, "docs.commit");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum DeleteSelector {
    All,
    /// Document ids as the client sent them (JSON strings or integers, canonicalised).
    Ids(Vec<String>),
    /// The raw JSON of the `filter` field.
    Filter(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentsDelete {
    pub index_uid: String,
    pub selector: DeleteSelector,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_metadata: Option<String>,
}
message!(DocumentsDelete, "router.docs.delete", 1);
rpc!(DocumentsDelete => EnqueuedTask, Service::Router, "docs.delete");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HttpMethod {
    Put,
    Patch,
    Delete,
}

/// A settings change, applied to every shard of the index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SettingsUpdate {
    pub index_uid: String,
    /// `None` for `/settings`, or the sub-route such as `ranking-rules`.
    pub sub_route: Option<String>,
    pub method: HttpMethod,
    /// The JSON body (absent for DELETE).
    pub body: Option<Bytes>,
    /// Accepted as a node accepts it (a node does not show it in settings tasks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_metadata: Option<String>,
}
message!(SettingsUpdate, "router.settings.update", 1);
rpc!(SettingsUpdate => EnqueuedTask, Service::Router, "settings.update");

/// `POST /indexes/{uid}/compact`: every copy of every shard compacts its files, as one task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexCompact {
    pub uid: String,
}
message!(IndexCompact, "router.index.compact", 1);
rpc!(IndexCompact => EnqueuedTask, Service::Router, "index.compact");

/// `GET /experimental-features`: the cluster's switches (kept in KV, applied to every node).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeaturesGet {}
message!(FeaturesGet, "router.features.get", 1);
rpc!(FeaturesGet => JsonBody, Service::Router, "features.get");

/// `PATCH /experimental-features`: the client's JSON object, checked and applied by the router.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeaturesUpdate {
    pub body: Bytes,
}
message!(FeaturesUpdate, "router.features.update", 1);
rpc!(FeaturesUpdate => JsonBody, Service::Router, "features.update");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskGet {
    pub uid: u64,
}
message!(TaskGet, "router.task.get", 1);
rpc!(TaskGet => JsonBody, Service::Router, "task.get");

// ---------------------------------------------------------------- merger: the read path

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Search {
    pub index_uid: String,
    /// The client's search request, a JSON object.
    pub body: Bytes,
    /// How long the caller waits, so the merger can retry other replicas within it.
    pub deadline_ms: u64,
}
message!(Search, "merger.search", 1);
rpc!(Search => JsonBody, Service::Merger, "search");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentGet {
    pub index_uid: String,
    pub document_id: String,
    /// Raw query string (`fields=...`).
    pub query: String,
}
message!(DocumentGet, "merger.docs.get", 1);
rpc!(DocumentGet => JsonBody, Service::Merger, "docs.get");

/// `GET /documents` (converted to a fetch body by the gateway) and `POST /documents/fetch`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentsFetch {
    pub index_uid: String,
    pub body: Bytes,
}
message!(DocumentsFetch, "merger.docs.fetch", 1);
rpc!(DocumentsFetch => JsonBody, Service::Merger, "docs.fetch");

/// `/stats` (no index) or `/indexes/{uid}/stats`, summed over shards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub index_uid: Option<String>,
    /// `showInternalDatabaseSizes=true`: the shards' database sizes, summed per database.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub internal_sizes: bool,
    /// `sizeFormat=human`: every size worded with its unit, from the summed bytes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub human_sizes: bool,
}
message!(Stats, "merger.stats", 1);
rpc!(Stats => JsonBody, Service::Merger, "stats");

/// `POST /indexes/{uid}/fields`: the index's fields with their settings, merged over shards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldsList {
    pub index_uid: String,
    /// The client's JSON body (`offset`, `limit`, `filter`).
    pub body: Bytes,
}
message!(FieldsList, "merger.fields", 1);
rpc!(FieldsList => JsonBody, Service::Merger, "fields");

/// `GET` (converted to a body by the gateway) and `POST /indexes/{uid}/similar`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Similar {
    pub index_uid: String,
    /// The client's JSON body (`id`, `embedder`, `offset`, `limit`, ...).
    pub body: Bytes,
}
message!(Similar, "merger.similar", 1);
rpc!(Similar => JsonBody, Service::Merger, "similar");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SettingsGet {
    pub index_uid: String,
    pub sub_route: Option<String>,
}
message!(SettingsGet, "merger.settings.get", 1);
rpc!(SettingsGet => JsonBody, Service::Merger, "settings.get");

// ---------------------------------------------------------------- framing of replies

/// Header of each part of a reply cut in parts.
///
/// A reply that fits NATS's max payload travels as one message whose payload is the encoded
/// [`Outcome`] itself: no envelope around it, no header, nothing to copy on either side. A larger
/// one is cut into parts sent in order to the requester's inbox, each with this header set to
/// `seq/total` ([`ReplyPart`]); the concatenation of their payloads is the encoded outcome.
pub const REPLY_PART_HEADER: &str = "Miroir-Part";

/// Which part of a reply cut in parts a message carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyPart {
    /// 0-based.
    pub seq: u32,
    /// How many parts the reply has (at least 2).
    pub total: u32,
}

impl ReplyPart {
    /// The value of [`REPLY_PART_HEADER`]: `seq/total`.
    pub fn header_value(&self) -> String {
        format!("{}/{}", self.seq, self.total)
    }

    /// Reads a [`REPLY_PART_HEADER`] value; `None` unless it is `seq/total` with `seq < total`.
    pub fn parse(value: &str) -> Option<ReplyPart> {
        let (seq, total) = value.split_once('/')?;
        let part = ReplyPart {
            seq: seq.parse().ok()?,
            total: total.parse().ok()?,
        };
        (part.seq < part.total).then_some(part)
    }

    pub fn is_last(&self) -> bool {
        self.seq + 1 == self.total
    }
}

#[cfg(test)]
mod framing_tests {
    use super::ReplyPart;

    #[test]
    fn part_headers_round_trip_and_refuse_nonsense() {
        let part = ReplyPart { seq: 2, total: 3 };
        assert_eq!(part.header_value(), "2/3");
        assert_eq!(ReplyPart::parse("2/3"), Some(part));
        assert!(part.is_last());
        assert!(!ReplyPart { seq: 0, total: 3 }.is_last());
        for bad in ["3/3", "1", "a/2", "1/b", "", "/", "-1/2"] {
            assert_eq!(ReplyPart::parse(bad), None, "{bad}");
        }
    }
}
