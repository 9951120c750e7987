//! A whole Miroir cluster for a test: a real `nats-server`, Meilisearch nodes (stand-ins, or real
//! Meilisearch with `MEILI_BIN`), and the router, merger(s) and gateway running in-process through
//! the same `run` functions their binaries call. Services can be stopped and started again to
//! test failures; everything stops when the [`TestCluster`] is dropped.

use std::time::Duration;

use anyhow::{Context, Result};
use miroir_cluster::topology::TopologyStore;
use miroir_proto::topology::{ClusterDefaults, NodeRecord, NodeState};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::{start_node, MeiliClient, NatsServer, Node, NodeOptions};

/// What to start.
#[derive(Clone, Debug)]
pub struct ClusterOptions {
    pub nodes: usize,
    pub shards: u16,
    pub replication_factor: u8,
    pub mergers: usize,
    pub routers: usize,
    /// Master key of the gateway (what clients use). Nodes get their own key.
    pub master_key: Option<String>,
    /// Put node `i` in zone `z{i % zones}` when set.
    pub zones: Option<usize>,
    /// The router sends documents to a shard in parts of about this many bytes.
    pub shard_flush_bytes: Option<usize>,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions { nodes: 3, shards: 4, replication_factor: 2, mergers: 1, routers: 1, master_key: Some(GATEWAY_MASTER_KEY.into()), zones: None, shard_flush_bytes: None }
    }
}

/// The gateway's master key in tests.
pub const GATEWAY_MASTER_KEY: &str = "miroir-test-master-key";
/// The nodes' master key in tests (never given to clients).
pub const NODE_MASTER_KEY: &str = "miroir-test-node-key";

struct Running {
    token: CancellationToken,
    join: JoinHandle<Result<()>>,
}

impl Running {
    async fn stop(self) {
        self.token.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(30), self.join).await;
    }
}

pub struct TestCluster {
    pub nats: NatsServer,
    pub nodes: Vec<Node>,
    pub options: ClusterOptions,
    gateway_url: String,
    gateway: Option<Running>,
    routers: Vec<Running>,
    mergers: Vec<Running>,
}

impl TestCluster {
    pub async fn start(options: ClusterOptions) -> Result<Self> {
        let nats = NatsServer::start().await?;
        let mut nodes = Vec::new();
        for _ in 0..options.nodes {
            let node = start_node(NodeOptions { master_key: Some(NODE_MASTER_KEY.to_string()), ..Default::default() }).await?;
            nodes.push(node);
        }
        let client = nats.connect().await?;
        let js = async_nats::jetstream::new(client.clone());
        let topology = TopologyStore::open(&js).await?;
        for (i, node) in nodes.iter().enumerate() {
            let rec = NodeRecord {
                id: format!("n{i}"),
                url: node.url(),
                zone: options.zones.map(|z| format!("z{}", i % z.max(1))),
                state: NodeState::Up,
                health: Default::default(),
                health_since: None,
            };
            topology.put_node(&rec).await?;
        }
        topology
            .put_defaults(&ClusterDefaults { shard_count: options.shards, replication_factor: options.replication_factor })
            .await?;

        let mut cluster = TestCluster { nats, nodes, options: options.clone(), gateway_url: String::new(), gateway: None, routers: Vec::new(), mergers: Vec::new() };
        for _ in 0..options.routers {
            cluster.start_router().await?;
        }
        for _ in 0..options.mergers {
            cluster.start_merger().await?;
        }
        cluster.start_gateway().await?;
        Ok(cluster)
    }

    pub fn gateway_url(&self) -> &str {
        &self.gateway_url
    }

    /// A client of the gateway with the master key.
    pub fn client(&self) -> MeiliClient {
        MeiliClient::new(self.gateway_url.clone(), self.options.master_key.clone())
    }

    pub async fn start_router(&mut self) -> Result<()> {
        let nats = self.nats.connect().await?;
        let mut config = miroir_router::Config { nats_url: self.nats.url(), node_api_key: Some(NODE_MASTER_KEY.into()), ..Default::default() };
        if let Some(bytes) = self.options.shard_flush_bytes {
            config.shard_flush_bytes = bytes;
        }
        let token = CancellationToken::new();
        let t = token.clone();
        let join = tokio::spawn(async move { miroir_router::run(config, nats, t).await });
        self.routers.push(Running { token, join });
        self.wait_for_service("miroir-router", self.routers.len()).await
    }

    pub async fn start_merger(&mut self) -> Result<()> {
        let nats = self.nats.connect().await?;
        let config = miroir_merger::Config { nats_url: self.nats.url(), node_api_key: Some(NODE_MASTER_KEY.into()), ..Default::default() };
        let token = CancellationToken::new();
        let t = token.clone();
        let join = tokio::spawn(async move { miroir_merger::run(config, nats, t).await });
        self.mergers.push(Running { token, join });
        self.wait_for_service("miroir-merger", self.mergers.len()).await
    }

    /// Stop the `i`-th merger gracefully (it drains in-flight requests).
    pub async fn stop_merger(&mut self, i: usize) {
        if i < self.mergers.len() {
            self.mergers.remove(i).stop().await;
        }
    }

    pub async fn stop_router(&mut self, i: usize) {
        if i < self.routers.len() {
            self.routers.remove(i).stop().await;
        }
    }

    pub fn merger_count(&self) -> usize {
        self.mergers.len()
    }

    async fn start_gateway(&mut self) -> Result<()> {
        let nats = self.nats.connect().await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let config = miroir_gateway::Config {
            http_addr: addr,
            nats_url: self.nats.url(),
            master_key: self.options.master_key.clone(),
            ..Default::default()
        };
        let token = CancellationToken::new();
        let t = token.clone();
        let join = tokio::spawn(async move { miroir_gateway::run(config, nats, listener, t).await });
        self.gateway = Some(Running { token, join });
        self.gateway_url = format!("http://{addr}");
        let client = self.client();
        crate::wait::until("gateway /health", Duration::from_secs(20), || {
            let client = client.clone();
            async move {
                match client.get("/health").await {
                    Ok(r) if r.status == 200 => Ok(crate::wait::Attempt::Ready(())),
                    _ => Ok(crate::wait::Attempt::Retry("not ready".to_string())),
                }
            }
        })
        .await
        .context("the gateway did not become healthy")
    }

    /// Wait until `count` replicas of a service answer `$SRV.PING.<name>`.
    async fn wait_for_service(&self, name: &str, count: usize) -> Result<()> {
        let nats = self.nats.connect().await?;
        let subject = format!("$SRV.PING.{name}");
        crate::wait::until(&format!("{count} x {name}"), Duration::from_secs(20), || {
            let nats = nats.clone();
            let subject = subject.clone();
            async move {
                use futures::StreamExt;
                let inbox = nats.new_inbox();
                let Ok(mut sub) = nats.subscribe(inbox.clone()).await else { return Ok(crate::wait::Attempt::Retry("subscribe".into())) };
                if nats.publish_with_reply(subject, inbox, "".into()).await.is_err() {
                    return Ok(crate::wait::Attempt::Retry("publish".into()));
                }
                let mut seen = 0;
                let deadline = tokio::time::Instant::now() + Duration::from_millis(200);
                while let Ok(Some(m)) = tokio::time::timeout_at(deadline, sub.next()).await {
                    if m.status.is_none() {
                        seen += 1;
                    }
                }
                Ok(if seen >= count { crate::wait::Attempt::Ready(()) } else { crate::wait::Attempt::Retry(format!("{seen} answered")) })
            }
        })
        .await
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        if let Some(g) = &self.gateway {
            g.token.cancel();
            g.join.abort();
        }
        for r in self.routers.iter().chain(self.mergers.iter()) {
            r.token.cancel();
            r.join.abort();
        }
    }
}
