//! What the miroirctl tests share: a real NATS per test, a fresh `Ctl` per command (as each
//! run of the binary is), and index records written straight into KV.
#![allow(dead_code, clippy::unwrap_used)]

use std::process::Output;

use anyhow::Result;
use miroir_proto::topology::{IndexRecord, IndexState, ShardPlacement};
use miroir_testkit::NatsServer;
use miroirctl::Ctl;

/// A new connection and a freshly loaded topology, as one run of `miroirctl` has.
pub async fn ctl(nats: &NatsServer) -> Result<Ctl> {
    Ok(Ctl::from_client(nats.connect().await?).await?)
}

/// An index record whose shard `s` is held by `shards[s]`.
pub fn index(uid: &str, rf: u8, shards: &[&[&str]]) -> IndexRecord {
    IndexRecord {
        uid: uid.into(),
        primary_key: Some("id".into()),
        shard_count: shards.len() as u16,
        replication_factor: rf,
        created_at: "2026-12-04T12:00:00Z".into(),
        updated_at: "2026-12-04T12:00:00Z".into(),
        shards: shards
            .iter()
            .map(|nodes| ShardPlacement::new(nodes.iter().map(|n| n.to_string()).collect()))
            .collect(),
        state: IndexState::Ready,
        storage_uid: None,
    }
}

/// Run the built binary against `nats`.
pub fn miroirctl(nats: &NatsServer, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_miroirctl"))
        .env("MIROIR_NATS_URL", nats.url())
        .args(args)
        .output()
        .unwrap()
}
