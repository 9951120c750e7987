//! What can go wrong while merging, and how a client sees it.

use miroir_proto::error::MeiliError;

/// A shard answered something the merge cannot use. The client did nothing wrong, so every
/// variant becomes an `internal` Meilisearch error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    #[error("shard answer #{shard} is not a Meilisearch search response: {reason}")]
    NotASearchResponse { shard: usize, reason: String },
    /// The merge used up every hit of these shards, each asked for less than the window
    /// ([`crate::ShardPlan::spread_over`]) and each returning all it was asked: their next hits
    /// are unknown. [`crate::merge_or_deepen`] hands them to its caller to ask again.
    #[error("the answers of shards {shards:?} ran out before the merge filled its window")]
    ShardsCut { shards: Vec<usize> },
}

impl From<MergeError> for MeiliError {
    fn from(e: MergeError) -> Self {
        MeiliError::internal(e.to_string())
    }
}
