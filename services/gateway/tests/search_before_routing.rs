//! The gateway answers searches (`POST`/`GET /indexes/{uid}/search`) and multi-searches before
//! routing (`routes::Api`); `miroir_gateway::app_through_router` is the same API with every
//! request going through the router, its `require_key` layer and the handlers' extractors. Both
//! must answer alike: every combination of key (none, wrong, master, an API key limited by index
//! or by action, tenant tokens with a filter, for another index, expired) and request (good,
//! malformed, wrong content type, not an object, GET parameters good and bad, multi-searches
//! plain and federated, on open, closed, missing and invalid indexes) is sent to both and must
//! get the same status and body.
#![allow(clippy::unwrap_used)]

mod common;

use axum::body::Body;
use bytes::Bytes;
use miroir_gateway::AppState;
use miroir_gateway::fuzz_api::sign_token;
use miroir_proto::rpc::{JsonBody, Search};
use miroir_proto::rpc_search::MultiSearch;
use miroir_proto::subjects::Service;
use miroir_testkit::MeiliClient;
use reqwest::Method;
use serde_json::{Value, json};
use tower::ServiceExt;

fn token(claims: Value, key: &str) -> String {
    sign_token(&json!({"alg": "HS256", "typ": "JWT"}), &claims, key).unwrap()
}

/// A new API key's uid and value.
async fn create_key(admin: &MeiliClient, actions: Value, indexes: Value) -> (String, String) {
    let body = json!({"actions": actions, "indexes": indexes, "expiresAt": null});
    let created = admin.post("/keys", &body).await.unwrap();
    assert_eq!(created.status, 201, "{}", created.body);
    let field = |name: &str| created.body[name].as_str().unwrap().to_string();
    (field("uid"), field("key"))
}

/// One request, as a test case names it.
struct Case {
    method: Method,
    path: String,
    content_type: Option<&'static str>,
    body: Vec<u8>,
}

impl Case {
    fn post(path: &str, content_type: Option<&'static str>, body: &[u8]) -> Case {
        Case {
            method: Method::POST,
            path: path.to_string(),
            content_type,
            body: body.to_vec(),
        }
    }

    fn get(path: &str) -> Case {
        Case {
            method: Method::GET,
            path: path.to_string(),
            content_type: None,
            body: Vec::new(),
        }
    }

    /// Sent to `api` in process: the status and the JSON body.
    async fn send(&self, api: &miroir_gateway::App, key: Option<&str>) -> (u16, Value) {
        let mut request = axum::http::Request::builder()
            .method(self.method.as_str())
            .uri(&self.path);
        if let Some(key) = key {
            request = request.header("Authorization", format!("Bearer {key}"));
        }
        if let Some(content_type) = self.content_type {
            request = request.header("Content-Type", content_type);
        }
        let request = request.body(Body::from(self.body.clone())).unwrap();
        let response = api.clone().oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }
}

#[tokio::test]
async fn requests_answered_before_routing_match_the_router() {
    let gw = common::start(common::config()).await;
    gw.put_index("movies", Some("id")).await;
    gw.put_index("books", Some("id")).await;
    let mut merger = common::fake(&gw.nats, Service::Merger).await;
    merger
        .serve::<Search, _, _>(|req, _| async move {
            let body = String::from_utf8_lossy(&req.body);
            Ok(JsonBody {
                body: Bytes::from(format!(
                    "{{\"received\":{body},\"index\":\"{}\"}}",
                    req.index_uid
                )),
            })
        })
        .await
        .unwrap();
    merger
        .serve::<MultiSearch, _, _>(|req, _| async move {
            let queries: Vec<Value> = req
                .queries
                .iter()
                .map(|q| {
                    json!({
                        "indexUid": q.index_uid,
                        "received": serde_json::from_slice::<Value>(&q.body).unwrap(),
                        "weight": q.weight,
                    })
                })
                .collect();
            let answer = json!({"queries": queries, "federated": req.federation.is_some()});
            Ok(JsonBody {
                body: Bytes::from(answer.to_string()),
            })
        })
        .await
        .unwrap();

    let admin = gw.client();
    let mut keys: Vec<(String, Option<String>)> = vec![
        ("no key".into(), None),
        ("wrong key".into(), Some("not-a-key".into())),
        ("master key".into(), Some(common::KEY.into())),
    ];
    let (search_uid, search_key) = create_key(&admin, json!(["search"]), json!(["movies"])).await;
    keys.push(("search key on movies".into(), Some(search_key.clone())));
    let (_, add_key) = create_key(&admin, json!(["documents.add"]), json!(["*"])).await;
    keys.push(("documents.add key".into(), Some(add_key)));
    let rules = json!({"movies": {"filter": "genre = comedy"}});
    let filtered = token(
        json!({"apiKeyUid": search_uid, "searchRules": rules}),
        &search_key,
    );
    keys.push(("tenant token with a filter".into(), Some(filtered.clone())));
    let books_only = json!({"apiKeyUid": search_uid, "searchRules": ["books"]});
    keys.push((
        "tenant token for books".into(),
        Some(token(books_only, &search_key)),
    ));
    let expired = json!({"apiKeyUid": search_uid, "searchRules": ["*"], "exp": 1_000_000});
    keys.push((
        "expired tenant token".into(),
        Some(token(expired, &search_key)),
    ));

    let json_type = Some("application/json");
    let mut cases = Vec::new();
    for uid in ["movies", "books", "nope", "b@d"] {
        let path = format!("/indexes/{uid}/search");
        let filtered = br#"{"q": "x", "filter": "genre = drama", "limit": 3}"#;
        cases.push(Case::post(&path, json_type, filtered));
        cases.push(Case::post(&path, json_type, b"{\"q\": "));
        cases.push(Case::post(&path, Some("text/plain"), b"{}"));
        cases.push(Case::post(&path, None, b"{}"));
        cases.push(Case::post(&path, json_type, b"[1]"));
        cases.push(Case::get(&format!(
            "{path}?q=x&limit=3&filter=genre%20%3D%20drama"
        )));
        cases.push(Case::get(&format!("{path}?limit=many")));
    }
    let multi: [&[u8]; 8] = [
        br#"{"queries": [{"indexUid": "movies", "q": "x", "filter": "genre = drama"}, {"indexUid": "movies", "q": "y"}]}"#,
        br#"{"queries": [{"indexUid": "movies", "q": "x"}, {"indexUid": "books", "q": "y"}]}"#,
        br#"{"federation": {}, "queries": [{"indexUid": "movies", "q": "x", "federationOptions": {"weight": 2.0}}]}"#,
        br#"{"queries": [{"indexUid": "b@d"}]}"#,
        br#"{"queries": [{"indexUid": "nope"}]}"#,
        br#"{"queries": 3}"#,
        br#"{"queries": ["#,
        br#"[]"#,
    ];
    for body in multi {
        cases.push(Case::post("/multi-search", json_type, body));
    }
    cases.push(Case::post("/multi-search", Some("text/plain"), multi[0]));

    let state = AppState::new(common::config(), gw.nats.clone())
        .await
        .unwrap();
    let early = miroir_gateway::app(state.clone());
    let routed = miroir_gateway::app_through_router(state);
    let mut compared = 0;
    let mut answered = 0;
    for (key_name, key) in &keys {
        for case in &cases {
            let answers = (
                case.send(&early, key.as_deref()).await,
                case.send(&routed, key.as_deref()).await,
            );
            assert_eq!(
                answers.0,
                answers.1,
                "{key_name}, {} {} ({:?} {})",
                case.method,
                case.path,
                case.content_type,
                String::from_utf8_lossy(&case.body)
            );
            compared += 1;
            answered += usize::from(answers.0.0 == 200);
        }
    }
    assert_eq!(compared, keys.len() * cases.len());
    // Not all refusals: the master key's 4 good searches (2 per index that exists) and 4
    // multi-searches (an index missing is the merger's to refuse), and for the search key and
    // the filtered token each, the 2 searches of movies and the 2 multi-searches of movies alone.
    assert_eq!(answered, 8 + 4 + 4);
    // A token's filter was fused with the request's on the way.
    let case = Case::post(
        "/multi-search",
        json_type,
        br#"{"queries": [{"indexUid": "movies", "q": "x", "filter": "genre = drama"}]}"#,
    );
    let (status, body) = case.send(&early, Some(&filtered)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["queries"][0]["received"]["filter"],
        json!(["genre = drama", "genre = comedy"])
    );
    let case = Case::post(
        "/indexes/movies/search",
        json_type,
        br#"{"q": "x", "filter": "genre = drama"}"#,
    );
    let (status, body) = case.send(&early, Some(&filtered)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["index"], "movies");
    assert_eq!(
        body["received"]["filter"],
        json!(["genre = drama", "genre = comedy"])
    );
    gw.stop().await;
}
