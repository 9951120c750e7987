//! Invariant: the master key, the nodes' key and API key values never leave the places they
//! belong. A cluster runs with distinctive keys while every service's logs are captured (one
//! tracing subscriber for the whole process, at debug level for Miroir's crates); the test drives
//! many routes, errors included (bad keys, bad tokens, bad bodies, a missing index), keys CRUD,
//! tenant tokens, a webhook with a secret header, a node failure, then reads the task details,
//! every KV value of every bucket and the Prometheus metrics, and fails if any secret, its
//! base64 or its `Bearer` header appears in any of them (answers are scanned for the master and
//! node keys; API key values legitimately come back from `/keys`, to the master key's holder).
//! Webhook header values come back masked as Meilisearch masks them.
//!
//! The keys bucket holds no usable secret (an API key's value is derived from its uid and the
//! master key, never stored), and a tenant token signed with a key that expires is refused once
//! it has expired, and with a deleted key once the deletion is in the gateway's mirror.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use base64::Engine;
use futures::StreamExt;
use miroir_e2e::{ClusterOptions, NODE_MASTER_KEY, TestCluster};
use miroir_testkit::Reply;
use miroir_testkit::wait::{Attempt, until};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::tenant_tokens::hs256;

const MASTER_KEY: &str = "MK-distinctive-3f9c1e7a-do-not-leak";
const WEBHOOK_SECRET: &str = "WH-secret-header-value-51d0c2";

/// Every log line of the process since the first call.
fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = logs.clone();
        let installed = tracing_subscriber::fmt()
            .with_env_filter(
                "info,miroir_gateway=debug,miroir_router=debug,miroir_merger=debug,\
                 miroir_cluster=debug,miroir_health_checker=debug,miroir_rebalancer=debug",
            )
            .with_ansi(false)
            .with_writer(move || SinkWriter(sink.clone()))
            .try_init();
        assert!(
            installed.is_ok(),
            "another log subscriber is installed: the scan would see nothing"
        );
        logs
    })
    .clone()
}

struct SinkWriter(Arc<Mutex<Vec<u8>>>);

impl Write for SinkWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut logs) = self.0.lock() {
            logs.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The forms of a secret that would leak it: itself, base64 (standard and URL-safe, as in a
/// Basic header or a JWT), and the header a client sends.
fn forms(secret: &str) -> Vec<String> {
    vec![
        secret.to_string(),
        base64::engine::general_purpose::STANDARD.encode(secret),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret),
        format!("Bearer {secret}"),
    ]
}

fn assert_clean(place: &str, text: &str, secrets: &[(&str, String)]) {
    for (name, secret) in secrets {
        for form in forms(secret) {
            assert!(
                !text.contains(&form),
                "the {name} leaks into {place} (as `{form}`):\n{}",
                excerpt(text, &form)
            );
        }
    }
}

fn excerpt(text: &str, needle: &str) -> String {
    let at = text.find(needle).unwrap_or(0);
    let chars: Vec<char> = text.chars().collect();
    let at = text.get(..at).map_or(0, |s| s.chars().count());
    let start = at.saturating_sub(300);
    let end = (at + needle.chars().count() + 300).min(chars.len());
    chars.get(start..end).unwrap_or_default().iter().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_never_leak() {
    let logs = captured_logs();
    // The process's metrics recorder, installed before the services record anything.
    let metrics = super::prometheus::metrics_endpoint();
    let mut cluster = TestCluster::start(ClusterOptions {
        master_key: Some(MASTER_KEY.into()),
        ..Default::default()
    })
    .await
    .unwrap();
    let admin = cluster.client();
    let mut answers: Vec<(String, Reply)> = Vec::new();
    let mut keep = |what: &str, reply: Reply| {
        answers.push((what.to_string(), reply.clone()));
        reply
    };

    // Ordinary work, and every kind of failure a client can cause.
    let r = keep(
        "create index",
        admin
            .post("/indexes", &json!({"uid": "movies", "primaryKey": "id"}))
            .await
            .unwrap(),
    );
    admin.wait_succeeded(&r).await.unwrap();
    let docs: Vec<Value> = (0..50)
        .map(|i| json!({"id": i, "title": format!("movie {i}"), "genre": if i % 2 == 0 { "a" } else { "b" }}))
        .collect();
    let r = keep(
        "add documents",
        admin
            .post("/indexes/movies/documents", &json!(docs))
            .await
            .unwrap(),
    );
    admin.wait_succeeded(&r).await.unwrap();
    let r = keep(
        "settings",
        admin
            .patch(
                "/indexes/movies/settings",
                &json!({"filterableAttributes": ["genre"]}),
            )
            .await
            .unwrap(),
    );
    admin.wait_succeeded(&r).await.unwrap();
    keep(
        "search",
        admin
            .post("/indexes/movies/search", &json!({"q": "movie"}))
            .await
            .unwrap(),
    );
    keep(
        "bad filter",
        admin
            .post("/indexes/movies/search", &json!({"filter": "title = x"}))
            .await
            .unwrap(),
    );
    keep(
        "missing index",
        admin.get("/indexes/nope/documents/1").await.unwrap(),
    );
    keep(
        "bad body",
        admin
            .send_raw(
                reqwest::Method::POST,
                "/indexes/movies/documents",
                "application/json",
                b"[{\"id\": 1,".to_vec(),
            )
            .await
            .unwrap(),
    );
    let anonymous = admin.with_key(None);
    keep("no key", anonymous.get("/indexes").await.unwrap());
    let wrong = admin.with_key(Some(format!("{MASTER_KEY}-wrong")));
    keep("wrong key", wrong.get("/indexes").await.unwrap());
    keep(
        "a node's key",
        admin
            .with_key(Some(NODE_MASTER_KEY.into()))
            .get("/indexes")
            .await
            .unwrap(),
    );

    // Keys CRUD.
    let soon = (OffsetDateTime::now_utc() + time::Duration::seconds(3))
        .format(&Rfc3339)
        .unwrap();
    let created = admin
        .post(
            "/keys",
            &json!({"name": "search", "actions": ["search"], "indexes": ["movies"], "expiresAt": null}),
        )
        .await
        .unwrap();
    assert_eq!(created.status, 201, "{}", created.body);
    let (uid, key) = (
        created.body["uid"].as_str().unwrap().to_string(),
        created.body["key"].as_str().unwrap().to_string(),
    );
    let expiring = admin
        .post(
            "/keys",
            &json!({"actions": ["search"], "indexes": ["movies"], "expiresAt": soon}),
        )
        .await
        .unwrap();
    assert_eq!(expiring.status, 201, "{}", expiring.body);
    let (expiring_uid, expiring_key) = (
        expiring.body["uid"].as_str().unwrap().to_string(),
        expiring.body["key"].as_str().unwrap().to_string(),
    );
    keep(
        "patch key",
        admin
            .patch(&format!("/keys/{uid}"), &json!({"name": "renamed"}))
            .await
            .unwrap(),
    );
    let api_keys = [key.clone(), expiring_key.clone()];

    // Tenant tokens: good, forged, then signed by a key that expires and one that is deleted.
    let token = hs256(json!({"apiKeyUid": uid, "searchRules": ["movies"]}), &key);
    let tenant = admin.with_key(Some(token.clone()));
    let r = until(
        "the new key in the gateway's mirror",
        Duration::from_secs(10),
        || {
            let tenant = tenant.clone();
            async move {
                let r = tenant
                    .post("/indexes/movies/search", &json!({"q": "movie"}))
                    .await?;
                Ok(if r.status == 200 {
                    Attempt::Ready(r)
                } else {
                    Attempt::Retry(r.body.to_string())
                })
            }
        },
    )
    .await
    .unwrap();
    keep("tenant search", r);
    let forged = hs256(
        json!({"apiKeyUid": uid, "searchRules": ["*"]}),
        &format!("{key}x"),
    );
    keep(
        "forged token",
        admin
            .with_key(Some(forged))
            .post("/indexes/movies/search", &json!({}))
            .await
            .unwrap(),
    );
    let expiring_token = hs256(
        json!({"apiKeyUid": expiring_uid, "searchRules": ["movies"]}),
        &expiring_key,
    );
    let expiring_tenant = admin.with_key(Some(expiring_token));
    let r = expiring_tenant
        .post("/indexes/movies/search", &json!({}))
        .await
        .unwrap();
    assert_eq!(
        r.status, 200,
        "a token of a key not yet expired works: {}",
        r.body
    );
    let refused = until("the signing key to expire", Duration::from_secs(15), || {
        let expiring_tenant = expiring_tenant.clone();
        async move {
            let r = expiring_tenant
                .post("/indexes/movies/search", &json!({}))
                .await?;
            Ok(if r.status == 200 {
                Attempt::Retry("still open".into())
            } else {
                Attempt::Ready(r)
            })
        }
    })
    .await
    .unwrap();
    assert_eq!(
        (refused.status, &refused.body["code"]),
        (403, &json!("invalid_api_key")),
        "{}",
        refused.body
    );
    keep("expired key's token", refused);

    // A webhook with a secret header: shown masked.
    let hook = admin
        .post(
            "/webhooks",
            &json!({"url": "http://127.0.0.1:9/hook", "headers": {"Authorization": format!("Bearer {WEBHOOK_SECRET}")}}),
        )
        .await
        .unwrap();
    if hook.status == 201 {
        let hook_uuid = hook.body["uuid"].as_str().unwrap_or_default().to_string();
        let shown = admin.get(&format!("/webhooks/{hook_uuid}")).await.unwrap();
        let header = shown.body["headers"]["Authorization"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(
            header.ends_with("...") && header.contains("XXX"),
            "a webhook header is masked: {}",
            shown.body
        );
        keep("webhook created", hook);
        keep("webhook shown", shown);
        keep("webhooks listed", admin.get("/webhooks").await.unwrap());
    } else {
        keep("webhook refused", hook);
    }

    // A node fails and comes back.
    cluster.nodes[0].stop();
    let r = keep(
        "delete while a node is down",
        admin
            .post("/indexes/movies/documents/delete-batch", &json!([1, 2]))
            .await
            .unwrap(),
    );
    admin.wait_task(r.task_uid().unwrap()).await.unwrap();
    keep(
        "search while a node is down",
        admin
            .post("/indexes/movies/search", &json!({"q": "movie"}))
            .await
            .unwrap(),
    );
    cluster.nodes[0].start_again().await.unwrap();

    // The key deleted: its token is refused as soon as the gateway's mirror has the deletion.
    let deleted = admin.delete(&format!("/keys/{uid}")).await.unwrap();
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    let r = tenant
        .post("/indexes/movies/search", &json!({}))
        .await
        .unwrap();
    assert_eq!(
        (r.status, &r.body["code"]),
        (403, &json!("invalid_api_key")),
        "a deleted key's token: {}",
        r.body
    );
    keep("deleted key's token", r);
    keep("keys listed", admin.get("/keys").await.unwrap());

    // Task details.
    let tasks = keep("tasks", admin.get("/tasks?limit=1000").await.unwrap());
    assert_eq!(tasks.status, 200);
    for task in tasks.body["results"].as_array().unwrap() {
        let uid = task["uid"].as_u64().unwrap();
        keep("task", admin.get(&format!("/tasks/{uid}")).await.unwrap());
    }
    keep("batches", admin.get("/batches").await.unwrap());
    keep("stats", admin.get("/stats").await.unwrap());

    // Answers: never the master key or the nodes' key.
    let secrets = [
        ("master key", MASTER_KEY.to_string()),
        ("nodes' key", NODE_MASTER_KEY.to_string()),
    ];
    for (what, reply) in &answers {
        assert_clean(
            &format!("the answer to `{what}`"),
            &reply.body.to_string(),
            &secrets,
        );
    }
    let mut all_secrets = secrets.to_vec();
    for (i, key) in api_keys.iter().enumerate() {
        all_secrets.push((
            if i == 0 {
                "API key"
            } else {
                "expiring API key"
            },
            key.clone(),
        ));
    }
    all_secrets.push(("webhook header", WEBHOOK_SECRET.to_string()));
    let api_and_node: Vec<(&str, String)> = all_secrets
        .iter()
        .filter(|(name, _)| *name != "webhook header")
        .cloned()
        .collect();

    // Every value of every KV bucket: no key (the keys bucket holds derived records only). The
    // webhook's header is stored to be sent, so only the keys are looked for here.
    let nats = cluster.nats.connect().await.unwrap();
    let js = async_nats::jetstream::new(nats);
    let mut names = js.stream_names();
    let mut buckets = Vec::new();
    while let Some(name) = names.next().await {
        if let Some(bucket) = name.unwrap().strip_prefix("KV_") {
            buckets.push(bucket.to_string());
        }
    }
    assert!(buckets.iter().any(|b| b == "miroir-keys"), "{buckets:?}");
    for bucket in &buckets {
        let store = js.get_key_value(bucket.clone()).await.unwrap();
        let mut keys = match store.keys().await {
            Ok(keys) => keys,
            Err(_) => continue,
        };
        while let Some(k) = keys.next().await {
            let k = k.unwrap();
            if let Ok(Some(value)) = store.get(&k).await {
                let text = String::from_utf8_lossy(&value);
                assert_clean(&format!("KV {bucket}/{k}"), &text, &api_and_node);
            }
        }
    }

    // Metrics of every in-process service.
    let scraped = reqwest::get(format!("http://{metrics}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_clean("the metrics", &scraped, &all_secrets);

    // Logs of the whole run.
    let captured = String::from_utf8_lossy(&logs.lock().unwrap()).to_string();
    assert!(
        captured.contains("gateway listening"),
        "the logs were captured ({} bytes)",
        captured.len()
    );
    assert_clean("the logs", &captured, &all_secrets);
}
