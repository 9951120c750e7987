//! A search goes to the merger (GET parameters converted to the JSON body with Meilisearch's
//! types) and its answer comes back byte for byte; errors are Meilisearch's, shard index names
//! never reach the client, and a missing merger is a 503 and a slow one a 504, never a hang.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use miroir_gateway::Config;
use miroir_proto::rpc::{JsonBody, Search};
use miroir_proto::subjects::Service;
use miroir_proto::{ErrorCode, MeiliError};
use reqwest::Method;
use serde_json::{Value, json};

/// A fake merger that answers with an oddly formatted JSON quoting what it received.
fn echo(req: &Search) -> Bytes {
    let body = String::from_utf8_lossy(&req.body);
    Bytes::from(format!(
        "{{ \"received\" :{body},\n \"index\":\"{}\" , \"deadlineMs\": {} }}",
        req.index_uid, req.deadline_ms
    ))
}

#[tokio::test]
async fn searches_pass_through_and_failures_are_explicit() {
    let gw = common::start(Config {
        search_timeout_ms: 1_000,
        ..common::config()
    })
    .await;
    gw.put_index("npm", Some("id")).await;
    let mut merger = common::fake(&gw.nats, Service::Merger).await;
    merger
        .serve::<Search, _, _>(|req, _| async move {
            if req.body.windows(7).any(|w| w == b"version") {
                let recorded =
                    common::recorded("05-search.json", "search: filter on non-filterable");
                let message = recorded.response.body["message"]
                    .as_str()
                    .unwrap()
                    .replace("Index `npm`", "Index `npm__s1`");
                return Err(MeiliError::new(ErrorCode::InvalidSearchFilter, message));
            }
            Ok(JsonBody { body: echo(&req) })
        })
        .await
        .unwrap();
    let client = gw.client();

    // POST: the merger's bytes, untouched.
    let sent = br#"{"q": "react",   "limit": 5, "big": 123456789012345678901234567890}"#;
    let r = common::http()
        .post(gw.url("/indexes/npm/search"))
        .bearer_auth(common::KEY)
        .header("Content-Type", "application/json")
        .body(sent.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    let expected = echo(&Search {
        index_uid: "npm".into(),
        body: Bytes::from_static(sent),
        deadline_ms: 900,
    });
    assert_eq!(r.bytes().await.unwrap(), expected);

    // GET: parameters become the POST body, typed.
    let rec = common::recorded("05-search.json", "search GET");
    let r = client.get(&rec.request.path).await.unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body["received"],
        json!({"q": "lodash", "limit": 2, "showRankingScore": true})
    );
    let r = client.get("/indexes/npm/search?q=a&facets=scope,major&attributesToRetrieve=name&sort=downloads:desc&filter=major%20%3E%201").await.unwrap();
    assert_eq!(
        r.body["received"],
        json!({"q": "a", "facets": ["scope", "major"], "attributesToRetrieve": ["name"], "sort": ["downloads:desc"], "filter": "major > 1"})
    );
    let r = client.get("/indexes/npm/search?limit=-1").await.unwrap();
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (400, Some("invalid_search_limit"))
    );

    // Errors from the merger, with the shard index name rewritten: exactly what Meilisearch said.
    let rec = common::recorded("05-search.json", "search: filter on non-filterable");
    let r = client
        .post(&rec.request.path, &rec.request.body)
        .await
        .unwrap();
    assert_eq!(
        (r.status, &r.body),
        (rec.response.status, &rec.response.body)
    );

    let rec = common::recorded("05-search.json", "search missing index");
    let r = client
        .post(&rec.request.path, &rec.request.body)
        .await
        .unwrap();
    assert_eq!(
        (r.status, &r.body),
        (rec.response.status, &rec.response.body)
    );

    // Body errors, before the index is even looked up.
    let r = client
        .send_raw(
            Method::POST,
            "/indexes/nope/search",
            "application/json",
            b"{\"q\":".to_vec(),
        )
        .await
        .unwrap();
    assert_eq!(
        (
            r.status,
            r.body["code"].as_str(),
            r.body["message"].as_str()
        ),
        (
            400,
            Some("malformed_payload"),
            Some(
                "The json payload provided is malformed. `EOF while parsing a value at line 1 column 5`."
            )
        )
    );
    let r = client
        .post("/indexes/npm/search", &json!(["q"]))
        .await
        .unwrap();
    assert_eq!(
        (
            r.status,
            r.body["code"].as_str(),
            r.body["message"].as_str()
        ),
        (
            400,
            Some("bad_request"),
            Some("Invalid value type: expected an object, but found an array: `[\"q\"]`")
        )
    );
    let r = client
        .send_raw(
            Method::POST,
            "/indexes/npm/search",
            "application/x-ndjson",
            b"{}".to_vec(),
        )
        .await
        .unwrap();
    assert_eq!(
        r.body,
        json!({
            "message": "The Content-Type `application/x-ndjson` is invalid. Accepted values for the Content-Type header are: `application/json`",
            "code": "invalid_content_type", "type": "invalid_request",
            "link": "https://docs.meilisearch.com/errors#invalid_content_type"
        })
    );
    let r = common::http()
        .post(gw.url("/indexes/npm/search"))
        .bearer_auth(common::KEY)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    assert_eq!(
        r.json::<Value>().await.unwrap()["code"],
        "missing_content_type"
    );
    let r = client
        .send_raw(
            Method::POST,
            "/indexes/npm/search",
            "application/json",
            Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.body["message"].as_str()),
        (400, Some("A json payload is missing."))
    );

    // No merger at all: 503 at once.
    merger.shutdown(Duration::from_secs(1)).await;
    let started = Instant::now();
    let r = client
        .post("/indexes/npm/search", &json!({"q": "x"}))
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (503, Some("service_unavailable")),
        "{}",
        r.body
    );
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );

    // A merger slower than the deadline: 504 when the deadline passes.
    let mut slow = common::fake(&gw.nats, Service::Merger).await;
    slow.serve::<Search, _, _>(|req, _| async move {
        tokio::time::sleep(Duration::from_secs(3)).await;
        Ok(JsonBody { body: echo(&req) })
    })
    .await
    .unwrap();
    let started = Instant::now();
    let r = client
        .post("/indexes/npm/search", &json!({"q": "x"}))
        .await
        .unwrap();
    let waited = started.elapsed();
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (504, Some("service_timeout")),
        "{}",
        r.body
    );
    assert!(
        waited >= Duration::from_millis(1_000) && waited < Duration::from_millis(2_500),
        "{waited:?}"
    );
    slow.shutdown(Duration::ZERO).await;
    gw.stop().await;
}
