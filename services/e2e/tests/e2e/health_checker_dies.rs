//! The active health-checker killed (-9): the standby takes the lease within 2 x TTL and goes on
//! marking nodes, so a node that dies afterwards is still marked down.

use std::time::{Duration, Instant};

use miroir_cluster::topology::TopologyStore;
use miroir_e2e::{ClusterOptions, TestCluster};
use miroir_proto::subjects::Service;
use miroir_proto::topology::NodeHealth;
use miroir_testkit::wait::{Attempt, until};

use super::node_dies::wait_health;

async fn holder(
    js: &async_nats::jetstream::Context,
    not: Option<&str>,
    within: Duration,
) -> String {
    until("a lease holder", within, || async {
        Ok(
            match miroir_cluster::lease::holder(js, "health-checker").await {
                Some(h) if Some(h.holder.as_str()) != not => Attempt::Ready(h.holder),
                other => Attempt::Retry(format!("{other:?}")),
            },
        )
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_standby_health_checker_takes_over_within_two_ttls() {
    // One replica first, so that it is the holder; the second one starts as the standby.
    let mut cluster = TestCluster::start(ClusterOptions {
        nodes: 3,
        health_checkers: 1,
        ..Default::default()
    })
    .await
    .unwrap();
    let nats = cluster.nats.connect().await.unwrap();
    let js = async_nats::jetstream::new(nats);
    let topology = TopologyStore::open(&js).await.unwrap();
    let ttl = Duration::from_millis(miroir_e2e::HEALTH_CHECKER_LEASE_TTL_MS);
    let first = holder(&js, None, Duration::from_secs(20)).await;
    cluster.start_service(Service::HealthChecker).await.unwrap();

    cluster.kill_service(Service::HealthChecker, 0);
    let killed_at = Instant::now();
    let second = holder(&js, Some(&first), ttl * 3).await;
    let takeover = killed_at.elapsed();
    eprintln!(
        "[health_checker_dies] lease TTL {:.1} s; takeover after kill -9 {:.2} s",
        ttl.as_secs_f64(),
        takeover.as_secs_f64()
    );
    assert_ne!(first, second);
    assert!(
        takeover <= ttl * 2,
        "takeover took {takeover:?}, more than 2 x TTL ({:?})",
        ttl * 2
    );

    // The new holder does the job.
    cluster.nodes[0].stop();
    wait_health(&topology, "n0", NodeHealth::Down, Duration::from_secs(20)).await;
}
