//! A 5th node joins under load: the rebalancer moves exactly the copies the plan names onto it
//! (about RF x shards / 5), every search stays complete, nothing acknowledged is lost.

use std::time::{Duration, Instant};

use super::rebalance_common::{Scenario, options};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_node_receives_its_share_live() {
    let mut sc = Scenario::start(options(), 4_000).await;
    let before = sc.copies();
    let snapshot = (*sc.topology.current()).clone();
    let id = sc.cluster.add_node().await.unwrap();
    let started = Instant::now();
    // What the plan names for the topology as it was plus the new node.
    let mut with_node = snapshot;
    let url = sc.cluster.nodes.last().unwrap().url();
    with_node.nodes.insert(
        id.clone(),
        miroir_proto::topology::NodeRecord::new(id.clone(), url),
    );
    let planned = miroir_cluster::plan::plan(
        &with_node,
        time::OffsetDateTime::now_utc(),
        Duration::from_secs(300),
    )
    .adds
    .len();
    miroir_testkit::wait::until(
        "the new node in the topology",
        Duration::from_secs(10),
        || async {
            Ok(if sc.topology.current().nodes.contains_key(&id) {
                miroir_testkit::wait::Attempt::Ready(())
            } else {
                miroir_testkit::wait::Attempt::Retry("not yet".into())
            })
        },
    )
    .await
    .unwrap();
    sc.settled(Duration::from_secs(120)).await;
    let took = started.elapsed();
    let after = sc.copies();
    let moved: Vec<_> = after.difference(&before).collect();
    assert!(
        moved.iter().all(|(_, n)| *n == id),
        "copies only move onto the new node: {moved:?}"
    );
    let ideal = 16.0 / 5.0;
    eprintln!(
        "[rebalance_add_node] copies moved {} (plan said {planned}; HRW ideal {ideal:.1} = {:.1}% vs {:.1}% moved); settled in {:.2} s",
        moved.len(),
        100.0 / 5.0,
        100.0 * moved.len() as f64 / 16.0,
        took.as_secs_f64()
    );
    assert_eq!(moved.len(), planned, "exactly the plan's moves");
    assert!(!moved.is_empty());
    sc.finish("rebalance_add_node").await;
}
