//! A node killed (-9) and restarted with an empty disk is never read before it is rebuilt: its
//! copies are marked lost, every search stays complete, and no acknowledged write is lost.

use std::sync::atomic::Ordering;
use std::time::Duration;

use miroir_proto::topology::NodeHealth;
use miroir_testkit::wait::{Attempt, until};

use super::load::{self};
use super::node_dies::{behind, options, wait_health};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_back_empty_is_never_read_and_nothing_is_lost() {
    let load::Loaded {
        mut cluster,
        client: _,
        topology,
        load,
    } = load::start_loaded(options(), 300).await;
    let tally = load.tally.clone();
    tokio::time::sleep(Duration::from_millis(1000)).await;

    let victim = "n2";
    cluster.nodes[2].stop();
    wait_health(&topology, victim, NodeHealth::Down, Duration::from_secs(20)).await;
    let acked = tally.acked.lock().unwrap().len();
    until(
        "writes while the node is down",
        Duration::from_secs(30),
        || async {
            let n = tally.acked.lock().unwrap().len();
            Ok(if n >= acked + 200 {
                Attempt::Ready(())
            } else {
                Attempt::Retry(format!("{n}"))
            })
        },
    )
    .await
    .unwrap();

    // Back with nothing: the replayer finds its shard indexes gone and marks its copies lost.
    cluster.nodes[2].start_again_empty().await.unwrap();
    wait_health(&topology, victim, NodeHealth::Up, Duration::from_secs(20)).await;
    until(
        "the emptied node's copies are marked lost",
        Duration::from_secs(30),
        || async {
            let b = behind(&topology);
            let mine: Vec<_> = b.iter().filter(|(_, n, _)| n == victim).collect();
            Ok(
                if !mine.is_empty() && mine.iter().all(|(_, _, r)| r == "Lost") {
                    Attempt::Ready(())
                } else {
                    Attempt::Retry(format!("{b:?}"))
                },
            )
        },
    )
    .await
    .unwrap();
    // Keep the load on a while with the node up and empty: reads must keep avoiding it.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let tally = load.stop().await;
    load::report("node_back_empty", &tally);

    assert_eq!(
        tally.search_errors.load(Ordering::SeqCst),
        0,
        "searches failed: {}",
        tally.last_error.lock().unwrap()
    );
    assert_eq!(
        tally.stale.load(Ordering::SeqCst),
        0,
        "stale answers: {}",
        tally.last_error.lock().unwrap()
    );
    assert_eq!(
        tally.write_errors.load(Ordering::SeqCst),
        0,
        "writes failed: {}",
        tally.last_error.lock().unwrap()
    );
    // Still out of reads (no rebuild yet: re-copying is the rebalancer's), and the other copies
    // hold every acknowledged document.
    let lost = behind(&topology)
        .iter()
        .filter(|(_, n, r)| n == victim && r == "Lost")
        .count();
    assert!(lost > 0);
    let compared = load::assert_nothing_lost(&cluster, &tally).await;
    assert_eq!(
        compared,
        8 - lost,
        "the {lost} lost copies are left out, the others compared"
    );
}
