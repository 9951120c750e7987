//! Invariant: document ids spread uniformly over shards (chi-square over 100k keys, for
//! sequential integers, string ids and the real npm corpus), and an integer id and its decimal
//! string always share a shard.
#![allow(clippy::unwrap_used)]

use miroir_placement::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use serde_json::{Value, json};

fn count(n: u16) -> ShardCount {
    ShardCount::new(n).unwrap()
}

/// Pearson's chi-square statistic of `keys` over `shards` against the uniform distribution,
/// checked against mean + 6 standard deviations of the chi-square law (dof = shards - 1), a bound
/// a fair hash exceeds with probability far below 1e-6.
fn assert_uniform(keys: impl Iterator<Item = PrimaryKeyValue>, shards: u16) {
    let mut counts = vec![0u64; usize::from(shards)];
    let mut total = 0u64;
    for key in keys {
        counts[shard_for_key(&key, count(shards)).index()] += 1;
        total += 1;
    }
    let expected = total as f64 / f64::from(shards);
    let chi2: f64 = counts
        .iter()
        .map(|&c| (c as f64 - expected).powi(2) / expected)
        .sum();
    let dof = f64::from(shards) - 1.0;
    let bound = dof + 6.0 * (2.0 * dof).sqrt();
    assert!(
        chi2 <= bound,
        "{shards} shards: chi2 {chi2:.1} > {bound:.1}"
    );
}

#[test]
fn sequential_integer_ids_are_uniform() {
    for shards in [4, 7, 64, 1024] {
        assert_uniform((0..100_000u64).map(PrimaryKeyValue::from), shards);
    }
}

#[test]
fn string_ids_are_uniform() {
    for shards in [3, 16, 100] {
        assert_uniform(
            (0..100_000u32).map(|i| PrimaryKeyValue::from_str_id(&format!("doc-{i}")).unwrap()),
            shards,
        );
        assert_uniform(
            (0..100_000u32).map(|i| PrimaryKeyValue::from_str_id(&format!("{i:08x}")).unwrap()),
            shards,
        );
    }
}

#[test]
fn npm_corpus_ids_are_uniform_over_four_shards() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../testkit/fixtures/npm-10k.ndjson"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let keys: Vec<PrimaryKeyValue> = text
        .lines()
        .map(|line| {
            let doc: Value = serde_json::from_str(line).unwrap();
            PrimaryKeyValue::from_json(&doc["id"]).unwrap()
        })
        .collect();
    assert_eq!(keys.len(), 10_000);
    assert_uniform(keys.into_iter(), 4);
}

proptest! {
    #![proptest_config(Config {
        cases: 1024,
        rng_seed: RngSeed::Fixed(0x5eed_0004),
        failure_persistence: None,
        ..Config::default()
    })]

    #[test]
    fn unsigned_integer_and_string_share_a_shard(n in any::<u64>(), shards in 1u16..=1024) {
        let a = PrimaryKeyValue::from_json(&json!(n)).unwrap();
        let b = PrimaryKeyValue::from_json(&json!(n.to_string())).unwrap();
        prop_assert_eq!(shard_for_key(&a, count(shards)), shard_for_key(&b, count(shards)));
    }

    #[test]
    fn signed_integer_and_string_share_a_shard(n in any::<i64>(), shards in 1u16..=1024) {
        let a = PrimaryKeyValue::from_json(&json!(n)).unwrap();
        let b = PrimaryKeyValue::from_json(&json!(n.to_string())).unwrap();
        prop_assert_eq!(&a, &b);
        prop_assert_eq!(shard_for_key(&a, count(shards)), shard_for_key(&b, count(shards)));
    }

    #[test]
    fn shard_is_in_range(id in "[a-zA-Z0-9_-]{1,64}", shards in 1u16..=1024) {
        let pk = PrimaryKeyValue::from_str_id(&id).unwrap();
        prop_assert!(count(shards).contains(shard_for_key(&pk, count(shards))));
    }

    #[test]
    fn valid_strings_are_accepted_unchanged(id in "[a-zA-Z0-9_-]{1,511}") {
        let pk = PrimaryKeyValue::from_json(&json!(id.clone())).unwrap();
        prop_assert_eq!(pk.as_str(), id.as_str());
    }

    #[test]
    fn strings_with_other_characters_are_refused(
        head in "[a-z]{0,5}", bad in "[^a-zA-Z0-9_-]", tail in "[a-z]{0,5}",
    ) {
        let id = format!("{head}{bad}{tail}");
        prop_assert!(PrimaryKeyValue::from_json(&json!(id)).is_err());
    }

    #[test]
    fn floats_are_refused(x in any::<f64>()) {
        // Finite floats become JSON numbers that are not integers; non-finite ones become null.
        prop_assert!(PrimaryKeyValue::from_json(&json!(x)).is_err());
    }
}
