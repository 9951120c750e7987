//! The measurements of a run: one latency histogram (HdrHistogram, microseconds, 3 significant
//! digits: a percentile is within 0.1% of the exact one) and counters per combination of tags
//! (`scenario` = workload, `op`, `query`), merged on demand for a threshold's filter or a line of
//! the summary. Keeping them per combination, rather than one per tag, is what lets a threshold
//! ask for any sub-metric k6 could (`{scenario:search,op:multi-search}`).

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::threshold::{Source, Stat};

/// The tags of a sample.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tags {
    pub scenario: String,
    pub op: String,
    pub query: String,
}

impl Tags {
    pub fn get(&self, tag: &str) -> Option<&str> {
        match tag {
            "scenario" => Some(&self.scenario),
            "op" => Some(&self.op),
            "query" => Some(&self.query),
            _ => None,
        }
    }

    fn matches(&self, filter: &[(String, String)]) -> bool {
        filter
            .iter()
            .all(|(tag, value)| self.get(tag) == Some(value.as_str()))
    }
}

/// One HTTP request's outcome.
#[derive(Debug, Clone)]
pub struct Sample {
    pub latency: Duration,
    /// Transport error, timeout, or a status outside 200-399 (k6's `http_req_failed`).
    pub failed: bool,
    /// The iteration's checks that passed, of `checks`.
    pub checks_passed: u32,
    pub checks: u32,
    /// The HTTP status, or 0 when no answer came.
    pub status: u16,
}

/// Everything measured under one combination of tags.
#[derive(Debug, Clone)]
pub struct Cell {
    pub latency_us: Histogram<u64>,
    pub reqs: u64,
    pub failed: u64,
    pub checks_passed: u64,
    pub checks: u64,
    pub statuses: BTreeMap<u16, u64>,
}

impl Default for Cell {
    fn default() -> Self {
        Cell {
            latency_us: new_histogram(),
            reqs: 0,
            failed: 0,
            checks_passed: 0,
            checks: 0,
            statuses: BTreeMap::new(),
        }
    }
}

fn new_histogram() -> Histogram<u64> {
    // 1 µs to an hour (a request times out long before), 3 significant digits; the bounds are
    // constants that HdrHistogram accepts, so this cannot fail.
    Histogram::new_with_bounds(1, 3_600_000_000, 3).unwrap_or_else(|_| unreachable_histogram())
}

#[allow(clippy::panic)]
fn unreachable_histogram() -> Histogram<u64> {
    panic!("HdrHistogram refused 3 significant digits")
}

impl Cell {
    pub fn record(&mut self, sample: &Sample) {
        let us = u64::try_from(sample.latency.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        self.latency_us.saturating_record(us);
        self.reqs += 1;
        self.failed += u64::from(sample.failed);
        self.checks_passed += u64::from(sample.checks_passed);
        self.checks += u64::from(sample.checks);
        *self.statuses.entry(sample.status).or_default() += 1;
    }

    pub fn merge(&mut self, other: &Cell) {
        // Both auto-resize, so adding cannot fail on range; ignore the impossible error.
        let _ = self.latency_us.add(&other.latency_us);
        self.reqs += other.reqs;
        self.failed += other.failed;
        self.checks_passed += other.checks_passed;
        self.checks += other.checks;
        for (status, n) in &other.statuses {
            *self.statuses.entry(*status).or_default() += n;
        }
    }

    /// A latency statistic in milliseconds; `None` without a sample.
    pub fn latency_ms(&self, stat: Stat) -> Option<f64> {
        if self.latency_us.is_empty() {
            return None;
        }
        let h = &self.latency_us;
        let us = match stat {
            Stat::Avg => h.mean(),
            Stat::Min => h.min() as f64,
            Stat::Max => h.max() as f64,
            Stat::Med => h.value_at_quantile(0.5) as f64,
            Stat::P(p) => h.value_at_quantile(p / 100.0) as f64,
            Stat::Rate | Stat::Count => return None,
        };
        Some(us / 1000.0)
    }

    pub fn error_rate(&self) -> Option<f64> {
        (self.reqs > 0).then(|| self.failed as f64 / self.reqs as f64)
    }

    pub fn check_rate(&self) -> Option<f64> {
        (self.checks > 0).then(|| self.checks_passed as f64 / self.checks as f64)
    }
}

/// Per workload: iterations started, dropped (open model, every VU busy) and interrupted (still
/// running after the graceful stop).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Iterations {
    pub started: u64,
    pub dropped: u64,
    pub interrupted: u64,
}

#[derive(Debug, Clone, Default)]
pub struct Recorder {
    pub cells: BTreeMap<Tags, Cell>,
    pub iterations: BTreeMap<String, Iterations>,
    /// The measured window, for rates per second.
    pub elapsed: Duration,
}

impl Recorder {
    pub fn record(&mut self, tags: &Tags, sample: &Sample) {
        match self.cells.get_mut(tags) {
            Some(cell) => cell.record(sample),
            None => {
                let mut cell = Cell::default();
                cell.record(sample);
                self.cells.insert(tags.clone(), cell);
            }
        }
    }

    pub fn iterations(&mut self, workload: &str) -> &mut Iterations {
        self.iterations.entry(workload.to_string()).or_default()
    }

    /// The cells whose tags match `filter`, merged.
    pub fn merged(&self, filter: &[(String, String)]) -> Cell {
        let mut all = Cell::default();
        for (_, cell) in self.cells.iter().filter(|(t, _)| t.matches(filter)) {
            all.merge(cell);
        }
        all
    }

    /// The values a tag takes, in order.
    pub fn values_of(&self, tag: &str) -> Vec<String> {
        let mut values: Vec<String> = self
            .cells
            .keys()
            .filter_map(|t| t.get(tag).map(str::to_string))
            .collect();
        values.sort();
        values.dedup();
        values
    }

    fn per_second(&self, n: f64) -> Option<f64> {
        let secs = self.elapsed.as_secs_f64();
        (secs > 0.0).then(|| n / secs)
    }

    /// Iteration counts of the workloads a filter selects: only a `scenario` tag can narrow them
    /// (iterations have no op or query).
    fn iteration_count(&self, filter: &[(String, String)], dropped: bool) -> Option<f64> {
        if filter.iter().any(|(tag, _)| tag != "scenario") {
            return None;
        }
        let n: u64 = self
            .iterations
            .iter()
            .filter(|(w, _)| filter.iter().all(|(_, v)| v == *w))
            .map(|(_, i)| if dropped { i.dropped } else { i.started })
            .sum();
        Some(n as f64)
    }
}

impl Source for Recorder {
    fn value(&self, metric: &str, filter: &[(String, String)], stat: Stat) -> Option<f64> {
        match metric {
            "http_req_duration" => self.merged(filter).latency_ms(stat),
            "http_req_failed" => self.merged(filter).error_rate(),
            "checks" => self.merged(filter).check_rate(),
            "http_reqs" => {
                let n = self.merged(filter).reqs as f64;
                match stat {
                    Stat::Rate => self.per_second(n),
                    _ => Some(n),
                }
            }
            "iterations" | "dropped_iterations" => {
                let n = self.iteration_count(filter, metric == "dropped_iterations")?;
                match stat {
                    Stat::Rate => self.per_second(n),
                    _ => Some(n),
                }
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn tags(scenario: &str, op: &str, query: &str) -> Tags {
        Tags {
            scenario: scenario.into(),
            op: op.into(),
            query: query.into(),
        }
    }

    fn sample(ms: u64, failed: bool) -> Sample {
        Sample {
            latency: Duration::from_millis(ms),
            failed,
            checks_passed: if failed { 0 } else { 2 },
            checks: 2,
            status: if failed { 500 } else { 200 },
        }
    }

    #[test]
    fn percentiles_are_those_of_the_samples() {
        let mut r = Recorder::default();
        let t = tags("s", "search", "plain");
        // 1..=1000 ms: the p-th percentile is p * 10 ms, within HdrHistogram's 0.1%.
        for ms in 1..=1000 {
            r.record(&t, &sample(ms, false));
        }
        let c = r.merged(&[]);
        let near = |stat: Stat, want: f64| {
            let got = c.latency_ms(stat).unwrap();
            assert!(
                (got - want).abs() <= want * 0.001 + 0.001,
                "{stat:?}: {got} != {want}"
            );
        };
        near(Stat::P(50.0), 500.0);
        near(Stat::Med, 500.0);
        near(Stat::P(95.0), 950.0);
        near(Stat::P(99.0), 990.0);
        near(Stat::Min, 1.0);
        near(Stat::Max, 1000.0);
        near(Stat::Avg, 500.5);
        assert_eq!(Cell::default().latency_ms(Stat::P(50.0)), None);
    }

    #[test]
    fn filters_merge_the_matching_cells() {
        let mut r = Recorder {
            elapsed: Duration::from_secs(2),
            ..Default::default()
        };
        for _ in 0..6 {
            r.record(&tags("search", "search", "plain"), &sample(10, false));
        }
        for _ in 0..2 {
            r.record(&tags("search", "multi-search", "multi"), &sample(100, true));
        }
        for _ in 0..2 {
            r.record(&tags("write", "write", "batch"), &sample(1000, false));
        }
        r.iterations("search").started = 8;
        r.iterations("search").dropped = 3;
        r.iterations("write").started = 2;
        let f = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        assert_eq!(r.value("http_reqs", &[], Stat::Count), Some(10.0));
        assert_eq!(r.value("http_reqs", &[], Stat::Rate), Some(5.0));
        assert_eq!(
            r.value("http_reqs", &f(&[("scenario", "search")]), Stat::Count),
            Some(8.0)
        );
        assert_eq!(r.value("http_req_failed", &[], Stat::Rate), Some(0.2));
        assert_eq!(
            r.value("http_req_failed", &f(&[("op", "search")]), Stat::Rate),
            Some(0.0)
        );
        assert_eq!(r.value("checks", &[], Stat::Rate), Some(0.8));
        let p = r
            .value(
                "http_req_duration",
                &f(&[("scenario", "search"), ("op", "multi-search")]),
                Stat::P(50.0),
            )
            .unwrap();
        assert!((p - 100.0).abs() < 0.1, "{p}");
        assert_eq!(
            r.value("http_req_duration", &f(&[("op", "nope")]), Stat::Avg),
            None
        );
        assert_eq!(
            r.value("http_req_duration", &f(&[("zone", "a")]), Stat::Avg),
            None
        );
        assert_eq!(r.value("dropped_iterations", &[], Stat::Count), Some(3.0));
        assert_eq!(
            r.value("iterations", &f(&[("scenario", "write")]), Stat::Count),
            Some(2.0)
        );
        assert_eq!(r.values_of("op"), ["multi-search", "search", "write"]);
    }
}
