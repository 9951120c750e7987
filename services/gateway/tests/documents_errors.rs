//! A refused upload (wrong or missing content type, malformed payload, too large, bad index uid,
//! no router) answers Meilisearch's status and message, commits nothing, and leaves nothing in
//! the WAL, even when the error comes after chunks were already spooled.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_nats::jetstream;
use bytes::Bytes;
use miroir_cluster::wal;
use miroir_gateway::Config;
use miroir_proto::rpc::DocumentsCommit;
use miroir_proto::subjects::Service;
use miroir_testkit::NatsOptions;
use reqwest::Method;
use serde_json::json;

async fn wal_messages(gw: &common::Gateway) -> u64 {
    let mut stream = wal::open(&jetstream::new(gw.nats.clone())).await.unwrap();
    stream.info().await.unwrap().state.messages
}

#[tokio::test]
async fn refused_uploads_answer_like_meilisearch_and_leave_no_trace() {
    let config = Config {
        max_payload_bytes: 300_000,
        ..common::config()
    };
    let gw = common::start_with(
        config,
        NatsOptions {
            max_payload: Some(64 * 1024),
            ..Default::default()
        },
    )
    .await;
    let commits = Arc::new(AtomicUsize::new(0));
    let mut router = common::fake(&gw.nats, Service::Router).await;
    let counter = commits.clone();
    router
        .serve::<DocumentsCommit, _, _>(move |c, _| {
            counter.fetch_add(1, Ordering::SeqCst);
            async move { Ok(common::task(1, &c.index_uid, "documentAdditionOrUpdate")) }
        })
        .await
        .unwrap();
    let client = gw.client();

    for name in [
        "add documents wrong content type",
        "add documents malformed JSON",
    ] {
        let rec = common::recorded("03-documents.json", name);
        let content_type = rec.request.headers["Content-Type"].as_str().unwrap();
        let body = rec.request.body.as_str().unwrap().as_bytes().to_vec();
        let r = client
            .send_raw(Method::POST, &rec.request.path, content_type, body)
            .await
            .unwrap();
        assert_eq!(
            (r.status, &r.body),
            (rec.response.status, &rec.response.body),
            "{name}"
        );
    }

    let r = common::http()
        .post(gw.url("/indexes/movies/documents"))
        .bearer_auth(common::KEY)
        .body("[]")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap(),
        json!({
            "message": "A Content-Type header is missing. Accepted values for the Content-Type header are: `application/json`, `application/x-ndjson`, `text/csv`",
            "code": "missing_content_type",
            "type": "invalid_request",
            "link": "https://docs.meilisearch.com/errors#missing_content_type"
        })
    );
    let r = client
        .send_raw(
            Method::POST,
            "/indexes/movies/documents?csvDelimiter=%3B",
            "application/json",
            b"[]".to_vec(),
        )
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (415, Some("invalid_content_type"))
    );
    let r = client
        .send_raw(
            Method::PUT,
            "/indexes/movies/documents",
            "application/x-ndjson",
            Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.body["message"].as_str()),
        (400, Some("A ndjson payload is missing."))
    );
    let r = client
        .send_raw(
            Method::POST,
            "/indexes/bad%20uid!/documents",
            "application/json",
            b"[]".to_vec(),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(r.body["code"], "invalid_index_uid");
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .starts_with("`bad uid!` is not a valid index uid."),
        "{}",
        r.body
    );

    // Malformed at the very end of a body that already filled several WAL chunks.
    let docs: Vec<serde_json::Value> = (0..2000)
        .map(|i| json!({"id": i, "text": "some words to fill the chunks"}))
        .collect();
    let mut body = serde_json::to_vec(&docs).unwrap();
    assert!(body.len() > 100_000 && body.len() < 300_000);
    body.pop();
    body.extend_from_slice(b", {\"id\": }]");
    let r = client
        .send_raw(
            Method::POST,
            "/indexes/movies/documents",
            "application/json",
            body,
        )
        .await
        .unwrap();
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.body["code"], "malformed_payload");
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .contains("expected value at line 1 column"),
        "{}",
        r.body
    );

    // Too large: announced by Content-Length, and discovered while streaming without one.
    let big =
        serde_json::to_vec(&(0..40_000).map(|i| json!({"id": i})).collect::<Vec<_>>()).unwrap();
    assert!(big.len() > 300_000);
    let expected_413 = json!({
        "message": "The provided payload reached the size limit. The maximum accepted payload size is 300000 B.",
        "code": "payload_too_large",
        "type": "invalid_request",
        "link": "https://docs.meilisearch.com/errors#payload_too_large"
    });
    let r = client
        .send_raw(
            Method::POST,
            "/indexes/movies/documents",
            "application/json",
            big.clone(),
        )
        .await
        .unwrap();
    assert_eq!((r.status, &r.body), (413, &expected_413));
    let pieces: Vec<Result<Bytes, std::io::Error>> = big
        .chunks(8192)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let r = common::http()
        .post(gw.url("/indexes/movies/documents"))
        .bearer_auth(common::KEY)
        .header("Content-Type", "application/json")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(pieces)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap(), expected_413);

    assert_eq!(
        commits.load(Ordering::SeqCst),
        0,
        "nothing may be committed"
    );
    assert_eq!(
        wal_messages(&gw).await,
        0,
        "refused uploads must be purged from the WAL"
    );

    // Without a router the client gets a 503 and the spooled batch is purged too.
    router.shutdown(Duration::from_secs(1)).await;
    let r = client
        .post("/indexes/movies/documents", &json!([{"id": 1}]))
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (503, Some("service_unavailable")),
        "{}",
        r.body
    );
    assert_eq!(wal_messages(&gw).await, 0);
    gw.stop().await;
}
