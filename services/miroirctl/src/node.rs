//! `miroirctl node add | drain | undrain | remove`: the operator's intent (`state`) of a node.
//!
//! Every write is a compare-and-set through [`TopologyStore::put_node`] (which keeps the
//! health-checker's `health`) or [`TopologyStore::modify_node`]; the checks that guard a removal
//! are a pure function of a topology snapshot ([`check_remove`]) and are repeated on the record
//! read by the compare-and-set, so a node that comes back up between the check and the write is
//! not removed.
//!
//! [`TopologyStore::put_node`]: miroir_cluster::topology::TopologyStore::put_node
//! [`TopologyStore::modify_node`]: miroir_cluster::topology::TopologyStore::modify_node

use std::fmt::Write as _;
use std::time::Duration;

use miroir_cluster::plan::target_nodes;
use miroir_cluster::topology::Topology;
use miroir_proto::topology::{NodeHealth, NodeRecord, NodeState};
use serde::Serialize;

use crate::coverage::{copies_of, describe_copy, ready_indexes};
use crate::{Ctl, CtlError, Report};

/// What a node command did.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeOutcome {
    /// Whether the record was written (false: it already was as asked).
    pub changed: bool,
    /// The record as it is now.
    pub node: NodeRecord,
    pub message: String,
    pub warnings: Vec<String>,
}

impl Report for NodeOutcome {
    fn render(&self) -> String {
        let mut out = format!("{}\n", self.message);
        for w in &self.warnings {
            let _ = writeln!(out, "warning: {w}");
        }
        out
    }
}

fn unknown(id: &str) -> CtlError {
    CtlError::Refused(format!(
        "unknown node `{id}`: `miroirctl status` lists the nodes; `miroirctl node add {id} URL` registers one"
    ))
}

/// `node add ID URL [--zone Z] [--update]`.
pub async fn add(
    ctl: &Ctl,
    id: &str,
    url: &str,
    zone: Option<&str>,
    update: bool,
) -> Result<NodeOutcome, CtlError> {
    let mut record = NodeRecord::new(id, url);
    record.zone = zone.map(str::to_string);
    record.validate().map_err(CtlError::Refused)?;
    let existing = ctl.topology.current().nodes.get(id).cloned();
    match existing {
        Some(old) if !update => Err(CtlError::Refused(format!(
            "node `{id}` already exists (url {}, state {}); pass --update to change its url and zone",
            old.url,
            state_name(old.state)
        ))),
        Some(_) => {
            let mut was_removed = false;
            let mut changed = false;
            let written = ctl
                .topology
                .modify_node(id, |r| {
                    was_removed = r.state == NodeState::Removed;
                    let before = r.clone();
                    r.url = record.url.clone();
                    r.zone = record.zone.clone();
                    if was_removed {
                        r.state = NodeState::Up;
                    }
                    changed = *r != before;
                    changed
                })
                .await?
                .ok_or_else(|| unknown(id))?;
            let message = if was_removed {
                format!("node `{id}` is back in service (state up, url {url})")
            } else if changed {
                format!(
                    "node `{id}` updated (url {url}, state {})",
                    state_name(written.state)
                )
            } else {
                format!("node `{id}` already had url {url} and this zone")
            };
            Ok(NodeOutcome {
                changed,
                node: written,
                message,
                warnings: Vec::new(),
            })
        }
        None => {
            ctl.topology.put_node(&record).await?;
            let node = read_back(ctl, id).await?.unwrap_or(record);
            let message = format!(
                "node `{id}` added (state up): new indexes are placed on it; the rebalancer moves existing copies onto it (`miroirctl plan` shows which)"
            );
            let warnings = same_url(&ctl.topology.current(), id, url);
            Ok(NodeOutcome {
                changed: true,
                node,
                message,
                warnings,
            })
        }
    }
}

/// Other nodes registered with the same URL: two ids for one Meilisearch would hold two copies
/// of a shard on one disk.
pub fn same_url(topo: &Topology, id: &str, url: &str) -> Vec<String> {
    let norm = |u: &str| u.trim_end_matches('/').to_ascii_lowercase();
    topo.nodes
        .values()
        .filter(|n| n.id != id && n.state != NodeState::Removed && norm(&n.url) == norm(url))
        .map(|n| {
            format!(
                "node `{}` has the same url {url}: two ids for one Meilisearch put two copies of a shard on one disk; remove one of them",
                n.id
            )
        })
        .collect()
}

async fn read_back(ctl: &Ctl, id: &str) -> Result<Option<NodeRecord>, CtlError> {
    Ok(ctl.topology.modify_node(id, |_| false).await?)
}

/// `node drain ID`: state draining.
pub async fn drain(ctl: &Ctl, id: &str) -> Result<NodeOutcome, CtlError> {
    let topo = ctl.topology.current();
    let warnings = drain_warnings(&topo, id);
    let outcome = set_state(ctl, id, NodeState::Draining, |from| match from {
        NodeState::Removed => Some(format!(
            "node `{id}` is removed; a removed node holds nothing to drain"
        )),
        _ => None,
    })
    .await?;
    let message = if outcome.1 {
        format!(
            "node `{id}` is draining: it keeps serving while the rebalancer moves its copies away (`miroirctl plan`, `miroirctl migrations --follow`); remove it once `miroirctl status` shows it holds 0 copies"
        )
    } else {
        format!("node `{id}` was already draining")
    };
    Ok(NodeOutcome {
        changed: outcome.1,
        node: outcome.0,
        message,
        warnings,
    })
}

/// `node undrain ID`: state up again.
pub async fn undrain(ctl: &Ctl, id: &str) -> Result<NodeOutcome, CtlError> {
    let outcome = set_state(ctl, id, NodeState::Up, |from| match from {
        NodeState::Removed => Some(format!(
            "node `{id}` is removed, not draining; put it back with `miroirctl node add {id} URL --update`"
        )),
        _ => None,
    })
    .await?;
    let message = if outcome.1 {
        format!("node `{id}` is up: it takes new copies again")
    } else {
        format!("node `{id}` was already up")
    };
    Ok(NodeOutcome {
        changed: outcome.1,
        node: outcome.0,
        message,
        warnings: Vec::new(),
    })
}

/// Set `state` with compare-and-set; `refuse` sees the stored state and may refuse.
async fn set_state(
    ctl: &Ctl,
    id: &str,
    state: NodeState,
    refuse: impl Fn(NodeState) -> Option<String>,
) -> Result<(NodeRecord, bool), CtlError> {
    let mut refusal = None;
    let mut changed = false;
    let record = ctl
        .topology
        .modify_node(id, |r| {
            refusal = refuse(r.state);
            changed = refusal.is_none() && r.state != state;
            if changed {
                r.state = state;
            }
            changed
        })
        .await?
        .ok_or_else(|| unknown(id))?;
    match refusal {
        Some(msg) => Err(CtlError::Refused(msg)),
        None => Ok((record, changed)),
    }
}

/// What the cluster loses when `id` stops taking copies: indexes whose replication factor the
/// remaining target nodes cannot meet.
pub fn drain_warnings(topo: &Topology, id: &str) -> Vec<String> {
    let mut after = topo.clone();
    match after.nodes.get_mut(id) {
        Some(n) => n.state = NodeState::Draining,
        None => return Vec::new(),
    }
    let targets = target_nodes(
        &after,
        time::OffsetDateTime::now_utc(),
        Duration::from_secs(300),
    )
    .len();
    ready_indexes(topo)
        .filter(|r| usize::from(r.replication_factor) > targets)
        .map(|r| {
            format!(
                "index `{}` wants {} copies of each shard but only {targets} node(s) will take copies: its shards stay under-replicated until you add a node",
                r.uid, r.replication_factor
            )
        })
        .collect()
}

/// Why `id` may not be removed now, from a topology snapshot. `Ok(true)`: remove it;
/// `Ok(false)`: it already is removed.
pub fn check_remove(topo: &Topology, id: &str) -> Result<bool, CtlError> {
    let Some(node) = topo.nodes.get(id) else {
        return Err(unknown(id));
    };
    if node.state == NodeState::Removed {
        return Ok(false);
    }
    let held = copies_of(topo, id);
    if !held.is_empty() && node.health != NodeHealth::Down {
        let shown: Vec<String> = held
            .iter()
            .take(8)
            .map(|c| format!("{}/{}", c.index, c.shard))
            .collect();
        let more = if held.len() > shown.len() {
            format!(", and {} more", held.len() - shown.len())
        } else {
            String::new()
        };
        return Err(CtlError::Refused(format!(
            "node `{id}` still holds {} shard cop{} ({}{more}) and the health-checker does not see it down: drain it first (`miroirctl node drain {id}`), wait until `miroirctl status` shows it holds 0 copies, then remove it. A dead node can be removed once the health-checker marks it down.",
            held.len(),
            if held.len() == 1 { "y" } else { "ies" },
            shown.join(", ")
        )));
    }
    for record in ready_indexes(topo) {
        for (s, p) in record.shards.iter().enumerate() {
            if !p.nodes.iter().any(|n| n == id) {
                continue;
            }
            if topo.live_full_copies(p).iter().all(|n| *n == id) {
                let others: Vec<String> = p
                    .nodes
                    .iter()
                    .filter(|n| *n != id)
                    .map(|n| describe_copy(topo, p, n))
                    .collect();
                let others = if others.is_empty() {
                    "none".to_string()
                } else {
                    others.join(", ")
                };
                return Err(CtlError::Refused(format!(
                    "removing `{id}` would leave index `{}` shard {s} with no live full copy (other copies: {others}): its data would exist nowhere the cluster can copy it from. Bring one of those nodes back (or wait for a lagging copy to catch up), then retry.",
                    record.uid
                )));
            }
        }
    }
    Ok(true)
}

/// `node remove ID`: state removed, after [`check_remove`].
pub async fn remove(ctl: &Ctl, id: &str) -> Result<NodeOutcome, CtlError> {
    let topo = ctl.topology.current();
    let wanted = check_remove(&topo, id)?;
    let holds = !copies_of(&topo, id).is_empty();
    let mut came_back = false;
    let record = ctl
        .topology
        .modify_node(id, |r| {
            // The snapshot said the node was down; if it came back since, refuse instead.
            came_back = holds && r.health != NodeHealth::Down;
            if !wanted || came_back || r.state == NodeState::Removed {
                return false;
            }
            r.state = NodeState::Removed;
            true
        })
        .await?
        .ok_or_else(|| unknown(id))?;
    if came_back {
        return Err(CtlError::Refused(format!(
            "node `{id}` is no longer down and still holds copies: drain it first (`miroirctl node drain {id}`)"
        )));
    }
    let message = if !wanted {
        format!("node `{id}` was already removed")
    } else if holds {
        format!(
            "node `{id}` removed: its copies are re-created on other nodes by the rebalancer (`miroirctl plan`, `miroirctl migrations --follow`)"
        )
    } else {
        format!("node `{id}` removed")
    };
    Ok(NodeOutcome {
        changed: wanted,
        node: record,
        message,
        warnings: Vec::new(),
    })
}

pub fn state_name(s: NodeState) -> &'static str {
    match s {
        NodeState::Up => "up",
        NodeState::Suspect => "suspect",
        NodeState::Down => "down",
        NodeState::Draining => "draining",
        NodeState::Removed => "removed",
    }
}

pub fn health_name(h: NodeHealth) -> &'static str {
    match h {
        NodeHealth::Up => "up",
        NodeHealth::Suspect => "suspect",
        NodeHealth::Down => "down",
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use miroir_proto::topology::{IndexRecord, IndexState, LagReason, ShardPlacement};

    const PLACEMENTS: [&[&str]; 6] = [
        &["a"],
        &["b"],
        &["c"],
        &["a", "b"],
        &["b", "c"],
        &["c", "a"],
    ];

    /// Every topology of three nodes (up or draining, healthy or down) and one index of two
    /// shards placed over them, with or without the first copy of shard 0 lagging.
    fn topologies() -> impl Iterator<Item = Topology> {
        (0..64u32).flat_map(|nodes| {
            (0..36usize).flat_map(move |placed| {
                [false, true].into_iter().map(move |lagging| {
                    let mut t = Topology::default();
                    for (i, id) in ["a", "b", "c"].into_iter().enumerate() {
                        let bits = nodes >> (2 * i);
                        let mut n = NodeRecord::new(id, format!("http://{id}"));
                        if bits & 1 == 1 {
                            n.state = NodeState::Draining;
                        }
                        if bits & 2 == 2 {
                            n.health = NodeHealth::Down;
                        }
                        t.nodes.insert(id.into(), n);
                    }
                    let shard =
                        |p: &[&str]| ShardPlacement::new(p.iter().map(|n| n.to_string()).collect());
                    let mut shards =
                        vec![shard(PLACEMENTS[placed / 6]), shard(PLACEMENTS[placed % 6])];
                    if lagging {
                        let first = shards[0].nodes[0].clone();
                        shards[0].mark_lagging(&first, LagReason::MissedWrites, 1);
                    }
                    let record = IndexRecord {
                        uid: "books".into(),
                        primary_key: None,
                        shard_count: 2,
                        replication_factor: 2,
                        created_at: String::new(),
                        updated_at: String::new(),
                        shards,
                        state: IndexState::Ready,
                        storage_uid: None,
                    };
                    t.indexes.insert("books".into(), (record, 1));
                    t
                })
            })
        })
    }

    #[test]
    fn a_removal_is_allowed_exactly_when_nothing_readable_is_lost() {
        let mut allowed = 0;
        for t in topologies() {
            for id in ["a", "b", "c"] {
                let node = &t.nodes[id];
                let holds = !copies_of(&t, id).is_empty();
                let every_shard_kept = t.indexes["books"]
                    .0
                    .shards
                    .iter()
                    .filter(|p| p.nodes.iter().any(|n| n == id))
                    .all(|p| t.live_full_copies(p).iter().any(|n| *n != id));
                let expected = !holds || (node.health == NodeHealth::Down && every_shard_kept);
                let got = check_remove(&t, id);
                assert_eq!(
                    got.is_ok(),
                    expected,
                    "{id} in {:?}: {got:?}",
                    t.indexes["books"].0.shards
                );
                if got.is_ok() {
                    allowed += 1;
                    // After the removal every shard that was readable still is.
                    let mut after = t.clone();
                    after.nodes.get_mut(id).unwrap().state = NodeState::Removed;
                    for (before, now) in t.indexes["books"]
                        .0
                        .shards
                        .iter()
                        .zip(&after.indexes["books"].0.shards)
                    {
                        assert!(
                            t.live_full_copies(before).is_empty()
                                || !after.live_full_copies(now).is_empty()
                        );
                    }
                }
            }
        }
        assert!(allowed > 1000, "the law is not vacuous: {allowed}");
        assert!(
            matches!(check_remove(&Topology::default(), "a"), Err(CtlError::Refused(m)) if m.contains("unknown node"))
        );
    }
}
