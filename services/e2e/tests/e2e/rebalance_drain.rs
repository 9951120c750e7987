//! A node drained under load: all its copies move to the other nodes, it ends holding none,
//! every search stays complete and nothing acknowledged is lost.

use std::time::{Duration, Instant};

use miroir_proto::topology::NodeState;

use super::rebalance_common::{Scenario, options};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_drained_node_is_emptied_live() {
    let sc = Scenario::start(options(), 4_000).await;
    let before = sc.copies();
    let held = before.iter().filter(|(_, n)| n == "n1").count();
    let mut snapshot = (*sc.topology.current()).clone();
    if let Some(n) = snapshot.nodes.get_mut("n1") {
        n.state = NodeState::Draining;
    }
    let planned = miroir_cluster::plan::plan(
        &snapshot,
        time::OffsetDateTime::now_utc(),
        Duration::from_secs(300),
    )
    .adds
    .len();
    let written = sc
        .topology
        .modify_node("n1", |n| {
            n.state = NodeState::Draining;
            true
        })
        .await
        .unwrap();
    assert!(written.is_some());
    miroir_testkit::wait::until(
        "the drain in the topology",
        Duration::from_secs(10),
        || async {
            let draining = sc
                .topology
                .current()
                .nodes
                .get("n1")
                .is_some_and(|n| n.state == NodeState::Draining);
            Ok(if draining {
                miroir_testkit::wait::Attempt::Ready(())
            } else {
                miroir_testkit::wait::Attempt::Retry("not yet".into())
            })
        },
    )
    .await
    .unwrap();
    let started = Instant::now();
    sc.settled(Duration::from_secs(120)).await;
    let after = sc.copies();
    let moved = after.difference(&before).count();
    eprintln!(
        "[rebalance_drain] n1 held {held} copies; {moved} moved (plan said {planned}); drained in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    assert!(
        after.iter().all(|(_, n)| n != "n1"),
        "n1 still holds copies: {after:?}"
    );
    assert_eq!(moved, held);
    assert_eq!(moved, planned);
    sc.finish("rebalance_drain").await;
}
