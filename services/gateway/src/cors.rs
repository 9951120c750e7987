//! CORS as Meilisearch configures it (any origin, method and header; preflight cached a day),
//! so that browser clients (instant-meilisearch, meilisearch-js in a page) work. Preflight
//! requests are answered before routing and authentication, since browsers send them without
//! the `Authorization` header.

use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, ORIGIN,
};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::Response;

const ANY: HeaderValue = HeaderValue::from_static("*");
const METHODS: HeaderValue = HeaderValue::from_static("GET, POST, PUT, PATCH, DELETE, OPTIONS");
const ONE_DAY: HeaderValue = HeaderValue::from_static("86400");

/// Meilisearch's answer to a browser's preflight request (`OPTIONS` with `Origin` and
/// `Access-Control-Request-Method`), or `None` for any other request.
pub fn preflight(req: &Request) -> Option<Response> {
    let is_preflight = req.method() == Method::OPTIONS
        && req.headers().contains_key(ORIGIN)
        && req.headers().contains_key(ACCESS_CONTROL_REQUEST_METHOD);
    if !is_preflight {
        return None;
    }
    let requested_headers = req.headers().get(ACCESS_CONTROL_REQUEST_HEADERS).cloned();
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, ANY);
    headers.insert(ACCESS_CONTROL_ALLOW_METHODS, METHODS);
    headers.insert(ACCESS_CONTROL_MAX_AGE, ONE_DAY);
    if let Some(requested) = requested_headers {
        headers.insert(ACCESS_CONTROL_ALLOW_HEADERS, requested);
    }
    Some(response)
}

/// Whether the answer to `req` must allow its origin ([`allow_origin`]): it names one.
pub fn has_origin(req: &Request) -> bool {
    req.headers().contains_key(ORIGIN)
}

/// Allow any origin on the answer to a request that named one.
pub fn allow_origin(response: &mut Response) {
    response
        .headers_mut()
        .insert(ACCESS_CONTROL_ALLOW_ORIGIN, ANY);
}
