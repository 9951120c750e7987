//! Node-local index names: where shard `s` of index `books` lives on a node.
//!
//! Scheme: `{index_uid}__s{shard}`, the shard in plain decimal without leading zeros, e.g.
//! `books__s3`. Every shard is its own Meilisearch index on its node, so it is created, copied,
//! counted and dropped as a unit, and one node can hold several shards of the same index.
//!
//! Why this is sound:
//! - **Valid uid.** Meilisearch index uids are 1 to 512 bytes of `[a-zA-Z0-9_-]`; the suffix
//!   adds only `_`, `s` and digits, at most 7 bytes (`__s1023`). Hence a logical index uid must
//!   be at most [`MAX_LOGICAL_INDEX_UID_BYTES`] (505) bytes for its shard names to be valid;
//!   the gateway refuses longer uids (Meilisearch itself would allow up to 512).
//! - **Reversible and injective.** The suffix after the *last* `__s` is all digits, so it can
//!   contain no `__s` itself: splitting at the last `__s` always recovers the pair, even when the
//!   logical uid contains `__s` (`a__s1` shard 2 is `a__s1__s2`). Because every node-local index
//!   carries a suffix, a logical index that happens to be named `books__s3` (node names
//!   `books__s3__sK`) never collides with shard 3 of `books` (`books__s3`).

use crate::ids::{MAX_SHARDS, ShardId};

/// Separator between the logical uid and the shard number.
pub const SHARD_SUFFIX_SEPARATOR: &str = "__s";

/// Meilisearch's limit on an index uid, in bytes.
pub const MAX_INDEX_UID_BYTES: usize = 512;

/// The longest logical index uid whose every shard name is a valid Meilisearch uid:
/// 512 minus the longest suffix, `__s1023`.
pub const MAX_LOGICAL_INDEX_UID_BYTES: usize = MAX_INDEX_UID_BYTES - 7;

/// The node-local index uid of `shard` of the logical index `index_uid` (`books`, 3 ->
/// `books__s3`).
///
/// ```
/// use miroir_placement::{ShardId, parse_shard_index_name, shard_index_name};
/// let shard = ShardId::try_from(3)?;
/// assert_eq!(shard_index_name("books", shard), "books__s3");
/// assert_eq!(parse_shard_index_name("books__s3"), Some(("books", shard)));
/// assert_eq!(parse_shard_index_name("a__s1__s2"), Some(("a__s1", ShardId::try_from(2)?)));
/// # Ok::<(), miroir_placement::InvalidId>(())
/// ```
pub fn shard_index_name(index_uid: &str, shard: ShardId) -> String {
    format!("{index_uid}{SHARD_SUFFIX_SEPARATOR}{shard}")
}

/// The inverse of [`shard_index_name`]: `None` for a name that no valid call could produce
/// (no suffix, empty logical uid, shard with a sign, leading zero or out of range, characters
/// Meilisearch refuses in a uid).
pub fn parse_shard_index_name(name: &str) -> Option<(&str, ShardId)> {
    let (uid, digits) = name.rsplit_once(SHARD_SUFFIX_SEPARATOR)?;
    if uid.is_empty() || !is_index_uid_like(uid) {
        return None;
    }
    let canonical = !digits.is_empty()
        && digits.len() <= 4
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'));
    if !canonical {
        return None;
    }
    let shard: u16 = digits.parse().ok()?;
    if shard >= MAX_SHARDS {
        return None;
    }
    ShardId::new(shard).map(|shard| (uid, shard))
}

fn is_index_uid_like(uid: &str) -> bool {
    uid.len() <= MAX_LOGICAL_INDEX_UID_BYTES
        && uid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}
