//! The active rebalancer killed (-9) in the middle of a copy: the standby takes the lease and
//! resumes from the topology (the half-built copy is built again from scratch), the placement
//! settles, nothing acknowledged is lost and every search stays complete.

use std::time::{Duration, Instant};

use miroir_cluster::migrations::MigrationStore;
use miroir_e2e::ClusterOptions;
use miroir_proto::migrations::MigrationPhase;
use miroir_proto::subjects::Service;
use miroir_testkit::wait::{Attempt, until};

use super::rebalance_common::{Scenario, options};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_standby_rebalancer_resumes_a_move() {
    // Copies slow enough (about 3 s each) to be caught in the middle.
    let mut sc = Scenario::start(
        ClusterOptions {
            copy_docs_per_sec: 300,
            ..options()
        },
        8_000,
    )
    .await;
    sc.cluster.start_service(Service::Rebalancer).await.unwrap();
    let nats = sc.cluster.nats.connect().await.unwrap();
    let js = async_nats::jetstream::new(nats);
    let migrations = MigrationStore::open(&js).await.unwrap();
    let first = miroir_cluster::lease::holder(&js, "rebalancer")
        .await
        .map(|h| h.holder);
    sc.cluster.add_node().await.unwrap();
    until(
        "a copy in the middle of its build",
        Duration::from_secs(30),
        || async {
            let m = migrations.list().await?;
            Ok(
                if m.iter()
                    .any(|r| r.phase == MigrationPhase::Copying && r.copied > 0)
                {
                    Attempt::Ready(())
                } else {
                    Attempt::Retry(format!("{m:?}"))
                },
            )
        },
    )
    .await
    .unwrap();
    // Replica 0 started with the cluster and holds the lease; kill it mid-copy.
    sc.cluster.kill_service(Service::Rebalancer, 0);
    let killed = Instant::now();
    until(
        "the standby to take the lease",
        Duration::from_secs(10),
        || async {
            let h = miroir_cluster::lease::holder(&js, "rebalancer")
                .await
                .map(|h| h.holder);
            Ok(if h.is_some() && h != first {
                Attempt::Ready(())
            } else {
                Attempt::Retry(format!("{h:?}"))
            })
        },
    )
    .await
    .unwrap();
    let takeover = killed.elapsed();
    sc.settled(Duration::from_secs(180)).await;
    eprintln!(
        "[rebalance_rebalancer_dies] standby took over {:.2} s after the kill; settled {:.2} s after it",
        takeover.as_secs_f64(),
        killed.elapsed().as_secs_f64()
    );
    sc.finish("rebalance_rebalancer_dies").await;
}
