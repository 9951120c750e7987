//! The HTTP client Miroir's services use to talk to Meilisearch nodes (real ones or the stand-in).
//!
//! A node's non-2xx answer is turned back into the [`MeiliError`] it carries, so that a node's
//! validation error reaches the client exactly as Meilisearch worded it. Transport failures are
//! [`NodeError::Unreachable`], which callers treat as "try another replica". A request made inside
//! a trace carries `traceparent` (the calling span) and `tracestate`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method};
use miroir_proto::{ErrorCode, MeiliError};

mod pool;

// W3C trace context headers, sent on every request made inside a trace: the node sees the
// calling span as its parent.
use crate::trace::{TRACEPARENT, TRACESTATE};

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The node answered with a Meilisearch error.
    #[error("{0}")]
    Meili(MeiliError),
    /// The node could not be reached or did not answer in time.
    #[error("node {url} unreachable: {reason}")]
    Unreachable { url: String, reason: String },
}

impl NodeError {
    /// As a client-facing error: an unreachable node is a 503.
    pub fn into_meili(self) -> MeiliError {
        match self {
            NodeError::Meili(e) => e,
            NodeError::Unreachable { url, reason } => MeiliError::new(
                ErrorCode::NodeUnavailable,
                format!("A Meilisearch node of the cluster ({url}) is unreachable: {reason}"),
            ),
        }
    }
}

#[derive(Clone)]
pub struct NodeClient {
    pool: pool::Pool,
    timeout: Duration,
    /// `Bearer <master key>`, built once (marked sensitive: never logged by the HTTP stack).
    authorization: Option<HeaderValue>,
    /// Node base URLs as read once: a node's URL is parsed on its first request, not on each.
    bases: Arc<Mutex<HashMap<String, Arc<Base>>>>,
}

/// A node's base URL, split for requests: `http://host:port/prefix`.
#[derive(Debug)]
struct Base {
    /// `host:port`, connected to and sent as `Host`.
    authority: String,
    host: HeaderValue,
    /// The URL's path without its trailing `/` (usually empty), put before each request's.
    prefix: String,
}

impl Base {
    fn parse(base_url: &str) -> Result<Base, String> {
        let uri: http::Uri = base_url
            .parse()
            .map_err(|e| format!("invalid node URL: {e}"))?;
        if uri.scheme_str() != Some("http") {
            return Err(
                "a node URL must be http://host:port (Miroir talks plain HTTP to nodes)".into(),
            );
        }
        let Some(authority) = uri.authority() else {
            return Err("the node URL has no host".into());
        };
        if uri.query().is_some() {
            return Err("a node URL cannot carry a query".into());
        }
        let port = authority.port_u16().unwrap_or(80);
        let host = authority.host();
        let authority = format!("{host}:{port}");
        Ok(Base {
            host: HeaderValue::try_from(authority.as_str()).map_err(|e| e.to_string())?,
            authority,
            prefix: uri.path().trim_end_matches('/').to_owned(),
        })
    }
}

impl NodeClient {
    /// `api_key`: the nodes' master key (never shown to clients); `timeout` bounds each request
    /// whole (connection, request, answer). Fails only when the key is not a valid header value.
    pub fn new(api_key: Option<String>, timeout: Duration) -> Result<Self, NodeError> {
        let cannot = |what: String| NodeError::Unreachable {
            url: String::new(),
            reason: format!("cannot build the HTTP client for nodes: {what}"),
        };
        let authorization = match api_key {
            Some(key) => {
                let mut value = HeaderValue::try_from(format!("Bearer {key}"))
                    .map_err(|_| cannot("the node API key is not a valid header value".into()))?;
                value.set_sensitive(true);
                Some(value)
            }
            None => None,
        };
        Ok(NodeClient {
            pool: pool::Pool::default(),
            timeout,
            authorization,
            bases: Arc::default(),
        })
    }

    fn base(&self, base_url: &str) -> Result<Arc<Base>, String> {
        if let Ok(bases) = self.bases.lock()
            && let Some(base) = bases.get(base_url)
        {
            return Ok(base.clone());
        }
        let base = Arc::new(Base::parse(base_url)?);
        if let Ok(mut bases) = self.bases.lock() {
            bases.insert(base_url.to_owned(), base.clone());
        }
        Ok(base)
    }

    /// Send a request and return the raw body of a 2xx answer, within the client's timeout. No
    /// redirect is followed: a node does not redirect, and following one would send the master
    /// key elsewhere.
    pub async fn send(
        &self,
        base_url: &str,
        method: Method,
        path_and_query: &str,
        body: Option<(&'static str, Bytes)>,
    ) -> Result<(u16, Bytes), NodeError> {
        match tokio::time::timeout(
            self.timeout,
            self.send_untimed(base_url, method, path_and_query, body),
        )
        .await
        {
            Ok(answer) => answer,
            Err(_) => Err(NodeError::Unreachable {
                url: base_url.to_string(),
                reason: format!("no answer within {:?}", self.timeout),
            }),
        }
    }

    /// [`send`](Self::send) for a caller that drops the request at `caller_deadline` (which
    /// cancels it): the client's own timeout is set only when it would end the request sooner.
    /// A search's deadline is usually the nearer one, and then the request costs one timer less.
    pub async fn send_before(
        &self,
        base_url: &str,
        method: Method,
        path_and_query: &str,
        body: Option<(&'static str, Bytes)>,
        caller_deadline: tokio::time::Instant,
    ) -> Result<(u16, Bytes), NodeError> {
        if tokio::time::Instant::now() + self.timeout >= caller_deadline {
            self.send_untimed(base_url, method, path_and_query, body)
                .await
        } else {
            self.send(base_url, method, path_and_query, body).await
        }
    }

    /// [`send`](Self::send) with no timeout at all.
    async fn send_untimed(
        &self,
        base_url: &str,
        method: Method,
        path_and_query: &str,
        body: Option<(&'static str, Bytes)>,
    ) -> Result<(u16, Bytes), NodeError> {
        let unreachable = |reason: String| NodeError::Unreachable {
            url: base_url.to_string(),
            reason,
        };
        let base = self.base(base_url).map_err(unreachable)?;
        // A request target of visible ASCII only (callers percent-encode what they put in it;
        // the prefix was checked with the node's URL).
        if path_and_query.is_empty() || !path_and_query.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(unreachable(format!(
                "invalid request target {path_and_query:?}"
            )));
        }
        let mut head = Vec::with_capacity(256);
        head.extend_from_slice(method.as_str().as_bytes());
        head.push(b' ');
        head.extend_from_slice(base.prefix.as_bytes());
        head.extend_from_slice(path_and_query.as_bytes());
        head.extend_from_slice(b" HTTP/1.1\r\n");
        let mut header = |name: &[u8], value: &[u8]| {
            head.extend_from_slice(name);
            head.extend_from_slice(b": ");
            head.extend_from_slice(value);
            head.extend_from_slice(b"\r\n");
        };
        header(b"host", base.host.as_bytes());
        if let Some(authorization) = &self.authorization {
            header(b"authorization", authorization.as_bytes());
        }
        if let Some(active) = crate::trace::current() {
            header(
                TRACEPARENT.as_str().as_bytes(),
                active.context.header_value().as_bytes(),
            );
            if let Some(state) = &active.state {
                header(TRACESTATE.as_str().as_bytes(), state.as_bytes());
            }
        }
        let body = match body {
            Some((content_type, bytes)) => {
                header(b"content-type", content_type.as_bytes());
                header(
                    b"content-length",
                    itoa::Buffer::new().format(bytes.len()).as_bytes(),
                );
                bytes
            }
            None => {
                if matches!(method, Method::POST | Method::PUT | Method::PATCH) {
                    header(b"content-length", b"0");
                }
                Bytes::new()
            }
        };
        head.extend_from_slice(b"\r\n");
        let exchange = pool::Exchange {
            head,
            body,
            answer_has_body: method != Method::HEAD,
        };
        let (status, bytes) = self
            .pool
            .send(&base.authority, exchange)
            .await
            .map_err(unreachable)?;
        if (200..300).contains(&status) {
            Ok((status, bytes))
        } else if status >= 500
            && serde_json::from_slice::<miroir_proto::MeiliErrorBody>(&bytes).is_err()
        {
            Err(unreachable(format!("HTTP {status}")))
        } else {
            Err(NodeError::Meili(MeiliError::from_node_body(status, &bytes)))
        }
    }

    /// Send JSON (or nothing) and parse a JSON answer.
    pub async fn json(
        &self,
        base_url: &str,
        method: Method,
        path_and_query: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<serde_json::Value, NodeError> {
        let body = body.map(|v| {
            (
                "application/json",
                Bytes::from(serde_json::to_vec(v).unwrap_or_default()),
            )
        });
        let (_, bytes) = self.send(base_url, method, path_and_query, body).await?;
        if bytes.is_empty() {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_slice(&bytes).map_err(|e| NodeError::Unreachable {
            url: base_url.to_string(),
            reason: format!("answer is not JSON: {e}"),
        })
    }

    /// Whether the node holds the index `name`, or has its creation enqueued or processing (a
    /// replayed or just-sent creation that the node has not applied yet). `index_not_found`
    /// with no creation pending is `Ok(false)`; other failures are returned, for the caller to
    /// decide what an unreachable node means.
    pub async fn index_present(&self, base_url: &str, name: &str) -> Result<bool, NodeError> {
        let missing = |r: &Result<(u16, Bytes), NodeError>| matches!(r, Err(NodeError::Meili(e)) if e.code == ErrorCode::IndexNotFound);
        let index = format!("/indexes/{name}");
        let first = self.send(base_url, Method::GET, &index, None).await;
        if !missing(&first) {
            return first.map(|_| true);
        }
        let pending = format!(
            "/tasks?indexUids={name}&types=indexCreation&statuses=enqueued,processing&limit=1"
        );
        let tasks = self.json(base_url, Method::GET, &pending, None).await?;
        if tasks["results"].as_array().is_some_and(|r| !r.is_empty()) {
            return Ok(true);
        }
        // The creation may have finished between the two looks: look at the index again.
        let again = self.send(base_url, Method::GET, &index, None).await;
        if missing(&again) {
            Ok(false)
        } else {
            again.map(|_| true)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    #[test]
    fn node_urls_are_read_once_into_authority_and_prefix() {
        let b = Base::parse("http://127.0.0.1:7700").unwrap();
        assert_eq!(
            (b.authority.as_str(), b.prefix.as_str()),
            ("127.0.0.1:7700", "")
        );
        let b = Base::parse("http://meili.internal/proxy/").unwrap();
        assert_eq!(
            (b.authority.as_str(), b.prefix.as_str()),
            ("meili.internal:80", "/proxy")
        );
        let b = Base::parse("http://[::1]:7700/").unwrap();
        assert_eq!(b.authority, "[::1]:7700");
        for bad in [
            "https://n0:7700",
            "n0:7700",
            "http://n0:7700/?a=b",
            "",
            "http://",
        ] {
            assert!(Base::parse(bad).is_err(), "{bad}");
        }
    }

    /// A node that answers `{}` to each request; after `per_connection` answers it closes the
    /// connection. Returns its URL and the count of connections it accepted.
    async fn node(per_connection: usize) -> (String, Arc<AtomicUsize>) {
        let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}";
        let node = TestNode::start(per_connection, Duration::ZERO, answer).await;
        (node.url, node.accepted)
    }

    /// A node on loopback that reads each request whole (head and `Content-Length` body), hands
    /// its bytes over, and answers `answer` `delay` later; after `per_connection` answers it
    /// closes the connection.
    struct TestNode {
        url: String,
        accepted: Arc<AtomicUsize>,
        requests: tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>,
    }

    impl TestNode {
        async fn start(per_connection: usize, delay: Duration, answer: &'static [u8]) -> Self {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}", listener.local_addr().unwrap());
            let accepted = Arc::new(AtomicUsize::new(0));
            let count = accepted.clone();
            let (tx, requests) = tokio::sync::mpsc::unbounded_channel();
            tokio::spawn(async move {
                while let Ok((mut socket, _)) = listener.accept().await {
                    count.fetch_add(1, Ordering::SeqCst);
                    let tx = tx.clone();
                    tokio::spawn(async move {
                        let mut buf = Vec::new();
                        for _ in 0..per_connection {
                            let end = loop {
                                if let Some(end) = request_end(&buf) {
                                    break end;
                                }
                                let mut chunk = [0u8; 4096];
                                match socket.read(&mut chunk).await {
                                    Ok(0) | Err(_) => return,
                                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                                }
                            };
                            let _ = tx.send(buf.drain(..end).collect());
                            tokio::time::sleep(delay).await;
                            if socket.write_all(answer).await.is_err() {
                                return;
                            }
                        }
                    });
                }
            });
            TestNode {
                url,
                accepted,
                requests,
            }
        }
    }

    /// Where the first whole request in `buf` ends, if it is all there.
    fn request_end(buf: &[u8]) -> Option<usize> {
        let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        let length = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .map_or(0, |n| n.trim().parse::<usize>().unwrap());
        (buf.len() >= end + length).then_some(end + length)
    }

    #[track_caller]
    fn assert_unreachable<T: std::fmt::Debug>(answer: Result<T, NodeError>) {
        let unreachable = matches!(answer, Err(NodeError::Unreachable { .. }));
        assert!(unreachable, "{answer:?}");
    }

    #[tokio::test]
    async fn connections_are_kept_and_reused() {
        // Framed by its length, and chunked as a node streaming its answer sends it.
        let framed = b"HTTP/1.1 200 OK\r\ncontent-length: 13\r\n\r\n[{\"id\":1},{}]";
        let chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1\r\n[\r\nB\r\n{\"id\":1},{}\r\n1\r\n]\r\n0\r\n\r\n";
        for answer in [&framed[..], &chunked[..]] {
            let node = TestNode::start(usize::MAX, Duration::ZERO, answer).await;
            let client = NodeClient::new(Some("key".into()), Duration::from_secs(5)).unwrap();
            for _ in 0..5 {
                let (status, body) = client
                    .send(&node.url, Method::GET, "/indexes/i/documents", None)
                    .await
                    .unwrap();
                assert_eq!((status, body.as_ref()), (200, b"[{\"id\":1},{}]".as_ref()));
            }
            assert_eq!(node.accepted.load(Ordering::SeqCst), 1);
        }
    }

    #[tokio::test]
    async fn a_connection_the_node_closed_is_not_used_again() {
        let (url, accepted) = node(1).await;
        let client = NodeClient::new(None, Duration::from_secs(5)).unwrap();
        for _ in 0..3 {
            // Let the node's close reach the pooled connection before the next request.
            let answer = client.send(&url, Method::GET, "/health", None).await;
            assert_eq!(answer.unwrap().1.as_ref(), b"{}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_request_goes_out_as_one_http_1_1_message() {
        let answer = b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\n{}";
        let mut node = TestNode::start(usize::MAX, Duration::ZERO, answer).await;
        let url = format!("{}/prefix", node.url);
        let client = NodeClient::new(Some("k".into()), Duration::from_secs(5)).unwrap();
        let body = Bytes::from_static(b"{\"q\":\"a\"}");
        let (status, answer) = client
            .send(
                &url,
                Method::POST,
                "/indexes/i/search?x=%20",
                Some(("application/json", body)),
            )
            .await
            .unwrap();
        assert_eq!((status, answer.as_ref()), (201, b"{}".as_ref()));
        let request = String::from_utf8(node.requests.recv().await.unwrap()).unwrap();
        let port = url.split(':').nth(2).unwrap().trim_end_matches("/prefix");
        assert_eq!(
            request,
            format!(
                "POST /prefix/indexes/i/search?x=%20 HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nauthorization: Bearer k\r\ncontent-type: application/json\r\ncontent-length: 9\r\n\r\n{{\"q\":\"a\"}}"
            )
        );
        // A bodiless DELETE has no length; a target with a space or a control is refused.
        client
            .send(&url, Method::DELETE, "/indexes/i", None)
            .await
            .unwrap();
        let request = String::from_utf8(node.requests.recv().await.unwrap()).unwrap();
        assert!(
            request.starts_with("DELETE /prefix/indexes/i HTTP/1.1\r\n"),
            "{request}"
        );
        assert!(!request.contains("content-length"), "{request}");
        for bad in ["/a b", "/a\r\nx: y"] {
            assert_unreachable(client.send(&url, Method::GET, bad, None).await);
        }
    }

    #[tokio::test]
    async fn a_request_dropped_before_its_answer_does_not_leave_its_connection_pooled() {
        // The node answers each request after 300 ms; the caller gives up after 50 ms.
        let late = b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nlate";
        let node = TestNode::start(usize::MAX, Duration::from_millis(300), late).await;
        let (url, accepted) = (node.url, node.accepted);
        let client = NodeClient::new(None, Duration::from_secs(5)).unwrap();
        let dropped = tokio::time::timeout(
            Duration::from_millis(50),
            client.send(&url, Method::GET, "/health", None),
        )
        .await;
        assert!(dropped.is_err());
        // The late answer to the dropped request must not be read as this one's.
        tokio::time::sleep(Duration::from_millis(400)).await;
        let (_, body) = client
            .send(&url, Method::GET, "/health", None)
            .await
            .unwrap();
        assert_eq!(body.as_ref(), b"late");
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_silent_node_times_out_and_a_closed_port_is_unreachable() {
        let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", silent.local_addr().unwrap());
        let client = NodeClient::new(None, Duration::from_millis(200)).unwrap();
        let started = std::time::Instant::now();
        let answer = client.send(&url, Method::GET, "/health", None).await;
        assert_unreachable(answer);
        assert!(started.elapsed() < Duration::from_secs(3));
        drop(silent);
        let answer = client.send(&url, Method::GET, "/health", None).await;
        assert_unreachable(answer);
    }

    #[tokio::test]
    async fn the_own_timeout_applies_only_before_the_callers_deadline() {
        let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", silent.local_addr().unwrap());
        let client = NodeClient::new(None, Duration::from_millis(200)).unwrap();
        // The caller's deadline is further: the client's timeout ends the request.
        let far = tokio::time::Instant::now() + Duration::from_secs(60);
        let answer = tokio::time::timeout(
            Duration::from_secs(5),
            client.send_before(&url, Method::GET, "/health", None, far),
        )
        .await
        .unwrap();
        assert_unreachable(answer);
        // The caller's deadline is nearer: the request waits for the caller to drop it.
        let near = tokio::time::Instant::now() + Duration::from_millis(100);
        let waited = tokio::time::timeout(
            Duration::from_millis(600),
            client.send_before(&url, Method::GET, "/health", None, near),
        )
        .await;
        assert!(waited.is_err(), "no timer of its own: {waited:?}");
        drop(silent);
    }
}
