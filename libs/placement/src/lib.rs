//! Placement for Miroir: which shard a document belongs to, and which nodes hold each shard.
//!
//! Everything here is a pure, deterministic function of its arguments, so every service (router,
//! merger, rebalancer) computes the same answer from the same topology without asking anyone:
//!
//! - [`shard_for_key`]: document -> shard, `xxh3_64(canonical id, DOCUMENT_SHARD_SEED) mod
//!   shard_count`, where the canonical id makes the integer `1` and the string `"1"` the same
//!   document, as Meilisearch does ([`key`]).
//! - [`shard_index_name`]: the node-local Meilisearch index that holds one shard (`books__s3`),
//!   reversible with [`parse_shard_index_name`] ([`index_name`]).
//! - [`place`] / [`place_index`]: shard -> `rf` distinct nodes by zone-aware rendezvous hashing;
//!   adding a node moves only the copies that land on it (about `1/(N+1)` of them), removing one
//!   moves only the copies it held ([`hrw`]).
//! - [`diff`] / [`plan_moves`]: what the rebalancer must copy and drop between two placements
//!   ([`plan`]).
//!
//! Both hash seeds are pinned constants and golden tests pin exact hash values: changing either,
//! or a dependency changing xxh3's output, would silently re-home stored documents.
//!
//! ```
//! use miroir_placement::*;
//! let nodes: Vec<NodeInfo> = ["n1", "n2", "n3"]
//!     .into_iter()
//!     .map(|id| NodeId::new(id).map(NodeInfo::new))
//!     .collect::<Result<_, _>>()?;
//! let shards = ShardCount::try_from(4u16)?;
//! let rf = ReplicationFactor::try_from(2u8)?;
//!
//! let id = PrimaryKeyValue::from_json(&serde_json::json!(42)).map_err(|e| e.to_string())?;
//! let shard = shard_for_key(&id, shards);
//! let placement = place_index("books", shards, &nodes, rf);
//! let replicas = placement.replicas(shard);
//! assert_eq!(replicas.len(), 2);
//! assert_eq!(replicas, place("books", shard, &nodes, rf).as_slice());
//! let local_index = shard_index_name("books", shard); // e.g. "books__s1" on each replica
//! assert!(local_index.starts_with("books__s"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod hrw;
pub mod ids;
pub mod index_name;
pub mod key;
pub mod plan;

pub use hrw::{InvalidPlacement, NodeInfo, PLACEMENT_SEED, Placement, place, place_index, score};
pub use ids::{
    InvalidId, MAX_NAME_BYTES, MAX_SHARDS, NodeId, ReplicationFactor, ShardCount, ShardId, Zone,
};
pub use index_name::{
    MAX_INDEX_UID_BYTES, MAX_LOGICAL_INDEX_UID_BYTES, SHARD_SUFFIX_SEPARATOR,
    parse_shard_index_name, shard_index_name,
};
pub use key::{
    DOCUMENT_SHARD_SEED, InvalidDocumentId, MAX_DOCUMENT_ID_BYTES, PrimaryKeyValue, shard_for_key,
    shard_of_json_line,
};
pub use plan::{CopyRef, Move, PlacementDiff, diff, plan_moves};
