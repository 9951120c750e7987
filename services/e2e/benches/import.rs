//! The import benchmark (`just bench`, or `cargo bench -p miroir-e2e --bench import`): in one
//! run on one machine, beside their baselines,
//!
//! - indexing the corpus into one node directly (what the source took), and into the cluster
//!   through the gateway with plain 10k-document `POST /documents` calls waited one by one;
//! - `miroirctl import` from that live node into the cluster (10k batches, 4 awaited at once);
//! - `POST /dumps` on the cluster (writing the dump);
//! - `miroirctl import --dump` of that dump back into the emptied cluster.
//!
//! It prints documents per second; it asserts nothing but the counts. `BENCH_DOCS` (default
//! 40000) sets the corpus size. Nodes are stand-ins unless `MEILI_BIN` is set.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use miroir_e2e::{ClusterOptions, TestCluster};
use miroir_testkit::{MeiliClient, NodeOptions, start_node};
use miroirctl::import::{ImportOptions, SourceSpec, import};
use serde_json::{Value, json};

const BATCH: usize = 10_000;
const WORDS: &[&str] = &[
    "alpha", "beta", "gamma", "delta", "react", "router", "vue", "parser", "stream", "cloud",
    "data", "fast",
];

fn doc(id: u64) -> Value {
    let w = |k: u64| WORDS[((id.wrapping_mul(2654435761) >> k) % WORDS.len() as u64) as usize];
    json!({"id": id, "title": format!("{} {} {id}", w(3), w(7)), "summary": format!("a {} package for {} and {}", w(11), w(13), w(17)), "downloads": id % 10_000})
}

/// Index `n` documents into `index` in batches, each waited for; documents a second.
async fn load(client: &MeiliClient, index: &str, n: u64) -> f64 {
    let r = client
        .post("/indexes", &json!({"uid": index, "primaryKey": "id"}))
        .await
        .unwrap();
    client.wait_succeeded(&r).await.unwrap();
    let started = Instant::now();
    let mut from = 0;
    while from < n {
        let to = (from + BATCH as u64).min(n);
        let docs: Vec<Value> = (from..to).map(doc).collect();
        let r = client
            .post(&format!("/indexes/{index}/documents"), &json!(docs))
            .await
            .unwrap();
        client.wait_succeeded(&r).await.unwrap();
        from = to;
    }
    n as f64 / started.elapsed().as_secs_f64()
}

async fn delete(client: &MeiliClient, index: &str) {
    let r = client.delete(&format!("/indexes/{index}")).await.unwrap();
    client.wait_succeeded(&r).await.unwrap();
}

fn options(cluster: &TestCluster, source: SourceSpec, state: std::path::PathBuf) -> ImportOptions {
    ImportOptions {
        source,
        gateway_url: cluster.gateway_url().to_string(),
        master_key: cluster.options.master_key.clone(),
        indexes: vec!["bench".into()],
        batch_size: BATCH,
        in_flight: 4,
        state_path: state,
        copy_keys: false,
        task_timeout: Duration::from_secs(600),
        stop_after_batches: None,
        progress: false,
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    let n: u64 = std::env::var("BENCH_DOCS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40_000);
    let source = start_node(NodeOptions::default()).await.unwrap();
    let src = source.client();
    let node_rate = load(&src, "bench", n).await;

    let cluster = TestCluster::start(ClusterOptions::default()).await.unwrap();
    let client = cluster.client();
    let gateway_rate = load(&client, "direct", n).await;
    delete(&client, "direct").await;

    let dir = tempfile::tempdir().unwrap();
    let live = import(&options(
        &cluster,
        SourceSpec::Live {
            url: source.url(),
            key: source.master_key().map(str::to_string),
        },
        dir.path().join("live.json"),
    ))
    .await
    .unwrap();
    assert_eq!(live.indexes[0].cluster_count, n);

    let started = Instant::now();
    let r = client.post("/dumps", &json!(null)).await.unwrap();
    let task = client.wait_succeeded(&r).await.unwrap();
    let dump_rate = n as f64 / started.elapsed().as_secs_f64();
    let path = cluster.options.dump_dir.as_ref().unwrap().join(format!(
        "{}.dump",
        task["details"]["dumpUid"].as_str().unwrap()
    ));
    let dump_bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);

    delete(&client, "bench").await;
    let from_dump = import(&options(
        &cluster,
        SourceSpec::Dump { path },
        dir.path().join("dump.json"),
    ))
    .await
    .unwrap();
    assert_eq!(from_dump.indexes[0].cluster_count, n);

    println!("import benchmark: {n} documents, 3 nodes, 4 shards, RF 2, batches of {BATCH}");
    println!("  baseline: one node written directly        {node_rate:>9.0} docs/s");
    println!("  baseline: the cluster through the gateway   {gateway_rate:>9.0} docs/s");
    println!(
        "  miroirctl import from the live node         {:>9.0} docs/s",
        live.docs_per_sec
    );
    println!(
        "  POST /dumps on the cluster (write)          {dump_rate:>9.0} docs/s ({:.1} MB)",
        dump_bytes as f64 / 1e6
    );
    println!(
        "  miroirctl import --dump of that dump        {:>9.0} docs/s",
        from_dump.docs_per_sec
    );
}
