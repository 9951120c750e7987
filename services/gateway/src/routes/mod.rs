//! The HTTP routes, each answering as Meilisearch 1.50 does. Handlers check their input in
//! Meilisearch's order (query parameters and body first, then the index uid, then whether the
//! index exists), then ask the router (writes) or the merger (reads) over NATS.

mod documents;
mod dumps;
mod facet_search;
mod features;
mod fields;
mod indexes;
mod keys;
mod keys_input;
mod misc;
pub(crate) mod multi_search;
mod search;
mod settings;
mod similar;
mod swap;
mod task_params;
mod tasks;
mod unsupported;
mod upload;
mod webhooks;

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{self, Uri};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{BoxError, Router};
use bytes::Bytes;
use http_body::Body as HttpBody;
use miroir_proto::MeiliError;
use serde::de::DeserializeOwned;
use tower::{Service, ServiceExt};

use crate::state::AppState;
use crate::{auth, body_timeout, cors, errors, metrics};

/// Path parameters whose rejection is a Meilisearch-shaped error.
pub struct PathParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for PathParams<T> {
    type Rejection = MeiliError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, MeiliError> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(v)) => Ok(PathParams(v)),
            Err(rejection) => Err(MeiliError::bad_request(rejection.body_text())),
        }
    }
}

/// Meilisearch trims trailing slashes before routing (`/indexes/` is `/indexes`).
fn trim_trailing_slash(req: &mut Request) {
    let path = req.uri().path();
    if path.len() > 1 && path.ends_with('/') {
        let trimmed = path.trim_end_matches('/');
        let trimmed = if trimmed.is_empty() { "/" } else { trimmed };
        let rebuilt = match req.uri().query() {
            Some(q) => format!("{trimmed}?{q}"),
            None => trimmed.to_string(),
        };
        if let Ok(uri) = rebuilt.parse::<Uri>() {
            *req.uri_mut() = uri;
        }
    }
}

/// The gateway's HTTP service: the routed API inside what every request goes through
/// ([`Api::edge`]). Not a stack of `from_fn` layers: each one clones the service inside it and
/// boxes a future per request, and `Router::layer` puts one around every route; the request
/// path they made was a measurable part of the gateway's CPU per search.
#[derive(Clone)]
pub struct Api {
    routes: Router,
    state: AppState,
    /// Whether searches and multi-searches are answered before routing ([`Early`]); off only
    /// for the tests that compare those answers with the router's.
    early: bool,
}

impl<B> Service<http::Request<B>> for Api
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let api = self.clone();
        Box::pin(async move { Ok(api.edge(req.map(Body::new)).await) })
    }
}

impl Api {
    /// The same API with every request going through the router, none answered before it.
    pub(crate) fn through_router(self) -> Api {
        Api {
            early: false,
            ..self
        }
    }

    /// Before routing: the request's id and trace span ([`crate::request_id`]), CORS ([`cors`]:
    /// a preflight is answered here, before routing and authentication) and a trailing slash
    /// trimmed; then [`routed`](Self::routed).
    async fn edge(self, mut req: Request) -> Response {
        let begun = crate::request_id::begin(&mut req);
        begun
            .answer(async move {
                if let Some(preflight) = cors::preflight(&req) {
                    return preflight;
                }
                let has_origin = cors::has_origin(&req);
                trim_trailing_slash(&mut req);
                let mut response = self.routed(req).await;
                if has_origin {
                    cors::allow_origin(&mut response);
                }
                response
            })
            .await
    }

    /// A request past the edge: its body bounded in time ([`body_timeout::bound_bodies`]), the
    /// route's answer (a search's or a multi-search's from [`Early::answer`], without the
    /// router), an error the routes or axum left unshaped given Meilisearch's shape
    /// ([`errors::shape`]), then the request counted by route family, method and final status
    /// ([`metrics::record`]).
    async fn routed(self, req: Request) -> Response {
        let started = Instant::now();
        let method = req.method().clone();
        let uri = req.uri().clone();
        let Api {
            routes,
            state,
            early,
        } = self;
        let state = &state;
        let response = body_timeout::bound_bodies(state, req, |req| async move {
            if let Some(early) = early.then(|| Early::of(&req)).flatten() {
                return early.answer(state, req).await;
            }
            match routes.oneshot(req).await {
                Ok(response) => response,
                Err(never) => match never {},
            }
        })
        .await;
        let routed = response.extensions().get::<errors::Unrouted>().is_none();
        let family = metrics::family(routed.then(|| uri.path()));
        let response = errors::shape(&method, uri.path(), response).await;
        metrics::record(family, method, response.status().as_u16(), started);
        response
    }
}

/// A request answered before routing: what its route and the `require_key` layer would do (the
/// `search` action, on the path's index if it has one, then the handler), without matching the
/// route table, the layer's boxed services and futures, or the extractors' copies of the headers
/// and path parameters, which were a measurable part of the gateway's CPU per search.
enum Early {
    /// `POST` or `GET /indexes/{uid}/search` whose uid is a single path segment needing no
    /// percent-decoding.
    Search(String),
    /// `POST /multi-search`.
    MultiSearch,
}

impl Early {
    /// Anything else (a uid with a percent-escape, `HEAD`, every other route) goes through the
    /// router, which answers it as before.
    fn of(req: &Request) -> Option<Early> {
        let path = req.uri().path();
        let method = req.method();
        if *method == http::Method::POST && path == "/multi-search" {
            return Some(Early::MultiSearch);
        }
        if !matches!(*method, http::Method::POST | http::Method::GET) {
            return None;
        }
        let uid = path.strip_prefix("/indexes/")?.strip_suffix("/search")?;
        (!uid.is_empty() && !uid.contains(['/', '%'])).then(|| Early::Search(uid.to_owned()))
    }

    async fn answer(self, state: &AppState, req: Request) -> Response {
        let (parts, body) = req.into_parts();
        let index = match &self {
            Early::Search(uid) => Some(uid.as_str()),
            Early::MultiSearch => None,
        };
        // `auth::actions`' tests check that `require_key` names the same action for these routes.
        let auth = match auth::admit(state, &parts.headers, "search", index).await {
            Ok(auth) => auth,
            Err(error) => return error.into_response(),
        };
        let answer = match self {
            Early::Search(uid) if parts.method == http::Method::POST => {
                search::posted(state, &auth, uid, &parts.headers, body).await
            }
            Early::Search(uid) => search::got(state, &auth, uid, parts.uri.query()).await,
            Early::MultiSearch => multi_search::searched(state, &auth, &parts.headers, body).await,
        };
        answer.into_response()
    }
}

/// The whole HTTP API on `state`.
pub fn router(state: AppState) -> Api {
    let routes = Router::new()
        .route("/version", get(misc::version))
        .route("/stats", get(misc::stats))
        .route("/indexes", get(indexes::list).post(indexes::create))
        .route(
            "/indexes/{uid}",
            get(indexes::get)
                .patch(indexes::update)
                .delete(indexes::delete),
        )
        .route("/indexes/{uid}/stats", get(misc::index_stats))
        .route(
            "/indexes/{uid}/documents",
            get(documents::list)
                .post(documents::replace)
                .put(documents::update)
                .delete(documents::delete_all),
        )
        .route("/indexes/{uid}/documents/fetch", post(documents::fetch))
        .route(
            "/indexes/{uid}/documents/delete-batch",
            post(documents::delete_batch),
        )
        .route(
            "/indexes/{uid}/documents/delete",
            post(documents::delete_by_filter),
        )
        .route(
            "/indexes/{uid}/documents/{id}",
            get(documents::get_one).delete(documents::delete_one),
        )
        .route("/indexes/{uid}/search", get(search::get).post(search::post))
        .route(
            "/indexes/{uid}/facet-search",
            post(facet_search::facet_search),
        )
        .route("/multi-search", post(multi_search::multi_search))
        .route(
            "/indexes/{uid}/settings",
            get(settings::get_all)
                .patch(settings::update_all)
                .delete(settings::reset_all),
        )
        .route(
            "/indexes/{uid}/settings/{name}",
            get(settings::get_one)
                .put(settings::put_one)
                .patch(settings::patch_one)
                .delete(settings::reset_one),
        )
        .route("/tasks", get(tasks::list).delete(tasks::delete))
        .route("/tasks/cancel", post(tasks::cancel))
        .route("/tasks/compact", post(unsupported::compact_tasks))
        .route("/tasks/{uid}", get(tasks::get))
        .route("/tasks/{uid}/documents", get(unsupported::task_documents))
        .route("/batches", get(tasks::list_batches))
        .route("/batches/{uid}", get(tasks::get_batch))
        .route("/swap-indexes", post(swap::swap))
        .route(
            "/experimental-features",
            get(features::get).patch(features::patch),
        )
        .route("/dumps", post(dumps::create))
        .route("/snapshots", post(unsupported::snapshots))
        .route("/export", post(unsupported::export))
        .route(
            "/network",
            get(unsupported::network).patch(unsupported::network),
        )
        .route("/metrics", get(unsupported::metrics))
        .route(
            "/logs/stream",
            post(unsupported::logs).delete(unsupported::logs),
        )
        .route("/logs/stderr", post(unsupported::logs))
        .route("/webhooks", get(webhooks::list).post(webhooks::create))
        .route(
            "/webhooks/{id}",
            get(webhooks::get)
                .patch(webhooks::update)
                .delete(webhooks::delete),
        )
        .route("/chats", any(unsupported::chats))
        .route("/chats/{*rest}", any(unsupported::chats))
        .route(
            "/indexes/{uid}/similar",
            get(similar::get).post(similar::post),
        )
        .route("/indexes/{uid}/compact", post(indexes::compact))
        .route("/indexes/{uid}/fields", post(fields::list))
        .route(
            "/indexes/{uid}/documents/edit",
            post(unsupported::edit_documents),
        )
        .route("/keys", get(keys::list).post(keys::create))
        .route(
            "/keys/{key}",
            get(keys::get).patch(keys::update).delete(keys::delete),
        )
        // Every route above needs a key (the action each needs: auth/actions.rs); add routes above.
        .route_layer(from_fn_with_state(state.clone(), auth::require_key))
        .route("/health", get(misc::health))
        .route("/", get(misc::root))
        .fallback(errors::not_found)
        .method_not_allowed_fallback(errors::wrong_method)
        .with_state(state.clone());
    Api {
        routes,
        state,
        early: true,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn request(method: http::Method, uri: &str) -> Request {
        http::Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::empty())
            .unwrap()
    }

    #[test]
    fn only_plain_searches_skip_the_router() {
        use http::Method;
        let search = |uid: &str| Some(format!("search {uid}"));
        for (method, uri, expected) in [
            (Method::POST, "/indexes/movies/search", search("movies")),
            (
                Method::GET,
                "/indexes/movies/search?q=a%2Fb",
                search("movies"),
            ),
            (Method::GET, "/indexes/b@d/search", search("b@d")),
            (Method::POST, "/multi-search", Some("multi-search".into())),
            (
                Method::POST,
                "/multi-search?x=1",
                Some("multi-search".into()),
            ),
            (Method::GET, "/multi-search", None),
            (Method::HEAD, "/indexes/movies/search", None),
            (Method::PUT, "/indexes/movies/search", None),
            (Method::POST, "/indexes/%6Dovies/search", None),
            (Method::POST, "/indexes//search", None),
            (Method::POST, "/indexes/a/b/search", None),
            (Method::POST, "/indexes/movies/search/x", None),
            (Method::POST, "/indexes/movies/facet-search", None),
            (Method::POST, "/indexes/search", None),
            (Method::POST, "/multi-search/x", None),
        ] {
            let req = request(method.clone(), uri);
            let early = Early::of(&req).map(|e| match e {
                Early::Search(uid) => format!("search {uid}"),
                Early::MultiSearch => "multi-search".to_string(),
            });
            assert_eq!(early, expected, "{method} {uri}");
        }
    }
}
