//! Every copy of every shard of an index must hold the same settings: scores are only comparable
//! between shards ranked the same way. Writes keep them equal, but a settings task that failed on
//! some copies, a node that missed a change while it was down, or an operator's hand on one node
//! can make them drift apart. This loop finds and repairs that.
//!
//! It runs every `settings_drift_interval_ms`, at once when a settings task is seen failed (by
//! [`Router::task_view`]) and when a node comes back up. For each index it reads
//! `GET /indexes/{shard}/settings` from every copy (not from migration targets, which the
//! rebalancer fills), and when they differ it re-applies the settings held by the most copies to
//! the others, with a `PATCH` of the settings that differ. An index with a task still queued or
//! running on any copy is skipped that round (the difference may be a change in flight), and
//! checked again shortly. With no majority (a tie) nothing is changed: the drift is logged and
//! counted, and needs an operator. `embedders` and `chat` are compared but never re-applied:
//! nodes mask their secrets when they show them.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Duration;

use miroir_placement::ShardId;
use miroir_proto::topology::{Availability, IndexRecord, IndexState};
use reqwest::Method;
use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

use crate::Router;

/// Settings that are never re-applied (their secrets are masked when read).
const NOT_REPAIRED: &[&str] = &["embedders", "chat"];
/// After a check that could not see everything, look again this soon, this many times.
const FOLLOW_UP: Duration = Duration::from_secs(1);
const FOLLOW_UPS: u32 = 20;

/// One copy of one shard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Copy {
    pub node: String,
    pub url: String,
    pub index: String,
}

/// What one check saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Copies given the majority's settings.
    pub repaired: usize,
    /// Some copy could not be compared (busy, unreachable, missing): look again soon.
    pub incomplete: bool,
}

/// The settings every copy should hold, and the copies that hold something else (by position):
/// `None` when there is no strict majority.
pub fn majority(values: &[Value]) -> Option<(&Value, Vec<usize>)> {
    let mut groups: Vec<(&Value, usize)> = Vec::new();
    for v in values {
        match groups.iter_mut().find(|(g, _)| *g == v) {
            Some((_, n)) => *n += 1,
            None => groups.push((v, 1)),
        }
    }
    let best = groups.iter().map(|(_, n)| *n).max()?;
    let mut leaders = groups.iter().filter(|(_, n)| *n == best);
    let (reference, _) = leaders.next()?;
    if leaders.next().is_some() {
        return None;
    }
    let drifted = values
        .iter()
        .enumerate()
        .filter(|(_, v)| v != reference)
        .map(|(i, _)| i)
        .collect();
    Some((reference, drifted))
}

/// The `PATCH` that brings `current` to `reference`: the top-level settings that differ, except
/// those never re-applied. `None` when nothing can be patched.
pub fn patch(reference: &Value, current: &Value) -> Option<Value> {
    let (Value::Object(r), Value::Object(c)) = (reference, current) else {
        return None;
    };
    let body: Map<String, Value> = r
        .iter()
        .filter(|(k, v)| !NOT_REPAIRED.contains(&k.as_str()) && c.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    (!body.is_empty()).then_some(Value::Object(body))
}

/// Run until `shutdown`.
pub(crate) async fn run(router: Arc<Router>, shutdown: CancellationToken) {
    let period = Duration::from_millis(router.config.settings_drift_interval_ms);
    let mut topology = router.topology.subscribe();
    let mut up = up_nodes(&router);
    let mut follow_ups = 0u32;
    loop {
        let next_period = async {
            if period.is_zero() {
                std::future::pending::<()>().await;
            } else {
                tokio::time::sleep(period).await;
            }
        };
        let waiting = follow_ups > 0;
        let follow_up = async move {
            if !waiting {
                std::future::pending::<()>().await;
            } else {
                tokio::time::sleep(FOLLOW_UP).await;
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = next_period => {}
            _ = follow_up => follow_ups -= 1,
            _ = router.drift.notified() => follow_ups = FOLLOW_UPS,
            changed = topology.changed() => {
                if changed.is_err() {
                    return;
                }
                let now_up = up_nodes(&router);
                let back: Vec<&String> = now_up.difference(&up).collect();
                let returned = !back.is_empty();
                if returned {
                    tracing::info!(nodes = ?back, "nodes came back up: checking shard settings");
                }
                up = now_up;
                if !returned {
                    continue;
                }
                follow_ups = FOLLOW_UPS;
            }
        }
        let outcome = router.check_settings().await;
        if !outcome.incomplete {
            follow_ups = 0;
        }
    }
}

fn up_nodes(router: &Router) -> BTreeSet<String> {
    router
        .topology
        .current()
        .nodes
        .values()
        .filter(|n| n.availability() == Availability::Up)
        .map(|n| n.id.clone())
        .collect()
}

impl Router {
    /// Compare the settings of every copy of every index, and repair the drifted ones.
    pub(crate) async fn check_settings(&self) -> Outcome {
        crate::metrics::drift_check();
        let topology = self.topology.current();
        let mut outcome = Outcome::default();
        let nodes: Vec<(String, String)> = topology
            .nodes
            .values()
            .filter(|n| n.availability() != Availability::Down)
            .map(|n| (n.id.clone(), n.url.clone()))
            .collect();
        let busy = futures::future::join_all(
            nodes
                .iter()
                .map(|(id, url)| async move { (id.clone(), self.busy_indexes(url).await) }),
        )
        .await;
        let busy: BTreeMap<String, Option<HashSet<String>>> = busy.into_iter().collect();
        for (record, _) in topology.indexes.values() {
            if record.state != IndexState::Ready {
                continue;
            }
            let copies = copies(record, &topology);
            let blocked = copies.iter().any(|c| {
                busy.get(&c.node)
                    .is_none_or(|b| b.as_ref().is_none_or(|set| set.contains(&c.index)))
            });
            if blocked {
                outcome.incomplete = true;
                continue;
            }
            let r = self.converge(record, &copies).await;
            outcome.repaired += r.repaired;
            outcome.incomplete |= r.incomplete;
        }
        outcome
    }

    /// The node-local indexes with a task queued or running on a node; `None` if it cannot tell.
    async fn busy_indexes(&self, url: &str) -> Option<HashSet<String>> {
        const LIMIT: usize = 1000;
        let path = format!("/tasks?statuses=enqueued,processing&limit={LIMIT}");
        let answer = self.nodes.json(url, Method::GET, &path, None).await.ok()?;
        let results = answer.get("results")?.as_array()?;
        if answer.get("total").and_then(Value::as_u64).unwrap_or(0) > LIMIT as u64 {
            return None;
        }
        Some(
            results
                .iter()
                .filter_map(|t| t.get("indexUid")?.as_str().map(str::to_string))
                .collect(),
        )
    }

    async fn converge(&self, record: &IndexRecord, copies: &[Copy]) -> Outcome {
        let mut outcome = Outcome::default();
        let reads = futures::future::join_all(copies.iter().map(|c| async move {
            let path = format!("/indexes/{}/settings", c.index);
            (c, self.nodes.json(&c.url, Method::GET, &path, None).await)
        }))
        .await;
        let mut seen: Vec<(&Copy, Value)> = Vec::new();
        for (copy, read) in reads {
            match read {
                Ok(settings) => seen.push((copy, settings)),
                Err(e) => {
                    tracing::debug!(node = %copy.node, index = %copy.index, error = %e, "cannot read the settings of a shard copy");
                    outcome.incomplete = true;
                }
            }
        }
        if seen.len() < 2 {
            return outcome;
        }
        let values: Vec<Value> = seen.iter().map(|(_, v)| v.clone()).collect();
        let Some((reference, drifted)) = majority(&values) else {
            crate::metrics::drift_unresolved();
            tracing::error!(index = %record.uid, "the shard copies of an index hold different settings and no majority: an operator must choose");
            return outcome;
        };
        for i in drifted {
            let Some((copy, current)) = seen.get(i) else {
                continue;
            };
            crate::metrics::drift_repaired();
            let Some(body) = patch(reference, current) else {
                tracing::error!(index = %record.uid, node = %copy.node, shard = %copy.index, "settings drifted in what cannot be re-applied (embedders or chat)");
                continue;
            };
            let keys: Vec<&String> = body
                .as_object()
                .map(|o| o.keys().collect())
                .unwrap_or_default();
            tracing::warn!(index = %record.uid, node = %copy.node, shard = %copy.index, settings = ?keys, "shard settings drifted: re-applying the majority's");
            let path = format!("/indexes/{}/settings", copy.index);
            match self
                .nodes
                .json(&copy.url, Method::PATCH, &path, Some(&body))
                .await
            {
                Ok(_) => outcome.repaired += 1,
                Err(e) => {
                    tracing::warn!(node = %copy.node, shard = %copy.index, error = %e, "cannot repair the settings of a shard copy");
                    outcome.incomplete = true;
                }
            }
        }
        // A repair is a node task: look again once it ran.
        outcome.incomplete |= outcome.repaired > 0;
        outcome
    }
}

/// Every readable copy of every shard: the replicas (not the migration targets, not the copies
/// catching up, whose settings arrive through their queue) on nodes that are not down, shard by
/// shard, best replica first.
fn copies(record: &IndexRecord, topology: &miroir_cluster::topology::Topology) -> Vec<Copy> {
    let mut out = Vec::new();
    for (s, placement) in record.shards.iter().enumerate() {
        let Some(shard) = u16::try_from(s).ok().and_then(ShardId::new) else {
            continue;
        };
        let index = miroir_cluster::shard_name(record, shard);
        for node in &placement.nodes {
            if placement.lag_of(node).is_some() {
                continue;
            }
            let Some(n) = topology
                .nodes
                .get(node)
                .filter(|n| n.availability() != Availability::Down)
            else {
                continue;
            };
            out.push(Copy {
                node: node.clone(),
                url: n.url.clone(),
                index: index.clone(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn the_majority_wins_and_a_tie_decides_nothing() {
        let a = json!({"filterableAttributes": ["year"], "rankingRules": ["words"]});
        let b = json!({"filterableAttributes": [], "rankingRules": ["words"]});
        let values = vec![a.clone(), a.clone(), b.clone(), a.clone()];
        let (reference, drifted) = majority(&values).unwrap();
        assert_eq!(reference, &a);
        assert_eq!(drifted, vec![2]);
        assert!(majority(&[a.clone(), b.clone()]).is_none());
        assert_eq!(
            majority(&[a.clone(), a.clone()]).unwrap().1,
            Vec::<usize>::new()
        );
    }

    #[test]
    fn the_patch_holds_only_what_differs_and_can_be_reapplied() {
        let reference = json!({"filterableAttributes": ["year"], "rankingRules": ["words"], "embedders": {"e": {"apiKey": "XXX..."}}});
        let current =
            json!({"filterableAttributes": [], "rankingRules": ["words"], "embedders": {}});
        assert_eq!(
            patch(&reference, &current),
            Some(json!({"filterableAttributes": ["year"]}))
        );
        let only_embedders =
            json!({"filterableAttributes": ["year"], "rankingRules": ["words"], "embedders": {}});
        assert_eq!(patch(&reference, &only_embedders), None);
    }
}
