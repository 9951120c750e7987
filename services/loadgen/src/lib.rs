//! `miroir-load`: the load generator that runs the scenarios of `loadtest/scenarios.json` (the
//! file the k6 scripts in `loadtest/` read) against a Miroir gateway, or any Meilisearch, on this
//! machine. k6 cannot be installed here, and a load test that only exists as a script nobody can
//! run proves nothing; this binary runs the same workloads, with the same executors, requests,
//! tags, checks and thresholds, and prints p50/p95/p99, throughput and error rate per workload,
//! op and query kind.
//!
//! A run is bounded: every workload has a duration (at most `--max-duration-secs`), a graceful
//! stop after which iterations are interrupted, and every request a timeout. The target must be
//! a loopback address unless `--allow-remote`. After the load, the tasks of every acknowledged
//! write batch are waited for: a batch the cluster acknowledged and then failed fails the run.
//!
//! Modules: [`scenario`] (the file), [`workload`] (queries and batches), [`threshold`] (k6's
//! expressions), [`stats`] (histograms per tag), [`runner`] (the executors), [`summary`] (text
//! and JSON), [`config`] (flags, environment, target check).

pub mod config;
pub mod runner;
pub mod scenario;
pub mod stats;
pub mod summary;
pub mod threshold;
pub mod workload;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

pub use config::Config;
use runner::{Shared, Target};
use scenario::{Scenario, ScenarioFile};
use summary::{EventOutcome, Report};

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Target(#[from] config::TargetError),
    #[error(transparent)]
    Scenario(#[from] scenario::ScenarioError),
    #[error(transparent)]
    Workload(#[from] workload::WorkloadError),
    #[error(
        "scenario {scenario} would load for {length:?}, more than the cap of {cap:?} (--max-duration-secs)"
    )]
    TooLong {
        scenario: String,
        length: Duration,
        cap: Duration,
    },
    #[error("{url}: {reason}")]
    Preflight { url: String, reason: String },
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

/// How long an event's command may take.
const EVENT_TIMEOUT: Duration = Duration::from_secs(120);

/// Reads the scenario file and runs the configured scenarios one after the other. `progress`
/// draws a progress bar on stderr (hidden when stderr is not a terminal).
pub async fn run(config: &Config) -> Result<Vec<Report>, LoadError> {
    let base = config::check_target(&config.url, config.allow_remote)?;
    let file = ScenarioFile::read(&config.file)?;
    let names = if config.scenarios.is_empty() {
        file.names()
    } else {
        config.scenarios.clone()
    };
    let mut scenarios = Vec::new();
    for name in &names {
        let mut s = file.get(name)?.clone();
        if let Some(length) = config.duration()? {
            s = s.scaled_to(length);
        }
        let length = s.length();
        if length > config.max_duration() {
            return Err(LoadError::TooLong {
                scenario: s.name,
                length,
                cap: config.max_duration(),
            });
        }
        scenarios.push(s);
    }
    let needs = |exec| {
        scenarios
            .iter()
            .any(|s| s.workloads.iter().any(|w| w.exec == exec))
    };
    let queries = if needs(scenario::Exec::Search) {
        workload::read_queries(&file.queries)?
    } else {
        Vec::new()
    };
    let corpus = if needs(scenario::Exec::Write) {
        workload::read_documents(&file.documents.file)?
    } else {
        Vec::new()
    };
    let http = reqwest::Client::builder()
        .timeout(Duration::from_millis(config.request_timeout_ms))
        .connect_timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| LoadError::Client(e.to_string()))?;
    let target = Arc::new(Target {
        http,
        base,
        key: config.key.clone(),
        index: file.index.clone(),
        queries,
        corpus,
        batch_size: file.documents.batch_size,
        id_offset: file.documents.id_offset,
        id_space: file.documents.id_space,
    });
    preflight(&target).await?;
    let mut reports = Vec::new();
    for s in &scenarios {
        reports.push(run_scenario(config, target.clone(), s).await);
    }
    Ok(reports)
}

/// The index must be there: a run against a missing index measures 404s.
async fn preflight(target: &Target) -> Result<(), LoadError> {
    let url = format!("{}/indexes/{}", target.base, target.index);
    let mut request = target.http.get(&url);
    if let Some(key) = &target.key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.map_err(|e| LoadError::Preflight {
        url: url.clone(),
        reason: format!("cannot be reached ({e}); is the cluster up (`just demo`)?"),
    })?;
    let status = response.status().as_u16();
    if status != 200 {
        let body = response.text().await.unwrap_or_default();
        return Err(LoadError::Preflight {
            url,
            reason: format!(
                "HTTP {status} {body}; the index {} must exist and hold the corpus (`just demo` loads it), and --key (MIROIR_KEY) must be accepted",
                target.index
            ),
        });
    }
    Ok(())
}

async fn run_scenario(config: &Config, target: Arc<Target>, s: &Scenario) -> Report {
    let shared = Arc::new(Shared::default());
    let t0 = Instant::now();
    let events: Vec<_> = s
        .events
        .iter()
        .map(|e| {
            let command = config.event_command(&e.action).map(str::to_string);
            let e = e.clone();
            tokio::spawn(async move {
                tokio::time::sleep_until((t0 + e.at).into()).await;
                run_event(e.action, t0.elapsed(), command).await
            })
        })
        .collect();
    let progress = progress_bar(config.quiet, s);
    let ticker = progress.clone().map(|bar| {
        let shared = shared.clone();
        tokio::spawn(async move {
            loop {
                bar.set_position(t0.elapsed().as_millis() as u64);
                bar.set_message(format!(
                    "{} requests, {} errors",
                    shared.requests.load(Ordering::Relaxed),
                    shared.errors.load(Ordering::Relaxed)
                ));
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    });
    runner::run(target.clone(), shared.clone(), s, t0).await;
    if let Some(t) = ticker {
        t.abort();
    }
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    let mut outcomes = Vec::new();
    for e in events {
        match e.await {
            Ok(outcome) => outcomes.push(outcome),
            Err(join) => outcomes.push(EventOutcome {
                action: "?".into(),
                at_s: 0.0,
                command: None,
                result: format!("the event task ended: {join}"),
                ok: false,
            }),
        }
    }
    let uids = shared
        .tasks
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let tasks = runner::settle(
        &target,
        &uids,
        Instant::now() + Duration::from_millis(config.settle_ms),
    )
    .await;
    let recorder = shared.recorder.lock().unwrap_or_else(|e| e.into_inner());
    let verdicts = s
        .thresholds
        .iter()
        .map(|t| t.evaluate(&*recorder))
        .collect();
    summary::report(
        summary::Context {
            scenario: s.name.clone(),
            description: s.description.clone(),
            url: target.base.clone(),
            index: target.index.clone(),
        },
        &recorder,
        verdicts,
        tasks,
        outcomes,
    )
}

/// Runs an event's command (`sh -c`), bounded in time; without a command, says who must act.
async fn run_event(action: String, at: Duration, command: Option<String>) -> EventOutcome {
    let at_s = at.as_secs_f64();
    let Some(cmd) = command else {
        return EventOutcome {
            result: format!(
                "not run: no --event-cmd {action}=COMMAND given, the operator performs it now (for add-node: miroirctl node add ID URL)"
            ),
            action,
            at_s,
            command: None,
            ok: true,
        };
    };
    let started = Instant::now();
    let child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(&cmd)
        .kill_on_drop(true)
        .output();
    let (result, ok) = match tokio::time::timeout(EVENT_TIMEOUT, child).await {
        Err(_) => (format!("timed out after {EVENT_TIMEOUT:?}"), false),
        Ok(Err(e)) => (format!("cannot run: {e}"), false),
        Ok(Ok(out)) => {
            let took = started.elapsed().as_secs_f64();
            let said = String::from_utf8_lossy(if out.status.success() {
                &out.stdout
            } else {
                &out.stderr
            })
            .trim()
            .replace('\n', " / ");
            (
                format!("{} in {took:.1} s: {said}", out.status),
                out.status.success(),
            )
        }
    };
    EventOutcome {
        action,
        at_s,
        command: Some(cmd),
        result,
        ok,
    }
}

fn progress_bar(quiet: bool, s: &Scenario) -> Option<indicatif::ProgressBar> {
    if quiet {
        return None;
    }
    let bar = indicatif::ProgressBar::new(s.length().as_millis() as u64);
    let style = indicatif::ProgressStyle::with_template(&format!(
        "{} {{wide_bar}} {{elapsed}}/{:.0}s {{msg}}",
        s.name,
        s.length().as_secs_f64()
    ))
    .ok()?;
    bar.set_style(style);
    Some(bar)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn events_run_their_command_or_say_who_acts() {
        let done = run_event(
            "add-node".into(),
            Duration::from_secs(1),
            Some("echo added".into()),
        )
        .await;
        assert!(done.ok, "{done:?}");
        assert!(done.result.contains("added"), "{done:?}");
        let failed = run_event(
            "add-node".into(),
            Duration::ZERO,
            Some("echo no such node >&2; exit 3".into()),
        )
        .await;
        assert!(!failed.ok);
        assert!(failed.result.contains("no such node"), "{failed:?}");
        let none = run_event("add-node".into(), Duration::ZERO, None).await;
        assert!(none.ok && none.command.is_none());
        assert!(none.result.contains("miroirctl node add"), "{none:?}");
    }

    #[tokio::test]
    async fn a_run_refuses_remote_targets_unknown_scenarios_and_overlong_runs() {
        let file =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../loadtest/scenarios.json");
        let config = Config {
            file: file.clone(),
            url: "http://10.1.2.3:7700".into(),
            ..Config::default()
        };
        assert!(matches!(run(&config).await, Err(LoadError::Target(_))));
        let config = Config {
            file: file.clone(),
            scenarios: vec!["soak".into()],
            ..Config::default()
        };
        assert!(matches!(run(&config).await, Err(LoadError::Scenario(_))));
        let config = Config {
            file: file.clone(),
            duration: Some("2h".into()),
            ..Config::default()
        };
        assert!(matches!(run(&config).await, Err(LoadError::TooLong { .. })));
        // Nothing listens on port 9 of loopback: the preflight says so before any load.
        let config = Config {
            file,
            url: "http://127.0.0.1:9".into(),
            duration: Some("1s".into()),
            ..Config::default()
        };
        let e = run(&config).await.unwrap_err().to_string();
        assert!(e.contains("cannot be reached"), "{e}");
    }
}
