//! One API key has at most `max_concurrent_uploads_per_key` document uploads in flight: the next
//! one gets 429 `too_many_requests` with `Retry-After` while another key still uploads, and a
//! slot comes back when an upload finishes or its client goes away (no slot leaks).
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use miroir_gateway::Config;
use miroir_proto::rpc::DocumentsCommit;
use miroir_proto::subjects::Service;
use miroir_testkit::wait::{Attempt, until};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const MAX: usize = 8;

const FIRST: &[u8] = b"{\"id\": 1}\n";
const REST: &[u8] = b"{\"id\": 3}\n";

/// An upload whose body is still arriving, on its own connection: [`OpenUpload::finish`] sends
/// the rest and reads the answer; dropping it closes the connection mid-body (a client gone).
struct OpenUpload {
    stream: TcpStream,
}

impl OpenUpload {
    async fn open(key: &str, base: &str) -> Self {
        let mut stream = TcpStream::connect(base.trim_start_matches("http://"))
            .await
            .unwrap();
        let head = format!(
            "POST /indexes/npm/documents HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {key}\r\nContent-Type: application/x-ndjson\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            FIRST.len() + REST.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(FIRST).await.unwrap();
        OpenUpload { stream }
    }

    /// The rest of the body, then the answer's status.
    async fn finish(mut self) -> u16 {
        self.stream.write_all(REST).await.unwrap();
        let mut answer = Vec::new();
        tokio::time::timeout(
            Duration::from_secs(10),
            self.stream.read_to_end(&mut answer),
        )
        .await
        .unwrap()
        .unwrap();
        let text = String::from_utf8_lossy(&answer);
        text.split(' ').nth(1).unwrap().parse().unwrap()
    }
}

async fn post(key: &str, base: &str, body: reqwest::Body) -> (u16, Value) {
    let response = common::http()
        .post(format!("{base}/indexes/npm/documents"))
        .bearer_auth(key)
        .header("Content-Type", "application/x-ndjson")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    let mut body: Value = response.json().await.unwrap();
    if status == 429 {
        // Carried in the body for the assertions below.
        body["retryAfter"] = json!(retry_after);
    }
    (status, body)
}

async fn open_uploads(n: usize, key: &str, base: &str) -> Vec<OpenUpload> {
    let mut open = Vec::new();
    for _ in 0..n {
        open.push(OpenUpload::open(key, base).await);
    }
    open
}

/// A whole upload of one document.
async fn upload_one(key: &str, base: &str) -> (u16, Value) {
    post(key, base, reqwest::Body::from("{\"id\": 2}\n")).await
}

/// Uploads with `key` until one is refused, within a deadline: the open uploads reach the
/// handler in their own time, and a probe that gets there first simply succeeds.
async fn until_refused(key: &str, base: &str) -> Value {
    until(
        "an upload to be refused",
        Duration::from_secs(10),
        || async {
            Ok(match upload_one(key, base).await {
                (429, body) => Attempt::Ready(body),
                (status, body) => Attempt::Retry(format!("{status} {body}")),
            })
        },
    )
    .await
    .unwrap()
}

async fn until_accepted(key: &str, base: &str) {
    until(
        "an upload to be accepted",
        Duration::from_secs(10),
        || async {
            Ok(match upload_one(key, base).await {
                (202, _) => Attempt::Ready(()),
                (status, body) => Attempt::Retry(format!("{status} {body}")),
            })
        },
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn the_ninth_upload_of_a_key_waits_and_slots_come_back() {
    let gw = common::start(Config {
        max_concurrent_uploads_per_key: MAX,
        ..common::config()
    })
    .await;
    gw.put_index("npm", Some("id")).await;
    let mut router = common::fake(&gw.nats, Service::Router).await;
    router
        .serve::<DocumentsCommit, _, _>(|commit, _| async move {
            Ok(common::task(
                1,
                &commit.index_uid,
                "documentAdditionOrUpdate",
            ))
        })
        .await
        .unwrap();
    let created = gw
        .client()
        .post(
            "/keys",
            &json!({"actions": ["documents.add"], "indexes": ["*"], "expiresAt": null}),
        )
        .await
        .unwrap();
    assert_eq!(created.status, 201, "{}", created.body);
    let other_key = created.body["key"].as_str().unwrap().to_string();
    let (master, base) = (common::KEY, gw.base.as_str());

    // Eight uploads of the master key in flight: the ninth is refused.
    let mut open = open_uploads(MAX, master, base).await;
    let refused = until_refused(master, base).await;
    assert_eq!(
        refused,
        json!({
            "message": "Too many document uploads in flight with this API key: at most 8 at once. Retry once one of them has finished.",
            "code": "too_many_requests",
            "type": "invalid_request",
            "link": "https://docs.meilisearch.com/errors#too_many_requests",
            "retryAfter": "1"
        })
    );
    // Another key uploads meanwhile.
    assert_eq!(upload_one(&other_key, base).await.0, 202);
    assert_eq!(upload_one(master, base).await.0, 429);

    // One finishes: its slot is free as soon as its answer is.
    assert_eq!(open.remove(0).finish().await, 202);
    assert_eq!(upload_one(master, base).await.0, 202);

    // Back to eight in flight, then one client goes away mid-body: its slot comes back.
    open.push(OpenUpload::open(master, base).await);
    until_refused(master, base).await;
    drop(open.remove(0));
    until_accepted(master, base).await;

    // Every client goes away: all eight slots come back.
    open.clear();
    until(
        "every slot to come back",
        Duration::from_secs(10),
        || async {
            let fresh = open_uploads(MAX, master, base).await;
            let mut refused = 0;
            for upload in fresh {
                if upload.finish().await == 429 {
                    refused += 1;
                }
            }
            Ok(if refused == 0 {
                Attempt::Ready(())
            } else {
                Attempt::Retry(format!("{refused} of {MAX} refused"))
            })
        },
    )
    .await
    .unwrap();

    router.shutdown(Duration::from_secs(1)).await;
    gw.stop().await;
}
