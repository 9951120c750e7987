//! The JSON values of the topology KV bucket ([`crate::subjects::TOPOLOGY_BUCKET`]).
//!
//! An operator reads and edits these with `nats kv get/put miroir-topology nodes.n1`, so they are
//! plain camelCase JSON, unknown fields are kept out (a typo in a hand edit is refused loudly by the
//! services that read it) and every field has a documented meaning in `docs/topology.md`.

use serde::{Deserialize, Serialize};

/// What the operator wants of a node (`state`). The health-checker never writes it: a probe can
/// never undo a drain or bring back a node the operator took out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum NodeState {
    /// In service: serves reads and writes, takes new shards.
    #[default]
    Up,
    /// Kept for records written before the health-checker existed: in service, but reads avoid
    /// it when another copy exists. The health-checker writes [`NodeHealth::Suspect`] instead.
    Suspect,
    /// Taken out of service by the operator (maintenance): no reads, writes are kept for it
    /// (hinted handoff) until it is back `up`.
    Down,
    /// Being emptied by the rebalancer: still serves, gets no new shards.
    Draining,
    /// Gone for good: no reads, no writes, no new shards; its copies are re-created elsewhere.
    Removed,
}

/// What the health-checker observed of a node (`health`): written only by the active
/// health-checker, with compare-and-set, after a number of probes in a row (hysteresis).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum NodeHealth {
    /// Answering its probes (also the value of a node no health-checker has looked at yet).
    #[default]
    Up,
    /// Missed some probes: reads avoid it when another copy exists; writes still go to it.
    Suspect,
    /// Missed many probes: no reads, writes are kept for it (hinted handoff); its copies are
    /// marked lagging and are read again only once they have caught up.
    Down,
}

/// A node as reads and writes see it: the operator's intent and the observed health together.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Availability {
    /// Read first.
    Up,
    /// Read only when no `Up` copy is left; written to.
    Suspect,
    /// Neither read nor written: its writes are kept for it.
    Down,
}

/// `nodes.<id>`: one Meilisearch node of the fleet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeRecord {
    pub id: String,
    /// Base URL of the node's HTTP API, e.g. `http://10.0.0.7:7700`.
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// The operator's intent.
    #[serde(default)]
    pub state: NodeState,
    /// What the health-checker observed.
    #[serde(default)]
    pub health: NodeHealth,
    /// When `health` last changed (RFC 3339), for operators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_since: Option<String>,
}

impl NodeRecord {
    /// A node in service and healthy, with no zone.
    pub fn new(id: impl Into<String>, url: impl Into<String>) -> Self {
        NodeRecord {
            id: id.into(),
            url: url.into(),
            zone: None,
            state: NodeState::Up,
            health: NodeHealth::Up,
            health_since: None,
        }
    }

    /// How reads and writes treat the node.
    pub fn availability(&self) -> Availability {
        match (self.state, self.health) {
            (NodeState::Down | NodeState::Removed, _) | (_, NodeHealth::Down) => Availability::Down,
            (NodeState::Suspect, _) | (_, NodeHealth::Suspect) => Availability::Suspect,
            (NodeState::Up | NodeState::Draining, NodeHealth::Up) => Availability::Up,
        }
    }

    /// Whether new shards may be placed on it.
    pub fn placeable(&self) -> bool {
        matches!(self.state, NodeState::Up | NodeState::Suspect) && self.health != NodeHealth::Down
    }

    /// Why the record cannot be stored: an id that is not a KV key segment, a URL that is not an
    /// absolute `http(s)` URL. Every writer checks this; readers ignore records that fail it.
    pub fn validate(&self) -> Result<(), String> {
        let id_ok = !self.id.is_empty()
            && self.id.len() <= 64
            && self
                .id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !id_ok {
            return Err(format!(
                "node id `{}` must be 1-64 characters of [A-Za-z0-9_-]",
                self.id
            ));
        }
        let rest = self
            .url
            .strip_prefix("http://")
            .or_else(|| self.url.strip_prefix("https://"));
        match rest {
            Some(host)
                if !host.is_empty()
                    && !host.starts_with('/')
                    && !host.contains(char::is_whitespace) =>
            {
                Ok(())
            }
            _ => Err(format!(
                "node `{}`: url `{}` must be an absolute http:// or https:// URL",
                self.id, self.url
            )),
        }
    }
}

/// Why a copy is out of the read set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum LagReason {
    /// It missed writes (its node was down or unreachable): they wait in its handoff queue and
    /// are replayed in order when the node is back.
    #[default]
    MissedWrites,
    /// Its node came back without the shard (a lost disk): it must be rebuilt from a live copy.
    Lost,
    /// Its queue is replayed and its node has applied it: it is written to directly again, and
    /// still not read for a short grace, so that a write queued by a router whose view of the
    /// topology lagged is replayed too before any reader can see the copy.
    CaughtUp,
}

/// A copy that is behind: written to through its handoff queue, never read until it caught up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LaggingCopy {
    pub node: String,
    #[serde(default)]
    pub reason: LagReason,
    /// The handoff stream sequence of the last write queued for this copy: the copy has caught
    /// up once its queue is replayed past it and the node has applied what it was sent.
    #[serde(default)]
    pub hint_seq: u64,
    /// When the copy went out of the read set (RFC 3339): a write deferred to it is acknowledged
    /// only once this is a settle period old (the router's `lag_settle_ms`), so that every reader
    /// has seen the copy leave before a client can expect the write in an answer. Absent in
    /// entries written before it existed (no wait).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
}

/// Where one shard lives.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ShardPlacement {
    /// Node ids holding a copy, best first (reads prefer the first live one).
    pub nodes: Vec<String>,
    /// Nodes receiving a copy during a migration: written to, not yet read from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub incoming: Vec<String>,
    /// Copies (of `nodes`) that are behind: never read, written to through their handoff queue.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lagging: Vec<LaggingCopy>,
}

impl ShardPlacement {
    pub fn new(nodes: Vec<String>) -> Self {
        ShardPlacement {
            nodes,
            incoming: Vec::new(),
            lagging: Vec::new(),
        }
    }

    /// The lag entry of `node`'s copy, if it is behind.
    pub fn lag_of(&self, node: &str) -> Option<&LaggingCopy> {
        self.lagging.iter().find(|l| l.node == node)
    }

    /// Whether `node`'s copy takes writes directly (not through its queue): it is not behind, or
    /// it has caught up and is in its grace before it is read again.
    pub fn writes_directly(&self, node: &str) -> bool {
        self.lag_of(node)
            .is_none_or(|l| l.reason == LagReason::CaughtUp)
    }

    /// Mark `node`'s copy behind (or raise its queue watermark); returns whether anything changed.
    /// A copy that enters `lagging` is stamped with the time (`since`); one already there keeps
    /// its stamp (it was out of the read set all along).
    pub fn mark_lagging(&mut self, node: &str, reason: LagReason, hint_seq: u64) -> bool {
        match self.lagging.iter_mut().find(|l| l.node == node) {
            Some(l) => {
                let mut changed = false;
                if hint_seq > l.hint_seq {
                    l.hint_seq = hint_seq;
                    changed = true;
                }
                // Lost wins over everything; a copy caught up that misses a write again is back
                // to being replayed.
                let next = match (l.reason, reason) {
                    (LagReason::Lost, _) | (_, LagReason::Lost) => LagReason::Lost,
                    (LagReason::CaughtUp, LagReason::CaughtUp) => LagReason::CaughtUp,
                    _ => LagReason::MissedWrites,
                };
                if next != l.reason {
                    l.reason = next;
                    changed = true;
                }
                changed
            }
            None => {
                self.lagging.push(LaggingCopy {
                    node: node.to_string(),
                    reason,
                    hint_seq,
                    since: Some(crate::now_rfc3339()),
                });
                true
            }
        }
    }
}

/// Lifecycle of an index in the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum IndexState {
    #[default]
    Ready,
    Deleting,
}

/// `indexes.<uid>`: a sharded index.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IndexRecord {
    pub uid: String,
    pub primary_key: Option<String>,
    pub shard_count: u16,
    pub replication_factor: u8,
    /// RFC 3339 timestamps, as Meilisearch shows them.
    pub created_at: String,
    pub updated_at: String,
    /// One entry per shard, `shards[s]` is shard `s`.
    pub shards: Vec<ShardPlacement>,
    #[serde(default)]
    pub state: IndexState,
    /// Base of the node-local names of this index's shards (`{storageUid}__s{n}`), when it is
    /// not `uid`: after an index swap or rename the records trade places while the shards keep
    /// their names on the nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_uid: Option<String>,
}

impl IndexRecord {
    /// The base name of the node-local shard indexes: `storage_uid`, else `uid`. Every node-local
    /// shard name is built from this, never from `uid`.
    pub fn storage_base(&self) -> &str {
        self.storage_uid.as_deref().unwrap_or(&self.uid)
    }
}

/// `cluster`: defaults for new indexes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterDefaults {
    pub shard_count: u16,
    pub replication_factor: u8,
}

impl Default for ClusterDefaults {
    fn default() -> Self {
        ClusterDefaults {
            shard_count: 4,
            replication_factor: 2,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_record_written_before_health_existed_still_reads() {
        let old: NodeRecord =
            serde_json::from_str(r#"{"id":"n1","url":"http://10.0.0.1:7700","state":"down"}"#)
                .unwrap();
        assert_eq!(old.health, NodeHealth::Up);
        assert_eq!(old.availability(), Availability::Down);
        assert!(
            serde_json::from_str::<NodeRecord>(
                r#"{"id":"n1","url":"http://x","state":"sleeping"}"#
            )
            .is_err()
        );
        assert!(
            serde_json::from_str::<NodeRecord>(r#"{"id":"n1","url":"http://x","helth":"up"}"#)
                .is_err()
        );
    }

    #[test]
    fn intent_and_health_combine() {
        let mut n = NodeRecord::new("n1", "http://127.0.0.1:7700");
        assert_eq!(n.availability(), Availability::Up);
        n.health = NodeHealth::Suspect;
        assert_eq!(n.availability(), Availability::Suspect);
        n.state = NodeState::Draining;
        assert_eq!(n.availability(), Availability::Suspect);
        assert!(!n.placeable());
        n.health = NodeHealth::Down;
        n.state = NodeState::Up;
        assert_eq!(n.availability(), Availability::Down);
        assert!(!n.placeable());
        n.health = NodeHealth::Up;
        n.state = NodeState::Removed;
        assert_eq!(n.availability(), Availability::Down);
    }

    #[test]
    fn bad_ids_and_urls_are_refused() {
        assert!(
            NodeRecord::new("n-1_a", "https://node.example:7700")
                .validate()
                .is_ok()
        );
        for (id, url) in [
            ("", "http://x"),
            ("a.b", "http://x"),
            ("n1", "ftp://x"),
            ("n1", "http://"),
            ("n1", "127.0.0.1:7700"),
            ("n1", "http://a b"),
        ] {
            assert!(NodeRecord::new(id, url).validate().is_err(), "{id} {url}");
        }
    }

    #[test]
    fn marking_a_copy_behind_only_raises_its_watermark() {
        let mut p = ShardPlacement::new(vec!["n1".into(), "n2".into()]);
        assert!(p.mark_lagging("n2", LagReason::MissedWrites, 5));
        assert!(!p.mark_lagging("n2", LagReason::MissedWrites, 3));
        assert_eq!(p.lag_of("n2").unwrap().hint_seq, 5);
        assert!(p.mark_lagging("n2", LagReason::Lost, 0));
        assert!(
            !p.mark_lagging("n2", LagReason::MissedWrites, 0),
            "lost stays lost"
        );
        assert_eq!(p.lag_of("n2").unwrap().reason, LagReason::Lost);
        let since = p.lag_of("n2").unwrap().since.clone().unwrap();
        assert!(
            time::OffsetDateTime::parse(&since, &time::format_description::well_known::Rfc3339)
                .is_ok(),
            "{since}"
        );
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(
            json["lagging"][0],
            serde_json::json!({"node": "n2", "reason": "lost", "hintSeq": 5, "since": since})
        );
        let back: ShardPlacement = serde_json::from_value(json).unwrap();
        assert_eq!(back, p);
        // Written before `since` existed: still read.
        let old: ShardPlacement = serde_json::from_value(serde_json::json!({
            "nodes": ["n1", "n2"],
            "lagging": [{"node": "n2", "reason": "missedWrites", "hintSeq": 2}]
        }))
        .unwrap();
        assert_eq!(old.lag_of("n2").unwrap().since, None);
        assert!(
            serde_json::to_value(ShardPlacement::new(vec!["n1".into()]))
                .unwrap()
                .get("lagging")
                .is_none()
        );
    }
}
