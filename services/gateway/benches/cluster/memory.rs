//! Figure 4: the gateway's resident memory while a ~100 MB NDJSON body streams through it. The
//! body is generated while it is sent (never held by the bench), a fresh gateway process is
//! used so that its `VmHWM` (peak RSS) belongs to this upload alone, and `VmRSS` is sampled
//! every 2 ms from another thread while the upload runs. The task's details must then count
//! every document sent.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use serde_json::{Value, json};

use crate::corpus::{Generator, Tally};
use crate::procs::status_kb;
use crate::report::wait_task;
use crate::stack::{GATEWAY_KEY, Stack};

pub struct MemoryOutcome {
    pub idle_rss_kb: u64,
    pub peak_sampled_kb: u64,
    pub hwm_kb: u64,
    pub samples: u64,
    pub bytes: u64,
    pub documents: u64,
    pub upload_secs: f64,
    pub total_secs: f64,
}

pub async fn run(
    stack: &mut Stack,
    http: &reqwest::Client,
    max_bytes: u64,
    readme_bytes: usize,
) -> Result<MemoryOutcome> {
    stack.restart_gateway().await?;
    let gw = stack.gateway();
    // Only `name` is searchable: the nodes' indexing work is not what this measures.
    let r = gw
        .post("/indexes", &json!({"uid": "mem", "primaryKey": "id"}))
        .await?;
    gw.wait_succeeded(&r).await?;
    let r = gw
        .patch(
            "/indexes/mem/settings",
            &json!({"searchableAttributes": ["name"]}),
        )
        .await?;
    gw.wait_succeeded(&r).await?;
    // A small upload first, so that the idle figure is a gateway that has served an upload.
    let r = gw
        .send_raw(
            reqwest::Method::POST,
            "/indexes/mem/documents",
            "application/x-ndjson",
            b"{\"id\": \"warm-up\", \"name\": \"warm-up\"}\n".to_vec(),
        )
        .await?;
    gw.wait_succeeded(&r).await?;
    let r = gw.delete("/indexes/mem/documents/warm-up").await?;
    gw.wait_succeeded(&r).await?;

    let pid = stack.gateway_pid();
    let idle_rss_kb = status_kb(pid, "VmRSS")?;

    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let (mut peak, mut samples) = (0u64, 0u64);
            while !stop.load(Ordering::Relaxed) {
                if let Ok(kb) = status_kb(pid, "VmRSS") {
                    peak = peak.max(kb);
                    samples += 1;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            (peak, samples)
        })
    };

    let tally = Arc::new(Tally::default());
    let stream = Generator::new(readme_bytes)?.stream(max_bytes, 64 * 1024, tally.clone());
    let started = Instant::now();
    let sent = http
        .post(format!("{}/indexes/mem/documents", stack.gateway_url))
        .bearer_auth(GATEWAY_KEY)
        .header("Content-Type", "application/x-ndjson")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await;
    let upload_secs = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let (peak_sampled_kb, samples) = sampler
        .join()
        .map_err(|_| anyhow::anyhow!("the RSS sampler panicked"))?;
    let hwm_kb = status_kb(pid, "VmHWM")?;

    let response = sent?;
    let status = response.status();
    let enqueued: Value = response.json().await?;
    ensure!(
        status == 202,
        "the 100 MB upload answered {status}: {enqueued}"
    );
    let uid = enqueued
        .get("taskUid")
        .and_then(Value::as_u64)
        .context("no taskUid")?;
    let task = wait_task(
        http,
        &stack.gateway_url,
        GATEWAY_KEY,
        uid,
        Duration::from_millis(100),
        Duration::from_secs(600),
    )
    .await?;
    let total_secs = started.elapsed().as_secs_f64();
    let documents = tally.documents.load(Ordering::Relaxed);
    let bytes = tally.bytes.load(Ordering::Relaxed);
    let received = task
        .pointer("/details/receivedDocuments")
        .and_then(Value::as_u64);
    let indexed = task
        .pointer("/details/indexedDocuments")
        .and_then(Value::as_u64);
    ensure!(
        received == Some(documents) && indexed == Some(documents),
        "sent {documents} documents, the task says received {received:?}, indexed {indexed:?}: {task}"
    );
    let stats = gw.get("/indexes/mem/stats").await?;
    let counted = stats.body.get("numberOfDocuments").and_then(Value::as_u64);
    ensure!(
        counted == Some(documents),
        "sent {documents} documents, /indexes/mem/stats counts {counted:?}: {}",
        stats.body
    );
    Ok(MemoryOutcome {
        idle_rss_kb,
        peak_sampled_kb,
        hwm_kb,
        samples,
        bytes,
        documents,
        upload_secs,
        total_secs,
    })
}
