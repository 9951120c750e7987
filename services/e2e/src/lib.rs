//! The whole-cluster harness and Miroir's end-to-end tests. [`TestCluster`] starts a real
//! `nats-server`, Meilisearch nodes (stand-ins, or real Meilisearch with `MEILI_BIN`), and every
//! service in-process through the same `run` its binary calls; `tests/e2e.rs` is the one test
//! binary holding every whole-cluster scenario. This crate sits above the services, which sit
//! above `miroir-testkit`: dependencies point down, so a service's own tests never build the
//! others.
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! use miroir_e2e::{ClusterOptions, TestCluster};
//!
//! let mut cluster = TestCluster::start(ClusterOptions { mergers: 2, ..Default::default() }).await?;
//! let client = cluster.client(); // the gateway, with its master key
//! let created = client.post("/indexes", &serde_json::json!({"uid": "books"})).await?;
//! client.wait_succeeded(&created).await?;
//! cluster.kill_merger(0); // as kill -9 would
//! # Ok(())
//! # }
//! ```

pub mod cluster;
mod services;

pub use cluster::{ClusterOptions, GATEWAY_MASTER_KEY, NODE_MASTER_KEY, TestCluster};
pub use miroir_proto::subjects::Service;
pub use services::HEALTH_CHECKER_LEASE_TTL_MS;
