//! Invariant: the load generator (`miroir-load`) runs a scenario of `loadtest/scenarios.json`
//! against a whole cluster to its end, by itself: the mixed scenario (searches of the query file
//! and document batches at once), shortened to a few seconds, answers every request without an
//! error, passes every check, starts the iterations its schedule calls for, and every write
//! batch the cluster acknowledged succeeds. No latency is asserted (speed is for `just load` and
//! the benchmarks); the figures are printed.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use miroir_e2e::{ClusterOptions, GATEWAY_MASTER_KEY, TestCluster};
use miroir_loadgen::Config;
use miroir_loadgen::scenario::ScenarioFile;
use miroir_testkit::npm_documents;
use serde_json::json;

/// Documents of the corpus loaded before the load: enough for every query kind to find hits.
const DOCS: usize = 2000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_scenario_runs_clean() {
    let cluster = TestCluster::start(ClusterOptions::default()).await.unwrap();
    let client = cluster.client();
    let created = client
        .post("/indexes", &json!({"uid": "npm", "primaryKey": "id"}))
        .await
        .unwrap();
    client.wait_succeeded(&created).await.unwrap();
    let settings = client
        .patch(
            "/indexes/npm/settings",
            &json!({
                "searchableAttributes": ["name", "summary", "tags"],
                "filterableAttributes": ["scope", "major", "downloads", "tags"],
                "sortableAttributes": ["downloads", "name", "major"],
            }),
        )
        .await
        .unwrap();
    client.wait_succeeded(&settings).await.unwrap();
    let added = client
        .post(
            "/indexes/npm/documents",
            &json!(npm_documents(DOCS).unwrap()),
        )
        .await
        .unwrap();
    client.wait_succeeded(&added).await.unwrap();

    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../loadtest/scenarios.json");
    let config = Config {
        scenarios: vec!["mixed".into()],
        file,
        url: cluster.gateway_url().to_string(),
        key: Some(GATEWAY_MASTER_KEY.into()),
        duration: Some("4s".into()),
        settle_ms: 30_000,
        quiet: true,
        ..Config::default()
    };
    let reports = miroir_loadgen::run(&config).await.unwrap();
    assert_eq!(reports.len(), 1);
    let r = &reports[0];
    eprintln!("{}", miroir_loadgen::summary::text(r));

    assert_eq!(r.total.error_rate, 0.0, "statuses {:?}", r.total.statuses);
    assert_eq!(r.total.checks_rate, Some(1.0));
    // The schedule: 30 searches and 2 batches a second for 4 s, each started or dropped.
    for (workload, per_second) in [("search", 30u64), ("write", 2)] {
        let it = &r.iterations[workload];
        let due = per_second * 4;
        assert!(
            (due - 1..=due).contains(&(it.started + it.dropped)),
            "{workload}: {it:?}, {due} due"
        );
        assert!(it.started > 0, "{workload}: {it:?}");
        let line = r
            .by_workload
            .iter()
            .find(|l| l.group == format!("scenario={workload}"))
            .unwrap();
        assert_eq!(
            line.reqs,
            it.started - it.interrupted,
            "one request per iteration"
        );
    }
    // Every kind of query of the file was sent and answered.
    let ops: Vec<&str> = r.by_op.iter().map(|l| l.group.as_str()).collect();
    assert_eq!(
        ops,
        [
            "op=facet-search",
            "op=multi-search",
            "op=search",
            "op=write"
        ]
    );
    let (p50, p95, p99, max) = (
        r.total.p50_ms.unwrap(),
        r.total.p95_ms.unwrap(),
        r.total.p99_ms.unwrap(),
        r.total.max_ms.unwrap(),
    );
    assert!(
        0.0 < p50 && p50 <= p95 && p95 <= p99 && p99 <= max,
        "{p50} {p95} {p99} {max}"
    );
    assert!(r.total.rps > 0.0);
    assert!(r.tasks.enqueued > 0 && r.tasks.ok(), "{:?}", r.tasks);
    assert_eq!(r.tasks.succeeded, r.tasks.enqueued);

    // The batches landed: the corpus plus every acknowledged batch, under their fresh ids (a
    // batch interrupted at the end may have landed unacknowledged).
    let batch = ScenarioFile::read(&config.file)
        .unwrap()
        .documents
        .batch_size as u64;
    let interrupted = r.iterations["write"].interrupted;
    let stats = client.get("/indexes/npm/stats").await.unwrap();
    let count = stats.body["numberOfDocuments"].as_u64().unwrap();
    let acked = DOCS as u64 + r.tasks.succeeded * batch;
    assert!(
        (acked..=acked + interrupted * batch).contains(&count),
        "{count} documents, {acked} acknowledged: {}",
        stats.body
    );
}
