//! Requests beyond the gateway's bounds (payload size, JSON depth, filter length and nesting,
//! list sizes, multi-search queries) are refused with Meilisearch's error shape and status before
//! any of them reaches the merger; requests within them pass.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use miroir_gateway::Config;
use miroir_proto::rpc::{JsonBody, Search};
use miroir_proto::rpc_search::{FacetSearch, MultiSearch};
use miroir_proto::subjects::Service;
use serde_json::{Value, json};

fn error(code: &str, status: u16, reply: &miroir_testkit::Reply) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert_eq!(reply.body["code"], json!(code), "{}", reply.body);
    assert_eq!(
        reply.body["type"],
        json!("invalid_request"),
        "{}",
        reply.body
    );
    assert_eq!(
        reply.body["link"],
        json!(format!("https://docs.meilisearch.com/errors#{code}"))
    );
    assert!(
        reply.body["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
}

#[tokio::test]
async fn requests_beyond_the_bounds_are_refused_before_the_merger() {
    let gw = common::start(Config {
        max_payload_bytes: 20_000,
        max_json_depth: 8,
        max_filter_bytes: 200,
        max_filter_depth: 4,
        max_list_items: 10,
        max_multi_search_queries: 3,
        ..common::config()
    })
    .await;
    gw.put_index("npm", Some("id")).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let mut merger = common::fake(&gw.nats, Service::Merger).await;
    let c = calls.clone();
    merger
        .serve::<Search, _, _>(move |_, _| {
            c.fetch_add(1, Ordering::SeqCst);
            async move {
                Ok(JsonBody {
                    body: Bytes::from_static(b"{\"hits\":[]}"),
                })
            }
        })
        .await
        .unwrap();
    let c = calls.clone();
    merger
        .serve::<MultiSearch, _, _>(move |_, _| {
            c.fetch_add(1, Ordering::SeqCst);
            async move {
                Ok(JsonBody {
                    body: Bytes::from_static(b"{\"results\":[]}"),
                })
            }
        })
        .await
        .unwrap();
    let c = calls.clone();
    merger
        .serve::<FacetSearch, _, _>(move |_, _| {
            c.fetch_add(1, Ordering::SeqCst);
            async move {
                Ok(JsonBody {
                    body: Bytes::from_static(b"{\"facetHits\":[]}"),
                })
            }
        })
        .await
        .unwrap();
    let client = gw.client();

    // Within every bound: answered.
    let ordinary = json!({
        "q": "react",
        "filter": [["a = 1", "b = 2"], "(c = 3 AND (d = 4))"],
        "facets": ["a", "b"],
        "sort": ["a:asc"],
    });
    let r = client.post("/indexes/npm/search", &ordinary).await.unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let r = client
        .post(
            "/multi-search",
            &json!({"queries": [{"indexUid": "npm", "q": "a"}, {"indexUid": "npm"}]}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let r = client
        .post(
            "/indexes/npm/facet-search",
            &json!({"facetName": "a", "filter": "a = 1"}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let answered = calls.load(Ordering::SeqCst);
    assert_eq!(answered, 3);

    // Payload over max_payload_bytes: 413.
    let big = json!({"q": "x".repeat(30_000)});
    let r = client.post("/indexes/npm/search", &big).await.unwrap();
    error("payload_too_large", 413, &r);

    // JSON nested deeper than max_json_depth: 400 bad_request.
    let mut deep = json!(1);
    for _ in 0..10 {
        deep = json!([deep]);
    }
    let r = client
        .post("/indexes/npm/search", &json!({"q": "a", "x": deep}))
        .await
        .unwrap();
    error("bad_request", 400, &r);

    // Filters: too long, nested too deep (string or array form), also through GET.
    let long = (0..40)
        .map(|i| format!("a = {i}"))
        .collect::<Vec<_>>()
        .join(" OR ");
    let r = client
        .post("/indexes/npm/search", &json!({"filter": long}))
        .await
        .unwrap();
    error("invalid_search_filter", 400, &r);
    let r = client
        .post("/indexes/npm/search", &json!({"filter": "(((((a = 1)))))"}))
        .await
        .unwrap();
    error("invalid_search_filter", 400, &r);
    let r = client
        .post(
            "/indexes/npm/search",
            &json!({"filter": [[[[["a = 1", "b = 1"], "c = 1"]]]]}),
        )
        .await
        .unwrap();
    error("invalid_search_filter", 400, &r);
    let r = client
        .get("/indexes/npm/search?filter=%28%28%28%28%28a%20%3D%201%29%29%29%29%29")
        .await
        .unwrap();
    error("invalid_search_filter", 400, &r);
    let r = client
        .post(
            "/indexes/npm/facet-search",
            &json!({"facetName": "a", "filter": "(((((a = 1)))))"}),
        )
        .await
        .unwrap();
    error("invalid_search_filter", 400, &r);

    // Lists over max_list_items, each with its field's code.
    let many: Vec<String> = (0..11).map(|i| format!("f{i}")).collect();
    for (field, code) in [
        ("facets", "invalid_search_facets"),
        (
            "attributesToRetrieve",
            "invalid_search_attributes_to_retrieve",
        ),
        ("attributesToCrop", "invalid_search_attributes_to_crop"),
        (
            "attributesToHighlight",
            "invalid_search_attributes_to_highlight",
        ),
        (
            "attributesToSearchOn",
            "invalid_search_attributes_to_search_on",
        ),
        ("sort", "invalid_search_sort"),
    ] {
        let mut body = json!({"q": "a"});
        body[field] = json!(many);
        let r = client.post("/indexes/npm/search", &body).await.unwrap();
        error(code, 400, &r);
    }

    // Multi-search: too many queries, and a query over a bound names itself.
    let queries: Vec<Value> = (0..4).map(|_| json!({"indexUid": "npm"})).collect();
    let r = client
        .post("/multi-search", &json!({"queries": queries}))
        .await
        .unwrap();
    error("bad_request", 400, &r);
    let r = client
        .post(
            "/multi-search",
            &json!({"queries": [{"indexUid": "npm"}, {"indexUid": "npm", "facets": many}]}),
        )
        .await
        .unwrap();
    error("invalid_search_facets", 400, &r);
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .starts_with("Inside `.queries[1]`"),
        "{}",
        r.body
    );

    assert_eq!(
        calls.load(Ordering::SeqCst),
        answered,
        "no refused request reached the merger"
    );
    gw.stop().await;
}
