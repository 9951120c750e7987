//! The one crate that owns Miroir's wire: every NATS subject (built by functions from constants,
//! never formatted in a service), every message exchanged between services (MessagePack with named
//! fields inside a versioned envelope), the JSON values kept in JetStream KV, and Meilisearch's
//! error shape that all of them carry back to a client.
//!
//! Versioning rules (see `docs/protocol.md`): a message's `VERSION` is bumped on any change that an
//! older reader would misread; a reader refuses versions it does not know with
//! [`ProtoError::UnsupportedVersion`]; adding an optional field with a default is compatible.

pub mod byte_size;
pub mod envelope;
pub mod error;
pub mod error_code;
pub mod features;
pub mod handoff;
pub mod key_actions;
pub mod migrations;
pub mod rpc;
pub mod rpc_dumps;
pub mod rpc_search;
pub mod rpc_tasks;
pub mod subjects;
pub mod suggest;
pub mod tasks;
pub mod topology;

pub use envelope::{Message, ProtoError, decode, encode};
pub use error::{ErrorType, MeiliError, MeiliErrorBody};
pub use error_code::{Code, ErrorCode};
pub use rpc::{Outcome, Rpc, decode_outcome, encode_outcome};

/// Meilisearch 1.50's built-in ranking rules, as `rankingRules` names them (milli's
/// `Criterion::from_str`); all but `sort` also key a hit's `_rankingScoreDetails`.
pub const RANKING_RULES: &[&str] = &[
    "words",
    "typo",
    "proximity",
    "attribute",
    "attributeRank",
    "wordPosition",
    "sort",
    "exactness",
];

/// Current time as Meilisearch prints it (RFC 3339, nanoseconds, `Z`): every timestamp the
/// services write (tasks, topology) is made here.
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| now.unix_timestamp().to_string())
}

/// How long ago an RFC 3339 timestamp (as [`now_rfc3339`] writes them) was; `None` when it
/// does not parse or is in the future.
pub fn age_of(rfc3339: &str) -> Option<std::time::Duration> {
    let then = time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .ok()?;
    (time::OffsetDateTime::now_utc() - then).try_into().ok()
}
