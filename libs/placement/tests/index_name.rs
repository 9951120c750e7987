//! Invariant: a shard's node-local index name is a valid Meilisearch uid and maps back to exactly
//! the (logical uid, shard) it came from; nothing else parses.
#![allow(clippy::unwrap_used)]

use miroir_placement::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

fn shard(n: u16) -> ShardId {
    ShardId::new(n).unwrap()
}

#[test]
fn scheme_examples() {
    assert_eq!(shard_index_name("books", shard(3)), "books__s3");
    assert_eq!(shard_index_name("books", shard(0)), "books__s0");
    assert_eq!(shard_index_name("b", shard(1023)), "b__s1023");
    assert_eq!(
        parse_shard_index_name("books__s3"),
        Some(("books", shard(3)))
    );
    // The logical uid may itself look like a shard name.
    assert_eq!(
        parse_shard_index_name("books__s3__s0"),
        Some(("books__s3", shard(0)))
    );
    assert_eq!(parse_shard_index_name("a__s__s2"), Some(("a__s", shard(2))));
}

#[test]
fn non_shard_names_do_not_parse() {
    for bad in [
        "books",
        "books__s",
        "__s3",
        "books__s03",
        "books__s1024",
        "books__s+1",
        "books__s-1",
        "books__s3a",
        "books__sx",
        "bad uid__s1",
        "books_s3",
        "books__s99999",
    ] {
        assert_eq!(parse_shard_index_name(bad), None, "{bad}");
    }
    let longest = "u".repeat(MAX_LOGICAL_INDEX_UID_BYTES);
    let name = shard_index_name(&longest, shard(1023));
    assert_eq!(name.len(), MAX_INDEX_UID_BYTES);
    assert!(parse_shard_index_name(&name).is_some());
    let too_long = format!("{longest}u__s1");
    assert_eq!(parse_shard_index_name(&too_long), None);
}

proptest! {
    #![proptest_config(Config {
        cases: 512,
        rng_seed: RngSeed::Fixed(0x5eed_0001),
        failure_persistence: None,
        ..Config::default()
    })]

    #[test]
    fn round_trips_and_is_a_valid_uid(uid in "[a-zA-Z0-9_-]{1,505}", s in 0u16..1024) {
        let name = shard_index_name(&uid, shard(s));
        prop_assert!(name.len() <= MAX_INDEX_UID_BYTES);
        prop_assert!(name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        prop_assert_eq!(parse_shard_index_name(&name), Some((uid.as_str(), shard(s))));
    }

    #[test]
    fn distinct_pairs_give_distinct_names(
        a in "[a-z_]{1,8}", sa in 0u16..1024, b in "[a-z_]{1,8}", sb in 0u16..1024,
    ) {
        prop_assume!((a.as_str(), sa) != (b.as_str(), sb));
        prop_assert_ne!(shard_index_name(&a, shard(sa)), shard_index_name(&b, shard(sb)));
    }

    #[test]
    fn parse_never_panics_and_only_accepts_canonical_names(
        name in prop_oneof!["[a-z_0-9s]{0,20}", "[a-z_]{0,6}__s[0-9+-]{0,5}"],
    ) {
        if let Some((uid, s)) = parse_shard_index_name(&name) {
            prop_assert_eq!(shard_index_name(uid, s), name);
        }
    }
}
