//! What every Miroir service shares at run time: request-reply over NATS with typed messages and
//! replies of any size ([`bus`]), the topology kept in JetStream KV and watched live
//! ([`topology`]), cluster tasks and their uid sequence ([`tasks`]), and the HTTP client that talks
//! to Meilisearch nodes ([`node`]).

pub mod bus;
pub mod config;
pub mod handoff;
pub mod keys;
pub mod kv_json;
pub mod kv_mirror;
pub mod lease;
pub mod migrations;
pub mod node;
pub mod plan;
pub mod shutdown;
pub mod tasks;
pub mod topology;
pub mod wal;

/// Current time as Meilisearch prints it (RFC 3339, nanoseconds, `Z`).
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    now.format(&time::format_description::well_known::Rfc3339).unwrap_or_else(|_| now.unix_timestamp().to_string())
}

/// The node-local index that holds `shard` of the index `record` (`books__s3`). Built from the
/// record's storage base, not its uid: after a swap the two records trade places while their
/// shards keep their names on the nodes. Every service builds shard names through this.
pub fn shard_name(record: &miroir_proto::topology::IndexRecord, shard: miroir_placement::ShardId) -> String {
    miroir_placement::shard_index_name(record.storage_base(), shard)
}

/// Node errors name the node-local shard index (`npm__s2`); a client must only ever see its own
/// index uid, so every error that leaves the cluster goes through this.
pub fn rewrite_shard_names(mut err: miroir_proto::MeiliError, index_uid: &str, shard_count: u16) -> miroir_proto::MeiliError {
    // Longest names first, so `books__s12` is not half-rewritten by `books__s1`.
    for s in (0..shard_count).rev() {
        if let Some(shard) = miroir_placement::ShardId::new(s) {
            let name = miroir_placement::shard_index_name(index_uid, shard);
            if err.message.contains(&name) {
                err.message = err.message.replace(&name, index_uid);
            }
        }
    }
    err
}
