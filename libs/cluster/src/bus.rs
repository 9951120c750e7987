//! Typed request-reply over NATS.
//!
//! A request is a [`Rpc`] message; its reply comes back as an [`Outcome`] cut into
//! [`ReplyChunk`]s no larger than the server's max payload, so a 1000-hit answer of large documents
//! arrives whole. Each service registers with the NATS service API (so `$SRV.PING` finds it) and
//! serves its endpoints in the service's queue group, so replicas share the load.
//!
//! Errors map as clients expect them: nobody listening is a 503, no answer in time a 504.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_nats::Client;
use async_nats::service::ServiceExt;
use bytes::Bytes;
use futures::StreamExt;
use miroir_proto::rpc::ReplyChunk;
use miroir_proto::subjects::{ACK_HEADER, REQUEST_ID_HEADER, Service, endpoint};
use miroir_proto::{MeiliError, Outcome, Rpc, decode, decode_outcome, encode, encode_outcome};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Room left in each chunk for the envelope and headers.
const CHUNK_OVERHEAD: usize = 1024;

/// Connect to NATS with a name that shows in `nats server report connections`.
pub async fn connect(url: &str, name: &str) -> anyhow::Result<Client> {
    let client = async_nats::ConnectOptions::new()
        .name(name)
        .retry_on_initial_connect()
        .connection_timeout(Duration::from_secs(5))
        .connect(url)
        .await?;
    Ok(client)
}

fn chunk_size(nats: &Client) -> usize {
    (nats.server_info().max_payload)
        .saturating_sub(CHUNK_OVERHEAD)
        .max(4096)
}

/// Send `req` to its service's queue group and wait for the whole reply.
/// How long a requester waits for a replica to acknowledge a request before sending it again.
///
/// A replica that leaves drains its subscription, but the NATS client can still drop a message
/// the server routed to it just before the unsubscription took effect. Such a request was never
/// handled (it was never acknowledged), so sending it again is safe; the queue group hands it to
/// a live replica.
pub const ACK_TIMEOUT: Duration = Duration::from_millis(1000);

/// Send `req` to its service's queue group and wait for the whole reply.
pub async fn request<R: Rpc>(
    nats: &Client,
    req: &R,
    timeout: Duration,
) -> Result<R::Reply, MeiliError> {
    let service = R::SERVICE.name();
    let payload = Bytes::from(encode(req).map_err(|e| MeiliError::internal(e.to_string()))?);
    if payload.len() > nats.server_info().max_payload {
        return Err(MeiliError::payload_too_large(
            nats.server_info().max_payload as u64,
        ));
    }
    let inbox = nats.new_inbox();
    let mut sub = nats
        .subscribe(inbox.clone())
        .await
        .map_err(|e| MeiliError::internal(format!("cannot subscribe to the reply inbox: {e}")))?;
    let publish = || async {
        nats.publish_with_reply(R::subject(), inbox.clone(), payload.clone())
            .await
            .map_err(|e| MeiliError::internal(format!("cannot publish to `{}`: {e}", R::subject())))
    };
    publish().await?;
    let started = tokio::time::Instant::now();
    let deadline = started + timeout;
    let mut ack_deadline = Some(started + ACK_TIMEOUT);
    let mut resent = false;
    let mut assembled: Vec<u8> = Vec::new();
    let mut expected_seq = 0u32;
    loop {
        let wait_until = ack_deadline.map_or(deadline, |a| a.min(deadline));
        let msg = match tokio::time::timeout_at(wait_until, sub.next()).await {
            Err(_) if tokio::time::Instant::now() < deadline && !resent => {
                // Not acknowledged: the request was lost on its way to a replica.
                metrics::counter!("miroir_bus_resends_total", "service" => service).increment(1);
                resent = true;
                ack_deadline = Some(tokio::time::Instant::now() + ACK_TIMEOUT);
                publish().await?;
                continue;
            }
            Err(_) if tokio::time::Instant::now() < deadline => {
                ack_deadline = None;
                continue;
            }
            Err(_) => {
                metrics::counter!("miroir_bus_requests_total", "service" => service, "outcome" => "timeout").increment(1);
                return Err(MeiliError::timeout(service, timeout.as_millis() as u64));
            }
            Ok(None) => return Err(MeiliError::service_unavailable(service)),
            Ok(Some(m)) => m,
        };
        if msg.status == Some(async_nats::StatusCode::NO_RESPONDERS) {
            metrics::counter!("miroir_bus_requests_total", "service" => service, "outcome" => "no_responders").increment(1);
            return Err(MeiliError::service_unavailable(service));
        }
        if msg
            .headers
            .as_ref()
            .is_some_and(|h| h.get(ACK_HEADER).is_some())
        {
            ack_deadline = None;
            continue;
        }
        let chunk: ReplyChunk = decode(&msg.payload)
            .map_err(|e| MeiliError::internal(format!("bad reply chunk from {service}: {e}")))?;
        if chunk.seq != expected_seq {
            return Err(MeiliError::internal(format!(
                "reply chunks from {service} arrived out of order ({} after {})",
                chunk.seq, expected_seq
            )));
        }
        expected_seq += 1;
        assembled.extend_from_slice(&chunk.data);
        if chunk.last {
            break;
        }
    }
    let _ = sub.unsubscribe().await;
    metrics::histogram!("miroir_bus_request_seconds", "service" => service, "op" => R::OP)
        .record(started.elapsed().as_secs_f64());
    let outcome = decode_outcome::<R::Reply>(&assembled)
        .map_err(|e| MeiliError::internal(format!("bad reply from {service}: {e}")))?;
    outcome.into()
}

/// Publish an encoded outcome to `reply` in chunks that fit the server's max payload.
async fn send_chunked(
    nats: &Client,
    reply: async_nats::Subject,
    encoded: Vec<u8>,
) -> anyhow::Result<()> {
    let size = chunk_size(nats);
    let total = encoded.len().div_ceil(size).max(1);
    let bytes = Bytes::from(encoded);
    for i in 0..total {
        let start = i * size;
        let end = ((i + 1) * size).min(bytes.len());
        let chunk = ReplyChunk {
            seq: i as u32,
            last: i + 1 == total,
            data: bytes.slice(start..end),
        };
        nats.publish(reply.clone(), Bytes::from(encode(&chunk)?))
            .await?;
    }
    nats.flush().await?;
    Ok(())
}

/// A running service: the NATS micro registration and the tasks serving its endpoints.
pub struct ServiceRunner {
    service: Option<async_nats::service::Service>,
    version: String,
    description: String,
    endpoints: Vec<&'static str>,
    nats: Client,
    kind: Service,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    in_flight: TaskTracker,
    stop: CancellationToken,
}

impl ServiceRunner {
    /// Prepare a service; add endpoints with [`serve`](Self::serve), then announce it with
    /// [`ready`](Self::ready).
    pub async fn start(
        nats: &Client,
        kind: Service,
        version: &str,
        description: &str,
    ) -> anyhow::Result<Self> {
        Ok(ServiceRunner {
            service: None,
            version: version.to_string(),
            description: description.to_string(),
            endpoints: Vec::new(),
            nats: nats.clone(),
            kind,
            tasks: Vec::new(),
            in_flight: TaskTracker::new(),
            stop: CancellationToken::new(),
        })
    }

    /// Register with the NATS service API once every endpoint is subscribed, so that a replica
    /// answering `$SRV.PING` is a replica that serves. `$SRV.INFO` lists the endpoints' subjects
    /// in the `endpoints` metadata.
    pub async fn ready(&mut self) -> anyhow::Result<()> {
        self.nats
            .flush()
            .await
            .map_err(|e| anyhow::anyhow!("cannot flush subscriptions: {e}"))?;
        let subjects: Vec<String> = self
            .endpoints
            .iter()
            .map(|op| endpoint(self.kind, op))
            .collect();
        let metadata =
            std::collections::HashMap::from([("endpoints".to_string(), subjects.join(","))]);
        let service = self
            .nats
            .service_builder()
            .description(self.description.clone())
            .metadata(metadata)
            .queue_group(self.kind.queue_group())
            .start(self.kind.service_api_name(), self.version.clone())
            .await
            .map_err(|e| anyhow::anyhow!("cannot register service {}: {e}", self.kind.name()))?;
        self.service = Some(service);
        Ok(())
    }

    /// Serve one endpoint: every request is handled on its own task, so a slow one does not hold
    /// up the others.
    ///
    /// Requests come from a plain queue subscription rather than the service API's endpoint
    /// stream, because only a subscription can be *drained*: on shutdown the server stops routing
    /// new requests here and every request already routed is still delivered and answered, so a
    /// replica leaving mid-load loses nothing. The service registration still answers `$SRV.PING`
    /// and `$SRV.INFO` for discovery.
    pub async fn serve<R, F, Fut>(&mut self, handler: F) -> anyhow::Result<()>
    where
        R: Rpc + Send + 'static,
        R::Reply: Send + 'static,
        F: Fn(R, Option<String>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R::Reply, MeiliError>> + Send + 'static,
    {
        let mut sub = self
            .nats
            .queue_subscribe(R::subject(), self.kind.queue_group().to_string())
            .await
            .map_err(|e| anyhow::anyhow!("cannot subscribe to {}: {e}", R::subject()))?;
        self.endpoints.push(R::OP);
        let handler = Arc::new(handler);
        let nats = self.nats.clone();
        let stop = self.stop.clone();
        let in_flight = self.in_flight.clone();
        let task = tokio::spawn(async move {
            let mut draining = false;
            loop {
                let message = tokio::select! {
                    _ = stop.cancelled(), if !draining => {
                        draining = true;
                        if sub.drain().await.is_err() {
                            break;
                        }
                        continue;
                    }
                    m = sub.next() => match m { Some(m) => m, None => break },
                };
                let handler = handler.clone();
                let nats = nats.clone();
                in_flight.spawn(async move {
                    let Some(reply) = message.reply.clone() else {
                        return;
                    };
                    let mut ack = async_nats::HeaderMap::new();
                    ack.insert(ACK_HEADER, "1");
                    let _ = nats
                        .publish_with_headers(reply.clone(), ack, Bytes::new())
                        .await;
                    let request_id = message
                        .headers
                        .as_ref()
                        .and_then(|h| h.get(REQUEST_ID_HEADER))
                        .map(|v| v.to_string());
                    let outcome: Outcome<R::Reply> = match decode::<R>(&message.payload) {
                        Ok(req) => handler(req, request_id).await.into(),
                        Err(e) => Outcome::Err(MeiliError::internal(format!(
                            "cannot decode request on {}: {e}",
                            R::subject()
                        ))),
                    };
                    let encoded = match encode_outcome(&outcome) {
                        Ok(b) => b,
                        Err(e) => match encode_outcome::<R::Reply>(&Outcome::Err(
                            MeiliError::internal(e.to_string()),
                        )) {
                            Ok(b) => b,
                            Err(_) => return,
                        },
                    };
                    if let Err(e) = send_chunked(&nats, reply, encoded).await {
                        tracing::warn!(subject = %R::subject(), error = %e, "cannot send reply");
                    }
                });
            }
        });
        self.tasks.push(task);
        Ok(())
    }

    /// Stop taking requests (the queue group hands new ones to other replicas), let the
    /// in-flight ones finish within `grace`, and deregister.
    /// Every step is bounded by `grace`, also when NATS itself is gone.
    pub async fn shutdown(self, grace: Duration) {
        let deadline = tokio::time::Instant::now() + grace;
        if let Some(service) = self.service {
            let _ = tokio::time::timeout_at(deadline, service.stop()).await;
        }
        self.stop.cancel();
        let _ = tokio::time::timeout_at(deadline, futures::future::join_all(self.tasks)).await;
        self.in_flight.close();
        let _ = tokio::time::timeout_at(deadline, self.in_flight.wait()).await;
        let _ = tokio::time::timeout_at(deadline, self.nats.flush()).await;
    }
}
