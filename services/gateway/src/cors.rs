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
use axum::middleware::Next;
use axum::response::Response;

const ANY: HeaderValue = HeaderValue::from_static("*");
const METHODS: HeaderValue = HeaderValue::from_static("GET, POST, PUT, PATCH, DELETE, OPTIONS");
const ONE_DAY: HeaderValue = HeaderValue::from_static("86400");

pub async fn cors(req: Request, next: Next) -> Response {
    let has_origin = req.headers().contains_key(ORIGIN);
    let is_preflight = req.method() == Method::OPTIONS
        && has_origin
        && req.headers().contains_key(ACCESS_CONTROL_REQUEST_METHOD);
    if is_preflight {
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
        return response;
    }
    let mut response = next.run(req).await;
    if has_origin {
        response
            .headers_mut()
            .insert(ACCESS_CONTROL_ALLOW_ORIGIN, ANY);
    }
    response
}
