//! Invariant: every newtype refuses what it must (so NodeIds are safe NATS KV key tokens and shard
//! counts are valid divisors), both when built in code and when read from JSON.
#![allow(clippy::unwrap_used)]

use miroir_placement::*;
use serde_json::json;

#[test]
fn shard_count_is_1_to_1024() {
    assert!(ShardCount::new(0).is_none());
    assert_eq!(ShardCount::new(1).unwrap().get(), 1);
    assert_eq!(ShardCount::new(1024).unwrap().get(), 1024);
    assert!(ShardCount::new(1025).is_none());
    assert!(ShardCount::try_from(70_000u64).is_err());
    assert!(serde_json::from_value::<ShardCount>(json!(0)).is_err());
    assert!(serde_json::from_value::<ShardCount>(json!(2000)).is_err());
    assert_eq!(
        serde_json::from_value::<ShardCount>(json!(8))
            .unwrap()
            .get(),
        8
    );
    let four = ShardCount::new(4).unwrap();
    let ids: Vec<u16> = four.shards().map(ShardId::get).collect();
    assert_eq!(ids, [0, 1, 2, 3]);
    assert!(four.contains(ShardId::new(3).unwrap()));
    assert!(!four.contains(ShardId::new(4).unwrap()));
}

#[test]
fn shard_id_is_below_1024() {
    assert!(ShardId::new(1023).is_some());
    assert!(ShardId::new(1024).is_none());
    assert!(serde_json::from_value::<ShardId>(json!(1024)).is_err());
    assert_eq!(
        serde_json::to_value(ShardId::new(5).unwrap()).unwrap(),
        json!(5)
    );
}

#[test]
fn replication_factor_is_at_least_one() {
    assert!(ReplicationFactor::new(0).is_none());
    assert_eq!(ReplicationFactor::new(3).unwrap().get(), 3);
    assert!(ReplicationFactor::try_from(256u64).is_err());
    assert!(serde_json::from_value::<ReplicationFactor>(json!(0)).is_err());
    assert_eq!(ReplicationFactor::ONE.get(), 1);
}

#[test]
fn node_id_is_a_kv_safe_token() {
    for ok in ["n1", "meili-eu-01", "A_b-9", &"x".repeat(64)] {
        assert_eq!(NodeId::new(ok).unwrap().as_str(), ok);
    }
    for bad in ["", "a.b", "a*", "a>", "a b", "a/b", "né", &"x".repeat(65)] {
        assert!(NodeId::new(bad).is_err(), "{bad:?}");
        assert!(serde_json::from_value::<NodeId>(json!(bad)).is_err());
    }
    let n: NodeId = "n-1".parse().unwrap();
    assert_eq!(serde_json::to_value(&n).unwrap(), json!("n-1"));
}

#[test]
fn zone_allows_dots() {
    assert!(Zone::new("eu-west-1a").is_ok());
    assert!(Zone::new("dc1.rack4").is_ok());
    assert!(Zone::new("").is_err());
    assert!(Zone::new("a b").is_err());
    assert!(Zone::new("z".repeat(65)).is_err());
}

#[test]
fn node_info_json_round_trips() {
    let with_zone: NodeInfo = serde_json::from_value(json!({"id": "n1", "zone": "a"})).unwrap();
    assert_eq!(with_zone.zone, Some(Zone::new("a").unwrap()));
    let without: NodeInfo = serde_json::from_value(json!({"id": "n2"})).unwrap();
    assert_eq!(without.zone, None);
    assert_eq!(serde_json::to_value(&without).unwrap(), json!({"id": "n2"}));
    assert!(serde_json::from_value::<NodeInfo>(json!({"id": "bad id"})).is_err());
}
