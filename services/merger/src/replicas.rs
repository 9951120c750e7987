//! Which copy of a shard to read, in which order: a pure function of the topology snapshot.
//!
//! Reads go to `up` (and `draining`, which still serves) copies first, then to `suspect` ones,
//! never to `down` ones or to `incoming` copies (still being filled by a migration). Among the
//! healthy copies the starting point rotates with a per-request turn, so the copies of a shard
//! share the read load while the order stays a plain function of `(topology, turn)` for tests.

use miroir_cluster::topology::Topology;
use miroir_placement::ShardId;
use miroir_proto::topology::{Availability, IndexRecord};

/// One place a shard can be read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replica {
    pub node: String,
    pub url: String,
    /// The node-local index holding the shard (`npm__s2`).
    pub index: String,
}

/// The copies of `shard` in the order to try them.
pub fn read_order(
    topology: &Topology,
    record: &IndexRecord,
    shard: ShardId,
    turn: usize,
) -> Vec<Replica> {
    let Some(placement) = record.shards.get(shard.index()) else {
        return Vec::new();
    };
    let index = miroir_cluster::shard_name(record, shard);
    let mut healthy = Vec::new();
    let mut suspect = Vec::new();
    for id in &placement.nodes {
        let Some(node) = topology.nodes.get(id) else {
            continue;
        };
        let replica = Replica {
            node: id.clone(),
            url: node.url.clone(),
            index: index.clone(),
        };
        if placement.lag_of(id).is_some() {
            // Behind (missed writes, or lost its data): never read until it has caught up.
            continue;
        }
        match node.availability() {
            Availability::Up => healthy.push(replica),
            Availability::Suspect => suspect.push(replica),
            Availability::Down => {}
        }
    }
    if !healthy.is_empty() {
        let start = turn % healthy.len();
        healthy.rotate_left(start);
    }
    healthy.extend(suspect);
    healthy
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use miroir_proto::topology::{NodeRecord, NodeState, ShardPlacement};

    fn topology(states: &[(&str, NodeState)]) -> Topology {
        let mut t = Topology::default();
        for (id, state) in states {
            let rec = NodeRecord {
                id: id.to_string(),
                url: format!("http://{id}"),
                zone: None,
                state: *state,
                health: Default::default(),
                health_since: None,
            };
            t.nodes.insert(id.to_string(), rec);
        }
        t
    }

    fn record(nodes: &[&str]) -> IndexRecord {
        IndexRecord {
            uid: "npm".into(),
            primary_key: Some("id".into()),
            shard_count: 1,
            replication_factor: nodes.len() as u8,
            created_at: String::new(),
            updated_at: String::new(),
            shards: vec![ShardPlacement {
                nodes: nodes.iter().map(|n| n.to_string()).collect(),
                incoming: vec!["n9".into()],
                lagging: Vec::new(),
            }],
            state: Default::default(),
            storage_uid: None,
        }
    }

    fn order(t: &Topology, r: &IndexRecord, turn: usize) -> Vec<String> {
        read_order(t, r, ShardId::new(0).unwrap(), turn)
            .into_iter()
            .map(|r| r.node)
            .collect()
    }

    #[test]
    fn healthy_first_rotating_then_suspect_never_down_or_incoming() {
        use NodeState::*;
        let t = topology(&[
            ("n1", Suspect),
            ("n2", Up),
            ("n3", Down),
            ("n4", Draining),
            ("n9", Up),
        ]);
        let r = record(&["n1", "n2", "n3", "n4"]);
        assert_eq!(order(&t, &r, 0), ["n2", "n4", "n1"]);
        assert_eq!(order(&t, &r, 1), ["n4", "n2", "n1"]);
        assert_eq!(order(&t, &r, 2), ["n2", "n4", "n1"]);
        let first = read_order(&t, &r, ShardId::new(0).unwrap(), 0);
        assert_eq!(first[0].index, "npm__s0");
        assert_eq!(first[0].url, "http://n2");
    }

    #[test]
    fn suspect_only_when_nothing_else_and_nothing_when_all_down() {
        use NodeState::*;
        let t = topology(&[("n1", Suspect), ("n2", Down)]);
        assert_eq!(order(&t, &record(&["n2", "n1"]), 5), ["n1"]);
        assert!(order(&t, &record(&["n2", "unknown"]), 0).is_empty());
        assert!(read_order(&t, &record(&["n1"]), ShardId::new(3).unwrap(), 0).is_empty());
    }
}
