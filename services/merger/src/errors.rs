//! The errors a client sees from the read path, beyond the ones nodes word themselves.
//!
//! A node's error message names the node-local shard index (`Index `npm__s2`: ...`); the client
//! only knows `npm`, so every node error is passed through [`rewrite_shard_names`] first.

use miroir_placement::{ShardId, parse_shard_index_name};
use miroir_proto::{ErrorType, MeiliError};

/// Every shard of an index must answer, or none of the answer is given: a search that silently
/// missed a shard would look complete and be wrong.
pub fn shard_unavailable(index_uid: &str, shard: ShardId, detail: &str) -> MeiliError {
    MeiliError::legacy(
        503,
        "shard_unavailable",
        ErrorType::System,
        format!(
            "Shard {shard} of index `{index_uid}` is unavailable: {detail}. Miroir does not answer with part of an index; retry later."
        ),
    )
}

/// No copy of a shard answered within the request's deadline.
pub fn shard_timeout(index_uid: &str, shard: ShardId, millis: u64) -> MeiliError {
    MeiliError::legacy(
        504,
        "shard_timeout",
        ErrorType::System,
        format!(
            "Shard {shard} of index `{index_uid}` did not answer within the request's deadline ({millis} ms)."
        ),
    )
}

/// The node's error with every node-local name of `index_uid`'s shards replaced by `index_uid`.
pub fn from_node(mut error: MeiliError, index_uid: &str) -> MeiliError {
    error.message = rewrite_shard_names(&error.message, index_uid);
    error
}

fn is_uid_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// Replace `{index_uid}__s{digits}` (a whole word: no uid character right before or after) with
/// `index_uid`. Other text, including the bare `index_uid` and other indexes' shard names, is
/// left alone.
pub fn rewrite_shard_names(text: &str, index_uid: &str) -> String {
    if index_uid.is_empty() {
        return text.to_owned();
    }
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut from = 0;
    while let Some(found) = text.get(from..).and_then(|rest| rest.find(index_uid)) {
        let start = from + found;
        from = start + 1;
        if start > 0 && bytes.get(start - 1).copied().is_some_and(is_uid_byte) {
            continue;
        }
        let mut end = start + index_uid.len();
        // The shard suffix: `__s` then digits; the name ends where uid characters end.
        while bytes.get(end).copied().is_some_and(is_uid_byte) {
            end += 1;
        }
        let Some(word) = text.get(start..end) else {
            continue;
        };
        match parse_shard_index_name(word) {
            Some((uid, _)) if uid == index_uid => {
                out.push_str(text.get(copied..start).unwrap_or_default());
                out.push_str(index_uid);
                copied = end;
                from = end;
            }
            _ => {}
        }
    }
    out.push_str(text.get(copied..).unwrap_or_default());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_names_become_the_client_uid() {
        let m = "Index `npm__s2`: Attribute `version` is not filterable.\n2:9 \"version\" = \"1\"";
        assert_eq!(
            rewrite_shard_names(m, "npm"),
            "Index `npm`: Attribute `version` is not filterable.\n2:9 \"version\" = \"1\""
        );
        assert_eq!(
            rewrite_shard_names("npm__s12 and npm__s3.", "npm"),
            "npm and npm."
        );
    }

    #[test]
    fn other_words_are_left_alone() {
        assert_eq!(rewrite_shard_names("Index `npm` x", "npm"), "Index `npm` x");
        assert_eq!(
            rewrite_shard_names("`xnpm__s1` `npm__s1x` `npm__s01`", "npm"),
            "`xnpm__s1` `npm__s1x` `npm__s01`"
        );
        assert_eq!(rewrite_shard_names("`books__s1`", "npm"), "`books__s1`");
        // A client uid that itself looks like a shard name.
        assert_eq!(
            rewrite_shard_names("`a__s1__s2` `a__s1`", "a__s1"),
            "`a__s1` `a__s1`"
        );
        assert_eq!(rewrite_shard_names("é npm__s0 ü", "npm"), "é npm ü");
    }
}
