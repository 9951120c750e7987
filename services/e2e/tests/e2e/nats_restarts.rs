//! NATS restarted under load (same store, as a NATS server restart or failover does): every
//! service reconnects (searches and writes work again without restarting anything, topology
//! edits reach the services again) and no acknowledged write is lost.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use miroir_proto::topology::NodeHealth;
use miroir_testkit::wait::{Attempt, until};
use serde_json::json;

use super::load::{self, INDEX};
use super::node_dies::{options, wait_health};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn services_reconnect_after_nats_restarts_and_nothing_acknowledged_is_lost() {
    // The topology mirror is opened before NATS restarts: it must follow KV again after it.
    let load::Loaded {
        mut cluster,
        client,
        topology,
        load,
    } = load::start_loaded(options(), 200).await;
    let tally = load.tally.clone();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before = tally.acked.lock().unwrap().len();

    cluster.nats.restart().await.unwrap();
    let restarted_at = Instant::now();

    // Writes are acknowledged again.
    until(
        "writes acknowledged after the restart",
        Duration::from_secs(60),
        || async {
            let n = tally.acked.lock().unwrap().len();
            Ok(if n >= before + 200 {
                Attempt::Ready(())
            } else {
                // What the writer last saw says which part did not come back.
                Attempt::Retry(format!(
                    "{n} acknowledged ({before} before the restart), {} write errors, last: {}",
                    tally.write_errors.load(Ordering::SeqCst),
                    tally.last_error.lock().unwrap()
                ))
            })
        },
    )
    .await
    .unwrap();
    let writes_back = restarted_at.elapsed();
    // Searches answer again.
    until(
        "a search after the restart",
        Duration::from_secs(30),
        || async {
            let r = client
                .post(
                    &format!("/indexes/{INDEX}/search"),
                    &json!({"q": "document"}),
                )
                .await?;
            Ok(if r.status == 200 {
                Attempt::Ready(())
            } else {
                Attempt::Retry(format!("{} {}", r.status, r.body))
            })
        },
    )
    .await
    .unwrap();
    let tally = load.stop().await;
    load::report("nats_restarts", &tally);
    eprintln!(
        "[nats_restarts] NATS restart -> 200 more writes acknowledged in {:.2} s",
        writes_back.as_secs_f64()
    );

    // The topology mirrors follow KV again: a node that dies now is marked down (health-checker
    // watch and lease) and reads avoid it.
    cluster.nodes[3].stop();
    wait_health(&topology, "n3", NodeHealth::Down, Duration::from_secs(30)).await;
    let r = client
        .post(
            &format!("/indexes/{INDEX}/search"),
            &json!({"q": "", "hitsPerPage": 1, "page": 1}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body["totalHits"].as_u64().unwrap() >= tally.acked.lock().unwrap().len() as u64);
    cluster.nodes[3].start_again().await.unwrap();
    until("n3's copies caught up", Duration::from_secs(60), || async {
        let b = super::node_dies::behind(&topology);
        Ok(if b.is_empty() {
            Attempt::Ready(())
        } else {
            Attempt::Retry(format!("{b:?}"))
        })
    })
    .await
    .unwrap();

    assert_eq!(
        tally.stale.load(Ordering::SeqCst),
        0,
        "stale answers: {}",
        tally.last_error.lock().unwrap()
    );
    load::assert_nothing_lost(&cluster, &tally).await;
}
