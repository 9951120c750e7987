//! Notices when a client's connection to NATS was lost and made again.
//!
//! A request in flight when that happens may have lost its request, its acknowledgement or its
//! answer with the old connection (a reply published while the requester was away, or before its
//! reply subscription was sent to the new server, goes nowhere), and nothing else would ever say
//! so: the requester would wait out its whole deadline. async-nats tells a client's owner of
//! reconnections only through the callback given when connecting, and a [`Requester`] gets a
//! client already connected, so a task reads the connection's identity (the server's id and the
//! client id the server gave this connection, both new on every connection) a few times a second
//! and counts the changes.
//!
//! [`Requester`]: super::Requester

use std::time::Duration;

use async_nats::Client;
use tokio::sync::watch;

/// How often the connection's identity is read: a reconnection is noticed at most this late.
const POLL: Duration = Duration::from_millis(100);

/// Counts the connections made after the first one; the count ends when this is dropped.
pub(super) struct Reconnects {
    count: watch::Receiver<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Reconnects {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What tells one connection from the next.
fn identity(client: &Client) -> Option<(String, u64)> {
    client
        .try_server_info()
        .map(|info| (info.server_id, info.client_id))
}

impl Reconnects {
    pub(super) fn watch(client: Client) -> Reconnects {
        let (tx, count) = watch::channel(0u64);
        let task = tokio::spawn(async move {
            let mut seen = identity(&client);
            let mut tick = tokio::time::interval(POLL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let now = identity(&client);
                if now.is_none() || now == seen {
                    continue;
                }
                // The first connection of a client that started unconnected is no reconnection:
                // what was sent before it waited in the client and goes out on it.
                if seen.is_some() {
                    tracing::debug!(
                        server = now.as_ref().map(|(s, _)| s.as_str()),
                        "the connection to NATS was made again"
                    );
                    tx.send_modify(|n| *n += 1);
                }
                seen = now;
            }
        });
        Reconnects { count, task }
    }

    /// A receiver that sees the reconnections from now on (`changed()` resolves at the next).
    pub(super) fn subscribe(&self) -> watch::Receiver<u64> {
        let mut rx = self.count.clone();
        rx.mark_unchanged();
        rx
    }
}
