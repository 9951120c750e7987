//! The probe loop: the thin async shell around [`crate::health`].
//!
//! While this replica holds the lease, every `probe_interval` (plus jitter) it probes every node
//! of the topology mirror except those the operator `removed`, all at once, feeds each outcome
//! to that node's [`Tracker`] and writes the node's `health` to KV when it changes. The
//! guarantees:
//!
//! - only `health` and `healthSince` are ever written, with compare-and-set
//!   ([`TopologyStore::modify_node`]), so an operator's concurrent edit of `state`, `url` or
//!   `zone` is never lost, and a value already in KV is not written again;
//! - the trackers start from the health recorded in KV each time this replica becomes active, so
//!   a replica taking over continues where the previous one stopped;
//! - a node going `down` has its copies marked lagging ([`repair::mark_node_lagging`]) after its
//!   health is written; a write or a marking that fails is retried on the next round, and a
//!   replica becoming active marks the copies of every node already `down` again (the previous
//!   replica may have died between the two writes; marking is idempotent);
//! - every error is logged and the loop goes on; a topology without nodes is an idle loop.

use std::collections::BTreeMap;
use std::time::Duration;

use miroir_cluster::topology::TopologyStore;
use miroir_proto::topology::{NodeHealth, NodeState};
use rand::Rng;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::health::{self, Thresholds, Tracker};
use crate::metrics;
use crate::probe::Prober;
use crate::repair;

/// What the loop knows of one node.
struct Track {
    tracker: Tracker,
    /// The health KV holds, as far as this replica knows (what it read or last wrote).
    written: NodeHealth,
    /// Its copies must (still) be marked lagging.
    mark_lagging: bool,
}

pub struct Checker {
    topology: TopologyStore,
    prober: Prober,
    thresholds: Thresholds,
    interval: Duration,
    jitter: Duration,
    nodes: BTreeMap<String, Track>,
}

impl Checker {
    pub fn new(
        topology: TopologyStore,
        prober: Prober,
        thresholds: Thresholds,
        interval: Duration,
        jitter: Duration,
    ) -> Self {
        Checker {
            topology,
            prober,
            thresholds,
            interval,
            jitter,
            nodes: BTreeMap::new(),
        }
    }

    /// Probe while `active` says this replica holds the lease, until `shutdown`.
    pub async fn run(mut self, mut active: watch::Receiver<bool>, shutdown: CancellationToken) {
        loop {
            if !*active.borrow_and_update() {
                if !self.nodes.is_empty() {
                    tracing::info!("standing by: another replica holds the lease");
                    self.nodes.clear();
                }
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    changed = active.changed() => if changed.is_err() { return },
                }
                continue;
            }
            let started = Instant::now();
            tokio::select! {
                _ = shutdown.cancelled() => return,
                () = self.round(&active) => {}
            }
            let next = started + self.interval + self.random_jitter();
            tokio::select! {
                _ = shutdown.cancelled() => return,
                () = tokio::time::sleep_until(next) => {}
                // Losing the lease stops the loop at once; gaining it cannot happen while active.
                changed = active.changed() => if changed.is_err() { return },
            }
        }
    }

    fn random_jitter(&self) -> Duration {
        let max = u64::try_from(self.jitter.as_millis()).unwrap_or(u64::MAX);
        if max == 0 {
            return Duration::ZERO;
        }
        Duration::from_millis(rand::rng().random_range(0..=max))
    }

    /// One probe of every node, then the KV writes the outcomes call for.
    async fn round(&mut self, active: &watch::Receiver<bool>) {
        let topology = self.topology.current();
        metrics::copies(&topology);
        let targets: Vec<(String, String, NodeHealth)> = topology
            .nodes
            .values()
            .filter(|n| n.state != NodeState::Removed)
            .map(|n| (n.id.clone(), n.url.clone(), n.health))
            .collect();
        self.nodes
            .retain(|id, _| targets.iter().any(|(t, _, _)| t == id));
        for (id, _, recorded) in &targets {
            self.nodes.entry(id.clone()).or_insert_with(|| {
                tracing::debug!(node = %id, health = health::label(*recorded), "following a node");
                Track {
                    tracker: Tracker::new(*recorded),
                    written: *recorded,
                    mark_lagging: *recorded == NodeHealth::Down,
                }
            });
        }
        if targets.is_empty() {
            return;
        }

        let results =
            futures::future::join_all(targets.iter().map(|(_, url, _)| self.prober.probe(url)))
                .await;
        for ((id, url, _), (result, elapsed)) in targets.iter().zip(results) {
            metrics::probe(id, result, elapsed);
            let Some(track) = self.nodes.get_mut(id) else {
                continue;
            };
            if let Some(t) = track.tracker.observe(result.outcome(), &self.thresholds) {
                tracing::info!(
                    node = %id,
                    %url,
                    from = health::label(t.from),
                    to = health::label(t.to),
                    probe = result.label(),
                    "node health changed"
                );
                metrics::transition(id, t);
                if t.to == NodeHealth::Down {
                    track.mark_lagging = true;
                }
            }
            metrics::state(id, track.tracker.health());
        }

        let ids: Vec<String> = self.nodes.keys().cloned().collect();
        for id in ids {
            if !*active.borrow() {
                return;
            }
            self.sync(&id).await;
        }
    }

    /// Bring KV in line with what this replica observed of `id`.
    async fn sync(&mut self, id: &str) {
        let Some(track) = self.nodes.get_mut(id) else {
            return;
        };
        let health = track.tracker.health();
        if track.written != health {
            let written = self
                .topology
                .modify_node(id, |rec| {
                    if rec.health == health {
                        return false;
                    }
                    rec.health = health;
                    rec.health_since = Some(miroir_cluster::now_rfc3339());
                    true
                })
                .await;
            match written {
                Ok(Some(_)) => track.written = health,
                Ok(None) => {
                    tracing::warn!(node = %id, "cannot record the node's health: its record is gone or does not parse");
                    return;
                }
                Err(e) => {
                    tracing::warn!(node = %id, error = %e, "cannot record the node's health; retrying next round");
                    return;
                }
            }
        }
        // Also when the node is back up by now: a copy marked lagging without need is cleared by
        // the replayer, one that missed writes and is read again is not.
        if track.mark_lagging {
            match repair::mark_node_lagging(&self.topology, id).await {
                Ok(n) => {
                    track.mark_lagging = false;
                    if n > 0 {
                        tracing::info!(node = %id, indexes = n, "copies on the down node marked lagging");
                    }
                }
                Err(e) => {
                    tracing::warn!(node = %id, error = %e, "cannot mark the down node's copies lagging; retrying next round")
                }
            }
        }
    }
}
