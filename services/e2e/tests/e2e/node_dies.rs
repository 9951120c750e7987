//! A node killed (-9) under a load of writes and searches, then brought back with its disk: no
//! acknowledged write is lost, no search fails or answers stale, the node is marked down, its
//! copies are read again only once they have caught up, and then they equal the others'.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use miroir_cluster::topology::TopologyStore;
use miroir_e2e::ClusterOptions;
use miroir_proto::topology::NodeHealth;
use miroir_testkit::wait::{Attempt, until};

use super::load::{self, DEGRADED, INDEX};

pub(crate) fn options() -> ClusterOptions {
    ClusterOptions {
        nodes: 4,
        shards: 4,
        replication_factor: 2,
        ..Default::default()
    }
}

/// Waits until `node`'s health in KV is `health`; how long it took.
pub(crate) async fn wait_health(
    topology: &TopologyStore,
    node: &str,
    health: NodeHealth,
    within: Duration,
) -> Duration {
    let started = Instant::now();
    until(&format!("{node} {health:?}"), within, || async {
        let seen = topology.current().nodes.get(node).map(|n| n.health);
        Ok(if seen == Some(health) {
            Attempt::Ready(())
        } else {
            Attempt::Retry(format!("{seen:?}"))
        })
    })
    .await
    .unwrap();
    started.elapsed()
}

/// Copies of the index that are behind, as (shard, node, reason).
pub(crate) fn behind(topology: &TopologyStore) -> Vec<(usize, String, String)> {
    let topo = topology.current();
    let Some(record) = topo.index(INDEX) else {
        return Vec::new();
    };
    record
        .shards
        .iter()
        .enumerate()
        .flat_map(|(s, p)| {
            p.lagging
                .iter()
                .map(move |l| (s, l.node.clone(), format!("{:?}", l.reason)))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dead_node_loses_nothing_and_is_read_again_only_once_caught_up() {
    let load::Loaded {
        mut cluster,
        client,
        topology,
        load,
    } = load::start_loaded(options(), 200).await;
    let tally = load.tally.clone();
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // kill -9 node 1 and keep writing.
    let victim = "n1";
    cluster.nodes[1].stop();
    let killed_at = Instant::now();
    DEGRADED.store(true, Ordering::SeqCst);
    let failover = wait_health(&topology, victim, NodeHealth::Down, Duration::from_secs(20)).await;
    let acked_at_down = tally.acked.lock().unwrap().len();
    until(
        "writes while the node is down",
        Duration::from_secs(30),
        || async {
            let n = tally.acked.lock().unwrap().len();
            Ok(if n >= acked_at_down + 300 {
                Attempt::Ready(())
            } else {
                Attempt::Retry(format!("{n} acknowledged"))
            })
        },
    )
    .await
    .unwrap();
    assert!(
        behind(&topology).iter().any(|(_, n, _)| n == victim),
        "the dead node's copies must be marked behind: {:?}",
        behind(&topology)
    );
    // A bulk load while it is down, so that the replay has a backlog worth measuring.
    for b in 0..10u64 {
        let ids: Vec<u64> = (0..2_000).map(|i| 10_000_000 + b * 2_000 + i).collect();
        let docs: Vec<serde_json::Value> = ids
            .iter()
            .map(|id| serde_json::json!({"id": id, "title": format!("bulk {id}"), "group": id % 7}))
            .collect();
        let reply = client
            .post(
                &format!("/indexes/{INDEX}/documents"),
                &serde_json::Value::Array(docs),
            )
            .await
            .unwrap();
        client.wait_succeeded(&reply).await.unwrap();
        tally.acked.lock().unwrap().extend(ids);
    }
    let written_while_down = tally.acked.lock().unwrap().len() - acked_at_down;

    // Bring it back with its data: it comes up, replays, and only then serves reads.
    cluster.nodes[1].start_again().await.unwrap();
    let returned_at = Instant::now();
    DEGRADED.store(false, Ordering::SeqCst);
    wait_health(&topology, victim, NodeHealth::Up, Duration::from_secs(20)).await;
    let marked_up = returned_at.elapsed();
    until(
        "the returned node's copies caught up",
        Duration::from_secs(60),
        || async {
            let b = behind(&topology);
            Ok(if b.is_empty() {
                Attempt::Ready(())
            } else {
                Attempt::Retry(format!("{b:?}"))
            })
        },
    )
    .await
    .unwrap();
    let catch_up = returned_at.elapsed() - marked_up;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let tally = load.stop().await;
    load::report("node_dies", &tally);
    eprintln!(
        "[node_dies] failover (kill -> down) {:.2} s; documents written while down {written_while_down} (about half on the dead node's copies); restart -> marked up {:.2} s; marked up -> caught up {:.2} s ({:.0} docs/s replayed and applied); kill -> all read again {:.2} s",
        failover.as_secs_f64(),
        marked_up.as_secs_f64(),
        catch_up.as_secs_f64(),
        written_while_down as f64 / 2.0 / catch_up.as_secs_f64(),
        killed_at.elapsed().as_secs_f64()
    );

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
    let compared = load::assert_nothing_lost(&cluster, &tally).await;
    assert_eq!(
        compared, 8,
        "every copy of every shard is compared (4 shards x 2)"
    );
}
