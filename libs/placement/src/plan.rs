//! The difference between two placements, as the rebalancer executes it.
//!
//! For every shard, the copies to create are the nodes in the new replica list but not the old,
//! the copies to drop are the nodes in the old list but not the new. They are paired up in list
//! order into [`Move`]s (create on `to`, then drop `from` once `to` has caught up); what is left
//! over is a pure addition (`from: None`, e.g. an RF increase or a first placement) or a pure
//! drop ([`PlacementDiff::drops`], e.g. an RF decrease). Reordering replicas inside a shard is
//! not a move. Shards present in only one of the placements are all additions or all drops.
//!
//! `from` says which copy the move retires, not where to copy from: the rebalancer may copy from
//! any live old replica.

use serde::{Deserialize, Serialize};

use crate::hrw::Placement;
use crate::ids::{NodeId, ShardId};

/// One shard copy to create, and the copy it replaces (dropped after cut-over), if any.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Move {
    pub shard: ShardId,
    pub from: Option<NodeId>,
    pub to: NodeId,
}

/// One existing shard copy.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CopyRef {
    pub shard: ShardId,
    pub node: NodeId,
}

/// Everything that differs between two placements of one index.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlacementDiff {
    /// Copies to create, each possibly retiring one old copy.
    pub moves: Vec<Move>,
    /// Copies to drop that no move replaces.
    pub drops: Vec<CopyRef>,
}

impl PlacementDiff {
    pub fn is_empty(&self) -> bool {
        self.moves.is_empty() && self.drops.is_empty()
    }

    /// Every old copy that goes away: the `from` of each move, then the pure drops.
    pub fn retired(&self) -> Vec<CopyRef> {
        self.moves
            .iter()
            .filter_map(|m| {
                m.from.clone().map(|node| CopyRef {
                    shard: m.shard,
                    node,
                })
            })
            .chain(self.drops.iter().cloned())
            .collect()
    }
}

/// What must happen to go from `old` to `new` (see the module docs).
pub fn diff(old: &Placement, new: &Placement) -> PlacementDiff {
    let mut out = PlacementDiff::default();
    let shards = old.shard_count().max(new.shard_count());
    // Placements hold at most MAX_SHARDS shards, so every index below is a shard id.
    for shard in (0..shards).map(|i| ShardId(i as u16)) {
        let (before, after) = (old.replicas(shard), new.replicas(shard));
        let mut removed = before.iter().filter(|n| !after.contains(n));
        for to in after.iter().filter(|n| !before.contains(n)) {
            out.moves.push(Move {
                shard,
                from: removed.next().cloned(),
                to: to.clone(),
            });
        }
        out.drops.extend(removed.map(|n| CopyRef {
            shard,
            node: n.clone(),
        }));
    }
    out
}

/// The copies to create going from `old` to `new`, each with the copy it retires.
/// Pure drops are in [`diff`].
pub fn plan_moves(old: &Placement, new: &Placement) -> Vec<Move> {
    diff(old, new).moves
}
