//! `status --json` and `plan --json` describe a topology written into KV exactly: copies per node,
//! shards without a live full copy, handoff queues, migrations and leases; the plan is the
//! rebalancer's own and warns about what it cannot fix (RF above the target nodes, a shard
//! with no source).
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use anyhow::Result;
use common::{ctl, index, miroirctl};
use miroir_cluster::handoff::HandoffQueues;
use miroir_cluster::migrations::MigrationStore;
use miroir_proto::migrations::{MigrationPhase, MigrationRecord};
use miroir_proto::subjects::handoff_subject;
use miroir_proto::topology::{LagReason, NodeHealth};
use miroir_testkit::NatsServer;
use miroirctl::{node, planning};

/// Nodes a (zone z1), b, c (observed down since long ago), d (draining); `books` (RF 2) with a
/// copy of shard 1 lost on b and its other copy on c (so no live full copy), shard 2 on c and d; `tiny` (RF 3) that three target
/// nodes cannot hold; a migration onto a, hints for c, a health-checker lease.
async fn write_cluster(nats: &NatsServer) -> Result<()> {
    let c = ctl(nats).await?;
    node::add(&c, "a", "http://10.0.0.1:7700", Some("z1"), false).await?;
    node::add(&c, "b", "http://10.0.0.2:7700", None, false).await?;
    node::add(&c, "c", "http://10.0.0.3:7700", None, false).await?;
    node::add(&c, "d", "http://10.0.0.4:7700", None, false).await?;
    c.topology
        .modify_node("c", |r| {
            r.health = NodeHealth::Down;
            r.health_since = Some("2020-01-01T00:00:00Z".into());
            true
        })
        .await?;
    node::drain(&c, "d").await?;
    let mut books = index("books", 2, &[&["a", "b"], &["b", "c"], &["c", "d"]]);
    books.shards[0].incoming.push("d".into());
    books.shards[1].mark_lagging("b", LagReason::Lost, 0);
    c.topology.create_index(&books).await?;
    c.topology
        .create_index(&index("tiny", 3, &[&["a", "b", "d"]]))
        .await?;

    let queues = HandoffQueues::open(&c.js).await?;
    for _ in 0..3 {
        c.js.publish(handoff_subject("c", "books__s1"), "x".into())
            .await?
            .await?;
    }
    c.js.publish(handoff_subject("c", "books__s2"), "x".into())
        .await?
        .await?;
    assert_eq!(queues.all_pending().await?.len(), 2);

    let migrations = MigrationStore::open(&c.js).await?;
    migrations
        .put(&MigrationRecord {
            index: "books".into(),
            shard: 1,
            node: "a".into(),
            source: "b".into(),
            phase: MigrationPhase::Copying,
            copied: 250,
            total: 1000,
            started_at: "2026-12-04T12:00:00Z".into(),
            updated_at: "2026-12-04T12:00:10Z".into(),
            error: None,
        })
        .await?;
    let leases = miroir_cluster::lease::open_bucket(&c.js).await?;
    leases
        .put(
            "health-checker",
            r#"{"holder":"hc-1","acquiredAt":"2026-12-04T12:00:00Z","renewedAt":"2026-12-04T12:00:05Z"}"#.into(),
        )
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_json() -> Result<()> {
    let nats = NatsServer::start().await?;
    write_cluster(&nats).await?;
    let out = miroirctl(&nats, &["status", "--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    insta::assert_json_snapshot!("status", json, {
        ".migrations[].etaSecs" => "[eta]",
        ".migrations[].stalled" => "[depends on now]",
    });
    // The text form says the same in words.
    let out = miroirctl(&nats, &["status"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("UNAVAILABLE shards [1]"), "{text}");
    assert!(text.contains("health-checker: hc-1"), "{text}");
    assert!(text.contains("rebalancer: nobody"), "{text}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_json() -> Result<()> {
    let nats = NatsServer::start().await?;
    write_cluster(&nats).await?;
    let c = ctl(&nats).await?;
    let now = time::macros::datetime!(2026-12-04 12:00 UTC);
    let report = planning::build(&c.topology.current(), now, Duration::from_secs(300), None);
    insta::assert_json_snapshot!("plan", report);

    // The binary prints the same plan (the node down since 2020 is past any delay).
    let out = miroirctl(&nats, &["plan", "--json", "--delay-secs", "60"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let mut expected = serde_json::to_value(&report)?;
    expected["delaySecs"] = 60.into();
    assert_eq!(json, expected);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_cluster_reads_cleanly() -> Result<()> {
    let nats = NatsServer::start().await?;
    for args in [
        &["status", "--json"][..],
        &["plan", "--json"],
        &["migrations", "--json"],
        &["migrations", "--follow"],
    ] {
        let out = miroirctl(&nats, args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = miroirctl(&nats, &["plan"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("nothing to move"));
    Ok(())
}
