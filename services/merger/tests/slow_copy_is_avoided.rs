//! Invariant: with one slow copy of every shard, reads go mostly to the fast copies, every search still answers in full, and hedges stay within the hedge budget.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use anyhow::Result;
use common::{Cluster, npm_settings};
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use miroir_merger::Config;
use miroir_proto::topology::NodeState;
use miroir_testkit::{npm_documents, start_nodes};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

const DOCS: usize = 400;
const SEARCHES: usize = 200;
const SLOW: Duration = Duration::from_millis(150);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_go_to_the_fast_copies_and_hedges_stay_within_budget() {
    // The default budget, then one too small for every slow read to be hedged.
    for budget_percent in [10, 2] {
        scenario(budget_percent).await;
    }
}

async fn scenario(budget_percent: u32) {
    let recorded = recorder();
    let before = |name: &str| recorded.sum(name);
    let (hedges_before, won_before, refused_before, retries_before) = (
        before("miroir_merger_hedges_total"),
        before("miroir_merger_hedges_won_total"),
        before("miroir_merger_hedges_refused_total"),
        before("miroir_merger_retries_total"),
    );
    let nodes = start_nodes(2).await.unwrap();
    let mut cluster = Cluster::start().await.unwrap();
    let fast = Proxy::start(&nodes[0].url(), Duration::ZERO).await.unwrap();
    let slow = Proxy::start(&nodes[1].url(), SLOW).await.unwrap();
    cluster
        .put_node("n0", &fast.url, NodeState::Up)
        .await
        .unwrap();
    cluster
        .put_node("n1", &slow.url, NodeState::Up)
        .await
        .unwrap();
    let docs = npm_documents(DOCS).unwrap();
    // Every shard on both nodes, each node first in the placement of half of them.
    let placement: &[&[usize]] = &[&[0, 1], &[1, 0], &[0, 1], &[1, 0]];
    cluster
        .create_index(&nodes, "npm", placement, &npm_settings(), &docs)
        .await
        .unwrap();
    let config = Config {
        hedge_after_ms: 50,
        hedge_min_ms: 10,
        hedge_budget_percent: budget_percent,
        // One settings read: the shard requests are the searches'.
        settings_ttl_ms: 600_000,
        ..cluster.config()
    };
    cluster.start_merger(config).await.unwrap();

    let queries = ["", "react", "vue", "http", "test"];
    let mut expected = HashMap::new();
    for q in queries {
        let answer = cluster
            .search("npm", &json!({"q": q, "limit": 10}))
            .await
            .unwrap();
        expected.insert(q, answer);
    }
    assert_eq!(expected[""]["estimatedTotalHits"], json!(DOCS));

    let mut took = Vec::with_capacity(SEARCHES);
    for i in 0..SEARCHES {
        let q = queries[i % queries.len()];
        let started = std::time::Instant::now();
        let answer = cluster
            .search("npm", &json!({"q": q, "limit": 10}))
            .await
            .map_err(|e| format!("search {i} ({q:?}) failed: {e}"))
            .unwrap();
        took.push(started.elapsed());
        assert_eq!(answer["hits"], expected[q]["hits"], "search {i} ({q:?})");
        assert_eq!(
            answer["estimatedTotalHits"], expected[q]["estimatedTotalHits"],
            "search {i} ({q:?})"
        );
    }

    let searches = SEARCHES + queries.len();
    let on_slow = slow.requests();
    let on_fast = fast.requests();
    let sent = on_slow + on_fast;
    let hedges = recorded.sum("miroir_merger_hedges_total") - hedges_before;
    let won = recorded.sum("miroir_merger_hedges_won_total") - won_before;
    let refused = recorded.sum("miroir_merger_hedges_refused_total") - refused_before;
    let retries = recorded.sum("miroir_merger_retries_total") - retries_before;
    let reads = sent as u64 - hedges - retries;
    let slow_share = on_slow as f64 / sent as f64;
    took.sort();
    let pct = |p: f64| took[((took.len() as f64 * p).ceil() as usize).saturating_sub(1)];
    let (fast_ms, slow_ms) = (
        1_000.0 * recorded.gauge("miroir_merger_node_latency_ewma_seconds{node=n0}"),
        1_000.0 * recorded.gauge("miroir_merger_node_latency_ewma_seconds{node=n1}"),
    );
    eprintln!(
        "hedge budget {budget_percent} %, slow node +{SLOW:?}: {searches} searches, {sent} shard \
         requests ({reads} reads, {hedges} hedges ({won} answered first), {refused} hedges refused \
         by the budget, \
         {retries} retries)"
    );
    eprintln!(
        "  share of reads on the slow node: {:.1} % ({on_slow} of {sent})",
        100.0 * slow_share
    );
    eprintln!(
        "  extra load from hedging: {:.1} hedges per 100 searches ({:.1} % of shard reads)",
        100.0 * hedges as f64 / searches as f64,
        100.0 * hedges as f64 / reads as f64
    );
    eprintln!(
        "  search latency: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        pct(0.50).as_secs_f64() * 1_000.0,
        pct(0.99).as_secs_f64() * 1_000.0,
        took.last().copied().unwrap_or_default().as_secs_f64() * 1_000.0
    );
    eprintln!("  latency estimates (EWMA): fast node {fast_ms:.1} ms, slow node {slow_ms:.1} ms");
    eprintln!(
        "  hedge patience: {:.1} deviations",
        recorded.gauge("miroir_merger_hedge_patience_deviations{}")
    );

    // Every search is one read per shard (4), plus the one settings read.
    assert_eq!(retries, 0, "no copy failed");
    // A hedge is counted when the merger decides it; one whose primary answered first may be
    // dropped before it reaches the node, so the nodes see between the reads alone and the reads
    // plus every hedge.
    let expected = searches as u64 * 4 + 1;
    assert!(
        (expected..=expected + hedges).contains(&(sent as u64)),
        "one read per shard and search: the nodes saw {sent} requests for {expected} reads and \
         {hedges} hedges"
    );
    assert!(
        slow_share < 0.4,
        "most reads must go to the fast node: {on_slow} of {sent} went to the slow one"
    );
    let budget = miroir_merger::budget::BURST + reads as f64 * f64::from(budget_percent) / 100.0;
    assert!(
        hedges as f64 <= budget,
        "{hedges} hedges for {reads} reads exceed the budget ({budget})"
    );
    assert!(slow_ms > fast_ms, "the slow node is measured slower");
    // A hedge goes from a copy 150 ms slow to the fast one: it answers first, but for a hedge
    // sent so late that the slow copy's answer was already on its way.
    assert!(won <= hedges, "{won} hedges won, of {hedges}");
    assert!(
        hedges == 0 || won * 2 >= hedges,
        "hedges to the fast copy must mostly answer first: {won} of {hedges}"
    );
    // Hedges that win keep the wait before the next one short.
    let patience = recorded.gauge("miroir_merger_hedge_patience_deviations{}");
    assert!(
        patience < 2.0 * miroir_merger::latency::Patience::FLOOR,
        "winning hedges must not make the merger wait longer: {patience} deviations"
    );
    fast.stop();
    slow.stop();
}

/// A loopback TCP proxy to a node that holds every request `delay` before passing it on, and
/// counts them.
struct Proxy {
    url: String,
    requests: Arc<AtomicUsize>,
    accept: JoinHandle<()>,
}

impl Proxy {
    async fn start(node_url: &str, delay: Duration) -> Result<Self> {
        let upstream = node_url.trim_start_matches("http://").to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let requests = Arc::new(AtomicUsize::new(0));
        let count = requests.clone();
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let count = count.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    let (mut from_client, mut to_client) = client.into_split();
                    let (mut from_server, mut to_server) = server.into_split();
                    let up = async move {
                        let mut buf = vec![0u8; 64 * 1024];
                        loop {
                            let n = match from_client.read(&mut buf).await {
                                Ok(0) | Err(_) => break,
                                Ok(n) => n,
                            };
                            if starts_request(&buf[..n]) {
                                count.fetch_add(1, Ordering::Relaxed);
                                tokio::time::sleep(delay).await;
                            }
                            if to_server.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                        let _ = to_server.shutdown().await;
                    };
                    let down = async move {
                        let _ = tokio::io::copy(&mut from_server, &mut to_client).await;
                        let _ = to_client.shutdown().await;
                    };
                    tokio::join!(up, down);
                });
            }
        });
        Ok(Proxy {
            url,
            requests,
            accept,
        })
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::Relaxed)
    }

    fn stop(self) {
        self.accept.abort();
    }
}

/// A chunk that opens an HTTP/1.1 request (a body never starts with a method and a space).
fn starts_request(chunk: &[u8]) -> bool {
    ["GET ", "POST ", "PUT ", "PATCH ", "DELETE "]
        .iter()
        .any(|m| chunk.starts_with(m.as_bytes()))
}

/// Counters and gauges by `name{label=value,...}`, read back by the test.
#[derive(Default)]
struct Recorded(Mutex<HashMap<String, Arc<AtomicU64>>>);

impl Recorded {
    fn handle(&self, key: &Key) -> Arc<AtomicU64> {
        let mut labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        labels.sort();
        let name = format!("{}{{{}}}", key.name(), labels.join(","));
        self.0.lock().unwrap().entry(name).or_default().clone()
    }

    /// A counter summed over its labels.
    fn sum(&self, name: &str) -> u64 {
        let prefix = format!("{name}{{");
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(k, _)| k.starts_with(&prefix))
            .map(|(_, v)| v.load(Ordering::Relaxed))
            .sum()
    }

    fn gauge(&self, key: &str) -> f64 {
        self.0
            .lock()
            .unwrap()
            .get(key)
            .map_or(0.0, |v| f64::from_bits(v.load(Ordering::Relaxed)))
    }
}

struct TestRecorder(Arc<Recorded>);

impl Recorder for TestRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.0.handle(key))
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(self.0.handle(key))
    }

    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

/// The process-wide recorder (this file holds one test, so nothing else records into it).
fn recorder() -> Arc<Recorded> {
    static RECORDED: OnceLock<Arc<Recorded>> = OnceLock::new();
    RECORDED
        .get_or_init(|| {
            let recorded = Arc::new(Recorded::default());
            metrics::set_global_recorder(TestRecorder(recorded.clone())).unwrap();
            recorded
        })
        .clone()
}
