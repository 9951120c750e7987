//! The cluster benchmark: Miroir run as separate processes (a real nats-server, 3 stand-in
//! nodes, router, merger, gateway; 4 shards, RF 2), each figure printed beside a baseline
//! measured in the same run on the same nodes, with the ratio and the target:
//!
//! 1. search latency and throughput through the gateway vs. the slowest of the 4 shard searches
//!    sent directly to the nodes in parallel (the floor of any scatter-gather);
//! 2. gateway + merger CPU per search (from `/proc/<pid>/stat`);
//! 3. indexing throughput through the gateway vs. writing the same per-shard parts directly;
//! 4. the gateway's peak RSS while a ~100 MB NDJSON upload streams through it.
//!
//! `cargo bench -p miroir-gateway --bench cluster`. Sizes come from `BENCH_SEARCHES` (2000),
//! `BENCH_CONCURRENT_SEARCHES` (2000), `BENCH_CLIENTS` (8), `BENCH_INDEX_DOCS` (200000),
//! `BENCH_INDEX_ROUNDS` (4 per path, alternating which goes first), `BENCH_UPLOAD_BYTES`
//! (100000000) and `BENCH_README_BYTES` (800, the padding of the upload's documents). Figures
//! only: nothing is asserted but the correctness checks along the way (a figure measured on a
//! wrong answer would be worthless). Everything started is killed at the end, also on error or
//! Ctrl-C.

#[path = "cluster/corpus.rs"]
mod corpus;
#[path = "cluster/indexing.rs"]
mod indexing;
#[path = "cluster/memory.rs"]
mod memory;
#[path = "cluster/procs.rs"]
mod procs;
#[path = "cluster/report.rs"]
mod report;
#[path = "cluster/search.rs"]
mod search;
#[path = "cluster/stack.rs"]
mod stack;

use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use bytes::Bytes;
use serde_json::Value;

use procs::{Binaries, clock_ticks};
use report::{Row, Stats, print_table};
use stack::{Stack, mb};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start a runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        tokio::select! {
            r = bench() => r,
            _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cluster bench failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The `npm` settings of the recorded Meilisearch session (`05-search.json`).
fn npm_settings() -> Result<Value> {
    miroir_testkit::load_recordings("05-search.json")?
        .into_iter()
        .find(|e| e.name == "npm settings")
        .map(|e| e.request.body)
        .context("no `npm settings` exchange in 05-search.json")
}

/// Adds the log of any service that died to an error.
fn explain<T>(stack: &mut Stack, result: Result<T>) -> Result<T> {
    result.map_err(|e| match stack.check_alive() {
        Ok(()) => e,
        Err(dead) => e.context(dead),
    })
}

async fn bench() -> Result<()> {
    let search_opts = search::SearchOptions {
        warmup: 200,
        sequential: env_u64("BENCH_SEARCHES", 2000) as usize,
        concurrent: env_u64("BENCH_CONCURRENT_SEARCHES", 2000) as usize,
        clients: env_u64("BENCH_CLIENTS", 8) as usize,
    };
    let index_docs = env_u64("BENCH_INDEX_DOCS", 200_000);
    let index_rounds = env_u64("BENCH_INDEX_ROUNDS", 4) as usize;
    let upload_bytes = env_u64("BENCH_UPLOAD_BYTES", 100_000_000);
    let readme_bytes = env_u64("BENCH_README_BYTES", 800) as usize;
    let (tick_hz, measured) = clock_ticks();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());

    let bins = Binaries::locate_and_build()?;
    let began = Instant::now();
    println!("\n== Miroir cluster bench ==");
    println!(
        "{cores} cores; CPU from /proc/<pid>/stat at {tick_hz} ticks/s ({}), so CPU figures have a {:.0} ms granularity per process",
        if measured {
            "getconf CLK_TCK"
        } else {
            "getconf failed: assumed"
        },
        1e3 / tick_hz as f64
    );
    println!(
        "sizes: {} warm-up + {} sequential + {} concurrent searches ({} clients); {index_docs} documents to index ({index_rounds} rounds per path); {} streamed upload",
        search_opts.warmup,
        search_opts.sequential,
        search_opts.concurrent,
        search_opts.clients,
        mb(upload_bytes)
    );
    let mut stack = Stack::start(bins, 4, 2).await?;
    println!(
        "cluster: nats-server {}, nodes {}, gateway {}",
        stack.nats.url(),
        stack
            .nodes
            .iter()
            .map(|n| format!("{}={}", n.id, n.url))
            .collect::<Vec<_>>()
            .join(" "),
        stack.gateway_url
    );
    let http = report::http_client()?;
    let settings = npm_settings()?;

    // 1 and 2: search.
    println!("\n-- 1. search latency and throughput (npm 10k, 4 shards x RF 2, 20 hits) --");
    let loaded = search::load_npm(&stack, &settings).await;
    explain(&mut stack, loaded)?;
    let outcome = search::run(&stack, &http, tick_hz, &search_opts).await;
    let s = explain(&mut stack, outcome)?;
    println!("sequential:");
    println!(
        "{}",
        s.gateway_seq
            .line("  gateway (HTTP -> NATS -> merger -> 4 shards)")
    );
    println!(
        "{}",
        s.direct_seq
            .line("  direct, slowest of 4 parallel shard searches")
    );
    println!("{} concurrent clients:", search_opts.clients);
    println!("{}", s.gateway_conc.line("  gateway"));
    println!("{}", s.direct_conc.line("  direct, slowest of 4"));
    let added = s.gateway_seq.p50_ms - s.direct_seq.p50_ms;
    println!(
        "added latency = gateway p50 - direct slowest-shard p50 = {added:.3} ms (target < 1 ms)"
    );

    println!("\n-- 2. CPU per search (microseconds of CPU per search, by process) --");
    let seq_n = s.gateway_seq.n;
    let conc_n = s.gateway_conc.n;
    println!(
        "  gateway run, sequential ({seq_n}):   {}",
        s.cpu_seq.per_op_line(seq_n)
    );
    println!(
        "  direct run, sequential ({}):    {}",
        s.direct_seq.n,
        s.cpu_direct_seq.per_op_line(s.direct_seq.n)
    );
    println!(
        "  gateway run, {} clients ({conc_n}): {}",
        search_opts.clients,
        s.cpu_conc.per_op_line(conc_n)
    );
    let cpu_seq = s.cpu_seq.of(&["gateway", "merger"]) / seq_n.max(1) as f64;
    let cpu_conc = s.cpu_conc.of(&["gateway", "merger"]) / conc_n.max(1) as f64;
    println!(
        "gateway + merger: {cpu_seq:.0} us per search sequential, {cpu_conc:.0} us at {} clients (target < 300 us)",
        search_opts.clients
    );

    // 3: indexing.
    println!("\n-- 3. indexing throughput --");
    let generated = Instant::now();
    let body = Bytes::from(corpus::Generator::new(0)?.ndjson(index_docs));
    println!(
        "generated {index_docs} npm-like documents, {} of NDJSON, in {:.1} s",
        mb(body.len() as u64),
        generated.elapsed().as_secs_f64()
    );
    let outcome = indexing::run(
        &stack,
        &http,
        tick_hz,
        body,
        index_docs,
        &settings,
        index_rounds,
    )
    .await;
    let ix = explain(&mut stack, outcome)?;
    for (path, runs) in [("gateway", &ix.gateway), ("direct", &ix.direct)] {
        for (i, run) in runs.iter().enumerate() {
            println!(
                "  {path} run {}: {:.2} s, {:.0} documents/s, {:.1} MB/s",
                i + 1,
                run.secs,
                ix.documents as f64 / run.secs,
                ix.bytes as f64 / 1e6 / run.secs
            );
            for (stage, at) in &run.stages {
                println!("      {at:>6.2} s  {stage}");
            }
            println!("      CPU (ms): {}", ms_line(&run.cpu));
        }
    }
    let gw_rate = indexing::IndexingOutcome::rate(&ix.gateway, ix.documents);
    let direct_rate = indexing::IndexingOutcome::rate(&ix.direct, ix.documents);
    println!(
        "over {} runs each: gateway {gw_rate:.0} documents/s, direct {direct_rate:.0} documents/s, gateway / direct = {:.2} (target >= 0.9)",
        ix.gateway.len(),
        gw_rate / direct_rate
    );

    // 4: memory.
    println!(
        "\n-- 4. gateway memory during a {} NDJSON upload --",
        mb(upload_bytes)
    );
    let outcome = memory::run(&mut stack, &http, upload_bytes, readme_bytes).await;
    let m = explain(&mut stack, outcome)?;
    println!(
        "  {} documents, {} streamed in {:.1} s ({:.1} MB/s); task succeeded after {:.1} s, every document counted",
        m.documents,
        mb(m.bytes),
        m.upload_secs,
        m.bytes as f64 / 1e6 / m.upload_secs,
        m.total_secs
    );
    println!(
        "  gateway RSS: idle {:.1} MB, peak sampled {:.1} MB ({} samples), VmHWM {:.1} MB (target < 64 MB)",
        m.idle_rss_kb as f64 / 1024.0,
        m.peak_sampled_kb as f64 / 1024.0,
        m.samples,
        m.hwm_kb as f64 / 1024.0
    );

    println!(
        "\n== summary (run took {:.0} s) ==",
        began.elapsed().as_secs_f64()
    );
    let peak_mb = m.hwm_kb.max(m.peak_sampled_kb) as f64 / 1024.0;
    let rows = vec![
        latency_row(
            "search p50 (sequential)",
            &s.gateway_seq,
            &s.direct_seq,
            |s| s.p50_ms,
        ),
        latency_row(
            "search p99 (sequential)",
            &s.gateway_seq,
            &s.direct_seq,
            |s| s.p99_ms,
        ),
        latency_row(
            "search mean (sequential)",
            &s.gateway_seq,
            &s.direct_seq,
            |s| s.mean_ms,
        ),
        Row {
            figure: "added latency (p50 - direct p50)".into(),
            miroir: format!("{added:.3} ms"),
            baseline: "0".into(),
            ratio: "-".into(),
            target: "< 1 ms".into(),
            met: Some(added < 1.0),
        },
        Row {
            figure: format!("search throughput ({} clients)", search_opts.clients),
            miroir: format!("{:.0} q/s", s.gateway_conc.qps),
            baseline: format!("{:.0} q/s", s.direct_conc.qps),
            ratio: format!("{:.2}", s.gateway_conc.qps / s.direct_conc.qps),
            target: "-".into(),
            met: None,
        },
        Row {
            figure: format!("search p50 ({} clients)", search_opts.clients),
            miroir: format!("{:.3} ms", s.gateway_conc.p50_ms),
            baseline: format!("{:.3} ms", s.direct_conc.p50_ms),
            ratio: format!("{:.2}", s.gateway_conc.p50_ms / s.direct_conc.p50_ms),
            target: "-".into(),
            met: None,
        },
        Row {
            figure: "gateway+merger CPU/search (seq)".into(),
            miroir: format!("{cpu_seq:.0} us"),
            baseline: "-".into(),
            ratio: "-".into(),
            target: "< 300 us".into(),
            met: Some(cpu_seq < 300.0),
        },
        Row {
            figure: format!("gateway+merger CPU/search ({} cl.)", search_opts.clients),
            miroir: format!("{cpu_conc:.0} us"),
            baseline: "-".into(),
            ratio: "-".into(),
            target: "< 300 us".into(),
            met: Some(cpu_conc < 300.0),
        },
        Row {
            figure: format!("indexing ({} docs)", ix.documents),
            miroir: format!("{gw_rate:.0} docs/s"),
            baseline: format!("{direct_rate:.0} docs/s"),
            ratio: format!("{:.2}", gw_rate / direct_rate),
            target: ">= 0.9x".into(),
            met: Some(gw_rate / direct_rate >= 0.9),
        },
        Row {
            figure: format!("gateway peak RSS ({} upload)", mb(m.bytes)),
            miroir: format!("{peak_mb:.1} MB"),
            baseline: format!("{:.1} MB idle", m.idle_rss_kb as f64 / 1024.0),
            ratio: format!(
                "{:.2}",
                peak_mb / (m.idle_rss_kb as f64 / 1024.0).max(0.001)
            ),
            target: "< 64 MB".into(),
            met: Some(peak_mb < 64.0),
        },
    ];
    print_table(&rows);
    Ok(())
}

fn latency_row(figure: &str, miroir: &Stats, direct: &Stats, pick: fn(&Stats) -> f64) -> Row {
    Row {
        figure: figure.into(),
        miroir: format!("{:.3} ms", pick(miroir)),
        baseline: format!("{:.3} ms", pick(direct)),
        ratio: format!("{:.2}", pick(miroir) / pick(direct)),
        target: "-".into(),
        met: None,
    }
}

fn ms_line(cpu: &procs::CpuUse) -> String {
    cpu.by_proc
        .iter()
        .map(|(name, us)| format!("{name} {:.0}", us / 1e3))
        .collect::<Vec<_>>()
        .join(", ")
}
