//! Invariant: API keys behave as on Meilisearch 1.50 through the whole cluster: the four default
//! keys exist, `/keys` creates, reads, patches and deletes them with Meilisearch's bodies and
//! errors, and every route opens only to a key with its action on its index, never after the
//! key expired or was deleted; the nodes' own master key never reaches a client.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::time::Duration;

use meilisearch_sdk::client::Client;
use meilisearch_sdk::key::{Action, KeyBuilder, KeyUpdater};
use miroir_e2e::{ClusterOptions, GATEWAY_MASTER_KEY, NODE_MASTER_KEY, TestCluster};
use miroir_testkit::wait::{Attempt, until};
use miroir_testkit::{Exchange, MeiliClient, Reply, load_recordings};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

fn recorded(name: &str) -> Exchange {
    load_recordings("08-keys.json")
        .unwrap()
        .into_iter()
        .find(|e| e.name == name)
        .unwrap()
}

fn assert_recorded(reply: &Reply, name: &str) {
    let e = recorded(name);
    assert_eq!(
        (reply.status, &reply.body),
        (e.response.status, &e.response.body),
        "{name}"
    );
}

fn assert_error(reply: &Reply, status: u16, code: &str) {
    assert_eq!(
        (reply.status, reply.body["code"].as_str()),
        (status, Some(code)),
        "{}",
        reply.body
    );
}

/// The node master key must never be shown to a client, in any answer.
fn assert_no_node_key(reply: &Reply) {
    assert!(
        !reply.body.to_string().contains(NODE_MASTER_KEY),
        "{}",
        reply.body
    );
}

async fn create_index_with(client: &MeiliClient, uid: &str, docs: Value) {
    let r = client
        .post("/indexes", &json!({"uid": uid, "primaryKey": "id"}))
        .await
        .unwrap();
    client.wait_succeeded(&r).await.unwrap();
    let r = client
        .post(&format!("/indexes/{uid}/documents"), &docs)
        .await
        .unwrap();
    client.wait_succeeded(&r).await.unwrap();
}

async fn create_key(client: &MeiliClient, body: Value) -> (String, String) {
    let r = client.post("/keys", &body).await.unwrap();
    assert_eq!(r.status, 201, "{}", r.body);
    (
        r.body["uid"].as_str().unwrap().to_string(),
        r.body["key"].as_str().unwrap().to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_crud_as_meilisearch() {
    let cluster = TestCluster::start(ClusterOptions::default()).await.unwrap();
    let admin = cluster.client();

    let list = admin.get("/keys").await.unwrap();
    assert_eq!(list.status, 200);
    assert_no_node_key(&list);
    let recorded_list = recorded("list keys").response.body;
    let strip = |v: &Value| -> Vec<Value> {
        v["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| {
                json!([
                    k["name"],
                    k["description"],
                    k["actions"],
                    k["indexes"],
                    k["expiresAt"]
                ])
            })
            .collect()
    };
    assert_eq!(
        strip(&list.body),
        strip(&recorded_list),
        "the default keys, newest first"
    );
    assert_eq!(list.body["total"], json!(4));
    insta::assert_json_snapshot!("default_keys", list.body, {
        ".results[].uid" => "[uid]",
        ".results[].key" => "[key]",
        ".results[].createdAt" => "[date]",
        ".results[].updatedAt" => "[date]",
    });
    // Each default key's value is the HMAC of its uid, and opens what its actions say.
    let defaults = list.body["results"].as_array().unwrap().clone();
    let search_key = defaults[0]["key"].as_str().unwrap().to_string();
    let admin_key = defaults[1]["key"].as_str().unwrap().to_string();
    let read_only = defaults[2]["key"].as_str().unwrap().to_string();
    assert_eq!(
        admin
            .with_key(Some(search_key.clone()))
            .get("/keys")
            .await
            .unwrap()
            .status,
        403
    );
    assert_eq!(
        admin
            .with_key(Some(admin_key.clone()))
            .get("/keys")
            .await
            .unwrap()
            .status,
        200
    );
    assert_eq!(
        admin
            .with_key(Some(read_only.clone()))
            .get("/keys")
            .await
            .unwrap()
            .status,
        200
    );
    assert_eq!(
        admin
            .with_key(Some(read_only.clone()))
            .get("/version")
            .await
            .unwrap()
            .status,
        200
    );
    assert_error(
        &admin
            .with_key(Some(read_only))
            .post("/keys", &json!({}))
            .await
            .unwrap(),
        403,
        "invalid_api_key",
    );

    // Create: the recorded body, with this cluster's uid and key.
    let created = admin
        .post("/keys", &recorded("create search-only key").request.body)
        .await
        .unwrap();
    assert_eq!(created.status, 201, "{}", created.body);
    assert_no_node_key(&created);
    insta::assert_json_snapshot!("created_key", created.body, {
        ".uid" => "[uid]",
        ".key" => "[key]",
        ".createdAt" => "[date]",
        ".updatedAt" => "[date]",
    });
    let uid = created.body["uid"].as_str().unwrap().to_string();
    let key = created.body["key"].as_str().unwrap().to_string();
    assert_eq!(key.len(), 64);

    // Read it by uid and by value; it is listed first.
    assert_eq!(
        admin.get(&format!("/keys/{uid}")).await.unwrap().body,
        created.body
    );
    assert_eq!(
        admin.get(&format!("/keys/{key}")).await.unwrap().body,
        created.body
    );
    let list = admin.get("/keys?limit=1&offset=0").await.unwrap();
    assert_eq!(
        (list.body["results"][0]["uid"].as_str(), &list.body["total"]),
        (Some(uid.as_str()), &json!(5))
    );
    assert_eq!(list.body["results"].as_array().unwrap().len(), 1);
    assert_error(
        &admin.get("/keys?limit=x").await.unwrap(),
        400,
        "invalid_api_key_limit",
    );
    assert_error(
        &admin.get("/keys?offset=-1").await.unwrap(),
        400,
        "invalid_api_key_offset",
    );

    // Patch: name and description only.
    let patched = admin
        .patch(&format!("/keys/{uid}"), &json!({"name": "npm search"}))
        .await
        .unwrap();
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(
        (&patched.body["name"], &patched.body["description"]),
        (&json!("npm search"), &json!("search npm"))
    );
    assert_eq!(patched.body["createdAt"], created.body["createdAt"]);
    let patched = admin
        .patch(&format!("/keys/{key}"), &json!({"description": null}))
        .await
        .unwrap();
    assert_eq!(patched.body["description"], Value::Null);
    let r = admin
        .patch(&format!("/keys/{uid}"), &json!({"actions": ["*"]}))
        .await
        .unwrap();
    assert_eq!(
        (r.status, &r.body["code"], &r.body["message"]),
        (
            400,
            &json!("immutable_api_key_actions"),
            &json!("Immutable field `actions`: expected one of `description`, `name`")
        )
    );
    // The immutable fields stayed as they were.
    assert_eq!(
        admin.get(&format!("/keys/{uid}")).await.unwrap().body["actions"],
        json!(["search"])
    );

    // Validation errors, the recorded one verbatim.
    let r = admin
        .post("/keys", &recorded("create key invalid action").request.body)
        .await
        .unwrap();
    assert_recorded(&r, "create key invalid action");
    for (body, code, message) in [
        (
            json!({"indexes": ["*"], "expiresAt": null}),
            "missing_api_key_actions",
            "Missing field `actions`",
        ),
        (
            json!({"actions": ["search"], "expiresAt": null}),
            "missing_api_key_indexes",
            "Missing field `indexes`",
        ),
        (
            json!({"actions": ["search"], "indexes": ["*"]}),
            "missing_api_key_expires_at",
            "Missing field `expiresAt`",
        ),
        (
            json!({"actions": ["search"], "indexes": {"name": "products"}, "expiresAt": null}),
            "invalid_api_key_indexes",
            "Invalid value type at `.indexes`: expected an array, but found an object: `{\"name\":\"products\"}`",
        ),
        (
            json!({"actions": ["search"], "indexes": ["bad uid"], "expiresAt": null}),
            "invalid_api_key_indexes",
            "Invalid value at `.indexes[0]`: `bad uid` is not a valid index uid pattern. Index uid patterns can be an integer or a string containing only alphanumeric characters, hyphens (-), underscores (_), and optionally end with a star (*).",
        ),
        (
            json!({"actions": ["search"], "indexes": ["*"], "expiresAt": "2010-11-13T00:00:00Z"}),
            "invalid_api_key_expires_at",
            "Invalid value at `.expiresAt`: `2010-11-13T00:00:00Z` is not a valid date. It should follow the RFC 3339 format to represents a date or datetime in the future or specified as a null value. e.g. 'YYYY-MM-DD' or 'YYYY-MM-DD HH:MM:SS'.\n",
        ),
    ] {
        let r = admin.post("/keys", &body).await.unwrap();
        assert_eq!(
            (
                r.status,
                r.body["code"].as_str(),
                r.body["message"].as_str()
            ),
            (400, Some(code), Some(message)),
            "{body}"
        );
    }
    let r = admin.post("/keys", &json!({"uid": "aaaaabbbbbccc", "actions": ["search"], "indexes": ["*"], "expiresAt": null})).await.unwrap();
    assert_error(&r, 400, "invalid_api_key_uid");
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .starts_with("Invalid value at `.uid`: invalid length"),
        "{}",
        r.body
    );
    // A chosen uid, then the same uid again.
    let fixed = json!({"uid": "4bc0887a-0e41-4f3b-935d-0c451dcee9c8", "actions": ["search"], "indexes": ["products"], "expiresAt": "2050-11-13"});
    let r = admin.post("/keys", &fixed).await.unwrap();
    assert_eq!(
        (r.status, &r.body["expiresAt"]),
        (201, &json!("2050-11-13T00:00:00Z")),
        "{}",
        r.body
    );
    let r = admin.post("/keys", &fixed).await.unwrap();
    assert_eq!(
        (r.status, &r.body["code"], &r.body["message"]),
        (
            409,
            &json!("api_key_already_exists"),
            &json!(
                "`uid` field value `4bc0887a-0e41-4f3b-935d-0c451dcee9c8` is already an existing API key."
            )
        )
    );

    // Delete, then it is gone and its value opens nothing.
    let r = admin.delete(&format!("/keys/{uid}")).await.unwrap();
    assert_eq!((r.status, &r.body), (204, &Value::Null));
    let r = admin.get(&format!("/keys/{uid}")).await.unwrap();
    assert_eq!(
        (r.status, &r.body["code"], &r.body["message"]),
        (
            404,
            &json!("api_key_not_found"),
            &json!(format!("API key `{uid}` not found."))
        )
    );
    let r = admin.delete(&format!("/keys/{key}")).await.unwrap();
    assert_eq!(
        (r.status, &r.body["message"]),
        (404, &json!(format!("API key `{key}` not found.")))
    );
    assert_error(
        &admin
            .with_key(Some(key))
            .post("/indexes/npm/search", &json!({}))
            .await
            .unwrap(),
        403,
        "invalid_api_key",
    );

    // `/keys` needs the master key or a key with a `keys.*` action.
    assert_error(
        &admin.with_key(None).get("/keys").await.unwrap(),
        401,
        "missing_authorization_header",
    );
    assert_error(
        &admin
            .with_key(Some("nope".into()))
            .get("/keys")
            .await
            .unwrap(),
        403,
        "invalid_api_key",
    );
    assert_error(
        &admin
            .with_key(Some(NODE_MASTER_KEY.into()))
            .get("/keys")
            .await
            .unwrap(),
        403,
        "invalid_api_key",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_needs_its_action_on_its_index() {
    let cluster = TestCluster::start(ClusterOptions::default()).await.unwrap();
    let admin = cluster.client();
    let docs: Vec<Value> = (0..20)
        .map(|i| json!({"id": i, "name": format!("react package {i}")}))
        .collect();
    create_index_with(&admin, "npm", json!(docs)).await;
    create_index_with(&admin, "movies", json!([{"id": 1, "name": "x"}])).await;

    // The recorded scoped search key: search on `npm` only.
    let (_, search) = create_key(&admin, recorded("create search-only key").request.body).await;
    let as_search = admin.with_key(Some(search.clone()));
    let r = as_search
        .post("/indexes/npm/search", &json!({"q": "react", "limit": 1}))
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["hits"].as_array().unwrap().len(), 1);
    let r = as_search.get("/indexes/npm/search?q=react").await.unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let r = as_search
        .post("/indexes/movies/search", &json!({"q": "x"}))
        .await
        .unwrap();
    assert_recorded(&r, "search other index with search key");
    let r = as_search
        .post("/indexes/npm/documents", &json!([{"id": 1}]))
        .await
        .unwrap();
    assert_recorded(&r, "add documents with search key");
    let r = admin
        .with_key(None)
        .post("/indexes/npm/search", &json!({"q": "x"}))
        .await
        .unwrap();
    assert_recorded(&r, "no auth header");
    for (path, status) in [
        ("/indexes/npm/documents", 403),
        ("/indexes/npm/settings", 403),
        ("/indexes", 403),
        ("/tasks", 403),
        ("/stats", 403),
        ("/version", 403),
        ("/health", 200),
    ] {
        assert_eq!(
            as_search.get(path).await.unwrap().status,
            status,
            "GET {path}"
        );
    }
    // A wrong key, an empty bearer, a bearer without a token, another scheme.
    assert_error(
        &admin
            .with_key(Some("x".repeat(64)))
            .get("/indexes")
            .await
            .unwrap(),
        403,
        "invalid_api_key",
    );
    let raw = |value: &'static str| {
        let url = format!("{}/indexes", cluster.gateway_url());
        async move {
            reqwest::Client::builder()
                .no_proxy()
                .build()
                .unwrap()
                .get(url)
                .header("Authorization", value)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(raw("Bearer").await, 403);
    assert_eq!(raw("Bearer ").await, 403);
    assert_eq!(raw("Basic bWFzdGVyOmtleQ==").await, 401);

    // Patterns and wildcard actions.
    let (_, reader) = create_key(
        &admin,
        json!({"actions": ["*.get"], "indexes": ["mov*"], "expiresAt": null}),
    )
    .await;
    let as_reader = admin.with_key(Some(reader));
    assert_eq!(
        as_reader
            .get("/indexes/movies/settings")
            .await
            .unwrap()
            .status,
        200
    );
    assert_eq!(
        as_reader
            .get("/indexes/movies/documents/1")
            .await
            .unwrap()
            .status,
        200
    );
    assert_eq!(
        as_reader
            .post("/indexes/movies/search", &json!({}))
            .await
            .unwrap()
            .status,
        200
    );
    assert_error(
        &as_reader
            .patch(
                "/indexes/movies/settings",
                &json!({"filterableAttributes": ["name"]}),
            )
            .await
            .unwrap(),
        403,
        "invalid_api_key",
    );
    let r = as_reader.get("/indexes/npm/settings").await.unwrap();
    assert_eq!(
        (r.status, r.body["message"].as_str()),
        (
            403,
            Some("The API key cannot acces the index `npm`, authorized indexes are [\"mov*\"].")
        )
    );
    assert_error(
        &as_reader.get("/keys").await.unwrap(),
        403,
        "invalid_api_key",
    );
    // Listing indexes shows only the key's.
    let r = as_reader.get("/indexes").await.unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let uids: Vec<&str> = r.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["uid"].as_str().unwrap())
        .collect();
    assert_eq!((uids, &r.body["total"]), (vec!["movies"], &json!(1)));
    assert_eq!(admin.get("/indexes").await.unwrap().body["total"], json!(2));
    // So do the global stats.
    let r = as_reader.get("/stats").await.unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let stats_uids: Vec<&String> = r.body["indexes"].as_object().unwrap().keys().collect();
    assert_eq!(stats_uids, ["movies"]);
    assert_eq!(
        admin.get("/stats").await.unwrap().body["indexes"]
            .as_object()
            .unwrap()
            .len(),
        2
    );

    let (_, writer) = create_key(
        &admin,
        json!({"actions": ["documents.*", "indexes.create", "tasks.get"], "indexes": ["npm", "books"], "expiresAt": null}),
    )
    .await;
    let as_writer = admin.with_key(Some(writer));
    let r = as_writer
        .post(
            "/indexes/npm/documents",
            &json!([{"id": 100, "name": "added by a key"}]),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 202, "{}", r.body);
    admin.wait_succeeded(&r).await.unwrap();
    assert_eq!(
        as_writer
            .get("/indexes/npm/documents/100")
            .await
            .unwrap()
            .status,
        200
    );
    assert_error(
        &as_writer
            .post("/indexes/npm/search", &json!({}))
            .await
            .unwrap(),
        403,
        "invalid_api_key",
    );
    // Index creation only for the key's indexes.
    let r = as_writer
        .post("/indexes", &json!({"uid": "books"}))
        .await
        .unwrap();
    assert_eq!(r.status, 202, "{}", r.body);
    let r = as_writer
        .post("/indexes", &json!({"uid": "cars"}))
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.body["message"].as_str()),
        (403, Some("The provided API key is invalid."))
    );
    assert_error(
        &as_writer.delete("/indexes/npm").await.unwrap(),
        403,
        "invalid_api_key",
    );

    // The master key opens everything, also with a scoped key around.
    assert_eq!(
        admin.get("/indexes/npm/settings").await.unwrap().status,
        200
    );
    assert_eq!(admin.get("/stats").await.unwrap().status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_key_is_refused() {
    let cluster = TestCluster::start(ClusterOptions::default()).await.unwrap();
    let admin = cluster.client();
    let soon = (OffsetDateTime::now_utc() + time::Duration::seconds(2))
        .format(&Rfc3339)
        .unwrap();
    let (_, key) = create_key(
        &admin,
        json!({"actions": ["version"], "indexes": ["*"], "expiresAt": soon}),
    )
    .await;
    let client = admin.with_key(Some(key));
    assert_eq!(client.get("/version").await.unwrap().status, 200);
    // Refused once the date passes (polled, never slept for).
    let refused = until("the key to expire", Duration::from_secs(15), || async {
        let r = client.get("/version").await?;
        Ok(if r.status == 200 {
            Attempt::Retry("still open".into())
        } else {
            Attempt::Ready(r)
        })
    })
    .await
    .unwrap();
    assert_eq!(
        (
            refused.status,
            &refused.body["code"],
            &refused.body["message"]
        ),
        (
            403,
            &json!("invalid_api_key"),
            &json!("The provided API key is invalid.")
        )
    );
    // Still listed, as Meilisearch keeps expired keys.
    let listed = admin.get("/keys").await.unwrap();
    assert_eq!(listed.body["results"][0]["expiresAt"], json!(soon));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_manages_keys() {
    let cluster = TestCluster::start(ClusterOptions::default()).await.unwrap();
    let client = Client::new(cluster.gateway_url(), Some(GATEWAY_MASTER_KEY)).unwrap();

    let keys = client.get_keys().await.unwrap();
    let names: Vec<_> = keys
        .results
        .iter()
        .map(|k| k.name.clone().unwrap_or_default())
        .collect();
    assert_eq!(
        names,
        [
            "Default Search API Key",
            "Default Admin API Key",
            "Default Read-Only Admin API Key",
            "Default Chat API Key"
        ]
    );

    let expires = OffsetDateTime::now_utc() + time::Duration::days(1);
    let key = KeyBuilder::new()
        .with_action(Action::Search)
        .with_action(Action::DocumentsGet)
        .with_index("npm")
        .with_name("sdk key")
        .with_expires_at(expires)
        .execute(&client)
        .await
        .unwrap();
    assert_eq!(
        (key.name.as_deref(), key.indexes.clone()),
        (Some("sdk key"), vec!["npm".to_string()])
    );
    assert_eq!(
        key.expires_at.map(|t| t.unix_timestamp()),
        Some(expires.unix_timestamp())
    );
    let fetched = client.get_key(&key.uid).await.unwrap();
    assert_eq!(fetched.key, key.key);

    let mut update = KeyUpdater::new(&key.uid);
    update.with_description("for the npm search page");
    let updated = update.execute(&client).await.unwrap();
    assert_eq!(
        updated.description.as_deref(),
        Some("for the npm search page")
    );
    // The SDK sends `"name": null` along, which resets the name, as on Meilisearch.
    assert_eq!(updated.name, None);

    // The key works with the SDK: an index it cannot reach is a typed error.
    let scoped = Client::new(cluster.gateway_url(), Some(key.key.clone())).unwrap();
    match scoped.get_keys().await {
        Err(meilisearch_sdk::errors::Error::Meilisearch(e)) => {
            assert_eq!(
                e.error_code,
                meilisearch_sdk::errors::ErrorCode::InvalidApiKey
            )
        }
        other => panic!("expected an invalid_api_key error, got {other:?}"),
    }

    client.delete_key(&key.uid).await.unwrap();
    assert!(client.get_key(&key.uid).await.is_err());
    assert_eq!(client.get_keys().await.unwrap().results.len(), 4);
}
