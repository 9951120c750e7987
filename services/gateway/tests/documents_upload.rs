//! A document upload of several MB, streamed in small pieces, reaches the router as one commit
//! whose WAL chunks are numbered, bounded by half of NATS's max payload, and hold exactly the
//! uploaded documents in order; NDJSON and CSV uploads and `PUT` (partial update) arrive alike.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use bytes::Bytes;
use miroir_cluster::wal;
use miroir_proto::rpc::{DocumentsCommit, WalChunk, WriteMethod};
use miroir_proto::subjects::Service;
use miroir_testkit::NatsOptions;
use serde_json::{Value, json};
use tokio::sync::mpsc;

const MAX_PAYLOAD: usize = 256 * 1024;

/// A fake router that reads every committed batch back from the WAL and reports it.
async fn router_reading_the_wal(
    gw: &common::Gateway,
) -> (
    miroir_cluster::bus::ServiceRunner,
    mpsc::UnboundedReceiver<(DocumentsCommit, Vec<WalChunk>)>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let stream = wal::open(&jetstream::new(gw.nats.clone())).await.unwrap();
    let mut router = common::fake(&gw.nats, Service::Router).await;
    router
        .serve::<DocumentsCommit, _, _>(move |commit, _| {
            let tx = tx.clone();
            let stream = stream.clone();
            async move {
                let chunks = Arc::new(Mutex::new(Vec::new()));
                let sink = chunks.clone();
                wal::read_batch(&stream, &commit.batch_id, commit.chunks, move |chunk| {
                    sink.lock().unwrap().push(chunk);
                    async { Ok(()) }
                })
                .await?;
                let chunks = std::mem::take(&mut *chunks.lock().unwrap());
                let uid = commit.index_uid.clone();
                let _ = tx.send((commit, chunks));
                Ok(common::task(42, &uid, "documentAdditionOrUpdate"))
            }
        })
        .await
        .unwrap();
    (router, rx)
}

fn documents_of(chunks: &[WalChunk]) -> Vec<Value> {
    chunks
        .iter()
        .flat_map(|c| {
            c.ndjson
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .map(|l| serde_json::from_slice(l).unwrap())
                .collect::<Vec<Value>>()
        })
        .collect()
}

#[tokio::test]
async fn a_streamed_multi_megabyte_upload_arrives_as_bounded_wal_chunks() {
    let gw = common::start_with(
        common::config(),
        NatsOptions {
            max_payload: Some(MAX_PAYLOAD as u64),
            ..Default::default()
        },
    )
    .await;
    let (router, mut commits) = router_reading_the_wal(&gw).await;

    let corpus = miroir_testkit::npm_documents(usize::MAX).unwrap();
    let mut docs = Vec::new();
    for round in 0..3u64 {
        for d in &corpus {
            let mut d = d.clone();
            d["id"] = json!(d["id"].as_u64().unwrap() + round * 100_000);
            docs.push(d);
        }
    }
    let body = serde_json::to_vec_pretty(&docs).unwrap();
    let size = body.len();
    assert!(size > 5_000_000, "{size} bytes");
    // Chunked transfer in 16 KiB pieces: the gateway never sees the body whole.
    let pieces: Vec<Result<Bytes, std::io::Error>> = body
        .chunks(16 * 1024)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let started = Instant::now();
    let response = common::http()
        .post(gw.url("/indexes/npm/documents?primaryKey=id"))
        .bearer_auth(common::KEY)
        .header("Content-Type", "application/json")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(pieces)))
        .send()
        .await
        .unwrap();
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    let answer: Value = response.json().await.unwrap();
    assert_eq!(status, 202, "{answer}");
    assert_eq!(
        answer,
        json!({"taskUid": 42, "indexUid": "npm", "status": "enqueued", "type": "documentAdditionOrUpdate", "enqueuedAt": "2026-11-21T05:01:17.465778993Z"})
    );
    println!(
        "uploaded {:.1} MB ({} documents) through the gateway into the WAL in {:.2?}: {:.1} MB/s",
        size as f64 / 1e6,
        docs.len(),
        elapsed,
        size as f64 / 1e6 / elapsed.as_secs_f64()
    );

    let (commit, chunks) = tokio::time::timeout(Duration::from_secs(10), commits.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(commit.index_uid, "npm");
    assert_eq!(commit.primary_key.as_deref(), Some("id"));
    assert_eq!(commit.method, WriteMethod::Replace);
    assert_eq!(commit.documents, docs.len() as u64);
    assert_eq!(commit.chunks as usize, chunks.len());
    assert!(chunks.len() >= 20, "{} chunks", chunks.len());
    for (i, chunk) in chunks.iter().enumerate() {
        assert_eq!(chunk.seq as usize, i);
        assert_eq!(chunk.batch_id, commit.batch_id);
        assert!(
            chunk.ndjson.len() <= MAX_PAYLOAD / 2,
            "chunk {i} holds {} bytes",
            chunk.ndjson.len()
        );
        let lines = chunk
            .ndjson
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .count();
        assert_eq!(lines, chunk.documents as usize);
    }
    assert_eq!(documents_of(&chunks), docs);
    router.shutdown(Duration::from_secs(1)).await;
    gw.stop().await;
}

#[tokio::test]
async fn chunks_are_spooled_while_the_body_is_still_arriving() {
    let gw = common::start_with(
        common::config(),
        NatsOptions {
            max_payload: Some(MAX_PAYLOAD as u64),
            ..Default::default()
        },
    )
    .await;
    let (router, mut commits) = router_reading_the_wal(&gw).await;
    let docs: Vec<Value> = (0..20_000)
        .map(|i| json!({"id": i, "text": "words to make the batch span several chunks"}))
        .collect();
    let body = serde_json::to_vec(&docs).unwrap();
    let (first, rest) = body.split_at(body.len() / 2);
    assert!(first.len() > 2 * MAX_PAYLOAD);

    let (mut tx, rx) = futures::channel::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let request = common::http()
        .post(gw.url("/indexes/stream/documents"))
        .bearer_auth(common::KEY)
        .header("Content-Type", "application/json")
        .body(reqwest::Body::wrap_stream(rx))
        .send();
    let response = tokio::spawn(request);
    use futures::SinkExt;
    tx.send(Ok(Bytes::copy_from_slice(first))).await.unwrap();

    // Half the body is in: whole chunks of it must already be in the WAL, before the rest exists.
    let stream = wal::open(&jetstream::new(gw.nats.clone())).await.unwrap();
    let spooled = miroir_testkit::wait::until(
        "chunks in the WAL mid-upload",
        Duration::from_secs(10),
        || {
            let mut stream = stream.clone();
            async move {
                let messages = stream.info().await?.state.messages;
                Ok(if messages >= 2 {
                    miroir_testkit::wait::Attempt::Ready(messages)
                } else {
                    miroir_testkit::wait::Attempt::Retry(format!("{messages} chunks"))
                })
            }
        },
    )
    .await
    .unwrap();
    assert!(spooled >= 2);
    assert!(
        commits.try_recv().is_err(),
        "nothing may be committed before the body ends"
    );

    tx.send(Ok(Bytes::copy_from_slice(rest))).await.unwrap();
    drop(tx);
    let response = response.await.unwrap().unwrap();
    assert_eq!(response.status(), 202);
    let (commit, chunks) = tokio::time::timeout(Duration::from_secs(10), commits.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(commit.documents, 20_000);
    assert_eq!(documents_of(&chunks), docs);
    router.shutdown(Duration::from_secs(1)).await;
    gw.stop().await;
}

#[tokio::test]
async fn ndjson_csv_and_partial_updates_arrive_as_documents() {
    let gw = common::start(common::config()).await;
    let (router, mut commits) = router_reading_the_wal(&gw).await;
    let client = gw.client();

    let ndjson = common::recorded("03-documents.json", "add documents NDJSON");
    let body = ndjson.request.body.as_str().unwrap().as_bytes().to_vec();
    let r = client
        .send_raw(
            reqwest::Method::POST,
            "/indexes/movies/documents",
            "application/x-ndjson",
            body,
        )
        .await
        .unwrap();
    assert_eq!(r.status, 202, "{}", r.body);
    let (commit, chunks) = commits.recv().await.unwrap();
    assert_eq!(
        (commit.method, commit.documents, commit.primary_key),
        (WriteMethod::Replace, 2, None)
    );
    assert_eq!(
        documents_of(&chunks),
        vec![
            json!({"id":4,"title":"Mad Max","year":2015}),
            json!({"id":5,"title":"Moana","year":2016})
        ]
    );

    let csv = common::recorded("03-documents.json", "add documents CSV");
    let body = csv.request.body.as_str().unwrap().as_bytes().to_vec();
    let r = client
        .send_raw(
            reqwest::Method::PUT,
            "/indexes/movies/documents",
            "text/csv",
            body,
        )
        .await
        .unwrap();
    assert_eq!(r.status, 202, "{}", r.body);
    let (commit, chunks) = commits.recv().await.unwrap();
    assert_eq!(commit.method, WriteMethod::Update);
    // Ids stay strings in CSV, as the recorded `GET /documents` shows ("id": "6").
    assert_eq!(
        documents_of(&chunks),
        vec![
            json!({"id":"6","title":"Parasite","year":2019}),
            json!({"id":"7","title":"Joker","year":2019})
        ]
    );

    let r = client
        .send_raw(
            reqwest::Method::POST,
            "/indexes/movies/documents?csvDelimiter=%3B",
            "text/csv",
            b"id;n:boolean\n1;true\n".to_vec(),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 202, "{}", r.body);
    let (_, chunks) = commits.recv().await.unwrap();
    assert_eq!(documents_of(&chunks), vec![json!({"id": "1", "n": true})]);

    // An empty array is a valid batch of no documents, as in Meilisearch.
    let r = client
        .post("/indexes/movies/documents", &json!([]))
        .await
        .unwrap();
    assert_eq!(r.status, 202, "{}", r.body);
    let (commit, chunks) = commits.recv().await.unwrap();
    assert_eq!((commit.documents, commit.chunks, chunks.len()), (0, 0, 0));
    router.shutdown(Duration::from_secs(1)).await;
    gw.stop().await;
}
