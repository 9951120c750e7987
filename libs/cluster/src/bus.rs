//! Typed request-reply over NATS.
//!
//! A request is a [`Rpc`] message; its reply comes back as an [`Outcome`]. A reply that fits the
//! server's max payload is one message holding the encoded outcome, nothing around it; a larger
//! one (a 1000-hit answer of large documents) is cut into parts marked with the
//! [`REPLY_PART_HEADER`], so it arrives whole. Each service registers with the NATS service API
//! (so `$SRV.PING` finds it) and serves its endpoints in the service's queue group, so replicas
//! share the load.
//!
//! A [`Requester`] holds one reply subscription for all its requests ([`inbox`]): a request costs
//! one publish and the messages of its answer, no subscription of its own.
//!
//! Errors map as clients expect them: nobody listening is a 503, no answer in time a 504. Every
//! wait of a request is bounded by its deadline, also while NATS is away; and a request whose
//! connection was lost and made again while it waited ([`reconnects`]) is given up as soon as the
//! replica has been silent for [`LOST_AFTER`] (a replica repeats its acknowledgement every
//! [`HEARTBEAT`] while it works), rather than at its deadline: its answer may have been lost with
//! the connection.

mod inbox;
mod reconnects;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_nats::Client;
use async_nats::service::ServiceExt;
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use miroir_proto::rpc::{REPLY_PART_HEADER, ReplyPart};
use miroir_proto::subjects::{
    ACK_HEADER, REQUEST_ID_HEADER, Service, TRACEPARENT_HEADER, TRACESTATE_HEADER, endpoint,
};
use miroir_proto::{
    ErrorCode, MeiliError, Outcome, Rpc, decode, decode_outcome, encode, encode_outcome,
};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::trace;

/// Room left in each part of a reply cut in parts for its headers.
const PART_OVERHEAD: usize = 1024;

/// Connect to NATS with a name that shows in `nats server report connections`, the credentials
/// of the `MIROIR_NATS_*` variables and the service's own reply inbox ([`crate::nats_auth`]).
pub async fn connect(url: &str, name: &str) -> anyhow::Result<Client> {
    let client = crate::nats_auth::NatsAuth::from_env()?
        .connect_options(name)
        .await?
        .retry_on_initial_connect()
        .connection_timeout(Duration::from_secs(5))
        .connect(url)
        .await?;
    Ok(client)
}

/// How long a requester waits for a replica to acknowledge a request before sending it again.
///
/// A replica that leaves drains its subscription, but the NATS client can still drop a message
/// the server routed to it just before the unsubscription took effect. Such a request was never
/// handled (it was never acknowledged), so sending it again is safe; the queue group hands it to
/// a live replica.
pub const ACK_TIMEOUT: Duration = Duration::from_millis(1000);

/// How often a replica still handling a request repeats its acknowledgement, so that the
/// requester knows the request is being worked on.
pub const HEARTBEAT: Duration = ACK_TIMEOUT;

/// After its connection to NATS was lost and made again, how long a request waits without
/// hearing from the replica (an acknowledgement, repeated every [`HEARTBEAT`], or its answer)
/// before it is given up: with the connection went the request, its answer, or the replica's.
/// Three heartbeats, so that one message lost or late is not enough.
pub const LOST_AFTER: Duration = Duration::from_secs(3);

/// Sends requests and waits for their replies over one shared reply subscription. Cheap to
/// clone; the subscription ends when the last clone is dropped. A service keeps one for its
/// whole life.
#[derive(Clone)]
pub struct Requester {
    nats: Client,
    inbox: Arc<inbox::Inbox>,
    /// `None` for a one-off requester ([`request`]), which waits out its deadline.
    reconnects: Option<Arc<reconnects::Reconnects>>,
}

impl Requester {
    /// Subscribe `nats` to this requester's reply inbox, and watch its reconnections.
    pub async fn new(nats: Client) -> anyhow::Result<Requester> {
        let mut requester = Self::one_off(nats).await?;
        requester.reconnects = Some(Arc::new(reconnects::Reconnects::watch(
            requester.nats.clone(),
        )));
        Ok(requester)
    }

    async fn one_off(nats: Client) -> anyhow::Result<Requester> {
        let inbox = inbox::Inbox::subscribe(&nats)
            .await
            .map_err(|e| anyhow::anyhow!("cannot subscribe to the reply inbox: {e}"))?;
        Ok(Requester {
            nats,
            inbox: Arc::new(inbox),
            reconnects: None,
        })
    }

    pub fn client(&self) -> &Client {
        &self.nats
    }

    /// How many requests are waiting for their reply right now.
    pub fn waiting(&self) -> usize {
        self.inbox.waiting()
    }

    /// Send `req` to its service's queue group and wait for the whole reply, at most `timeout`
    /// (a 504 past it), also while NATS is away; a reconnection while waiting ends the wait
    /// early once the replica is silent (see [`LOST_AFTER`]).
    pub async fn request<R: Rpc>(
        &self,
        req: &R,
        timeout: Duration,
    ) -> Result<R::Reply, MeiliError> {
        let nats = &self.nats;
        let service = R::SERVICE.name();
        let max_payload = nats.max_payload();
        let payload = Bytes::from(encode(req).map_err(|e| MeiliError::internal(e.to_string()))?);
        if payload.len() > max_payload {
            return Err(MeiliError::payload_too_large(max_payload as u64));
        }
        let Some(mut waiter) = self.inbox.wait() else {
            return Err(MeiliError::service_unavailable(service));
        };
        let started = tokio::time::Instant::now();
        let deadline = started + timeout;
        let timed_out = || {
            metrics::counter!("miroir_bus_requests_total", "service" => service, "outcome" => "timeout").increment(1);
            tracing::debug!(service, op = R::OP, ?timeout, "no answer in time");
            MeiliError::timeout(service, timeout.as_millis() as u64)
        };
        // Reconnections from now on: one may lose the request, an acknowledgement or the answer.
        let mut reconnects = self.reconnects.as_ref().map(|r| r.subscribe());
        let subject = R::subject();
        // The trace headers are built for each publish rather than cloned: a resend is rare.
        let headers = || trace::current().map(|active| trace_headers(&active));
        let publish = |headers: Option<async_nats::HeaderMap>| async {
            match headers {
                Some(h) => {
                    nats.publish_with_reply_and_headers(
                        subject.clone(),
                        waiter.reply_to.clone(),
                        h,
                        payload.clone(),
                    )
                    .await
                }
                None => {
                    nats.publish_with_reply(
                        subject.clone(),
                        waiter.reply_to.clone(),
                        payload.clone(),
                    )
                    .await
                }
            }
            .map_err(|e| MeiliError::internal(format!("cannot publish to `{subject}`: {e}")))
        };
        // The client queues a publish while it reconnects; a full queue must not outlast the
        // deadline.
        tokio::time::timeout_at(deadline, publish(headers()))
            .await
            .map_err(|_| timed_out())??;
        let mut ack_deadline = Some(tokio::time::Instant::now() + ACK_TIMEOUT);
        let mut resent = false;
        // Whether a replica was heard from: it took the request.
        let mut acknowledged = false;
        // Set once the connection was made again: the replica must be heard from by then.
        let mut silence_deadline: Option<tokio::time::Instant> = None;
        let mut assembled = BytesMut::new();
        let mut expected_seq = 0u32;
        let whole = loop {
            let wait_until = [ack_deadline, silence_deadline]
                .into_iter()
                .flatten()
                .fold(deadline, tokio::time::Instant::min);
            let received = tokio::select! {
                biased;
                r = tokio::time::timeout_at(wait_until, waiter.replies.recv()) => r,
                changed = async {
                    match reconnects.as_mut() {
                        Some(rx) => rx.changed().await,
                        None => std::future::pending().await,
                    }
                } => {
                    if changed.is_err() {
                        reconnects = None;
                    } else {
                        tracing::debug!(service, op = R::OP, waited = ?started.elapsed(),
                            "the connection to NATS was made again while waiting for an answer");
                        let now = tokio::time::Instant::now();
                        silence_deadline = Some(now + LOST_AFTER);
                        if acknowledged {
                            // Taken: sending it again would have it done twice.
                            ack_deadline = None;
                        } else {
                            // Not taken yet: it may have gone with the old connection (a copy
                            // queued in the client goes out now and is acknowledged at once).
                            // One more copy if nobody takes it soon.
                            ack_deadline = Some(now + ACK_TIMEOUT);
                            resent = false;
                        }
                    }
                    continue;
                }
            };
            let now = tokio::time::Instant::now();
            let msg = match received {
                Err(_) if now >= deadline => return Err(timed_out()),
                Err(_) if silence_deadline.is_some_and(|s| now >= s) => {
                    metrics::counter!("miroir_bus_requests_total", "service" => service, "outcome" => "lost").increment(1);
                    tracing::debug!(service, op = R::OP, waited = ?started.elapsed(), acknowledged,
                        "no word from the replica since the connection to NATS was made again");
                    return Err(MeiliError::new(
                        ErrorCode::ServiceTimeout,
                        format!(
                            "The connection to NATS was lost while the Miroir `{service}` service \
                             handled the request, and no answer came after it was made again: \
                             the request may or may not have been carried out. Retry later."
                        ),
                    ));
                }
                Err(_) if ack_deadline.is_some_and(|a| now >= a) && !resent => {
                    // Not acknowledged: the request was lost on its way to a replica.
                    metrics::counter!("miroir_bus_resends_total", "service" => service)
                        .increment(1);
                    resent = true;
                    ack_deadline = Some(now + ACK_TIMEOUT);
                    tokio::time::timeout_at(deadline, publish(headers()))
                        .await
                        .map_err(|_| timed_out())??;
                    continue;
                }
                Err(_) => {
                    ack_deadline = None;
                    continue;
                }
                Ok(None) => return Err(MeiliError::service_unavailable(service)),
                Ok(Some(m)) => m,
            };
            acknowledged = true;
            if silence_deadline.is_some() {
                silence_deadline = Some(now + LOST_AFTER);
            }
            if msg.status == Some(async_nats::StatusCode::NO_RESPONDERS) {
                metrics::counter!("miroir_bus_requests_total", "service" => service, "outcome" => "no_responders").increment(1);
                return Err(MeiliError::service_unavailable(service));
            }
            let headers = msg.headers.as_ref();
            if headers.is_some_and(|h| h.get(ACK_HEADER).is_some()) {
                ack_deadline = None;
                continue;
            }
            let part = match headers.and_then(|h| h.get(REPLY_PART_HEADER)) {
                None if expected_seq == 0 => break msg.payload,
                None => {
                    return Err(MeiliError::internal(format!(
                        "a whole reply from {service} arrived after part {expected_seq} of another"
                    )));
                }
                Some(value) => ReplyPart::parse(value.as_str()).ok_or_else(|| {
                    MeiliError::internal(format!(
                        "bad reply part header from {service}: {}",
                        value.as_str()
                    ))
                })?,
            };
            if part.seq != expected_seq {
                return Err(MeiliError::internal(format!(
                    "reply parts from {service} arrived out of order ({} after {})",
                    part.seq, expected_seq
                )));
            }
            expected_seq += 1;
            assembled.extend_from_slice(&msg.payload);
            if part.is_last() {
                break assembled.freeze();
            }
        };
        drop(waiter);
        metrics::histogram!("miroir_bus_request_seconds", "service" => service, "op" => R::OP)
            .record(started.elapsed().as_secs_f64());
        let outcome = decode_outcome::<R::Reply>(&whole)
            .map_err(|e| MeiliError::internal(format!("bad reply from {service}: {e}")))?;
        outcome.into()
    }
}

/// The NATS headers of a request made as the span `active`: its `traceparent` (the receiver's
/// parent) and the `tracestate` it was given.
fn trace_headers(active: &trace::Active) -> async_nats::HeaderMap {
    let mut headers = async_nats::HeaderMap::new();
    let traceparent = active.context.to_bytes();
    // Hex digits and dashes: always UTF-8.
    if let Ok(value) = std::str::from_utf8(&traceparent) {
        headers.insert(TRACEPARENT_HEADER, value);
    }
    if let Some(state) = active.state.as_ref().and_then(|s| s.to_str().ok()) {
        headers.insert(TRACESTATE_HEADER, state);
    }
    headers
}

/// Send `req` to its service's queue group and wait for the whole reply, over a reply
/// subscription of its own. For one-off callers (tools, tests); a service that sends requests
/// keeps a [`Requester`]. It does not watch for reconnections: a reply lost with the connection
/// costs it its whole `timeout`.
pub async fn request<R: Rpc>(
    nats: &Client,
    req: &R,
    timeout: Duration,
) -> Result<R::Reply, MeiliError> {
    let requester = Requester::one_off(nats.clone())
        .await
        .map_err(|e| MeiliError::internal(e.to_string()))?;
    requester.request(req, timeout).await
}

/// Publish an encoded outcome to `reply`: as it is when it fits the server's max payload, else
/// in parts marked with [`REPLY_PART_HEADER`].
async fn send_reply(
    nats: &Client,
    reply: async_nats::Subject,
    encoded: Vec<u8>,
) -> anyhow::Result<()> {
    let max_payload = nats.max_payload();
    let bytes = Bytes::from(encoded);
    if bytes.len() <= max_payload {
        nats.publish(reply, bytes).await?;
    } else {
        let size = max_payload.saturating_sub(PART_OVERHEAD).max(4096);
        let total = bytes.len().div_ceil(size);
        let total_u32 = u32::try_from(total)?;
        for i in 0..total {
            let part = ReplyPart {
                seq: i as u32,
                total: total_u32,
            };
            let mut headers = async_nats::HeaderMap::new();
            headers.insert(REPLY_PART_HEADER, part.header_value().as_str());
            let end = ((i + 1) * size).min(bytes.len());
            nats.publish_with_headers(reply.clone(), headers, bytes.slice(i * size..end))
                .await?;
        }
    }
    // No flush: the client's connection task writes the reply as soon as it runs, and waiting
    // for it here would cost every reply one more task wake-up. A replica that stops flushes
    // once in `shutdown`.
    Ok(())
}

/// How long a merger's handler may run before its requester is told the request was taken: well
/// under [`ACK_TIMEOUT`], so that the acknowledgement arrives before the requester resends.
pub const ACK_DELAY: Duration = Duration::from_millis(250);

/// When a service acknowledges a request: the merger's reads (searches) only when they are slow,
/// so that a quick one costs one message, not two (its answer says it was taken; a read resent
/// by a requester that heard nothing in time is harmless); every other service at once, so that
/// a write is never sent twice because its acknowledgement came late.
fn ack_delay(kind: Service) -> Duration {
    match kind {
        Service::Merger => ACK_DELAY,
        _ => Duration::ZERO,
    }
}

/// Run `handled`, acknowledging the request (an empty message with [`ACK_HEADER`] to `reply`)
/// first, or only if it has not finished within `delay`; then again every [`HEARTBEAT`] until it
/// has finished, so that a requester that lost its connection meanwhile knows it is still
/// worth waiting for the answer.
async fn acknowledged<T>(
    nats: &Client,
    reply: &async_nats::Subject,
    delay: Duration,
    handled: impl Future<Output = T>,
) -> T {
    tokio::pin!(handled);
    if !delay.is_zero() {
        tokio::select! {
            biased;
            done = &mut handled => return done,
            () = tokio::time::sleep(delay) => {}
        }
    }
    let mut ack = async_nats::HeaderMap::new();
    ack.insert(ACK_HEADER, "1");
    loop {
        let _ = nats
            .publish_with_headers(reply.clone(), ack.clone(), Bytes::new())
            .await;
        tokio::select! {
            biased;
            done = &mut handled => return done,
            () = tokio::time::sleep(HEARTBEAT) => {}
        }
    }
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
        server_has_processed_everything_sent(&self.nats).await?;
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
        let kind = self.kind;
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
                    let headers = message.headers.as_ref();
                    let request_id = headers
                        .and_then(|h| h.get(REQUEST_ID_HEADER))
                        .map(|v| v.to_string());
                    let (active, parent) = trace::Active::received(
                        headers
                            .and_then(|h| h.get(TRACEPARENT_HEADER))
                            .map(|v| v.as_str()),
                        headers
                            .and_then(|h| h.get(TRACESTATE_HEADER))
                            .map(|v| v.as_str()),
                    );
                    let span = tracing::info_span!(
                        target: trace::TARGET,
                        "rpc",
                        service = kind.name(),
                        op = R::OP,
                        trace_id = %active.context.trace_id(),
                        span_id = %active.context.span_id(),
                        parent_span_id = tracing::field::Empty,
                    );
                    trace::record_parent(&span, parent);
                    let outcome: Outcome<R::Reply> = match decode::<R>(&message.payload) {
                        Ok(req) => {
                            let handled =
                                trace::scope(active, handler(req, request_id).instrument(span));
                            acknowledged(&nats, &reply, ack_delay(kind), handled)
                                .await
                                .into()
                        }
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
                    if let Err(e) = send_reply(&nats, reply, encoded).await {
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

/// Wait until the server has processed everything this connection sent before, subscriptions
/// included. A flush only writes them to the socket: a request published on another connection
/// right after could still find no subscriber (503). The server handles one connection's
/// messages in order, so a message to our own fresh inbox coming back is the barrier.
pub async fn server_has_processed_everything_sent(nats: &Client) -> anyhow::Result<()> {
    let barrier = nats.new_inbox();
    let mut sub = nats
        .subscribe(barrier.clone())
        .await
        .map_err(|e| anyhow::anyhow!("cannot subscribe to {barrier}: {e}"))?;
    nats.publish(barrier.clone(), Bytes::new())
        .await
        .map_err(|e| anyhow::anyhow!("cannot publish to {barrier}: {e}"))?;
    nats.flush()
        .await
        .map_err(|e| anyhow::anyhow!("cannot flush subscriptions: {e}"))?;
    match tokio::time::timeout(Duration::from_secs(10), sub.next()).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => anyhow::bail!("the connection closed while waiting for the server"),
        Err(_) => anyhow::bail!("the server did not echo {barrier} within 10 s"),
    }
}
