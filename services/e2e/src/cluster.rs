//! A whole Miroir cluster for a test: a real `nats-server`, Meilisearch nodes (stand-ins, or real
//! Meilisearch with `MEILI_BIN`), the gateway, and the replicas of every service in
//! [`SERVICES`](crate::services) running in-process through the same `run` functions their
//! binaries call. Replicas can be stopped (gracefully), killed (abruptly) and started again to
//! test failures; everything stops when the [`TestCluster`] is dropped.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use miroir_cluster::topology::TopologyStore;
use miroir_proto::subjects::Service;
use miroir_proto::topology::{ClusterDefaults, NodeRecord, NodeState};
use miroir_testkit::wait::{Attempt, until};
use miroir_testkit::{MeiliClient, NatsServer, Node, NodeOptions, start_node};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::services::{Ctx, Replica, SERVICES, row};

/// What to start.
#[derive(Clone, Debug)]
pub struct ClusterOptions {
    pub nodes: usize,
    pub shards: u16,
    pub replication_factor: u8,
    pub mergers: usize,
    pub routers: usize,
    pub health_checkers: usize,
    /// Rebalancers (none by default: most scenarios want a placement that stays put).
    pub rebalancers: usize,
    /// The rebalancers' re-replication delay for a node down.
    pub reallocate_after_ms: u64,
    /// The rebalancer's `view_settle_ms`.
    pub view_settle_ms: u64,
    /// The rebalancers' copy rate bound (documents per second per copy; 0: none).
    pub copy_docs_per_sec: u64,
    /// Master key of the gateway (what clients use). Nodes get their own key.
    pub master_key: Option<String>,
    /// Put node `i` in zone `z{i % zones}` when set.
    pub zones: Option<usize>,
    /// The router sends documents to a shard in parts of about this many bytes.
    pub shard_flush_bytes: Option<usize>,
    /// Where the routers write `POST /dumps` files; unset: a `dumps` directory beside the NATS
    /// store, removed with the cluster (`TestCluster::start` fills it in).
    pub dump_dir: Option<std::path::PathBuf>,
    /// Run NATS with `nats/permissions.conf`: every service connects as its own user (see
    /// [`nats_password`]) and may use only its subjects; the harness's own connections are the
    /// operator's (`no_auth_user: admin`).
    pub nats_permissions: bool,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            nodes: 3,
            shards: 4,
            replication_factor: 2,
            mergers: 1,
            routers: 1,
            health_checkers: 1,
            rebalancers: 0,
            reallocate_after_ms: 3_000,
            view_settle_ms: 1_000,
            copy_docs_per_sec: 0,
            master_key: Some(GATEWAY_MASTER_KEY.into()),
            zones: None,
            shard_flush_bytes: None,
            dump_dir: None,
            nats_permissions: false,
        }
    }
}

/// The NATS password of `user` when the cluster runs with `nats_permissions`.
pub fn nats_password(user: &str) -> String {
    format!("e2e-nats-{user}-pw")
}

/// The server configuration of `nats_permissions`: the passwords, the shipped permissions, and
/// the operator as the user of connections without credentials.
fn nats_permissions_config() -> String {
    let mut config = String::from("no_auth_user: admin\n");
    for user in [
        "gateway",
        "router",
        "merger",
        "health-checker",
        "rebalancer",
        "admin",
    ] {
        let var = user.to_uppercase().replace('-', "_");
        config.push_str(&format!(
            "MIROIR_NATS_{var}_PASSWORD: \"{}\"\n",
            nats_password(user)
        ));
    }
    config.push_str(include_str!("../../../nats/permissions.conf"));
    config
}

/// A connection to `url` as the service's own NATS user (`nats_permissions`) or anonymous.
pub(crate) async fn connect_service(
    url: &str,
    service: Service,
    permissions: bool,
) -> Result<async_nats::Client> {
    let auth = if permissions {
        miroir_cluster::nats_auth::NatsAuth::user_password(
            service.name(),
            nats_password(service.name()),
        )
    } else {
        miroir_cluster::nats_auth::NatsAuth::default()
    };
    auth.connect_options(service.service_api_name())
        .await?
        .connect(url)
        .await
        .with_context(|| format!("connecting to {url} as {}", service.name()))
}

/// The gateway's master key in tests.
pub const GATEWAY_MASTER_KEY: &str = "miroir-test-master-key";
/// The nodes' master key in tests (never given to clients).
pub const NODE_MASTER_KEY: &str = "miroir-test-node-key";

struct Gateway {
    token: CancellationToken,
    join: JoinHandle<Result<()>>,
}

pub struct TestCluster {
    pub nats: NatsServer,
    pub nodes: Vec<Node>,
    pub options: ClusterOptions,
    gateway_url: String,
    gateway: Option<Gateway>,
    replicas: HashMap<Service, Vec<Replica>>,
}

impl TestCluster {
    pub async fn start(mut options: ClusterOptions) -> Result<Self> {
        let nats = NatsServer::start_with(miroir_testkit::nats::NatsOptions {
            extra_config: options.nats_permissions.then(nats_permissions_config),
            ..Default::default()
        })
        .await?;
        if options.dump_dir.is_none() {
            options.dump_dir = Some(nats.store_dir().with_file_name("dumps"));
        }
        let mut nodes = Vec::new();
        for _ in 0..options.nodes {
            let node = start_node(NodeOptions {
                master_key: Some(NODE_MASTER_KEY.to_string()),
                ..Default::default()
            })
            .await?;
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
            .put_defaults(&ClusterDefaults {
                shard_count: options.shards,
                replication_factor: options.replication_factor,
            })
            .await?;

        let mut cluster = TestCluster {
            nats,
            nodes,
            options: options.clone(),
            gateway_url: String::new(),
            gateway: None,
            replicas: HashMap::new(),
        };
        for row in SERVICES {
            for _ in 0..(row.replicas)(&options) {
                cluster.start_service(row.service).await?;
            }
        }
        cluster.start_gateway().await?;
        Ok(cluster)
    }

    /// Starts one more node and registers it in the topology as `n<i>` (up); returns its id.
    pub async fn add_node(&mut self) -> Result<String> {
        let node = start_node(NodeOptions {
            master_key: Some(NODE_MASTER_KEY.to_string()),
            ..Default::default()
        })
        .await?;
        let id = format!("n{}", self.nodes.len());
        self.topology()
            .await?
            .put_node(&NodeRecord::new(id.clone(), node.url()))
            .await?;
        self.nodes.push(node);
        Ok(id)
    }

    /// The topology bucket and a live mirror of it, on a connection of its own (what an operator
    /// or a test reads and edits).
    pub async fn topology(&self) -> Result<TopologyStore> {
        let client = self.nats.connect().await?;
        TopologyStore::open(&async_nats::jetstream::new(client)).await
    }

    pub fn gateway_url(&self) -> &str {
        &self.gateway_url
    }

    /// A client of the gateway with the master key.
    pub fn client(&self) -> MeiliClient {
        MeiliClient::new(self.gateway_url.clone(), self.options.master_key.clone())
    }

    /// Starts one more replica of `service` and waits until every running replica answers
    /// `$SRV.PING`.
    pub async fn start_service(&mut self, service: Service) -> Result<()> {
        let row = row(service).ok_or_else(|| {
            anyhow!("the harness cannot run {service:?}: it has no row in SERVICES")
        })?;
        let ctx = Ctx {
            nats_url: self.nats.url(),
            options: self.options.clone(),
        };
        let running = self.replicas.entry(service).or_default();
        running.push(Replica::spawn(row, ctx, running.len())?);
        let count = running.len();
        self.wait_for_service(service.service_api_name(), count)
            .await
    }

    /// Stops the `i`-th replica of `service` gracefully (it drains in-flight requests), as on
    /// SIGTERM, and returns how its `run` ended. Nothing happens if there is no such replica.
    pub async fn stop_service(&mut self, service: Service, i: usize) -> Result<()> {
        match self.replicas.get_mut(&service) {
            Some(running) if i < running.len() => running.remove(i).stop().await,
            _ => Ok(()),
        }
    }

    /// Kills the `i`-th replica of `service` as kill -9 would: no drain, no lease released, its
    /// NATS connection simply drops. Nothing happens if there is no such replica.
    pub fn kill_service(&mut self, service: Service, i: usize) {
        if let Some(running) = self.replicas.get_mut(&service)
            && i < running.len()
        {
            running.remove(i).kill();
        }
    }

    /// How many replicas of `service` run.
    pub fn replicas(&self, service: Service) -> usize {
        self.replicas.get(&service).map_or(0, Vec::len)
    }

    pub async fn start_router(&mut self) -> Result<()> {
        self.start_service(Service::Router).await
    }

    pub async fn start_merger(&mut self) -> Result<()> {
        self.start_service(Service::Merger).await
    }

    pub async fn start_health_checker(&mut self) -> Result<()> {
        self.start_service(Service::HealthChecker).await
    }

    /// Stops the `i`-th router gracefully; see [`TestCluster::stop_service`].
    pub async fn stop_router(&mut self, i: usize) -> Result<()> {
        self.stop_service(Service::Router, i).await
    }

    /// Stops the `i`-th merger gracefully (it drains in-flight requests).
    pub async fn stop_merger(&mut self, i: usize) -> Result<()> {
        self.stop_service(Service::Merger, i).await
    }

    pub async fn stop_health_checker(&mut self, i: usize) -> Result<()> {
        self.stop_service(Service::HealthChecker, i).await
    }

    pub fn kill_router(&mut self, i: usize) {
        self.kill_service(Service::Router, i);
    }

    pub fn kill_merger(&mut self, i: usize) {
        self.kill_service(Service::Merger, i);
    }

    pub fn kill_health_checker(&mut self, i: usize) {
        self.kill_service(Service::HealthChecker, i);
    }

    pub fn merger_count(&self) -> usize {
        self.replicas(Service::Merger)
    }

    async fn start_gateway(&mut self) -> Result<()> {
        let nats = connect_service(
            &self.nats.url(),
            Service::Gateway,
            self.options.nats_permissions,
        )
        .await?;
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
        let join =
            tokio::spawn(async move { miroir_gateway::run(config, nats, listener, t).await });
        self.gateway = Some(Gateway { token, join });
        self.gateway_url = format!("http://{addr}");
        let client = self.client();
        until("gateway /health", Duration::from_secs(20), || {
            let client = client.clone();
            async move {
                match client.get("/health").await {
                    Ok(r) if r.status == 200 => Ok(Attempt::Ready(())),
                    _ => Ok(Attempt::Retry("not ready".to_string())),
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
        until(
            &format!("{count} x {name}"),
            Duration::from_secs(20),
            || {
                let nats = nats.clone();
                let subject = subject.clone();
                async move {
                    use futures::StreamExt;
                    let inbox = nats.new_inbox();
                    let Ok(mut sub) = nats.subscribe(inbox.clone()).await else {
                        return Ok(Attempt::Retry("subscribe".into()));
                    };
                    if nats
                        .publish_with_reply(subject, inbox, "".into())
                        .await
                        .is_err()
                    {
                        return Ok(Attempt::Retry("publish".into()));
                    }
                    let mut seen = 0;
                    let deadline = tokio::time::Instant::now() + Duration::from_millis(200);
                    while let Ok(Some(m)) = tokio::time::timeout_at(deadline, sub.next()).await {
                        if m.status.is_none() {
                            seen += 1;
                        }
                    }
                    Ok(if seen >= count {
                        Attempt::Ready(())
                    } else {
                        Attempt::Retry(format!("{seen} answered"))
                    })
                }
            },
        )
        .await
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        if let Some(g) = &self.gateway {
            g.token.cancel();
            g.join.abort();
        }
        // Dropping a replica kills it.
        self.replicas.clear();
    }
}
