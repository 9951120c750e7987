//! Latency statistics, the HTTP calls whose time is measured, and the final summary table.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use serde_json::Value;

/// The client every measured call goes through: keep-alive, no proxy (all traffic is loopback).
pub fn http_client() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(64)
        .timeout(Duration::from_secs(600))
        .build()
        .context("building the HTTP client")
}

/// `POST url` with a JSON body; the time until the whole answer is read. Anything but a 200 is
/// an error with the answer in it.
pub async fn timed_post(
    http: &reqwest::Client,
    url: &str,
    key: &str,
    body: Bytes,
) -> Result<Duration> {
    let started = Instant::now();
    let response = http
        .post(url)
        .bearer_auth(key)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .with_context(|| format!("POST {url}"))?;
    let status = response.status();
    let bytes = response
        .bytes()
        .await
        .with_context(|| format!("reading the answer of {url}"))?;
    let elapsed = started.elapsed();
    if status != 200 {
        bail!(
            "POST {url} answered {status}: {}",
            String::from_utf8_lossy(&bytes)
        );
    }
    Ok(elapsed)
}

/// Polls `GET {base}/tasks/{uid}` every `every` until the task is final; fails unless it
/// succeeded. Returns the task.
pub async fn wait_task(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    uid: u64,
    every: Duration,
    timeout: Duration,
) -> Result<Value> {
    let deadline = Instant::now() + timeout;
    let url = format!("{base}/tasks/{uid}");
    loop {
        let response = http.get(&url).bearer_auth(key).send().await?;
        let status = response.status();
        let task: Value = response
            .json()
            .await
            .with_context(|| format!("GET {url}"))?;
        if status != 200 {
            bail!("GET {url} answered {status}: {task}");
        }
        match task.get("status").and_then(Value::as_str) {
            Some("succeeded") => return Ok(task),
            Some("failed" | "canceled") => bail!("task {uid} on {base} did not succeed: {task}"),
            _ => {}
        }
        if Instant::now() >= deadline {
            bail!("task {uid} on {base} not finished after {timeout:?}: {task}");
        }
        tokio::time::sleep(every).await;
    }
}

/// A run's latency samples and its duration, before they become [`Stats`].
pub struct Run {
    pub samples: Vec<Duration>,
    pub wall: Duration,
}

/// Latency percentiles of a run.
#[derive(Clone, Debug)]
pub struct Stats {
    pub n: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub mean_ms: f64,
    pub qps: f64,
}

impl Stats {
    /// `wall` is the whole run's duration (for the rate).
    pub fn new(mut samples: Vec<Duration>, wall: Duration) -> Stats {
        samples.sort();
        let n = samples.len();
        let pick = |q: f64| {
            if n == 0 {
                return 0.0;
            }
            let i = ((n as f64 - 1.0) * q).round() as usize;
            samples[i.min(n - 1)].as_secs_f64() * 1e3
        };
        let mean_ms = if n == 0 {
            0.0
        } else {
            samples.iter().map(Duration::as_secs_f64).sum::<f64>() / n as f64 * 1e3
        };
        Stats {
            n,
            p50_ms: pick(0.5),
            p99_ms: pick(0.99),
            mean_ms,
            qps: n as f64 / wall.as_secs_f64().max(1e-9),
        }
    }

    /// The figures of two runs of one target taken as one: their samples together, their
    /// durations added (the rate is over the time spent searching, not the time between them).
    pub fn join(a: Run, b: Run) -> Stats {
        let mut samples = a.samples;
        samples.extend(b.samples);
        Stats::new(samples, a.wall + b.wall)
    }

    pub fn line(&self, name: &str) -> String {
        format!(
            "{name:<44} n={:<5} p50 {:>7.3} ms  p99 {:>7.3} ms  mean {:>7.3} ms  {:>7.0} q/s",
            self.n, self.p50_ms, self.p99_ms, self.mean_ms, self.qps
        )
    }
}

/// One row of the final table.
pub struct Row {
    pub figure: String,
    pub miroir: String,
    pub baseline: String,
    pub ratio: String,
    pub target: String,
    pub met: Option<bool>,
}

pub fn print_table(rows: &[Row]) {
    let headers = ["figure", "miroir", "baseline", "ratio", "target", "met"];
    let cells: Vec<[String; 6]> = rows
        .iter()
        .map(|r| {
            [
                r.figure.clone(),
                r.miroir.clone(),
                r.baseline.clone(),
                r.ratio.clone(),
                r.target.clone(),
                match r.met {
                    Some(true) => "yes".into(),
                    Some(false) => "NO".into(),
                    None => "-".into(),
                },
            ]
        })
        .collect();
    let mut widths = headers.map(str::len);
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row.iter()) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cols: [&str; 6]| {
        let parts: Vec<String> = cols
            .iter()
            .zip(widths.iter())
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("| {} |", parts.join(" | "));
    };
    line(headers);
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    println!("|-{}-|", rule.join("-|-"));
    for row in &cells {
        line([&row[0], &row[1], &row[2], &row[3], &row[4], &row[5]]);
    }
}
