//! The node a copy is being built from killed (-9) mid-copy: the build fails over to another
//! full copy, the dead node's own copies are re-replicated after the delay, the placement
//! settles, nothing acknowledged is lost and every search stays complete.

use std::time::Duration;

use miroir_cluster::migrations::MigrationStore;
use miroir_e2e::ClusterOptions;
use miroir_proto::migrations::MigrationPhase;
use miroir_testkit::wait::{Attempt, until};

use super::rebalance_common::{Scenario, options};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_copy_whose_source_dies_is_built_from_another() {
    let mut sc = Scenario::start(
        ClusterOptions {
            copy_docs_per_sec: 300,
            ..options()
        },
        8_000,
    )
    .await;
    let nats = sc.cluster.nats.connect().await.unwrap();
    let migrations = MigrationStore::open(&async_nats::jetstream::new(nats))
        .await
        .unwrap();
    sc.cluster.add_node().await.unwrap();
    let source = until(
        "a copy in the middle of its build",
        Duration::from_secs(30),
        || async {
            let m = migrations.list().await?;
            Ok(
                match m
                    .iter()
                    .find(|r| r.phase == MigrationPhase::Copying && r.copied > 0)
                {
                    Some(r) => Attempt::Ready(r.source.clone()),
                    None => Attempt::Retry(format!("{m:?}")),
                },
            )
        },
    )
    .await
    .unwrap();
    let i: usize = source.trim_start_matches('n').parse().unwrap();
    sc.cluster.nodes[i].stop();
    eprintln!("[rebalance_source_dies] killed {source}, the source of a copy being built");
    // Settling needs the dead node re-replicated: the health-checker's detection, the delay,
    // and the copies.
    sc.settled(Duration::from_secs(240)).await;
    assert!(sc.copies().iter().all(|(_, n)| *n != source));
    sc.finish("rebalance_source_dies").await;
}
