//! Every NATS subject, queue group, KV bucket and KV key Miroir uses, built from constants.
//!
//! Services never format a subject themselves: they call these functions, so that renaming or
//! versioning a subject is one change here. Layout: `miroir.v1.<service>.<operation>`; each service's
//! replicas share the queue group named after the service, so any number of them split the load.

/// Root of every Miroir subject.
pub const PREFIX: &str = "miroir";
/// Version segment of the subject space; bumped only with an incompatible change of routing.
pub const SUBJECT_VERSION: &str = "v1";

/// The services of a Miroir cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Service {
    Gateway,
    Router,
    Merger,
    Rebalancer,
    HealthChecker,
}

impl Service {
    /// Name used in subjects, queue groups and the NATS service API (`$SRV.PING.<name>`).
    pub const fn name(self) -> &'static str {
        match self {
            Service::Gateway => "gateway",
            Service::Router => "router",
            Service::Merger => "merger",
            Service::Rebalancer => "rebalancer",
            Service::HealthChecker => "health-checker",
        }
    }

    /// Name registered with the NATS service API (micro), which allows `[A-Za-z0-9_-]`.
    pub const fn service_api_name(self) -> &'static str {
        match self {
            Service::Gateway => "miroir-gateway",
            Service::Router => "miroir-router",
            Service::Merger => "miroir-merger",
            Service::Rebalancer => "miroir-rebalancer",
            Service::HealthChecker => "miroir-health-checker",
        }
    }

    /// Queue group shared by every replica of the service.
    pub const fn queue_group(self) -> &'static str {
        self.service_api_name()
    }

    /// The subject prefix of the service's endpoints: `miroir.v1.<service>`.
    pub fn group(self) -> String {
        [PREFIX, SUBJECT_VERSION, self.name()].join(".")
    }
}

/// The subject of one endpoint: `miroir.v1.<service>.<op>`.
pub fn endpoint(service: Service, op: &str) -> String {
    [PREFIX, SUBJECT_VERSION, service.name(), op].join(".")
}

/// JetStream KV bucket holding the topology (nodes, indexes, placements). Values are JSON.
pub const TOPOLOGY_BUCKET: &str = "miroir-topology";
/// JetStream KV bucket holding cluster tasks and the task uid sequence. Values are JSON.
pub const TASKS_BUCKET: &str = "miroir-tasks";
/// JetStream stream where the gateway spools document batches before the router commits them.
pub const WAL_STREAM: &str = "MIROIR_WAL";
/// JetStream stream of hinted handoff: the writes each shard copy missed, one subject per copy.
pub const HANDOFF_STREAM: &str = "MIROIR_HANDOFF";
/// JetStream KV bucket of shard copy builds in progress (JSON), for progress displays.
pub const MIGRATIONS_BUCKET: &str = "miroir-migrations";
/// JetStream KV bucket of leases (one active replica of a service), with per-key TTLs.
pub const LEASES_BUCKET: &str = "miroir-leases";
/// JetStream KV bucket holding API keys (`keys.<uid>`, JSON), shared by every gateway.
pub const KEYS_BUCKET: &str = "miroir-keys";
/// JetStream KV bucket of the cluster's webhooks (`webhooks.<uuid>`, JSON) and their delivery
/// claims (`delivered.<task uid>`).
pub const WEBHOOKS_BUCKET: &str = "miroir-webhooks";

/// KV key prefix of node records.
pub const NODE_KEY_PREFIX: &str = "nodes";
/// KV key prefix of index records.
pub const INDEX_KEY_PREFIX: &str = "indexes";
/// KV key of the cluster-wide defaults.
pub const CLUSTER_KEY: &str = "cluster";
/// KV key (topology bucket) of the cluster's experimental features, applied to every node.
pub const FEATURES_KEY: &str = "experimental-features";
/// KV key (tasks bucket) of the last allocated cluster task uid.
pub const TASK_SEQ_KEY: &str = "seq";
/// KV key prefix (tasks bucket) of cluster task records.
pub const TASK_KEY_PREFIX: &str = "task";

/// `nodes.<id>`
pub fn node_key(node_id: &str) -> String {
    [NODE_KEY_PREFIX, node_id].join(".")
}

/// `indexes.<uid>`
pub fn index_key(index_uid: &str) -> String {
    [INDEX_KEY_PREFIX, index_uid].join(".")
}

/// `task.<uid>`
pub fn task_key(task_uid: u64) -> String {
    [TASK_KEY_PREFIX, &task_uid.to_string()].join(".")
}

/// `keys.<uid>` (keys bucket): one API key record.
pub fn api_key_key(uid: &str) -> String {
    ["keys", uid].join(".")
}

/// The JetStream stream behind a KV bucket: `KV_<bucket>`.
pub fn kv_stream_name(bucket: &str) -> String {
    ["KV_", bucket].concat()
}

/// The subject a KV bucket stores `key` under: `$KV.<bucket>.<key>` (for writes several keys at
/// once, in one atomic batch, which the KV API does not offer).
pub fn kv_key_subject(bucket: &str, key: &str) -> String {
    ["$KV", bucket, key].join(".")
}

/// Subject filter of all WAL chunks: `miroir.v1.wal.>`.
pub fn wal_subjects() -> String {
    [PREFIX, SUBJECT_VERSION, "wal", ">"].join(".")
}

/// Subject of the chunks of one spooled batch: `miroir.v1.wal.<batch>`.
pub fn wal_batch(batch_id: &str) -> String {
    [PREFIX, SUBJECT_VERSION, "wal", batch_id].join(".")
}

/// Subject filter of every handoff queue: `miroir.v1.handoff.>`.
pub fn handoff_subjects() -> String {
    [PREFIX, SUBJECT_VERSION, "handoff", ">"].join(".")
}

/// Subject filter of every handoff queue of one node: `miroir.v1.handoff.<node>.*`.
pub fn handoff_node_subjects(node_id: &str) -> String {
    [PREFIX, SUBJECT_VERSION, "handoff", node_id, "*"].join(".")
}

/// The handoff queue of one copy: `miroir.v1.handoff.<node>.<node-local shard index>`.
pub fn handoff_subject(node_id: &str, shard_index: &str) -> String {
    [PREFIX, SUBJECT_VERSION, "handoff", node_id, shard_index].join(".")
}

/// Header carrying the W3C trace context across NATS (and to the nodes over HTTP): the
/// caller's span, `00-<trace id>-<span id>-<flags>` (see `libs/cluster/src/trace.rs`).
pub const TRACEPARENT_HEADER: &str = "traceparent";
/// Header carrying the W3C `tracestate` of the client's trace, passed on unchanged.
pub const TRACESTATE_HEADER: &str = "tracestate";
/// Header carrying the client request id, for logs.
pub const REQUEST_ID_HEADER: &str = "Miroir-Request-Id";
/// Header of the empty message a replica sends the moment it takes a request: a requester that
/// sees no such acknowledgement in time sends the request again (see `libs/cluster/src/bus.rs`).
pub const ACK_HEADER: &str = "Miroir-Ack";
