//! Background load for failure scenarios: a writer that records every acknowledged document id
//! (its task succeeded), a searcher that checks every answer is complete (no fewer documents than
//! were acknowledged before it was asked), and the final document-by-document comparison of
//! every copy of every shard with the acknowledged set.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use miroir_cluster::topology::TopologyStore;
use miroir_e2e::{NODE_MASTER_KEY, TestCluster};
use miroir_testkit::MeiliClient;
use serde_json::{Value, json};

pub const INDEX: &str = "load";

/// What the load saw.
#[derive(Default)]
pub struct Tally {
    /// Ids of documents whose write task succeeded.
    pub acked: Mutex<BTreeSet<u64>>,
    /// Ids of writes that were answered 202 but whose task was not seen final (NATS away...):
    /// they may or may not be stored; never counted as lost, never required.
    pub maybe: Mutex<BTreeSet<u64>>,
    /// Writes refused or failed (not acknowledged: allowed while a failure is going on).
    pub write_errors: AtomicU64,
    /// Write latencies (202 to succeeded), with whether a copy was down at the time.
    pub write_ms: Mutex<Vec<(f64, bool)>>,
    pub searches: AtomicU64,
    pub search_errors: AtomicU64,
    /// Answers that counted fewer documents than were acknowledged before they were asked.
    pub stale: AtomicU64,
    pub last_error: Mutex<String>,
}

/// Set by the scenario while one copy is known to be down (labels write latencies).
pub static DEGRADED: AtomicBool = AtomicBool::new(false);

pub struct Load {
    pub tally: Arc<Tally>,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// A cluster with `seed` documents in [`INDEX`] and the background load running (one writer of
/// 20-document batches from id 1,000,000, two searchers).
pub struct Loaded {
    pub cluster: TestCluster,
    pub client: MeiliClient,
    pub topology: TopologyStore,
    pub load: Load,
}

pub async fn start_loaded(options: miroir_e2e::ClusterOptions, seed: u64) -> Loaded {
    let cluster = TestCluster::start(options).await.unwrap();
    let client = cluster.client();
    let topology = cluster.topology().await.unwrap();
    let tally = prepare(&client, seed).await;
    let load = Load::start(client.clone(), tally, 1_000_000, 20, 2);
    Loaded {
        cluster,
        client,
        topology,
        load,
    }
}

/// Create the index (primary key `id`) and seed it with `seed` documents.
pub async fn prepare(client: &MeiliClient, seed: u64) -> Arc<Tally> {
    // `MIROIR_TEST_LOG=info` shows the services' logs while a scenario runs.
    if let Ok(filter) = std::env::var("MIROIR_TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .try_init();
    }
    let created = client
        .post("/indexes", &json!({"uid": INDEX, "primaryKey": "id"}))
        .await
        .unwrap();
    client.wait_succeeded(&created).await.unwrap();
    let tally = Arc::new(Tally::default());
    let docs: Vec<Value> = (0..seed).map(doc).collect();
    let reply = client
        .post(&format!("/indexes/{INDEX}/documents"), &Value::Array(docs))
        .await
        .unwrap();
    client.wait_succeeded(&reply).await.unwrap();
    tally.acked.lock().unwrap().extend(0..seed);
    tally
}

fn doc(id: u64) -> Value {
    json!({"id": id, "title": format!("document {id}"), "group": id % 7})
}

impl Load {
    /// Start one writer (batches of `batch` new ids from `first_id`) and `searchers` searchers.
    pub fn start(
        client: MeiliClient,
        tally: Arc<Tally>,
        first_id: u64,
        batch: u64,
        searchers: usize,
    ) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        {
            let (client, tally, stop) = (client.clone(), tally.clone(), stop.clone());
            tasks.push(tokio::spawn(async move {
                let mut next = first_id;
                while !stop.load(Ordering::SeqCst) {
                    let ids: Vec<u64> = (next..next + batch).collect();
                    next += batch;
                    write(&client, &tally, ids).await;
                }
            }));
        }
        for _ in 0..searchers {
            let (client, tally, stop) = (client.clone(), tally.clone(), stop.clone());
            tasks.push(tokio::spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    search(&client, &tally).await;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }));
        }
        Load { tally, stop, tasks }
    }

    pub async fn stop(self) -> Arc<Tally> {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(60), t).await;
        }
        self.tally
    }
}

async fn write(client: &MeiliClient, tally: &Tally, ids: Vec<u64>) {
    let docs: Vec<Value> = ids.iter().copied().map(doc).collect();
    let degraded = DEGRADED.load(Ordering::SeqCst);
    let started = Instant::now();
    let reply = match client
        .post(&format!("/indexes/{INDEX}/documents"), &Value::Array(docs))
        .await
    {
        Ok(r) if r.status == 202 => r,
        Ok(r) => {
            tally.write_errors.fetch_add(1, Ordering::SeqCst);
            *tally.last_error.lock().unwrap() = format!("write answered {}: {}", r.status, r.body);
            tokio::time::sleep(Duration::from_millis(50)).await;
            return;
        }
        Err(e) => {
            tally.write_errors.fetch_add(1, Ordering::SeqCst);
            *tally.last_error.lock().unwrap() = format!("write failed: {e:#}");
            tokio::time::sleep(Duration::from_millis(50)).await;
            return;
        }
    };
    let Ok(uid) = reply.task_uid() else { return };
    match client.wait_task(uid).await {
        Ok(task) if task["status"] == "succeeded" => {
            tally
                .write_ms
                .lock()
                .unwrap()
                .push((started.elapsed().as_secs_f64() * 1000.0, degraded));
            tally.acked.lock().unwrap().extend(ids);
        }
        Ok(task) => {
            tally.write_errors.fetch_add(1, Ordering::SeqCst);
            *tally.last_error.lock().unwrap() = format!("write task ended {}", task);
        }
        Err(e) => {
            tally.write_errors.fetch_add(1, Ordering::SeqCst);
            *tally.last_error.lock().unwrap() = format!("write task not seen final: {e:#}");
            tally.maybe.lock().unwrap().extend(ids);
        }
    }
}

async fn search(client: &MeiliClient, tally: &Tally) {
    let floor = tally.acked.lock().unwrap().len() as u64;
    tally.searches.fetch_add(1, Ordering::SeqCst);
    let body = json!({"q": "", "hitsPerPage": 1, "page": 1});
    match client
        .post(&format!("/indexes/{INDEX}/search"), &body)
        .await
    {
        Ok(r) if r.status == 200 => {
            let total = r.body["totalHits"].as_u64().unwrap_or(0);
            if total < floor {
                tally.stale.fetch_add(1, Ordering::SeqCst);
                *tally.last_error.lock().unwrap() =
                    format!("stale answer: {total} documents, {floor} acknowledged before");
            }
        }
        Ok(r) => {
            tally.search_errors.fetch_add(1, Ordering::SeqCst);
            *tally.last_error.lock().unwrap() = format!("search answered {}: {}", r.status, r.body);
        }
        Err(e) => {
            tally.search_errors.fetch_add(1, Ordering::SeqCst);
            *tally.last_error.lock().unwrap() = format!("search failed: {e:#}");
        }
    }
}

/// Every copy's document ids, read from the nodes directly: shard -> node -> ids. Copies marked
/// lost are left out (they are out of reads until rebuilt).
pub async fn copies(cluster: &TestCluster) -> BTreeMap<usize, BTreeMap<String, BTreeSet<u64>>> {
    let topology = cluster.topology().await.unwrap();
    let (record, _) = topology.read_index(INDEX).await.unwrap().unwrap();
    let topo = topology.current();
    let mut out = BTreeMap::new();
    for (s, placement) in record.shards.iter().enumerate() {
        let mut per_node = BTreeMap::new();
        for node in &placement.nodes {
            if placement
                .lag_of(node)
                .is_some_and(|l| l.reason == miroir_proto::topology::LagReason::Lost)
            {
                continue;
            }
            let url = topo.node_url(node).unwrap().to_string();
            let c = MeiliClient::new(url, Some(NODE_MASTER_KEY.to_string()));
            let mut ids = BTreeSet::new();
            let mut offset = 0;
            loop {
                let page = c
                    .get(&format!(
                        "/indexes/{INDEX}__s{s}/documents?fields=id&limit=1000&offset={offset}"
                    ))
                    .await
                    .unwrap();
                assert_eq!(
                    page.status, 200,
                    "copy of shard {s} on {node}: {}",
                    page.body
                );
                let results = page.body["results"].as_array().unwrap().clone();
                ids.extend(results.iter().map(|d| d["id"].as_u64().unwrap()));
                offset += results.len();
                if results.len() < 1000 {
                    break;
                }
            }
            per_node.insert(node.clone(), ids);
        }
        out.insert(s, per_node);
    }
    out
}

/// Every acknowledged id is on every (non-lost) copy of its shard and the copies of a shard are
/// equal, document by document. Returns the number of copies compared.
pub async fn assert_nothing_lost(cluster: &TestCluster, tally: &Tally) -> usize {
    let acked = tally.acked.lock().unwrap().clone();
    let maybe = tally.maybe.lock().unwrap().clone();
    let copies = copies(cluster).await;
    let mut stored = BTreeSet::new();
    let mut compared = 0;
    for (s, per_node) in &copies {
        assert!(!per_node.is_empty(), "shard {s} has no readable copy left");
        let mut first: Option<(&String, &BTreeSet<u64>)> = None;
        for (node, ids) in per_node {
            compared += 1;
            if let Some((n0, ids0)) = first {
                let only_here: Vec<_> = ids.symmetric_difference(ids0).take(5).collect();
                assert!(
                    only_here.is_empty(),
                    "copies of shard {s} on {n0} and {node} differ, e.g. {only_here:?}"
                );
            } else {
                first = Some((node, ids));
            }
            stored.extend(ids.iter().copied());
        }
    }
    let lost: Vec<_> = acked.difference(&stored).take(10).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged documents are missing, e.g. {lost:?}",
        acked.difference(&stored).count()
    );
    // Documents stored but not acknowledged are allowed: a write whose answer was lost (504,
    // NATS away) may still have been applied, as with Meilisearch itself.
    let _ = maybe;
    compared
}

pub fn percentile(values: &mut [f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let i = ((values.len() as f64 - 1.0) * p).round() as usize;
    values[i.min(values.len() - 1)]
}

pub fn report(name: &str, tally: &Tally) {
    let mut up: Vec<f64> = tally
        .write_ms
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, d)| !d)
        .map(|(m, _)| *m)
        .collect();
    let mut down: Vec<f64> = tally
        .write_ms
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, d)| *d)
        .map(|(m, _)| *m)
        .collect();
    eprintln!(
        "[{name}] acknowledged docs {}, write errors {}, searches {}, search errors {}, stale answers {}; write latency (202 -> succeeded) all up p50 {:.1} ms p99 {:.1} ms (n={}), one copy down p50 {:.1} ms p99 {:.1} ms (n={}); last error: {}",
        tally.acked.lock().unwrap().len(),
        tally.write_errors.load(Ordering::SeqCst),
        tally.searches.load(Ordering::SeqCst),
        tally.search_errors.load(Ordering::SeqCst),
        tally.stale.load(Ordering::SeqCst),
        percentile(&mut up, 0.5),
        percentile(&mut up, 0.99),
        up.len(),
        percentile(&mut down, 0.5),
        percentile(&mut down, 0.99),
        down.len(),
        tally.last_error.lock().unwrap(),
    );
}
