//! A request made inside a trace carries its `traceparent` and `tracestate` in the NATS headers
//! through a real nats-server, and the replica handles it as a new span of the same trace (the
//! caller's span as parent); a request made outside any trace carries no header and the replica
//! starts a trace of its own.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use miroir_cluster::bus::{Requester, ServiceRunner};
use miroir_cluster::trace::{self, Active, TraceContext};
use miroir_proto::Rpc;
use miroir_proto::rpc::{JsonBody, TaskGet};
use miroir_proto::subjects::{Service, TRACEPARENT_HEADER, TRACESTATE_HEADER};
use miroir_testkit::NatsServer;

const CLIENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

/// A router replica that answers `TaskGet` with the trace context its handler runs in:
/// `<traceparent> <tracestate or ->`.
async fn replica(nats: &async_nats::Client) -> ServiceRunner {
    let mut runner = ServiceRunner::start(nats, Service::Router, "0.0.0", "test")
        .await
        .unwrap();
    runner
        .serve(move |_: TaskGet, _| async move {
            let seen = trace::current().map_or_else(
                || "none".to_owned(),
                |a| {
                    let state = a
                        .state
                        .as_ref()
                        .and_then(|s| s.to_str().ok())
                        .unwrap_or("-");
                    format!("{} {state}", a.context)
                },
            );
            Ok(JsonBody {
                body: Bytes::from(seen),
            })
        })
        .await
        .unwrap();
    runner.ready().await.unwrap();
    runner
}

/// What the handler saw: its own context and the tracestate.
fn seen(reply: &JsonBody) -> (TraceContext, String) {
    let text = std::str::from_utf8(&reply.body).unwrap();
    let (parent, state) = text.split_once(' ').unwrap();
    (TraceContext::parse(parent).unwrap(), state.to_owned())
}

#[tokio::test]
async fn the_trace_context_crosses_nats_in_the_headers() {
    let nats = NatsServer::start().await.unwrap();
    let server = nats.connect().await.unwrap();
    let runner = replica(&server).await;
    // A plain subscriber sees each request as it travels (besides the queue group's replica).
    let watcher = nats.connect().await.unwrap();
    let mut wire = watcher.subscribe(TaskGet::subject()).await.unwrap();
    watcher.flush().await.unwrap();
    let requester = Requester::new(nats.connect().await.unwrap()).await.unwrap();

    let (caller, _) = Active::received(
        Some(CLIENT),
        Some("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"),
    );
    let reply = trace::scope(
        caller.clone(),
        requester.request(&TaskGet { uid: 1 }, Duration::from_secs(10)),
    )
    .await
    .unwrap();
    let message = tokio::time::timeout(Duration::from_secs(5), wire.next())
        .await
        .unwrap()
        .unwrap();
    let headers = message.headers.unwrap();
    assert_eq!(
        headers.get(TRACEPARENT_HEADER).unwrap().as_str(),
        caller.context.to_string(),
        "the caller's span is the receiver's parent"
    );
    assert_eq!(
        headers.get(TRACESTATE_HEADER).unwrap().as_str(),
        "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"
    );
    let (handler, state) = seen(&reply);
    assert_eq!(handler.trace_id, caller.context.trace_id, "same trace");
    assert_ne!(handler.span_id, caller.context.span_id, "a span of its own");
    assert_eq!(handler.flags, caller.context.flags);
    assert_eq!(state, "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");

    // Outside any trace: no header, and the replica starts a trace.
    let reply = requester
        .request(&TaskGet { uid: 2 }, Duration::from_secs(10))
        .await
        .unwrap();
    let message = tokio::time::timeout(Duration::from_secs(5), wire.next())
        .await
        .unwrap()
        .unwrap();
    assert!(
        message
            .headers
            .as_ref()
            .and_then(|h| h.get(TRACEPARENT_HEADER))
            .is_none()
    );
    let (handler, state) = seen(&reply);
    assert_ne!(handler.trace_id, caller.context.trace_id);
    assert_eq!(state, "-");
    runner.shutdown(Duration::from_secs(2)).await;
}
