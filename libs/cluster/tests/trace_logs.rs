//! A request served inside a trace logs, in JSON, an `rpc` span carrying the caller's trace id,
//! the caller's span as `parent_span_id` and a span id of its own. (Alone in its test binary: the
//! log subscriber is set for this test's thread, and `tracing` caches which call sites are on
//! per process.)
#![allow(clippy::unwrap_used, clippy::panic)]

use std::time::Duration;

use bytes::Bytes;
use miroir_cluster::bus::{Requester, ServiceRunner};
use miroir_cluster::trace::{self, Active};
use miroir_proto::rpc::{JsonBody, TaskGet};
use miroir_proto::subjects::Service;
use miroir_testkit::NatsServer;

const CLIENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

/// A writer into a shared buffer, for reading the log lines back.
#[derive(Clone, Default)]
struct Buffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// On one thread, so that the log subscriber set here sees the replica's tasks.
#[tokio::test(flavor = "current_thread")]
async fn a_served_request_logs_its_trace_in_json() {
    use miroir_cluster::telemetry::{LogFormat, subscriber};
    let buffer = Buffer::default();
    let out = buffer.clone();
    let _logs =
        tracing::subscriber::set_default(subscriber(LogFormat::Json, move || out.clone(), false));
    let nats = NatsServer::start().await.unwrap();
    let server = nats.connect().await.unwrap();
    let mut runner = ServiceRunner::start(&server, Service::Router, "0.0.0", "test")
        .await
        .unwrap();
    runner
        .serve(move |_: TaskGet, _| async move {
            tracing::info!("handling the request");
            Ok(JsonBody { body: Bytes::new() })
        })
        .await
        .unwrap();
    runner.ready().await.unwrap();
    let requester = Requester::new(nats.connect().await.unwrap()).await.unwrap();
    let (caller, _) = Active::received(Some(CLIENT), None);
    trace::scope(
        caller.clone(),
        requester.request(&TaskGet { uid: 1 }, Duration::from_secs(10)),
    )
    .await
    .unwrap();
    runner.shutdown(Duration::from_secs(2)).await;

    let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    let line: serde_json::Value = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|l| l["message"] == "handling the request")
        .unwrap_or_else(|| panic!("{text}"));
    let span = &line["span"];
    assert_eq!(span["name"], "rpc", "{line}");
    assert_eq!(span["op"], "task.get", "{line}");
    assert_eq!(span["trace_id"], caller.context.trace_id().to_string());
    assert_eq!(span["parent_span_id"], caller.context.span_id().to_string());
    let own = span["span_id"].as_str().unwrap();
    assert_eq!(own.len(), 16);
    assert_ne!(own, caller.context.span_id().to_string());
}
