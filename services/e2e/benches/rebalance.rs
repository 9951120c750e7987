//! The rebalance benchmark (`just bench`, or `cargo bench -p miroir-e2e --bench rebalance`):
//! in one run on the same nodes, the raw indexing throughput of a node written directly, the
//! throughput of a live migration (a 5th node joins a 4-node cluster of 8 shards, RF 2, and the
//! rebalancer builds its share of the copies), and search latency through the gateway while idle
//! and during the migration. It prints figures beside their baseline; it asserts nothing.
//!
//! `BENCH_DOCS` (default 40000) sets the corpus size. Nodes are stand-ins unless `MEILI_BIN` is
//! set (then they are real Meilisearch processes).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use miroir_e2e::{ClusterOptions, NODE_MASTER_KEY, TestCluster};
use miroir_testkit::MeiliClient;
use serde_json::{Value, json};

const WORDS: &[&str] = &[
    "alpha", "beta", "gamma", "delta", "react", "router", "vue", "parser", "stream", "cloud",
    "data", "fast",
];

fn doc(id: u64) -> Value {
    let w = |k: u64| WORDS[((id.wrapping_mul(2654435761) >> k) % WORDS.len() as u64) as usize];
    json!({"id": id, "title": format!("{} {} {id}", w(3), w(7)), "summary": format!("a {} package for {} and {}", w(11), w(13), w(17)), "downloads": id % 10_000})
}

fn docs(from: u64, n: u64) -> Vec<Value> {
    (from..from + n).map(doc).collect()
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * p).round() as usize]
}

async fn searches(client: &MeiliClient, stop: Arc<AtomicBool>, at_least: usize) -> Vec<f64> {
    let mut out = Vec::new();
    let mut i = 0usize;
    while !stop.load(Ordering::SeqCst) || out.len() < at_least {
        let q = WORDS[i % WORDS.len()];
        i += 1;
        let t = Instant::now();
        let r = client
            .post("/indexes/bench/search", &json!({"q": q, "limit": 20}))
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
        out.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    out
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    let n: u64 = std::env::var("BENCH_DOCS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40_000);
    let mut cluster = TestCluster::start(ClusterOptions {
        nodes: 4,
        shards: 8,
        replication_factor: 2,
        rebalancers: 1,
        ..Default::default()
    })
    .await
    .unwrap();
    let client = cluster.client();
    let created = client
        .post("/indexes", &json!({"uid": "bench", "primaryKey": "id"}))
        .await
        .unwrap();
    client.wait_succeeded(&created).await.unwrap();
    let t = Instant::now();
    for from in (0..n).step_by(5_000) {
        let r = client
            .post(
                "/indexes/bench/documents",
                &Value::Array(docs(from, 5_000.min(n - from))),
            )
            .await
            .unwrap();
        client.wait_succeeded(&r).await.unwrap();
    }
    let through_gateway = n as f64 / t.elapsed().as_secs_f64();
    let bytes_per_doc = serde_json::to_vec(&Value::Array(docs(0, 1000)))
        .unwrap()
        .len() as f64
        / 1000.0;

    // Baseline 1: raw indexing on one node of the same cluster, written directly in pages of the
    // size the rebalancer copies (what a copy costs the target at best).
    let node = MeiliClient::new(cluster.nodes[0].url(), Some(NODE_MASTER_KEY.to_string()));
    let r = node
        .post("/indexes", &json!({"uid": "raw", "primaryKey": "id"}))
        .await
        .unwrap();
    node.wait_succeeded(&r).await.unwrap();
    let raw_n = n / 4;
    let t = Instant::now();
    let mut last = None;
    for from in (0..raw_n).step_by(500) {
        last = Some(
            node.post(
                "/indexes/raw/documents",
                &Value::Array(docs(from, 500.min(raw_n - from))),
            )
            .await
            .unwrap(),
        );
    }
    node.wait_succeeded(&last.unwrap()).await.unwrap();
    let raw = raw_n as f64 / t.elapsed().as_secs_f64();
    let r = node.delete("/indexes/raw").await.unwrap();
    node.wait_succeeded(&r).await.unwrap();

    // Baseline 2: search latency while idle.
    let stop = Arc::new(AtomicBool::new(true));
    let mut idle = searches(&client, stop.clone(), 300).await;

    // The migration, with searches running.
    let topology = cluster.topology().await.unwrap();
    let before: usize = topology
        .current()
        .index("bench")
        .unwrap()
        .shards
        .iter()
        .map(|p| p.nodes.len())
        .sum();
    stop.store(false, Ordering::SeqCst);
    let searcher = {
        let (client, stop) = (client.clone(), stop.clone());
        tokio::spawn(async move { searches(&client, stop, 50).await })
    };
    let id = cluster.add_node().await.unwrap();
    let t = Instant::now();
    let settled = loop {
        let topo = topology.current();
        let record = topo.index("bench").unwrap();
        let on_new = record
            .shards
            .iter()
            .filter(|p| p.nodes.contains(&id))
            .count();
        let plan = miroir_cluster::plan::plan(
            &topo,
            time::OffsetDateTime::now_utc(),
            Duration::from_secs(300),
        );
        if on_new > 0 && plan.is_empty() && record.shards.iter().all(|p| p.lagging.is_empty()) {
            break on_new;
        }
        assert!(
            t.elapsed() < Duration::from_secs(600),
            "the migration did not finish"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let took = t.elapsed().as_secs_f64();
    stop.store(true, Ordering::SeqCst);
    let mut during = searcher.await.unwrap();
    // Documents moved: the new node's shard copies.
    let new_node = MeiliClient::new(
        cluster.nodes.last().unwrap().url(),
        Some(NODE_MASTER_KEY.to_string()),
    );
    let listed = new_node.get("/indexes?limit=1000").await.unwrap().body;
    let mut moved_docs = 0u64;
    for uid in listed["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["uid"].as_str())
    {
        moved_docs += new_node
            .get(&format!("/indexes/{uid}/stats"))
            .await
            .unwrap()
            .body["numberOfDocuments"]
            .as_u64()
            .unwrap_or(0);
    }
    let migration = moved_docs as f64 / took;

    println!(
        "rebalance benchmark: {n} documents, 4 -> 5 nodes, 8 shards, RF 2 ({} nodes)",
        if std::env::var_os("MEILI_BIN").is_some() {
            "Meilisearch"
        } else {
            "stand-in"
        }
    );
    println!("| figure | value | baseline | ratio / target |");
    println!("| --- | --- | --- | --- |");
    println!(
        "| copies moved onto the new node | {settled} of {before} | HRW ideal {:.1} | |",
        before as f64 / 5.0
    );
    println!(
        "| migration throughput (add -> settled, incl. catch-up) | {:.0} docs/s, {:.2} MB/s ({moved_docs} docs in {took:.2} s) | raw indexing on one node {:.0} docs/s | {:.2}x (target >= 0.5x) |",
        migration,
        migration * bytes_per_doc / 1e6,
        raw,
        migration / raw
    );
    let (i50, i99, d50, d99) = (
        pct(&mut idle, 0.5),
        pct(&mut idle, 0.99),
        pct(&mut during, 0.5),
        pct(&mut during, 0.99),
    );
    println!(
        "| search p50 during the migration | {d50:.2} ms | idle {i50:.2} ms | {:.2}x |",
        d50 / i50
    );
    println!(
        "| search p99 during the migration | {d99:.2} ms | idle {i99:.2} ms | {:.2}x (target <= 2x) |",
        d99 / i99
    );
    println!("| indexing through the gateway (setup) | {through_gateway:.0} docs/s | | |");
}
