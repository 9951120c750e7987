//! A slow client cannot hold a connection: headers not complete within `header_timeout_ms` (and
//! an idle keep-alive connection as long) end the connection; a body that stalls for
//! `body_idle_timeout_ms`, or is still arriving after `body_timeout_ms` of waiting, gets 408
//! `request_timeout` and the connection closes; an upload that is slow but steady goes through.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, SharedString, Unit};
use miroir_gateway::Config;
use miroir_proto::rpc::DocumentsCommit;
use miroir_proto::subjects::Service;
use miroir_testkit::wait::{Attempt, until};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const HEADER_MS: u64 = 400;
const IDLE_MS: u64 = 400;
const TOTAL_MS: u64 = 1_500;
/// Far beyond every bound above: a test that waits this long has failed.
const DEADLINE: Duration = Duration::from_secs(10);

fn config() -> Config {
    Config {
        header_timeout_ms: HEADER_MS,
        body_idle_timeout_ms: IDLE_MS,
        body_timeout_ms: TOTAL_MS,
        ..common::config()
    }
}

async fn connect(gw: &common::Gateway) -> TcpStream {
    TcpStream::connect(gw.base.trim_start_matches("http://"))
        .await
        .unwrap()
}

/// Read until the server closes the connection (or resets it), within [`DEADLINE`]; what it
/// sent, and when it closed.
async fn read_until_closed(stream: &mut TcpStream) -> (Vec<u8>, Instant) {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(DEADLINE, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .expect("the gateway must close the connection");
    (received, Instant::now())
}

/// Status, headers (lowercased names) and JSON body of one raw HTTP/1.1 response.
fn parse_response(raw: &[u8]) -> (u16, String, Value) {
    let text = String::from_utf8_lossy(raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (
        status,
        head.to_ascii_lowercase(),
        serde_json::from_str(body).unwrap(),
    )
}

/// A recorder that keeps every counter increment by metric name. The tests run on one thread
/// (tokio's current-thread runtime), the gateway's tasks with them, so a thread-local recorder
/// sees the gateway's counters.
#[derive(Default)]
struct Increments(Arc<Mutex<Vec<(String, u64)>>>);

struct CounterOf(String, Arc<Mutex<Vec<(String, u64)>>>);

impl metrics::CounterFn for CounterOf {
    fn increment(&self, value: u64) {
        self.1.lock().unwrap().push((self.0.clone(), value));
    }

    fn absolute(&self, _: u64) {}
}

impl metrics::Recorder for Increments {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(Arc::new(CounterOf(key.name().to_string(), self.0.clone())))
    }

    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }

    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

impl Increments {
    fn total(&self, name: &str) -> u64 {
        let seen = self.0.lock().unwrap();
        seen.iter().filter(|(n, _)| n == name).map(|(_, v)| v).sum()
    }
}

fn request_timeout(message: &str) -> Value {
    json!({
        "message": message,
        "code": "request_timeout",
        "type": "invalid_request",
        "link": "https://docs.meilisearch.com/errors#request_timeout"
    })
}

#[tokio::test]
async fn half_sent_headers_and_idle_keep_alive_connections_are_closed() {
    let increments = Increments::default();
    let _recorder = metrics::set_default_local_recorder(&increments);
    let gw = common::start(config()).await;

    // Half a header line, then nothing.
    let mut stream = connect(&gw).await;
    let opened = Instant::now();
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: loc")
        .await
        .unwrap();
    let (received, closed) = read_until_closed(&mut stream).await;
    let lasted = closed - opened;
    assert!(received.is_empty(), "no answer to half a request");
    assert!(
        lasted >= Duration::from_millis(HEADER_MS - 50),
        "closed after {lasted:?}, before the header timeout"
    );
    println!(
        "half-sent headers: connection closed after {lasted:?} (header_timeout_ms {HEADER_MS})"
    );
    // Counted once the connection's task has seen the timeout, which may be just after the
    // client saw the connection close.
    until("the header timeout to be counted", DEADLINE, || async {
        Ok(
            match increments.total("miroir_gateway_header_timeouts_total") {
                1 => Attempt::Ready(()),
                n => Attempt::Retry(format!("counted {n}")),
            },
        )
    })
    .await
    .unwrap();

    // A whole request is answered, then the idle connection is closed after the same bound.
    let mut stream = connect(&gw).await;
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = tokio::time::timeout(DEADLINE, stream.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let answered = Instant::now();
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    let (rest, closed) = read_until_closed(&mut stream).await;
    assert!(rest.is_empty());
    let idle = closed - answered;
    assert!(
        idle >= Duration::from_millis(HEADER_MS - 50),
        "idle connection closed after {idle:?}"
    );
    println!("idle keep-alive connection closed after {idle:?}");

    gw.stop().await;
}

#[tokio::test]
async fn a_stalled_body_gets_408_and_the_connection_closes() {
    let gw = common::start(config()).await;
    gw.put_index("npm", Some("id")).await;

    // An upload: headers, a piece of the body, then nothing.
    let mut stream = connect(&gw).await;
    let head = format!(
        "POST /indexes/npm/documents HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n",
        common::KEY
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(br#"[{"id": 1, "ti"#).await.unwrap();
    let stalled = Instant::now();
    let (received, closed) = read_until_closed(&mut stream).await;
    let (status, headers, body) = parse_response(&received);
    assert_eq!(status, 408, "{body}");
    assert!(headers.contains("connection: close"), "{headers}");
    assert_eq!(
        body,
        request_timeout(&format!(
            "The request body was not received in time: no byte arrived for {IDLE_MS} ms."
        ))
    );
    let lasted = closed - stalled;
    assert!(lasted >= Duration::from_millis(IDLE_MS - 50), "{lasted:?}");
    println!("stalled upload cut after {lasted:?} (body_idle_timeout_ms {IDLE_MS})");

    // A JSON route's body (a search) is bounded alike.
    let mut stream = connect(&gw).await;
    let head = format!(
        "POST /indexes/npm/search HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"q\":",
        common::KEY
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let (received, _) = read_until_closed(&mut stream).await;
    let (status, headers, _) = parse_response(&received);
    assert_eq!(status, 408);
    assert!(headers.contains("connection: close"), "{headers}");

    gw.stop().await;
}

#[tokio::test]
async fn a_body_that_trickles_in_is_cut_by_the_total_bound() {
    let gw = common::start(config()).await;
    let mut stream = connect(&gw).await;
    let head = format!(
        "POST /indexes/npm/documents HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\nContent-Type: application/x-ndjson\r\nContent-Length: 100000\r\n\r\n",
        common::KEY
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    // One byte every 100 ms: never idle for long, never done.
    let (mut reader, mut writer) = stream.into_split();
    let trickle = tokio::spawn(async move {
        while writer.write_all(b" ").await.is_ok() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let mut received = Vec::new();
    tokio::time::timeout(DEADLINE, reader.read_to_end(&mut received))
        .await
        .expect("the gateway must close the connection")
        .ok();
    let lasted = started.elapsed();
    trickle.abort();
    let (status, _, body) = parse_response(&received);
    assert_eq!(status, 408, "{body}");
    assert_eq!(
        body,
        request_timeout(&format!(
            "The request body was not received in time: it took longer than {TOTAL_MS} ms."
        ))
    );
    assert!(lasted >= Duration::from_millis(TOTAL_MS - 50), "{lasted:?}");
    println!("trickling upload cut after {lasted:?} (body_timeout_ms {TOTAL_MS})");
    gw.stop().await;
}

#[tokio::test]
async fn a_slow_but_steady_upload_succeeds() {
    // Waits of 250 ms, each well under the idle bound, 3 s in all: the total bound is raised
    // so that it is not what this test is about.
    let gw = common::start(Config {
        body_timeout_ms: 10_000,
        ..config()
    })
    .await;
    gw.put_index("npm", Some("id")).await;
    let mut router = common::fake(&gw.nats, Service::Router).await;
    router
        .serve::<DocumentsCommit, _, _>(|commit, _| async move {
            assert_eq!(commit.documents, 12);
            Ok(common::task(
                7,
                &commit.index_uid,
                "documentAdditionOrUpdate",
            ))
        })
        .await
        .unwrap();

    // 12 documents, one every 250 ms.
    let pieces = (0..12).map(|i| Bytes::from(format!("{{\"id\": {i}}}\n")));
    let body = futures::stream::unfold(pieces, |mut pieces| async move {
        tokio::time::sleep(Duration::from_millis(250)).await;
        pieces.next().map(|p| (Ok::<_, std::io::Error>(p), pieces))
    });
    let started = Instant::now();
    let response = common::http()
        .post(gw.url("/indexes/npm/documents"))
        .bearer_auth(common::KEY)
        .header("Content-Type", "application/x-ndjson")
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let answer: Value = response.json().await.unwrap();
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["taskUid"], 7);
    println!(
        "a steady upload of 12 pieces 250 ms apart took {:?}",
        started.elapsed()
    );
    router.shutdown(Duration::from_secs(1)).await;
    gw.stop().await;
}
