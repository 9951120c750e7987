//! The command line (clap derive). Every flag has `--help`; the NATS URL also comes from the
//! environment.

use clap::{Args, Parser, Subcommand};

/// Operate a Miroir cluster: its status, its nodes, the rebalancer's plan and migrations.
///
/// miroirctl reads and writes only NATS (JetStream KV and streams); it never talks to a
/// Meilisearch node. Exit codes: 0 done, 2 refused (nothing changed), 1 failed.
#[derive(Debug, Parser)]
#[command(name = "miroirctl", version)]
pub struct Cli {
    /// The NATS server (or cluster seed) the services share
    #[arg(
        long,
        global = true,
        env = "MIROIR_NATS_URL",
        default_value = "nats://127.0.0.1:4222",
        value_name = "URL"
    )]
    pub nats_url: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Nodes (intent, health, copies held), shard coverage per index, handoff queues,
    /// migrations in flight and who holds the health-checker and rebalancer leases
    Status(JsonArgs),
    /// Add, drain, undrain or remove a node
    #[command(subcommand)]
    Node(NodeCommand),
    /// What the rebalancer would do now: copies to add, rebuild and drop, shards that cannot
    /// reach their replication factor, and why
    Plan(PlanArgs),
    /// Shard copies being built: progress, rate and ETA per copy
    Migrations(MigrationsArgs),
    /// Copy the indexes (settings, documents) and API keys of an existing Meilisearch, live or
    /// from a dump file, into the cluster through its gateway; resumable, with a count check
    Import(ImportArgs),
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["from_url", "dump"])))]
pub struct ImportArgs {
    /// The live Meilisearch to copy from, e.g. http://10.0.0.5:7700 (stop its writers first)
    #[arg(long, value_name = "URL")]
    pub from_url: Option<String>,
    /// Its key (the master key, or one allowed to read indexes, documents, settings and keys)
    #[arg(
        long,
        env = "MIROIR_IMPORT_FROM_KEY",
        value_name = "KEY",
        hide_env_values = true
    )]
    pub from_key: Option<String>,
    /// A dump file a Meilisearch 1.x wrote (`POST /dumps`), or one `POST /dumps` on the cluster wrote
    #[arg(long, value_name = "FILE")]
    pub dump: Option<std::path::PathBuf>,
    /// The cluster's gateway
    #[arg(
        long,
        env = "MIROIR_GATEWAY_URL",
        default_value = "http://127.0.0.1:7700",
        value_name = "URL"
    )]
    pub gateway: String,
    /// The cluster's master key
    #[arg(
        long,
        env = "MIROIR_MASTER_KEY",
        value_name = "KEY",
        hide_env_values = true
    )]
    pub master_key: Option<String>,
    /// Copy only this index (repeat for several); every index by default
    #[arg(long = "index", value_name = "UID")]
    pub indexes: Vec<String>,
    /// Documents per batch (one cluster task each)
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    pub batch_size: usize,
    /// Batches whose cluster tasks are awaited at once (they are sent one after the other)
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub in_flight: usize,
    /// Where the import records its progress; run the same command again to resume
    #[arg(long, default_value = "miroir-import.state.json", value_name = "FILE")]
    pub state: std::path::PathBuf,
    /// Do not copy the API keys
    #[arg(long)]
    pub no_keys: bool,
    /// How long to wait for one cluster task, in seconds
    #[arg(long, default_value_t = 600, value_name = "SECS")]
    pub task_timeout_secs: u64,
    /// Stop after this many acknowledged batches, as an interruption would (for tests)
    #[arg(long, hide = true, value_name = "N")]
    pub stop_after_batches: Option<u64>,
    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct JsonArgs {
    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum NodeCommand {
    /// Register a node (state up). Refused if the id exists, unless --update
    Add(AddArgs),
    /// Set a node's state to draining: it keeps serving, gets no new copies, and the rebalancer
    /// moves its copies to other nodes
    Drain(IdArgs),
    /// Set a draining node's state back to up
    Undrain(IdArgs),
    /// Retire a node (state removed): its copies are re-created elsewhere. Refused while it holds
    /// copies unless the health-checker sees it down, and refused if a shard would be left with
    /// no live full copy
    Remove(IdArgs),
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// Node id: 1-64 characters of [A-Za-z0-9_-]
    pub id: String,
    /// Base URL of the node's HTTP API, e.g. http://10.0.0.7:7700
    pub url: String,
    /// Failure zone (copies of a shard are spread over zones)
    #[arg(long, value_name = "ZONE")]
    pub zone: Option<String>,
    /// Change the url and zone of an existing node (and put a removed node back in service)
    #[arg(long)]
    pub update: bool,
    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct IdArgs {
    /// Node id
    pub id: String,
    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// How long a node must be observed down before its copies are re-created elsewhere, in
    /// seconds: give the rebalancer's `reallocate_after_ms` / 1000 (its default is 300)
    #[arg(long, default_value_t = 300, value_name = "SECS")]
    pub delay_secs: u64,
    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct MigrationsArgs {
    /// Redraw every second until Ctrl-C, or until no copy has been moving for 5 s
    #[arg(long, conflicts_with = "json")]
    pub follow: bool,
    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
