//! Prints the latency of searches through the merger next to the same searches on one node:
//! the npm corpus striped over 4 shards (RF 2) on 3 stand-in nodes behind NATS and one merger,
//! and whole on a fourth node. `BENCH_DOCS` (default 10000) and `BENCH_ROUNDS` (default 40)
//! change the size. Figures only; nothing is asserted.
#![allow(clippy::unwrap_used)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{Cluster, load_index, npm_settings};
use miroir_testkit::{npm_documents, start_nodes};
use serde_json::{Value, json};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn queries() -> Vec<Value> {
    vec![
        json!({"q": "react"}),
        json!({"q": "react router", "limit": 10}),
        json!({"q": "plugin", "offset": 40, "limit": 20}),
        json!({"q": "vue", "facets": ["scope", "major"], "limit": 5}),
        json!({"q": "", "sort": ["downloads:desc"], "filter": "major > 2", "limit": 20}),
    ]
}

fn summary(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let pick =
        |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize].as_secs_f64() * 1e3;
    let mean = samples.iter().map(Duration::as_secs_f64).sum::<f64>() / samples.len() as f64 * 1e3;
    println!(
        "{name:<34} n={:<5} mean {mean:7.2} ms  p50 {:7.2}  p95 {:7.2}  p99 {:7.2}",
        samples.len(),
        pick(0.5),
        pick(0.95),
        pick(0.99)
    );
}

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(bench())
}

async fn bench() -> anyhow::Result<()> {
    let n_docs = env_usize("BENCH_DOCS", 10_000);
    let rounds = env_usize("BENCH_ROUNDS", 40);
    let nodes = start_nodes(4).await?;
    let mut cluster = Cluster::start().await?;
    cluster.put_nodes(&nodes[..3]).await?;
    let docs = npm_documents(n_docs)?;
    let settings = npm_settings();
    let reference = nodes[3].client();
    let loading = Instant::now();
    let placement: &[&[usize]] = &[&[0, 1], &[1, 2], &[2, 0], &[0, 1]];
    let (a, b) = tokio::join!(
        cluster.create_index(&nodes, "npm", placement, &settings, &docs),
        load_index(&reference, "npm", &settings, &docs),
    );
    a?;
    b?;
    println!(
        "{n_docs} documents loaded in {:.1} s (4 shards x RF 2 on 3 nodes, and whole on 1 node)",
        loading.elapsed().as_secs_f64()
    );
    cluster.start_merger(cluster.config()).await?;

    for q in queries() {
        let _ = reference.post("/indexes/npm/search", &q).await?;
        let _ = cluster.search("npm", &q).await;
    }
    let mut direct = Vec::new();
    let mut merged = Vec::new();
    for _ in 0..rounds {
        for q in queries() {
            let t = Instant::now();
            let r = reference.post("/indexes/npm/search", &q).await?;
            direct.push(t.elapsed());
            anyhow::ensure!(r.status == 200, "{}", r.body);
            let t = Instant::now();
            cluster
                .search("npm", &q)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            merged.push(t.elapsed());
        }
    }
    println!("sequential, {} queries x {rounds} rounds:", queries().len());
    summary("one node, HTTP", direct);
    summary("merger, NATS + 4 shards", merged);

    for concurrency in [4usize, 16] {
        let started = Instant::now();
        let total = rounds * queries().len();
        let per_task = total / concurrency;
        let mut tasks = Vec::new();
        for c in 0..concurrency {
            let client = cluster.client.clone();
            tasks.push(tokio::spawn(async move {
                let mut samples = Vec::new();
                for i in 0..per_task {
                    let q = &queries()[(i + c) % queries().len()];
                    let request = miroir_proto::rpc::Search {
                        index_uid: "npm".into(),
                        body: serde_json::to_vec(q).unwrap().into(),
                        deadline_ms: 10_000,
                    };
                    let t = Instant::now();
                    let ok =
                        miroir_cluster::bus::request(&client, &request, Duration::from_secs(10))
                            .await
                            .is_ok();
                    samples.push((t.elapsed(), ok));
                }
                samples
            }));
        }
        let mut samples = Vec::new();
        for t in tasks {
            samples.extend(t.await?);
        }
        let failed = samples.iter().filter(|(_, ok)| !ok).count();
        let n = samples.len();
        summary(
            &format!("merger, {concurrency} concurrent clients"),
            samples.into_iter().map(|(d, _)| d).collect(),
        );
        println!(
            "{:<34} {:.0} searches/s, {failed} failed",
            "",
            n as f64 / started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
