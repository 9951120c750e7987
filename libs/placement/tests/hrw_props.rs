//! Invariant: rendezvous placement is a deterministic function of the node *set*; it returns
//! min(rf, N) distinct nodes by descending score; spreads replicas over min(rf, Z) zones; and
//! when one node joins or leaves, the only copies that move are the ones landing on the joiner
//! or leaving the leaver, about rf*S/(N+1) of them for a join.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeSet, HashSet};

use miroir_placement::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

const S: u16 = 1024;

fn config(cases: u32, seed: u64) -> Config {
    Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        ..Config::default()
    }
}

fn node_ids(min: usize, max: usize) -> impl Strategy<Value = Vec<NodeId>> {
    prop::collection::btree_set("[a-zA-Z0-9_-]{1,16}", min..=max)
        .prop_map(|ids| ids.into_iter().map(|id| NodeId::new(id).unwrap()).collect())
}

/// Nodes with zones `z0..z3` or no zone (code 4), which counts as one more zone.
fn zoned_nodes(min: usize, max: usize) -> impl Strategy<Value = Vec<NodeInfo>> {
    node_ids(min, max).prop_flat_map(|ids| {
        let n = ids.len();
        (Just(ids), prop::collection::vec(0u8..5, n)).prop_map(|(ids, zones)| {
            ids.into_iter()
                .zip(zones)
                .map(|(id, z)| NodeInfo { id, zone: zone(z) })
                .collect()
        })
    })
}

fn zone(code: u8) -> Option<Zone> {
    (code < 4).then(|| Zone::new(format!("z{code}")).unwrap())
}

fn plain(ids: &[NodeId]) -> Vec<NodeInfo> {
    ids.iter().cloned().map(NodeInfo::new).collect()
}

fn rf(n: u8) -> ReplicationFactor {
    ReplicationFactor::new(n).unwrap()
}

fn count(n: u16) -> ShardCount {
    ShardCount::new(n).unwrap()
}

fn set(nodes: &[NodeId]) -> BTreeSet<&NodeId> {
    nodes.iter().collect()
}

fn zone_count(nodes: &[NodeInfo]) -> usize {
    nodes
        .iter()
        .map(|n| n.zone.as_ref())
        .collect::<HashSet<_>>()
        .len()
}

/// Checks that going from `old` to `new` only added `joiner` (at most one copy per shard, each
/// replacing exactly one old copy when the shard was already full) and returns how many shards
/// gained it.
fn moved_onto(old: &Placement, new: &Placement, joiner: &NodeId) -> Result<usize, TestCaseError> {
    let mut moved = 0;
    for ((shard, before), (_, after)) in old.iter().zip(new.iter()) {
        let (b, a) = (set(before), set(after));
        let added: Vec<_> = a.difference(&b).collect();
        let removed: Vec<_> = b.difference(&a).collect();
        prop_assert!(added.len() <= 1, "shard {shard}: {added:?}");
        if let Some(node) = added.first() {
            prop_assert_eq!(**node, joiner);
            moved += 1;
        }
        prop_assert_eq!(added.len() + before.len(), removed.len() + after.len());
    }
    Ok(moved)
}

proptest! {
    #![proptest_config(config(128, 0x5eed_0002))]

    #[test]
    fn deterministic_and_independent_of_node_order(
        (nodes, shuffled) in zoned_nodes(1, 12)
            .prop_flat_map(|n| (Just(n.clone()), Just(n).prop_shuffle())),
        uid in "[a-z0-9_-]{1,12}",
        r in 1u8..=5,
    ) {
        let a = place_index(&uid, count(16), &nodes, rf(r));
        prop_assert_eq!(&a, &place_index(&uid, count(16), &nodes, rf(r)));
        prop_assert_eq!(&a, &place_index(&uid, count(16), &shuffled, rf(r)));
        // Listing a node twice changes nothing either.
        let mut doubled = shuffled.clone();
        doubled.extend(nodes.iter().cloned());
        prop_assert_eq!(&a, &place_index(&uid, count(16), &doubled, rf(r)));
    }

    #[test]
    fn distinct_known_nodes_by_descending_score(
        nodes in zoned_nodes(0, 12), uid in "[a-z]{1,8}", r in 1u8..=6,
    ) {
        let known: HashSet<&NodeId> = nodes.iter().map(|n| &n.id).collect();
        for shard in count(32).shards() {
            let replicas = place(&uid, shard, &nodes, rf(r));
            prop_assert_eq!(replicas.len(), usize::from(r).min(nodes.len()));
            prop_assert_eq!(set(&replicas).len(), replicas.len());
            prop_assert!(replicas.iter().all(|n| known.contains(n)));
            let scores: Vec<u64> = replicas.iter().map(|n| score(&uid, shard, n)).collect();
            prop_assert!(scores.windows(2).all(|w| w[0] >= w[1]));
        }
    }

    #[test]
    fn without_zones_replicas_are_the_top_scores(ids in node_ids(1, 12), r in 1u8..=4) {
        let nodes = plain(&ids);
        for shard in count(16).shards() {
            let mut ranked = ids.clone();
            ranked.sort_by_key(|n| std::cmp::Reverse(score("idx", shard, n)));
            ranked.truncate(usize::from(r));
            prop_assert_eq!(place("idx", shard, &nodes, rf(r)), ranked);
        }
    }

    #[test]
    fn replicas_span_min_rf_z_zones(nodes in zoned_nodes(1, 16), r in 1u8..=5) {
        let zones = zone_count(&nodes);
        for shard in count(64).shards() {
            let replicas = place("zoned", shard, &nodes, rf(r));
            let used: HashSet<_> = replicas
                .iter()
                .map(|id| nodes.iter().find(|n| &n.id == id).map(|n| n.zone.as_ref()))
                .collect();
            prop_assert_eq!(used.len(), usize::from(r).min(zones));
        }
    }
}

proptest! {
    #![proptest_config(config(64, 0x5eed_0003))]

    #[test]
    fn join_moves_only_copies_onto_the_new_node_about_rf_over_n_plus_1(
        ids in node_ids(3, 25), uid in "[a-z]{1,10}", r in 1u8..=3,
    ) {
        let (joiner, rest) = ids.split_last().unwrap();
        let n = rest.len() as f64;
        let old = place_index(&uid, count(S), &plain(rest), rf(r));
        let new = place_index(&uid, count(S), &plain(&ids), rf(r));
        let moved = moved_onto(&old, &new, joiner)? as f64;
        // Each shard gains the joiner with probability p = rf/(N+1): Binomial(S, p).
        let p = (f64::from(r) / (n + 1.0)).min(1.0);
        let mean = f64::from(S) * p;
        let sd = (f64::from(S) * p * (1.0 - p)).sqrt();
        prop_assert!((moved - mean).abs() <= 5.0 * sd + 1.0, "moved {moved}, expected {mean} +- {sd}");
    }

    #[test]
    fn zoned_join_moves_only_copies_onto_the_new_node(
        nodes in zoned_nodes(2, 16), uid in "[a-z]{1,10}", r in 1u8..=4,
    ) {
        let (joiner, rest) = nodes.split_last().unwrap();
        let old = place_index(&uid, count(256), rest, rf(r));
        let new = place_index(&uid, count(256), &nodes, rf(r));
        moved_onto(&old, &new, &joiner.id)?;
    }

    #[test]
    fn leave_moves_only_the_copies_of_the_leaver(
        nodes in zoned_nodes(2, 16), uid in "[a-z]{1,10}", r in 1u8..=4, pick in any::<prop::sample::Index>(),
    ) {
        let gone = pick.get(&nodes).id.clone();
        let rest: Vec<NodeInfo> = nodes.iter().filter(|n| n.id != gone).cloned().collect();
        let old = place_index(&uid, count(256), &nodes, rf(r));
        let new = place_index(&uid, count(256), &rest, rf(r));
        for ((shard, before), (_, after)) in old.iter().zip(new.iter()) {
            if !before.contains(&gone) {
                prop_assert_eq!(before, after, "shard {} changed without the leaver", shard);
                continue;
            }
            let (b, a) = (set(before), set(after));
            let removed: Vec<&NodeId> = b.difference(&a).copied().collect();
            prop_assert_eq!(removed, vec![&gone]);
            let added = a.difference(&b).count();
            prop_assert_eq!(added, usize::from(rest.len() >= usize::from(r)));
        }
    }
}

#[test]
fn join_moves_a_fair_share_over_many_fleets() {
    // Pooled over 60 fleets the band is tight: the pooled fraction of copies moved must be
    // within 2% (relative) of rf/(N+1), and every single fleet within 5 standard deviations.
    for r in 1u8..=3 {
        for n in [3usize, 5, 8, 12, 20] {
            let (mut moved, mut expected) = (0.0, 0.0);
            for fleet in 0..4 {
                let ids: Vec<NodeId> = (0..=n)
                    .map(|i| NodeId::new(format!("f{fleet}-node-{i}")).unwrap())
                    .collect();
                let (joiner, rest) = ids.split_last().unwrap();
                let uid = format!("index{fleet}");
                let old = place_index(&uid, count(S), &plain(rest), rf(r));
                let new = place_index(&uid, count(S), &plain(&ids), rf(r));
                let m = moved_onto(&old, &new, joiner).unwrap() as f64;
                let p = f64::from(r) / (n as f64 + 1.0);
                let sd = (f64::from(S) * p * (1.0 - p)).sqrt();
                assert!(
                    (m - f64::from(S) * p).abs() <= 5.0 * sd,
                    "rf {r} n {n}: {m}"
                );
                moved += m;
                expected += f64::from(S) * p;
            }
            assert!(
                (moved / expected - 1.0).abs() < 0.05,
                "rf {r} n {n}: {moved} vs {expected}"
            );
        }
    }
}

#[test]
fn copies_are_balanced_over_nodes() {
    let ids: Vec<NodeId> = (0..8)
        .map(|i| NodeId::new(format!("node{i}")).unwrap())
        .collect();
    let placement = place_index("books", count(S), &plain(&ids), rf(2));
    assert_eq!(placement.copy_count(), 2 * usize::from(S));
    // Each node holds Binomial(1024, 2/8) copies: mean 256, sd 13.9.
    for id in &ids {
        let held = placement.shards_on(id).len() as f64;
        assert!((held - 256.0).abs() <= 6.0 * 13.9, "{id} holds {held}");
    }
}

#[test]
fn three_zones_rf_three_is_one_copy_per_zone() {
    let nodes: Vec<NodeInfo> = (0..9)
        .map(|i| {
            NodeInfo::in_zone(
                NodeId::new(format!("n{i}")).unwrap(),
                Zone::new(format!("az{}", i % 3)).unwrap(),
            )
        })
        .collect();
    let placement = place_index("books", count(128), &nodes, rf(3));
    for (_, replicas) in placement.iter() {
        let zones: HashSet<_> = replicas
            .iter()
            .map(|id| nodes.iter().find(|n| &n.id == id).unwrap().zone.clone())
            .collect();
        assert_eq!(zones.len(), 3);
    }
}

#[test]
fn no_nodes_means_no_replicas() {
    let placement = place_index("books", count(4), &[], rf(2));
    assert_eq!(placement.shard_count(), 4);
    assert_eq!(placement.copy_count(), 0);
}
