//! Invariant: `NatsServer` runs a real nats-server with JetStream on its own port and store, can be
//! killed and restarted in place, and leaves no process, port or directory behind when dropped.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use async_nats::jetstream::{self, kv};
use futures::StreamExt;
use miroir_testkit::{NatsOptions, NatsServer};

fn port_is_closed(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(1))
        .is_err()
}

#[tokio::test]
async fn publish_and_subscribe_round_trip() {
    let server = NatsServer::start().await.unwrap();
    assert!(server.url().starts_with("nats://127.0.0.1:"));
    assert_ne!(server.port(), 0);
    let client = server.connect().await.unwrap();
    let mut sub = client.subscribe("testkit.ping").await.unwrap();
    client
        .publish("testkit.ping", "hello".into())
        .await
        .unwrap();
    let message = tokio::time::timeout(Duration::from_secs(5), sub.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&message.payload[..], b"hello");
}

#[tokio::test]
async fn jetstream_key_value_put_and_get() {
    let server = NatsServer::start().await.unwrap();
    let js = jetstream::new(server.connect().await.unwrap());
    let bucket = js
        .create_key_value(kv::Config {
            bucket: "topology".into(),
            history: 3,
            ..Default::default()
        })
        .await
        .unwrap();
    let revision = bucket
        .put("nodes.n1", r#"{"url":"http://127.0.0.1:7701"}"#.into())
        .await
        .unwrap();
    assert_eq!(revision, 1);
    let value = bucket.get("nodes.n1").await.unwrap().unwrap();
    assert_eq!(&value[..], br#"{"url":"http://127.0.0.1:7701"}"#);
    assert!(bucket.get("nodes.missing").await.unwrap().is_none());
    // Compare-and-set is what the services rely on when they race.
    assert!(bucket.update("nodes.n1", "stale".into(), 0).await.is_err());
    assert_eq!(
        bucket.update("nodes.n1", "fresh".into(), 1).await.unwrap(),
        2
    );
}

#[tokio::test]
async fn two_servers_run_side_by_side() {
    let (a, b) = tokio::try_join!(NatsServer::start(), NatsServer::start()).unwrap();
    assert_ne!(a.port(), b.port());
    assert_ne!(a.store_dir(), b.store_dir());
    let (ca, cb) = (a.connect().await.unwrap(), b.connect().await.unwrap());
    assert_ne!(ca.server_info().server_id, cb.server_info().server_id);
    let mut sub = cb.subscribe("only.on.b").await.unwrap();
    ca.publish("only.on.b", "from a".into()).await.unwrap();
    cb.publish("only.on.b", "from b".into()).await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(5), sub.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        &first.payload[..],
        b"from b",
        "servers must not share traffic"
    );
}

#[tokio::test]
async fn drop_kills_the_process_and_removes_its_directory() {
    let server = NatsServer::start().await.unwrap();
    let (pid, port, dir) = (server.pid().unwrap(), server.port(), server.store_dir());
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    assert!(dir.exists());
    drop(server);
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "pid {pid} still exists"
    );
    assert!(
        port_is_closed(port),
        "port {port} still accepts connections"
    );
    assert!(!dir.exists(), "{} was not removed", dir.display());
}

#[test]
fn a_panicking_test_still_kills_its_server() {
    let (tx, rx) = std::sync::mpsc::channel();
    let outcome = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let server = runtime.block_on(NatsServer::start()).unwrap();
        tx.send((server.pid().unwrap(), server.port())).unwrap();
        std::panic::resume_unwind(Box::new("the test fails while the server runs"));
    })
    .join();
    assert!(outcome.is_err());
    let (pid, port) = rx.recv().unwrap();
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "pid {pid} survived the panic"
    );
    assert!(port_is_closed(port));
}

#[tokio::test]
async fn restart_keeps_port_and_jetstream_store() {
    let mut server = NatsServer::start().await.unwrap();
    let port = server.port();
    let js = jetstream::new(server.connect().await.unwrap());
    let bucket = js
        .create_key_value(kv::Config {
            bucket: "kept".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    bucket.put("k", "v1".into()).await.unwrap();

    server.stop();
    assert!(server.pid().is_none());
    assert!(port_is_closed(port));
    server.start_again().await.unwrap();
    assert_eq!(server.port(), port);

    let js = jetstream::new(server.connect().await.unwrap());
    let bucket = js.get_key_value("kept").await.unwrap();
    assert_eq!(&bucket.get("k").await.unwrap().unwrap()[..], b"v1");

    server.restart().await.unwrap();
    assert_eq!(server.port(), port);
    assert!(server.connect().await.is_ok());
}

#[tokio::test]
async fn max_payload_is_applied() {
    let server = NatsServer::start_with(NatsOptions {
        max_payload: Some(8 << 20),
        ..Default::default()
    })
    .await
    .unwrap();
    let client = server.connect().await.unwrap();
    assert_eq!(client.server_info().max_payload, 8 << 20);

    let default = NatsServer::start().await.unwrap();
    assert_eq!(
        default.connect().await.unwrap().server_info().max_payload,
        1 << 20
    );
}

#[tokio::test]
async fn a_missing_binary_says_how_to_install_it() {
    let options = NatsOptions {
        binary: Some("/nonexistent/nats-server".into()),
        ..Default::default()
    };
    let error = NatsServer::start_with(options)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(error.contains(".ci/bootstrap"), "{error}");
}
