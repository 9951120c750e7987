//! What the rebalancer would do now: a pure function of a topology snapshot and the time.
//!
//! The target placement of an index is rendezvous hashing ([`miroir_placement::place_index`],
//! keyed by the index's storage base so that a swap moves nothing) over the *target nodes*:
//! nodes not draining nor removed (an operator's `down` is maintenance, not a departure) that
//! are not observed down for longer than the re-replication delay. A node that is down for less than the delay keeps its copies (a node
//! that flaps or restarts is caught up by hinted handoff, not re-replicated), as Elasticsearch
//! waits before re-allocating. Draining and removed nodes are never targets.
//!
//! For each shard the plan says:
//! - `adds`: target nodes without a copy: a copy is built there (from a live full copy);
//! - `rebuilds`: copies marked lost (their node came back without them): rebuilt in place;
//! - `drops`: copies on nodes that are no longer targets, to remove once the shard has enough
//!   *full* copies (caught up, on available target nodes) without them: `min(RF, targets)`. A
//!   drop is never planned that would leave the shard with fewer full copies; it waits for the
//!   adds that replace it.
//!
//! Laws (tested below and in `tests/plan.rs` of the placement crate): a plan for a topology that
//! equals its target is empty; adding a node plans adds only onto it; a plan never drops a
//! shard's last full copy; the plan is deterministic.

use std::time::Duration;

use miroir_placement::{
    NodeId, NodeInfo, ReplicationFactor, ShardCount, ShardId, Zone, place_index,
};
use miroir_proto::topology::{
    Availability, IndexRecord, IndexState, LagReason, NodeHealth, NodeRecord, NodeState,
};
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::topology::Topology;

/// One copy to create, rebuild or remove.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CopyStep {
    pub index: String,
    pub shard: u16,
    pub node: String,
}

/// Everything the rebalancer would do now.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub adds: Vec<CopyStep>,
    pub rebuilds: Vec<CopyStep>,
    /// Drops whose shard already has enough full copies without them.
    pub drops: Vec<CopyStep>,
    /// Drops that wait for adds of the same shard to finish.
    pub waiting_drops: Vec<CopyStep>,
    /// Shards that cannot reach their replication factor with the target nodes there are.
    pub under_replicated: Vec<CopyStep>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.adds.is_empty()
            && self.rebuilds.is_empty()
            && self.drops.is_empty()
            && self.waiting_drops.is_empty()
    }
}

/// Whether `node` can hold copies: in service, and not down for longer than `delay`.
pub fn is_target(node: &NodeRecord, now: OffsetDateTime, delay: Duration) -> bool {
    // An operator's `down` is maintenance: the copies stay (hinted handoff catches them up);
    // `removed` is what re-creates them elsewhere.
    if !matches!(
        node.state,
        NodeState::Up | NodeState::Suspect | NodeState::Down
    ) {
        return false;
    }
    if node.health != NodeHealth::Down {
        return true;
    }
    down_for(node, now).is_none_or(|d| d < delay)
}

/// How long the node has been observed down (from `healthSince`), if it is.
pub fn down_for(node: &NodeRecord, now: OffsetDateTime) -> Option<Duration> {
    if node.health != NodeHealth::Down {
        return None;
    }
    let since = OffsetDateTime::parse(node.health_since.as_deref()?, &Rfc3339).ok()?;
    (now - since).try_into().ok()
}

/// The target nodes of the topology.
pub fn target_nodes(topo: &Topology, now: OffsetDateTime, delay: Duration) -> Vec<NodeInfo> {
    topo.nodes
        .values()
        .filter(|n| is_target(n, now, delay))
        .filter_map(|n| {
            let id = NodeId::new(n.id.clone()).ok()?;
            Some(
                match n.zone.as_ref().and_then(|z| Zone::new(z.clone()).ok()) {
                    Some(z) => NodeInfo::in_zone(id, z),
                    None => NodeInfo::new(id),
                },
            )
        })
        .collect()
}

/// The plan for the whole topology.
pub fn plan(topo: &Topology, now: OffsetDateTime, delay: Duration) -> Plan {
    let targets = target_nodes(topo, now, delay);
    let mut out = Plan::default();
    for (record, _) in topo.indexes.values() {
        if record.state != IndexState::Ready {
            continue;
        }
        plan_index(topo, record, &targets, &mut out);
    }
    out
}

fn plan_index(topo: &Topology, record: &IndexRecord, targets: &[NodeInfo], out: &mut Plan) {
    let (Some(shards), Some(rf)) = (
        ShardCount::new(record.shard_count),
        ReplicationFactor::new(record.replication_factor),
    ) else {
        return;
    };
    let wanted = place_index(record.storage_base(), shards, targets, rf);
    for (s, placement) in record.shards.iter().enumerate() {
        let Some(shard) = ShardId::new(s as u16) else {
            continue;
        };
        let target: Vec<&str> = wanted.replicas(shard).iter().map(NodeId::as_str).collect();
        let step = |node: &str| CopyStep {
            index: record.uid.clone(),
            shard: s as u16,
            node: node.to_string(),
        };
        if target.len() < usize::from(rf.get()) {
            out.under_replicated.push(step(""));
        }
        for node in target
            .iter()
            .filter(|t| !placement.nodes.iter().any(|n| n == *t))
        {
            out.adds.push(step(node));
        }
        for lag in placement
            .lagging
            .iter()
            .filter(|l| l.reason == LagReason::Lost)
        {
            let available = topo
                .nodes
                .get(&lag.node)
                .is_some_and(|n| n.availability() != Availability::Down);
            if available && target.contains(&lag.node.as_str()) {
                out.rebuilds.push(step(&lag.node));
            }
        }
        // Full copies: caught up, on an available node, and staying.
        let full = topo
            .live_full_copies(placement)
            .into_iter()
            .filter(|n| target.contains(n))
            .count();
        let enough = full >= target.len().min(usize::from(rf.get())) && full > 0;
        for node in placement
            .nodes
            .iter()
            .filter(|n| !target.contains(&n.as_str()))
        {
            if enough {
                out.drops.push(step(node));
            } else {
                out.waiting_drops.push(step(node));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use miroir_proto::topology::ShardPlacement;

    fn node(id: &str) -> NodeRecord {
        NodeRecord::new(id, format!("http://{id}"))
    }

    fn topo(nodes: &[NodeRecord], placed_over: &[&str], shards: u16) -> Topology {
        let mut t = Topology::default();
        for n in nodes {
            t.nodes.insert(n.id.clone(), n.clone());
        }
        let infos: Vec<NodeInfo> = placed_over
            .iter()
            .map(|n| NodeInfo::new(NodeId::new(*n).unwrap()))
            .collect();
        let p = place_index(
            "books",
            ShardCount::new(shards).unwrap(),
            &infos,
            ReplicationFactor::new(2).unwrap(),
        );
        let record = IndexRecord {
            uid: "books".into(),
            primary_key: Some("id".into()),
            shard_count: shards,
            replication_factor: 2,
            created_at: String::new(),
            updated_at: String::new(),
            shards: p
                .iter()
                .map(|(_, ns)| {
                    ShardPlacement::new(ns.iter().map(|n| n.as_str().to_string()).collect())
                })
                .collect(),
            state: IndexState::Ready,
            storage_uid: None,
        };
        t.indexes.insert("books".into(), (record, 1));
        t
    }

    const NOW: OffsetDateTime = time::macros::datetime!(2026-12-04 12:00 UTC);
    const DELAY: Duration = Duration::from_secs(300);

    #[test]
    fn a_placement_at_its_target_plans_nothing() {
        let t = topo(&[node("a"), node("b"), node("c")], &["a", "b", "c"], 8);
        assert!(plan(&t, NOW, DELAY).is_empty());
    }

    #[test]
    fn a_new_node_only_receives_copies_and_each_replaces_one() {
        let t = topo(
            &[node("a"), node("b"), node("c"), node("d")],
            &["a", "b", "c"],
            64,
        );
        let p = plan(&t, NOW, DELAY);
        assert!(!p.adds.is_empty());
        assert!(p.adds.iter().all(|s| s.node == "d"), "{:?}", p.adds);
        assert!(
            p.drops.is_empty(),
            "nothing is dropped before its replacement is built"
        );
        assert_eq!(p.waiting_drops.len(), p.adds.len());
        // About RF * shards / N copies move: 2 * 64 / 4 = 32.
        assert!((20..=44).contains(&p.adds.len()), "{}", p.adds.len());
    }

    #[test]
    fn a_node_down_longer_than_the_delay_is_re_replicated_and_a_short_outage_is_not() {
        let mut down = node("c");
        down.health = NodeHealth::Down;
        down.health_since = Some("2026-12-04T11:58:00Z".into());
        let t = topo(
            &[node("a"), node("b"), down.clone(), node("d")],
            &["a", "b", "c", "d"],
            16,
        );
        assert!(
            plan(&t, NOW, DELAY).is_empty(),
            "down 2 min of a 5 min delay: wait"
        );
        down.health_since = Some("2026-12-04T11:50:00Z".into());
        let t = topo(
            &[node("a"), node("b"), down, node("d")],
            &["a", "b", "c", "d"],
            16,
        );
        let p = plan(&t, NOW, DELAY);
        assert!(!p.adds.is_empty() && p.adds.iter().all(|s| s.node != "c"));
        let on_c = t
            .index("books")
            .unwrap()
            .shards
            .iter()
            .filter(|s| s.nodes.iter().any(|n| n == "c"))
            .count();
        assert_eq!(
            p.adds.len(),
            on_c,
            "one new copy per copy the dead node held"
        );
    }

    #[test]
    fn a_draining_node_moves_out_and_its_copies_drop_once_replaced() {
        let mut drain = node("a");
        drain.state = NodeState::Draining;
        let mut t = topo(
            &[drain, node("b"), node("c"), node("d")],
            &["a", "b", "c", "d"],
            16,
        );
        let p = plan(&t, NOW, DELAY);
        assert!(p.adds.iter().all(|s| s.node != "a"));
        assert!(p.drops.is_empty() && !p.waiting_drops.is_empty());
        // Pretend every add was built (present and caught up): the drops become due.
        let (record, _) = t.indexes.get_mut("books").unwrap();
        for add in &p.adds {
            record.shards[usize::from(add.shard)]
                .nodes
                .push(add.node.clone());
        }
        let p2 = plan(&t, NOW, DELAY);
        assert!(p2.adds.is_empty());
        assert_eq!(p2.drops.len(), p.waiting_drops.len());
        assert!(p2.drops.iter().all(|s| s.node == "a"));
        // A copy still being built keeps the drop waiting.
        let (record, _) = t.indexes.get_mut("books").unwrap();
        let shard = usize::from(p.adds[0].shard);
        let new = p.adds[0].node.clone();
        record.shards[shard].mark_lagging(&new, LagReason::Lost, 0);
        let p3 = plan(&t, NOW, DELAY);
        assert!(
            p3.waiting_drops
                .iter()
                .any(|s| usize::from(s.shard) == shard)
        );
        assert!(p3.rebuilds.iter().any(|s| s.node == new));
    }

    #[test]
    fn too_few_nodes_never_drop_the_last_copy() {
        let mut drain = node("a");
        drain.state = NodeState::Draining;
        let t = topo(&[drain, node("b")], &["a", "b"], 4);
        let p = plan(&t, NOW, DELAY);
        assert!(p.adds.is_empty());
        assert_eq!(p.under_replicated.len(), 4);
        // Each shard keeps b as a full copy: dropping a is allowed only because b is full.
        assert_eq!(p.drops.len(), 4);
        let mut down_b = node("b");
        down_b.health = NodeHealth::Down;
        down_b.health_since = Some("2026-12-04T11:59:00Z".into());
        let mut drain = node("a");
        drain.state = NodeState::Draining;
        let t = topo(&[drain, down_b], &["a", "b"], 4);
        let p = plan(&t, NOW, DELAY);
        assert!(
            p.drops.is_empty(),
            "b is down: a's copies are the only live ones"
        );
    }
}
