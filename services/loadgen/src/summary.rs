//! The end-of-run summary: for the whole run, each workload, each op and each query tag, the
//! request count, throughput, error rate, checks and latency (avg, p50, p95, p99, max); then
//! every threshold with its measured value, the fate of the acknowledged writes and the events.
//! The same data as text for a person and as JSON for a machine (k6's `handleSummary` writes
//! both too, from its own data).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::runner::TaskOutcome;
use crate::stats::{Cell, Iterations, Recorder};
use crate::threshold::{Stat, Verdict};

#[derive(Debug, Clone, Serialize)]
pub struct Line {
    /// `all`, or `tag=value`.
    pub group: String,
    pub reqs: u64,
    pub rps: f64,
    pub error_rate: f64,
    pub checks_rate: Option<f64>,
    pub avg_ms: Option<f64>,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
    /// Answers by HTTP status (0: no answer).
    pub statuses: BTreeMap<u16, u64>,
}

impl Line {
    fn of(group: String, cell: &Cell, secs: f64) -> Line {
        Line {
            group,
            reqs: cell.reqs,
            rps: if secs > 0.0 {
                cell.reqs as f64 / secs
            } else {
                0.0
            },
            error_rate: cell.error_rate().unwrap_or(0.0),
            checks_rate: cell.check_rate(),
            avg_ms: cell.latency_ms(Stat::Avg),
            p50_ms: cell.latency_ms(Stat::P(50.0)),
            p95_ms: cell.latency_ms(Stat::P(95.0)),
            p99_ms: cell.latency_ms(Stat::P(99.0)),
            max_ms: cell.latency_ms(Stat::Max),
            statuses: cell.statuses.clone(),
        }
    }
}

/// An event of the scenario, and what running it gave.
#[derive(Debug, Clone, Serialize)]
pub struct EventOutcome {
    pub action: String,
    pub at_s: f64,
    /// The command run, or none when no `--event-cmd` was given for the action.
    pub command: Option<String>,
    /// `exit 0`, `exit 1: <stderr>`, `not run: ...`.
    pub result: String,
    pub ok: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scenario: String,
    pub description: String,
    pub url: String,
    pub index: String,
    pub elapsed_s: f64,
    pub total: Line,
    pub by_workload: Vec<Line>,
    pub by_op: Vec<Line>,
    pub by_query: Vec<Line>,
    pub iterations: BTreeMap<String, Iterations>,
    pub thresholds: Vec<Verdict>,
    pub tasks: TaskOutcome,
    pub events: Vec<EventOutcome>,
    /// Every threshold held, every acknowledged write succeeded and every event that was run
    /// succeeded.
    pub passed: bool,
}

pub struct Context {
    pub scenario: String,
    pub description: String,
    pub url: String,
    pub index: String,
}

pub fn report(
    context: Context,
    recorder: &Recorder,
    thresholds: Vec<Verdict>,
    tasks: TaskOutcome,
    events: Vec<EventOutcome>,
) -> Report {
    let secs = recorder.elapsed.as_secs_f64();
    let group = |tag: &str| -> Vec<Line> {
        recorder
            .values_of(tag)
            .into_iter()
            .map(|v| {
                let cell = recorder.merged(&[(tag.to_string(), v.clone())]);
                Line::of(format!("{tag}={v}"), &cell, secs)
            })
            .collect()
    };
    let passed = thresholds.iter().all(|v| v.ok) && tasks.ok() && events.iter().all(|e| e.ok);
    Report {
        scenario: context.scenario,
        description: context.description,
        url: context.url,
        index: context.index,
        elapsed_s: secs,
        total: Line::of("all".into(), &recorder.merged(&[]), secs),
        by_workload: group("scenario"),
        by_op: group("op"),
        by_query: group("query"),
        iterations: recorder.iterations.clone(),
        thresholds,
        tasks,
        events,
        passed,
    }
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.1}"))
}

fn row(out: &mut String, l: &Line) {
    let _ = writeln!(
        out,
        "  {:<26} {:>7} {:>8.1} {:>7.2}% {:>8} {:>8} {:>8} {:>8} {:>8}",
        l.group,
        l.reqs,
        l.rps,
        l.error_rate * 100.0,
        ms(l.avg_ms),
        ms(l.p50_ms),
        ms(l.p95_ms),
        ms(l.p99_ms),
        ms(l.max_ms),
    );
}

/// The summary for a person.
pub fn text(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "scenario {} against {} (index {}), {:.1} s: {}",
        r.scenario, r.url, r.index, r.elapsed_s, r.description
    );
    let _ = writeln!(
        out,
        "  {:<26} {:>7} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "group", "reqs", "req/s", "errors", "avg ms", "p50 ms", "p95 ms", "p99 ms", "max ms"
    );
    row(&mut out, &r.total);
    for l in r.by_workload.iter().chain(&r.by_op).chain(&r.by_query) {
        row(&mut out, l);
    }
    let statuses: Vec<String> = r
        .total
        .statuses
        .iter()
        .map(|(s, n)| {
            if *s == 0 {
                format!("no answer x{n}")
            } else {
                format!("{s} x{n}")
            }
        })
        .collect();
    let _ = writeln!(
        out,
        "  statuses: {}; checks {}",
        statuses.join(", "),
        r.total
            .checks_rate
            .map_or_else(|| "-".into(), |c| format!("{:.2}%", c * 100.0))
    );
    for (w, i) in &r.iterations {
        let _ = writeln!(
            out,
            "  iterations {w}: {} started, {} dropped, {} interrupted",
            i.started, i.dropped, i.interrupted
        );
    }
    if r.tasks.enqueued > 0 {
        let _ = writeln!(
            out,
            "  write tasks: {} acknowledged, {} succeeded, {} failed, {} unfinished{}",
            r.tasks.enqueued,
            r.tasks.succeeded,
            r.tasks.failed,
            r.tasks.unfinished,
            r.tasks.drained_s.map_or_else(String::new, |s| format!(
                "; the last ended {s:.1} s after the load"
            ))
        );
        for e in &r.tasks.errors {
            let _ = writeln!(out, "    {e}");
        }
    }
    for e in &r.events {
        let _ = writeln!(
            out,
            "  event {} at {:.1} s: {}{}",
            e.action,
            e.at_s,
            e.command
                .as_deref()
                .map_or_else(String::new, |c| format!("`{c}`: ")),
            e.result
        );
    }
    let _ = writeln!(out, "  thresholds:");
    for v in &r.thresholds {
        let _ = writeln!(
            out,
            "    {} {} (measured {})",
            if v.ok { "ok  " } else { "FAIL" },
            v.threshold,
            v.value
                .map_or_else(|| "nothing: no sample".into(), |v| format!("{v:.4}"))
        );
    }
    let _ = writeln!(
        out,
        "  result: {}",
        if r.passed { "passed" } else { "FAILED" }
    );
    out
}
