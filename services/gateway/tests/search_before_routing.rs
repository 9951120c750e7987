//! The gateway answers `POST`/`GET /indexes/{uid}/search` before routing (`routes::Api`); a uid
//! with a percent-escape still goes through the router, its `require_key` layer and the
//! handler's extractors. Both must answer alike: every combination of key (none, wrong, master,
//! an API key limited by index or by action, tenant tokens with a filter, for another index,
//! expired), index (open, closed to the key, missing, invalid uid) and request (good, malformed,
//! wrong content type, not an object, GET parameters good and bad) is sent both ways and must get
//! the same status and body.
#![allow(clippy::unwrap_used)]

mod common;

use bytes::Bytes;
use miroir_gateway::fuzz_api::sign_token;
use miroir_proto::rpc::{JsonBody, Search};
use miroir_proto::subjects::Service;
use miroir_testkit::MeiliClient;
use reqwest::Method;
use serde_json::{Value, json};

/// The same uid with its first character percent-escaped: the router decodes it back.
fn escaped(uid: &str) -> String {
    let mut chars = uid.chars();
    let first = chars.next().unwrap();
    format!("%{:02X}{}", first as u32, chars.as_str())
}

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

#[tokio::test]
async fn searches_answered_before_routing_match_the_router() {
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
    keys.push((
        "tenant token with a filter".into(),
        Some(token(
            json!({"apiKeyUid": search_uid, "searchRules": rules}),
            &search_key,
        )),
    ));
    keys.push((
        "tenant token for books".into(),
        Some(token(
            json!({"apiKeyUid": search_uid, "searchRules": ["books"]}),
            &search_key,
        )),
    ));
    keys.push((
        "expired tenant token".into(),
        Some(token(
            json!({"apiKeyUid": search_uid, "searchRules": ["*"], "exp": 1_000_000}),
            &search_key,
        )),
    ));

    let requests: Vec<(Method, &str, Option<&str>, &[u8])> = vec![
        (
            Method::POST,
            "",
            Some("application/json"),
            br#"{"q": "x", "filter": "genre = drama", "limit": 3}"#,
        ),
        (Method::POST, "", Some("application/json"), b"{\"q\": "),
        (Method::POST, "", Some("text/plain"), b"{}"),
        (Method::POST, "", None, b"{}"),
        (Method::POST, "", Some("application/json"), b"[1]"),
        (
            Method::GET,
            "?q=x&limit=3&filter=genre%20%3D%20drama",
            None,
            b"",
        ),
        (Method::GET, "?limit=many", None, b""),
    ];
    let http = common::http();
    let mut compared = 0;
    for (key_name, key) in &keys {
        for uid in ["movies", "books", "nope", "b@d"] {
            for (method, query, content_type, body) in &requests {
                let mut answers = Vec::new();
                for spelled in [uid.to_string(), escaped(uid)] {
                    let url = gw.url(&format!("/indexes/{spelled}/search{query}"));
                    let mut request = http.request(method.clone(), url);
                    if let Some(key) = key {
                        request = request.bearer_auth(key);
                    }
                    if let Some(content_type) = content_type {
                        request = request.header("Content-Type", *content_type);
                    }
                    if *method == Method::POST {
                        request = request.body(body.to_vec());
                    }
                    let response = request.send().await.unwrap();
                    let status = response.status().as_u16();
                    let body: Value = response.json().await.unwrap();
                    answers.push((status, body));
                }
                assert_eq!(
                    answers[0],
                    answers[1],
                    "{key_name}, {method} /indexes/{uid}/search{query} ({content_type:?} {})",
                    String::from_utf8_lossy(body)
                );
                compared += 1;
            }
        }
    }
    assert_eq!(compared, keys.len() * 4 * requests.len());
    // Not all refusals: the searches that were let in reached the merger, the token's filter
    // fused with the request's.
    let r = http
        .post(gw.url("/indexes/movies/search"))
        .bearer_auth(keys[5].1.as_ref().unwrap())
        .header("Content-Type", "application/json")
        .body(r#"{"q": "x", "filter": "genre = drama"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["index"], "movies");
    assert_eq!(
        body["received"]["filter"],
        json!(["genre = drama", "genre = comedy"])
    );
    gw.stop().await;
}
