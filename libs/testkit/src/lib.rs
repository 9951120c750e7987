//! The test kit every Miroir test starts from. It runs the real things a test needs as if they
//! were separate machines: a real `nats-server` with JetStream per test ([`NatsServer`]), and
//! Meilisearch nodes ([`Node`]) that are either real Meilisearch processes (when `MEILI_BIN`
//! names a binary) or the in-memory stand-in node running on its own thread and runtime. It also
//! locates the repository's fixtures (the recorded Meilisearch 1.50 exchanges and the npm corpus)
//! and offers a small HTTP client that speaks to a node (or to the gateway) with a key.
//!
//! Everything started here is stopped when its handle is dropped, also when a test panics.
//! Readiness is always polled against a deadline, never slept for.
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! use miroir_testkit::{NatsServer, start_nodes};
//!
//! let nats = NatsServer::start().await?; // nats-server -js on its own port and store
//! let nodes = start_nodes(3).await?; // stand-ins, or real Meilisearch with MEILI_BIN
//! let client = nodes[0].client(); // speaks with the node's master key
//! let enqueued = client.post("/indexes", &serde_json::json!({"uid": "books"})).await?;
//! client.wait_succeeded(&enqueued).await?;
//! let kv = async_nats::jetstream::new(nats.connect().await?);
//! # let _ = kv;
//! # Ok(())
//! # }
//! ```

pub mod client;
pub mod conformance;
pub mod fixtures;
pub mod nats;
pub mod node;
mod process;
pub mod wait;

pub use client::{MeiliClient, Reply};
pub use fixtures::{
    Exchange, fixtures_dir, load_recordings, npm_corpus_path, npm_documents, recordings_dir,
};
pub use nats::{NatsOptions, NatsServer, SilentReplica};
pub use node::{DEFAULT_MASTER_KEY, Node, NodeKind, NodeOptions, start_node, start_nodes};
