//! Newtypes for every identifier that placement math touches.
//!
//! Each type validates on construction (and on JSON deserialisation, through `try_from`), so a
//! value that exists is a value that is safe to use: a [`NodeId`] can go into a NATS KV key, a
//! [`ShardCount`] can be a divisor, a [`ReplicationFactor`] is never zero. Values that come from
//! operators or clients are parsed with `TryFrom`/`FromStr` and never panic.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The largest shard count an index may have. Shard ids are therefore `0..1024`, which keeps the
/// node-local index name suffix (`__s1023`) at most 7 bytes long.
pub const MAX_SHARDS: u16 = 1024;

/// The longest [`NodeId`] and [`Zone`], in bytes.
pub const MAX_NAME_BYTES: usize = 64;

/// Why a value could not become one of this module's newtypes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidId {
    #[error("shard count must be between 1 and {MAX_SHARDS}, got {0}")]
    ShardCount(u64),
    #[error("shard id must be below {MAX_SHARDS}, got {0}")]
    ShardId(u64),
    #[error("node id `{0}` is invalid: it must be 1 to {MAX_NAME_BYTES} bytes of a-z A-Z 0-9 - _")]
    NodeId(String),
    #[error("zone `{0}` is invalid: it must be 1 to {MAX_NAME_BYTES} bytes of a-z A-Z 0-9 - _ .")]
    Zone(String),
    #[error("replication factor must be at least 1, got {0}")]
    ReplicationFactor(u64),
}

/// One shard of an index: `0 <= id < shard count`.
///
/// A bare `ShardId` does not know its index's shard count; [`ShardCount::shards`] and
/// [`ShardCount::contains`] relate the two.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u16", into = "u16")]
pub struct ShardId(pub(crate) u16);

impl ShardId {
    /// A shard id, if it is below [`MAX_SHARDS`].
    pub const fn new(id: u16) -> Option<Self> {
        if id < MAX_SHARDS {
            Some(Self(id))
        } else {
            None
        }
    }

    pub const fn get(self) -> u16 {
        self.0
    }

    /// The id as a `usize`, to index per-shard vectors.
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

impl TryFrom<u16> for ShardId {
    type Error = InvalidId;
    fn try_from(id: u16) -> Result<Self, InvalidId> {
        Self::new(id).ok_or(InvalidId::ShardId(u64::from(id)))
    }
}

impl From<ShardId> for u16 {
    fn from(id: ShardId) -> u16 {
        id.0
    }
}

impl fmt::Display for ShardId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// How many shards an index is split into: `1..=1024`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u16", into = "u16")]
pub struct ShardCount(u16);

impl ShardCount {
    /// A shard count, if it is in `1..=MAX_SHARDS`.
    pub const fn new(count: u16) -> Option<Self> {
        if count >= 1 && count <= MAX_SHARDS {
            Some(Self(count))
        } else {
            None
        }
    }

    pub const fn get(self) -> u16 {
        self.0
    }

    /// Whether `shard` is one of this count's shards.
    pub const fn contains(self, shard: ShardId) -> bool {
        shard.0 < self.0
    }

    /// Every shard id, in order.
    pub fn shards(self) -> impl ExactSizeIterator<Item = ShardId> + Clone {
        // Every value below a valid count is below MAX_SHARDS, so the constructor is bypassed.
        (0..self.0).map(ShardId)
    }
}

impl TryFrom<u16> for ShardCount {
    type Error = InvalidId;
    fn try_from(count: u16) -> Result<Self, InvalidId> {
        Self::new(count).ok_or(InvalidId::ShardCount(u64::from(count)))
    }
}

impl TryFrom<u64> for ShardCount {
    type Error = InvalidId;
    fn try_from(count: u64) -> Result<Self, InvalidId> {
        u16::try_from(count)
            .ok()
            .and_then(Self::new)
            .ok_or(InvalidId::ShardCount(count))
    }
}

impl From<ShardCount> for u16 {
    fn from(count: ShardCount) -> u16 {
        count.0
    }
}

impl fmt::Display for ShardCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// How many copies of each shard the fleet keeps: at least 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct ReplicationFactor(u8);

impl ReplicationFactor {
    pub const ONE: Self = Self(1);

    pub const fn new(rf: u8) -> Option<Self> {
        if rf >= 1 { Some(Self(rf)) } else { None }
    }

    pub const fn get(self) -> u8 {
        self.0
    }
}

impl TryFrom<u8> for ReplicationFactor {
    type Error = InvalidId;
    fn try_from(rf: u8) -> Result<Self, InvalidId> {
        Self::new(rf).ok_or(InvalidId::ReplicationFactor(u64::from(rf)))
    }
}

impl TryFrom<u64> for ReplicationFactor {
    type Error = InvalidId;
    fn try_from(rf: u64) -> Result<Self, InvalidId> {
        u8::try_from(rf)
            .ok()
            .and_then(Self::new)
            .ok_or(InvalidId::ReplicationFactor(rf))
    }
}

impl From<ReplicationFactor> for u8 {
    fn from(rf: ReplicationFactor) -> u8 {
        rf.0
    }
}

impl fmt::Display for ReplicationFactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

fn is_name(s: &str, extra: &[u8]) -> bool {
    !s.is_empty()
        && s.len() <= MAX_NAME_BYTES
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || extra.contains(&b))
}

/// A Meilisearch node's stable name in the fleet.
///
/// Restricted to 1..=64 bytes of `[A-Za-z0-9_-]` because it is a NATS KV key token (no `.`,
/// `*`, `>`, `/` or spaces) and part of log lines and metric labels. It is also hashed into
/// every placement score, so renaming a node moves its shards: pick names that outlive hosts.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct NodeId(String);

impl NodeId {
    pub fn new(id: impl Into<String>) -> Result<Self, InvalidId> {
        let id = id.into();
        if is_name(&id, &[]) {
            Ok(Self(id))
        } else {
            Err(InvalidId::NodeId(id))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for NodeId {
    type Error = InvalidId;
    fn try_from(id: String) -> Result<Self, InvalidId> {
        Self::new(id)
    }
}

impl FromStr for NodeId {
    type Err = InvalidId;
    fn from_str(id: &str) -> Result<Self, InvalidId> {
        Self::new(id)
    }
}

impl From<NodeId> for String {
    fn from(id: NodeId) -> String {
        id.0
    }
}

impl AsRef<str> for NodeId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A failure domain (rack, availability zone, data centre) that a node belongs to.
///
/// 1..=64 bytes of `[A-Za-z0-9_.-]` (so `eu-west-1a` and `dc1.rack4` both fit). Zones are only
/// compared for equality; their names never enter a hash.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Zone(String);

impl Zone {
    pub fn new(zone: impl Into<String>) -> Result<Self, InvalidId> {
        let zone = zone.into();
        if is_name(&zone, b".") {
            Ok(Self(zone))
        } else {
            Err(InvalidId::Zone(zone))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Zone {
    type Error = InvalidId;
    fn try_from(zone: String) -> Result<Self, InvalidId> {
        Self::new(zone)
    }
}

impl FromStr for Zone {
    type Err = InvalidId;
    fn from_str(zone: &str) -> Result<Self, InvalidId> {
        Self::new(zone)
    }
}

impl From<Zone> for String {
    fn from(zone: Zone) -> String {
        zone.0
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
