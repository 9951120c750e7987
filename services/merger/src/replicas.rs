//! Which copy of a shard to read, in which order: a pure function of the topology snapshot, the
//! merger's latency estimates and a per-request turn.
//!
//! **Guarantees.** Reads go to `up` (and `draining`, which still serves) copies first, then to
//! `suspect` ones, never to `down` ones, to `incoming` copies (still being filled by a migration)
//! or to `lagging` ones (they missed writes). Latency only orders copies within those classes.
//!
//! **Among the healthy copies** the first is drawn with weight `1 / latency`, so a copy ten times
//! faster gets ten times the reads while a slow one still gets a share and keeps being measured;
//! the others follow fastest first (they are the retry and hedge targets). A copy's latency is its
//! estimate blended, by the estimate's confidence ([`Observed::confidence`]), with the best
//! copy's: a penalty fades with time, and a copy never measured counts as the best one, so it is
//! tried. The draw uses the turn as its random source (a golden-ratio sequence, evenly spread
//! over successive turns), so the order stays a plain function of its inputs; without estimates
//! the copies simply share the reads evenly.

use miroir_cluster::topology::Topology;
use miroir_placement::ShardId;
use miroir_proto::topology::{Availability, IndexRecord};

use crate::latency::{Observed, Snapshot};

/// No copy is counted faster than this (milliseconds): below it, differences are noise.
const FLOOR_MS: f64 = 0.5;

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
    latency: &Snapshot,
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
    let mut order = by_latency(healthy, latency, Some(turn));
    order.extend(by_latency(suspect, latency, None));
    order
}

/// `copies` with the first drawn by weight `1 / latency` from `turn` (or the fastest, without a
/// turn), then the others fastest first; ties keep the placement order.
fn by_latency(copies: Vec<Replica>, latency: &Snapshot, turn: Option<usize>) -> Vec<Replica> {
    if copies.len() < 2 {
        return copies;
    }
    let estimates: Vec<Option<&Observed>> = copies.iter().map(|r| latency.get(&r.node)).collect();
    let best = estimates
        .iter()
        .flatten()
        .map(|o| o.mean_ms)
        .filter(|m| m.is_finite())
        .fold(f64::INFINITY, f64::min);
    let best = if best.is_finite() { best } else { 1.0 };
    let cost: Vec<f64> = estimates
        .iter()
        .map(|o| match o {
            Some(o) if o.mean_ms.is_finite() => {
                let c = o.confidence();
                c * o.mean_ms + (1.0 - c) * best
            }
            _ => best,
        })
        .map(|ms| ms.max(FLOOR_MS))
        .collect();
    let mut ranked: Vec<usize> = (0..copies.len()).collect();
    ranked.sort_by(|&a, &b| cost[a].total_cmp(&cost[b]));
    if let Some(turn) = turn {
        let first = draw(&cost, turn);
        ranked.retain(|&i| i != first);
        ranked.insert(0, first);
    }
    let mut slots: Vec<Option<Replica>> = copies.into_iter().map(Some).collect();
    ranked
        .into_iter()
        .filter_map(|i| slots.get_mut(i).and_then(Option::take))
        .collect()
}

/// The index drawn with weight `1 / cost`, by the `turn`-th point of the golden-ratio sequence.
fn draw(cost: &[f64], turn: usize) -> usize {
    let point = uniform(turn);
    let weights: Vec<f64> = cost.iter().map(|c| 1.0 / c).collect();
    let total: f64 = weights.iter().sum();
    let mut acc = 0.0;
    for (i, w) in weights.iter().enumerate() {
        acc += w / total;
        if point < acc {
            return i;
        }
    }
    weights.len().saturating_sub(1)
}

/// `frac(turn * (sqrt 5 - 1) / 2)` in [0, 1): successive turns spread evenly over the interval.
fn uniform(turn: usize) -> f64 {
    const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;
    let bits = (turn as u64).wrapping_mul(GOLDEN) >> 11;
    bits as f64 / (1u64 << 53) as f64
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
        read_order(t, r, ShardId::new(0).unwrap(), &Snapshot::default(), turn)
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
        let first = read_order(&t, &r, ShardId::new(0).unwrap(), &Snapshot::default(), 0);
        assert_eq!(first[0].index, "npm__s0");
        assert_eq!(first[0].url, "http://n2");
    }

    #[test]
    fn suspect_only_when_nothing_else_and_nothing_when_all_down() {
        use NodeState::*;
        let t = topology(&[("n1", Suspect), ("n2", Down)]);
        assert_eq!(order(&t, &record(&["n2", "n1"]), 5), ["n1"]);
        assert!(order(&t, &record(&["n2", "unknown"]), 0).is_empty());
        assert!(
            read_order(
                &t,
                &record(&["n1"]),
                ShardId::new(3).unwrap(),
                &Snapshot::default(),
                0
            )
            .is_empty()
        );
    }

    fn seen(figures: &[(&str, f64, f64)]) -> Snapshot {
        figures
            .iter()
            .map(|(node, mean_ms, age_ms)| {
                let o = Observed {
                    mean_ms: *mean_ms,
                    dev_ms: 1.0,
                    age_ms: *age_ms,
                };
                (node.to_string(), o)
            })
            .collect()
    }

    /// How many of `turns` successive reads start on each node.
    fn firsts(
        t: &Topology,
        r: &IndexRecord,
        latency: &Snapshot,
        turns: usize,
    ) -> Vec<(String, usize)> {
        let mut counts = std::collections::BTreeMap::new();
        for turn in 0..turns {
            let order = read_order(t, r, ShardId::new(0).unwrap(), latency, turn);
            *counts.entry(order[0].node.clone()).or_insert(0) += 1;
        }
        counts.into_iter().collect()
    }

    fn share(counts: &[(String, usize)], node: &str) -> f64 {
        let total: usize = counts.iter().map(|(_, c)| c).sum();
        let mine = counts
            .iter()
            .find(|(n, _)| n == node)
            .map_or(0, |(_, c)| *c);
        mine as f64 / total as f64
    }

    #[test]
    fn without_estimates_the_copies_share_the_reads_evenly() {
        use NodeState::*;
        let t = topology(&[("n1", Up), ("n2", Up), ("n3", Up)]);
        let counts = firsts(
            &t,
            &record(&["n1", "n2", "n3"]),
            &Snapshot::default(),
            3_000,
        );
        for node in ["n1", "n2", "n3"] {
            let s = share(&counts, node);
            assert!((s - 1.0 / 3.0).abs() < 0.01, "{counts:?}");
        }
    }

    #[test]
    fn the_fast_copy_gets_most_reads_and_the_slow_one_is_never_starved() {
        use NodeState::*;
        let t = topology(&[("n1", Up), ("n2", Up)]);
        let r = record(&["n1", "n2"]);
        let latency = seen(&[("n1", 150.0, 0.0), ("n2", 5.0, 0.0)]);
        let counts = firsts(&t, &r, &latency, 1_000);
        let slow = share(&counts, "n1");
        // Weights 1/150 and 1/5: the slow copy gets 5/155 of the reads.
        assert!((slow - 5.0 / 155.0).abs() < 0.01, "{counts:?}");
        assert!(slow > 0.0);
        // Once the slow copy is not first, it is the next one to try.
        for turn in 0..20 {
            let order = read_order(&t, &r, ShardId::new(0).unwrap(), &latency, turn);
            assert_eq!(order.len(), 2);
        }
        // Close figures share the load nearly evenly.
        let close = seen(&[("n1", 11.0, 0.0), ("n2", 10.0, 0.0)]);
        let s = share(&firsts(&t, &r, &close, 1_000), "n1");
        assert!((0.4..0.5).contains(&s), "{s}");
    }

    #[test]
    fn a_penalty_fades_so_that_a_recovered_node_is_read_again() {
        use NodeState::*;
        let t = topology(&[("n1", Up), ("n2", Up)]);
        let r = record(&["n1", "n2"]);
        let share_at = |age_ms: f64| {
            let latency = seen(&[("n1", 1_000.0, age_ms), ("n2", 5.0, 0.0)]);
            share(&firsts(&t, &r, &latency, 2_000), "n1")
        };
        let fresh = share_at(0.0);
        let minute = share_at(60_000.0);
        let long_ago = share_at(600_000.0);
        assert!(fresh < 0.01, "{fresh}");
        assert!(minute > 0.1 && minute < 0.4, "{minute}");
        assert!((long_ago - 0.5).abs() < 0.02, "{long_ago}");
        // A node never measured counts as the best one, so it gets tried.
        let t = topology(&[("n1", Up), ("n2", Up), ("n3", Up)]);
        let latency = seen(&[("n1", 5.0, 0.0), ("n2", 300.0, 0.0)]);
        let counts = firsts(&t, &record(&["n1", "n2", "n3"]), &latency, 2_000);
        assert!(
            (share(&counts, "n3") - share(&counts, "n1")).abs() < 0.02,
            "{counts:?}"
        );
    }

    #[test]
    fn latency_never_lifts_suspect_lagging_or_down_copies() {
        use NodeState::*;
        let t = topology(&[
            ("n1", Suspect),
            ("n2", Up),
            ("n3", Up),
            ("n4", Down),
            ("n5", Up),
        ]);
        let mut r = record(&["n1", "n2", "n3", "n4", "n5"]);
        r.shards[0].mark_lagging("n5", Default::default(), 7);
        let latency = seen(&[
            ("n1", 1.0, 0.0),
            ("n2", 500.0, 0.0),
            ("n3", 400.0, 0.0),
            ("n4", 1.0, 0.0),
            ("n5", 1.0, 0.0),
        ]);
        for turn in 0..200 {
            let order: Vec<String> = read_order(&t, &r, ShardId::new(0).unwrap(), &latency, turn)
                .into_iter()
                .map(|r| r.node)
                .collect();
            assert_eq!(order.len(), 3, "{order:?}");
            assert!(order[..2].contains(&"n2".to_owned()) && order[..2].contains(&"n3".to_owned()));
            assert_eq!(order[2], "n1");
        }
    }

    #[test]
    fn after_the_first_copy_the_others_come_fastest_first() {
        use NodeState::*;
        let t = topology(&[
            ("n1", Up),
            ("n2", Up),
            ("n3", Up),
            ("n4", Suspect),
            ("n5", Suspect),
        ]);
        let r = record(&["n1", "n2", "n3", "n4", "n5"]);
        let latency = seen(&[
            ("n1", 30.0, 0.0),
            ("n2", 20.0, 0.0),
            ("n3", 10.0, 0.0),
            ("n4", 90.0, 0.0),
            ("n5", 80.0, 0.0),
        ]);
        for turn in 0..100 {
            let order: Vec<String> = read_order(&t, &r, ShardId::new(0).unwrap(), &latency, turn)
                .into_iter()
                .map(|r| r.node)
                .collect();
            let rest: Vec<&String> = order[1..3].iter().collect();
            let mut sorted = rest.clone();
            sorted.sort_by_key(|n| std::cmp::Reverse(n.as_str()));
            assert_eq!(rest, sorted, "{order:?}");
            assert_eq!(order[3..], ["n5", "n4"]);
        }
    }

    #[test]
    fn any_figures_give_an_order_of_exactly_the_readable_copies() {
        use NodeState::*;
        let states = [Up, Draining, Suspect, Down, Up, Suspect];
        let ids: Vec<String> = (0..states.len()).map(|i| format!("n{i}")).collect();
        let named: Vec<(&str, NodeState)> = ids.iter().map(String::as_str).zip(states).collect();
        let t = topology(&named);
        let mut r = record(&ids.iter().map(String::as_str).collect::<Vec<_>>());
        r.shards[0].mark_lagging("n4", Default::default(), 1);
        let odd = [0.0, -3.0, 0.2, 7.0, 250.0, 1e12, f64::NAN, f64::INFINITY];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut pick = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        for turn in 0..2_000 {
            let mut latency = Vec::new();
            for id in &ids {
                if pick(4) == 0 {
                    continue;
                }
                let o = Observed {
                    mean_ms: odd[pick(odd.len())],
                    dev_ms: 1.0,
                    age_ms: odd[pick(odd.len())],
                };
                latency.push((id.clone(), o));
            }
            let latency: Snapshot = latency.into_iter().collect();
            let order: Vec<String> = read_order(&t, &r, ShardId::new(0).unwrap(), &latency, turn)
                .into_iter()
                .map(|r| r.node)
                .collect();
            let mut up = order[..2].to_vec();
            up.sort();
            assert_eq!(up, ["n0", "n1"], "{order:?}");
            let mut suspect = order[2..].to_vec();
            suspect.sort();
            assert_eq!(suspect, ["n2", "n5"], "{order:?}");
        }
    }
}
