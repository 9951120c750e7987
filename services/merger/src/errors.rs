//! The errors a client sees from the read path, beyond the ones nodes word themselves.
//!
//! A node's error message names the node-local shard index (`Index `npm__s2`: ...`); the client
//! only knows `npm`, so every node error is passed through `miroir_cluster::rewrite_shard_names`
//! first (in `fetch.rs`).

use miroir_placement::ShardId;
use miroir_proto::{ErrorCode, MeiliError};

/// Every shard of an index must answer, or none of the answer is given: a search that silently
/// missed a shard would look complete and be wrong.
pub fn shard_unavailable(index_uid: &str, shard: ShardId, detail: &str) -> MeiliError {
    MeiliError::new(
        ErrorCode::ShardUnavailable,
        format!(
            "Shard {shard} of index `{index_uid}` is unavailable: {detail}. Miroir does not answer with part of an index; retry later."
        ),
    )
}

/// No copy of a shard answered within the request's deadline.
pub fn shard_timeout(index_uid: &str, shard: ShardId, millis: u64) -> MeiliError {
    MeiliError::new(
        ErrorCode::ShardTimeout,
        format!(
            "Shard {shard} of index `{index_uid}` did not answer within the request's deadline ({millis} ms)."
        ),
    )
}
