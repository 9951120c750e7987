//! Document -> shard.
//!
//! A document's shard is a pure function of its primary key value and the index's shard count:
//!
//! ```text
//! shard = xxh3_64_with_seed(canonical_bytes(id), DOCUMENT_SHARD_SEED) mod shard_count
//! ```
//!
//! **Canonical bytes.** Meilisearch treats the integer `1` and the string `"1"` as the same
//! document (it stores every external id as a string), so they must land on the same shard or
//! an update sent as `"1"` would create a second copy of document `1` on another shard. The
//! canonical form is therefore the id Meilisearch stores: integers (signed or unsigned, as long
//! as JSON parsed them as integers) in plain decimal, strings as they are. The bytes hashed are
//! the UTF-8 (in fact ASCII) bytes of that string, with no prefix, length or terminator.
//!
//! **Validity** mirrors Meilisearch's `invalid_document_id` rule (milli's
//! `validate_document_id_value`): an integer, or a string of 1 to 511 bytes of
//! `[a-zA-Z0-9_-]`. Floats (even `1.0`), booleans, null, arrays and objects are refused.
//! Negative integers are accepted because Meilisearch accepts them (`-5` is stored as `"-5"`).
//! Meilisearch's code tests `len > 512` but its message says "not more than 511 bytes" and LMDB
//! keys are limited to 511 bytes, so a 512-byte id is refused here rather than failing inside a
//! node later.
//!
//! **Stability.** `DOCUMENT_SHARD_SEED` and the hash function are part of the on-disk format:
//! changing either silently re-homes every document of every index. Golden tests pin exact hash
//! values so that a dependency bump cannot do so unnoticed. The modulo bias of a 64-bit hash
//! over at most 1024 shards is below 2^-53 and is ignored.

use std::fmt;

use serde_json::Value;
use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::ids::{ShardCount, ShardId};

/// Seed of the document -> shard hash: the ASCII bytes `miroir:d` read big-endian.
///
/// Never change this value: every stored document's shard depends on it.
pub const DOCUMENT_SHARD_SEED: u64 = u64::from_be_bytes(*b"miroir:d");

/// Longest valid string document id, in bytes.
pub const MAX_DOCUMENT_ID_BYTES: usize = 511;

/// A primary key value that Meilisearch would accept, in its canonical string form.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PrimaryKeyValue(String);

/// A document id that Meilisearch would refuse with `invalid_document_id` (the router answers
/// it with `miroir_proto::ErrorCode::InvalidDocumentId`; codes live in that one table).
///
/// `Display` is Meilisearch 1.50's exact message, with the offending value rendered as JSON
/// (a string shows its quotes), so the router can return it verbatim.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "Document identifier `{document_id}` is invalid. A document identifier can be of type \
     integer or string, only composed of alphanumeric characters (a-z A-Z 0-9), hyphens (-) and \
     underscores (_), and can not be more than 511 bytes."
)]
pub struct InvalidDocumentId {
    /// The value as the client sent it.
    pub document_id: Value,
}

fn is_valid_string_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_DOCUMENT_ID_BYTES
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl PrimaryKeyValue {
    /// Canonicalise the JSON value of a document's primary key field.
    pub fn from_json(value: &Value) -> Result<Self, InvalidDocumentId> {
        match value {
            Value::String(s) => Self::from_str_id(s),
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    Ok(Self(u.to_string()))
                } else if let Some(i) = n.as_i64() {
                    Ok(Self(i.to_string()))
                } else {
                    Err(InvalidDocumentId {
                        document_id: value.clone(),
                    })
                }
            }
            _ => Err(InvalidDocumentId {
                document_id: value.clone(),
            }),
        }
    }

    /// An id given as text (a URL path segment, a CSV cell, a string JSON value).
    pub fn from_str_id(id: &str) -> Result<Self, InvalidDocumentId> {
        if is_valid_string_id(id) {
            Ok(Self(id.to_owned()))
        } else {
            Err(InvalidDocumentId {
                document_id: Value::String(id.to_owned()),
            })
        }
    }

    /// The canonical form: what Meilisearch stores and what is hashed.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }

    /// The pinned 64-bit hash of the canonical bytes (see the module docs).
    pub fn hash(&self) -> u64 {
        xxh3_64_with_seed(self.0.as_bytes(), DOCUMENT_SHARD_SEED)
    }
}

impl From<u64> for PrimaryKeyValue {
    fn from(id: u64) -> Self {
        Self(id.to_string())
    }
}

impl From<i64> for PrimaryKeyValue {
    fn from(id: i64) -> Self {
        Self(id.to_string())
    }
}

impl fmt::Display for PrimaryKeyValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The shard of one document given as a line of NDJSON (the WAL's form), or `None` when the line
/// is not a JSON object or its primary key is missing or invalid. The router splits batches with
/// this, and the replayer finds a shard's part of a batch again with the same function.
pub fn shard_of_json_line(line: &[u8], primary_key: &str, shards: ShardCount) -> Option<ShardId> {
    let doc: serde_json::Map<String, Value> = serde_json::from_slice(line).ok()?;
    let id = PrimaryKeyValue::from_json(doc.get(primary_key)?).ok()?;
    Some(shard_for_key(&id, shards))
}

/// The shard that holds the document with primary key value `pk`.
pub fn shard_for_key(pk: &PrimaryKeyValue, shards: ShardCount) -> ShardId {
    let shard = pk.hash() % u64::from(shards.get());
    // The remainder is below the shard count, itself at most MAX_SHARDS, so it fits and is valid.
    ShardId(shard as u16)
}
