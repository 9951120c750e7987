//! Invariant: the diff between two placements creates exactly the copies the new placement adds,
//! retires exactly the copies it removes (each once), and is empty when nothing changed.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use miroir_placement::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use serde_json::json;

fn id(s: &str) -> NodeId {
    NodeId::new(s).unwrap()
}

fn placement(shards: &[&[&str]]) -> Placement {
    Placement::new(
        shards
            .iter()
            .map(|r| r.iter().map(|n| id(n)).collect())
            .collect(),
    )
    .unwrap()
}

fn shard(n: u16) -> ShardId {
    ShardId::new(n).unwrap()
}

#[test]
fn json_shape() {
    let p = placement(&[&["n1", "n2"], &["n3", "n1"]]);
    let value = serde_json::to_value(&p).unwrap();
    assert_eq!(value, json!({"shards": [["n1", "n2"], ["n3", "n1"]]}));
    assert_eq!(serde_json::from_value::<Placement>(value).unwrap(), p);
    assert!(serde_json::from_value::<Placement>(json!({"shards": [["n1", "n1"]]})).is_err());
    assert!(serde_json::from_value::<Placement>(json!({"shards": [["bad id"]]})).is_err());
    assert!(serde_json::from_value::<Placement>(json!({"shards": [], "x": 1})).is_err());
    let too_many = vec![Vec::<NodeId>::new(); 1025];
    assert!(matches!(
        Placement::new(too_many),
        Err(InvalidPlacement::TooManyShards(1025))
    ));
}

#[test]
fn accessors() {
    let p = placement(&[&["n1", "n2"], &["n3", "n1"]]);
    assert_eq!(p.shard_count(), 2);
    assert_eq!(p.copy_count(), 4);
    assert_eq!(p.replicas(shard(1)), &[id("n3"), id("n1")]);
    assert!(p.replicas(shard(7)).is_empty());
    assert_eq!(p.shards_on(&id("n1")), vec![shard(0), shard(1)]);
    assert!(p.shards_on(&id("n9")).is_empty());
}

#[test]
fn replacement_reorder_growth_and_shrink() {
    let old = placement(&[&["n1", "n2"], &["n2", "n3"], &["n1", "n3"]]);
    let new = placement(&[&["n2", "n1"], &["n2", "n4"], &["n1", "n3", "n4"]]);
    let d = diff(&old, &new);
    assert_eq!(
        d.moves,
        vec![
            Move {
                shard: shard(1),
                from: Some(id("n3")),
                to: id("n4")
            },
            Move {
                shard: shard(2),
                from: None,
                to: id("n4")
            },
        ]
    );
    assert!(d.drops.is_empty());
    assert_eq!(plan_moves(&old, &new), d.moves);

    let back = diff(&new, &old);
    assert_eq!(
        back.moves,
        vec![Move {
            shard: shard(1),
            from: Some(id("n4")),
            to: id("n3")
        }]
    );
    assert_eq!(
        back.drops,
        vec![CopyRef {
            shard: shard(2),
            node: id("n4")
        }]
    );
    assert_eq!(back.retired().len(), 2);
}

#[test]
fn first_placement_is_all_additions_and_removal_all_drops() {
    let p = placement(&[&["n1", "n2"], &["n2"]]);
    let d = diff(&Placement::default(), &p);
    assert_eq!(d.moves.len(), 3);
    assert!(d.moves.iter().all(|m| m.from.is_none()));
    let d = diff(&p, &Placement::default());
    assert!(d.moves.is_empty());
    assert_eq!(d.drops.len(), 3);
    assert!(diff(&p, &p).is_empty());
}

#[test]
fn node_join_plan_only_targets_the_joiner() {
    let ids: Vec<NodeId> = (0..6).map(|i| id(&format!("n{i}"))).collect();
    let infos = |ids: &[NodeId]| ids.iter().cloned().map(NodeInfo::new).collect::<Vec<_>>();
    let rf = ReplicationFactor::new(2).unwrap();
    let shards = ShardCount::new(64).unwrap();
    let old = place_index("books", shards, &infos(&ids[..5]), rf);
    let new = place_index("books", shards, &infos(&ids), rf);
    let d = diff(&old, &new);
    assert!(!d.moves.is_empty());
    assert!(d.drops.is_empty());
    for m in &d.moves {
        assert_eq!(m.to, ids[5]);
        let from = m.from.as_ref().unwrap();
        assert!(old.replicas(m.shard).contains(from));
        assert!(!new.replicas(m.shard).contains(from));
    }
    assert_eq!(d.moves.len(), new.shards_on(&ids[5]).len());
}

fn arb_placement() -> impl Strategy<Value = Placement> {
    prop::collection::vec(prop::collection::btree_set(0u8..8, 0..5), 0..12).prop_map(|shards| {
        Placement::new(
            shards
                .into_iter()
                .map(|s| s.into_iter().map(|n| id(&format!("n{n}"))).collect())
                .collect(),
        )
        .unwrap()
    })
}

fn copies(p: &Placement) -> BTreeSet<(ShardId, NodeId)> {
    p.iter()
        .flat_map(|(s, r)| r.iter().map(move |n| (s, n.clone())))
        .collect()
}

proptest! {
    #![proptest_config(Config {
        cases: 512,
        rng_seed: RngSeed::Fixed(0x5eed_0005),
        failure_persistence: None,
        ..Config::default()
    })]

    #[test]
    fn applying_the_diff_yields_the_new_copies(old in arb_placement(), new in arb_placement()) {
        let d = diff(&old, &new);
        let (before, after) = (copies(&old), copies(&new));
        let created: BTreeSet<_> = d.moves.iter().map(|m| (m.shard, m.to.clone())).collect();
        prop_assert_eq!(created.len(), d.moves.len());
        let retired: Vec<_> = d.retired().into_iter().map(|c| (c.shard, c.node)).collect();
        let retired_set: BTreeSet<_> = retired.iter().cloned().collect();
        prop_assert_eq!(retired_set.len(), retired.len());
        prop_assert_eq!(&created, &after.difference(&before).cloned().collect());
        prop_assert_eq!(&retired_set, &before.difference(&after).cloned().collect());
        // A move only ever swaps copies within one shard, and only pairs when both sides exist.
        for m in &d.moves {
            if let Some(from) = &m.from {
                prop_assert!(old.replicas(m.shard).contains(from));
            }
        }
        prop_assert_eq!(d.is_empty(), before == after);
    }
}
