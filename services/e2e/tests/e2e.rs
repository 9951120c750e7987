//! Every whole-cluster scenario, in one test binary so that CI links it once. Each module is one
//! scenario and opens with the invariant it checks; `cargo test -p miroir-e2e <module>::` runs
//! one of them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "e2e/load.rs"]
mod load;
#[path = "e2e/search_corpora.rs"]
mod search_corpora;

#[path = "e2e/bad_input.rs"]
mod bad_input;
#[path = "e2e/conformance.rs"]
mod conformance;
#[path = "e2e/facet_search.rs"]
mod facet_search;
#[path = "e2e/failures.rs"]
mod failures;
#[path = "e2e/health_checker_dies.rs"]
mod health_checker_dies;
#[path = "e2e/import.rs"]
mod import;
#[path = "e2e/keys.rs"]
mod keys;
#[path = "e2e/keys_replicas.rs"]
mod keys_replicas;
#[path = "e2e/loadgen.rs"]
mod loadgen;
#[path = "e2e/multi_search.rs"]
mod multi_search;
#[path = "e2e/nats_restarts.rs"]
mod nats_restarts;
#[path = "e2e/node_back_empty.rs"]
mod node_back_empty;
#[path = "e2e/node_dies.rs"]
mod node_dies;
#[path = "e2e/prometheus.rs"]
mod prometheus;
#[path = "e2e/read_extras.rs"]
mod read_extras;
#[path = "e2e/rebalance_add_node.rs"]
mod rebalance_add_node;
#[path = "e2e/rebalance_common.rs"]
mod rebalance_common;
#[path = "e2e/rebalance_drain.rs"]
mod rebalance_drain;
#[path = "e2e/rebalance_lagging_router.rs"]
mod rebalance_lagging_router;
#[path = "e2e/rebalance_node_lost.rs"]
mod rebalance_node_lost;
#[path = "e2e/rebalance_rebalancer_dies.rs"]
mod rebalance_rebalancer_dies;
#[path = "e2e/rebalance_source_dies.rs"]
mod rebalance_source_dies;
#[path = "e2e/sdk.rs"]
mod sdk;
#[path = "e2e/security_nats.rs"]
mod security_nats;
#[path = "e2e/security_secrets.rs"]
mod security_secrets;
#[path = "e2e/settings_drift.rs"]
mod settings_drift;
#[path = "e2e/sharded_equals_whole.rs"]
mod sharded_equals_whole;
#[path = "e2e/smoke.rs"]
mod smoke;
#[path = "e2e/snapshots.rs"]
mod snapshots;
#[path = "e2e/swap.rs"]
mod swap;
#[path = "e2e/tasks.rs"]
mod tasks;
#[path = "e2e/tenant_tokens.rs"]
mod tenant_tokens;
#[path = "e2e/topology_live.rs"]
mod topology_live;
#[path = "e2e/trace_context.rs"]
mod trace_context;
#[path = "e2e/unsupported.rs"]
mod unsupported;
#[path = "e2e/webhooks.rs"]
mod webhooks;
#[path = "e2e/write_extras.rs"]
mod write_extras;
#[path = "e2e/write_order.rs"]
mod write_order;
