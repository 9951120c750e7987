//! A request whose connection to NATS is lost and made again while it waits is answered in
//! bounded time, well before its deadline: with a 504 once the replica has been silent for
//! `LOST_AFTER` (its answer was lost with the connection), with its answer when the replica is
//! still working on it (its repeated acknowledgements keep the request waiting).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use miroir_cluster::bus::{LOST_AFTER, Requester, ServiceRunner};
use miroir_proto::Rpc;
use miroir_proto::rpc::{JsonBody, TaskGet};
use miroir_proto::subjects::Service;
use miroir_testkit::{NatsServer, SilentReplica};
use tokio::sync::Notify;

/// Far beyond what either scenario may take: waiting it out is the failure.
const DEADLINE: Duration = Duration::from_secs(40);

/// Time to notice a new connection and for the replica to be heard again, at most.
const RECONNECT_ROOM: Duration = Duration::from_secs(6);

#[tokio::test]
async fn an_answer_lost_with_the_connection_is_a_504_soon_after_it_is_back() {
    let mut nats = NatsServer::start().await.unwrap();
    // A replica that takes the request (acknowledges it) and whose answer never comes: it went
    // down with the server.
    let replica = nats.connect().await.unwrap();
    let sub = replica.subscribe(TaskGet::subject()).await.unwrap();
    replica.flush().await.unwrap();
    let silent = SilentReplica::start(replica.clone(), sub);
    let requester = Requester::new(nats.connect().await.unwrap()).await.unwrap();
    let request = tokio::spawn({
        let requester = requester.clone();
        async move { requester.request(&TaskGet { uid: 1 }, DEADLINE).await }
    });
    silent.taken(Duration::from_secs(10)).await.unwrap();
    // The acknowledgement is on its way, or there: let it arrive before the server goes.
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(silent);
    drop(replica);
    nats.restart().await.unwrap();
    let back = Instant::now();

    let e = tokio::time::timeout(DEADLINE, request)
        .await
        .expect("the request waited out its deadline")
        .unwrap()
        .unwrap_err();
    let after = back.elapsed();
    assert_eq!(
        (e.status, e.code.as_str()),
        (504, "service_timeout"),
        "{e:?}"
    );
    assert!(
        e.message.contains("connection to NATS was lost"),
        "{}",
        e.message
    );
    assert!(
        after < LOST_AFTER + RECONNECT_ROOM,
        "answered {after:?} after NATS was back"
    );
    assert_eq!(requester.waiting(), 0);
}

#[tokio::test]
async fn a_request_still_handled_across_the_reconnection_gets_its_answer() {
    let mut nats = NatsServer::start().await.unwrap();
    let replica_client = nats.connect().await.unwrap();
    let started = Arc::new(Notify::new());
    // Longer than LOST_AFTER once NATS is back: only the repeated acknowledgements keep the
    // request waiting.
    let work = LOST_AFTER * 2 + Duration::from_secs(1);
    let mut replica = ServiceRunner::start(&replica_client, Service::Router, "0.0.0", "test")
        .await
        .unwrap();
    replica
        .serve({
            let started = started.clone();
            move |req: TaskGet, _| {
                let started = started.clone();
                async move {
                    started.notify_one();
                    tokio::time::sleep(work).await;
                    Ok(JsonBody {
                        body: Bytes::from(format!("done {}", req.uid)),
                    })
                }
            }
        })
        .await
        .unwrap();
    replica.ready().await.unwrap();
    let requester = Requester::new(nats.connect().await.unwrap()).await.unwrap();
    let request = tokio::spawn({
        let requester = requester.clone();
        async move { requester.request(&TaskGet { uid: 9 }, DEADLINE).await }
    });
    tokio::time::timeout(Duration::from_secs(10), started.notified())
        .await
        .unwrap();
    nats.restart().await.unwrap();

    let reply = tokio::time::timeout(DEADLINE, request)
        .await
        .expect("the request waited out its deadline")
        .unwrap()
        .unwrap();
    assert_eq!(reply.body, Bytes::from("done 9"));
    replica.shutdown(Duration::from_secs(2)).await;
}
