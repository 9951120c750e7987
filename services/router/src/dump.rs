//! `POST /dumps`: a cluster dump, in the format a Meilisearch node writes (dump `V6`: a gzipped
//! tar of `metadata.json`, `keys.jsonl`, `indexes/<uid>/{metadata.json, settings.json,
//! documents.jsonl}`, empty task and batch queues), so that a cluster can be moved back to one
//! node (`meilisearch --import-dump`) or into another cluster (`miroirctl import --dump`).
//!
//! The router that takes the request allocates a `dumpCreation` cluster task and writes the dump
//! in the background into its `dump_dir`, as `<dumpUid>.dump` (first under a temporary name, so
//! that a file with the final name is always whole). Each index is read from the nodes directly:
//! the settings and index dates from a live full copy of shard 0, the documents shard by shard
//! from one live full copy of each (paged, never a copy behind), under the client's index uids.
//! The keys come from the cluster's keys bucket (their values are derived from the master key
//! and uid, as on a node, so a node started with the cluster's master key gives them the same
//! values).
//!
//! What it does not give: a snapshot in time. A node writes its dump between two tasks; the
//! cluster has no such point, so a dump taken while writes go on holds some of them. The task
//! has no node task: its status is the router's to write, and the task stays `processing` if
//! that router dies before finishing (ask for another dump).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use miroir_cluster::keys::KeyStore;
use miroir_cluster::node::NodeClient;
use miroir_cluster::tasks::TaskStore;
use miroir_cluster::topology::TopologyStore;
use miroir_proto::rpc::EnqueuedTask;
use miroir_proto::rpc_dumps::DumpCreate;
use miroir_proto::tasks::{ClusterTask, FinishedTask};
use miroir_proto::topology::IndexRecord;
use miroir_proto::{ErrorCode, MeiliError};
use reqwest::Method;
use serde_json::{Value, json};

use crate::Router;

/// The cluster task type, as a node names its own.
pub(crate) const TASK_TYPE: &str = "dumpCreation";
/// Documents read from a node per request.
const PAGE: usize = 1_000;

impl Router {
    pub(crate) async fn dump_create(&self, _req: DumpCreate) -> Result<EnqueuedTask, MeiliError> {
        let task = self
            .new_task(None, TASK_TYPE, json!({"dumpUid": null}))
            .await?;
        let enqueued = self.enqueued(&task).await?;
        let job = DumpJob {
            topology: self.topology.clone(),
            nodes: self.nodes.clone(),
            tasks: self.tasks.clone(),
            js: self.js.clone(),
            dir: self.config.dump_dir.clone(),
        };
        tokio::spawn(job.run(task.uid));
        Ok(enqueued)
    }
}

/// The view of a dump task still being written (it has no node task to derive it from).
pub(crate) fn unfinished_view(task: &ClusterTask) -> Value {
    crate::tasks::render(
        task,
        "processing",
        &task.details,
        None,
        Some(&task.enqueued_at),
        None,
    )
}

struct DumpJob {
    topology: TopologyStore,
    nodes: NodeClient,
    tasks: TaskStore,
    js: async_nats::jetstream::Context,
    dir: PathBuf,
}

#[derive(Debug, thiserror::Error)]
enum DumpError {
    #[error("cannot write the dump in `{path}`: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Read(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DumpError + '_ {
    move |source| DumpError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// `20261204-195050443`: Meilisearch's dump uid, from the time the dump starts.
fn dump_uid(now: time::OffsetDateTime) -> String {
    let f = time::macros::format_description!(
        "[year][month][day]-[hour][minute][second][subsecond digits:3]"
    );
    now.format(&f)
        .unwrap_or_else(|_| now.unix_timestamp().to_string())
}

impl DumpJob {
    async fn run(self, task_uid: u64) {
        let started_at = miroir_cluster::now_rfc3339();
        let uid = dump_uid(time::OffsetDateTime::now_utc());
        let outcome = self.write(&uid).await;
        let (status, details, error) = match &outcome {
            Ok(path) => {
                tracing::info!(dump = %path.display(), "dump written");
                ("succeeded", json!({"dumpUid": uid}), None)
            }
            Err(e) => {
                tracing::warn!(error = %e, "dump failed");
                let err = MeiliError::new(ErrorCode::DumpProcessFailed, e.to_string());
                ("failed", json!({"dumpUid": null}), Some(err.body()))
            }
        };
        let finished = FinishedTask {
            status: status.into(),
            details,
            error,
            started_at,
            finished_at: miroir_cluster::now_rfc3339(),
        };
        for _ in 0..20 {
            match self.tasks.get(task_uid).await {
                Ok(Some((mut task, revision))) => {
                    task.finished = Some(finished.clone());
                    if self.tasks.update(&task, revision).await.is_ok() {
                        return;
                    }
                }
                // Deleted meanwhile: nobody is left to tell.
                Ok(None) => return,
                Err(_) => {}
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        tracing::warn!(task = task_uid, "could not record the end of the dump task");
    }

    /// Write `<dir>/<uid>.dump`; its path.
    async fn write(&self, uid: &str) -> Result<PathBuf, DumpError> {
        let staging = self.dir.join(format!(".{uid}.staging"));
        tokio::fs::create_dir_all(staging.join("indexes"))
            .await
            .map_err(io(&staging))?;
        let result = self.fill(&staging).await;
        let archive = match result {
            Ok(()) => {
                let (staging, dir, uid) = (staging.clone(), self.dir.clone(), uid.to_string());
                tokio::task::spawn_blocking(move || pack(&staging, &dir, &uid))
                    .await
                    .map_err(|e| DumpError::Read(e.to_string()))
                    .and_then(|r| r)
            }
            Err(e) => Err(e),
        };
        let _ = tokio::fs::remove_dir_all(&staging).await;
        archive
    }

    /// The dump's files, under `staging`.
    async fn fill(&self, staging: &Path) -> Result<(), DumpError> {
        let topo = self.topology.current();
        let version = self.db_version(&topo).await;
        write_json(
            &staging.join("metadata.json"),
            &json!({"dumpVersion": "V6", "dbVersion": version, "dumpDate": miroir_cluster::now_rfc3339()}),
        )
        .await?;
        let keys = KeyStore::open(&self.js)
            .await
            .map_err(|e| DumpError::Read(format!("cannot read the keys: {e:#}")))?;
        let mut lines = Vec::new();
        for (record, _) in keys.current().keys.values() {
            // V6 stores keys snake_case, without their value.
            let line = json!({
                "description": record.description, "name": record.name, "uid": record.uid,
                "actions": record.actions, "indexes": record.indexes,
                "expires_at": record.expires_at, "created_at": record.created_at,
                "updated_at": record.updated_at,
            });
            lines.extend(serde_json::to_vec(&line).unwrap_or_default());
            lines.push(b'\n');
        }
        write_bytes(&staging.join("keys.jsonl"), &lines).await?;
        for (file, content) in [
            ("tasks/queue.jsonl", Vec::new()),
            ("batches/queue.jsonl", Vec::new()),
            ("webhooks.json", br#"{"webhooks":{}}"#.to_vec()),
        ] {
            let path = staging.join(file);
            if let Some(parent) = path.parent() {
                tokio::fs::create_dir_all(parent)
                    .await
                    .map_err(io(parent))?;
            }
            write_bytes(&path, &content).await?;
        }
        for (record, _) in topo.indexes.values() {
            if record.state == miroir_proto::topology::IndexState::Deleting {
                continue;
            }
            self.dump_index(&topo, record, &staging.join("indexes").join(&record.uid))
                .await?;
        }
        Ok(())
    }

    /// The Meilisearch version of a node (what the dump says wrote it).
    async fn db_version(&self, topo: &miroir_cluster::topology::Topology) -> String {
        for node in topo.nodes.values() {
            if let Ok(v) = self
                .nodes
                .json(&node.url, Method::GET, "/version", None)
                .await
                && let Some(s) = v["pkgVersion"].as_str()
            {
                return s.to_string();
            }
        }
        "1.50.0".into()
    }

    async fn dump_index(
        &self,
        topo: &miroir_cluster::topology::Topology,
        record: &IndexRecord,
        dir: &Path,
    ) -> Result<(), DumpError> {
        tokio::fs::create_dir_all(dir).await.map_err(io(dir))?;
        let base = record.storage_base();
        let mut settings = None;
        let mut dates = (record.created_at.clone(), record.updated_at.clone());
        let docs_path = dir.join("documents.jsonl");
        let file = tokio::fs::File::create(&docs_path)
            .await
            .map_err(io(&docs_path))?;
        let mut out = tokio::io::BufWriter::with_capacity(1 << 20, file);
        for (s, placement) in record.shards.iter().enumerate() {
            let shard = miroir_placement::ShardId::try_from(s as u16)
                .map_err(|e| DumpError::Read(e.to_string()))?;
            let name = miroir_placement::shard_index_name(base, shard);
            let urls: Vec<&str> = topo
                .live_full_copies(placement)
                .into_iter()
                .filter_map(|n| topo.node_url(n))
                .collect();
            let mut last_error = format!("shard {s} of `{}` has no live full copy", record.uid);
            let mut done = false;
            for url in urls {
                if settings.is_none() {
                    match self.shard_meta(url, &name).await {
                        Ok((s, created, updated)) => {
                            settings = Some(s);
                            dates = (created, updated);
                        }
                        Err(e) => {
                            last_error = e;
                            continue;
                        }
                    }
                }
                // A copy that fails before its first page is replaced by the next one; once
                // documents were written, a failure fails the dump (they are not taken back).
                match self.shard_documents(url, &name, &mut out).await {
                    Ok(()) => {
                        done = true;
                        break;
                    }
                    Err((e, false)) => last_error = e,
                    Err((e, true)) => return Err(DumpError::Read(e)),
                }
            }
            if !done {
                return Err(DumpError::Read(last_error));
            }
        }
        use tokio::io::AsyncWriteExt as _;
        out.flush().await.map_err(io(&docs_path))?;
        write_json(
            &dir.join("metadata.json"),
            &json!({"uid": record.uid, "primaryKey": record.primary_key,
                    "createdAt": dates.0, "updatedAt": dates.1}),
        )
        .await?;
        write_json(
            &dir.join("settings.json"),
            &settings.unwrap_or_else(|| json!({})),
        )
        .await
    }

    /// A shard copy's settings and index dates.
    async fn shard_meta(&self, url: &str, name: &str) -> Result<(Value, String, String), String> {
        let settings = self
            .nodes
            .json(url, Method::GET, &format!("/indexes/{name}/settings"), None)
            .await
            .map_err(|e| format!("settings of `{name}` at {url}: {e:?}"))?;
        let index = self
            .nodes
            .json(url, Method::GET, &format!("/indexes/{name}"), None)
            .await
            .map_err(|e| format!("index `{name}` at {url}: {e:?}"))?;
        let date = |k: &str| index[k].as_str().unwrap_or_default().to_string();
        Ok((settings, date("createdAt"), date("updatedAt")))
    }

    /// Every document of a shard copy, one JSON line each; on error, whether lines were written.
    async fn shard_documents(
        &self,
        url: &str,
        name: &str,
        out: &mut (impl tokio::io::AsyncWrite + Unpin),
    ) -> Result<(), (String, bool)> {
        use tokio::io::AsyncWriteExt as _;
        let mut offset = 0usize;
        loop {
            let page = self
                .nodes
                .json(
                    url,
                    Method::GET,
                    &format!("/indexes/{name}/documents?offset={offset}&limit={PAGE}"),
                    None,
                )
                .await
                .map_err(|e| (format!("documents of `{name}` at {url}: {e:?}"), offset > 0))?;
            let docs = page["results"].as_array().cloned().unwrap_or_default();
            let mut buf = Vec::with_capacity(docs.len() * 256);
            for d in &docs {
                let _ = serde_json::to_writer(&mut buf, d);
                buf.push(b'\n');
            }
            out.write_all(&buf)
                .await
                .map_err(|e| (format!("writing the dump: {e}"), true))?;
            offset += docs.len();
            if docs.len() < PAGE {
                return Ok(());
            }
        }
    }
}

async fn write_bytes(path: &Path, bytes: &[u8]) -> Result<(), DumpError> {
    tokio::fs::write(path, bytes).await.map_err(io(path))
}

async fn write_json(path: &Path, value: &Value) -> Result<(), DumpError> {
    write_bytes(path, &serde_json::to_vec(value).unwrap_or_default()).await
}

/// Tar and gzip `staging` into `<dir>/<uid>.dump` (blocking), through a temporary name.
fn pack(staging: &Path, dir: &Path, uid: &str) -> Result<PathBuf, DumpError> {
    let tmp = dir.join(format!(".{uid}.dump.tmp"));
    let path = dir.join(format!("{uid}.dump"));
    let file = std::fs::File::create(&tmp).map_err(io(&tmp))?;
    let gz = flate2::write::GzEncoder::new(
        std::io::BufWriter::with_capacity(1 << 20, file),
        flate2::Compression::default(),
    );
    let mut builder = tar::Builder::new(gz);
    builder.append_dir_all(".", staging).map_err(io(staging))?;
    let gz = builder.into_inner().map_err(io(&tmp))?;
    let mut file = gz.finish().map_err(io(&tmp))?;
    file.flush().map_err(io(&tmp))?;
    file.into_inner()
        .map_err(|e| io(&tmp)(e.into_error()))?
        .sync_all()
        .map_err(io(&tmp))?;
    std::fs::rename(&tmp, &path).map_err(io(&path))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dump_uid_is_meilisearchs() {
        let t = time::macros::datetime!(2026-12-04 19:50:50.443740092 UTC);
        assert_eq!(dump_uid(t), "20261204-195050443");
    }
}
