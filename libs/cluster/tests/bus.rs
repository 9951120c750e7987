//! Every request of a `Requester` is answered through its one reply subscription with its own
//! reply (never another request's, never a late one), whole at any size, with 503 when nobody
//! serves, 504 when nobody answers in time, one resend when nobody acknowledged (a merger's quick
//! answer needs no acknowledgement, a slow one gets one and is not resent, other services
//! acknowledge at once), and no request lost when a replica leaves mid-load.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use miroir_cluster::bus::{ACK_DELAY, ACK_TIMEOUT, Requester, ServiceRunner};
use miroir_proto::rpc::{JsonBody, TaskGet};
use miroir_proto::subjects::{ACK_HEADER, Service};
use miroir_proto::{MeiliError, Outcome, Rpc, decode, encode_outcome};
use miroir_testkit::{NatsOptions, NatsServer};

/// The body a replica answers `TaskGet { uid }` with: `uid` repeated to `uid` bytes at least, so
/// that every reply is recognisable and its size is chosen by the request.
fn body_for(uid: u64) -> Bytes {
    let unit = format!("{uid},");
    let mut out = String::new();
    while out.len() < uid as usize {
        out.push_str(&unit);
    }
    if out.is_empty() {
        out.push_str(&unit);
    }
    Bytes::from(out)
}

/// A router replica answering `TaskGet` with [`body_for`], after `delay`; counts what it handled.
async fn replica(
    nats: &async_nats::Client,
    delay: Duration,
    handled: Arc<AtomicUsize>,
) -> ServiceRunner {
    replica_of(Service::Router, nats, delay, handled).await
}

/// [`replica`] run as a replica of `kind` (which decides when it acknowledges).
async fn replica_of(
    kind: Service,
    nats: &async_nats::Client,
    delay: Duration,
    handled: Arc<AtomicUsize>,
) -> ServiceRunner {
    let mut runner = ServiceRunner::start(nats, kind, "0.0.0", "test")
        .await
        .unwrap();
    runner
        .serve(move |req: TaskGet, _| {
            let handled = handled.clone();
            async move {
                tokio::time::sleep(delay).await;
                handled.fetch_add(1, Ordering::Relaxed);
                Ok(JsonBody {
                    body: body_for(req.uid),
                })
            }
        })
        .await
        .unwrap();
    runner.ready().await.unwrap();
    runner
}

#[tokio::test]
async fn concurrent_requests_share_one_inbox_and_get_their_own_replies() {
    let nats = NatsServer::start().await.unwrap();
    let server = nats.connect().await.unwrap();
    let handled = Arc::new(AtomicUsize::new(0));
    let runner = replica(&server, Duration::ZERO, handled.clone()).await;
    let requester = Requester::new(nats.connect().await.unwrap()).await.unwrap();

    let tasks: Vec<_> = (0..16u64)
        .map(|c| {
            let requester = requester.clone();
            tokio::spawn(async move {
                for i in 0..25u64 {
                    let uid = c * 1000 + i * 7;
                    let reply = requester
                        .request(&TaskGet { uid }, Duration::from_secs(10))
                        .await
                        .unwrap();
                    assert_eq!(reply.body, body_for(uid), "reply to request {uid}");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(handled.load(Ordering::Relaxed), 400);
    assert_eq!(requester.waiting(), 0, "every request forgot its token");
    runner.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test]
async fn replies_larger_than_max_payload_arrive_whole_and_small_ones_in_one_message() {
    let nats = NatsServer::start_with(NatsOptions {
        max_payload: Some(64 * 1024),
        ..Default::default()
    })
    .await
    .unwrap();
    let server = nats.connect().await.unwrap();
    let runner = replica(&server, Duration::ZERO, Arc::new(AtomicUsize::new(0))).await;
    let client = nats.connect().await.unwrap();
    let requester = Requester::new(client.clone()).await.unwrap();

    // Watch the reply subjects: a small reply is one message, a large one several.
    let mut watch = client.subscribe("_INBOX.>").await.unwrap();
    client.flush().await.unwrap();
    let small = requester
        .request(&TaskGet { uid: 1000 }, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(small.body, body_for(1000));
    let mut seen = Vec::new();
    while let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(300), watch.next()).await {
        seen.push(m);
    }
    let answers: Vec<_> = seen
        .iter()
        .filter(|m| {
            m.headers
                .as_ref()
                .is_none_or(|h| h.get(ACK_HEADER).is_none())
        })
        .collect();
    assert_eq!(answers.len(), 1, "a small reply travels as one message");
    assert!(answers[0].headers.is_none(), "with no header");
    let direct: Outcome<JsonBody> = miroir_proto::decode_outcome(&answers[0].payload).unwrap();
    assert_eq!(
        direct,
        Outcome::Ok(JsonBody {
            body: body_for(1000)
        })
    );

    for uid in [64 * 1024 - 200, 64 * 1024, 300_000, 1_000_000] {
        let reply = requester
            .request(&TaskGet { uid }, Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(reply.body, body_for(uid), "reply of {uid} bytes");
    }
    runner.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test]
async fn nobody_serving_is_503_and_nobody_answering_in_time_is_504() {
    let nats = NatsServer::start().await.unwrap();
    let requester = Requester::new(nats.connect().await.unwrap()).await.unwrap();
    let e = requester
        .request(&TaskGet { uid: 1 }, Duration::from_secs(5))
        .await
        .unwrap_err();
    assert_eq!((e.status, e.code.as_str()), (503, "service_unavailable"));

    let server = nats.connect().await.unwrap();
    let runner = replica(
        &server,
        Duration::from_millis(800),
        Arc::new(AtomicUsize::new(0)),
    )
    .await;
    let e: MeiliError = requester
        .request(&TaskGet { uid: 5 }, Duration::from_millis(200))
        .await
        .unwrap_err();
    assert_eq!((e.status, e.code.as_str()), (504, "service_timeout"));
    // The late answer to the request that timed out must not be taken for the next one's.
    let reply = requester
        .request(&TaskGet { uid: 7 }, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(reply.body, body_for(7));
    assert_eq!(requester.waiting(), 0);
    runner.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test]
async fn a_request_nobody_acknowledged_is_sent_once_more() {
    let nats = NatsServer::start().await.unwrap();
    // A replica that loses the first copy (no acknowledgement, no answer) and answers the second.
    let server = nats.connect().await.unwrap();
    let mut sub = server.subscribe(TaskGet::subject()).await.unwrap();
    server.flush().await.unwrap();
    let copies = Arc::new(AtomicUsize::new(0));
    let seen = copies.clone();
    let lossy = tokio::spawn(async move {
        while let Some(msg) = sub.next().await {
            if seen.fetch_add(1, Ordering::Relaxed) == 0 {
                continue;
            }
            let req: TaskGet = decode(&msg.payload).unwrap();
            let reply = msg.reply.unwrap();
            let mut ack = async_nats::HeaderMap::new();
            ack.insert(ACK_HEADER, "1");
            server
                .publish_with_headers(reply.clone(), ack, Bytes::new())
                .await
                .unwrap();
            let outcome = Outcome::Ok(JsonBody {
                body: body_for(req.uid),
            });
            server
                .publish(reply, encode_outcome(&outcome).unwrap().into())
                .await
                .unwrap();
        }
    });
    let requester = Requester::new(nats.connect().await.unwrap()).await.unwrap();
    let started = std::time::Instant::now();
    let reply = requester
        .request(&TaskGet { uid: 42 }, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(reply.body, body_for(42));
    assert_eq!(copies.load(Ordering::Relaxed), 2, "sent exactly twice");
    assert!(started.elapsed() >= ACK_TIMEOUT);
    lossy.abort();
}

/// The messages that reach the reply subjects while `requester` asks for `uid`: (acks, others),
/// server status messages left out.
async fn reply_messages(
    client: &async_nats::Client,
    requester: &Requester,
    uid: u64,
) -> (usize, usize) {
    let mut watch = client.subscribe("_INBOX.>").await.unwrap();
    client.flush().await.unwrap();
    let reply = requester
        .request(&TaskGet { uid }, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(reply.body, body_for(uid));
    let (mut acks, mut others) = (0, 0);
    while let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(300), watch.next()).await {
        if m.headers
            .as_ref()
            .is_some_and(|h| h.get(ACK_HEADER).is_some())
        {
            acks += 1;
        } else if m.status.is_none() {
            others += 1;
        }
    }
    (acks, others)
}

#[tokio::test]
async fn a_quick_read_is_one_message_a_slow_one_is_acknowledged_and_writes_at_once() {
    let nats = NatsServer::start().await.unwrap();
    let client = nats.connect().await.unwrap();
    let requester = Requester::new(client.clone()).await.unwrap();

    // A merger answering at once: the answer alone.
    let handled = Arc::new(AtomicUsize::new(0));
    let quick = replica_of(
        Service::Merger,
        &nats.connect().await.unwrap(),
        Duration::ZERO,
        handled.clone(),
    )
    .await;
    assert_eq!(reply_messages(&client, &requester, 10).await, (0, 1));
    assert_eq!(handled.load(Ordering::Relaxed), 1);
    quick.shutdown(Duration::from_secs(2)).await;

    // A merger slower than the requester's patience without an acknowledgement: the
    // acknowledgement sent after ACK_DELAY keeps the request from being sent again.
    let handled = Arc::new(AtomicUsize::new(0));
    let slow = replica_of(
        Service::Merger,
        &nats.connect().await.unwrap(),
        ACK_TIMEOUT + ACK_DELAY,
        handled.clone(),
    )
    .await;
    assert_eq!(reply_messages(&client, &requester, 11).await, (1, 1));
    assert_eq!(
        handled.load(Ordering::Relaxed),
        1,
        "handled once, not resent"
    );
    slow.shutdown(Duration::from_secs(2)).await;

    // Any other service (a router's writes) acknowledges at once, however quick.
    let handled = Arc::new(AtomicUsize::new(0));
    let router = replica(
        &nats.connect().await.unwrap(),
        Duration::ZERO,
        handled.clone(),
    )
    .await;
    assert_eq!(reply_messages(&client, &requester, 12).await, (1, 1));
    assert_eq!(handled.load(Ordering::Relaxed), 1);
    router.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test]
async fn a_replica_leaving_mid_load_loses_no_request() {
    let nats = NatsServer::start().await.unwrap();
    let (a, b) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let first_client = nats.connect().await.unwrap();
    let second_client = nats.connect().await.unwrap();
    let first = replica(&first_client, Duration::from_millis(2), a.clone()).await;
    let second = replica(&second_client, Duration::from_millis(2), b.clone()).await;
    let requester = Requester::new(nats.connect().await.unwrap()).await.unwrap();

    const CLIENTS: u64 = 8;
    const PER_CLIENT: u64 = 150;
    let done = Arc::new(AtomicUsize::new(0));
    let load: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let requester = requester.clone();
            let done = done.clone();
            tokio::spawn(async move {
                for i in 0..PER_CLIENT {
                    let uid = c * 10_000 + i;
                    let reply = requester
                        .request(&TaskGet { uid }, Duration::from_secs(10))
                        .await
                        .unwrap();
                    assert_eq!(reply.body, body_for(uid));
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    miroir_testkit::wait::until("a third of the load", Duration::from_secs(20), || {
        let n = done.load(Ordering::Relaxed);
        async move {
            Ok(if n as u64 >= CLIENTS * PER_CLIENT / 3 {
                miroir_testkit::wait::Attempt::Ready(())
            } else {
                miroir_testkit::wait::Attempt::Retry(format!("{n} done"))
            })
        }
    })
    .await
    .unwrap();
    assert!(
        (done.load(Ordering::Relaxed) as u64) < CLIENTS * PER_CLIENT,
        "the load ended before the replica left"
    );
    first.shutdown(Duration::from_secs(5)).await;
    for t in load {
        t.await.unwrap();
    }
    assert_eq!(
        (a.load(Ordering::Relaxed) + b.load(Ordering::Relaxed)) as u64,
        CLIENTS * PER_CLIENT
    );
    assert!(b.load(Ordering::Relaxed) > 0 && a.load(Ordering::Relaxed) > 0);
    second.shutdown(Duration::from_secs(2)).await;
}
