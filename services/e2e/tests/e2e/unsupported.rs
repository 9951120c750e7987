//! Invariant: every route of a Meilisearch node that Miroir cannot serve on a sharded index
//! answers with Meilisearch's error shape and a reason (a Meilisearch code where one fits,
//! `not_supported_by_miroir` otherwise), never a bare 404 or 500; and the recorded answers of
//! `/experimental-features`, `/network` and `/indexes` pagination are reproduced exactly.
#![allow(clippy::unwrap_used)]

use miroir_e2e::{ClusterOptions, TestCluster};
use miroir_testkit::load_recordings;
use reqwest::Method;
use serde_json::{Value, json};

fn recorded(file: &str, name: &str) -> (u16, Value) {
    let exchange = load_recordings(file)
        .unwrap()
        .into_iter()
        .find(|e| e.name == name)
        .unwrap();
    (exchange.response.status, exchange.response.body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_routes_say_why() {
    let cluster = TestCluster::start(ClusterOptions {
        nodes: 1,
        shards: 2,
        replication_factor: 1,
        ..Default::default()
    })
    .await
    .unwrap();
    let client = cluster.client();
    let r = client
        .post("/indexes", &json!({"uid": "movies", "primaryKey": "id"}))
        .await
        .unwrap();
    client.wait_succeeded(&r).await.unwrap();

    // Recorded answers, byte for byte.
    let (status, body) = recorded("09-misc.json", "experimental features");
    let r = client.get("/experimental-features").await.unwrap();
    assert_eq!((r.status, r.body), (status, body));
    let (status, body) = recorded("09-misc.json", "network (CE)");
    let r = client.get("/network").await.unwrap();
    assert_eq!((r.status, r.body), (status, body));
    let (status, body) = recorded("02-indexes.json", "list indexes");
    let r = client.get("/indexes?limit=10&offset=0").await.unwrap();
    assert_eq!(r.status, status);
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&r.body), keys(&body));
    assert_eq!(keys(&r.body["results"][0]), keys(&body["results"][0]));
    assert_eq!(
        (
            r.body["offset"].clone(),
            r.body["limit"].clone(),
            r.body["total"].clone()
        ),
        (json!(0), json!(10), json!(1))
    );
    assert_eq!(
        client.get("/indexes?limit=x").await.unwrap().body["code"],
        json!("invalid_index_limit")
    );

    // Routes gated by an experimental feature answer as a node with the feature off.
    let gated: &[(Method, &str, &str)] = &[
        (
            Method::PATCH,
            "/network",
            "Using the /network route requires enabling the `network` experimental feature.",
        ),
        (
            Method::GET,
            "/metrics",
            "Getting metrics requires enabling the `metrics` experimental feature.",
        ),
        (
            Method::POST,
            "/logs/stream",
            "Modifying logs through the `/logs/*` routes requires enabling the `logs route` experimental feature.",
        ),
        (
            Method::DELETE,
            "/logs/stream",
            "Modifying logs through the `/logs/*` routes",
        ),
        (
            Method::POST,
            "/logs/stderr",
            "Modifying logs through the `/logs/*` routes",
        ),
        (
            Method::POST,
            "/indexes/movies/documents/edit",
            "Using the documents edit route requires enabling the `edit documents by function` experimental feature.",
        ),
        (
            Method::GET,
            "/tasks/0/documents",
            "Getting the documents of an enqueued task requires",
        ),
        (
            Method::POST,
            "/tasks/compact",
            "Using the /tasks/compact route requires",
        ),
    ];
    for (method, path, message) in gated {
        let r = client
            .send_raw(method.clone(), path, "application/json", b"{}".to_vec())
            .await
            .unwrap();
        assert_eq!(
            (r.status, r.body["code"].clone()),
            (400, json!("feature_not_enabled")),
            "{method} {path}: {}",
            r.body
        );
        assert!(
            r.body["message"].as_str().unwrap().starts_with(message),
            "{method} {path}: {}",
            r.body
        );
        assert_eq!(
            r.body["link"],
            json!("https://docs.meilisearch.com/errors#feature_not_enabled")
        );
    }

    // Routes Miroir cannot serve on a sharded index say so, and why.
    let refused: &[(Method, &str, &str)] = &[
        (
            Method::POST,
            "/snapshots",
            "a snapshot is the database of one node",
        ),
        (Method::POST, "/export", "exporting to another instance"),
        (Method::GET, "/chats", "chat completions"),
        (
            Method::POST,
            "/chats/support/chat/completions",
            "chat completions",
        ),
        (Method::PATCH, "/chats/support/settings", "chat completions"),
    ];
    for (method, path, reason) in refused {
        let r = client
            .send_raw(method.clone(), path, "application/json", b"{}".to_vec())
            .await
            .unwrap();
        assert_eq!(
            (r.status, r.body["code"].clone()),
            (501, json!("not_supported_by_miroir")),
            "{method} {path}: {}",
            r.body
        );
        assert_eq!(r.body["type"], json!("invalid_request"));
        let message = r.body["message"].as_str().unwrap();
        let route = path.split('?').next().unwrap();
        assert!(
            message.starts_with(&format!(
                "The route `{method} {route}` is not supported by Miroir: "
            )),
            "{message}"
        );
        assert!(message.contains(reason), "{method} {path}: {message}");
    }

    // `similar` checks its input first, as Meilisearch does (the recorded answer).
    let r = client
        .post("/indexes/movies/similar", &json!({"id": 1}))
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.body["message"].clone()),
        (400, json!("Missing field `embedder`")),
        "{}",
        r.body
    );
    let r = client.get("/indexes/movies/similar?id=1").await.unwrap();
    assert_eq!(
        (r.status, r.body["code"].clone()),
        (400, json!("bad_request")),
        "{}",
        r.body
    );
    let r = client
        .post(
            "/indexes/movies/similar",
            &json!({"id": 1, "embedder": "default"}),
        )
        .await
        .unwrap();
    // Served now: an index without that embedder answers as a node does.
    assert_eq!(
        (r.status, r.body["code"].clone()),
        (400, json!("invalid_similar_embedder")),
        "{}",
        r.body
    );

    // Authentication still comes first.
    let r = client
        .with_key(None)
        .post("/snapshots", &json!({}))
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.body["code"].clone()),
        (401, json!("missing_authorization_header"))
    );
    // A route no Meilisearch has is still Meilisearch's 404.
    let r = client.get("/nope").await.unwrap();
    assert_eq!(
        (r.status, r.body["code"].clone()),
        (404, json!("not_found"))
    );
}
