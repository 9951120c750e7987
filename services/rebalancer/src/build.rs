//! Building one shard copy from a live full copy: the migration protocol's copy steps.
//!
//! The copy to build is already in the shard's `nodes`, marked behind with reason `lost` (the
//! rebalancer put it there for a new copy; the replayer did for a copy its node lost). From that
//! moment every write to the shard is queued for it (hinted handoff), so the build is:
//!
//! 1. empty the target (its shard index is deleted and created again with the primary key);
//! 2. copy the settings from the source, and wait until the target applied them;
//! 3. once the copy has been `lost` for `view_settle_ms` (see below) and the source applied every
//!    write it had taken by then, copy the documents from the source in pages (with the node
//!    key), at most `copy_docs_per_sec`, and wait until the target applied them;
//! 4. verify: the target holds exactly as many documents as distinct ids were copied;
//! 5. hand the copy to the replayer (reason `missedWrites`): it replays, in order, every write
//!    queued since step 0 over the snapshot, and the copy is read once it caught up.
//!
//! Why step 3 waits: a router whose view of the topology has not yet seen the new copy writes to
//! the other copies only, without queuing the write for it. Such a write must be on the source
//! before its pages are read, or it would be in neither the snapshot nor the replayed queue, and
//! the copy would be read without it. `view_settle_ms` (1 s) is the bound the rest of the handoff
//! assumes too (the router's `lag_settle_ms`): no service's view of the topology lags by more.
//!
//! Replaying writes over a snapshot that already holds some of them is safe because each write
//! sets whole documents or fields (last writer wins), so applying the queued suffix again ends in
//! the same state as the live copies. Not covered: a document that a deletion moves under the
//! paging's offset during step 3 can be skipped (Meilisearch has no point-in-time listing); the
//! verification then fails and the build starts over.
//!
//! A build that fails or whose rebalancer dies restarts from step 1 (the copy stays `lost` until
//! step 5), so a standby resumes without duplicating or losing anything.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use miroir_cluster::node::NodeError;
use miroir_cluster::plan::CopyStep;
use miroir_placement::ShardId;
use miroir_proto::ErrorCode;
use miroir_proto::migrations::{MigrationPhase, MigrationRecord};
use miroir_proto::topology::LagReason;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::Ctx;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("the index or the copy left the placement")]
    Gone,
    #[error("no live full copy of the shard to copy from")]
    NoSource,
    #[error("node {node}: {error}")]
    Node { node: String, error: String },
    #[error("task {uid} on {node} ended {status}: {error}")]
    Task {
        node: String,
        uid: u64,
        status: String,
        error: String,
    },
    #[error("verification failed: {0}")]
    Verify(String),
    #[error("topology: {0}")]
    Topology(String),
}

fn node_err(node: &str) -> impl Fn(NodeError) -> BuildError + '_ {
    move |e| BuildError::Node {
        node: node.to_string(),
        error: e.to_string(),
    }
}

/// `GET path` on node `node` (at `url`): its JSON answer.
async fn get(ctx: &Ctx, node: &str, url: &str, path: &str) -> Result<Value, BuildError> {
    ctx.nodes
        .json(url, Method::GET, path, None)
        .await
        .map_err(node_err(node))
}

/// Build the copy `step` names; the number of documents copied.
pub async fn build(ctx: Arc<Ctx>, step: CopyStep) -> Result<u64, BuildError> {
    let topo = ctx.topology.current();
    let record = topo.index(&step.index).cloned().ok_or(BuildError::Gone)?;
    let s = usize::from(step.shard);
    let shard = ShardId::new(step.shard).ok_or(BuildError::Gone)?;
    let placement = record.shards.get(s).ok_or(BuildError::Gone)?;
    let Some(lag) = placement
        .lag_of(&step.node)
        .filter(|l| l.reason == LagReason::Lost)
    else {
        return Ok(0);
    };
    // When the copy was placed (`lost` since); absent in entries older than the field.
    let placed = lag.since.clone();
    let name = miroir_cluster::shard_name(&record, shard);
    let target = topo
        .nodes
        .get(&step.node)
        .ok_or(BuildError::Gone)?
        .url
        .clone();
    let (source_id, source) = topo
        .live_full_copies(placement)
        .into_iter()
        .filter(|n| *n != step.node)
        .filter_map(|n| topo.nodes.get(n).map(|r| (n, r)))
        .min_by_key(|(_, r)| r.availability())
        .map(|(n, r)| (n.to_string(), r.url.clone()))
        .ok_or(BuildError::NoSource)?;
    let pk = record.primary_key.clone();
    let started = miroir_cluster::now_rfc3339();
    let total = get(&ctx, &source_id, &source, &format!("/indexes/{name}/stats"))
        .await?
        .get("numberOfDocuments")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let mut progress = MigrationRecord {
        index: step.index.clone(),
        shard: step.shard,
        node: step.node.clone(),
        source: source_id.clone(),
        phase: MigrationPhase::Copying,
        copied: 0,
        total,
        started_at: started,
        updated_at: miroir_cluster::now_rfc3339(),
        error: None,
    };
    report(&ctx, &progress).await;
    tracing::info!(index = %step.index, shard = step.shard, node = %step.node, source = %source_id, total, "rebalancer: building a copy");

    // 1. An empty target.
    match ctx
        .nodes
        .send(&target, Method::DELETE, &format!("/indexes/{name}"), None)
        .await
    {
        // A node enqueues the deletion of an index it does not have, and fails that task.
        Ok((_, body)) => match wait_task(&ctx, &step.node, &target, &body).await {
            Err(BuildError::Task { error, .. })
                if error.contains(ErrorCode::IndexNotFound.as_str()) => {}
            other => other?,
        },
        Err(NodeError::Meili(e)) if e.code == ErrorCode::IndexNotFound => {}
        Err(e) => return Err(node_err(&step.node)(e)),
    }
    let created = ctx
        .nodes
        .json(
            &target,
            Method::POST,
            "/indexes",
            Some(&json!({"uid": name, "primaryKey": pk})),
        )
        .await
        .map_err(node_err(&step.node))?;
    wait_task_value(&ctx, &step.node, &target, &created).await?;

    // 2. Settings.
    let mut settings = get(
        &ctx,
        &source_id,
        &source,
        &format!("/indexes/{name}/settings"),
    )
    .await?;
    if let Some(map) = settings.as_object_mut() {
        // Nodes mask the secrets inside these: copying them would break the target's embedders.
        map.remove("embedders");
        map.remove("chat");
    }
    let patched = ctx
        .nodes
        .json(
            &target,
            Method::PATCH,
            &format!("/indexes/{name}/settings"),
            Some(&settings),
        )
        .await
        .map_err(node_err(&step.node))?;
    wait_task_value(&ctx, &step.node, &target, &patched).await?;

    // 3. Documents, page by page, once every view has seen the copy and the source applied what
    // it took before (see the module's doc).
    if let Some(placed) = placed {
        // A time that does not read (or lies ahead) waits the whole settle: the safe side.
        let age = miroir_proto::age_of(&placed).unwrap_or_default();
        if let Some(left) = ctx.config.view_settle().checked_sub(age) {
            tokio::time::sleep(left).await;
        }
    }
    let newest = get(
        &ctx,
        &source_id,
        &source,
        &format!("/tasks?indexUids={name}&limit=1"),
    )
    .await?;
    if let Some(uid) = newest.pointer("/results/0/uid").and_then(Value::as_u64) {
        // Final whatever its outcome: a write the source refused is refused on every copy.
        wait_final(&ctx, &source_id, &source, uid).await?;
    }
    let page = ctx.config.copy_page_size;
    let query: String = match &pk {
        Some(pk) => format!(
            "?{}",
            form_urlencoded::Serializer::new(String::new())
                .append_pair("primaryKey", pk)
                .finish()
        ),
        None => String::new(),
    };
    let mut offset = 0usize;
    let mut ids: HashSet<String> = HashSet::new();
    let mut copied = 0u64;
    let mut last_task: Option<Value> = None;
    let copy_started = Instant::now();
    let mut reported = Instant::now();
    loop {
        let listing = get(
            &ctx,
            &source_id,
            &source,
            &format!("/indexes/{name}/documents?offset={offset}&limit={page}"),
        )
        .await?;
        let results = listing
            .get("results")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if results.is_empty() {
            break;
        }
        if let Some(pk) = &pk {
            for d in &results {
                if let Some(id) = d.get(pk) {
                    ids.insert(id.to_string().trim_matches('"').to_string());
                }
            }
        }
        let n = results.len();
        let body = Bytes::from(serde_json::to_vec(&Value::Array(results)).unwrap_or_default());
        let (_, answer) = ctx
            .nodes
            .send(
                &target,
                Method::POST,
                &format!("/indexes/{name}/documents{query}"),
                Some(("application/json", body.clone())),
            )
            .await
            .map_err(node_err(&step.node))?;
        last_task = serde_json::from_slice(&answer).ok();
        offset += n;
        copied += n as u64;
        metrics::counter!("miroir_rebalancer_documents_copied_total").increment(n as u64);
        metrics::counter!("miroir_rebalancer_bytes_copied_total").increment(body.len() as u64);
        if reported.elapsed() > Duration::from_millis(500) {
            progress.copied = copied;
            progress.updated_at = miroir_cluster::now_rfc3339();
            report(&ctx, &progress).await;
            reported = Instant::now();
        }
        if ctx.config.copy_docs_per_sec > 0 {
            let due = Duration::from_secs_f64(copied as f64 / ctx.config.copy_docs_per_sec as f64);
            let elapsed = copy_started.elapsed();
            if due > elapsed {
                tokio::time::sleep(due - elapsed).await;
            }
        }
        if n < page {
            break;
        }
    }
    if let Some(task) = &last_task {
        wait_task_value(&ctx, &step.node, &target, task).await?;
    }

    // 4. Verify.
    let held = get(&ctx, &step.node, &target, &format!("/indexes/{name}/stats"))
        .await?
        .get("numberOfDocuments")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let expected = if pk.is_some() {
        ids.len() as u64
    } else {
        copied
    };
    if held != expected {
        return Err(BuildError::Verify(format!(
            "the target holds {held} documents, {expected} distinct ones were copied"
        )));
    }
    progress.copied = copied;
    progress.phase = MigrationPhase::CatchingUp;
    progress.updated_at = miroir_cluster::now_rfc3339();
    report(&ctx, &progress).await;

    // 5. Hand it to the replayer.
    let node = step.node.clone();
    let handed = ctx
        .topology
        .modify_index(&step.index, |r| {
            let Some(p) = r.shards.get_mut(s) else {
                return false;
            };
            match p
                .lagging
                .iter_mut()
                .find(|l| l.node == node && l.reason == LagReason::Lost)
            {
                Some(l) => {
                    l.reason = LagReason::MissedWrites;
                    true
                }
                None => false,
            }
        })
        .await
        .map_err(|e| BuildError::Topology(e.to_string()))?;
    match handed {
        None => return Err(BuildError::Gone),
        Some((_, rev)) => {
            ctx.topology
                .wait_for_revision(rev, Duration::from_secs(5))
                .await;
        }
    }
    // Caught up when the replayer takes it out of `lagging`: the build's slot is free from now
    // on (the replay is the health-checker's work); a watcher reports the end.
    let watched = ctx.clone();
    tokio::spawn(async move { report_caught_up(watched, step, s, progress, copied).await });
    Ok(copied)
}

/// Report the copy `done` once the replayer took it out of `lagging` (or give up after 10 min:
/// the next pass sees it again if it fell back to `lost`).
async fn report_caught_up(
    ctx: Arc<Ctx>,
    step: CopyStep,
    s: usize,
    mut progress: MigrationRecord,
    copied: u64,
) {
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut rx = ctx.topology.subscribe();
    loop {
        let behind = rx
            .borrow()
            .index(&step.index)
            .and_then(|r| r.shards.get(s))
            .map(|p| p.lag_of(&step.node).cloned());
        match behind {
            Some(None) => break,
            Some(Some(l)) if l.reason != LagReason::Lost => {}
            // The index or the copy is gone, or it fell back to lost: the next pass sees it.
            _ => return,
        }
        if tokio::time::timeout_at(deadline, rx.changed())
            .await
            .is_err()
        {
            return;
        }
    }
    progress.phase = MigrationPhase::Done;
    progress.updated_at = miroir_cluster::now_rfc3339();
    report(&ctx, &progress).await;
    metrics::counter!("miroir_rebalancer_moves_done_total").increment(1);
    tracing::info!(index = %step.index, shard = step.shard, node = %step.node, copied, "rebalancer: copy built and caught up");
}

pub(crate) async fn report(ctx: &Ctx, progress: &MigrationRecord) {
    if let Err(e) = ctx.migrations.put(progress).await {
        tracing::warn!(error = %e, "rebalancer: cannot record a migration's progress");
    }
}

async fn wait_task(ctx: &Ctx, node: &str, url: &str, enqueued: &Bytes) -> Result<(), BuildError> {
    let v: Value = serde_json::from_slice(enqueued).unwrap_or(Value::Null);
    wait_task_value(ctx, node, url, &v).await
}

/// Wait until the node task an enqueue answer names is final; an error unless it succeeded.
async fn wait_task_value(
    ctx: &Ctx,
    node: &str,
    url: &str,
    enqueued: &Value,
) -> Result<(), BuildError> {
    let Some(uid) = enqueued.get("taskUid").and_then(Value::as_u64) else {
        return Ok(());
    };
    let task = wait_final(ctx, node, url, uid).await?;
    match task.get("status").and_then(Value::as_str) {
        Some("succeeded") => Ok(()),
        status => Err(BuildError::Task {
            node: node.to_string(),
            uid,
            status: status.unwrap_or_default().to_string(),
            error: task.get("error").map(Value::to_string).unwrap_or_default(),
        }),
    }
}

/// Wait until node task `uid` is final (succeeded, failed or canceled) and return it.
async fn wait_final(ctx: &Ctx, node: &str, url: &str, uid: u64) -> Result<Value, BuildError> {
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut pause = Duration::from_millis(10);
    loop {
        let task = get(ctx, node, url, &format!("/tasks/{uid}")).await?;
        if let Some("succeeded" | "failed" | "canceled") =
            task.get("status").and_then(Value::as_str)
        {
            return Ok(task);
        }
        if Instant::now() > deadline {
            return Err(BuildError::Task {
                node: node.to_string(),
                uid,
                status: "unfinished".into(),
                error: "not final after 10 min".into(),
            });
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}
