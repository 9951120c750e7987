//! Cancelling the shutdown token stops intake but lets requests in flight finish: a search the
//! merger is still working on gets its answer, `run` returns, and new connections are refused.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use bytes::Bytes;
use miroir_proto::rpc::{JsonBody, Search};
use miroir_proto::subjects::Service;
use serde_json::json;
use tokio::sync::mpsc;

#[tokio::test]
async fn in_flight_requests_finish_after_shutdown_starts() {
    let gw = common::start(common::config()).await;
    gw.put_index("npm", Some("id")).await;
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let mut merger = common::fake(&gw.nats, Service::Merger).await;
    merger
        .serve::<Search, _, _>(move |_, _| {
            let _ = started_tx.send(());
            async move {
                tokio::time::sleep(Duration::from_millis(400)).await;
                Ok(JsonBody {
                    body: Bytes::from_static(br#"{"hits":[]}"#),
                })
            }
        })
        .await
        .unwrap();

    let client = gw.client();
    let in_flight =
        tokio::spawn(async move { client.post("/indexes/npm/search", &json!({"q": "x"})).await });
    tokio::time::timeout(Duration::from_secs(5), started.recv())
        .await
        .unwrap()
        .unwrap();
    gw.shutdown.cancel();

    let answer = in_flight.await.unwrap().unwrap();
    assert_eq!((answer.status, answer.body), (200, json!({"hits": []})));
    let anonymous = gw.anonymous();
    tokio::time::timeout(Duration::from_secs(5), gw.served)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        anonymous.get("/health").await.is_err(),
        "the port must be closed after shutdown"
    );
    merger.shutdown(Duration::from_secs(1)).await;
}
