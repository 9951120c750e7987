//! Request bodies that stall, or take too long, are cut: a client cannot hold a connection (and,
//! for an upload, a slot and the chunks spooled so far) by sending its body slowly.
//!
//! Each request body is wrapped in a [`TimedBody`] that counts only the time the gateway spends
//! waiting for the client's bytes: from when the handler asks for the next piece until it comes.
//! Time the gateway spends on its own side between two reads (storing a chunk in the WAL) does
//! not count, so a slow cluster never turns into the client's timeout. The body fails with
//! [`BodyTimeout`] when one wait lasts `body_idle_timeout_ms`, or all waits together
//! `body_timeout_ms`. The failure is logged and counted (`miroir_gateway_body_timeouts_total`,
//! by kind) where it happens, whatever the handler makes of it; [`bound_bodies`] then answers 408
//! `request_timeout` with `Connection: close`, so that the connection ends with the request even
//! when the client is still there.

use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::BoxError;
use axum::body::Body;
use axum::extract::Request;
use axum::http::HeaderValue;
use axum::http::header::CONNECTION;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use miroir_proto::{ErrorCode, MeiliError};
use tokio::time::{Instant, Sleep};

use crate::state::AppState;

/// Why a request body was cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BodyTimeout {
    #[error("no byte of the request body for {} ms", .0.as_millis())]
    Idle(Duration),
    #[error("the request body took longer than {} ms", .0.as_millis())]
    Total(Duration),
}

impl BodyTimeout {
    pub fn kind(self) -> &'static str {
        match self {
            BodyTimeout::Idle(_) => "idle",
            BodyTimeout::Total(_) => "total",
        }
    }

    /// What the client gets: 408 `request_timeout`.
    pub fn to_meili(self) -> MeiliError {
        let message = match self {
            BodyTimeout::Idle(d) => format!(
                "The request body was not received in time: no byte arrived for {} ms.",
                d.as_millis()
            ),
            BodyTimeout::Total(d) => format!(
                "The request body was not received in time: it took longer than {} ms.",
                d.as_millis()
            ),
        };
        MeiliError::new(ErrorCode::RequestTimeout, message)
    }

    /// The timeout behind a body read error, if that is what it was.
    pub fn of(error: axum::Error) -> Option<BodyTimeout> {
        error
            .into_inner()
            .downcast::<BodyTimeout>()
            .ok()
            .map(|t| *t)
    }
}

/// The two bounds of a body.
#[derive(Clone, Copy, Debug)]
pub struct BodyLimits {
    pub idle: Duration,
    pub total: Duration,
}

/// A request body whose waits for the client are bounded; see the module doc.
pub struct TimedBody {
    inner: Body,
    limits: BodyLimits,
    /// Time spent waiting for the client so far, not counting the wait in progress.
    waited: Duration,
    /// When the wait in progress began; `None` between a piece and the next request for one.
    wait_started: Option<Instant>,
    /// Fires at the end of the wait in progress's allowance: the idle bound or what is left of
    /// the total, whichever is sooner.
    timer: Pin<Box<Sleep>>,
    /// Set once the body timed out, shared with [`bound_bodies`]; `route` names the request in
    /// the log line.
    fired: Arc<OnceLock<BodyTimeout>>,
    route: String,
}

impl TimedBody {
    pub fn new(
        inner: Body,
        limits: BodyLimits,
        fired: Arc<OnceLock<BodyTimeout>>,
        route: String,
    ) -> Self {
        TimedBody {
            inner,
            limits,
            waited: Duration::ZERO,
            wait_started: None,
            timer: Box::pin(tokio::time::sleep(Duration::ZERO)),
            fired,
            route,
        }
    }
}

impl HttpBody for TimedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if let Some(fired) = this.fired.get() {
            return Poll::Ready(Some(Err(Box::new(*fired))));
        }
        let started = match this.wait_started {
            Some(started) => started,
            None => {
                let now = Instant::now();
                let left = this.limits.total.saturating_sub(this.waited);
                this.timer.as_mut().reset(now + this.limits.idle.min(left));
                this.wait_started = Some(now);
                now
            }
        };
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.waited += started.elapsed();
                this.wait_started = None;
                Poll::Ready(frame.map(|f| f.map_err(BoxError::from)))
            }
            Poll::Pending => {
                if this.timer.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                let waited = this.waited + started.elapsed();
                let timeout = if waited >= this.limits.total {
                    BodyTimeout::Total(this.limits.total)
                } else {
                    BodyTimeout::Idle(this.limits.idle)
                };
                let _ = this.fired.set(timeout);
                metrics::counter!("miroir_gateway_body_timeouts_total", "kind" => timeout.kind())
                    .increment(1);
                tracing::warn!(
                    route = %this.route,
                    kind = timeout.kind(),
                    waited_ms = waited.as_millis() as u64,
                    "request body timed out; the connection is closed"
                );
                Poll::Ready(Some(Err(Box::new(timeout))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.fired.get().is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Around every routed request: wraps its body (when it has one) in a [`TimedBody`] and runs
/// `route` on it; if the body timed out, answers 408 `request_timeout` with `Connection: close`
/// whatever the handler answered (a handler may have seen it as an incomplete payload).
pub async fn bound_bodies<F, Fut>(state: &AppState, req: Request, route: F) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Response>,
{
    if req.body().is_end_stream() {
        return route(req).await;
    }
    let limits = BodyLimits {
        idle: state.config().body_idle_timeout(),
        total: state.config().body_timeout(),
    };
    let fired = Arc::new(OnceLock::new());
    let name = format!("{} {}", req.method(), req.uri().path());
    let (parts, body) = req.into_parts();
    let body = Body::new(TimedBody::new(body, limits, fired.clone(), name));
    let response = route(Request::from_parts(parts, body)).await;
    let Some(timeout) = fired.get() else {
        return response;
    };
    let mut response = timeout.to_meili().into_response();
    response
        .headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    response
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use futures::StreamExt;

    fn limits(idle_ms: u64, total_ms: u64) -> BodyLimits {
        BodyLimits {
            idle: Duration::from_millis(idle_ms),
            total: Duration::from_millis(total_ms),
        }
    }

    /// A body fed by hand: `tx` sends pieces, dropping it ends the body.
    fn fed(
        limits: BodyLimits,
    ) -> (
        futures::channel::mpsc::Sender<Bytes>,
        Body,
        Arc<OnceLock<BodyTimeout>>,
    ) {
        let (tx, rx) = futures::channel::mpsc::channel::<Bytes>(8);
        let inner = Body::from_stream(rx.map(Ok::<_, std::io::Error>));
        let fired = Arc::new(OnceLock::new());
        let body = Body::new(TimedBody::new(
            inner,
            limits,
            fired.clone(),
            "POST /t".into(),
        ));
        (tx, body, fired)
    }

    /// A recorder that keeps every counter increment as `name{label=value,...}`.
    #[derive(Default)]
    struct Increments(Arc<std::sync::Mutex<Vec<(String, u64)>>>);

    struct CounterOf(String, Arc<std::sync::Mutex<Vec<(String, u64)>>>);

    impl metrics::CounterFn for CounterOf {
        fn increment(&self, value: u64) {
            self.1.lock().unwrap().push((self.0.clone(), value));
        }

        fn absolute(&self, _: u64) {}
    }

    impl metrics::Recorder for Increments {
        fn describe_counter(
            &self,
            _: metrics::KeyName,
            _: Option<metrics::Unit>,
            _: metrics::SharedString,
        ) {
        }
        fn describe_gauge(
            &self,
            _: metrics::KeyName,
            _: Option<metrics::Unit>,
            _: metrics::SharedString,
        ) {
        }
        fn describe_histogram(
            &self,
            _: metrics::KeyName,
            _: Option<metrics::Unit>,
            _: metrics::SharedString,
        ) {
        }

        fn register_counter(
            &self,
            key: &metrics::Key,
            _: &metrics::Metadata<'_>,
        ) -> metrics::Counter {
            let labels: Vec<String> = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            let name = format!("{}{{{}}}", key.name(), labels.join(","));
            metrics::Counter::from_arc(Arc::new(CounterOf(name, self.0.clone())))
        }

        fn register_gauge(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
            metrics::Gauge::noop()
        }

        fn register_histogram(
            &self,
            _: &metrics::Key,
            _: &metrics::Metadata<'_>,
        ) -> metrics::Histogram {
            metrics::Histogram::noop()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_body_fails_with_the_idle_timeout() {
        // A current-thread runtime: the body is polled on this thread, where the recorder is.
        let increments = Increments::default();
        let _recorder = metrics::set_default_local_recorder(&increments);
        let (mut tx, body, fired) = fed(limits(100, 10_000));
        let mut stream = body.into_data_stream();
        tx.try_send(Bytes::from_static(b"[")).unwrap();
        assert_eq!(stream.next().await.unwrap().unwrap(), "[");
        let error = stream.next().await.unwrap().unwrap_err();
        assert_eq!(
            BodyTimeout::of(error),
            Some(BodyTimeout::Idle(Duration::from_millis(100)))
        );
        assert_eq!(fired.get().map(|t| t.kind()), Some("idle"));
        assert_eq!(fired.get().unwrap().to_meili().status, 408);
        assert_eq!(
            *increments.0.lock().unwrap(),
            vec![(
                "miroir_gateway_body_timeouts_total{kind=idle}".to_string(),
                1
            )]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn steady_pieces_pass_until_the_total_is_spent_and_own_time_does_not_count() {
        let (mut tx, body, _fired) = fed(limits(100, 350));
        let mut stream = body.into_data_stream();
        // Three waits of 80 ms: each under the idle bound, 240 ms of the 350 in all.
        for _ in 0..3 {
            let feeder = {
                let mut tx = tx.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(80)).await;
                    tx.try_send(Bytes::from_static(b"x")).unwrap();
                })
            };
            assert_eq!(stream.next().await.unwrap().unwrap(), "x");
            feeder.await.unwrap();
            // The gateway's own time between reads (a WAL store) is not the client's.
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
        // 110 ms left of the total, the idle bound is 100: the idle bound cuts first...
        tx.try_send(Bytes::from_static(b"y")).unwrap();
        assert_eq!(stream.next().await.unwrap().unwrap(), "y");
        let feeder = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(90)).await;
            tx.try_send(Bytes::from_static(b"z")).unwrap();
            tx
        });
        assert_eq!(stream.next().await.unwrap().unwrap(), "z");
        let _tx = feeder.await.unwrap();
        // ...and with 20 ms of the total left, the total cuts the next wait.
        let error = stream.next().await.unwrap().unwrap_err();
        assert_eq!(
            BodyTimeout::of(error),
            Some(BodyTimeout::Total(Duration::from_millis(350)))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_complete_body_ends_normally() {
        let (mut tx, body, fired) = fed(limits(100, 1_000));
        tx.try_send(Bytes::from_static(b"{}")).unwrap();
        drop(tx);
        let bytes = axum::body::to_bytes(body, 1024).await.unwrap();
        assert_eq!(bytes, "{}");
        assert!(fired.get().is_none());
    }
}
