//! `miroirctl`: the operator's command line for a Miroir cluster.
//!
//! It talks only to NATS (except `import`, which talks HTTP to a Meilisearch and the gateway:
//! [`import`]) (`--nats-url`, or `MIROIR_NATS_URL`, default `nats://127.0.0.1:4222`):
//! every fact it shows is read from JetStream (the topology and migrations KV buckets, the
//! handoff stream, the leases bucket), and every change it makes is a compare-and-set on a node
//! record ([`TopologyStore::put_node`] / [`TopologyStore::modify_node`]), never a blind put. It
//! never talks to a Meilisearch node, so it shows no document counts it would have to ask a node
//! for.
//!
//! ```text
//! miroirctl status [--json]                       nodes, coverage, handoff queues, migrations, leases
//! miroirctl node add ID URL [--zone Z] [--update] register a node (or change its url / zone)
//! miroirctl node drain ID | undrain ID            take a node out of placement / put it back
//! miroirctl node remove ID                        retire a node (refused while it still holds data)
//! miroirctl plan [--delay-secs 300] [--json]      what the rebalancer would do now
//! miroirctl migrations [--follow] [--json]        copies being built: progress, rate, ETA
//! miroirctl import --from-url URL | --dump FILE   copy a Meilisearch into the cluster (HTTP)
//! ```
//!
//! Exit codes: 0 done, 2 refused (nothing was changed; the message says what to do), 1 failed
//! (NATS unreachable, a KV error).
//!
//! Shape: `main.rs` parses the flags ([`cli::Cli`]) and calls [`run`]; each command is a module
//! with a pure core over a topology snapshot (`status::build`, `node::check_remove`,
//! `planning::build`, `migrations::progress`) that the tests call directly, and a thin async
//! shell that reads NATS and prints text or JSON.

pub mod cli;
pub mod coverage;
pub mod import;
pub mod import_http;
pub mod import_source;
pub mod import_state;
pub mod migrations;
pub mod node;
pub mod planning;
pub mod status;

use std::io::Write;
use std::time::Duration;

use async_nats::jetstream;
use miroir_cluster::topology::{StoreError, TopologyStore};

pub use cli::Cli;

/// Lease names of the services whose active replica `status` shows.
pub const HEALTH_CHECKER_LEASE: &str = "health-checker";
pub const REBALANCER_LEASE: &str = "rebalancer";

/// How a command ended when it did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum CtlError {
    /// The command was refused and nothing was changed; the message says what to do (exit 2).
    #[error("refused: {0}")]
    Refused(String),
    /// Something failed: NATS, JetStream, a value that does not parse (exit 1).
    #[error("{0:#}")]
    Failed(#[from] anyhow::Error),
}

impl CtlError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CtlError::Refused(_) => 2,
            CtlError::Failed(_) => 1,
        }
    }
}

impl From<StoreError> for CtlError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Invalid(msg) => CtlError::Refused(msg),
            StoreError::Conflict(key) => CtlError::Failed(anyhow::anyhow!(
                "`{key}` kept changing under concurrent writers; run the command again"
            )),
            other => CtlError::Failed(other.into()),
        }
    }
}

/// A connection to the cluster's state: JetStream and a loaded mirror of the topology bucket.
pub struct Ctl {
    pub js: jetstream::Context,
    pub topology: TopologyStore,
}

impl Ctl {
    /// Connect to NATS, failing fast (a CLI must not retry forever as a service does).
    pub async fn connect(url: &str) -> Result<Self, CtlError> {
        // The operator's NATS credentials, from MIROIR_NATS_USER / MIROIR_NATS_PASSWORD[_FILE].
        let client = miroir_cluster::nats_auth::NatsAuth::from_env()
            .map_err(anyhow::Error::from)?
            .connect_options("miroirctl")
            .await?
            .connection_timeout(Duration::from_secs(5))
            .connect(url)
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot reach NATS at {url}: {e}. Is nats-server running? Point --nats-url (or MIROIR_NATS_URL) at it."
                )
            })?;
        Self::from_client(client).await
    }

    /// Open the topology over an existing connection (what tests use).
    pub async fn from_client(client: async_nats::Client) -> Result<Self, CtlError> {
        let js = jetstream::new(client);
        let topology = TopologyStore::open(&js)
            .await
            .map_err(|e| anyhow::anyhow!("cannot open the topology bucket: {e:#}"))?;
        Ok(Ctl { js, topology })
    }
}

/// Something a command prints: text for people, JSON for scripts.
pub trait Report: serde::Serialize {
    fn render(&self) -> String;
}

fn print(report: &impl Report, json: bool) -> Result<(), CtlError> {
    let text = if json {
        serde_json::to_string_pretty(report).map_err(anyhow::Error::from)? + "\n"
    } else {
        report.render()
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| anyhow::anyhow!("cannot write to stdout: {e}"))?;
    Ok(())
}

/// Run one command line to its end.
pub async fn run(cli: Cli) -> Result<(), CtlError> {
    use cli::{Command, NodeCommand};
    if let Command::Import(args) = &cli.command {
        return run_import(args).await;
    }
    let ctl = Ctl::connect(&cli.nats_url).await?;
    match cli.command {
        Command::Status(args) => {
            let report = status::status(&ctl).await?;
            if !args.json && migrations::on_terminal() {
                let (head, tail) = report.render_parts();
                print!("{head}");
                migrations::draw_bars(&report.migrations);
                print!("{tail}");
                Ok(())
            } else {
                print(&report, args.json)
            }
        }
        Command::Plan(args) => print(
            &planning::plan(&ctl, Duration::from_secs(args.delay_secs)).await?,
            args.json,
        ),
        Command::Migrations(args) if args.follow => migrations::follow(&ctl).await,
        Command::Migrations(args) => {
            let report = migrations::migrations(&ctl).await?;
            if !args.json && migrations::on_terminal() {
                migrations::draw_once(&report);
                Ok(())
            } else {
                print(&report, args.json)
            }
        }
        Command::Import(args) => run_import(&args).await,
        Command::Node(node) => {
            let (outcome, json) = match node {
                NodeCommand::Add(a) => (
                    node::add(&ctl, &a.id, &a.url, a.zone.as_deref(), a.update).await?,
                    a.json,
                ),
                NodeCommand::Drain(a) => (node::drain(&ctl, &a.id).await?, a.json),
                NodeCommand::Undrain(a) => (node::undrain(&ctl, &a.id).await?, a.json),
                NodeCommand::Remove(a) => (node::remove(&ctl, &a.id).await?, a.json),
            };
            print(&outcome, json)
        }
    }
}

/// `miroirctl import`: talks HTTP to the source and the gateway, not NATS.
async fn run_import(args: &cli::ImportArgs) -> Result<(), CtlError> {
    let source = match (&args.from_url, &args.dump) {
        (Some(url), _) => import::SourceSpec::Live {
            url: url.clone(),
            key: args.from_key.clone(),
        },
        (None, Some(path)) => import::SourceSpec::Dump { path: path.clone() },
        (None, None) => {
            return Err(CtlError::Refused(
                "give --from-url (a live Meilisearch) or --dump (a dump file)".into(),
            ));
        }
    };
    let opts = import::ImportOptions {
        source,
        gateway_url: args.gateway.clone(),
        master_key: args.master_key.clone(),
        indexes: args.indexes.clone(),
        batch_size: args.batch_size,
        in_flight: args.in_flight,
        state_path: args.state.clone(),
        copy_keys: !args.no_keys,
        task_timeout: Duration::from_secs(args.task_timeout_secs),
        stop_after_batches: args.stop_after_batches,
        progress: !args.json,
    };
    let report = import::import(&opts).await?;
    print(&report, args.json)?;
    let failed: Vec<&str> = report
        .keys
        .iter()
        .filter(|k| k.outcome.starts_with("failed"))
        .map(|k| k.uid.as_str())
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(CtlError::Failed(anyhow::anyhow!(
            "import: the documents were copied, but these keys were not: {}",
            failed.join(", ")
        )))
    }
}
