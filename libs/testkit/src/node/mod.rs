//! Meilisearch nodes for tests. With `MEILI_BIN` set to a Meilisearch binary, each node is a real
//! Meilisearch process with its own database directory; otherwise it is the stand-in node running
//! in-process. Either way a node has its own port, answers the Meilisearch API at [`Node::url`],
//! can be stopped and restarted on the same port for failure tests, and is stopped on drop.

mod meili;
mod standin;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tempfile::TempDir;

use crate::client::MeiliClient;
use crate::wait::{Attempt, until};

/// The master key nodes get unless a test asks otherwise.
pub const DEFAULT_MASTER_KEY: &str = "miroir-test-master-key-0123456789";

/// What runs behind a [`Node`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeKind {
    /// The in-memory stand-in (`miroir-standin`), in-process. Its data outlives a stop, as a
    /// real node's disk does: a restart keeps it; [`Node::start_again_empty`] loses it.
    Standin,
    /// A real Meilisearch process. A restart keeps its database.
    Meilisearch { binary: PathBuf },
}

impl NodeKind {
    /// `Meilisearch` when `MEILI_BIN` is set and not empty, else `Standin`.
    pub fn from_env() -> Self {
        match std::env::var_os("MEILI_BIN").filter(|v| !v.is_empty()) {
            Some(binary) => NodeKind::Meilisearch {
                binary: binary.into(),
            },
            None => NodeKind::Standin,
        }
    }
}

/// How to start a node. `Default` takes the kind from the environment and sets
/// [`DEFAULT_MASTER_KEY`].
#[derive(Clone, Debug)]
pub struct NodeOptions {
    pub kind: NodeKind,
    /// `None` runs the node without authentication.
    pub master_key: Option<String>,
    /// The largest request body the node accepts; `None` keeps the node's default (100 MB).
    pub max_payload_bytes: Option<u64>,
    /// Stand-in only: how long each task waits before it is processed, to make tasks observable
    /// while enqueued. Ignored by real Meilisearch.
    pub task_delay: Option<Duration>,
}

impl Default for NodeOptions {
    fn default() -> Self {
        NodeOptions {
            kind: NodeKind::from_env(),
            master_key: Some(DEFAULT_MASTER_KEY.to_string()),
            max_payload_bytes: None,
            task_delay: None,
        }
    }
}

/// A running (or deliberately stopped) node.
pub struct Node {
    options: NodeOptions,
    port: u16,
    /// Real Meilisearch's database and logs; kept across restarts.
    dir: Option<TempDir>,
    /// The stand-in's data (its "disk"); kept across restarts.
    data: Option<miroir_standin::NodeData>,
    running: Option<Running>,
}

enum Running {
    Standin(standin::StandinThread),
    Process(std::process::Child),
}

/// Starts one node and waits until `GET /health` answers.
pub async fn start_node(options: NodeOptions) -> Result<Node> {
    let dir = match options.kind {
        NodeKind::Standin => None,
        NodeKind::Meilisearch { .. } => {
            Some(tempfile::Builder::new().prefix("miroir-meili-").tempdir()?)
        }
    };
    let mut node = Node {
        options,
        port: 0,
        dir,
        data: None,
        running: None,
    };
    node.launch().await?;
    Ok(node)
}

/// Starts `n` nodes with default options, concurrently.
pub async fn start_nodes(n: usize) -> Result<Vec<Node>> {
    futures::future::try_join_all((0..n).map(|_| start_node(NodeOptions::default()))).await
}

impl Node {
    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn master_key(&self) -> Option<&str> {
        self.options.master_key.as_deref()
    }

    pub fn kind(&self) -> &NodeKind {
        &self.options.kind
    }

    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// A client for this node, authenticated with its master key.
    pub fn client(&self) -> MeiliClient {
        MeiliClient::new(self.url(), self.options.master_key.clone())
    }

    /// Stops the node at once (a real process gets SIGKILL; the stand-in loses its runtime and
    /// every connection). The port is not held while the node is down: should another program
    /// take it meanwhile, [`start_again`](Self::start_again) fails after a few seconds.
    pub fn stop(&mut self) {
        match self.running.take() {
            Some(Running::Standin(mut thread)) => {
                if let Err(e) = thread.stop() {
                    tracing::warn!(
                        "stand-in node on port {} ended with an error: {e:#}",
                        self.port
                    );
                }
            }
            Some(Running::Process(mut child)) => crate::process::kill(&mut child),
            None => {}
        }
    }

    /// Starts the node again on the same port after [`stop`](Self::stop).
    pub async fn start_again(&mut self) -> Result<()> {
        if self.running.is_some() {
            bail!("node {} is still running", self.url());
        }
        self.launch().await
    }

    /// [`stop`](Self::stop) then [`start_again`](Self::start_again): a crash and a restart
    /// that keeps the node's data (tasks it had not finished are processed again).
    pub async fn restart(&mut self) -> Result<()> {
        self.stop();
        self.start_again().await
    }

    /// Starts the node again after [`stop`](Self::stop) with none of its data, as a machine
    /// whose disk was lost: the stand-in starts from nothing, a real Meilisearch from an empty
    /// database directory.
    pub async fn start_again_empty(&mut self) -> Result<()> {
        if self.running.is_some() {
            bail!("node {} is still running", self.url());
        }
        self.data = None;
        if let Some(dir) = &self.dir {
            let db = dir.path().join("data.ms");
            if db.exists() {
                std::fs::remove_dir_all(&db).with_context(|| format!("wiping {}", db.display()))?;
            }
        }
        self.launch().await
    }

    /// [`stop`](Self::stop) then [`start_again_empty`](Self::start_again_empty).
    pub async fn restart_empty(&mut self) -> Result<()> {
        self.stop();
        self.start_again_empty().await
    }

    async fn launch(&mut self) -> Result<()> {
        match self.options.kind.clone() {
            NodeKind::Standin => self.launch_standin().await,
            NodeKind::Meilisearch { binary } => self.launch_meili(&binary).await,
        }
    }

    // Field by field, so that options the stand-in grows later keep their defaults here.
    #[allow(clippy::field_reassign_with_default)]
    async fn launch_standin(&mut self) -> Result<()> {
        let listener = bind_port(self.port).await?;
        self.port = listener.local_addr()?.port();
        let mut config = miroir_standin::Config::default();
        config.master_key = self.options.master_key.clone();
        if let Some(bytes) = self.options.max_payload_bytes {
            config.max_payload_bytes = bytes;
        }
        if let Some(delay) = self.options.task_delay {
            config.task_delay = delay;
        }
        let name = format!("standin-{}", self.port);
        let data = self
            .data
            .get_or_insert_with(|| miroir_standin::NodeData::new(config))
            .clone();
        self.running = Some(Running::Standin(standin::StandinThread::spawn(
            data, listener, name,
        )?));
        self.wait_healthy(Duration::from_secs(10)).await
    }

    async fn launch_meili(&mut self, binary: &std::path::Path) -> Result<()> {
        let dir = self
            .dir
            .as_ref()
            .context("a Meilisearch node has a directory")?
            .path()
            .to_path_buf();
        // Meilisearch cannot be told to pick its own port, so a first start tries a few free
        // ports in case another process took the one picked; a restart must keep its port.
        let tries = if self.port == 0 { 3 } else { 1 };
        let mut last_error = None;
        for _ in 0..tries {
            let port = if self.port == 0 {
                crate::process::free_port()?
            } else {
                self.port
            };
            let child = meili::spawn(binary, &dir, port, &self.options)?;
            let previous_port = self.port;
            self.port = port;
            self.running = Some(Running::Process(child));
            match self.wait_healthy(Duration::from_secs(60)).await {
                Ok(()) => return Ok(()),
                Err(e) => {
                    self.stop();
                    self.port = previous_port;
                    last_error = Some(e);
                }
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("Meilisearch did not start")))
    }

    /// Polls `GET /health` until it says `available`, failing early if the node died.
    async fn wait_healthy(&mut self, timeout: Duration) -> Result<()> {
        let http = crate::client::http_client()?;
        let url = format!("{}/health", self.url());
        let log = self.dir.as_ref().map(|d| meili::log_path(d.path()));
        until(&format!("{url} to answer"), timeout, || {
            let died = self.died();
            let request = http.get(&url).timeout(Duration::from_secs(2)).send();
            let log = log.clone();
            async move {
                if let Some(reason) = died {
                    let tail = log
                        .map(|l| crate::process::log_tail(&l))
                        .unwrap_or_default();
                    bail!("the node died while starting: {reason}\n{tail}");
                }
                Ok(match request.await {
                    Ok(response) if response.status().is_success() => Attempt::Ready(()),
                    Ok(response) => Attempt::Retry(format!("status {}", response.status())),
                    Err(e) => Attempt::Retry(e.to_string()),
                })
            }
        })
        .await
    }

    /// Why the node is no longer running, if it stopped by itself.
    fn died(&mut self) -> Option<String> {
        match self.running.as_mut()? {
            Running::Standin(thread) if thread.is_finished() => match self.running.take() {
                Some(Running::Standin(mut thread)) => Some(match thread.stop() {
                    Ok(()) => "run() returned".into(),
                    Err(e) => format!("{e:#}"),
                }),
                _ => None,
            },
            Running::Standin(_) => None,
            Running::Process(child) => match child.try_wait() {
                Ok(Some(status)) => Some(format!("exited with {status}")),
                _ => None,
            },
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Binds `127.0.0.1:port` (any port for 0). A restart re-binds the port its previous listener
/// has just released, which may take a moment on a busy machine.
async fn bind_port(port: u16) -> Result<std::net::TcpListener> {
    until(
        &format!("port {port} to be free"),
        Duration::from_secs(5),
        || async move {
            Ok(match std::net::TcpListener::bind(("127.0.0.1", port)) {
                Ok(listener) => Attempt::Ready(listener),
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                    Attempt::Retry(e.to_string())
                }
                Err(e) => return Err(e.into()),
            })
        },
    )
    .await
}
