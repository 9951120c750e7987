//! `migrations` shows every copy the rebalancer builds with progress, rate and ETA, and
//! `--follow` keeps going while a copy moves and ends by itself once nothing has moved for 5 s.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Result;
use common::miroirctl;
use miroir_cluster::migrations::MigrationStore;
use miroir_proto::migrations::{MigrationPhase, MigrationRecord};
use miroir_testkit::NatsServer;
use miroir_testkit::wait::{Attempt, until};

/// The `--follow` process, killed on drop if the test fails before it ends.
struct Follow(Option<std::process::Child>);

impl Drop for Follow {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn record(phase: MigrationPhase, copied: u64) -> MigrationRecord {
    let now = miroir_cluster::now_rfc3339();
    MigrationRecord {
        index: "books".into(),
        shard: 0,
        node: "n4".into(),
        source: "n1".into(),
        phase,
        copied,
        total: 1000,
        started_at: now.clone(),
        updated_at: now,
        error: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_and_follow() -> Result<()> {
    let nats = NatsServer::start().await?;
    let js = async_nats::jetstream::new(nats.connect().await?);
    let store = MigrationStore::open(&js).await?;
    store.put(&record(MigrationPhase::Copying, 100)).await?;
    let mut failed = record(MigrationPhase::Failed, 10);
    failed.shard = 1;
    failed.error = Some("source n1 unreachable".into());
    store.put(&failed).await?;

    let out = miroirctl(&nats, &["migrations", "--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(json["inFlight"], 1);
    assert_eq!(json["failed"], 1);
    assert_eq!(json["migrations"][0]["percent"], 10.0);
    assert_eq!(json["migrations"][1]["error"], "source n1 unreachable");
    let out = miroirctl(&nats, &["migrations"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("1 in flight, 1 failed")
            && text.contains("books/0 -> n4 from n1, copying 100/1000"),
        "{text}"
    );

    // --follow stays while the copy moves, and ends ~5 s after it is done.
    let mut follow = Follow(Some(
        std::process::Command::new(env!("CARGO_BIN_EXE_miroirctl"))
            .env("MIROIR_NATS_URL", nats.url())
            .args(["migrations", "--follow"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?,
    ));
    let child = follow.0.as_mut().unwrap();
    let started = Instant::now();
    for copied in [300, 600, 900] {
        store.put(&record(MigrationPhase::Copying, copied)).await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(
            child.try_wait()?.is_none(),
            "follow ended while a copy was moving"
        );
    }
    store.put(&record(MigrationPhase::Done, 1000)).await?;
    let done_at = Instant::now();
    let status = until("follow to end", Duration::from_secs(20), || {
        let polled = child.try_wait();
        async move {
            Ok(match polled? {
                Some(status) => Attempt::Ready(status),
                None => Attempt::Retry("still following".into()),
            })
        }
    })
    .await?;
    assert!(status.success());
    let idle = done_at.elapsed();
    assert!(
        idle >= Duration::from_secs(4),
        "ended {idle:?} after the copy was done"
    );
    assert!(started.elapsed() >= Duration::from_secs(10));
    let out = follow.0.take().unwrap().wait_with_output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("done 1000/1000"), "{text}");
    Ok(())
}
