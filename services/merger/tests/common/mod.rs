//! Shared by the merger's integration tests: a real `nats-server`, stand-in Meilisearch nodes,
//! a topology seeded by hand, shard indexes filled directly on the nodes (documents split by
//! `shard_for_key`), and mergers run in-process through `miroir_merger::run`.
#![allow(dead_code, clippy::unwrap_used)]

use std::time::Duration;

use anyhow::{Context, Result, bail};
use futures::StreamExt;
use miroir_cluster::bus;
use miroir_cluster::topology::TopologyStore;
use miroir_merger::Config;
use miroir_placement::{PrimaryKeyValue, ShardCount, shard_for_key, shard_index_name};
use miroir_proto::rpc::{JsonBody, Search};
use miroir_proto::topology::{IndexRecord, NodeRecord, NodeState, ShardPlacement};
use miroir_proto::{MeiliError, Rpc};
use miroir_testkit::wait::{Attempt, until};
use miroir_testkit::{DEFAULT_MASTER_KEY, MeiliClient, NatsServer, Node};
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Settings of the npm corpus, as the recordings used them (plus `id` sortable, so that a sort
/// can be made total and compared hit for hit).
pub fn npm_settings() -> Value {
    json!({
        "searchableAttributes": ["name", "summary", "tags"],
        "filterableAttributes": ["scope", "major", "downloads", "tags"],
        "sortableAttributes": ["downloads", "name", "major", "id"],
    })
}

pub struct Merger {
    token: CancellationToken,
    handle: JoinHandle<Result<()>>,
    /// A clone of the merger's own NATS connection, to count what it received.
    client: async_nats::Client,
}

pub struct Cluster {
    pub nats: NatsServer,
    pub client: async_nats::Client,
    pub topology: TopologyStore,
    mergers: Vec<Option<Merger>>,
}

impl Cluster {
    pub async fn start() -> Result<Self> {
        let nats = NatsServer::start().await?;
        let client = nats.connect().await?;
        let topology = TopologyStore::open(&async_nats::jetstream::new(client.clone())).await?;
        Ok(Cluster {
            nats,
            client,
            topology,
            mergers: Vec::new(),
        })
    }

    /// A merger's config for this cluster: fast hedges, short deadlines.
    pub fn config(&self) -> Config {
        Config {
            nats_url: self.nats.url(),
            node_api_key: Some(DEFAULT_MASTER_KEY.to_owned()),
            node_timeout_ms: 10_000,
            hedge_after_ms: 50,
            settings_ttl_ms: 1_000,
            default_deadline_ms: 5_000,
            ..Config::default()
        }
    }

    pub async fn put_node(&self, id: &str, url: &str, state: NodeState) -> Result<u64> {
        let record = NodeRecord {
            id: id.to_owned(),
            url: url.to_owned(),
            zone: None,
            state,
            health: Default::default(),
            health_since: None,
        };
        Ok(self.topology.put_node(&record).await?)
    }

    /// Registers `nodes` as `n0, n1, ...`, all up.
    pub async fn put_nodes(&self, nodes: &[Node]) -> Result<()> {
        for (i, node) in nodes.iter().enumerate() {
            self.put_node(&format!("n{i}"), &node.url(), NodeState::Up)
                .await?;
        }
        Ok(())
    }

    /// Creates index `uid` in the topology with `placement[s]` = node ids of shard `s`, and on
    /// those nodes the shard indexes with `settings` and their share of `docs`.
    pub async fn create_index(
        &self,
        nodes: &[Node],
        uid: &str,
        placement: &[&[usize]],
        settings: &Value,
        docs: &[Value],
    ) -> Result<()> {
        let count = ShardCount::try_from(u16::try_from(placement.len())?)?;
        let mut split: Vec<Vec<Value>> = vec![Vec::new(); placement.len()];
        for doc in docs {
            let key = PrimaryKeyValue::from_json(&doc["id"]).map_err(|e| anyhow::anyhow!("{e}"))?;
            split[shard_for_key(&key, count).index()].push(doc.clone());
        }
        let mut loads = Vec::new();
        for (shard, holders) in count.shards().zip(placement) {
            for &n in holders.iter() {
                let client = nodes[n].client();
                let name = shard_index_name(uid, shard);
                let docs = split[shard.index()].clone();
                let settings = settings.clone();
                loads.push(async move { load_index(&client, &name, &settings, &docs).await });
            }
        }
        futures::future::try_join_all(loads).await?;
        let now = miroir_cluster::now_rfc3339();
        let record = IndexRecord {
            uid: uid.to_owned(),
            primary_key: Some("id".into()),
            shard_count: count.get(),
            replication_factor: u8::try_from(placement.iter().map(|p| p.len()).max().unwrap_or(1))?,
            created_at: now.clone(),
            updated_at: now,
            shards: placement
                .iter()
                .map(|p| ShardPlacement {
                    nodes: p.iter().map(|n| format!("n{n}")).collect(),
                    incoming: Vec::new(),
                    lagging: Vec::new(),
                })
                .collect(),
            state: Default::default(),
            storage_uid: None,
        };
        self.topology.create_index(&record).await?;
        Ok(())
    }

    /// Starts a merger with its own NATS connection, and waits until it serves.
    pub async fn start_merger(&mut self, config: Config) -> Result<usize> {
        let client = self.nats.connect().await?;
        let token = CancellationToken::new();
        let handle = tokio::spawn(miroir_merger::run(config, client.clone(), token.clone()));
        self.mergers.push(Some(Merger {
            token,
            handle,
            client,
        }));
        let expected = self.mergers.iter().filter(|m| m.is_some()).count();
        self.wait_mergers(expected).await?;
        Ok(self.mergers.len() - 1)
    }

    /// Cancels merger `i` and waits until its `run` has returned.
    pub async fn stop_merger(&mut self, i: usize) -> Result<()> {
        let Some(merger) = self.mergers.get_mut(i).and_then(Option::take) else {
            bail!("no merger {i}")
        };
        merger.token.cancel();
        merger.handle.await??;
        Ok(())
    }

    /// Messages merger `i`'s NATS connection has received so far (requests, topology updates).
    pub fn merger_messages_in(&self, i: usize) -> u64 {
        self.mergers.get(i).and_then(Option::as_ref).map_or(0, |m| {
            m.client
                .statistics()
                .in_messages
                .load(std::sync::atomic::Ordering::Relaxed)
        })
    }

    /// Until `n` merger instances answer `$SRV.INFO` with all their endpoints: an endpoint that
    /// is listed there is subscribed, so a request sent afterwards can reach it.
    async fn wait_mergers(&self, n: usize) -> Result<()> {
        let client = self.client.clone();
        until("the mergers to serve", Duration::from_secs(10), || {
            let client = client.clone();
            async move {
                let inbox = client.new_inbox();
                let mut sub = client.subscribe(inbox.clone()).await?;
                client.publish_with_reply("$SRV.INFO.miroir-merger", inbox, "".into()).await?;
                let mut ready = 0;
                let window = tokio::time::sleep(Duration::from_millis(100));
                tokio::pin!(window);
                loop {
                    tokio::select! {
                        Some(msg) = sub.next() => {
                            let info: Value = serde_json::from_slice(&msg.payload).unwrap_or_default();
                            if info["metadata"]["endpoints"].as_str().is_some_and(|e| e.split(',').count() >= 5) {
                                ready += 1;
                            }
                        }
                        () = &mut window => break,
                    }
                }
                Ok(if ready >= n { Attempt::Ready(()) } else { Attempt::Retry(format!("{ready} of {n} ready")) })
            }
        })
        .await
    }

    pub async fn request<R: Rpc>(&self, request: &R) -> Result<R::Reply, MeiliError> {
        bus::request(&self.client, request, Duration::from_secs(20)).await
    }

    /// A search through the merger, as the gateway sends it.
    pub async fn search(&self, uid: &str, body: &Value) -> Result<Value, MeiliError> {
        self.search_within(uid, body, 10_000).await
    }

    pub async fn search_within(
        &self,
        uid: &str,
        body: &Value,
        deadline_ms: u64,
    ) -> Result<Value, MeiliError> {
        let request = Search {
            index_uid: uid.to_owned(),
            body: serde_json::to_vec(body).unwrap().into(),
            deadline_ms,
        };
        let reply: JsonBody = self.request(&request).await?;
        Ok(serde_json::from_slice(&reply.body).unwrap())
    }
}

/// Creates `uid` on one node with `settings` and `docs`, waiting for every task.
pub async fn load_index(
    client: &MeiliClient,
    uid: &str,
    settings: &Value,
    docs: &[Value],
) -> Result<()> {
    let created = client
        .post("/indexes", &json!({"uid": uid, "primaryKey": "id"}))
        .await?;
    client
        .wait_succeeded(&created)
        .await
        .with_context(|| format!("creating {uid}"))?;
    let patched = client
        .patch(&format!("/indexes/{uid}/settings"), settings)
        .await?;
    client
        .wait_succeeded(&patched)
        .await
        .with_context(|| format!("settings of {uid}"))?;
    if !docs.is_empty() {
        let added = client
            .post(
                &format!("/indexes/{uid}/documents"),
                &Value::from(docs.to_vec()),
            )
            .await?;
        client
            .wait_succeeded(&added)
            .await
            .with_context(|| format!("documents of {uid}"))?;
    }
    Ok(())
}

/// A node that accepts connections and never answers: the slowest replica there is.
pub async fn black_hole() -> Result<(String, JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let handle = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    Ok((url, handle))
}
