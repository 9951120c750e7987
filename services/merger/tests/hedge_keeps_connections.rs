//! Invariants of hedged reads: a copy overtaken by a hedge, and answering soon after, keeps its
//! connection (the merger reads its answer in the background and pools the connection instead
//! of closing it), while a copy stalled past the grace has its connection closed; and hedges
//! that keep losing (sent to a copy slower than the first) make the merger wait longer before
//! the next one, so that fewer are sent.
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
    requests: Arc<AtomicUsize>,
    accept: JoinHandle<()>,
}

impl Node {
    async fn start(name: &'static str, delay: Duration) -> Node {
        Node::start_with(name, move |_| delay).await
    }

    /// A node whose `n`th request (from 0) is answered after `delay(n)`.
    async fn start_with(
        name: &'static str,
        delay: impl Fn(usize) -> Duration + Clone + Send + Sync + 'static,
    ) -> Node {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let connections = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(AtomicUsize::new(0));
        let count = connections.clone();
        let served = requests.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::Relaxed);
                let served = served.clone();
                let delay = delay.clone();
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
                        let n = served.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(delay(n)).await;
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
            requests,
            accept,
        }
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::Relaxed)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

fn reader(min: Duration, max: Duration) -> Reader {
    let nodes = NodeClient::new(None, Duration::from_secs(5)).unwrap();
    Reader::new(
        nodes,
        Some(HedgePolicy {
            min,
            max,
            budget_percent: 100,
        }),
    )
}

/// The two copies of one shard, `first` asked first.
fn copies(first: &Node, second: &Node, names: [&str; 2]) -> [Replica; 2] {
    [
        Replica {
            node: names[0].into(),
            url: first.url.clone(),
            index: "books__s0".into(),
        },
        Replica {
            node: names[1].into(),
            url: second.url.clone(),
            index: "books__s0".into(),
        },
    ]
}

fn search() -> ShardCall<'static> {
    ShardCall {
        op: "search",
        method: Method::POST,
        suffix: "/search",
        body: Some(Bytes::from_static(b"{\"q\":\"\"}")),
    }
}

/// `READS` reads, each hedged from `slow` (first) to `fast`; the connections `slow` accepted.
async fn overtaken_copy_connections(slow_delay: Duration) -> usize {
    let slow = Node::start("slow", slow_delay).await;
    let fast = Node::start("fast", Duration::ZERO).await;
    let five = Duration::from_millis(5);
    let reader = reader(five, five);
    let replicas = copies(&slow, &fast, ["slow", "fast"]);
    let call = search();
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

/// `rounds` reads of one shard whose copies are `first` (named `first_name`, which must answer
/// every read: hedges to `second` lose) and `second`; the hedges sent in each half of them.
async fn hedges_per_half(
    reader: &Reader,
    first: &Node,
    second: &Node,
    first_name: &'static str,
    rounds: usize,
) -> [usize; 2] {
    let replicas = copies(first, second, [first_name, "second"]);
    let call = search();
    let shard = ShardId::new(0).unwrap();
    let expected = format!("{{\"node\":\"{first_name}\"}}");
    let mut hedges = [0usize; 2];
    for i in 0..rounds {
        let before = second.requests();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let body = reader
            .read(&replicas, shard, &call, deadline)
            .await
            .unwrap();
        assert_eq!(
            &body[..],
            expected.as_bytes(),
            "read {i}: the first copy wins"
        );
        // A hedge sent is seen by the second node at once.
        tokio::time::sleep(Duration::from_millis(2)).await;
        hedges[i * 2 / rounds] += second.requests() - before;
    }
    eprintln!(
        "hedges in the first and second halves: {hedges:?}; patience {:.1} deviations",
        reader.patience()
    );
    hedges
}

#[tokio::test]
async fn hedges_that_lose_make_the_next_hedge_later_and_rarer() {
    // The first copy answers in 2 ms, but every 8th request in 20 ms, the second copy always
    // after 60 ms: a hedge never answers first. After a run of quick answers the first copy's
    // deviation is small, so at four deviations its slow answers get hedged every time; a
    // merger that learns from the lost hedges waits longer and stops sending them.
    let varied = Node::start_with("varied", |n| {
        Duration::from_millis(if n % 8 == 7 { 20 } else { 2 })
    })
    .await;
    let slower = Node::start("second", Duration::from_millis(60)).await;
    let reader = reader(Duration::from_millis(1), Duration::from_millis(200));
    let hedges = hedges_per_half(&reader, &varied, &slower, "varied", 200).await;
    assert!(
        reader.patience() > miroir_merger::latency::Patience::FLOOR,
        "losing hedges must raise the wait before the next one"
    );
    assert!(hedges[0] > 0, "the first reads are hedged");
    assert!(
        hedges[1] < hedges[0],
        "fewer hedges once they are seen to lose: {hedges:?}"
    );
}

#[tokio::test]
async fn hedges_sent_at_the_ceiling_that_lose_become_rarer() {
    // Every read of the first copy takes 30 ms, past the 10 ms ceiling, so every read is due a
    // hedge however patient the merger; the second copy takes 60 ms, so no hedge ever wins.
    // The budget allows a hedge per read: only the shrinking share keeps them down.
    let steady = Node::start("steady", Duration::from_millis(30)).await;
    let slower = Node::start("second", Duration::from_millis(60)).await;
    let reader = reader(Duration::from_millis(1), Duration::from_millis(10));
    let hedges = hedges_per_half(&reader, &steady, &slower, "steady", 80).await;
    // The first half spends the burst (10) and then some; the second is funded by a sixteenth
    // to a few tenths of a token per read.
    assert!(hedges[0] >= 10, "{hedges:?}");
    assert!(
        hedges[1] * 2 < hedges[0],
        "hedges that keep losing at the ceiling must become rarer: {hedges:?}"
    );
}
