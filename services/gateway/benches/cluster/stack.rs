//! The cluster under test, every part its own process: a real `nats-server` (the test kit's),
//! three stand-in nodes, one router, one merger and one gateway, configured by flags as an
//! operator would, on 127.0.0.1 only. The nodes are registered in the topology KV before the
//! router starts (4 shards, RF 2 by default).

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use miroir_cluster::topology::TopologyStore;
use miroir_proto::topology::{ClusterDefaults, IndexRecord, NodeRecord, NodeState};
use miroir_testkit::wait::{Attempt, until};
use miroir_testkit::{MeiliClient, NatsServer};
use tempfile::TempDir;

use crate::procs::{Binaries, Proc};

pub const NODE_KEY: &str = "bench-node-master-key";
pub const GATEWAY_KEY: &str = "bench-gateway-master-key";
const START_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Node {
    pub id: String,
    pub url: String,
    pub proc: Proc,
}

pub struct Stack {
    // Field order is drop order: services first, then nodes, then NATS, then the logs.
    gateway: Proc,
    pub gateway_url: String,
    router: Proc,
    merger: Proc,
    /// The merger's Prometheus endpoint (`/metrics`), read for its hedge and retry counts.
    pub merger_metrics_url: String,
    pub nodes: Vec<Node>,
    pub topology: TopologyStore,
    pub nats: NatsServer,
    bins: Binaries,
    logs: TempDir,
}

/// A port that was free a moment ago; callers retry when the program then cannot bind it.
fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    Ok(listener.local_addr()?.port())
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

impl Stack {
    pub async fn start(bins: Binaries, shards: u16, replication_factor: u8) -> Result<Stack> {
        let logs = tempfile::Builder::new().prefix("miroir-bench-").tempdir()?;
        let nats = NatsServer::start().await?;
        let mut nodes = Vec::new();
        for i in 0..3 {
            let id = format!("n{i}");
            let (url, proc) = start_http(
                &bins,
                "miroir-standin",
                &format!("node {id}"),
                logs.path(),
                |addr| args(&["--http-addr", addr, "--master-key", NODE_KEY]),
            )
            .await?;
            nodes.push(Node { id, url, proc });
        }
        let js = async_nats::jetstream::new(nats.connect().await?);
        let topology = TopologyStore::open(&js).await?;
        for node in &nodes {
            let record = NodeRecord {
                id: node.id.clone(),
                url: node.url.clone(),
                zone: None,
                state: NodeState::Up,
                health: Default::default(),
                health_since: None,
            };
            topology.put_node(&record).await?;
        }
        topology
            .put_defaults(&ClusterDefaults {
                shard_count: shards,
                replication_factor,
            })
            .await?;

        let service_args = args(&["--nats-url", &nats.url(), "--node-api-key", NODE_KEY]);
        let router = Proc::spawn(
            "router",
            &bins.path("miroir-router"),
            &service_args,
            logs.path(),
        )?;
        let merger_metrics = format!("127.0.0.1:{}", free_port()?);
        let mut merger_args = service_args.clone();
        merger_args.extend(args(&["--metrics-addr", &merger_metrics]));
        let merger = Proc::spawn(
            "merger",
            &bins.path("miroir-merger"),
            &merger_args,
            logs.path(),
        )?;
        let nats_client = nats.connect().await?;
        wait_for_service(&nats_client, "miroir-router", &router).await?;
        wait_for_service(&nats_client, "miroir-merger", &merger).await?;
        let (gateway_url, gateway) = start_gateway(&bins, &nats, logs.path()).await?;
        Ok(Stack {
            gateway,
            gateway_url,
            router,
            merger,
            merger_metrics_url: format!("http://{merger_metrics}/metrics"),
            nodes,
            topology,
            nats,
            bins,
            logs,
        })
    }

    /// A fresh gateway process (the old one is killed), e.g. to read a peak RSS that only one
    /// workload produced.
    pub async fn restart_gateway(&mut self) -> Result<()> {
        let (url, gateway) = start_gateway(&self.bins, &self.nats, self.logs.path()).await?;
        // The old one is dropped (killed) here.
        self.gateway = gateway;
        self.gateway_url = url;
        Ok(())
    }

    pub fn gateway_pid(&self) -> u32 {
        self.gateway.pid()
    }

    pub fn gateway(&self) -> MeiliClient {
        MeiliClient::new(self.gateway_url.clone(), Some(GATEWAY_KEY.to_string()))
    }

    pub fn node_client(&self, url: &str) -> MeiliClient {
        MeiliClient::new(url.to_string(), Some(NODE_KEY.to_string()))
    }

    pub fn node_url(&self, id: &str) -> Result<String> {
        self.nodes
            .iter()
            .find(|n| n.id == id)
            .map(|n| n.url.clone())
            .with_context(|| format!("no node {id}"))
    }

    /// Every process of the cluster and the bench itself, named for the figures.
    pub fn processes(&self) -> Vec<(String, u32)> {
        let mut list = vec![
            ("gateway".to_string(), self.gateway.pid()),
            ("merger".to_string(), self.merger.pid()),
            ("router".to_string(), self.router.pid()),
        ];
        if let Some(pid) = self.nats.pid() {
            list.push(("nats-server".to_string(), pid));
        }
        for node in &self.nodes {
            list.push((format!("node {}", node.id), node.proc.pid()));
        }
        list.push(("bench client".to_string(), std::process::id()));
        list
    }

    /// The index record as the KV holds it now.
    pub async fn index_record(&self, uid: &str) -> Result<IndexRecord> {
        let (record, _) = self
            .topology
            .read_index(uid)
            .await
            .map_err(|e| anyhow::anyhow!("reading index {uid}: {e}"))?
            .with_context(|| format!("index {uid} is not in the topology"))?;
        Ok(record)
    }

    /// For each shard of `record`, the base URLs of its copies, best first.
    pub fn shard_urls(&self, record: &IndexRecord) -> Result<Vec<Vec<String>>> {
        record
            .shards
            .iter()
            .map(|s| s.nodes.iter().map(|id| self.node_url(id)).collect())
            .collect()
    }

    /// Checks that no service died, with its log when one did.
    pub fn check_alive(&mut self) -> Result<()> {
        let mut dead = Vec::new();
        for p in [&mut self.gateway, &mut self.router, &mut self.merger]
            .into_iter()
            .chain(self.nodes.iter_mut().map(|n| &mut n.proc))
        {
            if let Some(status) = p.exited() {
                dead.push(format!("{} exited ({status}):\n{}", p.name, p.log_tail()));
            }
        }
        if dead.is_empty() {
            Ok(())
        } else {
            bail!("{}", dead.join("\n\n"))
        }
    }
}

async fn start_gateway(bins: &Binaries, nats: &NatsServer, logs: &Path) -> Result<(String, Proc)> {
    let nats_url = nats.url();
    start_http(bins, "miroir-gateway", "gateway", logs, |addr| {
        args(&[
            "--http-addr",
            addr,
            "--nats-url",
            &nats_url,
            "--master-key",
            GATEWAY_KEY,
        ])
    })
    .await
}

/// Starts an HTTP server binary on a free port and waits for `GET /health`; a process that
/// exits while starting (the port was taken meanwhile) is retried on another port.
async fn start_http(
    bins: &Binaries,
    binary: &str,
    name: &str,
    logs: &Path,
    make_args: impl Fn(&str) -> Vec<String>,
) -> Result<(String, Proc)> {
    let mut last_error = None;
    for _ in 0..4 {
        let addr = format!("127.0.0.1:{}", free_port()?);
        let mut proc = Proc::spawn(name, &bins.path(binary), &make_args(&addr), logs)?;
        let url = format!("http://{addr}");
        let client = MeiliClient::new(url.clone(), None);
        let ready = until(&format!("{name} /health"), START_TIMEOUT, || {
            let exited = proc.exited();
            let client = client.clone();
            async move {
                if let Some(status) = exited {
                    bail!("exited ({status})");
                }
                Ok(match client.get("/health").await {
                    Ok(r) if r.status == 200 => Attempt::Ready(()),
                    Ok(r) => Attempt::Retry(format!("status {}", r.status)),
                    Err(e) => Attempt::Retry(format!("{e:#}")),
                })
            }
        })
        .await;
        match ready {
            Ok(()) => return Ok((url, proc)),
            Err(e) => last_error = Some(format!("{e:#}\n{}", proc.log_tail())),
        }
    }
    bail!("{name} did not start: {}", last_error.unwrap_or_default())
}

/// Waits until the service answers `$SRV.PING.<name>` (its queue group is subscribed).
async fn wait_for_service(nats: &async_nats::Client, name: &str, proc: &Proc) -> Result<()> {
    let subject = format!("$SRV.PING.{name}");
    until(
        &format!("{name} to answer $SRV.PING"),
        START_TIMEOUT,
        || {
            let nats = nats.clone();
            let subject = subject.clone();
            async move {
                let reply = tokio::time::timeout(
                    Duration::from_millis(500),
                    nats.request(subject, "".into()),
                )
                .await;
                Ok(match reply {
                    Ok(Ok(_)) => Attempt::Ready(()),
                    Ok(Err(e)) => Attempt::Retry(e.to_string()),
                    Err(_) => Attempt::Retry("no answer within 500 ms".into()),
                })
            }
        },
    )
    .await
    .with_context(|| proc.log_tail())
}

/// A readable size.
pub fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}
