//! What every Miroir service shares at run time: request-reply over NATS with typed messages and
//! replies of any size ([`bus`]), the topology kept in JetStream KV and watched live
//! ([`topology`]), cluster tasks and their uid sequence ([`tasks`]), and the HTTP client that talks
//! to Meilisearch nodes ([`node`]), which both carry the W3C trace context ([`trace`]).

pub mod bus;
pub mod config;
pub mod handoff;
pub mod keys;
pub mod kv_json;
pub mod kv_mirror;
pub mod lease;
pub mod migrations;
pub mod nats_auth;
pub mod node;
pub mod plan;
pub mod runtime;
pub mod shutdown;
pub mod tasks;
pub mod telemetry;
pub mod topology;
pub mod trace;
pub mod wal;
pub mod webhooks;

pub use miroir_proto::now_rfc3339;

/// The node-local index that holds `shard` of the index `record` (`books__s3`). Built from the
/// record's storage base, not its uid: after a swap the two records trade places while their
/// shards keep their names on the nodes. Every service builds shard names through this.
pub fn shard_name(
    record: &miroir_proto::topology::IndexRecord,
    shard: miroir_placement::ShardId,
) -> String {
    miroir_placement::shard_index_name(record.storage_base(), shard)
}

/// Node errors name node-local shard indexes (`books__s3`); a client only ever sees its own index
/// uid. Every error that leaves the cluster about `uid` goes through this: the gateway for the
/// replies of the router and the merger, the router for the errors of finished tasks, the merger
/// for the queries of a multi-search. `base` is the record's [`storage_base`], which differs from
/// `uid` after a swap (`a__s2` holds index `b`).
///
/// Only whole words that are canonical shard names of `base` are replaced (no uid character right
/// before or after, as [`miroir_placement::parse_shard_index_name`] reads them), so `xbooks__s1`,
/// `books__s1x` and other indexes' shards are left alone, and `books__s12` is never half-rewritten.
///
/// [`storage_base`]: miroir_proto::topology::IndexRecord::storage_base
pub fn rewrite_shard_names(
    mut err: miroir_proto::MeiliError,
    base: &str,
    uid: &str,
) -> miroir_proto::MeiliError {
    err.message = rewrite_shard_names_in(&err.message, base, uid);
    err
}

fn is_uid_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

fn rewrite_shard_names_in(text: &str, base: &str, uid: &str) -> String {
    if base.is_empty() || !text.contains(base) {
        return text.to_owned();
    }
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut from = 0;
    while let Some(found) = text.get(from..).and_then(|rest| rest.find(base)) {
        let start = from + found;
        from = start + 1;
        if start > 0 && bytes.get(start - 1).copied().is_some_and(is_uid_byte) {
            continue;
        }
        let mut end = start + base.len();
        while bytes.get(end).copied().is_some_and(is_uid_byte) {
            end += 1;
        }
        let Some(word) = text.get(start..end) else {
            continue;
        };
        if matches!(miroir_placement::parse_shard_index_name(word), Some((b, _)) if b == base) {
            out.push_str(text.get(copied..start).unwrap_or_default());
            out.push_str(uid);
            copied = end;
            from = end;
        }
    }
    out.push_str(text.get(copied..).unwrap_or_default());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use miroir_proto::{ErrorCode, MeiliError};

    fn rewrite(text: &str, base: &str, uid: &str) -> String {
        rewrite_shard_names(
            MeiliError::new(ErrorCode::InvalidSearchFilter, text),
            base,
            uid,
        )
        .message
    }

    #[test]
    fn shard_names_become_the_client_uid() {
        assert_eq!(
            rewrite(
                "Index `npm__s2`: Attribute `version` is not filterable.\n2:9 \"version\" = \"1\"",
                "npm",
                "npm"
            ),
            "Index `npm`: Attribute `version` is not filterable.\n2:9 \"version\" = \"1\""
        );
        assert_eq!(
            rewrite("npm__s12 and npm__s3.", "npm", "npm"),
            "npm and npm."
        );
        assert_eq!(
            rewrite(
                "Index `npm__s2`: x (npm__s12, npm__s2x, xnpm__s1)",
                "npm",
                "npm"
            ),
            "Index `npm`: x (npm, npm__s2x, xnpm__s1)"
        );
    }

    #[test]
    fn after_a_swap_the_storage_base_is_rewritten() {
        assert_eq!(
            rewrite(
                "Index `a__s1`: Attribute `title` is not filterable.",
                "a",
                "b"
            ),
            "Index `b`: Attribute `title` is not filterable."
        );
        assert_eq!(rewrite("Index `b__s1`", "a", "b"), "Index `b__s1`");
    }

    #[test]
    fn other_words_are_left_alone() {
        assert_eq!(rewrite("Index `npm` x", "npm", "npm"), "Index `npm` x");
        assert_eq!(
            rewrite("`xnpm__s1` `npm__s1x` `npm__s01`", "npm", "npm"),
            "`xnpm__s1` `npm__s1x` `npm__s01`"
        );
        assert_eq!(rewrite("`books__s1`", "npm", "npm"), "`books__s1`");
        // A client uid that itself looks like a shard name.
        assert_eq!(
            rewrite("`a__s1__s2` `a__s1`", "a__s1", "a__s1"),
            "`a__s1` `a__s1`"
        );
        assert_eq!(rewrite("é npm__s0 ü", "npm", "npm"), "é npm ü");
        assert_eq!(
            rewrite("Index `npm` not found.", "npm", "npm"),
            "Index `npm` not found."
        );
    }
}
