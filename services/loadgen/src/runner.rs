//! The executors: each workload of a scenario runs as its own task, starting iterations on k6's
//! schedule (a fixed arrival rate, or N loops), until its duration is over; iterations still
//! running then get the workload's graceful stop and are interrupted after it. Every request has
//! a timeout, and the whole run a deadline, so a run always ends by itself.
//!
//! Iterations record into one shared [`Recorder`] (a short lock per request). Write iterations
//! also keep the task uid each acknowledged batch got, so that the run can then wait for those
//! tasks and report any that failed: an acknowledged write that is not applied is an error,
//! whatever the latency.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::scenario::{Exec, Executor, Scenario, Workload};
use crate::stats::{Recorder, Sample, Tags};
use crate::workload::{Op, Query, batch};

/// What every iteration needs.
pub struct Target {
    pub http: reqwest::Client,
    pub base: String,
    pub key: Option<String>,
    pub index: String,
    pub queries: Vec<Query>,
    pub corpus: Vec<serde_json::Map<String, Value>>,
    pub batch_size: usize,
    pub id_offset: u64,
    pub id_space: u64,
}

impl Target {
    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let r = self.http.request(method, format!("{}{path}", self.base));
        match &self.key {
            Some(key) => r.bearer_auth(key),
            None => r,
        }
    }

    /// One call: its sample (latency to the end of the body, failed, checks) and its JSON body.
    async fn call(&self, op: Op, body: &Value) -> (Sample, Option<Value>) {
        let started = Instant::now();
        let sent = self
            .request(reqwest::Method::POST, &op.path(&self.index))
            .json(body)
            .send()
            .await;
        let (status, text) = match sent {
            Ok(response) => {
                let status = response.status().as_u16();
                (status, response.bytes().await.ok())
            }
            Err(_) => (0, None),
        };
        let latency = started.elapsed();
        let json: Option<Value> = text.and_then(|b| serde_json::from_slice(&b).ok());
        let (want_status, want_field) = op.expects(body);
        let status_ok = status == want_status;
        let field_ok = json.as_ref().is_some_and(|j| j.get(want_field).is_some());
        let sample = Sample {
            latency,
            failed: !(200..400).contains(&status),
            checks_passed: u32::from(status_ok) + u32::from(field_ok),
            checks: 2,
            status,
        };
        (sample, json)
    }
}

/// What a run leaves besides the measurements.
#[derive(Debug, Default)]
pub struct Shared {
    pub recorder: Mutex<Recorder>,
    /// Task uids of acknowledged write batches.
    pub tasks: Mutex<Vec<u64>>,
    /// Iteration counter of the run (k6's `exec.scenario.iterationInTest` per workload kind):
    /// which query or batch comes next.
    pub next_query: AtomicU64,
    pub next_batch: AtomicU64,
    pub requests: AtomicU64,
    pub errors: AtomicU64,
}

impl Shared {
    fn lock_recorder(&self) -> std::sync::MutexGuard<'_, Recorder> {
        // A panic while holding the lock cannot leave a half-written sample worth refusing.
        self.recorder.lock().unwrap_or_else(|e| e.into_inner())
    }
}

async fn iteration(target: &Target, shared: &Shared, workload: &str, exec: Exec) {
    let (op, tag, body) = match exec {
        Exec::Search => {
            let n = shared.next_query.fetch_add(1, Ordering::Relaxed);
            let q = &target.queries[(n % target.queries.len() as u64) as usize];
            (q.op, q.tag.clone(), q.body.clone())
        }
        Exec::Write => {
            let n = shared.next_batch.fetch_add(1, Ordering::Relaxed);
            let docs = batch(
                &target.corpus,
                n,
                target.batch_size,
                target.id_offset,
                target.id_space,
            );
            (Op::Write, "batch".to_string(), Value::Array(docs))
        }
    };
    let (sample, json) = target.call(op, &body).await;
    shared.requests.fetch_add(1, Ordering::Relaxed);
    if sample.failed {
        shared.errors.fetch_add(1, Ordering::Relaxed);
    }
    if op == Op::Write
        && let Some(uid) = json.as_ref().and_then(|j| j["taskUid"].as_u64())
    {
        shared
            .tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(uid);
    }
    let tags = Tags {
        scenario: workload.to_string(),
        op: op.name().to_string(),
        query: tag,
    };
    shared.lock_recorder().record(&tags, &sample);
}

/// Runs one workload from `t0 + start` to `t0 + end`, then waits out its graceful stop.
async fn run_workload(target: Arc<Target>, shared: Arc<Shared>, w: Workload, t0: Instant) {
    tokio::time::sleep_until((t0 + w.start).into()).await;
    let end = t0 + w.end();
    let mut running = JoinSet::new();
    let mut started = 0u64;
    let mut dropped = 0u64;
    match w.executor {
        Executor::ArrivalRate {
            rate,
            time_unit,
            max_vus,
        } => {
            let slots = Arc::new(Semaphore::new(max_vus as usize));
            let every = time_unit.div_f64(f64::from(rate));
            let first = Instant::now();
            // Iteration i is due at first + i * every: the schedule does not drift when a tick is
            // late, and ticks missed while the runtime was busy are caught up (an open model).
            let mut i = 0u32;
            loop {
                let due = first + every.saturating_mul(i);
                if due >= end {
                    break;
                }
                tokio::time::sleep_until(due.into()).await;
                i = i.saturating_add(1);
                match slots.clone().try_acquire_owned() {
                    Ok(slot) => {
                        started += 1;
                        let (target, shared, name) =
                            (target.clone(), shared.clone(), w.name.clone());
                        running.spawn(async move {
                            iteration(&target, &shared, &name, w.exec).await;
                            drop(slot);
                        });
                    }
                    Err(_) => dropped += 1,
                }
                // Reap finished iterations so the set does not grow with the run.
                while running.try_join_next().is_some() {}
            }
        }
        Executor::ConstantVus { vus } => {
            let count = Arc::new(AtomicU64::new(0));
            for _ in 0..vus {
                let (target, shared, name, count) = (
                    target.clone(),
                    shared.clone(),
                    w.name.clone(),
                    count.clone(),
                );
                running.spawn(async move {
                    while Instant::now() < end {
                        count.fetch_add(1, Ordering::Relaxed);
                        iteration(&target, &shared, &name, w.exec).await;
                    }
                });
            }
            tokio::time::sleep_until(end.into()).await;
            started = count.load(Ordering::Relaxed);
        }
    }
    // The graceful stop: what is still running may finish, then is interrupted.
    let stop = tokio::time::sleep_until((Instant::now().max(end) + w.graceful_stop).into());
    tokio::pin!(stop);
    loop {
        tokio::select! {
            next = running.join_next() => if next.is_none() { break },
            () = &mut stop => break,
        }
    }
    let interrupted = running.len() as u64;
    running.abort_all();
    let mut recorder = shared.lock_recorder();
    let it = recorder.iterations(&w.name);
    it.started += started;
    it.dropped += dropped;
    it.interrupted += interrupted;
}

/// Runs every workload of `scenario` at once; returns when the last has stopped.
pub async fn run(target: Arc<Target>, shared: Arc<Shared>, scenario: &Scenario, t0: Instant) {
    let mut workloads = JoinSet::new();
    for w in &scenario.workloads {
        workloads.spawn(run_workload(target.clone(), shared.clone(), w.clone(), t0));
    }
    while workloads.join_next().await.is_some() {}
    let elapsed = t0.elapsed();
    shared.lock_recorder().elapsed = elapsed;
}

/// What became of the write batches the cluster acknowledged.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct TaskOutcome {
    pub enqueued: u64,
    pub succeeded: u64,
    pub failed: u64,
    /// Not finished when the settle time ran out, or could not be read.
    pub unfinished: u64,
    /// How long after the load the last task ended (the backlog the load left), when all did.
    pub drained_s: Option<f64>,
    /// The first few distinct errors of failed tasks.
    pub errors: Vec<String>,
}

impl TaskOutcome {
    pub fn ok(&self) -> bool {
        self.failed == 0 && self.unfinished == 0
    }
}

/// Waits, until `deadline`, for every acknowledged write's task to end.
pub async fn settle(target: &Target, uids: &[u64], deadline: Instant) -> TaskOutcome {
    let started = Instant::now();
    let mut out = TaskOutcome {
        enqueued: uids.len() as u64,
        ..Default::default()
    };
    for uid in uids {
        loop {
            let task = async {
                let r = target
                    .request(reqwest::Method::GET, &format!("/tasks/{uid}"))
                    .send()
                    .await
                    .ok()?;
                r.json::<Value>().await.ok()
            }
            .await
            .unwrap_or_default();
            match task["status"].as_str() {
                Some("succeeded") => out.succeeded += 1,
                Some("failed" | "canceled") => {
                    out.failed += 1;
                    let error = format!("task {uid}: {}", task["error"]);
                    if out.errors.len() < 5 {
                        out.errors.push(error);
                    }
                }
                _ if Instant::now() >= deadline => out.unfinished += 1,
                _ => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            }
            break;
        }
    }
    if out.unfinished == 0 {
        out.drained_s = Some(started.elapsed().as_secs_f64());
    }
    out
}
