//! Invariant: the document -> shard hash and the placement score are pinned forever. These
//! values were computed with the reference C implementation of XXH3 (libxxhash 0.8.1,
//! `XXH3_64bits_withSeed`), not with this crate, so a dependency bump or a change in the
//! canonical encoding that would silently re-home documents or shards fails here.
#![allow(clippy::unwrap_used)]

use miroir_placement::*;
use serde_json::{Value, json};

/// (primary key value, xxh3 of its canonical bytes, shard with 4 / 7 / 64 shards)
fn document_table() -> Vec<(Value, u64, u16, u16, u16)> {
    vec![
        (json!(0_u64), 6053134218310458174, 2, 0, 62),
        (json!(1_u64), 16757690880143462140, 0, 3, 60),
        (json!(7_u64), 5176376841388334682, 2, 2, 26),
        (json!(42_u64), 3733679027171326447, 3, 4, 47),
        (json!(255_u64), 17381018602140518303, 3, 6, 31),
        (json!(1000_u64), 18077297987529875993, 1, 3, 25),
        (json!(65535_u64), 5697863482967897318, 2, 0, 38),
        (json!(123456789_u64), 13056160930372137464, 0, 5, 56),
        (json!(4294967296_u64), 15971953487659835338, 2, 1, 10),
        (json!(9007199254740993_u64), 13877820128948723333, 1, 1, 5),
        (json!(u64::MAX), 9881838582290454502, 2, 2, 38),
        (json!(-1_i64), 2252682017024020852, 0, 4, 52),
        (json!(-42_i64), 5212789797370757251, 3, 6, 3),
        (json!(i64::MIN), 13608218568646160530, 2, 1, 18),
        (json!("1"), 16757690880143462140, 0, 3, 60),
        (json!("a"), 4879781618695825138, 2, 3, 50),
        (json!("abc"), 17540841303372132029, 1, 4, 61),
        (json!("doc-1"), 11531051226316843835, 3, 5, 59),
        (json!("Doc_1"), 4581689131346555349, 1, 2, 21),
        (json!("user_12345"), 6783935954582662797, 1, 5, 13),
        (json!("0001"), 95525385739429887, 3, 3, 63),
        (json!("-"), 10217122202558994340, 0, 2, 36),
        (json!("_"), 8036126012891901009, 1, 1, 17),
        (
            json!("hello-world-0123456789"),
            16910646786576091594,
            2,
            3,
            10,
        ),
        (json!("xxxxxxxxxxxxxxxxx"), 4611414934848561827, 3, 1, 35),
        (json!("K".repeat(64)), 8533115924034047556, 0, 0, 4),
        (
            json!("abcdefghij".repeat(13)),
            11706461804423121241,
            1,
            2,
            25,
        ),
        (json!("z".repeat(200)), 7379937463217896719, 3, 2, 15),
        (
            json!("0123456789".repeat(25)),
            10936221793728990720,
            0,
            3,
            0,
        ),
        (json!("q".repeat(511)), 12580379325384819509, 1, 1, 53),
    ]
}

#[test]
fn seeds_are_pinned() {
    assert_eq!(DOCUMENT_SHARD_SEED, 0x6d69_726f_6972_3a64);
    assert_eq!(PLACEMENT_SEED, 0x6d69_726f_6972_3a70);
}

#[test]
fn document_hashes_and_shards_are_pinned() {
    let table = document_table();
    assert!(table.len() >= 20);
    let (s4, s7, s64) = (
        ShardCount::new(4).unwrap(),
        ShardCount::new(7).unwrap(),
        ShardCount::new(64).unwrap(),
    );
    for (value, hash, on4, on7, on64) in table {
        let pk = PrimaryKeyValue::from_json(&value).unwrap();
        assert_eq!(pk.hash(), hash, "hash of {value}");
        assert_eq!(shard_for_key(&pk, s4).get(), on4, "4 shards, {value}");
        assert_eq!(shard_for_key(&pk, s7).get(), on7, "7 shards, {value}");
        assert_eq!(shard_for_key(&pk, s64).get(), on64, "64 shards, {value}");
    }
}

#[test]
fn one_shard_takes_everything() {
    let one = ShardCount::new(1).unwrap();
    for (value, ..) in document_table() {
        let pk = PrimaryKeyValue::from_json(&value).unwrap();
        assert_eq!(shard_for_key(&pk, one).get(), 0);
    }
}

#[test]
fn placement_scores_are_pinned() {
    let table: [(&str, u16, &str, u64); 5] = [
        ("books", 0, "n1", 2675117661076888859),
        ("books", 0, "n2", 14387475467065227921),
        ("books", 3, "node-a", 1760019678106807513),
        ("movies", 1023, "meili_07", 1249871477777116269),
        ("", 0, "x", 11011251704974216515),
    ];
    for (uid, shard, node, expected) in table {
        let got = score(
            uid,
            ShardId::new(shard).unwrap(),
            &NodeId::new(node).unwrap(),
        );
        assert_eq!(got, expected, "score({uid}, {shard}, {node})");
    }
}

#[test]
fn small_placement_is_pinned() {
    let nodes: Vec<NodeInfo> = (1..=5)
        .map(|i| NodeInfo::new(NodeId::new(format!("n{i}")).unwrap()))
        .collect();
    let placement = place_index(
        "books",
        ShardCount::new(8).unwrap(),
        &nodes,
        ReplicationFactor::new(2).unwrap(),
    );
    let expected: Value = serde_json::from_str(r#"{"shards": [["n5", "n2"], ["n5", "n2"], ["n1", "n3"], ["n2", "n5"], ["n1", "n2"], ["n2", "n4"], ["n3", "n1"], ["n5", "n4"]]}"#).unwrap();
    assert_eq!(serde_json::to_value(&placement).unwrap(), expected);
}
