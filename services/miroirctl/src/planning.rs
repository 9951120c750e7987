//! `miroirctl plan`: what the rebalancer would do now ([`miroir_cluster::plan::plan`], the same
//! pure function it runs), with counts and warnings about states it cannot fix by itself.
//!
//! Document counts are not given: they live on the nodes, which miroirctl does not ask; the plan
//! says so (`documents: null`) rather than guess.

use std::fmt::Write as _;
use std::time::Duration;

use miroir_cluster::lease::{self, LeaseValue};
use miroir_cluster::plan::{self, CopyStep, down_for};
use miroir_cluster::topology::Topology;
use miroir_proto::topology::NodeHealth;
use serde::Serialize;
use time::OffsetDateTime;

use crate::coverage::{describe_copy, ready_indexes};
use crate::{Ctl, CtlError, REBALANCER_LEASE, Report};

pub const DOCUMENTS_NOTE: &str = "unknown: document counts live on the nodes and miroirctl reads only NATS; GET /indexes/{uid}/stats through a gateway gives an index's total";

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ShardRef {
    pub index: String,
    pub shard: u16,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanReport {
    pub delay_secs: u64,
    /// Nodes that can hold copies now.
    pub targets: Vec<String>,
    pub adds: Vec<CopyStep>,
    pub rebuilds: Vec<CopyStep>,
    pub drops: Vec<CopyStep>,
    pub waiting_drops: Vec<CopyStep>,
    pub under_replicated: Vec<ShardRef>,
    /// Copies to build: adds and rebuilds.
    pub copies_to_build: usize,
    /// Copies to remove now, and later once their replacements are built.
    pub copies_to_drop: usize,
    pub documents: Option<u64>,
    pub documents_note: &'static str,
    /// Who would carry the plan out (`null`: no rebalancer runs, nothing will move).
    pub rebalancer: Option<String>,
    pub warnings: Vec<String>,
}

/// The report for `topo` at `now`.
pub fn build(
    topo: &Topology,
    now: OffsetDateTime,
    delay: Duration,
    rebalancer: Option<LeaseValue>,
) -> PlanReport {
    let p = plan::plan(topo, now, delay);
    let targets: Vec<String> = topo
        .nodes
        .values()
        .filter(|n| plan::is_target(n, now, delay))
        .map(|n| n.id.clone())
        .collect();
    let mut warnings = Vec::new();
    if targets.is_empty() && !topo.nodes.is_empty() {
        warnings.push(
            "no node can hold copies: every node is draining, removed, or down for longer than the delay; add a node or undrain one".to_string(),
        );
    }
    for r in ready_indexes(topo) {
        let rf = usize::from(r.replication_factor);
        if rf > targets.len() {
            warnings.push(format!(
                "index `{}` wants {rf} copies of each shard but only {} node(s) can hold copies ({}): its {} shard(s) stay under-replicated; add {} node(s) (`miroirctl node add`) or undrain one",
                r.uid,
                targets.len(),
                if targets.is_empty() { "none".to_string() } else { targets.join(", ") },
                r.shard_count,
                rf - targets.len()
            ));
        }
        for (s, placement) in r.shards.iter().enumerate() {
            if topo.live_full_copies(placement).is_empty() {
                let copies: Vec<String> = placement
                    .nodes
                    .iter()
                    .map(|n| describe_copy(topo, placement, n))
                    .collect();
                warnings.push(format!(
                    "index `{}` shard {s} has no live full copy (copies: {}): nothing can be copied from it until one of those nodes is back and caught up; do not remove them",
                    r.uid,
                    if copies.is_empty() { "none".to_string() } else { copies.join(", ") }
                ));
            }
        }
    }
    for n in topo.nodes.values().filter(|n| n.health == NodeHealth::Down) {
        if !plan::is_target(n, now, delay) {
            continue;
        }
        match down_for(n, now) {
            Some(d) => warnings.push(format!(
                "node `{}` has been down for {}s: if it stays down, its copies are re-created elsewhere in {}s (delay {}s)",
                n.id,
                d.as_secs(),
                delay.saturating_sub(d).as_secs(),
                delay.as_secs()
            )),
            None => warnings.push(format!(
                "node `{}` is down since an unknown time (no healthSince): its copies are kept, not re-created",
                n.id
            )),
        }
    }
    if rebalancer.is_none() && !p.is_empty() {
        warnings
            .push("no rebalancer holds its lease: nothing will move until one runs".to_string());
    }
    PlanReport {
        delay_secs: delay.as_secs(),
        targets,
        copies_to_build: p.adds.len() + p.rebuilds.len(),
        copies_to_drop: p.drops.len() + p.waiting_drops.len(),
        under_replicated: p
            .under_replicated
            .iter()
            .map(|s| ShardRef {
                index: s.index.clone(),
                shard: s.shard,
            })
            .collect(),
        adds: p.adds,
        rebuilds: p.rebuilds,
        drops: p.drops,
        waiting_drops: p.waiting_drops,
        documents: None,
        documents_note: DOCUMENTS_NOTE,
        rebalancer: rebalancer.map(|l| l.holder),
        warnings,
    }
}

pub async fn plan(ctl: &Ctl, delay: Duration) -> Result<PlanReport, CtlError> {
    let topo = ctl.topology.current();
    let rebalancer = lease::holder(&ctl.js, REBALANCER_LEASE).await;
    Ok(build(&topo, OffsetDateTime::now_utc(), delay, rebalancer))
}

fn steps(out: &mut String, title: &str, steps: &[CopyStep]) {
    if steps.is_empty() {
        return;
    }
    let _ = writeln!(out, "{title} ({}):", steps.len());
    for s in steps {
        let _ = writeln!(out, "  {}/{} on {}", s.index, s.shard, s.node);
    }
}

impl Report for PlanReport {
    fn render(&self) -> String {
        let mut out = format!(
            "target nodes: {} (re-replication delay {}s)\n",
            if self.targets.is_empty() {
                "none".to_string()
            } else {
                self.targets.join(", ")
            },
            self.delay_secs
        );
        if self.copies_to_build == 0 && self.copies_to_drop == 0 {
            out.push_str("nothing to move: every shard is where it should be\n");
        }
        steps(&mut out, "copies to build", &self.adds);
        steps(
            &mut out,
            "copies to rebuild in place (lost)",
            &self.rebuilds,
        );
        steps(&mut out, "copies to drop now", &self.drops);
        steps(
            &mut out,
            "copies to drop once their replacements are built",
            &self.waiting_drops,
        );
        if !self.under_replicated.is_empty() {
            let _ = writeln!(
                out,
                "under-replicated shards ({}):",
                self.under_replicated.len()
            );
            for s in &self.under_replicated {
                let _ = writeln!(out, "  {}/{}", s.index, s.shard);
            }
        }
        let _ = writeln!(
            out,
            "total: {} cop{} to build, {} to drop; documents: {}",
            self.copies_to_build,
            if self.copies_to_build == 1 {
                "y"
            } else {
                "ies"
            },
            self.copies_to_drop,
            self.documents_note
        );
        let _ = writeln!(
            out,
            "rebalancer: {}",
            self.rebalancer.as_deref().unwrap_or("none running")
        );
        for w in &self.warnings {
            let _ = writeln!(out, "warning: {w}");
        }
        out
    }
}
