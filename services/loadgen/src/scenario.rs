//! The scenario file, `loadtest/scenarios.json`, which the k6 scripts read too: one file, so that
//! "the same scenarios" is true by construction rather than by copying numbers between a script
//! and a Rust table. Each named scenario is one run; its `workloads` are k6 scenario objects
//! (passed to k6 unchanged as `options.scenarios`), its `thresholds` k6 threshold expressions,
//! its `events` operator actions at a time into the run.
//!
//! The generator runs the two executors that model a search service's load: `constant-arrival-rate`
//! (open model: requests arrive at a fixed rate whatever the latency, like users) and
//! `constant-vus` (closed model: N clients back to back, like an indexing pipeline). Anything else
//! is refused when the file is read, not silently run differently.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use indexmap::IndexMap;
use serde::Deserialize;

use crate::threshold::{Threshold, ThresholdError};

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("{path} is not a valid scenario file: {reason}")]
    Parse { path: String, reason: String },
    #[error("scenario {scenario}, workload {workload}: {reason}")]
    Workload {
        scenario: String,
        workload: String,
        reason: String,
    },
    #[error("scenario {scenario}: {source}")]
    Threshold {
        scenario: String,
        source: ThresholdError,
    },
    #[error("scenario {scenario}: {reason}")]
    Invalid { scenario: String, reason: String },
    #[error("no scenario named {name} in {path} (there are: {known})")]
    Unknown {
        name: String,
        path: String,
        known: String,
    },
    #[error("bad duration {0:?}: expected k6's form, such as 30s, 1m30s, 500ms or 1.5s")]
    Duration(String),
}

/// The whole file, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawFile {
    #[serde(rename = "$comment", default)]
    _comment: Option<String>,
    index: String,
    queries: String,
    documents: RawDocuments,
    scenarios: IndexMap<String, RawScenario>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawDocuments {
    file: String,
    batch_size: usize,
    #[serde(default)]
    id_offset: u64,
    #[serde(default)]
    id_space: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawScenario {
    #[serde(default)]
    description: String,
    workloads: IndexMap<String, RawWorkload>,
    #[serde(default)]
    thresholds: IndexMap<String, Vec<String>>,
    #[serde(default)]
    events: Vec<RawEvent>,
}

/// A k6 scenario object: the fields of the two executors the generator runs.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawWorkload {
    executor: String,
    exec: String,
    duration: Dur,
    #[serde(default)]
    start_time: Option<Dur>,
    #[serde(default)]
    graceful_stop: Option<Dur>,
    #[serde(default)]
    rate: Option<u32>,
    #[serde(default)]
    time_unit: Option<Dur>,
    #[serde(default, rename = "preAllocatedVUs")]
    pre_allocated_vus: Option<u32>,
    #[serde(default, rename = "maxVUs")]
    max_vus: Option<u32>,
    #[serde(default)]
    vus: Option<u32>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEvent {
    at: Dur,
    action: String,
    #[serde(default)]
    description: String,
}

/// A k6 duration: a string such as `1m30s`, or a number of milliseconds.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Dur {
    Text(String),
    Millis(u64),
}

impl Dur {
    fn get(&self) -> Result<Duration, ScenarioError> {
        match self {
            Dur::Text(s) => parse_duration(s),
            Dur::Millis(ms) => Ok(Duration::from_millis(*ms)),
        }
    }
}

/// Parses k6's duration syntax: a sequence of `<number><unit>` with units `h`, `m`, `s`, `ms`,
/// `us`/`µs`; numbers may have a fraction (`1.5s`). A bare number is milliseconds, as in k6.
pub fn parse_duration(text: &str) -> Result<Duration, ScenarioError> {
    let bad = || ScenarioError::Duration(text.to_string());
    let s = text.trim();
    if s.is_empty() {
        return Err(bad());
    }
    if let Ok(ms) = s.parse::<f64>() {
        return if ms.is_finite() && ms >= 0.0 {
            Ok(Duration::from_secs_f64(ms / 1000.0))
        } else {
            Err(bad())
        };
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        if digits == 0 {
            return Err(bad());
        }
        let number: f64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            _ => return Err(bad()),
        };
        total += number * seconds;
        rest = &rest[unit_len..];
    }
    if !total.is_finite() {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(total))
}

/// What one iteration of a workload does (k6's `exec`: the exported function it calls).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exec {
    /// The next query of the query file.
    Search,
    /// The next batch of documents.
    Write,
}

/// How iterations are started.
#[derive(Debug, Clone, PartialEq)]
pub enum Executor {
    /// Open model: `rate` iterations every `time_unit`, at most `max_vus` in flight; an iteration
    /// due while `max_vus` are busy is dropped and counted (`dropped_iterations`), as in k6.
    ArrivalRate {
        rate: u32,
        time_unit: Duration,
        max_vus: u32,
    },
    /// Closed model: `vus` loops, each starting its next iteration when the last ends.
    ConstantVus { vus: u32 },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    /// The k6 scenario's name: the `scenario` tag of its samples.
    pub name: String,
    pub exec: Exec,
    pub executor: Executor,
    pub start: Duration,
    pub duration: Duration,
    /// How long iterations still running at the end may take before they are interrupted.
    pub graceful_stop: Duration,
    pub tags: BTreeMap<String, String>,
}

impl Workload {
    /// When the workload stops starting iterations, from the start of the run.
    pub fn end(&self) -> Duration {
        self.start + self.duration
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub at: Duration,
    pub action: String,
    pub description: String,
}

#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    pub workloads: Vec<Workload>,
    pub thresholds: Vec<Threshold>,
    pub events: Vec<Event>,
}

impl Scenario {
    /// When the last workload stops starting iterations.
    pub fn length(&self) -> Duration {
        self.workloads
            .iter()
            .map(Workload::end)
            .max()
            .unwrap_or_default()
    }

    /// The same scenario shortened (or lengthened) to `length`: every start, duration and event
    /// time scaled by the same factor, so that an event stays at the same point of the load.
    pub fn scaled_to(mut self, length: Duration) -> Scenario {
        let old = self.length().as_secs_f64();
        if old <= 0.0 {
            return self;
        }
        let factor = length.as_secs_f64() / old;
        let scale = |d: Duration| Duration::from_secs_f64(d.as_secs_f64() * factor);
        for w in &mut self.workloads {
            w.start = scale(w.start);
            w.duration = scale(w.duration);
        }
        for e in &mut self.events {
            e.at = scale(e.at);
        }
        self
    }
}

/// Where the documents of write iterations come from.
#[derive(Debug, Clone)]
pub struct Documents {
    pub file: PathBuf,
    pub batch_size: usize,
    /// Batch `n` writes corpus documents under ids `id_offset + (n * batch_size + i) mod
    /// id_space`: new documents that do not overwrite the corpus, the same ids on every run, and
    /// at most `id_space` of them (0: no bound), so the index stays the same size run after run.
    pub id_offset: u64,
    pub id_space: u64,
}

/// The scenario file, read and checked.
#[derive(Debug, Clone)]
pub struct ScenarioFile {
    pub path: PathBuf,
    pub index: String,
    pub queries: PathBuf,
    pub documents: Documents,
    pub scenarios: Vec<Scenario>,
}

impl ScenarioFile {
    pub fn read(path: &Path) -> Result<ScenarioFile, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|e| ScenarioError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        let dir = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, path, dir)
    }

    /// Parses the file's text; relative paths in it are taken from `dir`, as k6's `open()` takes
    /// them from the script's directory.
    pub fn parse(text: &str, path: &Path, dir: &Path) -> Result<ScenarioFile, ScenarioError> {
        let raw: RawFile = serde_json::from_str(text).map_err(|e| ScenarioError::Parse {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        if raw.documents.batch_size == 0 {
            return Err(ScenarioError::Parse {
                path: path.display().to_string(),
                reason: "documents.batchSize must be at least 1".into(),
            });
        }
        let scenarios = raw
            .scenarios
            .into_iter()
            .map(|(name, s)| scenario(name, s))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ScenarioFile {
            path: path.to_path_buf(),
            index: raw.index,
            queries: dir.join(raw.queries),
            documents: Documents {
                file: dir.join(raw.documents.file),
                batch_size: raw.documents.batch_size,
                id_offset: raw.documents.id_offset,
                id_space: raw.documents.id_space,
            },
            scenarios,
        })
    }

    pub fn get(&self, name: &str) -> Result<&Scenario, ScenarioError> {
        self.scenarios
            .iter()
            .find(|s| s.name == name)
            .ok_or_else(|| ScenarioError::Unknown {
                name: name.to_string(),
                path: self.path.display().to_string(),
                known: self.names().join(", "),
            })
    }

    pub fn names(&self) -> Vec<String> {
        self.scenarios.iter().map(|s| s.name.clone()).collect()
    }
}

fn scenario(name: String, raw: RawScenario) -> Result<Scenario, ScenarioError> {
    if raw.workloads.is_empty() {
        return Err(ScenarioError::Invalid {
            scenario: name,
            reason: "it has no workload".into(),
        });
    }
    let workloads = raw
        .workloads
        .into_iter()
        .map(|(w, raw)| workload(&name, w, raw))
        .collect::<Result<Vec<_>, _>>()?;
    let mut thresholds = Vec::new();
    for (metric, exprs) in &raw.thresholds {
        for expr in exprs {
            thresholds.push(Threshold::parse(metric, expr).map_err(|source| {
                ScenarioError::Threshold {
                    scenario: name.clone(),
                    source,
                }
            })?);
        }
    }
    let mut events = Vec::new();
    for e in raw.events {
        events.push(Event {
            at: e.at.get()?,
            action: e.action,
            description: e.description,
        });
    }
    let scenario = Scenario {
        name,
        description: raw.description,
        workloads,
        thresholds,
        events,
    };
    if let Some(e) = scenario.events.iter().find(|e| e.at >= scenario.length()) {
        return Err(ScenarioError::Invalid {
            scenario: scenario.name,
            reason: format!("event {} is due after the load has ended", e.action),
        });
    }
    Ok(scenario)
}

fn workload(scenario: &str, name: String, raw: RawWorkload) -> Result<Workload, ScenarioError> {
    let bad = |reason: String| ScenarioError::Workload {
        scenario: scenario.to_string(),
        workload: name.clone(),
        reason,
    };
    let exec = match raw.exec.as_str() {
        "search" => Exec::Search,
        "write" => Exec::Write,
        other => return Err(bad(format!("exec {other:?}: expected search or write"))),
    };
    let executor = match raw.executor.as_str() {
        "constant-arrival-rate" => {
            let rate = raw
                .rate
                .filter(|r| *r > 0)
                .ok_or_else(|| bad("constant-arrival-rate needs a rate of at least 1".into()))?;
            let time_unit = match &raw.time_unit {
                Some(d) => d.get()?,
                None => Duration::from_secs(1),
            };
            if time_unit.is_zero() {
                return Err(bad("timeUnit must be more than 0".into()));
            }
            let max_vus = raw
                .max_vus
                .or(raw.pre_allocated_vus)
                .filter(|v| *v > 0)
                .ok_or_else(|| {
                    bad("constant-arrival-rate needs preAllocatedVUs or maxVUs".into())
                })?;
            if raw.vus.is_some() {
                return Err(bad("vus belongs to constant-vus".into()));
            }
            Executor::ArrivalRate {
                rate,
                time_unit,
                max_vus,
            }
        }
        "constant-vus" => {
            let vus = raw
                .vus
                .filter(|v| *v > 0)
                .ok_or_else(|| bad("constant-vus needs vus of at least 1".into()))?;
            if raw.rate.is_some() || raw.max_vus.is_some() || raw.pre_allocated_vus.is_some() {
                return Err(bad(
                    "rate and VU pools belong to constant-arrival-rate".into()
                ));
            }
            Executor::ConstantVus { vus }
        }
        other => {
            return Err(bad(format!(
                "executor {other:?} is not run by miroir-load (constant-arrival-rate, constant-vus)"
            )));
        }
    };
    let duration = raw.duration.get()?;
    if duration.is_zero() {
        return Err(bad("duration must be more than 0".into()));
    }
    Ok(Workload {
        exec,
        executor,
        start: raw
            .start_time
            .map(|d| d.get())
            .transpose()?
            .unwrap_or_default(),
        duration,
        // k6's default.
        graceful_stop: raw
            .graceful_stop
            .map(|d| d.get())
            .transpose()?
            .unwrap_or(Duration::from_secs(30)),
        tags: raw.tags,
        name,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parse(text: &str) -> Result<ScenarioFile, ScenarioError> {
        ScenarioFile::parse(text, Path::new("s.json"), Path::new("/base"))
    }

    const GOOD: &str = r#"{
        "index": "npm", "queries": "q/x.ndjson",
        "documents": {"file": "../d.ndjson", "batchSize": 10, "idOffset": 5},
        "scenarios": {
            "mixed": {
                "workloads": {
                    "search": {"executor": "constant-arrival-rate", "exec": "search", "rate": 20,
                               "timeUnit": "1s", "duration": "1m", "preAllocatedVUs": 5, "maxVUs": 8},
                    "write": {"executor": "constant-vus", "exec": "write", "vus": 2, "duration": "30s",
                              "startTime": "30s", "gracefulStop": "5s"}
                },
                "thresholds": {"http_req_duration{scenario:search}": ["p(95)<500"]},
                "events": [{"at": "15s", "action": "add-node"}]
            }
        }
    }"#;

    #[test]
    fn durations_follow_k6() {
        let ms = |s: &str| parse_duration(s).map(|d| d.as_millis());
        assert_eq!(ms("30s").unwrap(), 30_000);
        assert_eq!(ms("1m30s").unwrap(), 90_000);
        assert_eq!(ms("1h").unwrap(), 3_600_000);
        assert_eq!(ms("500ms").unwrap(), 500);
        assert_eq!(ms("1.5s").unwrap(), 1_500);
        assert_eq!(ms("250").unwrap(), 250, "a bare number is milliseconds");
        for bad in ["", "s", "10x", "1m30", "-1s", "1..2s", "ms5"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn a_scenario_file_is_read_with_paths_from_its_directory() {
        let f = parse(GOOD).unwrap();
        assert_eq!(f.index, "npm");
        assert_eq!(f.queries, Path::new("/base/q/x.ndjson"));
        assert_eq!(f.documents.file, Path::new("/base/../d.ndjson"));
        assert_eq!((f.documents.batch_size, f.documents.id_offset), (10, 5));
        let s = f.get("mixed").unwrap();
        assert_eq!(s.workloads.len(), 2);
        let search = &s.workloads[0];
        assert_eq!(search.name, "search");
        assert_eq!(search.exec, Exec::Search);
        assert_eq!(
            search.executor,
            Executor::ArrivalRate {
                rate: 20,
                time_unit: Duration::from_secs(1),
                max_vus: 8
            }
        );
        assert_eq!(
            search.graceful_stop,
            Duration::from_secs(30),
            "k6's default"
        );
        let write = &s.workloads[1];
        assert_eq!(write.executor, Executor::ConstantVus { vus: 2 });
        assert_eq!(write.end(), Duration::from_secs(60));
        assert_eq!(s.length(), Duration::from_secs(60));
        assert_eq!(s.thresholds.len(), 1);
        assert_eq!(s.events[0].at, Duration::from_secs(15));
        let err = f.get("nope").unwrap_err().to_string();
        assert!(err.contains("there are: mixed"), "{err}");
    }

    #[test]
    fn scaling_keeps_events_at_the_same_point_of_the_load() {
        let f = parse(GOOD).unwrap();
        let s = f
            .get("mixed")
            .unwrap()
            .clone()
            .scaled_to(Duration::from_secs(6));
        assert_eq!(s.length(), Duration::from_secs(6));
        assert_eq!(s.workloads[1].start, Duration::from_secs(3));
        assert_eq!(s.events[0].at, Duration::from_millis(1500));
    }

    #[test]
    fn what_the_generator_cannot_run_is_refused() {
        let cases = [
            (
                r#""executor": "ramping-vus", "exec": "search", "duration": "1s""#,
                "ramping-vus",
            ),
            (
                r#""executor": "constant-vus", "exec": "browse", "vus": 1, "duration": "1s""#,
                "browse",
            ),
            (
                r#""executor": "constant-vus", "exec": "search", "duration": "1s""#,
                "vus",
            ),
            (
                r#""executor": "constant-arrival-rate", "exec": "search", "rate": 5, "duration": "1s""#,
                "maxVUs",
            ),
            (
                r#""executor": "constant-vus", "exec": "search", "vus": 1, "duration": "0s""#,
                "duration",
            ),
            (
                r#""executor": "constant-vus", "exec": "search", "vus": 1, "duration": "1s", "iterations": 3"#,
                "iterations",
            ),
        ];
        for (workload, says) in cases {
            let text = format!(
                r#"{{"index": "i", "queries": "q", "documents": {{"file": "d", "batchSize": 1}},
                   "scenarios": {{"s": {{"workloads": {{"w": {{{workload}}}}}}}}}}}"#
            );
            let err = parse(&text).unwrap_err().to_string();
            assert!(err.contains(says), "{workload}: {err}");
        }
        let late = GOOD.replace(r#""at": "15s""#, r#""at": "2m""#);
        assert!(
            parse(&late)
                .unwrap_err()
                .to_string()
                .contains("after the load")
        );
        let bad_threshold = GOOD.replace("p(95)<500", "p95 < fast");
        assert!(parse(&bad_threshold).is_err());
    }

    #[test]
    fn the_repository_scenarios_parse() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../loadtest/scenarios.json");
        let f = ScenarioFile::read(&path).unwrap();
        assert_eq!(
            f.names(),
            ["search", "capacity", "indexing", "mixed", "rebalance"]
        );
        assert!(f.queries.is_file(), "{}", f.queries.display());
        assert!(f.documents.file.is_file(), "{}", f.documents.file.display());
        for s in &f.scenarios {
            assert!(!s.thresholds.is_empty(), "{} has no threshold", s.name);
        }
        let rebalance = f.get("rebalance").unwrap();
        assert_eq!(rebalance.events[0].action, "add-node");
    }
}
