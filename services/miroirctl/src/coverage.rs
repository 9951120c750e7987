//! Which copies of a shard can serve reads, as the merger sees them: pure functions of a topology
//! snapshot, shared by `status`, `plan` and `node remove`.
//!
//! A *live full copy* is a node listed in the shard's `nodes` (not `incoming`: a migration target
//! serves no reads), not `lagging` (behind or lost), whose node record exists and whose
//! availability (operator intent and observed health together) is not down.

use miroir_cluster::topology::Topology;
use miroir_proto::topology::{Availability, IndexRecord, IndexState, ShardPlacement};

/// The ready indexes (an index being deleted needs no coverage).
pub fn ready_indexes(topo: &Topology) -> impl Iterator<Item = &IndexRecord> {
    topo.indexes
        .values()
        .map(|(r, _)| r)
        .filter(|r| r.state == IndexState::Ready)
}

/// A shard that `node` holds a copy of (in `nodes`) or receives one of (in `incoming`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldCopy {
    pub index: String,
    pub shard: u16,
    pub incoming: bool,
}

/// Every copy `node` holds or receives, in every index record (deleting ones too: their data
/// is still on the node).
pub fn copies_of(topo: &Topology, node: &str) -> Vec<HeldCopy> {
    let mut out = Vec::new();
    for (record, _) in topo.indexes.values() {
        for (s, p) in record.shards.iter().enumerate() {
            let shard = s as u16;
            if p.nodes.iter().any(|n| n == node) {
                out.push(HeldCopy {
                    index: record.uid.clone(),
                    shard,
                    incoming: false,
                });
            }
            if p.incoming.iter().any(|n| n == node) {
                out.push(HeldCopy {
                    index: record.uid.clone(),
                    shard,
                    incoming: true,
                });
            }
        }
    }
    out
}

/// Lower-case name of an availability, as the JSON shows it.
pub fn availability_name(a: Availability) -> &'static str {
    match a {
        Availability::Up => "up",
        Availability::Suspect => "suspect",
        Availability::Down => "down",
    }
}

/// How one copy of a shard reads in a message: `n3 (down)`, `n4 (lagging: lost)`.
pub fn describe_copy(topo: &Topology, placement: &ShardPlacement, node: &str) -> String {
    let mut notes = Vec::new();
    match topo.nodes.get(node) {
        None => notes.push("no node record".to_string()),
        Some(r) if r.availability() == Availability::Down => notes.push("down".to_string()),
        Some(_) => {}
    }
    if let Some(lag) = placement.lag_of(node) {
        let reason = match lag.reason {
            miroir_proto::topology::LagReason::MissedWrites => "missed writes",
            miroir_proto::topology::LagReason::Lost => "lost",
            miroir_proto::topology::LagReason::CaughtUp => "caught up",
        };
        notes.push(format!("lagging: {reason}"));
    }
    if notes.is_empty() {
        node.to_string()
    } else {
        format!("{node} ({})", notes.join(", "))
    }
}
