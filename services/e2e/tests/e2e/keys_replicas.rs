//! Invariant: API keys are cluster state: gateways started together create the four default keys
//! once, a key created through one gateway opens every gateway at once, and a key deleted
//! through one is refused by all.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use miroir_testkit::wait::{Attempt, until};
use miroir_testkit::{MeiliClient, NatsServer};
use serde_json::json;
use tokio_util::sync::CancellationToken;

const MASTER: &str = "replicas-master-key";

struct Gateway {
    client: MeiliClient,
    stop: CancellationToken,
    join: tokio::task::JoinHandle<anyhow::Result<()>>,
}

async fn gateway(nats: &NatsServer) -> Gateway {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = miroir_gateway::Config {
        http_addr: addr,
        nats_url: nats.url(),
        master_key: Some(MASTER.into()),
        ..Default::default()
    };
    let stop = CancellationToken::new();
    let token = stop.clone();
    let connection = nats.connect().await.unwrap();
    let join =
        tokio::spawn(async move { miroir_gateway::run(config, connection, listener, token).await });
    let client = MeiliClient::new(format!("http://{addr}"), Some(MASTER.into()));
    let probe = client.clone();
    until("gateway /health", Duration::from_secs(20), || {
        let probe = probe.clone();
        async move {
            Ok(match probe.get("/health").await {
                Ok(r) if r.status == 200 => Attempt::Ready(()),
                _ => Attempt::Retry("not ready".into()),
            })
        }
    })
    .await
    .unwrap();
    Gateway { client, stop, join }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_gateway_sees_the_same_keys() {
    let nats = NatsServer::start().await.unwrap();
    // Started together on an empty bucket: they race to create the default keys.
    let (a, b) = tokio::join!(gateway(&nats), gateway(&nats));
    let listed_a = a.client.get("/keys").await.unwrap();
    let listed_b = b.client.get("/keys").await.unwrap();
    assert_eq!(listed_a.body["total"], json!(4), "{}", listed_a.body);
    assert_eq!(
        listed_a.body, listed_b.body,
        "the same four keys, uids and values"
    );

    let created = a
        .client
        .post(
            "/keys",
            &json!({"actions": ["version"], "indexes": ["*"], "expiresAt": null}),
        )
        .await
        .unwrap();
    assert_eq!(created.status, 201, "{}", created.body);
    let (uid, key) = (
        created.body["uid"].as_str().unwrap(),
        created.body["key"].as_str().unwrap(),
    );
    // At once on the other gateway (a miss waits for its mirror to catch up).
    let on_b = b.client.with_key(Some(key.to_string()));
    assert_eq!(on_b.get("/version").await.unwrap().status, 200);
    assert_eq!(
        b.client.get(&format!("/keys/{uid}")).await.unwrap().body,
        created.body
    );

    let patched = b
        .client
        .patch(&format!("/keys/{key}"), &json!({"name": "renamed on b"}))
        .await
        .unwrap();
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(
        a.client.get(&format!("/keys/{uid}")).await.unwrap().body["name"],
        json!("renamed on b")
    );

    assert_eq!(
        b.client
            .delete(&format!("/keys/{uid}"))
            .await
            .unwrap()
            .status,
        204
    );
    let on_a = a.client.with_key(Some(key.to_string()));
    // The deletion reaches a's mirror through its KV watch: polled with a deadline.
    let refused = until(
        "the deleted key to be refused by a",
        Duration::from_secs(5),
        || async {
            let r = on_a.get("/version").await?;
            Ok(if r.status == 403 {
                Attempt::Ready(r)
            } else {
                Attempt::Retry(format!("{}", r.status))
            })
        },
    )
    .await
    .unwrap();
    assert_eq!(refused.body["code"], json!("invalid_api_key"));

    for g in [a, b] {
        g.stop.cancel();
        tokio::time::timeout(Duration::from_secs(10), g.join)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }
}
