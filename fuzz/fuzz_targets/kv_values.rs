//! KV values: what the services read back from JetStream KV, as a compromised or older writer
//! could have left it. Each `key\0value` entry goes through the mirrors the services keep
//! (topology: cluster defaults, node and index records; API keys; webhooks), as a put and
//! then as a delete, and through the direct reads of the stores (tasks, migrations, leases).
//!
//! Checks: nothing panics; a value read is written back and read again unchanged; a mirror
//! keeps only node records that validate under their own id, keys under their own uid; a
//! webhook's authorization header never shows more than a few characters of its secret.
#![no_main]

use async_nats::jetstream::kv::Operation;
use libfuzzer_sys::fuzz_target;
use miroir_cluster::keys::{ApiKeyRecord, Keys};
use miroir_cluster::kv_mirror::MirrorState;
use miroir_cluster::lease::LeaseValue;
use miroir_cluster::topology::Topology;
use miroir_cluster::webhooks::{Webhook, WebhookSet, masked_headers};
use miroir_fuzz::assert_same_json;
use miroir_proto::migrations::MigrationRecord;
use miroir_proto::tasks::ClusterTask;
use miroir_proto::topology::{ClusterDefaults, IndexRecord, NodeRecord};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Read, write back, read again: the same value.
fn round_trip<T: Serialize + DeserializeOwned>(value: &[u8]) -> Option<T> {
    let first: T = serde_json::from_slice(value).ok()?;
    let bytes = match serde_json::to_vec_pretty(&first) {
        Ok(b) => b,
        Err(e) => panic!("a value read cannot be written back: {e}"),
    };
    let second: T = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => panic!("a value written back cannot be read: {e}"),
    };
    assert_same_json(&first, &second);
    Some(first)
}

fn check_topology(t: &Topology) {
    for (id, node) in &t.nodes {
        assert_eq!(&node.id, id, "a node kept under another id");
        assert!(node.validate().is_ok(), "an invalid node record kept");
        let _ = t.node_url(id);
    }
    for (record, _) in t.indexes.values() {
        let _ = t.index(&record.uid);
        for placement in &record.shards {
            let _ = t.live_full_copies(placement);
            for node in t.nodes.keys() {
                let _ = t.takes_writes(placement, node);
            }
        }
    }
}

fn check_webhook(w: &Webhook) {
    for (name, shown) in masked_headers(&w.headers) {
        if !name.eq_ignore_ascii_case("authorization") {
            continue;
        }
        let Some(secret) = w.headers.get(&name) else {
            continue;
        };
        let offset = if secret.starts_with("Bearer ") { 7 } else { 0 };
        if secret.len() > offset {
            let kept = shown.find("XXX").unwrap_or(shown.len());
            assert!(kept <= offset + 5 + 3, "{shown:?} shows too much of {secret:?}");
        }
    }
    let _ = w.view("00000000-0000-0000-0000-000000000000");
}

fuzz_target!(|data: &[u8]| {
    let (key, value) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&b"indexes.movies"[..], data),
    };
    let Ok(key) = std::str::from_utf8(key) else {
        return;
    };

    let mut topology = Topology::default();
    let mut keys = Keys::default();
    let mut webhooks = WebhookSet::default();
    for (op, revision) in [(Operation::Put, 3), (Operation::Put, 4)] {
        topology.apply(key, op, value, revision);
        keys.apply(key, op, value, revision);
        webhooks.apply(key, op, value, revision);
        check_topology(&topology);
    }
    for (uid, (record, _)) in &keys.keys {
        assert_eq!(uid, &record.uid, "a key kept under another uid");
    }
    for op in [Operation::Delete, Operation::Purge] {
        let mut t = topology.clone();
        t.apply(key, op, &[], 5);
        check_topology(&t);
        let mut k = keys.clone();
        k.apply(key, op, &[], 5);
        let mut w = webhooks.clone();
        w.apply(key, op, &[], 5);
    }

    if let Some(n) = round_trip::<NodeRecord>(value) {
        let _ = n.validate();
        let _ = n.availability();
        let _ = n.placeable();
    }
    if let Some(i) = round_trip::<IndexRecord>(value) {
        let _ = i.storage_base();
        for p in &i.shards {
            for node in &p.nodes {
                let _ = p.writes_directly(node);
                let _ = p.lag_of(node);
            }
        }
    }
    round_trip::<ClusterDefaults>(value);
    round_trip::<ApiKeyRecord>(value);
    if let Some(w) = round_trip::<Webhook>(value) {
        check_webhook(&w);
    }
    round_trip::<ClusterTask>(value);
    round_trip::<MigrationRecord>(value);
    round_trip::<LeaseValue>(value);
});
