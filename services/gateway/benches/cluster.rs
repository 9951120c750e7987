//! The cluster benchmark: Miroir run as separate processes (a real nats-server, 3 stand-in
//! nodes, router, merger, gateway; RF 2), each figure printed beside a baseline measured in the
//! same run on the same nodes, with the ratio and the target:
//!
//! 1. search latency (p50, p99) and throughput with 8 and 32 clients through the gateway vs. the
//!    same per-shard searches sent directly to the nodes in parallel, merging nothing (the floor
//!    of any scatter-gather), at 4 shards and 20 hits, and again at 8 shards and 100 hits;
//!    beside the added latency, a NATS request-reply alone with a search's sizes (what the
//!    gateway -> merger hop costs before either service does anything);
//! 2. gateway + merger CPU per search (from `/proc/<pid>/stat`) in both configurations, and
//!    their RSS under the 32-client load; beside them, from the merger's `/metrics`, how many of
//!    its shard reads were hedged or retried and how many node connections it opened;
//! 3. indexing throughput through the gateway vs. writing the same per-shard parts directly;
//! 4. the gateway's peak RSS while a ~100 MB NDJSON upload streams through it.
//!
//! `cargo bench -p miroir-gateway --bench cluster`. Sizes come from `BENCH_SEARCHES` (2000),
//! `BENCH_CONCURRENT_SEARCHES` (2000 per client count), `BENCH_CLIENTS` (`8,32`),
//! `BENCH_INDEX_DOCS` (200000), `BENCH_INDEX_ROUNDS` (4 per path, alternating which goes
//! first, after one warm-up run of each that is not counted), `BENCH_UPLOAD_BYTES` (100000000)
//! and `BENCH_README_BYTES` (800, the padding of the upload's documents). Figures only: nothing
//! is asserted but the correctness checks along the way (a figure measured on a wrong answer
//! would be worthless). Everything started is killed at the end, also on error or Ctrl-C.

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
    };
    let clients: Vec<usize> = std::env::var("BENCH_CLIENTS")
        .ok()
        .map(|v| {
            v.split(',')
                .filter_map(|c| c.trim().parse().ok())
                .filter(|&c| c > 0)
                .collect()
        })
        .filter(|v: &Vec<usize>| !v.is_empty())
        .unwrap_or_else(|| vec![8, 32]);
    let most_clients = clients.iter().copied().max().unwrap_or(1);
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
        "sizes: {} warm-up + {} sequential + {} concurrent searches per client count {clients:?}; {index_docs} documents to index ({index_rounds} rounds per path); {} streamed upload",
        search_opts.warmup,
        search_opts.sequential,
        search_opts.concurrent,
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

    // 1 and 2: search, on `npm` (4 shards, 20 hits) and `npm8` (8 shards, 100 hits).
    let loaded = search::load_npm(&stack, &settings, "npm").await;
    explain(&mut stack, loaded)?;
    set_shards(&stack, 8).await?;
    let loaded = search::load_npm(&stack, &settings, "npm8").await;
    set_shards(&stack, 4).await?;
    explain(&mut stack, loaded)?;

    println!("\n-- 1. search latency and throughput (npm 10k, 4 shards x RF 2, 20 hits) --");
    let outcome = search::run(
        &stack,
        &http,
        tick_hz,
        &search_opts,
        &search::Scenario {
            uid: "npm",
            limit: 20,
            clients: &clients,
            rss_at: Some(most_clients),
        },
    )
    .await;
    let s4 = explain(&mut stack, outcome)?;
    print_search(&s4);

    println!("\n-- 1b. the same with 8 shards and 100 hits (npm8 10k, 8 shards x RF 2) --");
    let outcome = search::run(
        &stack,
        &http,
        tick_hz,
        &search_opts,
        &search::Scenario {
            uid: "npm8",
            limit: 100,
            clients: &[],
            rss_at: None,
        },
    )
    .await;
    let s8 = explain(&mut stack, outcome)?;
    anyhow::ensure!(s8.shards == 8, "npm8 has {} shards, not 8", s8.shards);
    print_search(&s8);

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
    println!(
        "  warm-up (not counted): gateway {:.2} s, direct {:.2} s",
        ix.warmup.0, ix.warmup.1
    );
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
    let mut rows = Vec::new();
    for (label, s, cpu_target) in [("4 sh/20 hits", &s4, 250.0), ("8 sh/100 hits", &s8, 400.0)] {
        rows.push(latency_row(
            &format!("search p50 ({label}, seq.)"),
            &s.gateway_seq,
            &s.direct_seq,
            |s| s.p50_ms,
        ));
        rows.push(latency_row(
            &format!("search p99 ({label}, seq.)"),
            &s.gateway_seq,
            &s.direct_seq,
            |s| s.p99_ms,
        ));
        let (added50, added99) = added(s);
        rows.push(Row {
            figure: format!("added latency p50 ({label})"),
            miroir: format!("{added50:.3} ms"),
            baseline: "0".into(),
            ratio: "-".into(),
            target: "< 0.5 ms".into(),
            met: Some(added50 < 0.5),
        });
        rows.push(Row {
            figure: format!("NATS round trip alone p50 ({label})"),
            miroir: "-".into(),
            baseline: format!("{:.3} ms", s.nats_floor.round_trips.p50_ms),
            ratio: "-".into(),
            target: "-".into(),
            met: None,
        });
        rows.push(Row {
            figure: format!("added latency p99 ({label})"),
            miroir: format!("{added99:.3} ms"),
            baseline: "0".into(),
            ratio: "-".into(),
            target: "< 1.5 ms".into(),
            met: Some(added99 < 1.5),
        });
        let cpu = cpu_per_search(&s.cpu_seq, s.gateway_seq.n);
        rows.push(Row {
            figure: format!("gateway+merger CPU/search ({label}, seq.)"),
            miroir: format!("{cpu:.0} us"),
            baseline: "-".into(),
            ratio: "-".into(),
            target: format!("< {cpu_target:.0} us"),
            met: Some(cpu < cpu_target),
        });
        for run in &s.concurrent {
            let cpu = cpu_per_search(&run.cpu, run.gateway.n);
            rows.push(Row {
                figure: format!("gateway+merger CPU/search ({label}, {} cl.)", run.clients),
                miroir: format!("{cpu:.0} us"),
                baseline: "-".into(),
                ratio: "-".into(),
                target: format!("< {cpu_target:.0} us"),
                met: Some(cpu < cpu_target),
            });
            let ratio = run.gateway.qps / run.direct.qps;
            rows.push(Row {
                figure: format!("search throughput ({label}, {} cl.)", run.clients),
                miroir: format!("{:.0} q/s", run.gateway.qps),
                baseline: format!("{:.0} q/s", run.direct.qps),
                ratio: format!("{ratio:.2}"),
                target: ">= 0.85x".into(),
                met: Some(ratio >= 0.85),
            });
            rows.push(latency_row(
                &format!("search p50 ({label}, {} cl.)", run.clients),
                &run.gateway,
                &run.direct,
                |s| s.p50_ms,
            ));
            if let Some(rss) = &run.rss {
                rows.push(Row {
                    figure: format!("gateway RSS, peak under {} cl.", run.clients),
                    miroir: format!("{:.1} MB", rss.gateway_peak_kb as f64 / 1024.0),
                    baseline: format!("{:.1} MB before", rss.gateway_before_kb as f64 / 1024.0),
                    ratio: format!(
                        "{:.2}",
                        rss.gateway_peak_kb as f64 / rss.gateway_before_kb.max(1) as f64
                    ),
                    target: "-".into(),
                    met: None,
                });
                rows.push(Row {
                    figure: format!("merger RSS, peak under {} cl.", run.clients),
                    miroir: format!("{:.1} MB", rss.merger_peak_kb as f64 / 1024.0),
                    baseline: format!("{:.1} MB before", rss.merger_before_kb as f64 / 1024.0),
                    ratio: format!(
                        "{:.2}",
                        rss.merger_peak_kb as f64 / rss.merger_before_kb.max(1) as f64
                    ),
                    target: "-".into(),
                    met: None,
                });
            }
        }
    }
    rows.extend([
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
    ]);
    print_table(&rows);
    Ok(())
}

/// Sets the shard count new indexes get.
async fn set_shards(stack: &Stack, shards: u16) -> Result<()> {
    stack
        .topology
        .put_defaults(&miroir_proto::topology::ClusterDefaults {
            shard_count: shards,
            replication_factor: 2,
        })
        .await
        .map_err(|e| anyhow::anyhow!("setting the default shard count to {shards}: {e}"))?;
    // The router reads the defaults from its topology mirror: give it a moment to see them (the
    // shard count of the index created next is checked).
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    Ok(())
}

/// Added latency over the direct fan-out: gateway minus direct, at p50 and at p99 (sequential).
fn added(s: &search::SearchOutcome) -> (f64, f64) {
    (
        s.gateway_seq.p50_ms - s.direct_seq.p50_ms,
        s.gateway_seq.p99_ms - s.direct_seq.p99_ms,
    )
}

/// Gateway + merger CPU microseconds per search.
fn cpu_per_search(cpu: &procs::CpuUse, searches: usize) -> f64 {
    cpu.of(&["gateway", "merger"]) / searches.max(1) as f64
}

fn print_search(s: &search::SearchOutcome) {
    println!("sequential:");
    println!(
        "{}",
        s.gateway_seq.line(&format!(
            "  gateway (HTTP -> NATS -> merger -> {} shards)",
            s.shards
        ))
    );
    println!(
        "{}",
        s.direct_seq.line(&format!(
            "  direct, slowest of {} parallel shard searches",
            s.shards
        ))
    );
    for run in &s.concurrent {
        println!("{} concurrent clients:", run.clients);
        println!("{}", run.gateway.line("  gateway"));
        println!(
            "{}",
            run.direct
                .line(&format!("  direct, slowest of {}", s.shards))
        );
        if let Some(rss) = &run.rss {
            println!(
                "  RSS (MB) before -> peak during the gateway run ({} samples): gateway {:.1} -> {:.1}, merger {:.1} -> {:.1}",
                rss.samples,
                rss.gateway_before_kb as f64 / 1024.0,
                rss.gateway_peak_kb as f64 / 1024.0,
                rss.merger_before_kb as f64 / 1024.0,
                rss.merger_peak_kb as f64 / 1024.0
            );
        }
    }
    let (added50, added99) = added(s);
    println!(
        "added latency over the direct fan-out: p50 {added50:.3} ms (target < 0.5 ms), p99 {added99:.3} ms (target < 1.5 ms)"
    );
    println!("CPU per search (microseconds of CPU per search, by process):");
    println!(
        "  gateway run, sequential ({}): {}",
        s.gateway_seq.n,
        s.cpu_seq.per_op_line(s.gateway_seq.n)
    );
    println!(
        "  direct run, sequential ({}):  {}",
        s.direct_seq.n,
        s.cpu_direct_seq.per_op_line(s.direct_seq.n)
    );
    println!(
        "  the same fan-out alone, sequential ({}), with the merger's node client on one worker: {:.0} us of the bench process's CPU per fan-out (the merger's floor before it receives, merges and replies), the nodes {:.0} us",
        s.floor.fanouts, s.floor.cpu_us, s.floor.nodes_us
    );
    let nf = &s.nats_floor;
    println!(
        "  NATS request-reply alone, sequential ({}), a {} B request and a {:.1} KB answer between two clients on one worker each: p50 {:.3} ms, p99 {:.3} ms; nats-server {:.0} us and the two clients {:.0} us of CPU per round trip (what the gateway -> merger -> gateway hop costs before either service does anything)",
        nf.round_trips.n,
        nf.request_bytes,
        nf.answer_bytes as f64 / 1e3,
        nf.round_trips.p50_ms,
        nf.round_trips.p99_ms,
        nf.nats_cpu_us,
        nf.clients_cpu_us
    );
    for run in &s.concurrent {
        println!(
            "  gateway run, {} clients ({}): {}",
            run.clients,
            run.gateway.n,
            run.cpu.per_op_line(run.gateway.n)
        );
    }
    println!("the merger's shard reads during the gateway runs:");
    println!("  sequential: {}", s.reads_seq.line());
    for run in &s.concurrent {
        println!("  {} clients: {}", run.clients, run.reads.line());
    }
    println!(
        "gateway + merger: {:.0} us per search sequential{}",
        cpu_per_search(&s.cpu_seq, s.gateway_seq.n),
        s.concurrent
            .iter()
            .map(|r| format!(
                ", {:.0} us at {} clients",
                cpu_per_search(&r.cpu, r.gateway.n),
                r.clients
            ))
            .collect::<String>()
    );
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
