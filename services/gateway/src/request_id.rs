//! A request id for every HTTP request, returned to the client in `x-request-id` so that a
//! report ("my search at 10:02 failed") can be found in the logs.
//!
//! The client's own `x-request-id` is kept when it is sane (1 to 128 visible ASCII characters,
//! as load balancers and proxies generate them); otherwise the gateway makes one (a UUID v4).
//! The id is put in the request's extensions ([`RequestId`]) for handlers that pass it on, and
//! every log line of the request carries it through the `request` span (also in JSON logs, as
//! the span's `request_id` field).

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

/// The header, in both directions.
pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

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

pub async fn layer(mut req: Request, next: Next) -> Response {
    let id = pick(req.headers().get(&HEADER));
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %req.method(),
        path = %req.uri().path()
    );
    req.extensions_mut().insert(RequestId(id.clone()));
    let mut response = next.run(req).instrument(span).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, value);
    }
    response
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
