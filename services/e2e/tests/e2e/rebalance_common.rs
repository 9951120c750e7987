//! What the rebalance scenarios share: a cluster of 4 nodes, 8 shards, RF 2 with a rebalancer,
//! the placement before and after, and the checks every scenario ends with.

use std::collections::BTreeSet;
use std::time::Duration;

use miroir_cluster::topology::TopologyStore;
use miroir_e2e::{ClusterOptions, TestCluster};
use miroir_testkit::wait::{Attempt, until};

use super::load::{self, INDEX, Load};

pub fn options() -> ClusterOptions {
    ClusterOptions {
        nodes: 4,
        shards: 8,
        replication_factor: 2,
        rebalancers: 1,
        ..Default::default()
    }
}

pub struct Scenario {
    pub cluster: TestCluster,
    pub topology: TopologyStore,
    pub load: Option<Load>,
}

impl Scenario {
    /// A cluster with `seed` documents and the background load running.
    pub async fn start(options: ClusterOptions, seed: u64) -> Scenario {
        let load::Loaded {
            cluster,
            topology,
            load,
            ..
        } = load::start_loaded(options, seed).await;
        Scenario {
            cluster,
            topology,
            load: Some(load),
        }
    }

    /// Every (shard, node) copy in the placement.
    pub fn copies(&self) -> BTreeSet<(usize, String)> {
        let topo = self.topology.current();
        let record = topo.index(INDEX).unwrap();
        record
            .shards
            .iter()
            .enumerate()
            .flat_map(|(s, p)| p.nodes.iter().map(move |n| (s, n.clone())))
            .collect()
    }

    /// Waits until the placement is at its target: the plan is empty, every shard has RF copies
    /// and none is behind.
    pub async fn settled(&self, within: Duration) {
        let delay = Duration::from_millis(self.cluster.options.reallocate_after_ms);
        until("the placement to settle", within, || async {
            let topo = self.topology.current();
            let record = topo.index(INDEX).unwrap();
            let plan = miroir_cluster::plan::plan(&topo, time::OffsetDateTime::now_utc(), delay);
            let short: Vec<usize> = record
                .shards
                .iter()
                .enumerate()
                .filter(|(_, p)| p.nodes.len() != 2 || !p.lagging.is_empty())
                .map(|(s, _)| s)
                .collect();
            Ok(if plan.is_empty() && short.is_empty() {
                Attempt::Ready(())
            } else {
                Attempt::Retry(format!("plan {plan:?}; shards not settled {short:?}"))
            })
        })
        .await
        .unwrap();
    }

    /// Stop the load and check: nothing acknowledged lost, every copy equal, no failed or
    /// incomplete search, RF met everywhere.
    pub async fn finish(mut self, name: &str) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let tally = self.load.take().unwrap().stop().await;
        load::report(name, &tally);
        use std::sync::atomic::Ordering;
        assert_eq!(
            tally.search_errors.load(Ordering::SeqCst),
            0,
            "searches failed: {}",
            tally.last_error.lock().unwrap()
        );
        assert_eq!(
            tally.stale.load(Ordering::SeqCst),
            0,
            "incomplete answers: {}",
            tally.last_error.lock().unwrap()
        );
        let compared = load::assert_nothing_lost(&self.cluster, &tally).await;
        assert_eq!(compared, 16, "8 shards x RF 2 full copies compared");
    }
}
