//! Invariant: a tenant token opens searches only as far as its signing key and its search rules
//! allow: its filter is ANDed with the request's own so that no request widens it, and a token
//! that is tampered with (payload, signature, `alg: none`), expired, or signed by a deleted key
//! is refused with Meilisearch's 403; tokens signed by the official SDK are accepted.
#![allow(clippy::unwrap_used)]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use meilisearch_sdk::client::Client;
use meilisearch_sdk::key::{Action, KeyBuilder};
use miroir_e2e::{ClusterOptions, GATEWAY_MASTER_KEY, TestCluster};
use miroir_testkit::{MeiliClient, Reply};
use serde_json::{Value, json};
use sha2::{Sha256, Sha384, Sha512};
use time::OffsetDateTime;

/// Sign a JWT with any header and claims, as an SDK would (HS256/384/512).
fn sign(header: &Value, claims: &Value, secret: &str) -> String {
    let signed = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let mac = match header["alg"].as_str() {
        Some("HS384") => {
            let mut m = Hmac::<Sha384>::new_from_slice(secret.as_bytes()).unwrap();
            m.update(signed.as_bytes());
            m.finalize().into_bytes().to_vec()
        }
        Some("HS512") => {
            let mut m = Hmac::<Sha512>::new_from_slice(secret.as_bytes()).unwrap();
            m.update(signed.as_bytes());
            m.finalize().into_bytes().to_vec()
        }
        _ => {
            let mut m = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
            m.update(signed.as_bytes());
            m.finalize().into_bytes().to_vec()
        }
    };
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(mac))
}

pub(super) fn hs256(claims: Value, secret: &str) -> String {
    sign(&json!({"alg": "HS256", "typ": "JWT"}), &claims, secret)
}

fn genres(reply: &Reply) -> Vec<String> {
    assert_eq!(reply.status, 200, "{}", reply.body);
    let mut out: Vec<String> = reply.body["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["genre"].as_str().unwrap().to_string())
        .collect();
    out.sort();
    out.dedup();
    out
}

fn assert_refused(reply: &Reply, message: &str) {
    assert_eq!(
        (
            reply.status,
            reply.body["code"].as_str(),
            reply.body["type"].as_str(),
            reply.body["message"].as_str()
        ),
        (403, Some("invalid_api_key"), Some("auth"), Some(message)),
        "{}",
        reply.body
    );
}

/// `movies` (filterable on `genre`) and `books`, and a search key for `movies` only.
async fn setup(cluster: &TestCluster) -> (String, String) {
    let admin = cluster.client();
    for uid in ["movies", "books"] {
        let r = admin
            .post("/indexes", &json!({"uid": uid, "primaryKey": "id"}))
            .await
            .unwrap();
        admin.wait_succeeded(&r).await.unwrap();
        let r = admin
            .patch(
                &format!("/indexes/{uid}/settings"),
                &json!({"filterableAttributes": ["genre"]}),
            )
            .await
            .unwrap();
        admin.wait_succeeded(&r).await.unwrap();
        let docs: Vec<Value> = (0..60)
            .map(|i| {
                let genre = ["comedy", "drama", "horror"][i % 3];
                json!({"id": i, "title": format!("the story {i}"), "genre": genre})
            })
            .collect();
        let r = admin
            .post(&format!("/indexes/{uid}/documents"), &json!(docs))
            .await
            .unwrap();
        admin.wait_succeeded(&r).await.unwrap();
    }
    let r = admin
        .post(
            "/keys",
            &json!({"actions": ["search"], "indexes": ["movies"], "expiresAt": null}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.body);
    (
        r.body["uid"].as_str().unwrap().to_string(),
        r.body["key"].as_str().unwrap().to_string(),
    )
}

fn with(cluster: &TestCluster, token: &str) -> MeiliClient {
    cluster.client().with_key(Some(token.to_string()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_filter_cannot_be_widened() {
    let cluster = TestCluster::start(ClusterOptions::default()).await.unwrap();
    let (uid, key) = setup(&cluster).await;
    let rules = json!({"movies": {"filter": "genre = comedy"}});
    for alg in ["HS256", "HS384", "HS512"] {
        let token = sign(
            &json!({"alg": alg, "typ": "JWT"}),
            &json!({"apiKeyUid": uid, "searchRules": rules, "exp": null}),
            &key,
        );
        let client = with(&cluster, &token);
        let r = client
            .post(
                "/indexes/movies/search",
                &json!({"q": "story", "limit": 100}),
            )
            .await
            .unwrap();
        assert_eq!(genres(&r), ["comedy"], "{alg}");
        assert_eq!(r.body["estimatedTotalHits"], json!(20));
        // The request's own filter is ANDed, never ORed: it can only narrow.
        for filter in [
            json!("genre = drama OR genre = comedy"),
            json!(["genre = drama OR genre = comedy"]),
            json!([["genre = drama", "genre = comedy"]]),
        ] {
            let r = client
                .post(
                    "/indexes/movies/search",
                    &json!({"q": "", "filter": filter, "limit": 100}),
                )
                .await
                .unwrap();
            assert_eq!(genres(&r), ["comedy"], "{alg} {filter}");
        }
        let r = client
            .post(
                "/indexes/movies/search",
                &json!({"filter": "genre = drama"}),
            )
            .await
            .unwrap();
        assert_eq!(r.body["estimatedTotalHits"], json!(0), "{}", r.body);
        let r = client.get("/indexes/movies/search?filter=genre%20%3D%20drama%20OR%20genre%20%3D%20comedy&limit=100").await.unwrap();
        assert_eq!(genres(&r), ["comedy"], "GET {alg}");
        // Only searches: a token is no key for other routes.
        let r = client.get("/indexes/movies/documents").await.unwrap();
        assert_refused(&r, "The provided API key is invalid.");
    }
    // A token whose rules open every index, no filter: the key still limits it to `movies`.
    let open = hs256(json!({"apiKeyUid": uid, "searchRules": ["*"]}), &key);
    let r = with(&cluster, &open)
        .post("/indexes/movies/search", &json!({"limit": 100}))
        .await
        .unwrap();
    assert_eq!(genres(&r), ["comedy", "drama", "horror"]);
    let r = with(&cluster, &open)
        .post("/indexes/books/search", &json!({}))
        .await
        .unwrap();
    assert_refused(
        &r,
        "The API key used to generate this tenant token cannot acces the index `books`.",
    );
    // The token's own index list.
    let r = with(
        &cluster,
        &hs256(json!({"apiKeyUid": uid, "searchRules": rules}), &key),
    )
    .post("/indexes/books/search", &json!({}))
    .await
    .unwrap();
    assert_refused(
        &r,
        "The provided tenant token cannot acces the index `books`, allowed indexes are [\"movies\"].",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_expired_and_orphan_tokens_are_refused() {
    let cluster = TestCluster::start(ClusterOptions::default()).await.unwrap();
    let (uid, key) = setup(&cluster).await;
    let claims = json!({"apiKeyUid": uid, "searchRules": {"movies": {"filter": "genre = comedy"}}});
    let good = hs256(claims.clone(), &key);
    let search = |token: String| {
        let client = with(&cluster, &token);
        async move {
            client
                .post("/indexes/movies/search", &json!({"limit": 100}))
                .await
                .unwrap()
        }
    };
    assert_eq!(genres(&search(good.clone()).await), ["comedy"]);

    let mut parts = good.split('.').map(str::to_string);
    let (header, _, signature) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    // The payload widened, the signature kept.
    let widened =
        URL_SAFE_NO_PAD.encode(json!({"apiKeyUid": uid, "searchRules": ["*"]}).to_string());
    assert_refused(
        &search(format!("{header}.{widened}.{signature}")).await,
        "Could not decode tenant token, InvalidSignature.",
    );
    // The signature changed.
    let mut bad_sig = signature.clone().into_bytes();
    bad_sig[0] = if bad_sig[0] == b'A' { b'B' } else { b'A' };
    let bad_sig = String::from_utf8(bad_sig).unwrap();
    let payload = good.split('.').nth(1).unwrap();
    assert_refused(
        &search(format!("{header}.{payload}.{bad_sig}")).await,
        "Could not decode tenant token, InvalidSignature.",
    );
    // Signed with another secret (the master key itself is not a signing key).
    assert_refused(
        &search(hs256(claims.clone(), GATEWAY_MASTER_KEY)).await,
        "Could not decode tenant token, InvalidSignature.",
    );
    // `alg: none`, without a signature.
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(json!({"apiKeyUid": uid, "searchRules": ["*"]}).to_string())
    );
    let r = search(none).await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (403, Some("invalid_api_key")),
        "{}",
        r.body
    );
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .starts_with("Could not decode tenant token, JSON error: unknown variant `none`"),
        "{}",
        r.body
    );
    // An asymmetric algorithm named in the header.
    assert_refused(
        &search(sign(&json!({"alg": "RS256"}), &claims, &key)).await,
        "Could not decode tenant token, InvalidAlgorithm.",
    );
    // Expired.
    let past = OffsetDateTime::now_utc().unix_timestamp() - 60;
    let r = search(hs256(
        json!({"apiKeyUid": uid, "searchRules": ["*"], "exp": past}),
        &key,
    ))
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(
        r.body["message"].as_str().unwrap().starts_with(&format!(
            "Tenant token expired. Was valid up to `{past}` and we're now `"
        )),
        "{}",
        r.body
    );
    let future = OffsetDateTime::now_utc().unix_timestamp() + 3600;
    assert_eq!(
        search(hs256(
            json!({"apiKeyUid": uid, "searchRules": ["*"], "exp": future}),
            &key
        ))
        .await
        .status,
        200
    );
    // Not a JWT at all, or missing claims.
    assert_refused(
        &search("not-a-token".into()).await,
        "The provided API key is invalid.",
    );
    let r = search(hs256(json!({"searchRules": ["*"]}), &key)).await;
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .contains("missing field `apiKeyUid`"),
        "{}",
        r.body
    );

    // A key without the search action cannot sign tokens.
    let r = cluster
        .client()
        .post(
            "/keys",
            &json!({"actions": ["documents.get"], "indexes": ["*"], "expiresAt": null}),
        )
        .await
        .unwrap();
    let (other_uid, other_key) = (
        r.body["uid"].as_str().unwrap().to_string(),
        r.body["key"].as_str().unwrap().to_string(),
    );
    assert_refused(
        &search(hs256(
            json!({"apiKeyUid": other_uid, "searchRules": ["*"]}),
            &other_key,
        ))
        .await,
        "The provided API key is invalid.",
    );

    // The signing key deleted: its tokens die with it.
    let r = cluster
        .client()
        .delete(&format!("/keys/{uid}"))
        .await
        .unwrap();
    assert_eq!(r.status, 204);
    assert_refused(&search(good).await, "The provided API key is invalid.");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_signed_tokens_are_accepted() {
    let cluster = TestCluster::start(ClusterOptions::default()).await.unwrap();
    setup(&cluster).await;
    let admin = Client::new(cluster.gateway_url(), Some(GATEWAY_MASTER_KEY)).unwrap();
    let key = KeyBuilder::new()
        .with_action(Action::Search)
        .with_index("movies")
        .execute(&admin)
        .await
        .unwrap();
    let rules = json!({"movies": {"filter": "genre = comedy"}});
    let expires = OffsetDateTime::now_utc() + time::Duration::hours(1);
    for expires_at in [None, Some(expires)] {
        let token = admin
            .generate_tenant_token(key.uid.clone(), rules.clone(), Some(&key.key), expires_at)
            .unwrap();
        let tenant = Client::new(cluster.gateway_url(), Some(token)).unwrap();
        let found = tenant
            .index("movies")
            .search()
            .with_filter("genre = drama OR genre = comedy")
            .with_limit(100)
            .execute::<Value>()
            .await
            .unwrap();
        assert_eq!(found.hits.len(), 20);
        assert!(
            found
                .hits
                .iter()
                .all(|h| h.result["genre"] == json!("comedy"))
        );
        let refused = tenant.index("books").search().execute::<Value>().await;
        assert!(refused.is_err(), "{refused:?}");
    }
}
