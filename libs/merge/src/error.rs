//! What can go wrong while merging, and how a client sees it.

use miroir_proto::error::MeiliError;

/// A shard answered something the merge cannot use. The client did nothing wrong, so every
/// variant becomes an `internal` Meilisearch error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    #[error("shard answer #{shard} is not a Meilisearch search response: {reason}")]
    NotASearchResponse { shard: usize, reason: String },
}

impl From<MergeError> for MeiliError {
    fn from(e: MergeError) -> Self {
        MeiliError::internal(e.to_string())
    }
}
