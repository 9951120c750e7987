//! An upload in flight when NATS restarts gets an answer in bounded time: the router took its
//! commit and the answer was lost with the connection, so the client gets a Meilisearch-shaped
//! 504 a few seconds after NATS is back, long before `write_timeout_ms`, and can retry.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use miroir_cluster::bus::LOST_AFTER;
use miroir_gateway::Config;
use miroir_proto::Rpc;
use miroir_proto::rpc::DocumentsCommit;
use miroir_testkit::SilentReplica;
use serde_json::Value;

/// The gateway's patience for the router: waiting it out is the failure.
const WRITE_TIMEOUT: Duration = Duration::from_secs(60);

#[tokio::test]
async fn an_upload_whose_commit_answer_is_lost_in_a_nats_restart_gets_a_504_soon() {
    let mut gw = common::start(Config {
        write_timeout_ms: WRITE_TIMEOUT.as_millis() as u64,
        ..common::config()
    })
    .await;
    gw.put_index("npm", Some("id")).await;
    // A router that takes the commit (acknowledges it) and whose answer never comes.
    let router = gw.nats_server.connect().await.unwrap();
    let sub = router
        .queue_subscribe(DocumentsCommit::subject(), "router".into())
        .await
        .unwrap();
    router.flush().await.unwrap();
    let silent = SilentReplica::start(router.clone(), sub);
    let upload = tokio::spawn({
        let url = gw.url("/indexes/npm/documents");
        async move {
            let response = reqwest::Client::new()
                .post(url)
                .bearer_auth(common::KEY)
                .header("Content-Type", "application/x-ndjson")
                .body("{\"id\": 1}\n{\"id\": 2}\n")
                .timeout(WRITE_TIMEOUT * 2)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    });
    silent.taken(Duration::from_secs(10)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(silent);
    drop(router);
    gw.nats_server.restart().await.unwrap();
    let back = Instant::now();

    let (status, body) = tokio::time::timeout(WRITE_TIMEOUT, upload)
        .await
        .expect("the upload waited out write_timeout_ms")
        .unwrap();
    let after = back.elapsed();
    assert_eq!(status, 504, "{body}");
    assert_eq!(body["code"], "service_timeout", "{body}");
    assert_eq!(body["type"], "system", "{body}");
    assert!(
        body["link"].as_str().unwrap().starts_with("https://"),
        "{body}"
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("connection to NATS was lost"),
        "{body}"
    );
    assert!(
        after < LOST_AFTER + Duration::from_secs(6),
        "answered {after:?} after NATS was back"
    );
}
