//! With a master key every route but `/health` needs `Authorization: Bearer <key>` and answers
//! 401/403 with the bodies a real Meilisearch 1.50 gave; without a master key the API is open;
//! unknown routes and wrong methods get Meilisearch-shaped errors, never bare text.
#![allow(clippy::unwrap_used)]

mod common;

use miroir_gateway::Config;
use serde_json::json;

#[tokio::test]
async fn master_key_guards_every_route_but_health() {
    let gw = common::start(common::config()).await;
    let anonymous = gw.anonymous();

    let health = anonymous.get("/health").await.unwrap();
    let recorded = common::recorded("01-basics.json", "health (no auth)");
    assert_eq!(
        (health.status, health.body),
        (recorded.response.status, recorded.response.body)
    );

    let version = gw.client().get("/version").await.unwrap();
    assert_eq!(version.status, 200);
    assert_eq!(version.body["pkgVersion"], "1.50.0");
    assert!(version.body["commitSha"].is_string() && version.body["commitDate"].is_string());

    let missing = common::recorded("01-basics.json", "version without auth");
    let wrong = common::recorded("01-basics.json", "version with wrong key");
    let wrong_key = gw.client().with_key(Some("not-the-key".into()));
    for path in [
        "/version",
        "/stats",
        "/indexes",
        "/indexes/books",
        "/indexes/books/search",
        "/tasks",
        "/tasks/1",
    ] {
        let r = anonymous.get(path).await.unwrap();
        assert_eq!(
            (r.status, &r.body),
            (missing.response.status, &missing.response.body),
            "GET {path}"
        );
        let r = wrong_key.get(path).await.unwrap();
        assert_eq!(
            (r.status, &r.body),
            (wrong.response.status, &wrong.response.body),
            "GET {path}"
        );
    }
    // Auth is checked before the body: a malformed upload without a key is a 401.
    let r = anonymous
        .send_raw(
            reqwest::Method::POST,
            "/indexes/books/documents",
            "application/json",
            b"[{".to_vec(),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 401);
    // Another scheme is a missing bearer header, as in Meilisearch.
    let r = common::http()
        .get(gw.url("/version"))
        .header("Authorization", format!("Basic {}", common::KEY))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    let r = gw.client().get("/nope/route").await.unwrap();
    assert_eq!(r.status, 404);
    assert_eq!(r.body["code"], "not_found");
    assert_eq!(r.body["type"], "invalid_request");
    assert_eq!(
        r.body["link"],
        "https://docs.meilisearch.com/errors#not_found"
    );

    let r = gw.client().put("/indexes", &json!({})).await.unwrap();
    assert_eq!(r.status, 405);
    assert_eq!(r.body["code"], "method_not_allowed");

    // CORS preflight is answered without a key, as browsers send it; answers carry the header.
    let r = common::http()
        .request(reqwest::Method::OPTIONS, gw.url("/indexes/books/search"))
        .header("Origin", "https://example.org")
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "authorization, content-type",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    assert_eq!(
        r.headers()["access-control-allow-headers"],
        "authorization, content-type"
    );
    let r = common::http()
        .get(gw.url("/version"))
        .header("Origin", "https://example.org")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["access-control-allow-origin"], "*");

    // Trailing slashes are trimmed before routing, as Meilisearch does.
    let r = gw.client().get("/version/").await.unwrap();
    assert_eq!(r.status, 200);
    gw.stop().await;
}

#[tokio::test]
async fn without_a_master_key_the_api_is_open() {
    let gw = common::start(Config {
        master_key: None,
        ..common::config()
    })
    .await;
    let r = gw.anonymous().get("/version").await.unwrap();
    assert_eq!(r.status, 200);
    let r = gw.anonymous().get("/indexes").await.unwrap();
    assert_eq!(
        (r.status, r.body),
        (
            200,
            json!({"results": [], "offset": 0, "limit": 20, "total": 0})
        )
    );
    gw.stop().await;
}
