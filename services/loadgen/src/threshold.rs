//! k6 thresholds, parsed and evaluated the way k6 does, so that one line of `scenarios.json`
//! passes or fails the same run in both tools: a metric (`http_req_duration`), an optional tag
//! filter (`{op:search}`, a k6 sub-metric) and an expression `<stat> <op> <number>`
//! (`p(95)<500`, `rate<0.01`, `count>10`, `avg<=200`).
//!
//! The metrics are k6's built-in ones that the generator measures: `http_req_duration` (a trend,
//! in milliseconds: `avg`, `min`, `med`, `max`, `p(N)`), `http_req_failed` and `checks` (rates:
//! `rate`), `http_reqs`, `iterations` and `dropped_iterations` (counters: `count`, and `rate`
//! per second). A threshold on a trend or a rate that got no sample fails: a filter that matches
//! nothing is a mistake in the file, not a pass.

use std::fmt;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ThresholdError {
    #[error("threshold {key:?}: unknown metric {metric:?} (known: {known})")]
    Metric {
        key: String,
        metric: String,
        known: &'static str,
    },
    #[error("threshold {key:?}: bad tag filter (expected metric{{tag:value,...}})")]
    Filter { key: String },
    #[error("threshold {key:?} {expr:?}: {reason}")]
    Expression {
        key: String,
        expr: String,
        reason: String,
    },
}

/// The kind of a k6 metric, which decides the statistics it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Trend,
    Rate,
    Counter,
}

const METRICS: &[(&str, Kind)] = &[
    ("http_req_duration", Kind::Trend),
    ("http_req_failed", Kind::Rate),
    ("checks", Kind::Rate),
    ("http_reqs", Kind::Counter),
    ("iterations", Kind::Counter),
    ("dropped_iterations", Kind::Counter),
];
const KNOWN: &str =
    "http_req_duration, http_req_failed, checks, http_reqs, iterations, dropped_iterations";

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stat {
    Avg,
    Min,
    Med,
    Max,
    /// A percentile, 0 to 100.
    P(f64),
    /// For a rate metric the fraction of true samples; for a counter, per second.
    Rate,
    Count,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl Cmp {
    fn holds(self, value: f64, bound: f64) -> bool {
        match self {
            Cmp::Lt => value < bound,
            Cmp::Le => value <= bound,
            Cmp::Gt => value > bound,
            Cmp::Ge => value >= bound,
            Cmp::Eq => value == bound,
            Cmp::Ne => value != bound,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// The key as written, `http_req_duration{op:search}`.
    pub key: String,
    /// The expression as written, `p(95)<500`.
    pub expr: String,
    pub metric: String,
    pub kind: Kind,
    /// Tag name and value pairs a sample must all carry.
    pub filter: Vec<(String, String)>,
    pub stat: Stat,
    pub cmp: Cmp,
    pub bound: f64,
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.key, self.expr)
    }
}

/// What the measurements give for a threshold: the statistic of the samples whose tags match
/// the filter, or `None` when there are none.
pub trait Source {
    fn value(&self, metric: &str, filter: &[(String, String)], stat: Stat) -> Option<f64>;
}

/// One evaluated threshold.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Verdict {
    pub threshold: String,
    /// The measured value, or none when no sample matched.
    pub value: Option<f64>,
    pub ok: bool,
}

impl Threshold {
    pub fn parse(key: &str, expr: &str) -> Result<Threshold, ThresholdError> {
        let (metric, filter) = match key.split_once('{') {
            None => (key.trim(), Vec::new()),
            Some((metric, rest)) => {
                let inner = rest
                    .strip_suffix('}')
                    .ok_or_else(|| ThresholdError::Filter { key: key.into() })?;
                let mut filter = Vec::new();
                for pair in inner.split(',') {
                    let (tag, value) = pair
                        .split_once(':')
                        .ok_or_else(|| ThresholdError::Filter { key: key.into() })?;
                    let (tag, value) = (tag.trim(), value.trim());
                    if tag.is_empty() {
                        return Err(ThresholdError::Filter { key: key.into() });
                    }
                    filter.push((tag.to_string(), value.to_string()));
                }
                (metric.trim(), filter)
            }
        };
        let kind = METRICS
            .iter()
            .find(|(name, _)| *name == metric)
            .map(|(_, kind)| *kind)
            .ok_or_else(|| ThresholdError::Metric {
                key: key.into(),
                metric: metric.into(),
                known: KNOWN,
            })?;
        let bad = |reason: &str| ThresholdError::Expression {
            key: key.into(),
            expr: expr.into(),
            reason: reason.into(),
        };
        let compact: String = expr.chars().filter(|c| !c.is_whitespace()).collect();
        let at = compact
            .find(['<', '>', '=', '!'])
            .ok_or_else(|| bad("no comparison (<, <=, >, >=, ==, !=)"))?;
        let (stat, rest) = compact.split_at(at);
        // Longest operator first, so that `<=` is not read as `<` followed by `=500`.
        let (cmp, number) = [
            ("===", Cmp::Eq),
            ("<=", Cmp::Le),
            (">=", Cmp::Ge),
            ("==", Cmp::Eq),
            ("!=", Cmp::Ne),
            ("<", Cmp::Lt),
            (">", Cmp::Gt),
        ]
        .iter()
        .find_map(|(op, cmp)| rest.strip_prefix(op).map(|n| (*cmp, n)))
        .ok_or_else(|| bad("bad comparison"))?;
        let bound: f64 = number
            .parse()
            .ok()
            .filter(|b: &f64| b.is_finite())
            .ok_or_else(|| bad("the bound is not a number"))?;
        let stat = match stat {
            "avg" => Stat::Avg,
            "min" => Stat::Min,
            "med" => Stat::Med,
            "max" => Stat::Max,
            "rate" => Stat::Rate,
            "count" => Stat::Count,
            p => {
                let n = p
                    .strip_prefix("p(")
                    .and_then(|p| p.strip_suffix(')'))
                    .and_then(|n| n.parse::<f64>().ok())
                    .filter(|n| (0.0..=100.0).contains(n))
                    .ok_or_else(|| bad("unknown statistic"))?;
                Stat::P(n)
            }
        };
        let fits = match kind {
            Kind::Trend => !matches!(stat, Stat::Rate | Stat::Count),
            Kind::Rate => stat == Stat::Rate,
            Kind::Counter => matches!(stat, Stat::Rate | Stat::Count),
        };
        if !fits {
            return Err(bad(&format!("{metric} has no such statistic")));
        }
        Ok(Threshold {
            key: key.into(),
            expr: expr.into(),
            metric: metric.into(),
            kind,
            filter,
            stat,
            cmp,
            bound,
        })
    }

    pub fn evaluate(&self, source: &dyn Source) -> Verdict {
        let value = source.value(&self.metric, &self.filter, self.stat);
        // A counter that was never incremented is 0, as in k6.
        let value = match (value, self.kind) {
            (None, Kind::Counter) => Some(0.0),
            (v, _) => v,
        };
        Verdict {
            threshold: self.to_string(),
            value,
            ok: value.is_some_and(|v| self.cmp.holds(v, self.bound)),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn k6_expressions_parse() {
        let t = Threshold::parse("http_req_duration{op:search}", "p(95)<500").unwrap();
        assert_eq!(t.metric, "http_req_duration");
        assert_eq!(t.filter, [("op".to_string(), "search".to_string())]);
        assert_eq!((t.stat, t.cmp, t.bound), (Stat::P(95.0), Cmp::Lt, 500.0));
        let t = Threshold::parse("http_req_duration{scenario: a, op:b}", "p(99.9) <= 1e3").unwrap();
        assert_eq!(t.filter.len(), 2);
        assert_eq!((t.stat, t.cmp, t.bound), (Stat::P(99.9), Cmp::Le, 1000.0));
        let t = Threshold::parse("http_req_failed", "rate<0.01").unwrap();
        assert_eq!((t.kind, t.stat, t.cmp), (Kind::Rate, Stat::Rate, Cmp::Lt));
        let t = Threshold::parse("http_reqs", "count>=10").unwrap();
        assert_eq!((t.stat, t.cmp), (Stat::Count, Cmp::Ge));
        assert_eq!(Threshold::parse("checks", "rate==1").unwrap().cmp, Cmp::Eq);
        assert_eq!(Threshold::parse("checks", "rate===1").unwrap().cmp, Cmp::Eq);
        assert_eq!(Threshold::parse("checks", "rate!=0").unwrap().cmp, Cmp::Ne);
        assert_eq!(Threshold::parse("checks", "rate>0.9").unwrap().cmp, Cmp::Gt);
        for stat in ["avg", "min", "med", "max"] {
            Threshold::parse("http_req_duration", &format!("{stat}<1")).unwrap();
        }
    }

    #[test]
    fn nonsense_is_refused() {
        for (key, expr) in [
            ("http_req_latency", "p(95)<1"),
            ("http_req_duration{op}", "p(95)<1"),
            ("http_req_duration{op:a", "p(95)<1"),
            ("http_req_duration", "p(95)"),
            ("http_req_duration", "p(95)<fast"),
            ("http_req_duration", "p(101)<1"),
            ("http_req_duration", "p95<1"),
            ("http_req_duration", "rate<1"),
            ("http_req_failed", "p(95)<1"),
            ("http_reqs", "avg<1"),
            ("checks", "rate<>1"),
        ] {
            assert!(Threshold::parse(key, expr).is_err(), "{key} {expr}");
        }
    }

    struct Fixed(Option<f64>);
    impl Source for Fixed {
        fn value(&self, _: &str, _: &[(String, String)], _: Stat) -> Option<f64> {
            self.0
        }
    }

    #[test]
    fn evaluation_compares_and_no_sample_fails_except_for_counters() {
        let t = Threshold::parse("http_req_duration", "p(95)<500").unwrap();
        assert!(t.evaluate(&Fixed(Some(499.9))).ok);
        assert!(!t.evaluate(&Fixed(Some(500.0))).ok);
        let none = t.evaluate(&Fixed(None));
        assert_eq!((none.value, none.ok), (None, false));
        let t = Threshold::parse("dropped_iterations", "count<5").unwrap();
        let zero = t.evaluate(&Fixed(None));
        assert_eq!((zero.value, zero.ok), (Some(0.0), true));
        assert!(!t.evaluate(&Fixed(Some(5.0))).ok);
        let t = Threshold::parse("checks", "rate>=0.99").unwrap();
        assert!(t.evaluate(&Fixed(Some(0.99))).ok);
        assert_eq!(t.evaluate(&Fixed(Some(0.5))).threshold, "checks rate>=0.99");
    }
}
