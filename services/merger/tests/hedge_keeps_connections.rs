//! Invariant: a copy overtaken by a hedge, and answering soon after, keeps its connection: the
//! merger reads its answer in the background and pools the connection instead of closing it,
//! while a copy stalled past the grace has its connection closed.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use miroir_cluster::node::NodeClient;
use miroir_merger::fetch::{DRAIN_GRACE, HedgePolicy, Reader, ShardCall};
use miroir_merger::replicas::Replica;
use miroir_placement::ShardId;
use reqwest::Method;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

const READS: usize = 12;

/// A keep-alive HTTP/1.1 server answering every request with the same small JSON body after
/// `delay`; it counts the connections it accepted.
struct Node {
    url: String,
    connections: Arc<AtomicUsize>,
    accept: JoinHandle<()>,
}

impl Node {
    async fn start(name: &'static str, delay: Duration) -> Node {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let connections = Arc::new(AtomicUsize::new(0));
        let count = connections.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(async move {
                    let body = format!("{{\"node\":\"{name}\"}}");
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    loop {
                        // One request: headers up to the blank line, then Content-Length bytes.
                        let (head_end, length) = loop {
                            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                                let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
                                let length = head
                                    .lines()
                                    .find_map(|l| l.strip_prefix("content-length:"))
                                    .and_then(|v| v.trim().parse::<usize>().ok())
                                    .unwrap_or(0);
                                break (end + 4, length);
                            }
                            match stream.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                        };
                        while buf.len() < head_end + length {
                            match stream.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                        }
                        buf.drain(..head_end + length);
                        tokio::time::sleep(delay).await;
                        let answer = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                            body.len()
                        );
                        if stream.write_all(answer.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Node {
            url,
            connections,
            accept,
        }
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// `READS` reads, each hedged from `slow` (first) to `fast`; the connections `slow` accepted.
async fn overtaken_copy_connections(slow_delay: Duration) -> usize {
    let slow = Node::start("slow", slow_delay).await;
    let fast = Node::start("fast", Duration::ZERO).await;
    let nodes = NodeClient::new(None, Duration::from_secs(5)).unwrap();
    let reader = Reader::new(
        nodes,
        Some(HedgePolicy {
            min: Duration::from_millis(5),
            max: Duration::from_millis(5),
            budget_percent: 100,
        }),
    );
    let replicas = [
        Replica {
            node: "slow".into(),
            url: slow.url.clone(),
            index: "books__s0".into(),
        },
        Replica {
            node: "fast".into(),
            url: fast.url.clone(),
            index: "books__s0".into(),
        },
    ];
    let call = ShardCall {
        op: "search",
        method: Method::POST,
        suffix: "/search",
        body: Some(Bytes::from_static(b"{\"q\":\"\"}")),
    };
    let shard = ShardId::new(0).unwrap();
    for i in 0..READS {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let answer = reader.read(&replicas, shard, &call, deadline).await;
        let body = answer.unwrap_or_else(|e| panic!("read {i} failed: {e:?}"));
        assert_eq!(
            &body[..],
            b"{\"node\":\"fast\"}",
            "read {i}: the hedge wins"
        );
        // The overtaken copy answers meanwhile (or, stalled, is dropped after the grace).
        tokio::time::sleep(slow_delay.min(DRAIN_GRACE) + Duration::from_millis(30)).await;
    }
    slow.connections()
}

#[tokio::test]
async fn an_overtaken_copy_that_answers_within_the_grace_keeps_its_connection() {
    // Answers 30 ms after the hedge (5 ms) was sent: within the 100 ms grace.
    let connections = overtaken_copy_connections(Duration::from_millis(40)).await;
    assert!(
        connections <= 2,
        "{READS} reads overtaken by a hedge opened {connections} connections to the slow copy: \
         its connection must be kept, not closed"
    );
}

#[tokio::test]
async fn a_stalled_copy_has_its_connection_closed_after_the_grace() {
    // Still silent when the grace ends: every read closes its connection and opens a new one.
    let connections = overtaken_copy_connections(DRAIN_GRACE * 3).await;
    assert_eq!(
        connections, READS,
        "a copy stalled past the grace must not hold its connection"
    );
}
