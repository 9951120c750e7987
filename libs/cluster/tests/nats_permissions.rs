//! The NATS permissions of `nats/permissions.conf`, enforced by a real nats-server: a client
//! without credentials or with a wrong password is refused, each service connects with its own
//! (through `nats_auth`, as `bus::connect` does) and can do its job, and a service that steps
//! outside its subjects gets a permissions violation and changes nothing.
#![allow(clippy::expect_used, clippy::panic)]

use std::time::Duration;

use async_nats::jetstream::{self, kv};
use futures::StreamExt;
use miroir_cluster::nats_auth::NatsAuth;
use miroir_testkit::nats::{NatsOptions, NatsServer};
use tokio::sync::mpsc;

const PERMISSIONS: &str = include_str!("../../../nats/permissions.conf");

/// The server's configuration: the passwords (as the server would read them from its
/// environment) and the permissions file as shipped.
fn auth_config() -> String {
    let mut config = String::new();
    for (user, var) in [
        ("gateway", "GATEWAY"),
        ("router", "ROUTER"),
        ("merger", "MERGER"),
        ("health-checker", "HEALTH_CHECKER"),
        ("rebalancer", "REBALANCER"),
        ("admin", "ADMIN"),
    ] {
        config.push_str(&format!(
            "MIROIR_NATS_{var}_PASSWORD: \"{}\"\n",
            password(user)
        ));
    }
    config.push_str(PERMISSIONS);
    config
}

fn password(user: &str) -> String {
    format!("pw-{user}-7f3a")
}

async fn start() -> NatsServer {
    NatsServer::start_with(NatsOptions {
        extra_config: Some(auth_config()),
        ..Default::default()
    })
    .await
    .expect("nats-server with the permissions starts")
}

/// Connect as `user` the way `bus::connect` does, collecting the server's errors.
async fn connect_as(
    server: &NatsServer,
    user: &str,
    connection: &str,
) -> (async_nats::Client, mpsc::UnboundedReceiver<String>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let client = NatsAuth::user_password(user, password(user))
        .connect_options(connection)
        .await
        .expect("options")
        .event_callback(move |event| {
            let tx = tx.clone();
            async move {
                if let async_nats::Event::ServerError(e) = event {
                    let _ = tx.send(e.to_string());
                }
            }
        })
        .connect(server.url())
        .await
        .unwrap_or_else(|e| panic!("{user} connects: {e}"));
    (client, rx)
}

/// The next server error within a second, if any.
async fn next_error(rx: &mut mpsc::UnboundedReceiver<String>) -> Option<String> {
    tokio::time::timeout(Duration::from_secs(2), rx.recv())
        .await
        .ok()
        .flatten()
}

#[tokio::test]
async fn clients_without_or_with_wrong_credentials_are_refused() {
    let server = start().await;

    let anonymous = async_nats::ConnectOptions::new()
        .connect(server.url())
        .await;
    let error = anonymous.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        error.to_lowercase().contains("authorization"),
        "a client without credentials is refused: {error:?}"
    );

    let wrong = NatsAuth::user_password("gateway", "not-the-password")
        .connect_options("miroir-gateway")
        .await
        .expect("options")
        .connect(server.url())
        .await;
    let error = wrong.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        error.to_lowercase().contains("authorization"),
        "a wrong password is refused: {error:?}"
    );

    // Another service's password is not the gateway's either.
    let swapped = async_nats::ConnectOptions::new()
        .user_and_password("gateway".into(), password("router"))
        .connect(server.url())
        .await;
    assert!(
        swapped.is_err(),
        "the router's password does not open the gateway's user"
    );

    // The right one is accepted.
    let (client, _errors) = connect_as(&server, "gateway", "miroir-gateway").await;
    client.flush().await.expect("the gateway is connected");
}

#[tokio::test]
async fn the_gateway_cannot_step_outside_its_subjects() {
    let server = start().await;
    let (admin, _) = connect_as(&server, "admin", "miroirctl").await;
    let admin_js = jetstream::new(admin.clone());
    let tasks = admin_js
        .create_key_value(kv::Config {
            bucket: "miroir-tasks".into(),
            ..Default::default()
        })
        .await
        .expect("admin creates the tasks bucket");

    let (gateway, mut gateway_errors) = connect_as(&server, "gateway", "miroir-gateway").await;
    let (router, mut router_errors) = connect_as(&server, "router", "miroir-router").await;

    // The gateway asks the router (request to miroir.v1.router.*, reply on the gateway's own
    // inbox, published by the router).
    let mut serving = router
        .queue_subscribe("miroir.v1.router.>", "miroir-router".into())
        .await
        .expect("router subscribes");
    let responder = tokio::spawn({
        let router = router.clone();
        async move {
            if let Some(msg) = serving.next().await
                && let Some(reply) = msg.reply
            {
                let _ = router.publish(reply, "pong".into()).await;
                let _ = router.flush().await;
            }
        }
    });
    // A flush only writes the subscription to the socket; the gateway's request must find it.
    miroir_cluster::bus::server_has_processed_everything_sent(&router)
        .await
        .expect("the server has the router's subscription");
    let answer = tokio::time::timeout(
        Duration::from_secs(5),
        gateway.request("miroir.v1.router.ping", "ping".into()),
    )
    .await
    .expect("answered in time")
    .expect("the gateway may ask the router");
    assert_eq!(&answer.payload[..], b"pong");
    let _ = responder.await;
    assert_eq!(
        next_error(&mut router_errors).await,
        None,
        "the router answered freely"
    );

    // The gateway's own KV writes (API keys) work.
    let gateway_js = jetstream::new(gateway.clone());
    let keys = gateway_js
        .create_key_value(kv::Config {
            bucket: "miroir-keys".into(),
            ..Default::default()
        })
        .await
        .expect("the gateway opens the keys bucket");
    keys.put("keys.k1", "{}".into())
        .await
        .expect("the gateway writes an API key");

    // Writing a task record (the router's job) is a permissions violation and writes nothing.
    gateway
        .publish("$KV.miroir-tasks.task.1", "forged".into())
        .await
        .expect("queued");
    gateway.flush().await.expect("flush");
    let error = next_error(&mut gateway_errors).await.unwrap_or_default();
    assert!(
        error.contains("Permissions Violation") && error.contains("miroir-tasks"),
        "{error:?}"
    );
    assert!(tasks.get("task.1").await.expect("read").is_none());

    // Nor hinted-handoff queues, nor the topology, nor another stream's purge.
    for subject in [
        "miroir.v1.handoff.n1.0",
        "$KV.miroir-topology.nodes.n1",
        "$JS.API.STREAM.DELETE.MIROIR_WAL",
        "$JS.API.STREAM.PURGE.KV_miroir-tasks",
    ] {
        gateway
            .publish(subject, "forged".into())
            .await
            .expect("queued");
        gateway.flush().await.expect("flush");
        let error = next_error(&mut gateway_errors).await.unwrap_or_default();
        assert!(
            error.contains("Permissions Violation") && error.contains(subject),
            "{subject}: {error:?}"
        );
    }

    // Nor read the router's requests or replies.
    for subject in ["miroir.v1.router.>", "_INBOX.miroir-router.>", "_INBOX.>"] {
        let _sub = gateway.subscribe(subject).await.expect("queued");
        gateway.flush().await.expect("flush");
        let error = next_error(&mut gateway_errors).await.unwrap_or_default();
        assert!(
            error.contains("Permissions Violation") && error.contains("Subscription"),
            "{subject}: {error:?}"
        );
    }

    // While the router may write the task record.
    let router_tasks = jetstream::new(router.clone())
        .get_key_value("miroir-tasks")
        .await
        .expect("router opens tasks");
    router_tasks
        .put("task.1", "{}".into())
        .await
        .expect("the router writes tasks");
    assert!(tasks.get("task.1").await.expect("read").is_some());
}

/// The Helm chart renders the same permissions as the demo and the tests use.
#[test]
fn the_chart_ships_the_same_permissions() {
    let chart = include_str!("../../../helm/miroir/files/nats-permissions.conf");
    assert_eq!(
        chart, PERMISSIONS,
        "helm/miroir/files/nats-permissions.conf must be a copy of nats/permissions.conf"
    );
}
