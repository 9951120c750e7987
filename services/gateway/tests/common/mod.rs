//! What the gateway's integration tests share: a real nats-server, the gateway started in-process
//! through `run` on an ephemeral port, fake router and merger endpoints, and index records put
//! straight into the topology KV bucket.
#![allow(dead_code, clippy::unwrap_used, clippy::panic)]

use std::time::Duration;

use async_nats::jetstream;
use miroir_cluster::bus::ServiceRunner;
use miroir_cluster::topology::TopologyStore;
use miroir_gateway::Config;
use miroir_proto::rpc::EnqueuedTask;
use miroir_proto::subjects::Service;
use miroir_proto::topology::{IndexRecord, IndexState, ShardPlacement};
use miroir_testkit::wait::{Attempt, until};
use miroir_testkit::{MeiliClient, NatsOptions, NatsServer};
use tokio_util::sync::CancellationToken;

pub const KEY: &str = "test-master-key";

pub struct Gateway {
    pub nats_server: NatsServer,
    pub nats: async_nats::Client,
    pub base: String,
    pub shutdown: CancellationToken,
    pub served: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Gateway {
    /// A client with the master key.
    pub fn client(&self) -> MeiliClient {
        MeiliClient::new(self.base.clone(), Some(KEY.to_string()))
    }

    pub fn anonymous(&self) -> MeiliClient {
        MeiliClient::new(self.base.clone(), None)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Put an index record in the topology bucket, as the router does once it created it.
    pub async fn put_index(&self, uid: &str, primary_key: Option<&str>) {
        let store = TopologyStore::open(&jetstream::new(self.nats.clone()))
            .await
            .unwrap();
        let record = IndexRecord {
            uid: uid.to_string(),
            primary_key: primary_key.map(str::to_string),
            shard_count: 2,
            replication_factor: 1,
            created_at: "2026-11-21T05:01:17.207988878Z".to_string(),
            updated_at: "2026-11-21T05:01:17.210451907Z".to_string(),
            shards: vec![
                ShardPlacement {
                    nodes: vec!["n1".into()],
                    incoming: vec![],
                    lagging: vec![],
                };
                2
            ],
            state: IndexState::Ready,
            storage_uid: None,
        };
        store.create_index(&record).await.unwrap();
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.served)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }
}

pub fn config() -> Config {
    Config {
        master_key: Some(KEY.to_string()),
        search_timeout_ms: 2_000,
        read_timeout_ms: 2_000,
        write_timeout_ms: 5_000,
        shutdown_grace_ms: 5_000,
        ..Config::default()
    }
}

pub async fn start(config: Config) -> Gateway {
    start_with(config, NatsOptions::default()).await
}

/// A nats-server, and the gateway serving on 127.0.0.1 through `miroir_gateway::run`, ready.
pub async fn start_with(config: Config, options: NatsOptions) -> Gateway {
    let nats_server = NatsServer::start_with(options).await.unwrap();
    let nats = nats_server.connect().await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let shutdown = CancellationToken::new();
    let served = tokio::spawn(miroir_gateway::run(
        config,
        nats.clone(),
        listener,
        shutdown.clone(),
    ));
    let probe = MeiliClient::new(base.clone(), None);
    until(
        "the gateway to answer /health",
        Duration::from_secs(10),
        || {
            let probe = probe.clone();
            async move {
                Ok(match probe.get("/health").await {
                    Ok(r) if r.status == 200 => Attempt::Ready(()),
                    Ok(r) => Attempt::Retry(format!("{} {}", r.status, r.body)),
                    Err(e) => Attempt::Retry(format!("{e:#}")),
                })
            }
        },
    )
    .await
    .unwrap();
    Gateway {
        nats_server,
        nats,
        base,
        shutdown,
        served,
    }
}

/// A fake service registered like the real one (same queue group and subjects).
pub async fn fake(nats: &async_nats::Client, service: Service) -> ServiceRunner {
    ServiceRunner::start(nats, service, "0.0.0", "fake for gateway tests")
        .await
        .unwrap()
}

pub fn task(uid: u64, index_uid: &str, task_type: &str) -> EnqueuedTask {
    EnqueuedTask {
        task_uid: uid,
        index_uid: Some(index_uid.to_string()),
        status: "enqueued".to_string(),
        task_type: task_type.to_string(),
        enqueued_at: "2026-11-21T05:01:17.465778993Z".to_string(),
        custom_metadata: None,
    }
}

/// The response body of a recorded exchange with a real Meilisearch 1.50.
pub fn recorded(file: &str, name: &str) -> miroir_testkit::Exchange {
    miroir_testkit::load_recordings(file)
        .unwrap()
        .into_iter()
        .find(|e| e.name == name)
        .unwrap_or_else(|| panic!("no exchange named {name:?} in {file}"))
}

/// A raw HTTP client for what `MeiliClient` does not send (no content type, streamed bodies).
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}
