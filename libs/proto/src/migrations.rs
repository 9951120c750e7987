//! The JSON values of the migrations KV bucket ([`crate::subjects::MIGRATIONS_BUCKET`]): one
//! record per shard copy the rebalancer builds (a new copy, a re-replication or a rebuild in
//! place), keyed `<index>.<shard>.<node>`, for progress displays (`miroirctl migrations`) and
//! metrics. The protocol state itself lives in the index record (`lagging`), so a standby
//! rebalancer resumes from the topology alone; these records only report.

use serde::{Deserialize, Serialize};

/// Where a copy's build is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum MigrationPhase {
    /// Settings and documents are being copied from the source copy.
    Copying,
    /// Copied and verified; the writes it missed meanwhile are being replayed.
    CatchingUp,
    /// A full copy, read like the others.
    Done,
    /// Stopped by an error (retried by the next pass).
    Failed,
}

/// `<index>.<shard>.<node>`: the build of one copy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MigrationRecord {
    pub index: String,
    pub shard: u16,
    /// The node receiving the copy.
    pub node: String,
    /// The node copied from.
    pub source: String,
    pub phase: MigrationPhase,
    /// Documents copied so far, and the source's count when the copy started.
    pub copied: u64,
    pub total: u64,
    pub started_at: String,
    pub updated_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The KV key of a migration record.
pub fn migration_key(index: &str, shard: u16, node: &str) -> String {
    [index, &shard.to_string(), node].join(".")
}
