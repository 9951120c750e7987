//! Shard -> nodes: zone-aware rendezvous (highest random weight) hashing.
//!
//! Every (shard, node) pair gets a score
//!
//! ```text
//! score(index, shard, node) = xxh3_64_with_seed(
//!     u32_le(len(index)) ++ index ++ u16_le(shard) ++ node_id, PLACEMENT_SEED)
//! ```
//!
//! (the length prefix makes the encoding injective, so no two triples share their bytes). A
//! shard's replicas are the `min(rf, N)` best-scoring distinct nodes, listed by descending
//! score (ties, which need a 64-bit collision, fall back to node id order). The score depends
//! only on the triple, never on the other nodes nor on the order of the node list, which gives
//! the properties the rebalancer relies on:
//!
//! - **Determinism**: every service computes the same placement from the same node set.
//! - **Minimal movement on join**: a new node `n` only enters the shards where it now ranks in
//!   the top `rf`, each time displacing exactly one copy; nothing else moves. For each shard that
//!   happens with probability `rf / (N + 1)`, so about `rf * S / (N + 1)` of the `rf * S` copies
//!   move, i.e. a fair `1 / (N + 1)` share of the data.
//! - **Minimal movement on leave**: removing `n` only touches the shards `n` held, and each of
//!   them gains exactly one replacement (the next node in its ranking).
//!
//! **Zones.** When nodes carry zones, the chosen set is: the best node of each zone, the zones
//! ranked by their best node's score, taking up to `rf` of them; then, if `rf` exceeds the number
//! of zones, the remaining slots go to the best-scoring nodes not yet chosen. So with `Z >= rf`
//! zones every shard's copies sit in `rf` distinct zones, and with `Z < rf` in all `Z` zones.
//! Nodes without a zone count as one shared anonymous zone, so a fleet with no zones at all gets
//! plain rendezvous hashing. Both movement properties above survive zones: a joining node only
//! ever displaces one copy (it can become its zone's leader, demoting the old leader into the
//! fill pool, but then the chosen set changes only by swapping a copy for the newcomer), and a
//! leaving node is replaced by one node, only in the shards it held.
//!
//! **No weights.** Weighted rendezvous needs `ln` on floats, which is not guaranteed to be
//! bit-identical across platforms and libm versions; placement must be identical on every
//! machine, so nodes are equal. Run bigger machines as several nodes if needed.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::ids::{MAX_SHARDS, NodeId, ReplicationFactor, ShardCount, ShardId, Zone};

/// Seed of the placement score: the ASCII bytes `miroir:p` read big-endian.
///
/// Never change this value: every shard's location depends on it.
pub const PLACEMENT_SEED: u64 = u64::from_be_bytes(*b"miroir:p");

/// A node that may hold shards, as placement sees it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NodeInfo {
    pub id: NodeId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<Zone>,
}

impl NodeInfo {
    pub fn new(id: NodeId) -> Self {
        Self { id, zone: None }
    }

    pub fn in_zone(id: NodeId, zone: Zone) -> Self {
        Self {
            id,
            zone: Some(zone),
        }
    }
}

/// The rendezvous score of `node` for `shard` of `index_uid` (higher wins).
pub fn score(index_uid: &str, shard: ShardId, node: &NodeId) -> u64 {
    let uid = index_uid.as_bytes();
    let node = node.as_str().as_bytes();
    let mut buf = Vec::with_capacity(4 + uid.len() + 2 + node.len());
    // Index uids are at most 512 bytes; saturating keeps the encoding total for any &str.
    buf.extend_from_slice(&u32::try_from(uid.len()).unwrap_or(u32::MAX).to_le_bytes());
    buf.extend_from_slice(uid);
    buf.extend_from_slice(&shard.get().to_le_bytes());
    buf.extend_from_slice(node);
    xxh3_64_with_seed(&buf, PLACEMENT_SEED)
}

/// The replicas of `shard` of `index_uid`: `min(rf, distinct nodes)` distinct node ids, by
/// descending score, zone-aware (see the module docs). Duplicate ids in `nodes` count once.
pub fn place(
    index_uid: &str,
    shard: ShardId,
    nodes: &[NodeInfo],
    rf: ReplicationFactor,
) -> Vec<NodeId> {
    let mut ranked: Vec<(u64, &NodeInfo)> = nodes
        .iter()
        .map(|n| (score(index_uid, shard, &n.id), n))
        .collect();
    // Equal ids have equal scores, so after this sort duplicates are adjacent and the kept one
    // (smallest zone) does not depend on the input order.
    ranked.sort_by(|a, b| {
        b.0.cmp(&a.0)
            .then_with(|| a.1.id.cmp(&b.1.id))
            .then_with(|| a.1.zone.cmp(&b.1.zone))
    });
    ranked.dedup_by(|a, b| a.1.id == b.1.id);

    let want = usize::from(rf.get()).min(ranked.len());
    let mut chosen = vec![false; ranked.len()];
    let mut seen_zones: HashSet<Option<&Zone>> = HashSet::new();
    let mut taken = 0;
    for (i, (_, node)) in ranked.iter().enumerate() {
        if taken == want {
            break;
        }
        if seen_zones.insert(node.zone.as_ref()) {
            chosen[i] = true;
            taken += 1;
        }
    }
    for flag in chosen.iter_mut() {
        if taken == want {
            break;
        }
        if !*flag {
            *flag = true;
            taken += 1;
        }
    }
    ranked
        .iter()
        .zip(chosen)
        .filter(|(_, keep)| *keep)
        .map(|((_, node), _)| node.id.clone())
        .collect()
}

/// The replicas of every shard of an index.
pub fn place_index(
    index_uid: &str,
    shards: ShardCount,
    nodes: &[NodeInfo],
    rf: ReplicationFactor,
) -> Placement {
    Placement {
        shards: shards
            .shards()
            .map(|s| place(index_uid, s, nodes, rf))
            .collect(),
    }
}

/// Why a list of replica lists is not a placement.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidPlacement {
    #[error("a placement has at most {MAX_SHARDS} shards, got {0}")]
    TooManyShards(usize),
    #[error("shard {shard} lists node `{node}` more than once")]
    DuplicateReplica { shard: usize, node: NodeId },
}

/// Where every shard of one index lives: `shards[s]` are the replicas of shard `s`, best first.
///
/// JSON form (a KV value an operator can read): `{"shards": [["n1", "n2"], ["n3", "n1"]]}`.
/// Deserialisation checks the same invariants as [`Placement::new`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "PlacementRepr", into = "PlacementRepr")]
pub struct Placement {
    shards: Vec<Vec<NodeId>>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlacementRepr {
    shards: Vec<Vec<NodeId>>,
}

impl TryFrom<PlacementRepr> for Placement {
    type Error = InvalidPlacement;
    fn try_from(repr: PlacementRepr) -> Result<Self, InvalidPlacement> {
        Self::new(repr.shards)
    }
}

impl From<Placement> for PlacementRepr {
    fn from(p: Placement) -> Self {
        Self { shards: p.shards }
    }
}

impl Placement {
    /// A placement from explicit replica lists: at most [`MAX_SHARDS`] shards, no node twice in
    /// one shard. A shard may have no replica (no node available).
    pub fn new(shards: Vec<Vec<NodeId>>) -> Result<Self, InvalidPlacement> {
        if shards.len() > usize::from(MAX_SHARDS) {
            return Err(InvalidPlacement::TooManyShards(shards.len()));
        }
        for (shard, replicas) in shards.iter().enumerate() {
            let mut seen = HashSet::new();
            for node in replicas {
                if !seen.insert(node) {
                    return Err(InvalidPlacement::DuplicateReplica {
                        shard,
                        node: node.clone(),
                    });
                }
            }
        }
        Ok(Self { shards })
    }

    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// The replicas of `shard`, best first; empty for a shard this placement does not have.
    pub fn replicas(&self, shard: ShardId) -> &[NodeId] {
        self.shards.get(shard.index()).map_or(&[], Vec::as_slice)
    }

    /// Every shard with its replicas, in shard order.
    pub fn iter(&self) -> impl Iterator<Item = (ShardId, &[NodeId])> {
        // At most MAX_SHARDS entries (checked on construction), so every index is a shard id.
        self.shards
            .iter()
            .enumerate()
            .map(|(i, r)| (ShardId(i as u16), r.as_slice()))
    }

    /// The shards `node` holds a copy of.
    pub fn shards_on(&self, node: &NodeId) -> Vec<ShardId> {
        self.iter()
            .filter(|(_, replicas)| replicas.contains(node))
            .map(|(s, _)| s)
            .collect()
    }

    /// Total number of shard copies.
    pub fn copy_count(&self) -> usize {
        self.shards.iter().map(Vec::len).sum()
    }
}
