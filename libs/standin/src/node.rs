//! The node's shared state: its indexes, task queue, keys and experimental features, and the
//! handle on the one background worker that processes tasks in order.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard, Weak};

use serde_json::{Map, Value, json};
use tokio::sync::Notify;

use crate::Config;
use crate::auth::Keys;
use crate::store::Store;
use crate::tasks::{Queue, TaskContent};

pub struct Node {
    pub config: Config,
    store: RwLock<Store>,
    queue: Mutex<Queue>,
    keys: RwLock<Keys>,
    features: Mutex<Map<String, Value>>,
    /// Rung when a task is enqueued (and when the node goes away).
    pub(crate) wake: Arc<Notify>,
    /// Rung when a cancelation is enqueued, to stop a task waiting out `task_delay`.
    pub(crate) interrupt: Notify,
    worker_started: AtomicBool,
    pub(crate) stopped: AtomicBool,
}

// A panic while a lock is held must not make the node unusable: the data it protects is kept
// consistent by the code that holds it, so a poisoned lock is simply taken over.
fn unpoison<G>(r: Result<G, std::sync::PoisonError<G>>) -> G {
    r.unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Node {
    pub fn new(config: Config) -> Arc<Node> {
        let keys = Keys::new(config.master_key.clone());
        Arc::new(Node {
            config,
            store: RwLock::new(Store::default()),
            queue: Mutex::new(Queue::default()),
            keys: RwLock::new(keys),
            features: Mutex::new(default_features()),
            wake: Arc::new(Notify::new()),
            interrupt: Notify::new(),
            worker_started: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
        })
    }

    pub fn store(&self) -> RwLockReadGuard<'_, Store> {
        unpoison(self.store.read())
    }

    pub fn store_mut(&self) -> RwLockWriteGuard<'_, Store> {
        unpoison(self.store.write())
    }

    pub fn queue(&self) -> MutexGuard<'_, Queue> {
        unpoison(self.queue.lock())
    }

    pub fn keys(&self) -> RwLockReadGuard<'_, Keys> {
        unpoison(self.keys.read())
    }

    pub fn keys_mut(&self) -> RwLockWriteGuard<'_, Keys> {
        unpoison(self.keys.write())
    }

    pub fn features(&self) -> MutexGuard<'_, Map<String, Value>> {
        unpoison(self.features.lock())
    }

    /// Enqueues a task; returns the 202 summary.
    pub fn enqueue(&self, index_uid: Option<String>, content: TaskContent) -> Value {
        self.enqueue_with(index_uid, content, None)
    }

    /// [`enqueue`](Self::enqueue) with the client's `?customMetadata=`, kept with the task.
    pub fn enqueue_with(
        &self,
        index_uid: Option<String>,
        content: TaskContent,
        custom_metadata: Option<String>,
    ) -> Value {
        let is_cancel = matches!(content, TaskContent::TaskCancelation { .. });
        let summary = {
            let mut queue = self.queue();
            let uid = queue.register(index_uid, content).uid;
            match queue.tasks.get_mut(&uid) {
                Some(task) => {
                    task.custom_metadata = custom_metadata;
                    task.summary()
                }
                None => Value::Null,
            }
        };
        self.wake.notify_one();
        if is_cancel {
            self.interrupt.notify_one();
        }
        summary
    }

    /// Starts the task worker on the current runtime, once. Without a runtime (a router built
    /// outside one) it starts with the first request instead.
    pub fn start_worker(self: &Arc<Self>) {
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.worker_started.swap(true, Ordering::SeqCst) {
            return;
        }
        let weak: Weak<Node> = Arc::downgrade(self);
        handle.spawn(crate::worker::run(weak, self.wake.clone()));
    }

    /// Make a node that was stopped (its runtime gone, like a crashed process with its disk kept)
    /// ready to serve again: tasks that were processing when it stopped go back to the queue, as
    /// Meilisearch re-processes them after a crash, and the worker may start again.
    pub fn resume(&self) {
        {
            let mut queue = self.queue();
            let interrupted: Vec<u32> = queue
                .tasks
                .iter()
                .filter(|(_, t)| t.status == crate::tasks::Status::Processing)
                .map(|(uid, _)| *uid)
                .collect();
            for uid in interrupted {
                queue.abort(uid);
            }
        }
        self.stopped.store(false, Ordering::SeqCst);
        self.worker_started.store(false, Ordering::SeqCst);
    }

    pub fn stop_worker(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        self.wake.notify_one();
        self.interrupt.notify_one();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::SeqCst);
        self.wake.notify_one();
    }
}

fn default_features() -> Map<String, Value> {
    let v = json!({
        "metrics": false,
        "logsRoute": false,
        "editDocumentsByFunction": false,
        "containsFilter": false,
        "dynamicSearchRules": false,
        "network": false,
        "getTaskDocumentsRoute": false,
        "taskQueueCompactionRoute": false,
        "compositeEmbedders": false,
        "chatCompletions": false,
        "multimodal": false,
        "foreignKeys": false,
        "disableDocumentsFetchQueue": false,
        "legacySearch": false,
        "renderRoute": false
    });
    v.as_object().cloned().unwrap_or_default()
}
