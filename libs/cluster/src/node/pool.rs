//! Keep-alive HTTP/1.1 connections to the nodes: hyper's client connection, pooled per node.
//!
//! Why not reqwest here: a shard search is a few hundred microseconds of work for Miroir, and
//! reqwest's per-request URL parsing (with IDNA host processing), timeout future, connection
//! pool and connector service were about a tenth of the merger's CPU on the cluster bench. The
//! nodes are plain-HTTP Meilisearch servers on a private network; this is all a request needs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;

/// Idle connections kept per node; more are opened under load and closed after use.
const MAX_IDLE_PER_NODE: usize = 64;

type Sender = SendRequest<Full<Bytes>>;

/// Idle connections by node authority (`host:port`).
#[derive(Clone, Default)]
pub(crate) struct Pool {
    idle: Arc<Mutex<HashMap<String, Vec<Sender>>>>,
}

impl Pool {
    /// Send `request` to `authority` on an idle connection, or a new one, and read the whole
    /// answer. A pooled connection the node closed meanwhile never takes the request: hyper
    /// hands it back unsent and it goes on a new connection, so a request is never sent twice.
    pub async fn send(
        &self,
        authority: &str,
        request: http::Request<Full<Bytes>>,
    ) -> Result<(u16, Bytes), String> {
        let mut request = request;
        while let Some(mut sender) = self.checkout(authority) {
            if sender.ready().await.is_err() {
                continue;
            }
            match sender.try_send_request(request).await {
                Ok(response) => return self.finish(authority, sender, response).await,
                Err(mut e) => match e.take_message() {
                    Some(unsent) => request = unsent,
                    None => return Err(e.into_error().to_string()),
                },
            }
        }
        let mut sender = connect(authority).await?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| e.to_string())?;
        self.finish(authority, sender, response).await
    }

    async fn finish(
        &self,
        authority: &str,
        sender: Sender,
        response: http::Response<hyper::body::Incoming>,
    ) -> Result<(u16, Bytes), String> {
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        self.checkin(authority, sender);
        Ok((status, body))
    }

    fn checkout(&self, authority: &str) -> Option<Sender> {
        let mut idle = self.idle.lock().ok()?;
        let list = idle.get_mut(authority)?;
        while let Some(sender) = list.pop() {
            if !sender.is_closed() {
                return Some(sender);
            }
        }
        None
    }

    /// Keep a connection whose answer was read whole (hyper then reuses it), unless the node
    /// closed it or enough are idle already.
    fn checkin(&self, authority: &str, sender: Sender) {
        if sender.is_closed() {
            return;
        }
        if let Ok(mut idle) = self.idle.lock() {
            let list = idle.entry(authority.to_owned()).or_default();
            if list.len() < MAX_IDLE_PER_NODE {
                list.push(sender);
            }
        }
    }
}

/// A new connection to `authority` (no delay on small writes), driven by a task of its own
/// until either side closes it.
async fn connect(authority: &str) -> Result<Sender, String> {
    let stream = tokio::net::TcpStream::connect(authority)
        .await
        .map_err(|e| format!("cannot connect: {e}"))?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    metrics::counter!("miroir_node_connections_opened_total").increment(1);
    let (sender, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "node connection closed");
        }
    });
    Ok(sender)
}
