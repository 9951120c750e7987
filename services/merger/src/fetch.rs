//! One request to one shard, answered by the first copy that can: retry another copy when one
//! is unreachable or failing, hedge a slow one, give up at the request's deadline.
//!
//! What counts as the copy's fault (try the next one): a transport failure or timeout, a 5xx,
//! a 401/403 (the node refuses Miroir's own key: a misconfigured node, not a client error) and
//! `index_not_found` (the index exists in the topology, so this copy lacks its shard: a node that
//! lost its data, or one the placement moved away from). Any other 4xx is the client's error:
//! every copy would say the same, so it is returned at once and no other copy is asked.
//!
//! Hedging adapts to what the merger measures ([`crate::latency`]): a copy is hedged when it is
//! slower than its node usually is, and hedges are bounded by a budget ([`crate::budget`]) so that
//! a slow node cannot double the load on the others. Both follow how hedges fare
//! ([`Patience`]): while the copies they were sent beside keep answering first, hedges come
//! later and the budget shrinks. The copy that loses is read on briefly ([`DRAIN_GRACE`]) so
//! that its connection is kept.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::{FuturesUnordered, StreamExt};
use miroir_cluster::node::{NodeClient, NodeError};
use miroir_cluster::trace;
use miroir_placement::ShardId;
use miroir_proto::{ErrorCode, MeiliError};
use reqwest::Method;
use tokio::time::Instant;
use tracing::Instrument;

use crate::budget::HedgeBudget;
use crate::errors;
use crate::latency::{self, Patience, Snapshot, Tracker};
use crate::metrics;
use crate::replicas::Replica;

/// How long a request still in flight when its shard's answer is known (a hedge that lost, or
/// the copy a hedge overtook) is read on in the background before it is dropped.
///
/// Dropping it closes its connection, and the node runs the search anyway (a search is not
/// cancelled by a closed connection), so the next read from that node would open a new one: a
/// TCP handshake for both sides, and a close. A copy that answers within the grace keeps its
/// connection in the pool; one that does not (a stalled node) is dropped, so that connections to
/// a stalled node do not pile up.
pub const DRAIN_GRACE: Duration = Duration::from_millis(100);

/// Read what is left in `in_flight` to its end in the background, within [`DRAIN_GRACE`] and
/// `deadline`; see there.
fn drain<F>(in_flight: FuturesUnordered<F>, deadline: Instant)
where
    F: Future + Send + 'static,
    F::Output: Send,
{
    if in_flight.is_empty() {
        return;
    }
    let until = deadline.min(Instant::now() + DRAIN_GRACE);
    tokio::spawn(async move {
        let _ = tokio::time::timeout_at(until, in_flight.for_each(|_| async {})).await;
    });
}

/// What to send to whichever copy answers.
#[derive(Clone, Debug)]
pub struct ShardCall<'a> {
    /// Metrics label: `search`, `document`, `fetch`, `stats`, `settings`.
    pub op: &'static str,
    pub method: Method,
    /// What follows `/indexes/{node-local index}`: `/search`, `/settings`, `/documents/7?fields=a`.
    pub suffix: &'a str,
    /// A JSON body.
    pub body: Option<Bytes>,
}

/// Why a shard gave no answer.
#[derive(Debug)]
pub enum ShardFailure {
    /// A copy refused the request itself (bad filter, unknown field...), as the node worded it.
    Client(MeiliError),
    /// Every copy was tried and failed; the node ids in the order tried.
    Unavailable { tried: Vec<String> },
    /// The deadline passed with copies still silent.
    Timeout,
}

impl ShardFailure {
    /// The error the client gets, naming the index and the shard. `storage_base` is the base
    /// of the shards' node-local names (the record's `storage_base()`).
    pub fn into_error(
        self,
        index_uid: &str,
        storage_base: &str,
        shard: ShardId,
        deadline_ms: u64,
        op: &'static str,
    ) -> MeiliError {
        match self {
            ShardFailure::Client(e) => {
                miroir_cluster::rewrite_shard_names(e, storage_base, index_uid)
            }
            ShardFailure::Unavailable { tried } => {
                metrics::shard_unavailable(op);
                let detail = if tried.is_empty() {
                    "no copy is on a node that is up or suspect".to_owned()
                } else {
                    format!("no copy answered (tried on {})", tried.join(", "))
                };
                errors::shard_unavailable(index_uid, shard, &detail)
            }
            ShardFailure::Timeout => {
                metrics::shard_unavailable(op);
                errors::shard_timeout(index_uid, shard, deadline_ms)
            }
        }
    }
}

/// `Some(reason)` when another copy should be tried.
fn copy_fault(error: &NodeError) -> Option<String> {
    match error {
        NodeError::Unreachable { reason, .. } => Some(reason.clone()),
        NodeError::Meili(e) if e.status >= 500 || e.status == 401 || e.status == 403 => {
            Some(format!("HTTP {} {}: {}", e.status, e.code, e.message))
        }
        NodeError::Meili(e) if e.code == ErrorCode::IndexNotFound => {
            Some("the copy's index is missing".to_owned())
        }
        NodeError::Meili(_) => None,
    }
}

/// When to hedge, and how much.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HedgePolicy {
    /// The shortest wait for a copy before hedging it.
    pub min: Duration,
    /// The longest wait, and the wait for a copy not yet measured.
    pub max: Duration,
    /// Hedges per hundred reads, at most ([`HedgeBudget`]).
    pub budget_percent: u32,
}

/// Reads shards through a [`NodeClient`], measuring every node it asks.
#[derive(Clone)]
pub struct Reader {
    nodes: NodeClient,
    hedging: Option<HedgePolicy>,
    latency: Arc<Tracker>,
    budget: Arc<HedgeBudget>,
}

impl Reader {
    /// `hedging: None` never hedges.
    pub fn new(nodes: NodeClient, hedging: Option<HedgePolicy>) -> Self {
        let budget = HedgeBudget::new(hedging.map_or(0, |h| h.budget_percent));
        Reader {
            nodes,
            hedging,
            latency: Arc::new(Tracker::default()),
            budget: Arc::new(budget),
        }
    }

    /// How many deviations past a node's mean a read now waits before it is hedged.
    pub fn patience(&self) -> f64 {
        self.budget.patience(Instant::now())
    }

    /// The latency estimates of the nodes asked so far, to order copies by
    /// ([`crate::replicas::read_order`]).
    pub fn latency(&self) -> Snapshot {
        self.latency.snapshot()
    }

    /// Send `call` to the copies in `replicas`, in order, until one answers (2xx body) or
    /// refuses the request as the client's error.
    ///
    /// - A copy fault moves on to the next copy at once, whatever the hedge budget; when every
    ///   copy has failed the answer is [`ShardFailure::Unavailable`], never an empty body.
    /// - A copy silent for longer than its node usually takes ([`latency::hedge_delay`]) gets
    ///   the next copy asked too, if the [`HedgeBudget`] allows; the first answer wins and the
    ///   others are dropped (their connections closed). A refused hedge is asked for again after
    ///   the same delay.
    /// - Every answer, fault, abandoned request and deadline feeds the node's latency estimate.
    /// - Each copy asked is a `shard_request` span (node, shard, node-local index) under the
    ///   current span, sent to the node as its `traceparent`.
    pub async fn read(
        &self,
        replicas: &[Replica],
        shard: ShardId,
        call: &ShardCall<'_>,
        deadline: Instant,
    ) -> Result<Bytes, ShardFailure> {
        let mut tried: Vec<String> = Vec::new();
        if replicas.is_empty() {
            return Err(ShardFailure::Unavailable { tried });
        }
        // The read's share of the hedge budget, and how patient it is before hedging: both
        // follow how hedges fared (see `budget`).
        let deviations = if self.hedging.is_some() {
            self.budget.deposit(Instant::now())
        } else {
            Patience::FLOOR
        };
        let node_of = |i: usize| replicas.get(i).map_or("", |r| r.node.as_str());
        let attempt = |i: usize| {
            let replica = replicas.get(i).cloned();
            let nodes = self.nodes.clone();
            let path = replica
                .as_ref()
                .map(|r| format!("/indexes/{}{}", r.index, call.suffix))
                .unwrap_or_default();
            let method = call.method.clone();
            let body = call.body.clone().map(|b| ("application/json", b));
            // Each copy asked is a span of its own: the node gets it as its `traceparent`.
            let (active, parent) = trace::child_of_current();
            let span = tracing::debug_span!(
                target: trace::TARGET,
                "shard_request",
                op = call.op,
                node = node_of(i),
                shard = shard.get(),
                index = replica.as_ref().map_or("", |r| r.index.as_str()),
                trace_id = %active.context.trace_id(),
                span_id = %active.context.span_id(),
                parent_span_id = tracing::field::Empty,
            );
            trace::record_parent(&span, parent);
            let request = async move {
                let Some(replica) = replica else {
                    let missing = NodeError::Unreachable {
                        url: String::new(),
                        reason: "no such copy".into(),
                    };
                    return (i, Err(missing));
                };
                // Dropped when the deadline below passes, which cancels it.
                let result = nodes
                    .send_before(&replica.url, method, &path, body, deadline)
                    .await;
                tracing::debug!(
                    target: trace::TARGET,
                    status = match &result {
                        Ok((status, _)) => *status,
                        Err(NodeError::Meili(e)) => e.status,
                        Err(NodeError::Unreachable { .. }) => 0,
                    },
                    "shard request done"
                );
                (i, result)
            };
            trace::scope(active, request.instrument(span))
        };
        let far = deadline + Duration::from_secs(3600);
        let hedge_at = |i: usize| {
            self.hedging.map_or(far, |h| {
                let observed = self.latency.get(node_of(i));
                Instant::now() + latency::hedge_delay(observed.as_ref(), deviations, h.min, h.max)
            })
        };
        // Requests sent and not answered yet: (copy, sent at).
        let mut outstanding: Vec<(usize, Instant)> = Vec::new();
        let mut in_flight = FuturesUnordered::new();
        in_flight.push(attempt(0));
        outstanding.push((0, Instant::now()));
        let mut next = 1usize;
        // Copies asked as hedges (the others: the first, and retries after a fault).
        let mut hedges: Vec<usize> = Vec::new();
        let mut refused = false;
        // One timer per read, for the next hedge or the deadline, whichever comes first: a timer
        // set while the runtime is awake wakes its driver (a syscall), once per timer.
        let timer = tokio::time::sleep_until(hedge_at(0).min(deadline));
        tokio::pin!(timer);
        let abandon = |outstanding: &[(usize, Instant)]| {
            for (i, sent) in outstanding {
                self.latency.abandoned(node_of(*i), sent.elapsed());
            }
        };
        loop {
            tokio::select! {
                Some((i, result)) = in_flight.next() => {
                    let sent = outstanding.iter().find(|(j, _)| *j == i).map_or_else(Instant::now, |(_, t)| *t);
                    outstanding.retain(|(j, _)| *j != i);
                    let node = node_of(i);
                    let elapsed = sent.elapsed();
                    match result {
                        Ok((_, body)) => {
                            if !hedges.is_empty() {
                                let won = hedges.contains(&i);
                                if won {
                                    metrics::hedge_won(call.op);
                                }
                                metrics::hedge_patience(self.budget.settled(won, Instant::now()));
                            }
                            self.latency.answered(node, call.op, elapsed);
                            abandon(&outstanding);
                            drain(in_flight, deadline);
                            return Ok(body);
                        }
                        Err(error) => match copy_fault(&error) {
                            None => {
                                self.latency.answered(node, call.op, elapsed);
                                abandon(&outstanding);
                                drain(in_flight, deadline);
                                return Err(match error {
                                    NodeError::Meili(e) => ShardFailure::Client(e),
                                    NodeError::Unreachable { .. } => ShardFailure::Unavailable { tried },
                                });
                            }
                            Some(reason) => {
                                tracing::warn!(op = call.op, node = %node, %reason, "a shard copy failed; trying another");
                                self.latency.failed(node, elapsed);
                                tried.push(node.to_owned());
                                if next < replicas.len() {
                                    metrics::retry(call.op);
                                    in_flight.push(attempt(next));
                                    outstanding.push((next, Instant::now()));
                                    timer.as_mut().reset(hedge_at(next).min(deadline));
                                    next += 1;
                                    refused = false;
                                } else if in_flight.is_empty() {
                                    return Err(ShardFailure::Unavailable { tried });
                                }
                            }
                        },
                    }
                },
                () = &mut timer => {
                    if Instant::now() >= deadline {
                        for (i, sent) in &outstanding {
                            self.latency.failed(node_of(*i), sent.elapsed());
                        }
                        return Err(ShardFailure::Timeout);
                    }
                    if next >= replicas.len() || in_flight.is_empty() {
                        // No copy left to hedge with: only the deadline is left to wait for.
                        timer.as_mut().reset(deadline);
                    } else if self.budget.try_take() {
                        metrics::hedge(call.op);
                        hedges.push(next);
                        in_flight.push(attempt(next));
                        outstanding.push((next, Instant::now()));
                        timer.as_mut().reset(hedge_at(next).min(deadline));
                        next += 1;
                        refused = false;
                    } else {
                        if !refused {
                            metrics::hedge_refused(call.op);
                            refused = true;
                        }
                        // Other reads refill the budget: ask again after the same wait.
                        timer.as_mut().reset(hedge_at(next - 1).min(deadline));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use miroir_proto::{Code, ErrorType};

    fn meili(status: u16, code: &str) -> NodeError {
        NodeError::Meili(MeiliError {
            status,
            code: Code::from_wire(code),
            error_type: ErrorType::InvalidRequest,
            message: "m".to_string(),
        })
    }

    #[test]
    fn whose_fault() {
        assert!(
            copy_fault(&NodeError::Unreachable {
                url: "u".into(),
                reason: "refused".into()
            })
            .is_some()
        );
        assert!(copy_fault(&meili(500, "internal")).is_some());
        assert!(copy_fault(&meili(403, "invalid_api_key")).is_some());
        assert!(copy_fault(&meili(404, "index_not_found")).is_some());
        assert!(copy_fault(&meili(400, "invalid_search_filter")).is_none());
        assert!(copy_fault(&meili(404, "document_not_found")).is_none());
    }
}
