//! A request id for every HTTP request, returned to the client in `x-request-id` so that a
//! report ("my search at 10:02 failed") can be found in the logs.
//!
//! The client's own `x-request-id` is kept when it is sane (1 to 128 visible ASCII characters,
//! as load balancers and proxies generate them); otherwise the gateway makes one (a UUID v4).
//! The id is put in the request's extensions ([`RequestId`]) for handlers that pass it on, and
//! every log line of the request carries it through the `request` span (also in JSON logs, as
//! the span's `request_id` field).
//!
//! The same step starts the request's trace ([`miroir_cluster::trace`]): the client's
//! `traceparent` when it is valid (with its `tracestate`), else a new trace. The `request` span
//! carries `trace_id`, `span_id` (the gateway's) and `parent_span_id` (the client's, if any);
//! every request to the router or the merger made while serving it carries the gateway's span
//! in its NATS headers, and the response carries it in `traceresponse`.

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::response::Response;
use miroir_cluster::trace;
use tracing::Instrument;

/// The header, in both directions.
pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");
/// The client's trace context (W3C Trace Context) is read from `traceparent`, and its vendor
/// trace state from `tracestate`, passed on with a valid `traceparent`.
pub use miroir_cluster::trace::{TRACEPARENT, TRACESTATE};
/// The gateway's span of the request, returned (W3C Trace Context Level 2 `traceresponse`:
/// `00-<trace id>-<gateway span id>-<flags>`), so that a client that sent no `traceparent` learns
/// the trace id to look for in the logs.
pub const TRACERESPONSE: HeaderName = HeaderName::from_static("traceresponse");

/// The id of the request being served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestId(pub String);

/// The client's id when it is one we can log and echo, else a new one.
fn pick(given: Option<&HeaderValue>) -> String {
    given
        .and_then(|v| v.to_str().ok())
        .filter(|v| (1..=128).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// A request's id and trace span, from [`begin`] to [`Begun::answer`].
pub struct Begun {
    id: String,
    span: tracing::Span,
    active: trace::Active,
}

/// Take the request's id (the client's `x-request-id` if sane, else a new UUID) and trace
/// context (its `traceparent`, else a new trace), and put the id in its extensions.
pub fn begin(req: &mut Request) -> Begun {
    let id = pick(req.headers().get(&HEADER));
    let (active, parent) =
        trace::Active::received(header_str(req, &TRACEPARENT), header_str(req, &TRACESTATE));
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %req.method(),
        path = %req.uri().path(),
        trace_id = %active.context.trace_id(),
        span_id = %active.context.span_id(),
        parent_span_id = tracing::field::Empty,
    );
    trace::record_parent(&span, parent);
    req.extensions_mut().insert(RequestId(id.clone()));
    Begun { id, span, active }
}

impl Begun {
    /// Run `answer` in the request's span and trace context, and name both in its headers
    /// (`x-request-id`, `traceresponse`).
    pub async fn answer(self, answer: impl Future<Output = Response>) -> Response {
        let Begun { id, span, active } = self;
        let context = active.context;
        let mut response = trace::scope(active, answer.instrument(span)).await;
        let headers = response.headers_mut();
        if let Ok(value) = HeaderValue::from_str(&id) {
            headers.insert(HEADER, value);
        }
        headers.insert(TRACERESPONSE, context.header_value());
        response
    }
}

/// A header's value when it is there once and is text: a repeated `traceparent` is invalid
/// (the specification), and `tracestate` is taken only when it comes as one header.
fn header_str<'r>(req: &'r Request, name: &HeaderName) -> Option<&'r str> {
    let mut values = req.headers().get_all(name).iter();
    match (values.next(), values.next()) {
        (Some(value), None) => value.to_str().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_sane_client_id_is_kept_and_anything_else_replaced() {
        let v = |s: &str| HeaderValue::from_str(s).unwrap();
        assert_eq!(pick(Some(&v("req-42/abc"))), "req-42/abc");
        for bad in ["", "has space", &"x".repeat(129)] {
            let picked = pick(Some(&v(bad)));
            assert_ne!(picked, bad);
            assert!(uuid::Uuid::parse_str(&picked).is_ok(), "{picked}");
        }
        assert!(uuid::Uuid::parse_str(&pick(None)).is_ok());
    }
}
