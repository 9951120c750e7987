//! `miroirctl status`: the cluster at a glance, from NATS alone.
//!
//! - nodes: the operator's intent (`state`), the observed `health` and since when, and how many
//!   shard copies each holds (counted in the index records), receives (`incoming`) or holds
//!   behind (`lagging`);
//! - coverage per index: whether every shard has a live full copy ([`crate::coverage`]) and
//!   whether every shard has `replicationFactor` of them;
//! - hinted-handoff queues: writes waiting per node;
//! - migrations in flight (and failed ones) with their progress;
//! - who holds the health-checker and rebalancer leases.
//!
//! Document counts are not shown: they live on the nodes, and miroirctl talks only to NATS
//! (`GET /indexes/{uid}/stats` through a gateway has them).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use miroir_cluster::handoff::HandoffQueues;
use miroir_cluster::lease::{self, LeaseValue};
use miroir_cluster::migrations::MigrationStore;
use miroir_cluster::topology::Topology;
use miroir_proto::migrations::MigrationRecord;
use miroir_proto::topology::{NodeHealth, NodeState};
use serde::Serialize;
use time::OffsetDateTime;

use crate::coverage::{availability_name, ready_indexes};
use crate::migrations::{self, MigrationProgress};
use crate::node::{health_name, state_name};
use crate::{Ctl, CtlError, HEALTH_CHECKER_LEASE, REBALANCER_LEASE, Report};

pub const DOCUMENTS_NOTE: &str = "document counts are not shown: they live on the nodes and miroirctl reads only NATS; GET /indexes/{uid}/stats through a gateway has them";

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusReport {
    pub nodes: Vec<NodeStatus>,
    pub coverage: Coverage,
    pub handoff: Vec<NodeQueues>,
    /// Copies in flight and failed ones (finished ones are in `miroirctl migrations`).
    pub migrations: Vec<MigrationProgress>,
    pub leases: Leases,
    pub documents: &'static str,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeStatus {
    pub id: String,
    pub url: String,
    pub zone: Option<String>,
    pub state: NodeState,
    pub health: NodeHealth,
    pub health_since: Option<String>,
    /// How reads and writes treat it: intent and health together.
    pub availability: &'static str,
    /// Shard copies it holds (listed in `nodes` of a shard).
    pub copies: usize,
    /// Of those, copies behind (missed writes, or lost).
    pub lagging: usize,
    /// Copies it is receiving (listed in `incoming`).
    pub incoming: usize,
    /// Writes waiting in its handoff queues.
    pub hints: u64,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Coverage {
    /// Every shard of every ready index has at least one live full copy.
    pub complete: bool,
    /// Every shard of every ready index has `replicationFactor` live full copies.
    pub replication_met: bool,
    pub indexes: Vec<IndexCoverage>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IndexCoverage {
    pub uid: String,
    pub shard_count: u16,
    pub replication_factor: u8,
    /// The fewest live full copies any shard has.
    pub min_live_copies: usize,
    pub rf_met: bool,
    /// Shards no read can be served from: the index answers 503 for them.
    pub shards_without_live_copy: Vec<u16>,
    /// Shards with fewer live full copies than the replication factor.
    pub under_replicated_shards: Vec<u16>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeQueues {
    pub node: String,
    pub hints: u64,
    /// Node-local shard index -> hints.
    pub queues: BTreeMap<String, u64>,
}

#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Leases {
    pub health_checker: Option<LeaseValue>,
    pub rebalancer: Option<LeaseValue>,
}

/// The report, from what was read: the topology, the handoff queues `(node, shard index,
/// hints)`, the migration records and the lease holders.
pub fn build(
    topo: &Topology,
    pending: &[(String, String, u64)],
    records: &[MigrationRecord],
    leases: Leases,
    now: OffsetDateTime,
) -> StatusReport {
    let mut handoff: BTreeMap<String, NodeQueues> = BTreeMap::new();
    for (node, index, hints) in pending.iter().filter(|(_, _, h)| *h > 0) {
        let q = handoff.entry(node.clone()).or_insert_with(|| NodeQueues {
            node: node.clone(),
            hints: 0,
            queues: BTreeMap::new(),
        });
        q.hints += hints;
        *q.queues.entry(index.clone()).or_default() += hints;
    }
    let mut nodes: BTreeMap<&str, NodeStatus> = topo
        .nodes
        .values()
        .map(|n| {
            (
                n.id.as_str(),
                NodeStatus {
                    id: n.id.clone(),
                    url: n.url.clone(),
                    zone: n.zone.clone(),
                    state: n.state,
                    health: n.health,
                    health_since: n.health_since.clone(),
                    availability: availability_name(n.availability()),
                    copies: 0,
                    lagging: 0,
                    incoming: 0,
                    hints: handoff.get(&n.id).map_or(0, |q| q.hints),
                },
            )
        })
        .collect();
    for (record, _) in topo.indexes.values() {
        for p in &record.shards {
            for n in &p.nodes {
                if let Some(s) = nodes.get_mut(n.as_str()) {
                    s.copies += 1;
                    if p.lag_of(n).is_some() {
                        s.lagging += 1;
                    }
                }
            }
            for n in &p.incoming {
                if let Some(s) = nodes.get_mut(n.as_str()) {
                    s.incoming += 1;
                }
            }
        }
    }
    let indexes: Vec<IndexCoverage> = ready_indexes(topo)
        .map(|r| {
            let live: Vec<usize> = r
                .shards
                .iter()
                .map(|p| topo.live_full_copies(p).len())
                .collect();
            let rf = usize::from(r.replication_factor);
            let pick = |f: &dyn Fn(usize) -> bool| -> Vec<u16> {
                live.iter()
                    .enumerate()
                    .filter(|(_, n)| f(**n))
                    .map(|(s, _)| s as u16)
                    .collect()
            };
            let under = pick(&|n| n < rf);
            IndexCoverage {
                uid: r.uid.clone(),
                shard_count: r.shard_count,
                replication_factor: r.replication_factor,
                min_live_copies: live.iter().copied().min().unwrap_or(0),
                rf_met: under.is_empty(),
                shards_without_live_copy: pick(&|n| n == 0),
                under_replicated_shards: under,
            }
        })
        .collect();
    let migrations = records
        .iter()
        .map(|r| migrations::progress(r, now))
        .filter(|m| m.in_flight || m.phase == miroir_proto::migrations::MigrationPhase::Failed)
        .collect();
    StatusReport {
        nodes: nodes.into_values().collect(),
        coverage: Coverage {
            complete: indexes
                .iter()
                .all(|i| i.shards_without_live_copy.is_empty()),
            replication_met: indexes.iter().all(|i| i.rf_met),
            indexes,
        },
        handoff: handoff.into_values().collect(),
        migrations,
        leases,
        documents: DOCUMENTS_NOTE,
    }
}

/// Read everything `status` shows from NATS.
pub async fn status(ctl: &Ctl) -> Result<StatusReport, CtlError> {
    let topo = ctl.topology.current();
    let queues = HandoffQueues::open(&ctl.js)
        .await
        .map_err(|e| anyhow::anyhow!("cannot open the handoff stream: {e}"))?;
    let pending = queues
        .all_pending()
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let store = MigrationStore::open(&ctl.js)
        .await
        .map_err(|e| anyhow::anyhow!("cannot open the migrations bucket: {e:#}"))?;
    let records = store.list().await?;
    let leases = Leases {
        health_checker: lease::holder(&ctl.js, HEALTH_CHECKER_LEASE).await,
        rebalancer: lease::holder(&ctl.js, REBALANCER_LEASE).await,
    };
    Ok(build(
        &topo,
        &pending,
        &records,
        leases,
        OffsetDateTime::now_utc(),
    ))
}

fn lease_line(name: &str, l: &Option<LeaseValue>) -> String {
    match l {
        Some(v) => format!(
            "  {name}: {} (since {}, renewed {})\n",
            v.holder, v.acquired_at, v.renewed_at
        ),
        None => format!("  {name}: nobody (no replica running, or none has taken the lease yet)\n"),
    }
}

impl StatusReport {
    /// The text before and after the migration bars, so that a terminal gets indicatif bars
    /// in between and anything else gets [`migrations::text_bar`] lines.
    pub fn render_parts(&self) -> (String, String) {
        let mut out = String::from("NODES\n");
        if self.nodes.is_empty() {
            out.push_str("  none: add one with `miroirctl node add ID URL`\n");
        }
        let _ = writeln!(
            out,
            "  {:<12} {:<9} {:<8} {:<8} {:>6} {:>7} {:>8} {:>6}  URL / ZONE / HEALTH SINCE",
            "ID", "STATE", "HEALTH", "READS", "COPIES", "LAGGING", "INCOMING", "HINTS"
        );
        for n in &self.nodes {
            let _ = writeln!(
                out,
                "  {:<12} {:<9} {:<8} {:<8} {:>6} {:>7} {:>8} {:>6}  {}{}{}",
                n.id,
                state_name(n.state),
                health_name(n.health),
                n.availability,
                n.copies,
                n.lagging,
                n.incoming,
                n.hints,
                n.url,
                n.zone
                    .as_deref()
                    .map(|z| format!(" zone {z}"))
                    .unwrap_or_default(),
                n.health_since
                    .as_deref()
                    .map(|s| format!(" {} since {s}", health_name(n.health)))
                    .unwrap_or_default(),
            );
        }
        out.push_str("\nCOVERAGE\n");
        if self.coverage.indexes.is_empty() {
            out.push_str("  no index\n");
        }
        for i in &self.coverage.indexes {
            let verdict = if !i.shards_without_live_copy.is_empty() {
                format!(
                    "UNAVAILABLE shards {:?} have no live full copy",
                    i.shards_without_live_copy
                )
            } else if !i.rf_met {
                format!("under-replicated shards {:?}", i.under_replicated_shards)
            } else {
                "ok".to_string()
            };
            let _ = writeln!(
                out,
                "  {:<20} {} shards, RF {}, fewest live copies {}: {verdict}",
                i.uid, i.shard_count, i.replication_factor, i.min_live_copies
            );
        }
        let _ = writeln!(
            out,
            "  every shard readable: {}; replication factor met: {}",
            yes(self.coverage.complete),
            yes(self.coverage.replication_met)
        );
        out.push_str("\nHANDOFF QUEUES\n");
        if self.handoff.is_empty() {
            out.push_str("  empty\n");
        }
        for q in &self.handoff {
            let _ = writeln!(
                out,
                "  {:<12} {} hints in {} queue(s)",
                q.node,
                q.hints,
                q.queues.len()
            );
        }
        out.push_str("\nMIGRATIONS\n");
        if self.migrations.is_empty() {
            out.push_str("  none in flight\n");
        }
        let mut tail = String::from("\nLEASES\n");
        tail.push_str(&lease_line("health-checker", &self.leases.health_checker));
        tail.push_str(&lease_line("rebalancer", &self.leases.rebalancer));
        let _ = writeln!(tail, "\n({})", self.documents);
        (out, tail)
    }
}

impl Report for StatusReport {
    fn render(&self) -> String {
        let (mut out, tail) = self.render_parts();
        for m in &self.migrations {
            let _ = writeln!(out, "  {}", migrations::text_bar(m));
        }
        out + &tail
    }
}

fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "NO" }
}
