//! Figures 1 and 2: search latency and throughput through the gateway, next to the floor any
//! scatter-gather pays (the slowest of the shard searches sent directly to the nodes, in
//! parallel, with the very body the merger sends them, merging nothing), the gateway's and
//! merger's CPU time per search, and their resident memory under the most concurrent load.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use bytes::Bytes;
use miroir_merge::IndexMergeContext;
use miroir_placement::{ShardId, shard_index_name};
use serde_json::{Value, json};

use crate::procs::{CpuSnapshot, CpuUse, status_kb};
use crate::report::{Run, Stats, timed_post};
use crate::stack::{GATEWAY_KEY, NODE_KEY, Stack};

pub struct SearchOptions {
    pub warmup: usize,
    pub sequential: usize,
    pub concurrent: usize,
}

/// One configuration searched: an index (its shard count is the index's) and the page size.
pub struct Scenario<'a> {
    pub uid: &'a str,
    pub limit: u64,
    /// A concurrent run per entry, with that many clients.
    pub clients: &'a [usize],
    /// Sample the gateway's and merger's RSS during the gateway run with this many clients.
    pub rss_at: Option<usize>,
}

pub struct SearchOutcome {
    pub shards: usize,
    pub gateway_seq: Stats,
    pub direct_seq: Stats,
    /// CPU of every process over the gateway's sequential searches only.
    pub cpu_seq: CpuUse,
    /// The merger's shard reads over the gateway's sequential searches only.
    pub reads_seq: ShardReads,
    pub cpu_direct_seq: CpuUse,
    /// The same fan-out sent sequentially with the merger's own node client, on a one-worker
    /// runtime as the merger runs, merging nothing: the bench process's CPU per fan-out.
    pub floor: Floor,
    /// A NATS request-reply alone, with the sizes of a search's request and merged answer.
    pub nats_floor: NatsFloor,
    pub concurrent: Vec<ConcurrentRun>,
}

/// The CPU a fan-out alone costs on this machine: what the merger cannot spend less than on a
/// search before it receives the request, merges and replies.
#[derive(Clone, Copy, Debug)]
pub struct Floor {
    pub fanouts: usize,
    pub cpu_us: f64,
    /// The nodes' CPU per fan-out meanwhile (beside the direct run's, it tells whether the
    /// merger's client costs the nodes more than the bench's).
    pub nodes_us: f64,
}

/// What the gateway -> merger -> gateway hop costs before either service does anything: request
/// and answer bodies of a search's sizes between two NATS clients on one-worker runtimes of their
/// own (in two threads of the bench process), one request at a time.
pub struct NatsFloor {
    pub round_trips: Stats,
    pub request_bytes: usize,
    pub answer_bytes: usize,
    /// nats-server's CPU per round trip.
    pub nats_cpu_us: f64,
    /// The bench process's (both clients') CPU per round trip.
    pub clients_cpu_us: f64,
}

pub struct ConcurrentRun {
    pub clients: usize,
    pub gateway: Stats,
    pub direct: Stats,
    /// CPU over the gateway's concurrent searches only.
    pub cpu: CpuUse,
    /// The merger's shard reads over the gateway's concurrent searches only.
    pub reads: ShardReads,
    pub rss: Option<RssUnderLoad>,
}

/// What the merger's counters say of its shard reads over a run: every hedge is one more
/// search a node runs, and every connection opened is a TCP handshake and, later, a close.
#[derive(Clone, Copy, Debug, Default)]
pub struct ShardReads {
    pub answered: f64,
    pub hedges: f64,
    pub hedges_won: f64,
    pub retries: f64,
    pub connections_opened: f64,
    /// Searches that asked some shards again for the whole window, their share used up.
    pub deepened: f64,
}

impl ShardReads {
    /// The counters now, from the merger's `/metrics`.
    pub async fn take(http: &reqwest::Client, metrics_url: &str) -> Result<ShardReads> {
        let text = http
            .get(metrics_url)
            .send()
            .await
            .with_context(|| format!("reading {metrics_url}"))?
            .text()
            .await?;
        // Summed over every label set: `name{...} value` or `name value`.
        let sum = |name: &str| -> f64 {
            text.lines()
                .filter(|line| {
                    line.strip_prefix(name)
                        .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
                })
                .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
                .sum()
        };
        Ok(ShardReads {
            answered: sum("miroir_merger_shard_request_seconds_count"),
            hedges: sum("miroir_merger_hedges_total"),
            hedges_won: sum("miroir_merger_hedges_won_total"),
            retries: sum("miroir_merger_retries_total"),
            connections_opened: sum("miroir_node_connections_opened_total"),
            deepened: sum("miroir_merger_searches_deepened_total"),
        })
    }

    pub fn since(&self, before: &ShardReads) -> ShardReads {
        ShardReads {
            answered: self.answered - before.answered,
            hedges: self.hedges - before.hedges,
            hedges_won: self.hedges_won - before.hedges_won,
            retries: self.retries - before.retries,
            connections_opened: self.connections_opened - before.connections_opened,
            deepened: self.deepened - before.deepened,
        }
    }

    pub fn add(&mut self, other: &ShardReads) {
        self.answered += other.answered;
        self.hedges += other.hedges;
        self.hedges_won += other.hedges_won;
        self.retries += other.retries;
        self.connections_opened += other.connections_opened;
        self.deepened += other.deepened;
    }

    /// `8000 shard reads answered, 40 hedges (0.5%, 12 answered first), 0 retries, 12 node
    /// connections opened (0.2%), 0 searches asked shards again for the whole window`.
    pub fn line(&self) -> String {
        let share = |n: f64| {
            if self.answered > 0.0 {
                100.0 * n / self.answered
            } else {
                0.0
            }
        };
        format!(
            "{:.0} shard reads answered, {:.0} hedges ({:.1}%, {:.0} answered first), {:.0} retries, {:.0} node connections opened ({:.1}%), {:.0} searches asked shards again for the whole window",
            self.answered,
            self.hedges,
            share(self.hedges),
            self.hedges_won,
            self.retries,
            self.connections_opened,
            share(self.connections_opened),
            self.deepened
        )
    }
}

/// Resident memory (kB) just before a concurrent run and the peak sampled during it.
pub struct RssUnderLoad {
    pub gateway_before_kb: u64,
    pub gateway_peak_kb: u64,
    pub merger_before_kb: u64,
    pub merger_peak_kb: u64,
    pub samples: u64,
}

/// The fixed mix: keywords, typos, filters, facets, sorts; `limit` hits each.
pub fn queries(limit: u64) -> Vec<Value> {
    vec![
        json!({"q": "react", "limit": limit}),
        json!({"q": "react router", "limit": limit}),
        json!({"q": "recat compnent", "limit": limit}),
        json!({"q": "webpak plugn", "limit": limit}),
        json!({"q": "azure", "filter": "major >= 1 AND downloads > 1000", "limit": limit}),
        json!({"q": "", "filter": [["scope = types", "scope = babel"], "major > 5"], "limit": limit}),
        json!({"q": "vue", "facets": ["scope", "major"], "limit": limit}),
        json!({"q": "cli", "facets": ["major", "tags"], "limit": limit}),
        json!({"q": "eslint", "sort": ["downloads:desc"], "limit": limit}),
        json!({"q": "", "sort": ["name:asc"], "filter": "downloads > 5000", "limit": limit}),
    ]
}

/// Where one search goes.
#[derive(Clone)]
enum Target {
    Gateway {
        url: String,
        bodies: Vec<Bytes>,
    },
    /// `urls[shard][replica]` is a shard copy's search URL; `bodies` the planned shard requests.
    Direct {
        urls: Vec<Vec<String>>,
        bodies: Vec<Bytes>,
    },
}

impl Target {
    /// Search number `i` of the mix; for the direct target, the time until the slowest of the
    /// shard answers is read. Copies are taken in turn, as the merger rotates them.
    async fn once(&self, http: &reqwest::Client, i: usize) -> Result<Duration> {
        match self {
            Target::Gateway { url, bodies } => {
                timed_post(http, url, GATEWAY_KEY, bodies[i % bodies.len()].clone()).await
            }
            Target::Direct { urls, bodies } => {
                let body = &bodies[i % bodies.len()];
                let started = Instant::now();
                let calls = urls.iter().map(|copies| {
                    let url = &copies[i % copies.len()];
                    timed_post(http, url, NODE_KEY, body.clone())
                });
                futures::future::try_join_all(calls).await?;
                Ok(started.elapsed())
            }
        }
    }
}

/// Creates `uid` through the gateway with the recorded settings (and the cluster's default
/// shard count at that moment) and loads the npm 10k corpus.
pub async fn load_npm(stack: &Stack, settings: &Value, uid: &str) -> Result<()> {
    let gw = stack.gateway();
    let r = gw
        .post("/indexes", &json!({"uid": uid, "primaryKey": "id"}))
        .await?;
    gw.wait_succeeded(&r).await?;
    let r = gw
        .patch(&format!("/indexes/{uid}/settings"), settings)
        .await?;
    gw.wait_succeeded(&r).await?;
    let body = std::fs::read(miroir_testkit::npm_corpus_path())?;
    let r = gw
        .send_raw(
            reqwest::Method::POST,
            &format!("/indexes/{uid}/documents"),
            "application/x-ndjson",
            body,
        )
        .await?;
    let task = gw.wait_succeeded(&r).await?;
    let indexed = task
        .pointer("/details/indexedDocuments")
        .and_then(Value::as_u64);
    ensure!(
        indexed == Some(10_000),
        "npm load indexed {indexed:?} documents: {task}"
    );
    Ok(())
}

pub async fn run(
    stack: &Stack,
    http: &reqwest::Client,
    tick_hz: u64,
    opts: &SearchOptions,
    scenario: &Scenario<'_>,
) -> Result<SearchOutcome> {
    let uid = scenario.uid;
    let record = stack.index_record(uid).await?;
    let copies = stack.shard_urls(&record)?;
    let mix = queries(scenario.limit);
    let ctx = IndexMergeContext {
        primary_key: Some("id".into()),
        ..Default::default()
    };
    let mut shard_bodies = Vec::new();
    let mut client_bodies = Vec::new();
    for q in &mix {
        // The merger's own plan for this index, so the direct client sends the same searches.
        let plan = miroir_merge::plan(q, &ctx)
            .map_err(|e| anyhow::anyhow!("planning {q}: {e:?}"))?
            .spread_over(copies.len());
        shard_bodies.push(Bytes::from(serde_json::to_vec(plan.shard_request())?));
        client_bodies.push(Bytes::from(serde_json::to_vec(q)?));
    }
    // The NATS floor's request: a client body and the index uid (the envelope is a few bytes).
    let request_bytes = client_bodies.iter().map(Bytes::len).sum::<usize>()
        / client_bodies.len().max(1)
        + uid.len();
    // Each shard's search path, and the search URL of each of its copies.
    let mut paths = Vec::new();
    let mut urls = Vec::new();
    for (s, replicas) in copies.iter().enumerate() {
        let shard = ShardId::new(s as u16).context("shard id")?;
        let path = format!(
            "/indexes/{}/search",
            shard_index_name(record.storage_base(), shard)
        );
        urls.push(
            replicas
                .iter()
                .map(|u| format!("{u}{path}"))
                .collect::<Vec<_>>(),
        );
        paths.push(path);
    }
    println!(
        "{uid}: {} shards, copies {:?}",
        record.shard_count,
        record
            .shards
            .iter()
            .map(|s| s.nodes.clone())
            .collect::<Vec<_>>()
    );
    let gateway = Target::Gateway {
        url: format!("{}/indexes/{uid}/search", stack.gateway_url),
        bodies: client_bodies,
    };
    let direct = Target::Direct {
        urls: urls.clone(),
        bodies: shard_bodies.clone(),
    };

    let (shard_bytes, answer_bytes) = check_totals(
        http,
        &format!("{}/indexes/{uid}/search", stack.gateway_url),
        &urls,
        &mix,
        &shard_bodies,
        scenario.limit,
    )
    .await?;
    println!(
        "per search (mean over the mix): the {} shard answers the merger reads weigh {:.1} KB in all, the merged answer {:.1} KB",
        urls.len(),
        shard_bytes / 1e3,
        answer_bytes / 1e3
    );
    for i in 0..opts.warmup {
        gateway.once(http, i).await?;
        direct.once(http, i).await?;
    }

    // Sequential: blocks alternate between the two targets so that a load change on the shared
    // machine hits both alike; CPU is counted over the gateway's blocks only.
    let procs = stack.processes();
    let blocks = 4;
    let per_block = (opts.sequential / blocks).max(1);
    let (mut gw_samples, mut direct_samples) = (Vec::new(), Vec::new());
    let (mut gw_wall, mut direct_wall) = (Duration::ZERO, Duration::ZERO);
    let (mut cpu_seq, mut cpu_direct_seq) = (CpuUse::default(), CpuUse::default());
    let mut reads_seq = ShardReads::default();
    for b in 0..blocks {
        for (target, samples, wall, cpu) in [
            (&gateway, &mut gw_samples, &mut gw_wall, &mut cpu_seq),
            (
                &direct,
                &mut direct_samples,
                &mut direct_wall,
                &mut cpu_direct_seq,
            ),
        ] {
            // The merger's counters around the gateway's blocks only (the direct ones skip it).
            let reads = if matches!(target, Target::Gateway { .. }) {
                Some(ShardReads::take(http, &stack.merger_metrics_url).await?)
            } else {
                None
            };
            let snap = CpuSnapshot::take(&procs)?;
            let started = Instant::now();
            for i in b * per_block..(b + 1) * per_block {
                samples.push(target.once(http, i).await?);
            }
            *wall += started.elapsed();
            cpu.add(&snap.since(tick_hz)?);
            if let Some(reads) = reads {
                let after = ShardReads::take(http, &stack.merger_metrics_url).await?;
                reads_seq.add(&after.since(&reads));
            }
        }
    }
    let gateway_seq = Stats::new(gw_samples, gw_wall);
    let direct_seq = Stats::new(direct_samples, direct_wall);
    let floor = fanout_floor(
        &procs,
        tick_hz,
        &copies,
        &paths,
        &shard_bodies,
        opts.sequential,
    )?;

    let nats_floor = nats_floor(
        &procs,
        tick_hz,
        stack.nats.url(),
        request_bytes,
        answer_bytes as usize,
        opts.sequential,
    )?;

    let mut runs = Vec::new();
    for &clients in scenario.clients {
        // Each target's searches in two halves, in the order direct, gateway, gateway, direct:
        // a drift of the shared machine's speed during the run then weighs on both alike, and
        // each target has the same number of starts and ends (where fewer clients are busy).
        // The gateway's halves are back to back, so its CPU, RSS and shard reads are taken
        // around both.
        let first = opts.concurrent / 2;
        let second = opts.concurrent - first;
        let direct_first = concurrent(http, &direct, first, clients).await?;
        let sampler = (scenario.rss_at == Some(clients))
            .then(|| RssSampler::start(&procs))
            .transpose()?;
        let reads = ShardReads::take(http, &stack.merger_metrics_url).await?;
        let snap = CpuSnapshot::take(&procs)?;
        let gateway_first = concurrent(http, &gateway, first, clients).await?;
        let gateway_second = concurrent(http, &gateway, second, clients).await?;
        let cpu = snap.since(tick_hz)?;
        let reads = ShardReads::take(http, &stack.merger_metrics_url)
            .await?
            .since(&reads);
        let rss = sampler.map(RssSampler::stop).transpose()?;
        let direct_second = concurrent(http, &direct, second, clients).await?;
        runs.push(ConcurrentRun {
            clients,
            gateway: Stats::join(gateway_first, gateway_second),
            direct: Stats::join(direct_first, direct_second),
            cpu,
            reads,
            rss,
        });
    }
    Ok(SearchOutcome {
        shards: urls.len(),
        gateway_seq,
        direct_seq,
        cpu_seq,
        reads_seq,
        cpu_direct_seq,
        floor,
        nats_floor,
        concurrent: runs,
    })
}

/// Samples the gateway's and the merger's `VmRSS` every 5 ms from a thread until stopped.
struct RssSampler {
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<(u64, u64, u64)>,
    gateway_before_kb: u64,
    merger_before_kb: u64,
}

impl RssSampler {
    fn start(procs: &[(String, u32)]) -> Result<RssSampler> {
        let pid = |name: &str| {
            procs
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, p)| *p)
                .with_context(|| format!("no {name} process"))
        };
        let (gateway, merger) = (pid("gateway")?, pid("merger")?);
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let gateway_before_kb = status_kb(gateway, "VmRSS")?;
        let merger_before_kb = status_kb(merger, "VmRSS")?;
        let thread = std::thread::spawn({
            let stop = stop.clone();
            move || {
                let (mut g, mut m, mut samples) = (0u64, 0u64, 0u64);
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    if let (Ok(a), Ok(b)) =
                        (status_kb(gateway, "VmRSS"), status_kb(merger, "VmRSS"))
                    {
                        g = g.max(a);
                        m = m.max(b);
                        samples += 1;
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                (g, m, samples)
            }
        });
        Ok(RssSampler {
            stop,
            thread,
            gateway_before_kb,
            merger_before_kb,
        })
    }

    fn stop(self) -> Result<RssUnderLoad> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let (gateway_peak_kb, merger_peak_kb, samples) = self
            .thread
            .join()
            .map_err(|_| anyhow::anyhow!("the RSS sampler panicked"))?;
        Ok(RssUnderLoad {
            gateway_before_kb: self.gateway_before_kb,
            gateway_peak_kb,
            merger_before_kb: self.merger_before_kb,
            merger_peak_kb,
            samples,
        })
    }
}

/// `clients` clients, each running its share of `searches` searches back to back.
async fn concurrent(
    http: &reqwest::Client,
    target: &Target,
    searches: usize,
    clients: usize,
) -> Result<Run> {
    let per_client = (searches / clients.max(1)).max(1);
    let target = Arc::new(target.clone());
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients.max(1) {
        let http = http.clone();
        let target = target.clone();
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::with_capacity(per_client);
            for i in 0..per_client {
                samples.push(target.once(&http, c * 7 + i).await?);
            }
            anyhow::Ok(samples)
        }));
    }
    let mut samples = Vec::new();
    for t in tasks {
        samples.extend(t.await??);
    }
    Ok(Run {
        samples,
        wall: started.elapsed(),
    })
}

/// Sends `fanouts` fan-outs of the mix, one after the other, each the shard searches in parallel
/// (`paths[shard]` on the node URLs `copies[shard]`, taken in turn) with
/// [`miroir_cluster::node::NodeClient`] (the merger's client) on a one-worker runtime of its own
/// thread (the merger's runtime), and returns the bench process's CPU over them.
fn fanout_floor(
    procs: &[(String, u32)],
    tick_hz: u64,
    copies: &[Vec<String>],
    paths: &[String],
    bodies: &[Bytes],
    fanouts: usize,
) -> Result<Floor> {
    let (copies, paths) = (copies.to_vec(), paths.to_vec());
    let bodies = bodies.to_vec();
    let snap = CpuSnapshot::take(procs)?;
    std::thread::spawn(move || -> Result<()> {
        let runtime = miroir_cluster::runtime::build("bench-floor", 1)?;
        runtime.block_on(async move {
            let client = miroir_cluster::node::NodeClient::new(
                Some(NODE_KEY.to_string()),
                Duration::from_secs(10),
            )?;
            for i in 0..fanouts {
                let body = &bodies[i % bodies.len()];
                let calls = copies.iter().zip(&paths).map(|(replicas, path)| {
                    client.send(
                        &replicas[i % replicas.len()],
                        axum::http::Method::POST,
                        path,
                        Some(("application/json", body.clone())),
                    )
                });
                futures::future::try_join_all(calls).await?;
            }
            anyhow::Ok(())
        })
    })
    .join()
    .map_err(|_| anyhow::anyhow!("the floor's thread panicked"))??;
    let cpu = snap.since(tick_hz)?;
    Ok(Floor {
        fanouts,
        cpu_us: cpu.of(&["bench client"]) / fanouts.max(1) as f64,
        nodes_us: cpu.of(&["node"]) / fanouts.max(1) as f64,
    })
}

/// `round_trips` NATS requests of `request_bytes`, each answered with `answer_bytes`, one at a
/// time between two clients of their own (each on a one-worker runtime in its own thread, as the
/// gateway and the merger run), on the cluster's nats-server; see [`NatsFloor`].
fn nats_floor(
    procs: &[(String, u32)],
    tick_hz: u64,
    url: String,
    request_bytes: usize,
    answer_bytes: usize,
    round_trips: usize,
) -> Result<NatsFloor> {
    let subject = format!("bench.nats-floor.{}", std::process::id());
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let responder = {
        let (url, subject) = (url.clone(), subject.clone());
        std::thread::spawn(move || -> Result<()> {
            let runtime = miroir_cluster::runtime::build("bench-nats-responder", 1)?;
            runtime.block_on(async move {
                use futures::StreamExt;
                let client = async_nats::connect(&url).await?;
                let mut requests = client.subscribe(subject).await?;
                client.flush().await?;
                let _ = ready_tx.send(());
                let answer = Bytes::from(vec![b'x'; answer_bytes]);
                for _ in 0..round_trips {
                    let Some(request) = requests.next().await else {
                        break;
                    };
                    if let Some(reply) = request.reply {
                        client.publish(reply, answer.clone()).await?;
                    }
                }
                client.flush().await?;
                anyhow::Ok(())
            })
        })
    };
    ready_rx
        .recv_timeout(Duration::from_secs(10))
        .context("the NATS floor's responder did not subscribe")?;
    let procs = procs.to_vec();
    let measured = std::thread::spawn(move || -> Result<(Vec<Duration>, Duration, CpuUse)> {
        let runtime = miroir_cluster::runtime::build("bench-nats-requester", 1)?;
        runtime.block_on(async move {
            let client = async_nats::connect(&url).await?;
            let request = Bytes::from(vec![b'x'; request_bytes]);
            let mut samples = Vec::with_capacity(round_trips);
            let snap = CpuSnapshot::take(&procs)?;
            let started = Instant::now();
            for _ in 0..round_trips {
                let sent = Instant::now();
                let answer = client.request(subject.clone(), request.clone()).await?;
                ensure!(answer.payload.len() == answer_bytes, "short answer");
                samples.push(sent.elapsed());
            }
            let wall = started.elapsed();
            Ok((samples, wall, snap.since(tick_hz)?))
        })
    })
    .join()
    .map_err(|_| anyhow::anyhow!("the NATS floor's requester panicked"))?;
    // The responder stops after `round_trips` requests; if the requester failed, its
    // subscription ends with the server's next stop and the thread is left behind.
    let (samples, wall, cpu) = measured?;
    responder
        .join()
        .map_err(|_| anyhow::anyhow!("the NATS floor's responder panicked"))??;
    let n = samples.len().max(1) as f64;
    Ok(NatsFloor {
        round_trips: Stats::new(samples, wall),
        request_bytes,
        answer_bytes,
        nats_cpu_us: cpu.of(&["nats-server"]) / n,
        clients_cpu_us: cpu.of(&["bench client"]) / n,
    })
}

/// Before measuring, each query's total through the gateway must be the sum of the shards'
/// totals: the two targets are doing the same work. Returns the mean size of the shard answers
/// together and of the merged answer, in bytes.
async fn check_totals(
    http: &reqwest::Client,
    search_url: &str,
    urls: &[Vec<String>],
    mix: &[Value],
    shard_bodies: &[Bytes],
    limit: u64,
) -> Result<(f64, f64)> {
    let total = |v: &Value| v.get("estimatedTotalHits").and_then(Value::as_u64);
    let (mut shard_bytes, mut answer_bytes) = (0usize, 0usize);
    for (q, body) in mix.iter().zip(shard_bodies) {
        let raw = http
            .post(search_url)
            .bearer_auth(GATEWAY_KEY)
            .json(q)
            .send()
            .await?
            .bytes()
            .await?;
        answer_bytes += raw.len();
        let answer: Value = serde_json::from_slice(&raw)?;
        let mut sum = 0;
        for copies in urls {
            let raw = http
                .post(&copies[0])
                .bearer_auth(NODE_KEY)
                .header("Content-Type", "application/json")
                .body(body.clone())
                .send()
                .await?
                .bytes()
                .await?;
            shard_bytes += raw.len();
            let shard: Value = serde_json::from_slice(&raw)?;
            sum += total(&shard).with_context(|| format!("shard answer {shard}"))?;
        }
        let hits = answer
            .get("hits")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        ensure!(
            total(&answer) == Some(sum) && hits == sum.min(limit) as usize,
            "query {q}: the gateway says {:?} hits ({hits} returned), the shards {sum}: {answer}",
            total(&answer)
        );
    }
    let n = mix.len().max(1) as f64;
    Ok((shard_bytes as f64 / n, answer_bytes as f64 / n))
}
