//! The one signal helper every binary uses: SIGTERM or Ctrl-C cancels the returned token, which
//! the service's `run` treats as "stop taking work, finish what is in flight, exit".

use tokio_util::sync::CancellationToken;

/// A token cancelled on the first SIGTERM or SIGINT (Ctrl-C). If SIGTERM cannot be watched,
/// Ctrl-C still works (and the failure is logged).
pub fn on_signal(service: &'static str) -> CancellationToken {
    let token = CancellationToken::new();
    let trigger = token.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!(
            service,
            "shutting down: no new work, finishing what is in flight"
        );
        trigger.cancel();
    });
    token
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch SIGTERM; only Ctrl-C stops this process")
            }
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
