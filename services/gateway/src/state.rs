//! What every request handler shares: the NATS connection, JetStream, the WAL stream, the live
//! topology mirror and the configuration.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use miroir_cluster::bus::Requester;
use miroir_cluster::topology::{Topology, TopologyStore};
use miroir_cluster::wal;
use miroir_proto::subjects::TOPOLOGY_BUCKET;
use miroir_proto::topology::IndexRecord;
use miroir_proto::{MeiliError, Rpc};

use crate::auth::Keyring;
use crate::config::Config;
use crate::upload_slots::UploadSlots;

/// How long a listing waits for the topology mirror to catch up with the bucket.
const FRESHNESS_WAIT: Duration = Duration::from_secs(1);

/// The gateway's shared state; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    nats: async_nats::Client,
    /// Every request to the router and the merger goes through its one reply subscription.
    requester: Requester,
    jetstream: jetstream::Context,
    wal: jetstream::stream::Stream,
    topology: TopologyStore,
    /// The stream behind the topology bucket, to learn its latest revision.
    topology_stream: jetstream::stream::Stream,
    /// The cluster's API keys (KV mirror) and the master key.
    keys: Keyring,
    /// Document uploads in flight by API key (`max_concurrent_uploads_per_key`).
    uploads: UploadSlots,
}

impl AppState {
    /// Open what the gateway needs on `nats`: the topology KV mirror and the WAL stream.
    pub async fn new(config: Config, nats: async_nats::Client) -> anyhow::Result<Self> {
        let jetstream = jetstream::new(nats.clone());
        let topology = TopologyStore::open(&jetstream).await?;
        let topology_stream = jetstream
            .get_stream(format!("KV_{TOPOLOGY_BUCKET}"))
            .await
            .map_err(|e| anyhow::anyhow!("cannot open the stream of the topology bucket: {e}"))?;
        let wal = wal::open(&jetstream).await?;
        let keys = Keyring::open(&jetstream, config.master_key.clone()).await?;
        let requester = Requester::new(nats.clone()).await?;
        let uploads = UploadSlots::new(config.max_concurrent_uploads_per_key);
        Ok(AppState {
            inner: Arc::new(Inner {
                uploads,
                config,
                nats,
                requester,
                jetstream,
                wal,
                topology,
                topology_stream,
                keys,
            }),
        })
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub fn uploads(&self) -> &UploadSlots {
        &self.inner.uploads
    }

    pub fn nats(&self) -> &async_nats::Client {
        &self.inner.nats
    }

    pub fn jetstream(&self) -> &jetstream::Context {
        &self.inner.jetstream
    }

    pub fn wal(&self) -> &jetstream::stream::Stream {
        &self.inner.wal
    }

    pub fn topology(&self) -> &TopologyStore {
        &self.inner.topology
    }

    pub fn keys(&self) -> &Keyring {
        &self.inner.keys
    }

    /// A topology snapshot that includes every write made to the bucket before this call, by
    /// any service: the mirror is given a moment to catch up with the bucket's last revision.
    /// For listings, which must show an index as soon as its creation task succeeded.
    pub async fn fresh_topology(&self) -> Arc<Topology> {
        let mut stream = self.inner.topology_stream.clone();
        match stream.info().await {
            Ok(info) => {
                let last = info.state.last_sequence;
                if !self
                    .inner
                    .topology
                    .wait_for_revision(last, FRESHNESS_WAIT)
                    .await
                {
                    tracing::warn!(
                        revision = last,
                        "the topology mirror is behind the bucket; answering from it anyway"
                    );
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the topology bucket's revision; answering from the mirror")
            }
        }
        self.inner.topology.current()
    }

    /// The index record, from the mirror, or straight from KV when the mirror has not seen it
    /// yet (an index created a moment ago through another gateway).
    pub async fn index(&self, uid: &str) -> Result<Option<IndexRecord>, MeiliError> {
        if let Some(record) = self.inner.topology.current().index(uid) {
            return Ok(Some(record.clone()));
        }
        match self.inner.topology.read_index(uid).await {
            Ok(found) => Ok(found.map(|(record, _)| record)),
            Err(e) => Err(MeiliError::internal(format!(
                "cannot read the topology: {e}"
            ))),
        }
    }

    /// `Ok` when the index exists, else Meilisearch's `index_not_found`; for the search routes,
    /// which only need to know that (no copy of the record on every search).
    pub async fn check_index_exists(&self, uid: &str) -> Result<(), MeiliError> {
        if self.inner.topology.current().index(uid).is_some() {
            return Ok(());
        }
        self.existing_index(uid).await.map(|_| ())
    }

    /// The record of an index that must exist, or Meilisearch's `index_not_found`.
    pub async fn existing_index(&self, uid: &str) -> Result<IndexRecord, MeiliError> {
        self.index(uid)
            .await?
            .ok_or_else(|| MeiliError::index_not_found(uid))
    }

    /// Ask the router or the merger, with the timeout for that kind of operation. Errors about
    /// `index_uid` never show a node-local shard index name.
    pub async fn call<R: Rpc>(
        &self,
        req: &R,
        timeout: Duration,
        index_uid: Option<&str>,
    ) -> Result<R::Reply, MeiliError> {
        self.inner
            .requester
            .request(req, timeout)
            .await
            .map_err(|e| match index_uid {
                Some(uid) => {
                    let e = miroir_cluster::rewrite_shard_names(e, uid, uid);
                    match self.inner.topology.current().index(uid) {
                        Some(record) if record.storage_base() != uid => {
                            miroir_cluster::rewrite_shard_names(e, record.storage_base(), uid)
                        }
                        _ => e,
                    }
                }
                None => e,
            })
    }
}
