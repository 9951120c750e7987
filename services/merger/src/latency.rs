//! What the merger has seen of each node's speed: an EWMA of its shard-request latency and of
//! the deviation from it, per node, updated on every answer.
//!
//! **Faults count as slow samples.** A copy fault (refused connection, timeout, 5xx) is recorded
//! as a sample of at least [`FAULT_SAMPLE_MS`], so that a node that fails now and then is read
//! less before the health-checker marks it down. A request abandoned because another copy
//! answered first is a sample only when it had already taken longer than the node's mean (all
//! that is known is a lower bound).
//!
//! **Old news fades.** An estimate is believed with a confidence that halves every
//! [`HALF_LIFE`] without a sample; [`crate::replicas`] blends it with the best copy's figure by
//! that confidence, so a node penalised long ago looks like the others again, is read again, and
//! either earns a fresh (good) estimate or a fresh penalty.
//!
//! **Hedges are judged too.** How many deviations past the mean a read waits before it is
//! hedged is learnt from whether hedges answer first ([`Patience`]), and fades back the same way.
//!
//! The tracker and the patience are the stateful parts (the patience lives with the hedge budget,
//! behind its lock, and is told the time, so its tests need no clock); what the tracker hands out ([`Snapshot`],
//! [`Observed`]) and what is computed from it ([`hedge_delay`], the read order) are plain values
//! and pure functions.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::metrics;

/// Weight of a new sample in the mean (TCP's RTT estimator uses 1/8; reads are fewer).
pub const ALPHA: f64 = 0.2;
/// Weight of a new sample in the deviation (as TCP's RTO estimator).
pub const BETA: f64 = 0.25;
/// What a copy fault counts as, at least.
pub const FAULT_SAMPLE_MS: f64 = 1_000.0;
/// How long without a sample halves the confidence in an estimate.
pub const HALF_LIFE: Duration = Duration::from_secs(10);

/// One node's estimate at the time of a snapshot.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Observed {
    /// EWMA of the latency, in milliseconds.
    pub mean_ms: f64,
    /// EWMA of `|sample - mean|`, in milliseconds.
    pub dev_ms: f64,
    /// Time since the last sample, in milliseconds.
    pub age_ms: f64,
}

impl Observed {
    /// The estimate after its first sample.
    pub fn first(sample_ms: f64) -> Self {
        Observed {
            mean_ms: sample_ms,
            dev_ms: sample_ms / 2.0,
            age_ms: 0.0,
        }
    }

    /// The estimate after one more sample.
    pub fn update(self, sample_ms: f64) -> Self {
        let error = sample_ms - self.mean_ms;
        Observed {
            mean_ms: self.mean_ms + ALPHA * error,
            dev_ms: self.dev_ms + BETA * (error.abs() - self.dev_ms),
            age_ms: 0.0,
        }
    }

    /// 1 for a fresh estimate, halving every [`HALF_LIFE`] without a sample.
    pub fn confidence(&self) -> f64 {
        0.5f64.powf(self.age_ms / HALF_LIFE.as_secs_f64() / 1_000.0)
    }
}

/// The estimates of every node sampled so far, at one instant.
#[derive(Clone, Debug, Default)]
pub struct Snapshot(HashMap<String, Observed>);

impl Snapshot {
    pub fn get(&self, node: &str) -> Option<&Observed> {
        self.0.get(node)
    }
}

impl FromIterator<(String, Observed)> for Snapshot {
    fn from_iter<I: IntoIterator<Item = (String, Observed)>>(iter: I) -> Self {
        Snapshot(iter.into_iter().collect())
    }
}

/// How long to wait for a copy before asking the next one too: the copy's mean plus
/// `deviations` deviations ([`Patience`]: four at least, rarely exceeded by a healthy copy),
/// within `[min, max]`; `max` while the copy has no estimate.
pub fn hedge_delay(
    observed: Option<&Observed>,
    deviations: f64,
    min: Duration,
    max: Duration,
) -> Duration {
    let Some(o) = observed else {
        return max;
    };
    let ms = o.mean_ms + deviations * o.dev_ms;
    if !ms.is_finite() || ms < 0.0 {
        return max;
    }
    // Whole microseconds: finer than any timer, and exact for the tests.
    let micros = (ms * 1_000.0).round().min(u64::MAX as f64) as u64;
    Duration::from_micros(micros).clamp(min, max.max(min))
}

/// How many deviations past a node's mean a read waits before it is hedged, learnt from how
/// hedges fare.
///
/// A hedge pays off when it answers before the copy it was sent beside. It does when that copy
/// is slow alone (a node busy with something else, or failing): the hedge goes to a node that
/// is not. It does not when every node is slow at once, their CPUs saturated: the hedge is one
/// more search on a node as busy as the first, and the first copy usually answers before it. On
/// the cluster bench at 8 clients, hedges sent after four deviations were 3% of the shard reads
/// and 19% of them answered first; the others were node work that bought nothing, taken from
/// the searches themselves.
///
/// So every hedge that loses raises the wait by [`Patience::STEP`] and every hedge that wins
/// lowers it as much, down to [`Patience::FLOOR`]: the wait settles where about half of the
/// hedges win, or at the hedge ceiling (`hedge_after_ms`), which still bounds how long any copy
/// is waited for. A node that is slow alone keeps its hedges winning, so its reads are hedged
/// after four deviations as before. Old news fades as the latency estimates' does: what the
/// wait has above the floor halves every [`HALF_LIFE`] without a hedge settled, so a merger
/// that learnt patience in a load spike hedges promptly again once it has passed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Patience {
    deviations: f64,
    /// When `deviations` was last set.
    at: Option<Instant>,
}

impl Default for Patience {
    fn default() -> Self {
        Patience {
            deviations: Self::FLOOR,
            at: None,
        }
    }
}

impl Patience {
    /// The shortest wait, in deviations past the mean.
    pub const FLOOR: f64 = 4.0;
    /// The longest (the hedge ceiling usually comes first).
    pub const CEILING: f64 = 64.0;
    /// The factor one hedge's outcome moves the wait by.
    pub const STEP: f64 = 1.1;

    /// The wait at `now`, in deviations past the mean.
    pub fn deviations(&self, now: Instant) -> f64 {
        let Some(at) = self.at.filter(|_| self.deviations > Self::FLOOR) else {
            return self.deviations;
        };
        let fade =
            0.5f64.powf(now.saturating_duration_since(at).as_secs_f64() / HALF_LIFE.as_secs_f64());
        Self::FLOOR + (self.deviations - Self::FLOOR) * fade
    }

    /// A hedge answered before the copy it was sent beside.
    pub fn won(&mut self, now: Instant) {
        self.deviations = (self.deviations(now) / Self::STEP).max(Self::FLOOR);
        self.at = Some(now);
    }

    /// The copy a hedge was sent beside answered first.
    pub fn lost(&mut self, now: Instant) {
        self.deviations = (self.deviations(now) * Self::STEP).min(Self::CEILING);
        self.at = Some(now);
    }
}

struct Entry {
    observed: Observed,
    at: Instant,
    /// The node's metric handles, looked up in the recorder once (a lookup builds the key's
    /// labels as strings): its latency estimate, and its answers' latency by operation.
    gauge: ::metrics::Gauge,
    answers: Vec<(&'static str, ::metrics::Histogram)>,
}

/// The per-node estimates, shared by every read of one merger.
#[derive(Default)]
pub struct Tracker {
    nodes: Mutex<HashMap<String, Entry>>,
}

impl Tracker {
    /// The node answered an `op` request (a body or the client's error) after `elapsed`; the
    /// answer is also counted in `miroir_merger_shard_request_seconds`.
    pub fn answered(&self, node: &str, op: &'static str, elapsed: Duration) {
        self.sample(node, ms(elapsed), false, Some(op));
    }

    /// The node failed (copy fault, or silent until the deadline) after `elapsed`.
    pub fn failed(&self, node: &str, elapsed: Duration) {
        self.sample(node, ms(elapsed).max(FAULT_SAMPLE_MS), false, None);
    }

    /// The node had not answered after `elapsed` when another copy's answer made it moot.
    pub fn abandoned(&self, node: &str, elapsed: Duration) {
        self.sample(node, ms(elapsed), true, None);
    }

    /// The current estimate of one node.
    pub fn get(&self, node: &str) -> Option<Observed> {
        let nodes = self.nodes.lock().ok()?;
        nodes.get(node).map(|e| aged(e, Instant::now()))
    }

    pub fn snapshot(&self) -> Snapshot {
        let now = Instant::now();
        match self.nodes.lock() {
            Ok(nodes) => nodes
                .iter()
                .map(|(id, e)| (id.clone(), aged(e, now)))
                .collect(),
            Err(_) => Snapshot::default(),
        }
    }

    /// With `lower_bound`, the sample only says "at least this long": it is ignored unless it
    /// raises the estimate. `answer`: the operation whose answer the sample is.
    fn sample(&self, node: &str, sample_ms: f64, lower_bound: bool, answer: Option<&'static str>) {
        let Ok(mut nodes) = self.nodes.lock() else {
            return;
        };
        let now = Instant::now();
        let entry = match nodes.get_mut(node) {
            Some(e) => {
                if !(lower_bound && sample_ms <= e.observed.mean_ms) {
                    e.observed = e.observed.update(sample_ms);
                    e.at = now;
                    e.gauge.set(e.observed.mean_ms / 1_000.0);
                }
                e
            }
            None => {
                let observed = Observed::first(sample_ms);
                let gauge = metrics::node_latency(node);
                gauge.set(observed.mean_ms / 1_000.0);
                nodes.entry(node.to_owned()).or_insert(Entry {
                    observed,
                    at: now,
                    gauge,
                    answers: Vec::new(),
                })
            }
        };
        if let Some(op) = answer {
            let seconds = sample_ms / 1_000.0;
            match entry.answers.iter().find(|(o, _)| *o == op) {
                Some((_, histogram)) => histogram.record(seconds),
                None => {
                    let histogram = metrics::shard_answered(op, node);
                    histogram.record(seconds);
                    entry.answers.push((op, histogram));
                }
            }
        }
    }
}

fn aged(entry: &Entry, now: Instant) -> Observed {
    Observed {
        age_ms: ms(now.saturating_duration_since(entry.at)),
        ..entry.observed
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1_000.0
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const MIN: Duration = Duration::from_millis(10);
    const MAX: Duration = Duration::from_millis(50);

    #[test]
    fn the_estimate_follows_the_samples() {
        let mut o = Observed::first(100.0);
        for _ in 0..50 {
            o = o.update(10.0);
        }
        assert!((o.mean_ms - 10.0).abs() < 0.1, "{o:?}");
        assert!(o.dev_ms < 0.1, "{o:?}");
        let jumped = o.update(110.0);
        assert!((jumped.mean_ms - 30.0).abs() < 0.1, "{jumped:?}");
        assert!((jumped.dev_ms - 25.0).abs() < 0.2, "{jumped:?}");
    }

    #[test]
    fn confidence_halves_every_half_life() {
        let mut o = Observed::first(5.0);
        assert_eq!(o.confidence(), 1.0);
        o.age_ms = HALF_LIFE.as_secs_f64() * 1_000.0;
        assert!((o.confidence() - 0.5).abs() < 1e-9);
        o.age_ms *= 4.0;
        assert!((o.confidence() - 1.0 / 16.0).abs() < 1e-9);
    }

    #[test]
    fn hedge_delay_follows_latency_within_bounds() {
        assert_eq!(hedge_delay(None, 4.0, MIN, MAX), MAX);
        let steady = |mean: f64, dev: f64| Observed {
            mean_ms: mean,
            dev_ms: dev,
            age_ms: 0.0,
        };
        assert_eq!(
            hedge_delay(Some(&steady(12.0, 3.0)), 4.0, MIN, MAX),
            Duration::from_millis(24)
        );
        assert_eq!(
            hedge_delay(Some(&steady(20.0, 2.0)), 4.0, MIN, MAX),
            Duration::from_millis(28)
        );
        assert_eq!(hedge_delay(Some(&steady(1.0, 0.5)), 4.0, MIN, MAX), MIN);
        assert_eq!(hedge_delay(Some(&steady(200.0, 1.0)), 4.0, MIN, MAX), MAX);
        assert_eq!(
            hedge_delay(Some(&steady(f64::NAN, 1.0)), 4.0, MIN, MAX),
            MAX
        );
        // A copy that got slower waits longer before it is hedged.
        let mut o = Observed::first(10.0);
        let before = hedge_delay(Some(&o), 4.0, MIN, Duration::from_secs(1));
        for _ in 0..10 {
            o = o.update(40.0);
        }
        assert!(hedge_delay(Some(&o), 4.0, MIN, Duration::from_secs(1)) > before);
    }

    #[test]
    fn patience_rises_while_hedges_lose_and_settles_where_half_win() {
        let now = Instant::now();
        let mut p = Patience::default();
        assert_eq!(p.deviations(now), Patience::FLOOR);
        // Winning hedges never take it below the floor.
        p.won(now);
        assert_eq!(p.deviations(now), Patience::FLOOR);
        // Losing ones raise it, up to the ceiling.
        p.lost(now);
        assert!(p.deviations(now) > Patience::FLOOR);
        for _ in 0..1_000 {
            p.lost(now);
        }
        assert_eq!(p.deviations(now), Patience::CEILING);
        // As many wins as losses leave it where it is.
        let before = p.deviations(now);
        for _ in 0..10 {
            p.won(now);
            p.lost(now);
        }
        assert!((p.deviations(now) - before).abs() < 1e-9);
        // What it has above the floor halves every half-life without news.
        let later = now + HALF_LIFE;
        let faded = p.deviations(later);
        let expected = Patience::FLOOR + (before - Patience::FLOOR) / 2.0;
        assert!((faded - expected).abs() < 1e-9, "{faded} != {expected}");
        assert!(p.deviations(now + HALF_LIFE * 20) - Patience::FLOOR < 1e-3);
        // The next outcome starts from the faded wait.
        p.lost(later);
        assert!((p.deviations(later) - faded * Patience::STEP).abs() < 1e-9);
        // One win in five (the cluster bench's rate at four deviations) keeps raising it.
        let mut p = Patience::default();
        for _ in 0..20 {
            p.won(now);
            for _ in 0..4 {
                p.lost(now);
            }
        }
        assert!(p.deviations(now) > 4.0 * Patience::FLOOR);
        // A longer wait is a later hedge.
        let o = Observed {
            mean_ms: 10.0,
            dev_ms: 2.0,
            age_ms: 0.0,
        };
        let max = Duration::from_secs(1);
        assert!(hedge_delay(Some(&o), 8.0, MIN, max) > hedge_delay(Some(&o), 4.0, MIN, max));
    }

    #[test]
    fn faults_are_slow_samples_and_abandoned_requests_only_raise() {
        let t = Tracker::default();
        t.answered("a", "search", Duration::from_millis(10));
        t.abandoned("a", Duration::from_millis(5));
        assert_eq!(t.get("a").unwrap().mean_ms, 10.0);
        t.abandoned("a", Duration::from_millis(60));
        assert!((t.get("a").unwrap().mean_ms - 20.0).abs() < 1e-6);
        t.failed("b", Duration::from_millis(3));
        assert_eq!(t.get("b").unwrap().mean_ms, FAULT_SAMPLE_MS);
        let s = t.snapshot();
        assert!(s.get("a").is_some() && s.get("b").is_some() && s.get("c").is_none());
    }
}
