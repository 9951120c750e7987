//! The health state machine: what a run of probe outcomes makes of a node's observed health.
//!
//! Pure and deterministic, so its laws are property-tested (below) and the async loop in
//! [`crate::checker`] only feeds it outcomes. Hysteresis keeps a flapping node from bouncing:
//!
//! - `Up` -> `Suspect` after `suspect_after` failures in a row;
//! - `Suspect` -> `Down` after `down_after` further failures in a row, at least one of them hard
//!   (refused connection, error status, refused key); a run made only of probes that connected
//!   and then timed out ([`Outcome::Slow`]) needs `down_after_slow` of them instead. A node that
//!   accepts connections but answers late is more often overloaded (indexing a backlog) than
//!   dead, and marking it down would pile its reads and its writes' hints onto the other copies,
//!   and could leave a shard with no writable copy at all. As `suspect` it is already read last;
//!   it is still written to.
//! - `Suspect` or `Down` -> `Up` after `up_after` successes in a row;
//! - nothing else moves: one success resets a run of failures and one failure a run of successes.
//!
//! A tracker starts from the health recorded in KV, so a replica that takes over the lease
//! continues where the previous one stopped (a `Down` node stays `Down` until it answers
//! `up_after` probes), with empty runs.

use miroir_proto::topology::NodeHealth;

/// How many outcomes in a row each transition needs. Every count is at least 1 (the config
/// refuses zeros; [`Thresholds::new`] raises a 0 to 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Thresholds {
    pub suspect_after: u32,
    pub down_after: u32,
    /// Failures in a row that make a `suspect` node `down` when none of them was hard; never
    /// below `down_after`.
    pub down_after_slow: u32,
    pub up_after: u32,
}

impl Thresholds {
    pub fn new(suspect_after: u32, down_after: u32, up_after: u32) -> Self {
        Self::with_slow(suspect_after, down_after, down_after, up_after)
    }

    pub fn with_slow(
        suspect_after: u32,
        down_after: u32,
        down_after_slow: u32,
        up_after: u32,
    ) -> Self {
        let down_after = down_after.max(1);
        Thresholds {
            suspect_after: suspect_after.max(1),
            down_after,
            down_after_slow: down_after_slow.max(down_after),
            up_after: up_after.max(1),
        }
    }
}

/// What one probe found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// A hard failure: no connection, an error status, a refused key.
    Failure,
    /// Connected, but no complete answer within the probe timeout.
    Slow,
}

/// A change of observed health.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transition {
    pub from: NodeHealth,
    pub to: NodeHealth,
}

/// One node's observed health and the run of outcomes that may change it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tracker {
    health: NodeHealth,
    /// Failures in a row since the last success or the last transition.
    failures: u32,
    /// Successes in a row since the last failure or the last transition.
    successes: u32,
    /// Whether the current run of failures holds a hard one ([`Outcome::Failure`]).
    hard: bool,
}

impl Tracker {
    /// A tracker continuing from `health` (as recorded in KV), with no run of outcomes yet.
    pub fn new(health: NodeHealth) -> Self {
        Tracker {
            health,
            failures: 0,
            successes: 0,
            hard: false,
        }
    }

    pub fn health(&self) -> NodeHealth {
        self.health
    }

    /// Feed one outcome; returns the transition it caused, if any.
    pub fn observe(&mut self, outcome: Outcome, t: &Thresholds) -> Option<Transition> {
        match outcome {
            Outcome::Success => {
                self.failures = 0;
                self.hard = false;
                self.successes = self.successes.saturating_add(1);
            }
            Outcome::Failure | Outcome::Slow => {
                self.successes = 0;
                self.failures = self.failures.saturating_add(1);
                self.hard |= outcome == Outcome::Failure;
            }
        }
        let down_after = if self.hard {
            t.down_after
        } else {
            t.down_after_slow
        };
        let to = match (self.health, outcome) {
            (NodeHealth::Up, Outcome::Failure | Outcome::Slow)
                if self.failures >= t.suspect_after =>
            {
                NodeHealth::Suspect
            }
            (NodeHealth::Suspect, Outcome::Failure | Outcome::Slow)
                if self.failures >= down_after =>
            {
                NodeHealth::Down
            }
            (NodeHealth::Suspect | NodeHealth::Down, Outcome::Success)
                if self.successes >= t.up_after =>
            {
                NodeHealth::Up
            }
            _ => return None,
        };
        let from = self.health;
        *self = Tracker::new(to);
        Some(Transition { from, to })
    }
}

/// The gauge value of a health: 0 up, 1 suspect, 2 down.
pub fn gauge_value(health: NodeHealth) -> f64 {
    match health {
        NodeHealth::Up => 0.0,
        NodeHealth::Suspect => 1.0,
        NodeHealth::Down => 2.0,
    }
}

/// The label of a health in logs and metrics, as KV spells it.
pub fn label(health: NodeHealth) -> &'static str {
    match health {
        NodeHealth::Up => "up",
        NodeHealth::Suspect => "suspect",
        NodeHealth::Down => "down",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn health() -> impl Strategy<Value = NodeHealth> {
        prop_oneof![
            Just(NodeHealth::Up),
            Just(NodeHealth::Suspect),
            Just(NodeHealth::Down)
        ]
    }

    fn thresholds() -> impl Strategy<Value = Thresholds> {
        (1u32..6, 1u32..6, 0u32..12, 1u32..6)
            .prop_map(|(s, d, slow, u)| Thresholds::with_slow(s, d, d + slow, u))
    }

    fn outcomes(max: usize) -> impl Strategy<Value = Vec<Outcome>> {
        proptest::collection::vec(
            prop_oneof![
                Just(Outcome::Success),
                Just(Outcome::Failure),
                Just(Outcome::Slow)
            ],
            0..max,
        )
    }

    fn failed(o: &Outcome) -> bool {
        matches!(o, Outcome::Failure | Outcome::Slow)
    }

    /// Every (index, transition) a sequence of outcomes causes.
    fn drive(
        start: NodeHealth,
        t: &Thresholds,
        seq: &[Outcome],
    ) -> (Tracker, Vec<(usize, Transition)>) {
        let mut tracker = Tracker::new(start);
        let mut transitions = Vec::new();
        for (i, o) in seq.iter().enumerate() {
            if let Some(tr) = tracker.observe(*o, t) {
                transitions.push((i, tr));
            }
        }
        (tracker, transitions)
    }

    /// Whether the `len` outcomes ending at `at` all pass `test`.
    fn run_ends_with(
        seq: &[Outcome],
        at: usize,
        len: u32,
        test: impl Fn(&Outcome) -> bool,
    ) -> bool {
        let len = len as usize;
        at + 1 >= len && seq[at + 1 - len..=at].iter().all(test)
    }

    proptest! {
        #[test]
        fn no_transition_without_its_run_of_outcomes(start in health(), t in thresholds(), seq in outcomes(64)) {
            let (_, transitions) = drive(start, &t, &seq);
            let mut previous: Option<usize> = None;
            for (i, tr) in transitions {
                // Each transition needs its whole run after the previous transition (runs restart).
                let since = previous.map_or(0, |p| p + 1);
                let success = |o: &Outcome| *o == Outcome::Success;
                let needed = match (tr.from, tr.to) {
                    (NodeHealth::Up, NodeHealth::Suspect) => t.suspect_after,
                    (NodeHealth::Suspect, NodeHealth::Down) => {
                        // A run without a hard failure needs the longer, slow threshold.
                        let hard = (since..=i).rev().take_while(|j| failed(&seq[*j])).any(|j| seq[j] == Outcome::Failure);
                        if hard { t.down_after } else { t.down_after_slow }
                    }
                    (NodeHealth::Suspect | NodeHealth::Down, NodeHealth::Up) => t.up_after,
                    other => return Err(TestCaseError::fail(format!("forbidden transition {other:?}"))),
                };
                prop_assert!(i + 1 >= since + needed as usize, "transition {tr:?} at {i} after only {} outcomes", i + 1 - since);
                let ok = if tr.to == NodeHealth::Up { run_ends_with(&seq, i, needed, success) } else { run_ends_with(&seq, i, needed, failed) };
                prop_assert!(ok, "transition {tr:?} at {i} without its run in {seq:?}");
                previous = Some(i);
            }
        }

        #[test]
        fn a_run_of_up_after_successes_always_ends_up(start in health(), t in thresholds(), prefix in outcomes(32)) {
            let mut seq = prefix;
            seq.extend(std::iter::repeat_n(Outcome::Success, t.up_after as usize));
            let (tracker, _) = drive(start, &t, &seq);
            prop_assert_eq!(tracker.health(), NodeHealth::Up);
        }

        #[test]
        fn a_long_enough_run_of_failures_always_ends_down(start in health(), t in thresholds(), prefix in outcomes(32)) {
            let mut seq = prefix;
            seq.extend(std::iter::repeat_n(Outcome::Failure, (t.suspect_after + t.down_after) as usize));
            let (tracker, _) = drive(start, &t, &seq);
            prop_assert_eq!(tracker.health(), NodeHealth::Down);
        }

        #[test]
        fn a_slow_node_is_down_only_after_the_slow_run(t in thresholds(), len in 0usize..40) {
            let seq = vec![Outcome::Slow; len];
            let (tracker, _) = drive(NodeHealth::Up, &t, &seq);
            let down_at = (t.suspect_after + t.down_after_slow) as usize;
            let expected = if len >= down_at {
                NodeHealth::Down
            } else if len >= t.suspect_after as usize {
                NodeHealth::Suspect
            } else {
                NodeHealth::Up
            };
            prop_assert_eq!(tracker.health(), expected);
        }

        #[test]
        fn alternating_outcomes_never_reach_down(t in thresholds(), first_fails in any::<bool>(), len in 0usize..64) {
            prop_assume!(t.suspect_after >= 2);
            let seq: Vec<Outcome> = (0..len)
                .map(|i| if (i % 2 == 0) == first_fails { Outcome::Failure } else { Outcome::Success })
                .collect();
            let (tracker, transitions) = drive(NodeHealth::Up, &t, &seq);
            prop_assert!(transitions.is_empty(), "{transitions:?}");
            prop_assert_eq!(tracker.health(), NodeHealth::Up);
        }

        #[test]
        fn a_flapping_node_never_bounces_every_probe(start in health(), t in thresholds(), seq in outcomes(64)) {
            prop_assume!(t.suspect_after >= 2 && t.down_after >= 2 && t.up_after >= 2);
            let (_, transitions) = drive(start, &t, &seq);
            for pair in transitions.windows(2) {
                prop_assert!(pair[1].0 >= pair[0].0 + 2, "transitions on consecutive probes: {pair:?}");
            }
        }

        #[test]
        fn deterministic(start in health(), t in thresholds(), seq in outcomes(64)) {
            prop_assert_eq!(drive(start, &t, &seq), drive(start, &t, &seq));
        }
    }

    #[test]
    fn one_hard_failure_in_a_slow_run_takes_the_short_threshold() {
        let t = Thresholds::with_slow(1, 2, 10, 1);
        let mut n = Tracker::new(NodeHealth::Suspect);
        assert_eq!(n.observe(Outcome::Slow, &t), None);
        assert_eq!(n.observe(Outcome::Slow, &t), None);
        assert_eq!(
            n.observe(Outcome::Failure, &t).map(|tr| tr.to),
            Some(NodeHealth::Down)
        );
    }

    #[test]
    fn the_default_walk() {
        let t = Thresholds::new(2, 2, 2);
        let mut n = Tracker::new(NodeHealth::Up);
        assert_eq!(n.observe(Outcome::Failure, &t), None);
        let up_to_suspect = Some(Transition {
            from: NodeHealth::Up,
            to: NodeHealth::Suspect,
        });
        assert_eq!(n.observe(Outcome::Failure, &t), up_to_suspect);
        assert_eq!(n.observe(Outcome::Failure, &t), None);
        let suspect_to_down = Some(Transition {
            from: NodeHealth::Suspect,
            to: NodeHealth::Down,
        });
        assert_eq!(n.observe(Outcome::Failure, &t), suspect_to_down);
        assert_eq!(n.observe(Outcome::Success, &t), None);
        assert_eq!(n.observe(Outcome::Failure, &t), None);
        assert_eq!(n.observe(Outcome::Success, &t), None);
        let down_to_up = Some(Transition {
            from: NodeHealth::Down,
            to: NodeHealth::Up,
        });
        assert_eq!(n.observe(Outcome::Success, &t), down_to_up);
        assert_eq!(n.health(), NodeHealth::Up);
    }
}
