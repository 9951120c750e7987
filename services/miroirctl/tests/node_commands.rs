//! Node commands change only the operator's intent, with compare-and-set, and refuse (exit 2,
//! nothing written) what would lose data: an unknown node, removing a node that still holds
//! copies while it is up, removing the last live full copy of a shard.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use anyhow::Result;
use common::{ctl, index, miroirctl};
use miroir_proto::topology::{NodeHealth, NodeState};
use miroir_testkit::NatsServer;
use miroirctl::{CtlError, node};

fn refusal(r: Result<node::NodeOutcome, CtlError>) -> String {
    match r {
        Err(e @ CtlError::Refused(_)) => {
            assert_eq!(e.exit_code(), 2);
            e.to_string()
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_drain_undrain() -> Result<()> {
    let nats = NatsServer::start().await?;
    let c = ctl(&nats).await?;
    let added = node::add(&c, "n1", "http://10.0.0.1:7700", Some("a"), false).await?;
    assert!(added.changed && added.warnings.is_empty());
    assert_eq!(added.node.state, NodeState::Up);
    assert_eq!(added.node.zone.as_deref(), Some("a"));

    let c = ctl(&nats).await?;
    let msg = refusal(node::add(&c, "n1", "http://10.0.0.9:7700", None, false).await);
    assert!(
        msg.contains("already exists") && msg.contains("--update"),
        "{msg}"
    );
    let msg = refusal(node::add(&c, "a.b", "http://10.0.0.9:7700", None, false).await);
    assert!(msg.contains("[A-Za-z0-9_-]"), "{msg}");
    let msg = refusal(node::add(&c, "n2", "10.0.0.2:7700", None, false).await);
    assert!(msg.contains("http://"), "{msg}");
    let twin = node::add(&c, "twin", "http://10.0.0.1:7700/", None, false).await?;
    assert!(
        twin.warnings[0].contains("node `n1` has the same url"),
        "{:?}",
        twin.warnings
    );
    node::remove(&ctl(&nats).await?, "twin").await?;

    // The health-checker's finding survives an operator's update.
    c.topology
        .modify_node("n1", |r| {
            r.health = NodeHealth::Suspect;
            true
        })
        .await?;
    let updated = node::add(&c, "n1", "http://10.0.0.9:7700", None, true).await?;
    assert!(updated.changed);
    assert_eq!(updated.node.url, "http://10.0.0.9:7700");
    assert_eq!(updated.node.zone, None);
    assert_eq!(updated.node.health, NodeHealth::Suspect);

    let drained = node::drain(&c, "n1").await?;
    assert!(drained.changed && drained.node.state == NodeState::Draining);
    assert!(
        !node::drain(&c, "n1").await?.changed,
        "draining twice changes nothing"
    );
    let up = node::undrain(&c, "n1").await?;
    assert!(up.changed && up.node.state == NodeState::Up);

    for r in [
        node::drain(&c, "ghost").await,
        node::undrain(&c, "ghost").await,
        node::remove(&ctl(&nats).await?, "ghost").await,
    ] {
        let msg = refusal(r);
        assert!(msg.contains("unknown node `ghost`"), "{msg}");
    }

    // Through the binary: exit codes and JSON.
    let out = miroirctl(
        &nats,
        &["node", "add", "n2", "http://10.0.0.2:7700", "--json"],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(json["node"]["id"], "n2");
    assert_eq!(json["changed"], true);
    let out = miroirctl(&nats, &["node", "add", "n2", "http://10.0.0.2:7700"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    let out = miroirctl(&nats, &["node", "drain", "ghost"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown node"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_refuses_to_lose_data() -> Result<()> {
    let nats = NatsServer::start().await?;
    let c = ctl(&nats).await?;
    for id in ["n1", "n2", "n3", "n4"] {
        node::add(&c, id, &format!("http://{id}.example:7700"), None, false).await?;
    }
    c.topology
        .create_index(&index("books", 2, &[&["n1", "n2"], &["n2", "n3"]]))
        .await?;
    c.topology
        .create_index(&index("solo", 1, &[&["n3"]]))
        .await?;

    // Up and holding copies: drain first.
    let msg = refusal(node::remove(&ctl(&nats).await?, "n1").await);
    assert!(
        msg.contains("still holds 1 shard copy (books/0)")
            && msg.contains("miroirctl node drain n1"),
        "{msg}"
    );
    // Draining does not make it removable while it holds copies.
    node::drain(&c, "n1").await?;
    let msg = refusal(node::remove(&ctl(&nats).await?, "n1").await);
    assert!(msg.contains("still holds"), "{msg}");

    // Observed down: removable, since books/0 has a live full copy on n2.
    let mark_down = |id: &'static str| {
        let c = &c;
        async move {
            c.topology
                .modify_node(id, |r| {
                    r.health = NodeHealth::Down;
                    r.health_since = Some("2026-12-04T12:00:00Z".into());
                    true
                })
                .await
        }
    };
    mark_down("n1").await?;
    let removed = node::remove(&ctl(&nats).await?, "n1").await?;
    assert!(removed.changed);
    assert_eq!(removed.node.state, NodeState::Removed);
    assert_eq!(
        removed.node.health,
        NodeHealth::Down,
        "health stays the health-checker's"
    );
    let again = node::remove(&ctl(&nats).await?, "n1").await?;
    assert!(!again.changed && again.message.contains("already removed"));
    let msg = refusal(node::undrain(&c, "n1").await);
    assert!(msg.contains("--update"), "{msg}");

    // n3 down holds the only copy of solo/0: removing it would lose the shard.
    mark_down("n3").await?;
    let msg = refusal(node::remove(&ctl(&nats).await?, "n3").await);
    assert!(
        msg.contains("index `solo` shard 0 with no live full copy (other copies: none)"),
        "{msg}"
    );
    let out = miroirctl(&nats, &["node", "remove", "n3"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no live full copy"));
    let still = ctl(&nats).await?.topology.current().nodes["n3"].clone();
    assert_eq!(still.state, NodeState::Up, "a refusal writes nothing");

    // A node with no copies goes at once.
    let out = miroirctl(&nats, &["node", "remove", "n4"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        ctl(&nats).await?.topology.current().nodes["n4"].state,
        NodeState::Removed
    );

    // A removed node comes back with add --update.
    let back = node::add(
        &ctl(&nats).await?,
        "n4",
        "http://n4.example:7700",
        None,
        true,
    )
    .await?;
    assert_eq!(back.node.state, NodeState::Up);
    Ok(())
}

#[test]
fn no_nats_is_a_failure_not_a_refusal() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_miroirctl"))
        .args(["--nats-url", "nats://127.0.0.1:1", "status"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach NATS"));
}
