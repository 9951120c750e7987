//! The stand-in node in-process, on a thread of its own with a runtime of its own, so that it
//! outlives the runtime of the test that started it and dies only when told, like a machine.

use std::net::TcpListener;
use std::thread::JoinHandle;

use anyhow::{Context, Result, anyhow};
use tokio::sync::oneshot;

/// A running stand-in. Dropping it stops it abruptly.
pub(crate) struct StandinThread {
    kill: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<Result<()>>>,
}

impl StandinThread {
    pub(crate) fn spawn(
        data: miroir_standin::NodeData,
        listener: TcpListener,
        name: String,
    ) -> Result<Self> {
        listener.set_nonblocking(true)?;
        let (kill_tx, kill_rx) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(name)
            .spawn(move || serve(data, listener, kill_rx))
            .context("spawning the stand-in's thread")?;
        Ok(StandinThread {
            kill: Some(kill_tx),
            thread: Some(thread),
        })
    }

    /// Whether the node stopped on its own (an error or a panic in `run`).
    pub(crate) fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Stops the node at once: its listener, every open connection and every task of its runtime
    /// are dropped, as if the machine had died. Returns how `run` had ended, if it had.
    pub(crate) fn stop(&mut self) -> Result<()> {
        if let Some(kill) = self.kill.take() {
            // An error means the thread is already gone; joining below reports why.
            let _ = kill.send(());
        }
        match self.thread.take() {
            Some(thread) => thread
                .join()
                .map_err(|panic| anyhow!("the stand-in panicked: {}", panic_message(&panic)))?,
            None => Ok(()),
        }
    }
}

impl Drop for StandinThread {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            tracing::warn!("stand-in node ended with an error: {e:#}");
        }
    }
}

fn serve(
    data: miroir_standin::NodeData,
    listener: TcpListener,
    kill: oneshot::Receiver<()>,
) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("building the stand-in's runtime")?;
    let outcome = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        tokio::select! {
            result = miroir_standin::run_with(&data, listener, std::future::pending::<()>()) => {
                result.and_then(|()| Err(anyhow!("the stand-in's run() returned before it was stopped")))
            }
            _ = kill => Ok(()),
        }
    });
    // Dropping the runtime cancels the connection tasks `run` spawned, which closes their sockets.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    outcome
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}
