//! The one background worker: takes enqueued tasks in Meilisearch's order, marks each
//! `processing` in a batch of its own, waits out the configured `task_delay` (a cancelation
//! interrupts the wait), applies it, and records how it ended.

use std::sync::{Arc, Weak};

use miroir_proto::error::{ErrorCode, MeiliError};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use tokio::sync::Notify;

use crate::engine;
use crate::node::Node;
use crate::store::Index;
use crate::tasks::TaskContent;
use crate::time_fmt::now;

pub(crate) async fn run(node: Weak<Node>, wake: Arc<Notify>) {
    loop {
        let Some(n) = node.upgrade() else { return };
        if n.stopped.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let next = n.queue().next_to_process();
        match next {
            Some(uid) => process(&n, uid).await,
            None => {
                drop(n);
                wake.notified().await;
            }
        }
    }
}

async fn process(node: &Arc<Node>, uid: u32) {
    let started = now();
    let started_task = {
        let mut queue = node.queue();
        match queue.start(uid, started) {
            Some(batch) => queue
                .tasks
                .get(&uid)
                .map(|t| (t.content.clone(), t.index_uid.clone(), batch)),
            None => None,
        }
    };
    let Some((content, index_uid, batch)) = started_task else {
        return;
    };
    let delay = node.config.task_delay;
    if !delay.is_zero() && !matches!(content, TaskContent::TaskCancelation { .. }) {
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = node.interrupt.notified() => {
                // A cancelation was enqueued: nothing was applied yet, so the task goes back to
                // the queue and the cancelation, which comes first, decides its fate.
                node.queue().abort(uid);
                return;
            }
        }
    }
    let worker_node = node.clone();
    let applied = tokio::task::spawn_blocking(move || {
        apply(
            &worker_node,
            uid,
            index_uid.as_deref().unwrap_or_default(),
            content,
            batch,
            started,
        )
    })
    .await;
    let outcome = applied.unwrap_or_else(|e| {
        Err(MeiliError::internal(format!(
            "processing the task failed: {e}"
        )))
    });
    node.queue().finish(uid, outcome, now());
}

fn details(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

fn apply(
    node: &Node,
    task_uid: u32,
    index_uid: &str,
    content: TaskContent,
    batch: u32,
    started: OffsetDateTime,
) -> Result<Map<String, Value>, MeiliError> {
    match content {
        TaskContent::DocumentAdditionOrUpdate {
            documents,
            primary_key,
            merge,
            skip_creation,
        } => {
            let mut store = node.store_mut();
            let created = !store.indexes.contains_key(index_uid);
            if created {
                store
                    .indexes
                    .insert(index_uid.to_string(), Index::new(index_uid, None));
            }
            let result = store.index_mut(index_uid)?.add_documents_with(
                &documents,
                primary_key.as_deref(),
                merge,
                skip_creation,
            );
            match result {
                Ok(n) => Ok(details(json!({"indexedDocuments": n}))),
                Err(e) => {
                    if created {
                        store.indexes.remove(index_uid);
                    }
                    Err(e)
                }
            }
        }
        TaskContent::DocumentDeletion { ids } => {
            let n = node.store_mut().index_mut(index_uid)?.delete_ids(&ids);
            Ok(details(json!({"deletedDocuments": n})))
        }
        TaskContent::DocumentDeletionByFilter { filter } => {
            let mut store = node.store_mut();
            let index = store.index_mut(index_uid)?;
            let code = ErrorCode::InvalidDocumentFilter;
            let parsed = engine::filter::parse(&filter, code)?;
            parsed.check_filterable(&index.engine_settings.filterable, Some(index_uid), code)?;
            let n = index.delete_where(|d| parsed.matches(d));
            Ok(details(json!({"deletedDocuments": n})))
        }
        TaskContent::DocumentClear => {
            let n = node.store_mut().index_mut(index_uid)?.clear();
            Ok(details(json!({"deletedDocuments": n})))
        }
        TaskContent::SettingsUpdate { patch } => {
            let mut store = node.store_mut();
            let created = !store.indexes.contains_key(index_uid);
            if created {
                store
                    .indexes
                    .insert(index_uid.to_string(), Index::new(index_uid, None));
            }
            let result = store.index_mut(index_uid)?.apply_settings(&patch);
            if result.is_err() && created {
                store.indexes.remove(index_uid);
            }
            result.map(|()| Map::new())
        }
        TaskContent::IndexCreation { primary_key } => {
            let mut store = node.store_mut();
            if store.indexes.contains_key(index_uid) {
                return Err(MeiliError::index_already_exists(index_uid));
            }
            store
                .indexes
                .insert(index_uid.to_string(), Index::new(index_uid, primary_key));
            Ok(Map::new())
        }
        TaskContent::IndexUpdate {
            primary_key,
            new_uid,
        } => {
            let mut store = node.store_mut();
            if let Some(new_uid) = &new_uid
                && new_uid != index_uid
                && store.indexes.contains_key(new_uid)
            {
                return Err(MeiliError::index_already_exists(new_uid));
            }
            let index = store.index_mut(index_uid)?;
            if let Some(pk) = primary_key {
                match &index.primary_key {
                    Some(current) if *current != pk && index.has_documents() => {
                        return Err(MeiliError::new(
                            ErrorCode::IndexPrimaryKeyAlreadyExists,
                            format!(
                                "Index `{index_uid}`: Index already has a primary key: `{current}`."
                            ),
                        ));
                    }
                    _ => index.primary_key = Some(pk),
                }
            }
            index.updated_at = now();
            if let Some(new_uid) = new_uid
                && let Some(mut moved) = store.indexes.remove(index_uid)
            {
                moved.uid = new_uid.clone();
                store.indexes.insert(new_uid.clone(), moved);
                drop(store);
                // Earlier tasks follow the data, as with a swap that renames.
                let rename = [(index_uid.to_string(), new_uid, true)];
                node.queue().rename_indexes(task_uid, &rename);
            }
            Ok(Map::new())
        }
        TaskContent::IndexDeletion => {
            let mut store = node.store_mut();
            store.index(index_uid)?;
            let n = store
                .indexes
                .remove(index_uid)
                .map_or(0, |i| i.docs.len() as u64);
            Ok(details(json!({"deletedDocuments": n})))
        }
        TaskContent::IndexSwap { swaps } => {
            node.store_mut().swap(&swaps)?;
            node.queue().rename_indexes(task_uid, &swaps);
            Ok(Map::new())
        }
        TaskContent::TaskCancelation { tasks, .. } => {
            let n = node
                .queue()
                .cancel(&tasks, task_uid, Some(batch), started, now());
            Ok(details(json!({"canceledTasks": n})))
        }
        TaskContent::TaskDeletion { tasks, .. } => {
            let n = node.queue().delete(&tasks);
            Ok(details(json!({"deletedTasks": n})))
        }
        TaskContent::IndexCompaction => {
            // The stand-in's index is its documents in memory, in 4 KiB pages plus one for its
            // metadata; memory is never fragmented, so compaction reclaims nothing.
            let store = node.store();
            let size = 4096 * (1 + store.index(index_uid)?.raw_size().div_ceil(4096));
            let human = miroir_proto::byte_size::human(size);
            Ok(details(
                json!({"preCompactionSize": human, "postCompactionSize": human}),
            ))
        }
        TaskContent::DumpCreation => {
            // The stand-in keeps nothing on disk: the dump is named, as a node names it, and
            // the task succeeds.
            let format = time::macros::format_description!(
                "[year][month][day]-[hour][minute][second][subsecond digits:3]"
            );
            let name = started.format(&format).unwrap_or_default();
            Ok(details(json!({"dumpUid": name})))
        }
    }
}
