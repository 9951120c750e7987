//! Invariant: the cluster serves `/webhooks` as Meilisearch 1.50 does (bodies, masked
//! authorization headers, limits, errors, the reserved webhook set outside the API), and when a
//! cluster task finishes every webhook receives, once, the payload a node sends: the finished
//! task as `GET /tasks/{uid}` shows it, gzip-compressed NDJSON, with the webhook's headers; an
//! endpoint that fails is retried until it takes it. Two routers run, so the test also sees that
//! only one of them notifies, and that the other still does once one is killed.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use meilisearch_sdk::client::Client;
use meilisearch_sdk::webhooks::{WebhookCreate, WebhookUpdate};
use miroir_e2e::{ClusterOptions, TestCluster};
use miroir_proto::subjects::WEBHOOKS_BUCKET;
use miroir_testkit::MeiliClient;
use miroir_testkit::wait::{Attempt, until};
use serde_json::{Value, json};

use super::bad_input::assert_error;

/// One request the test's endpoint received.
#[derive(Clone, Debug)]
struct Received {
    path: String,
    headers: HeaderMap,
    /// The decompressed body's lines, parsed.
    tasks: Vec<Value>,
    /// The status the endpoint answered.
    answered: StatusCode,
}

#[derive(Clone, Default)]
struct Sink {
    received: Arc<Mutex<Vec<Received>>>,
    /// Requests to `/flaky` answered 503 so far (the first two are).
    flaky_failures: Arc<Mutex<u32>>,
}

async fn hook(
    State(sink): State<Sink>,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let mut text = String::new();
    let gz = headers
        .get("content-encoding")
        .is_some_and(|v| v.as_bytes() == b"gzip");
    if gz {
        if flate2::read::GzDecoder::new(&body[..])
            .read_to_string(&mut text)
            .is_err()
        {
            return StatusCode::BAD_REQUEST;
        }
    } else {
        text = String::from_utf8_lossy(&body).into_owned();
    }
    let tasks = text
        .lines()
        .filter(|l| !l.is_empty())
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let mut answered = StatusCode::OK;
    if path == "flaky" {
        let mut failures = sink.flaky_failures.lock().unwrap();
        if *failures < 2 {
            *failures += 1;
            answered = StatusCode::SERVICE_UNAVAILABLE;
        }
    }
    sink.received.lock().unwrap().push(Received {
        path,
        headers,
        tasks,
        answered,
    });
    answered
}

/// The endpoint, on a free loopback port; stopped when the returned guard drops.
async fn endpoint() -> (String, Sink, tokio_util::sync::DropGuard) {
    let sink = Sink::default();
    let app = Router::new()
        .route("/{path}", post(hook))
        .with_state(sink.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let stop = tokio_util::sync::CancellationToken::new();
    let token = stop.clone();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move { token.cancelled().await })
            .await;
    });
    (base, sink, stop.drop_guard())
}

/// The requests received for task `uid` on `path`.
fn requests_for(sink: &Sink, path: &str, uid: u64) -> Vec<Received> {
    sink.received
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.path == path && r.tasks.iter().any(|t| t["uid"] == json!(uid)))
        .cloned()
        .collect()
}

async fn wait_for(sink: &Sink, path: &str, uid: u64, count: usize) -> Vec<Received> {
    until(
        &format!("{count} request(s) for task {uid} on /{path}"),
        Duration::from_secs(20),
        || async {
            let got = requests_for(sink, path, uid);
            Ok(if got.len() >= count {
                Attempt::Ready(got)
            } else {
                Attempt::Retry(format!("{} so far", got.len()))
            })
        },
    )
    .await
    .unwrap()
}

async fn crud_errors(admin: &MeiliClient, base: &str) {
    // Recorded on a node (11-api-1.50-extras).
    let r = admin
        .post("/webhooks", &json!({"url": "not a url"}))
        .await
        .unwrap();
    assert_error(&r, 400, "invalid_webhook_url");
    assert_eq!(
        r.body["message"],
        "Invalid URL `not a url`: relative URL without a base"
    );
    let r = admin
        .post("/webhooks", &json!({"headers": {}}))
        .await
        .unwrap();
    assert_error(&r, 400, "invalid_webhook_url");
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .starts_with("The URL for the webhook `")
    );
    let r = admin
        .post("/webhooks", &json!({"url": base, "uuid": "x"}))
        .await
        .unwrap();
    assert_error(&r, 400, "immutable_webhook_uuid");
    let r = admin
        .post("/webhooks", &json!({"url": base, "isEditable": false}))
        .await
        .unwrap();
    assert_error(&r, 400, "immutable_webhook_is_editable");
    let r = admin
        .post("/webhooks", &json!({"url": base, "headers": {"x": 1}}))
        .await
        .unwrap();
    assert_error(&r, 400, "invalid_webhook_headers");
    let r = admin
        .post(
            "/webhooks",
            &json!({"url": base, "headers": {"bad name": "v"}}),
        )
        .await
        .unwrap();
    assert_error(&r, 400, "invalid_webhook_headers");
    let r = admin
        .post("/webhooks", &json!({"url": base, "nope": 1}))
        .await
        .unwrap();
    assert_error(&r, 400, "bad_request");
    let r = admin.get("/webhooks/not-a-uuid").await.unwrap();
    assert_error(&r, 400, "invalid_webhook_uuid");
    let missing = "2a74819f-2405-46c5-9faf-27939329bc24";
    let r = admin.get(&format!("/webhooks/{missing}")).await.unwrap();
    assert_error(&r, 404, "webhook_not_found");
    assert_eq!(r.body["message"], format!("Webhook `{missing}` not found."));
    let r = admin
        .patch(&format!("/webhooks/{missing}"), &json!({"url": base}))
        .await
        .unwrap();
    assert_error(&r, 404, "webhook_not_found");
    let r = admin.delete(&format!("/webhooks/{missing}")).await.unwrap();
    assert_error(&r, 404, "webhook_not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_crud_and_delivery() {
    scenario(false).await;
}

/// The same with each service as its own NATS user (nats/permissions.conf): the gateway and the
/// routers are allowed what webhooks need of the `miroir-webhooks` bucket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_under_nats_permissions() {
    scenario(true).await;
}

async fn scenario(nats_permissions: bool) {
    let (base, sink, _stop) = endpoint().await;
    let mut cluster = TestCluster::start(ClusterOptions {
        routers: 2,
        nats_permissions,
        ..ClusterOptions::default()
    })
    .await
    .unwrap();
    let admin = cluster.client();
    let sdk = Client::new(cluster.gateway_url(), cluster.options.master_key.clone()).unwrap();

    // Nothing configured: an empty list (the SDKs' teardown calls this after every test).
    assert!(sdk.get_webhooks().await.unwrap().results.is_empty());
    crud_errors(&admin, &base).await;
    assert!(sdk.get_webhooks().await.unwrap().results.is_empty());

    // Create through the SDK: the answer masks the authorization header.
    let secret = "Bearer secret-token-123";
    let created = sdk
        .create_webhook(
            &WebhookCreate::new(format!("{base}/hook"))
                .with_header("authorization", secret)
                .with_header("x-team", "search"),
        )
        .await
        .unwrap();
    assert!(created.is_editable);
    let masked: BTreeMap<String, String> =
        [("authorization", "Bearer seXXXX..."), ("x-team", "search")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    assert_eq!(created.webhook.headers, masked);
    let uuid = created.uuid.to_string();
    let got = sdk.get_webhook(&uuid).await.unwrap();
    assert_eq!(got.webhook.url, format!("{base}/hook"));
    assert_eq!(got.webhook.headers, masked);

    // Patch: a null header removes it, a new one is added (recorded shape: "patch webhook").
    let r = admin
        .patch(
            &format!("/webhooks/{uuid}"),
            &json!({"headers": {"x-team": null, "x-env": "prod"}}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body,
        json!({
            "uuid": uuid,
            "isEditable": true,
            "url": format!("{base}/hook"),
            "headers": {"authorization": "Bearer seXXXX...", "x-env": "prod"},
        })
    );
    // The same through the SDK's update.
    let mut update = WebhookUpdate::new();
    update.set_header("x-region", "eu");
    let updated = sdk.update_webhook(&uuid, &update).await.unwrap();
    assert_eq!(updated.webhook.headers["x-region"], "eu");
    let r = admin
        .patch(&format!("/webhooks/{uuid}"), &json!({"url": null}))
        .await
        .unwrap();
    assert_error(&r, 400, "invalid_webhook_url");

    // A second webhook that fails twice before taking a notification.
    let flaky = sdk
        .create_webhook(&WebhookCreate::new(format!("{base}/flaky")))
        .await
        .unwrap();

    // The reserved webhook, set outside the API (as MEILI_TASK_WEBHOOK_URL on a node).
    let nats = cluster.nats.connect().await.unwrap();
    let js = async_nats::jetstream::new(nats);
    let kv = js.get_key_value(WEBHOOKS_BUCKET).await.unwrap();
    let reserved = "00000000-0000-0000-0000-000000000000";
    kv.put(
        format!("webhooks.{reserved}"),
        serde_json::to_vec(&json!({"url": format!("{base}/reserved"), "headers": {"Authorization": "operator-secret-value"}}))
            .unwrap()
            .into(),
    )
    .await
    .unwrap();
    let list = admin.get("/webhooks").await.unwrap();
    assert_eq!(list.status, 200);
    let results = list.body["results"].as_array().unwrap();
    assert_eq!(results.len(), 3, "{}", list.body);
    assert_eq!(
        results[0],
        json!({
            "uuid": reserved,
            "isEditable": false,
            "url": format!("{base}/reserved"),
            "headers": {"Authorization": "opeXXXXX..."},
        })
    );
    assert!(
        !list.body.to_string().contains("secret-token"),
        "a header value leaked: {}",
        list.body
    );
    let r = admin
        .patch(&format!("/webhooks/{reserved}"), &json!({"url": base}))
        .await
        .unwrap();
    assert_error(&r, 400, "immutable_webhook");
    let r = admin
        .delete(&format!("/webhooks/{reserved}"))
        .await
        .unwrap();
    assert_error(&r, 400, "immutable_webhook");

    // A document addition: every webhook gets the finished task, as GET /tasks/{uid} shows it.
    let r = admin
        .post("/indexes", &json!({"uid": "books", "primaryKey": "id"}))
        .await
        .unwrap();
    let creation = admin.wait_succeeded(&r).await.unwrap()["uid"]
        .as_u64()
        .unwrap();
    let r = admin
        .post(
            "/indexes/books/documents",
            &json!([{"id": 1, "title": "Dune"}, {"id": 2, "title": "Emma"}, {"id": 3, "title": "Ulysses"}]),
        )
        .await
        .unwrap();
    let finished = admin.wait_succeeded(&r).await.unwrap();
    let uid = finished["uid"].as_u64().unwrap();
    let got = wait_for(&sink, "hook", uid, 1).await;
    let req = &got[0];
    assert_eq!(req.headers["content-type"], "application/x-ndjson");
    assert_eq!(req.headers["content-encoding"], "gzip");
    assert_eq!(req.headers["authorization"], secret, "sent unmasked");
    assert_eq!(req.headers["x-env"], "prod");
    assert_eq!(req.headers["x-region"], "eu");
    assert!(req.headers.get("x-team").is_none(), "removed by the patch");
    assert_eq!(req.tasks.len(), 1);
    let task = &req.tasks[0];
    assert_eq!(
        task, &finished,
        "the payload is the task as GET /tasks shows it"
    );
    assert_eq!(task["indexUid"], "books");
    assert_eq!(task["status"], "succeeded");
    assert_eq!(task["type"], "documentAdditionOrUpdate");
    assert_eq!(task["details"]["receivedDocuments"], 3);
    assert_eq!(task["details"]["indexedDocuments"], 3);

    // The reserved webhook got it too, with its header.
    let got = wait_for(&sink, "reserved", uid, 1).await;
    assert_eq!(got[0].headers["authorization"], "operator-secret-value");

    // The flaky endpoint refuses its first two requests (503): whichever notifications they
    // carried were sent again until taken, so both tasks end with a 200 and 4 requests in all.
    until(
        "the flaky endpoint took both tasks",
        Duration::from_secs(20),
        || async {
            let taken = [creation, uid].iter().all(|t| {
                requests_for(&sink, "flaky", *t)
                    .last()
                    .is_some_and(|r| r.answered == StatusCode::OK)
            });
            Ok(if taken {
                Attempt::Ready(())
            } else {
                Attempt::Retry(format!(
                    "{:?}",
                    sink.received
                        .lock()
                        .unwrap()
                        .iter()
                        .filter(|r| r.path == "flaky")
                        .map(|r| r.answered)
                        .collect::<Vec<_>>()
                ))
            })
        },
    )
    .await
    .unwrap();
    let flaky_requests: usize = [creation, uid]
        .iter()
        .map(|t| requests_for(&sink, "flaky", *t).len())
        .sum();
    assert_eq!(flaky_requests, 4, "two refusals, each retried");
    assert_eq!(*sink.flaky_failures.lock().unwrap(), 2);

    // A failed task is notified as failed.
    let r = admin
        .post(
            "/indexes/books/documents",
            &json!([{"id": "not an id!", "title": "Bad"}]),
        )
        .await
        .unwrap();
    let failed = admin.wait_task(r.task_uid().unwrap()).await.unwrap();
    assert_eq!(failed["status"], "failed", "{failed}");
    let got = wait_for(&sink, "hook", failed["uid"].as_u64().unwrap(), 1).await;
    assert_eq!(got[0].tasks[0]["status"], "failed");
    assert_eq!(got[0].tasks[0]["error"], failed["error"]);

    // Two routers follow the tasks: still one request per task and webhook (the flaky one
    // aside, whose retries are the same notification).
    tokio::time::sleep(Duration::from_millis(500)).await;
    for t in [creation, uid, failed["uid"].as_u64().unwrap()] {
        assert_eq!(requests_for(&sink, "hook", t).len(), 1, "task {t} on /hook");
        assert_eq!(
            requests_for(&sink, "reserved", t).len(),
            1,
            "task {t} on /reserved"
        );
    }

    // Each notified task holds its delivery claim in the bucket until the task is deleted.
    let claim = format!("delivered.{uid}");
    assert!(kv.get(&claim).await.unwrap().is_some());
    let r = admin.delete(&format!("/tasks?uids={uid}")).await.unwrap();
    admin.wait_task(r.task_uid().unwrap()).await.unwrap();
    until(
        "the deleted task's claim is gone",
        Duration::from_secs(10),
        || async {
            Ok(match kv.get(&claim).await? {
                None => Attempt::Ready(()),
                Some(_) => Attempt::Retry("still there".into()),
            })
        },
    )
    .await
    .unwrap();

    // A deleted webhook is no longer called; the limit counts only the API's webhooks.
    sdk.delete_webhook(&uuid).await.unwrap();
    let r = admin.get(&format!("/webhooks/{uuid}")).await.unwrap();
    assert_error(&r, 404, "webhook_not_found");
    sdk.delete_webhook(flaky.uuid.to_string()).await.unwrap();
    let mut made = Vec::new();
    for i in 0..20 {
        let r = admin
            .post("/webhooks", &json!({"url": format!("{base}/many{i}")}))
            .await
            .unwrap();
        assert_eq!(r.status, 201, "{}", r.body);
        made.push(r.body["uuid"].as_str().unwrap().to_string());
    }
    let r = admin
        .post("/webhooks", &json!({"url": format!("{base}/one-too-many")}))
        .await
        .unwrap();
    assert_error(&r, 400, "invalid_webhooks");
    for u in &made {
        let r = admin.delete(&format!("/webhooks/{u}")).await.unwrap();
        assert_eq!(r.status, 204, "{}", r.body);
    }
    // One router dies: the other still notifies (it follows the same bucket and claims).
    cluster.kill_router(0);
    let r = admin.delete("/indexes/books").await.unwrap();
    let deleted = admin.wait_succeeded(&r).await.unwrap();
    let after = deleted["uid"].as_u64().unwrap();
    wait_for(&sink, "reserved", after, 1).await;
    assert!(
        requests_for(&sink, "hook", after).is_empty(),
        "a deleted webhook was called"
    );
}
