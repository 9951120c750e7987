//! Figure 3: documents per second from the first byte of an upload to the moment every copy has
//! indexed it, through the gateway (gateway -> WAL -> router -> nodes) and directly (the client
//! splits the batch per shard with the same hash and posts each part to both copies itself).
//! Both paths use the same nodes, copies, settings and 4 MiB per-shard requests; each index is
//! dropped after its run so that every run starts on equally empty nodes, and the rounds
//! alternate which path goes first so that a load change on the shared machine hits both alike.
//! One run of each path comes first and is not counted (a warm-up): the bench's very first bulk
//! write pays for cold caches and first-time setup in every process, and that would land on
//! whichever path the first round starts with.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use bytes::Bytes;
use miroir_placement::{PrimaryKeyValue, ShardCount, ShardId, shard_for_key, shard_index_name};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::procs::{CpuSnapshot, CpuUse};
use crate::report::wait_task;
use crate::stack::{GATEWAY_KEY, NODE_KEY, Stack};

/// The router's default `shard_flush_bytes`: the direct client sends requests of the same size.
const FLUSH_BYTES: usize = 4 * 1024 * 1024;
const POLL: Duration = Duration::from_millis(50);
const TASK_TIMEOUT: Duration = Duration::from_secs(600);

/// One timed run of one path.
pub struct Run {
    pub secs: f64,
    /// When each stage ended, in seconds from the first byte sent.
    pub stages: Vec<(&'static str, f64)>,
    pub cpu: CpuUse,
}

pub struct IndexingOutcome {
    pub documents: u64,
    pub bytes: u64,
    pub gateway: Vec<Run>,
    pub direct: Vec<Run>,
    /// The warm-up runs, not counted: (gateway, direct) seconds.
    pub warmup: (f64, f64),
}

impl IndexingOutcome {
    /// Documents per second over all runs of a path.
    pub fn rate(runs: &[Run], documents: u64) -> f64 {
        let secs: f64 = runs.iter().map(|r| r.secs).sum();
        documents as f64 * runs.len() as f64 / secs.max(1e-9)
    }
}

struct Target<'a> {
    stack: &'a Stack,
    http: &'a reqwest::Client,
    tick_hz: u64,
    body: &'a Bytes,
    documents: u64,
    settings: &'a Value,
    /// `copies[shard]`: base URLs of the shard's copies (the same for `bulk` every time: the
    /// placement is a pure function of the uid and the nodes).
    copies: Vec<Vec<String>>,
}

pub async fn run(
    stack: &Stack,
    http: &reqwest::Client,
    tick_hz: u64,
    body: Bytes,
    documents: u64,
    settings: &Value,
    rounds: usize,
) -> Result<IndexingOutcome> {
    let mut target = Target {
        stack,
        http,
        tick_hz,
        body: &body,
        documents,
        settings,
        copies: Vec::new(),
    };
    let mut outcome = IndexingOutcome {
        documents,
        bytes: body.len() as u64,
        gateway: Vec::new(),
        direct: Vec::new(),
        warmup: (0.0, 0.0),
    };
    let warm_gateway = target.through_gateway().await?.secs;
    let warm_direct = target.direct().await?.secs;
    outcome.warmup = (warm_gateway, warm_direct);
    for round in 0..rounds.max(1) {
        if round % 2 == 0 {
            outcome.gateway.push(target.through_gateway().await?);
            outcome.direct.push(target.direct().await?);
        } else {
            outcome.direct.push(target.direct().await?);
            outcome.gateway.push(target.through_gateway().await?);
        }
    }
    Ok(outcome)
}

fn since(t0: OffsetDateTime, rfc3339: Option<&str>) -> f64 {
    rfc3339
        .and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok())
        .map_or(f64::NAN, |t| (t - t0).as_seconds_f64())
}

impl Target<'_> {
    async fn through_gateway(&mut self) -> Result<Run> {
        let gw = self.stack.gateway();
        let r = gw
            .post("/indexes", &json!({"uid": "bulk", "primaryKey": "id"}))
            .await?;
        gw.wait_succeeded(&r).await?;
        let r = gw.patch("/indexes/bulk/settings", self.settings).await?;
        gw.wait_succeeded(&r).await?;
        let copies = self
            .stack
            .shard_urls(&self.stack.index_record("bulk").await?)?;
        if self.copies.is_empty() {
            self.copies = copies;
        } else {
            ensure!(
                copies == self.copies,
                "the placement of `bulk` changed between runs"
            );
        }

        let snap = CpuSnapshot::take(&self.stack.processes())?;
        let t0 = OffsetDateTime::now_utc();
        let started = Instant::now();
        let response = self
            .http
            .post(format!("{}/indexes/bulk/documents", self.stack.gateway_url))
            .bearer_auth(GATEWAY_KEY)
            .header("Content-Type", "application/x-ndjson")
            .body(self.body.clone())
            .send()
            .await?;
        let status = response.status();
        let enqueued: Value = response.json().await?;
        let accepted = started.elapsed().as_secs_f64();
        ensure!(
            status == 202,
            "gateway upload answered {status}: {enqueued}"
        );
        let uid = enqueued
            .get("taskUid")
            .and_then(Value::as_u64)
            .context("no taskUid")?;
        let task = wait_task(
            self.http,
            &self.stack.gateway_url,
            GATEWAY_KEY,
            uid,
            POLL,
            TASK_TIMEOUT,
        )
        .await?;
        let secs = started.elapsed().as_secs_f64();
        let cpu = snap.since(self.tick_hz)?;
        let indexed = task
            .pointer("/details/indexedDocuments")
            .and_then(Value::as_u64);
        ensure!(
            indexed == Some(self.documents),
            "the gateway's task indexed {indexed:?} of {}: {task}",
            self.documents
        );
        let at = |field: &str| since(t0, task.get(field).and_then(Value::as_str));
        let stages = vec![
            (
                "body spooled to the WAL, router commit began (task enqueuedAt)",
                at("enqueuedAt"),
            ),
            ("first node task started (task startedAt)", at("startedAt")),
            (
                "router committed every part, gateway answered 202",
                accepted,
            ),
            (
                "last node task finished (task finishedAt)",
                at("finishedAt"),
            ),
        ];
        let r = gw.delete("/indexes/bulk").await?;
        gw.wait_succeeded(&r).await?;
        Ok(Run { secs, stages, cpu })
    }

    async fn direct(&mut self) -> Result<Run> {
        if self.copies.is_empty() {
            bail!("the gateway run goes first: it learns the copies");
        }
        let shard_count = u16::try_from(self.copies.len())?;
        let shards = ShardCount::new(shard_count).context("shard count")?;
        let names: Vec<String> = (0..shard_count)
            .map(|s| {
                ShardId::new(s)
                    .map(|id| shard_index_name("direct", id))
                    .context("shard id")
            })
            .collect::<Result<_>>()?;
        for (name, replicas) in names.iter().zip(&self.copies) {
            for url in replicas {
                let node = self.stack.node_client(url);
                let r = node
                    .post("/indexes", &json!({"uid": name, "primaryKey": "id"}))
                    .await?;
                node.wait_succeeded(&r).await?;
                let r = node
                    .patch(&format!("/indexes/{name}/settings"), self.settings)
                    .await?;
                node.wait_succeeded(&r).await?;
            }
        }

        let snap = CpuSnapshot::take(&self.stack.processes())?;
        let t0 = OffsetDateTime::now_utc();
        let started = Instant::now();
        let parts = split(self.body, shards)?;
        let split_secs = started.elapsed().as_secs_f64();
        let (http, names_ref, copies_ref) = (self.http, &names, &self.copies);
        let sends = parts.iter().enumerate().flat_map(|(s, batches)| {
            copies_ref[s]
                .iter()
                .map(move |url| send_parts(http, url.clone(), names_ref[s].clone(), batches))
        });
        let accepted: Vec<(String, Vec<u64>)> = futures::future::try_join_all(sends).await?;
        let accepted_secs = started.elapsed().as_secs_f64();
        let mut by_node: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        for (url, uids) in accepted {
            by_node.entry(url).or_default().extend(uids);
        }
        let waits = by_node
            .iter()
            .map(|(url, uids)| wait_node_tasks(http, url, uids));
        let tasks: Vec<Value> = futures::future::try_join_all(waits)
            .await?
            .into_iter()
            .flatten()
            .collect();
        let secs = started.elapsed().as_secs_f64();
        let cpu = snap.since(self.tick_hz)?;

        let indexed: u64 = tasks
            .iter()
            .filter_map(|t| {
                t.pointer("/details/indexedDocuments")
                    .and_then(Value::as_u64)
            })
            .sum();
        let replicas =
            self.copies.iter().map(Vec::len).sum::<usize>() as u64 / u64::from(shard_count);
        ensure!(
            indexed == self.documents * replicas,
            "the nodes indexed {indexed} document copies, expected {}",
            self.documents * replicas
        );
        let times = |field: &str| -> Vec<f64> {
            tasks
                .iter()
                .map(|t| since(t0, t.get(field).and_then(Value::as_str)))
                .filter(|x| x.is_finite())
                .collect()
        };
        let first_start = times("startedAt").into_iter().fold(f64::INFINITY, f64::min);
        let last_finish = times("finishedAt")
            .into_iter()
            .fold(f64::NEG_INFINITY, f64::max);
        let stages = vec![
            ("body split per shard", split_secs),
            ("first node task started", first_start),
            ("every node answered 202 to every part", accepted_secs),
            ("last node task finished", last_finish),
        ];
        for (name, replicas) in names.iter().zip(&self.copies) {
            for url in replicas {
                let node = self.stack.node_client(url);
                let r = node.delete(&format!("/indexes/{name}")).await?;
                node.wait_succeeded(&r).await?;
            }
        }
        Ok(Run { secs, stages, cpu })
    }
}

/// The NDJSON body cut per shard into requests of about [`FLUSH_BYTES`].
fn split(body: &[u8], shards: ShardCount) -> Result<Vec<Vec<Bytes>>> {
    let count = usize::from(shards.get());
    let mut parts: Vec<Vec<Bytes>> = vec![Vec::new(); count];
    let mut buffers: Vec<Vec<u8>> = vec![Vec::new(); count];
    for line in body.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let doc: Value = serde_json::from_slice(line)?;
        let id = doc.get("id").context("a document without id")?;
        let key = PrimaryKeyValue::from_json(id).map_err(|e| anyhow::anyhow!("{e}"))?;
        let s = usize::from(shard_for_key(&key, shards).get());
        buffers[s].extend_from_slice(line);
        buffers[s].push(b'\n');
        if buffers[s].len() >= FLUSH_BYTES {
            parts[s].push(Bytes::from(std::mem::take(&mut buffers[s])));
        }
    }
    for (s, buffer) in buffers.into_iter().enumerate() {
        if !buffer.is_empty() {
            parts[s].push(Bytes::from(buffer));
        }
    }
    Ok(parts)
}

/// Posts one shard's parts to one copy, one after the other; the node's task uids.
async fn send_parts(
    http: &reqwest::Client,
    url: String,
    index: String,
    parts: &[Bytes],
) -> Result<(String, Vec<u64>)> {
    let mut uids = Vec::new();
    for part in parts {
        let response = http
            .post(format!("{url}/indexes/{index}/documents?primaryKey=id"))
            .bearer_auth(NODE_KEY)
            .header("Content-Type", "application/x-ndjson")
            .body(part.clone())
            .send()
            .await?;
        let status = response.status();
        let answer: Value = response.json().await?;
        ensure!(status == 202, "{url} answered {status}: {answer}");
        uids.push(
            answer
                .get("taskUid")
                .and_then(Value::as_u64)
                .context("no taskUid")?,
        );
    }
    Ok((url, uids))
}

/// Polls a node's tasks until all succeeded; the tasks.
async fn wait_node_tasks(http: &reqwest::Client, url: &str, uids: &[u64]) -> Result<Vec<Value>> {
    let list: Vec<String> = uids.iter().map(u64::to_string).collect();
    let query = format!("{url}/tasks?uids={}&limit={}", list.join(","), uids.len());
    let deadline = Instant::now() + TASK_TIMEOUT;
    loop {
        let page: Value = http
            .get(&query)
            .bearer_auth(NODE_KEY)
            .send()
            .await?
            .json()
            .await?;
        let results = page
            .get("results")
            .and_then(Value::as_array)
            .context("no task results")?;
        let status = |t: &Value| {
            t.get("status")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        if let Some(bad) = results
            .iter()
            .find(|t| matches!(status(t).as_str(), "failed" | "canceled"))
        {
            bail!("a node task did not succeed: {bad}");
        }
        if results.len() == uids.len() && results.iter().all(|t| status(t) == "succeeded") {
            return Ok(results.clone());
        }
        if Instant::now() >= deadline {
            bail!("{url}'s tasks not finished after {TASK_TIMEOUT:?}");
        }
        tokio::time::sleep(POLL).await;
    }
}
