//! `miroirctl import`: bring an existing Meilisearch into the cluster, from the live node (its
//! URL and a key) or from a dump file it wrote.
//!
//! Everything is written through the cluster's gateway with its ordinary HTTP API and the master
//! key, so placement, the WAL, write quorum and hinted handoff apply as to any client's write.
//! Per index: the index is created with the source's primary key, the source's settings are
//! applied (before the documents, so that they are indexed once), then the documents go in
//! NDJSON batches (`--batch-size`; sent in the source's order, their tasks awaited
//! `--in-flight` at once), each waited for until its cluster task succeeded. The acknowledged prefix is recorded in the state file after every batch
//! ([`crate::import_state`]), so a re-run resumes there. At the end the cluster's
//! `numberOfDocuments` must equal the source's count, else the import fails (exit 1) and says
//! by how much. Then the API keys are copied (see [`copy_keys`]).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures::StreamExt;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use serde_json::{Value, json};

use crate::import_http::{Http, HttpError};
use crate::import_source::{DumpFile, Source, SourceError, SourceIndex, SourceKey};
use crate::import_state::{StateError, StateFile};
use crate::{CtlError, Report};

/// The key names a fresh Meilisearch creates by itself; the cluster has its own, so the
/// source's are not copied (their uids differ, their rights are the same).
pub const DEFAULT_KEY_NAMES: &[&str] = &[
    "Default Search API Key",
    "Default Admin API Key",
    "Default Read-Only Admin API Key",
    "Default Chat API Key",
];

/// Where to read from.
#[derive(Clone, Debug)]
pub enum SourceSpec {
    Live { url: String, key: Option<String> },
    Dump { path: PathBuf },
}

/// Everything an import needs (the command line, or a test).
#[derive(Clone, Debug)]
pub struct ImportOptions {
    pub source: SourceSpec,
    /// The cluster's gateway URL.
    pub gateway_url: String,
    /// The cluster's master key.
    pub master_key: Option<String>,
    /// Only these indexes (all when empty).
    pub indexes: Vec<String>,
    pub batch_size: usize,
    pub in_flight: usize,
    pub state_path: PathBuf,
    pub copy_keys: bool,
    pub task_timeout: Duration,
    /// Stop (with an error, as if interrupted) once this many batches were acknowledged in
    /// this run: how the tests interrupt an import at a known point.
    pub stop_after_batches: Option<u64>,
    /// Draw progress bars on stderr (only when it is a terminal).
    pub progress: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("cluster: {0}")]
    Cluster(HttpError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(
        "index `{index}`: the source holds {source_count} documents but the cluster counts {cluster_count}; the import is not complete (run it again, or look for documents the cluster refused)"
    )]
    CountMismatch {
        index: String,
        source_count: u64,
        cluster_count: u64,
    },
    #[error(
        "index `{index}` exists in the cluster with primary key {cluster:?}, the source's is {wanted:?}"
    )]
    PrimaryKey {
        index: String,
        cluster: Option<String>,
        wanted: Option<String>,
    },
    #[error("stopped after {0} batches, as asked (--stop-after-batches); run again to resume")]
    Stopped(u64),
    #[error("{0}")]
    Other(String),
}

impl From<ImportError> for CtlError {
    fn from(e: ImportError) -> Self {
        CtlError::Failed(anyhow::anyhow!("import: {e}"))
    }
}

/// What one index's import did.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IndexReport {
    pub uid: String,
    pub primary_key: Option<String>,
    pub source_count: u64,
    pub cluster_count: u64,
    /// Documents sent in this run.
    pub sent: u64,
    /// Documents skipped because an earlier run had them acknowledged.
    pub resumed_from: u64,
    pub seconds: f64,
    pub docs_per_sec: f64,
}

/// What happened to one source key.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyReport {
    pub uid: String,
    pub name: Option<String>,
    /// `created`, `exists`, `default` (the cluster has its own), `expired`, or `failed: ...`.
    pub outcome: String,
    /// Whether the cluster's key value equals the source's: only known from a live source, and
    /// true exactly when the cluster's master key is the source's.
    pub same_value: Option<bool>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportReport {
    pub source: String,
    pub indexes: Vec<IndexReport>,
    pub keys: Vec<KeyReport>,
    pub documents: u64,
    pub seconds: f64,
    pub docs_per_sec: f64,
}

impl Report for ImportReport {
    fn render(&self) -> String {
        let mut out = format!("imported from {}\n", self.source);
        for i in &self.indexes {
            out.push_str(&format!(
                "  {:<24} {:>10} documents (source {}, cluster {}), {} sent this run, {:.0} docs/s\n",
                i.uid, i.cluster_count, i.source_count, i.cluster_count, i.sent, i.docs_per_sec
            ));
        }
        for k in &self.keys {
            let same = match k.same_value {
                Some(true) => ", same key value",
                Some(false) => ", NEW key value (the cluster's master key differs)",
                None => "",
            };
            out.push_str(&format!(
                "  key {} ({}): {}{same}\n",
                k.uid,
                k.name.as_deref().unwrap_or("-"),
                k.outcome
            ));
        }
        out.push_str(&format!(
            "{} documents in {:.1} s ({:.0} docs/s)\n",
            self.documents, self.seconds, self.docs_per_sec
        ));
        out
    }
}

/// Run an import to its end (or to the first error, with the state saved).
pub async fn import(opts: &ImportOptions) -> Result<ImportReport, ImportError> {
    if opts.batch_size == 0 || opts.in_flight == 0 {
        return Err(ImportError::Other(
            "--batch-size and --in-flight must be at least 1".into(),
        ));
    }
    let started = Instant::now();
    let source = match &opts.source {
        SourceSpec::Live { url, key } => {
            Source::Live(Http::new(url, key.clone(), opts.task_timeout).map_err(SourceError::from)?)
        }
        SourceSpec::Dump { path } => {
            let path = std::fs::canonicalize(path).map_err(|e| SourceError::Dump {
                path: path.clone(),
                message: e.to_string(),
            })?;
            let dump = tokio::task::spawn_blocking(move || DumpFile::open(&path))
                .await
                .map_err(|e| ImportError::Other(e.to_string()))??;
            Source::Dump(dump)
        }
    };
    let cluster = Http::new(
        &opts.gateway_url,
        opts.master_key.clone(),
        opts.task_timeout,
    )
    .map_err(ImportError::Cluster)?;
    let mut state = StateFile::open(&opts.state_path, &source.identity(), opts.batch_size)?;
    let batch_size = state.state.batch_size;

    let all = source.indexes().await?;
    let wanted: BTreeSet<&str> = opts.indexes.iter().map(String::as_str).collect();
    for name in &wanted {
        if !all.iter().any(|i| i.uid == *name) {
            return Err(SourceError::NoSuchIndex((*name).to_string()).into());
        }
    }
    let chosen: Vec<&SourceIndex> = all
        .iter()
        .filter(|i| wanted.is_empty() || wanted.contains(i.uid.as_str()))
        .collect();

    let bars = MultiProgress::with_draw_target(if opts.progress {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    });
    let mut reports = Vec::new();
    let mut batches_this_run = 0u64;
    for index in chosen {
        let bar = bars.add(ProgressBar::new(index.count));
        bar.set_style(
            ProgressStyle::with_template("{prefix:<20} [{bar:30}] {pos}/{len} {per_sec} eta {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_prefix(index.uid.clone());
        let report = import_index(
            opts,
            &source,
            &cluster,
            &mut state,
            index,
            batch_size,
            &bar,
            &mut batches_this_run,
        )
        .await;
        bar.finish();
        reports.push(report?);
    }

    let keys = if opts.copy_keys {
        copy_keys(&cluster, &source.keys().await?).await
    } else {
        Vec::new()
    };
    state.state.keys_done = opts.copy_keys;
    state.save()?;
    let documents: u64 = reports.iter().map(|r| r.sent).sum();
    let seconds = started.elapsed().as_secs_f64();
    Ok(ImportReport {
        source: source.identity(),
        indexes: reports,
        keys,
        documents,
        seconds,
        docs_per_sec: rate(documents, seconds),
    })
}

fn rate(n: u64, secs: f64) -> f64 {
    if secs > 0.0 { n as f64 / secs } else { 0.0 }
}

fn index_path(uid: &str) -> String {
    uid.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
async fn import_index(
    opts: &ImportOptions,
    source: &Source,
    cluster: &Http,
    state: &mut StateFile,
    index: &SourceIndex,
    batch_size: usize,
    bar: &ProgressBar,
    batches_this_run: &mut u64,
) -> Result<IndexReport, ImportError> {
    let started = Instant::now();
    let uid = &index.uid;
    let path = index_path(uid);
    let progress = state.index(uid);
    if !progress.prepared {
        prepare(cluster, index).await?;
        state.update(uid, |p| p.prepared = true)?;
    }
    let resumed_from = progress.acknowledged.min(index.count);
    bar.set_position(resumed_from);
    let mut sent = 0u64;
    if !progress.done {
        let mut query = String::new();
        if let Some(pk) = &index.primary_key {
            query = format!("?primaryKey={}", index_path(pk));
        }
        let docs_path = format!("/indexes/{path}/documents{query}");
        let mut batches = source.batches(uid, resumed_from, batch_size, opts.in_flight);
        // Batches are *sent* one after the other (the cluster answers once every copy has the
        // batch enqueued), so every shard receives its documents in the source's order and its
        // ties rank as on the source; their tasks are *awaited* `in_flight` at a time, in order,
        // so the state records only a contiguous acknowledged prefix.
        let mut pending = futures::stream::FuturesOrdered::new();
        let mut exhausted = false;
        loop {
            if !exhausted && pending.len() < opts.in_flight {
                match batches.recv().await {
                    Some(batch) => {
                        let batch = batch?;
                        let enqueued = cluster
                            .post_ndjson(&docs_path, batch.body)
                            .await
                            .map_err(ImportError::Cluster)?;
                        let cluster = cluster.clone();
                        let (start, count) = (batch.start, batch.count);
                        pending.push_back(async move {
                            cluster
                                .wait_succeeded(&enqueued)
                                .await
                                .map(|_| (start, count))
                                .map_err(ImportError::Cluster)
                        });
                        continue;
                    }
                    None => exhausted = true,
                }
            }
            let Some(ack) = pending.next().await else {
                break;
            };
            let (start, count) = ack?;
            state.update(uid, |p| p.acknowledged = start + count)?;
            sent += count;
            bar.set_position(start + count);
            *batches_this_run += 1;
            if opts.stop_after_batches == Some(*batches_this_run) {
                return Err(ImportError::Stopped(*batches_this_run));
            }
        }
    }
    let stats = cluster
        .get(&format!("/indexes/{path}/stats"))
        .await
        .map_err(ImportError::Cluster)?;
    let cluster_count = stats["numberOfDocuments"].as_u64().unwrap_or(0);
    if cluster_count != index.count {
        return Err(ImportError::CountMismatch {
            index: uid.clone(),
            source_count: index.count,
            cluster_count,
        });
    }
    state.update(uid, |p| p.done = true)?;
    let seconds = started.elapsed().as_secs_f64();
    Ok(IndexReport {
        uid: uid.clone(),
        primary_key: index.primary_key.clone(),
        source_count: index.count,
        cluster_count,
        sent,
        resumed_from,
        seconds,
        docs_per_sec: rate(sent, seconds),
    })
}

/// Create the index with the source's primary key (or find it, on a resumed import, with the
/// same one) and apply the source's settings.
async fn prepare(cluster: &Http, index: &SourceIndex) -> Result<(), ImportError> {
    let path = index_path(&index.uid);
    match cluster.get(&format!("/indexes/{path}")).await {
        Ok(existing) => {
            let pk = existing["primaryKey"].as_str().map(str::to_string);
            if pk.is_some() && index.primary_key.is_some() && pk != index.primary_key {
                return Err(ImportError::PrimaryKey {
                    index: index.uid.clone(),
                    cluster: pk,
                    wanted: index.primary_key.clone(),
                });
            }
        }
        Err(e) if e.code() == Some(miroir_proto::ErrorCode::IndexNotFound.as_str()) => {
            let enqueued = cluster
                .post(
                    "/indexes",
                    &json!({"uid": index.uid, "primaryKey": index.primary_key}),
                )
                .await
                .map_err(ImportError::Cluster)?;
            cluster
                .wait_succeeded(&enqueued)
                .await
                .map_err(ImportError::Cluster)?;
        }
        Err(e) => return Err(ImportError::Cluster(e)),
    }
    let settings = settings_for_cluster(&index.settings);
    if settings.as_object().is_some_and(|s| !s.is_empty()) {
        let enqueued = cluster
            .patch(&format!("/indexes/{path}/settings"), &settings)
            .await
            .map_err(ImportError::Cluster)?;
        cluster
            .wait_succeeded(&enqueued)
            .await
            .map_err(ImportError::Cluster)?;
    }
    Ok(())
}

/// The source's settings as the cluster takes them: fields that need an experimental feature
/// (`foreignKeys`, `chat`) are left out when they hold their defaults, and so is an empty
/// `embedders`. A non-default value is kept, so that the cluster's refusal says what cannot
/// be moved rather than the import dropping it silently.
pub fn settings_for_cluster(settings: &Value) -> Value {
    let Some(fields) = settings.as_object() else {
        return json!({});
    };
    let mut out = fields.clone();
    let empty = |v: &Value| {
        v.is_null()
            || v.as_array().is_some_and(|a| a.is_empty())
            || v.as_object().is_some_and(|o| o.is_empty())
    };
    if out.get("foreignKeys").is_some_and(empty) {
        out.remove("foreignKeys");
    }
    if out.get("embedders").is_some_and(empty) {
        out.remove("embedders");
    }
    if let Some(chat) = out.get("chat") {
        let default = chat["description"].as_str().unwrap_or("").is_empty()
            && chat["searchParameters"]
                .as_object()
                .is_none_or(|o| o.is_empty());
        if default {
            out.remove("chat");
        }
    }
    Value::Object(out)
}

/// Copy the source's API keys with their uids, names, actions, indexes and expiry.
///
/// Meilisearch derives a key's value from its uid and the master key (HMAC-SHA256), and so does
/// the cluster, and `POST /keys` takes a `uid` but never a value. So a key keeps its value
/// exactly when the cluster's master key is the source's; otherwise it gets a new value (shown
/// by `GET /keys`) and clients must be given it. Keys already in the cluster (same uid) are left
/// as they are, the source's default keys are not copied (the cluster has its own), and expired
/// keys are skipped (Meilisearch refuses an expiry in the past).
pub async fn copy_keys(cluster: &Http, keys: &[SourceKey]) -> Vec<KeyReport> {
    let now = time::OffsetDateTime::now_utc();
    let mut out = Vec::new();
    for k in keys {
        let report = |outcome: String, same_value| KeyReport {
            uid: k.uid.clone(),
            name: k.name.clone(),
            outcome,
            same_value,
        };
        if k.name
            .as_deref()
            .is_some_and(|n| DEFAULT_KEY_NAMES.contains(&n))
        {
            out.push(report("default".into(), None));
            continue;
        }
        let expired = k.expires_at.as_deref().is_some_and(|e| {
            time::OffsetDateTime::parse(e, &time::format_description::well_known::Rfc3339)
                .is_ok_and(|t| t <= now)
        });
        if expired {
            out.push(report("expired".into(), None));
            continue;
        }
        let same = |v: &Value| k.value.as_deref().map(|src| v["key"].as_str() == Some(src));
        if let Ok(existing) = cluster.get(&format!("/keys/{}", k.uid)).await {
            out.push(report("exists".into(), same(&existing)));
            continue;
        }
        let body = json!({
            "uid": k.uid,
            "name": k.name,
            "description": k.description,
            "actions": k.actions,
            "indexes": k.indexes,
            "expiresAt": k.expires_at,
        });
        match cluster.post("/keys", &body).await {
            Ok(created) => out.push(report("created".into(), same(&created))),
            Err(e) => out.push(report(format!("failed: {e}"), None)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_experimental_settings_are_left_out_and_the_rest_kept() {
        let s = json!({
            "searchableAttributes": ["name"],
            "foreignKeys": [],
            "embedders": {},
            "chat": {"description": "", "documentTemplate": "x", "searchParameters": {}},
        });
        assert_eq!(
            settings_for_cluster(&s),
            json!({"searchableAttributes": ["name"]})
        );
        let custom = json!({"chat": {"description": "shop", "searchParameters": {}}});
        assert_eq!(settings_for_cluster(&custom), custom);
    }
}
