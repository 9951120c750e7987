//! Invariant: a client's W3C `traceparent` reaches the nodes. Every HTTP request a router or a
//! merger sends to a node for the client's document write or search carries a `traceparent` of
//! the client's trace (same trace id) whose parent span is a Miroir span (not the client's, a
//! new one for each node request), with the client's `tracestate`; the gateway answers with its
//! span in `traceresponse`. An invalid `traceparent` (uppercase hex) is ignored: a new trace
//! starts.
//!
//! The nodes are re-registered behind recording proxies, which see what the nodes see.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use miroir_e2e::{ClusterOptions, GATEWAY_MASTER_KEY, TestCluster};
use miroir_proto::topology::NodeRecord;
use miroir_testkit::client::Reply;
use serde_json::{Value, json};

const CLIENT_SPAN: &str = "00f067aa0ba902b7";
const TRACESTATE: &str = "congo=t61rcWkgMzE";

/// One request as a node received it.
#[derive(Clone, Debug)]
struct Seen {
    path: String,
    traceparent: Option<String>,
    tracestate: Option<String>,
}

/// An HTTP proxy in front of a node that records each request's path and trace headers.
struct Proxy {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    async fn start(target: String) -> Proxy {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let http = reqwest::Client::new();
        let record = seen.clone();
        let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
            let (http, record, target) = (http.clone(), record.clone(), target.clone());
            async move {
                let (parts, body) = req.into_parts();
                let header = |name: &str| {
                    parts
                        .headers
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned)
                };
                record.lock().unwrap().push(Seen {
                    path: parts.uri.path().to_owned(),
                    traceparent: header("traceparent"),
                    tracestate: header("tracestate"),
                });
                let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
                let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
                let mut headers = parts.headers.clone();
                headers.remove("host");
                let answer = http
                    .request(parts.method, format!("{target}{path}"))
                    .headers(headers)
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                let mut response = axum::response::Response::builder().status(answer.status());
                if let Some(ct) = answer.headers().get("content-type") {
                    response = response.header("content-type", ct);
                }
                response
                    .body(axum::body::Body::from(answer.bytes().await.unwrap()))
                    .unwrap()
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Proxy { url, seen, task }
    }
}

/// What the nodes saw, over every proxy, whose path contains `part`.
fn seen(proxies: &[Proxy], part: &str) -> Vec<Seen> {
    proxies
        .iter()
        .flat_map(|p| p.seen.lock().unwrap().clone())
        .filter(|s| s.path.contains(part))
        .collect()
}

/// The `(trace id, parent id)` of a `traceparent`.
fn ids(traceparent: &str) -> (String, String) {
    let fields: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(fields.len(), 4, "{traceparent}");
    assert_eq!(fields[0], "00", "{traceparent}");
    (fields[1].to_owned(), fields[2].to_owned())
}

/// Send a request to the gateway with these trace headers; the reply and its `traceresponse`.
async fn send(
    cluster: &TestCluster,
    method: reqwest::Method,
    path: &str,
    body: &Value,
    traceparent: &str,
) -> (Reply, Option<String>) {
    let response = reqwest::Client::new()
        .request(method, format!("{}{path}", cluster.gateway_url()))
        .bearer_auth(GATEWAY_MASTER_KEY)
        .header("traceparent", traceparent)
        .header("tracestate", TRACESTATE)
        .json(body)
        .send()
        .await
        .unwrap();
    let traceresponse = response
        .headers()
        .get("traceresponse")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (Reply { status, body }, traceresponse)
}

/// Check the node requests of one client request of trace `trace`: at least `at_least` of them,
/// each its own span under Miroir's spans, never the client's span, with the client's state.
fn check_node_requests(found: &[Seen], trace: &str, at_least: usize) {
    assert!(found.len() >= at_least, "{found:#?}");
    let mut parents = HashSet::new();
    for s in found {
        let (t, parent) = ids(s.traceparent.as_deref().unwrap());
        assert_eq!(t, trace);
        assert_ne!(parent, CLIENT_SPAN, "a node's parent is a Miroir span");
        assert!(
            parents.insert(parent),
            "one span per node request: {found:#?}"
        );
        assert_eq!(s.tracestate.as_deref(), Some(TRACESTATE));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_trace_reaches_the_nodes_through_router_and_merger() {
    let cluster = TestCluster::start(ClusterOptions {
        nodes: 2,
        shards: 2,
        replication_factor: 1,
        ..Default::default()
    })
    .await
    .unwrap();
    let topology = cluster.topology().await.unwrap();
    let mut proxies = Vec::new();
    for (i, node) in cluster.nodes.iter().enumerate() {
        let proxy = Proxy::start(node.url()).await;
        topology
            .put_node(&NodeRecord::new(format!("n{i}"), proxy.url.clone()))
            .await
            .unwrap();
        proxies.push(proxy);
    }
    let client = cluster.client();
    let created = client
        .post("/indexes", &json!({"uid": "traced", "primaryKey": "id"}))
        .await
        .unwrap();
    client.wait_succeeded(&created).await.unwrap();
    let docs: Vec<Value> = (0..20)
        .map(|i| json!({"id": i, "title": "traced doc"}))
        .collect();

    // The services see the proxies as soon as their topology mirrors do: try a few traces.
    let mut write_traced = false;
    for attempt in 0..40u32 {
        let trace = format!("4bf92f3577b34da6a3ce929d0e0e{attempt:04x}");
        let traceparent = format!("00-{trace}-{CLIENT_SPAN}-01");
        let (added, traceresponse) = send(
            &cluster,
            reqwest::Method::POST,
            "/indexes/traced/documents",
            &json!(docs),
            &traceparent,
        )
        .await;
        client.wait_succeeded(&added).await.unwrap();
        let (t, span) = ids(&traceresponse.unwrap());
        assert_eq!(t, trace);
        assert_ne!(span, CLIENT_SPAN, "the gateway answers with its own span");
        let found: Vec<Seen> = seen(&proxies, "/documents")
            .into_iter()
            .filter(|s| s.traceparent.as_deref().is_some_and(|p| p.contains(&trace)))
            .collect();
        if !found.is_empty() {
            // 20 documents over 2 shards: a write to each.
            check_node_requests(&found, &trace, 2);
            write_traced = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        write_traced,
        "no document write reached a node with the client's trace"
    );

    let trace = "0af7651916cd43dd8448eb211c80319c";
    let traceparent = format!("00-{trace}-{CLIENT_SPAN}-01");
    let (found, traceresponse) = send(
        &cluster,
        reqwest::Method::POST,
        "/indexes/traced/search",
        &json!({"q": "traced"}),
        &traceparent,
    )
    .await;
    assert_eq!(found.status, 200, "{}", found.body);
    assert_eq!(found.body["estimatedTotalHits"], json!(20));
    assert_eq!(ids(&traceresponse.unwrap()).0, trace);
    let searches: Vec<Seen> = seen(&proxies, "/search")
        .into_iter()
        .filter(|s| s.traceparent.as_deref().is_some_and(|p| p.contains(trace)))
        .collect();
    // One request to a copy of each of the 2 shards (more if a copy was hedged).
    check_node_requests(&searches, trace, 2);

    // Uppercase hex is invalid: the gateway starts a new trace and drops the tracestate.
    let (found, traceresponse) = send(
        &cluster,
        reqwest::Method::POST,
        "/indexes/traced/search",
        &json!({"q": "traced"}),
        &traceparent.to_uppercase(),
    )
    .await;
    assert_eq!(found.status, 200, "{}", found.body);
    let (new_trace, _) = ids(&traceresponse.unwrap());
    assert_ne!(new_trace, trace);
    // Only these two searches reached the nodes' `/search`.
    let others: Vec<Seen> = seen(&proxies, "/search")
        .into_iter()
        .filter(|s| !s.traceparent.as_deref().is_some_and(|p| p.contains(trace)))
        .collect();
    assert!(others.len() >= 2, "{others:#?}");
    for s in &others {
        let (t, parent) = ids(s.traceparent.as_deref().unwrap());
        assert_eq!(t, new_trace, "the nodes see the trace the gateway started");
        assert_ne!(parent, CLIENT_SPAN);
        assert_eq!(s.tracestate, None);
    }
}
