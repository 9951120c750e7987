//! Invariant: a primary key value is accepted exactly when Meilisearch 1.50 accepts it, its
//! canonical form is the id Meilisearch stores (so `1` and `"1"` are one document), and a refusal
//! carries Meilisearch's exact `invalid_document_id` message.
#![allow(clippy::unwrap_used)]

use miroir_placement::*;
use serde_json::{Value, json};

fn canon(v: Value) -> String {
    PrimaryKeyValue::from_json(&v).unwrap().into_string()
}

#[test]
fn integers_and_strings_canonicalise_to_meilisearch_ids() {
    assert_eq!(canon(json!(1)), "1");
    assert_eq!(canon(json!("1")), "1");
    assert_eq!(canon(json!(0)), "0");
    assert_eq!(canon(json!(-7)), "-7");
    assert_eq!(canon(json!(u64::MAX)), "18446744073709551615");
    assert_eq!(canon(json!(i64::MIN)), "-9223372036854775808");
    assert_eq!(canon(json!("0001")), "0001");
    assert_eq!(canon(json!("Doc-1_x")), "Doc-1_x");
    assert_eq!(canon(json!("q".repeat(511))).len(), 511);
}

#[test]
fn integer_and_its_decimal_string_are_the_same_document() {
    let s = ShardCount::new(64).unwrap();
    for (int, text) in [
        (json!(1), json!("1")),
        (json!(-42), json!("-42")),
        (json!(0), json!("0")),
    ] {
        let a = PrimaryKeyValue::from_json(&int).unwrap();
        let b = PrimaryKeyValue::from_json(&text).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.hash(), b.hash());
        assert_eq!(shard_for_key(&a, s), shard_for_key(&b, s));
    }
    // Leading zeros make a different id, as in Meilisearch.
    assert_ne!(canon(json!("01")), canon(json!(1)));
}

#[test]
fn invalid_ids_are_refused() {
    let bad = [
        json!(1.0),
        json!(1.5),
        json!(-0.5),
        json!(1e3),
        json!(true),
        json!(null),
        json!([1]),
        json!({"id": 1}),
        json!(""),
        json!("bad id!"),
        json!("a.b"),
        json!("é"),
        json!("tab\t"),
        json!("q".repeat(512)),
    ];
    for v in bad {
        let err = PrimaryKeyValue::from_json(&v).unwrap_err();
        assert_eq!(err.document_id, v);
    }
    assert!(PrimaryKeyValue::from_str_id("").is_err());
    assert!(PrimaryKeyValue::from_str_id("a/b").is_err());
    assert_eq!(
        PrimaryKeyValue::from_str_id("42").unwrap(),
        PrimaryKeyValue::from(42u64)
    );
    assert_eq!(PrimaryKeyValue::from(-3i64).as_str(), "-3");
}

#[test]
fn integers_beyond_u64_are_floats_and_refused() {
    // serde_json (without arbitrary_precision) parses them as f64, and so does Meilisearch.
    let v: Value = serde_json::from_str("18446744073709551616").unwrap();
    assert!(PrimaryKeyValue::from_json(&v).is_err());
}

#[test]
fn error_message_matches_the_recorded_meilisearch_error() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../testkit/fixtures/meilisearch-1.50/03-documents.json"
    );
    let exchanges: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let recorded = exchanges
        .iter()
        .find(|e| e["name"] == "add document with invalid id -> task")
        .unwrap();
    let error = &recorded["response"]["body"]["error"];
    assert_eq!(error["code"], "invalid_document_id");

    let err = PrimaryKeyValue::from_json(&json!("bad id!")).unwrap_err();
    assert_eq!(error["message"], err.to_string());
}
