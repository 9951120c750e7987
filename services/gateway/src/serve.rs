//! The gateway's HTTP/1 server loop: hyper with a timer, since `axum::serve` sets none and
//! hyper's header read timeout needs one.
//!
//! A connection must deliver a request's complete headers within `header_timeout_ms` of being
//! ready for one: of being accepted, or of its previous answer (hyper starts the timer whenever
//! it waits for a request head), so the same bound closes idle keep-alive connections. Past it
//! hyper drops the connection without an answer. A connection that had sent part of a head ends
//! with a timeout error, which the loop counts (`miroir_gateway_header_timeouts_total`); one that
//! sent nothing is closed as an idle connection, uncounted. Bodies are bounded by
//! `body_timeout`.
//!
//! On shutdown the listener is closed at once, every connection is told to finish the request
//! it is serving and close (idle ones close immediately), and [`serve`] returns when they all
//! have. Connections are tasks owned by the loop: dropping its future (the grace period over)
//! drops them all.

use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// How long the loop pauses after an accept error that is not about one connection (out of
/// file descriptors), as `axum::serve` does, so that it does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_secs(1);

/// Serve `app` on `listener` until `shutdown` is cancelled, then until the connections in
/// flight have finished.
pub async fn serve(
    listener: TcpListener,
    app: crate::routes::Api,
    header_timeout: Duration,
    shutdown: CancellationToken,
) {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            Some(_) = connections.join_next() => continue,
            _ = shutdown.cancelled() => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                tracing::error!(error = %e, "cannot accept a connection");
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        connections.spawn(async move {
            if let Err(e) = connection.await {
                if e.is_timeout() {
                    metrics::counter!("miroir_gateway_header_timeouts_total").increment(1);
                    tracing::debug!("a client did not send its request headers in time");
                } else {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
            }
        });
    }
    drop(listener);
    tracing::info!(
        connections = graceful.count(),
        "gateway stopped accepting connections; finishing the requests in flight"
    );
    graceful.shutdown().await;
    // Every connection has ended; reap their tasks.
    while connections.join_next().await.is_some() {}
}

/// Errors about one connection only (it was reset before it was accepted): the loop goes on.
fn is_connection_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}
