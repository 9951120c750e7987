//! One reply subscription per requester, shared by all its requests.
//!
//! Subscribing a fresh inbox for every request costs a `SUB` and an `UNSUB` round through the
//! client and the server, and a subscription entry, per request. Instead, a [`Inbox`] subscribes
//! once to `<prefix>.*` and every request gets a token: its replies (the acknowledgement, the
//! answer or its parts, a "no responders" status) are published to `<prefix>.<token>`, and the
//! dispatch task hands each message to the request waiting on that token. This is async-nats's
//! own request muxer, with a channel per request instead of a oneshot, because a request may
//! receive several messages.
//!
//! A message for a token nobody waits on any more (a late answer after a timeout, the second
//! answer to a request that was sent twice) is dropped. When the subscription ends (the client
//! was closed), every waiting request sees its channel close, and later requests are refused at
//! once, as the per-request subscriptions were.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use async_nats::{Client, Message, Subject};
use futures::StreamExt;
use tokio::sync::mpsc;

/// The waiting requests, by token; `None` once the subscription ended.
type Waiters = Mutex<Option<HashMap<u64, mpsc::UnboundedSender<Message>>>>;

/// The shared reply subscription of one requester. Dropping it stops the dispatch task, which
/// drops the subscription (and so unsubscribes).
pub(super) struct Inbox {
    prefix: String,
    waiters: Arc<Waiters>,
    next_token: AtomicU64,
    dispatch: tokio::task::JoinHandle<()>,
}

impl Drop for Inbox {
    fn drop(&mut self) {
        self.dispatch.abort();
    }
}

/// A request's registration: its reply subject and the channel its replies arrive on. The token
/// is forgotten when this is dropped, however the request ends.
pub(super) struct Waiter<'a> {
    inbox: &'a Inbox,
    token: u64,
    pub reply_to: Subject,
    pub replies: mpsc::UnboundedReceiver<Message>,
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        if let Some(map) = self
            .inbox
            .waiters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_mut()
        {
            map.remove(&self.token);
        }
    }
}

impl Inbox {
    /// Subscribe `client` to a fresh `<inbox>.*` and start dispatching.
    pub(super) async fn subscribe(client: &Client) -> Result<Inbox, async_nats::SubscribeError> {
        let prefix = client.new_inbox();
        let mut sub = client.subscribe(format!("{prefix}.*")).await?;
        let waiters: Arc<Waiters> = Arc::new(Mutex::new(Some(HashMap::new())));
        let dispatch = tokio::spawn({
            let waiters = waiters.clone();
            async move {
                while let Some(msg) = sub.next().await {
                    let Some(token) = msg
                        .subject
                        .rsplit_once('.')
                        .and_then(|(_, t)| t.parse::<u64>().ok())
                    else {
                        continue;
                    };
                    let guard = waiters.lock().unwrap_or_else(PoisonError::into_inner);
                    if let Some(tx) = guard.as_ref().and_then(|m| m.get(&token)) {
                        // The request may have just given up: then nobody wants this message.
                        let _ = tx.send(msg);
                    }
                }
                // The client was closed: wake every waiting request (its channel closes).
                waiters
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take();
            }
        });
        Ok(Inbox {
            prefix,
            waiters,
            next_token: AtomicU64::new(0),
            dispatch,
        })
    }

    /// Register a request; `None` when the subscription has ended.
    pub(super) fn wait(&self) -> Option<Waiter<'_>> {
        let token = self.next_token.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::unbounded_channel();
        self.waiters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_mut()?
            .insert(token, tx);
        Some(Waiter {
            inbox: self,
            token,
            reply_to: Subject::from(format!("{}.{token}", self.prefix)),
            replies: rx,
        })
    }

    /// How many requests are waiting (for tests).
    pub(super) fn waiting(&self) -> usize {
        self.waiters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map_or(0, HashMap::len)
    }
}
