//! A task's final state is cached in its record the first time someone looks at it once its
//! nodes are done. Tasks nobody looks at would stay "unfinished" in KV, and every listing that
//! filters on status would ask their nodes again. This loop looks at them in the background, so
//! that listings stay in memory and a failed settings task is seen (and its shards converged)
//! even if no client polls it.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::Router;

/// Tasks asked at once.
const CONCURRENCY: usize = 8;

pub(crate) async fn run(router: Arc<Router>, shutdown: CancellationToken) {
    let period = Duration::from_millis(router.config.task_settle_interval_ms);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(period) => {}
        }
        let unfinished = router.task_index.unfinished();
        crate::metrics::tasks_unfinished(unfinished.len());
        if unfinished.is_empty() {
            continue;
        }
        let r = &router;
        futures::stream::iter(unfinished)
            .for_each_concurrent(CONCURRENCY, |uid| async move {
                // `task_view` caches the final view when the nodes are done.
                let _ = r.view_of(uid).await;
            })
            .await;
    }
}
