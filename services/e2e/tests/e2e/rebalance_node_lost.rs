//! A node killed (-9) for good under load: after the re-replication delay its copies are
//! re-created from the surviving ones, RF is met again, the dead node leaves every placement,
//! and nothing acknowledged is lost.

use std::time::{Duration, Instant};

use miroir_proto::topology::NodeHealth;

use super::node_dies::wait_health;
use super::rebalance_common::{Scenario, options};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lost_node_is_re_replicated_after_the_delay() {
    let mut sc = Scenario::start(options(), 4_000).await;
    let before = sc.copies();
    let held = before.iter().filter(|(_, n)| n == "n3").count();
    sc.cluster.nodes[3].stop();
    let killed = Instant::now();
    wait_health(
        &sc.topology,
        "n3",
        NodeHealth::Down,
        Duration::from_secs(20),
    )
    .await;
    let down_after = killed.elapsed();
    sc.settled(Duration::from_secs(120)).await;
    let after = sc.copies();
    let moved = after.difference(&before).count();
    eprintln!(
        "[rebalance_node_lost] n3 held {held} copies; marked down after {:.2} s; RF restored ({moved} copies re-created) {:.2} s after the kill (delay {} ms)",
        down_after.as_secs_f64(),
        killed.elapsed().as_secs_f64(),
        sc.cluster.options.reallocate_after_ms
    );
    assert!(after.iter().all(|(_, n)| n != "n3"));
    assert_eq!(moved, held, "one new copy per lost copy");
    sc.finish("rebalance_node_lost").await;
}
