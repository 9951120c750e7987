//! One request to one shard, answered by the first copy that can: retry another copy when one
//! is unreachable or failing, hedge a slow one, give up at the request's deadline.
//!
//! What counts as the copy's fault (try the next one): a transport failure or timeout, a 5xx,
//! a 401/403 (the node refuses Miroir's own key: a misconfigured node, not a client error) and
//! `index_not_found` (the index exists in the topology, so this copy lacks its shard: a node that
//! lost its data, or one the placement moved away from). Any other 4xx is the client's error:
//! every copy would say the same, so it is returned at once and no other copy is asked.

use std::time::Duration;

use bytes::Bytes;
use futures::stream::{FuturesUnordered, StreamExt};
use miroir_cluster::node::{NodeClient, NodeError};
use miroir_placement::ShardId;
use miroir_proto::MeiliError;
use reqwest::Method;
use tokio::time::Instant;

use crate::errors;
use crate::metrics;
use crate::replicas::Replica;

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
    /// The error the client gets, naming the index and the shard.
    pub fn into_error(
        self,
        index_uid: &str,
        shard: ShardId,
        deadline_ms: u64,
        op: &'static str,
    ) -> MeiliError {
        match self {
            ShardFailure::Client(e) => errors::from_node(e, index_uid),
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
        NodeError::Meili(e) if e.code == "index_not_found" => {
            Some("the copy's index is missing".to_owned())
        }
        NodeError::Meili(_) => None,
    }
}

/// Reads shards through a [`NodeClient`].
#[derive(Clone)]
pub struct Reader {
    nodes: NodeClient,
    hedge_after: Option<Duration>,
}

impl Reader {
    pub fn new(nodes: NodeClient, hedge_after: Option<Duration>) -> Self {
        Reader { nodes, hedge_after }
    }

    /// Send `call` to the copies in `replicas`, in order, until one answers (2xx body) or
    /// refuses the request as the client's error. A copy silent for `hedge_after` gets the next
    /// copy asked too; the first answer wins and the others are dropped (their connections
    /// closed).
    pub async fn read(
        &self,
        replicas: &[Replica],
        call: &ShardCall<'_>,
        deadline: Instant,
    ) -> Result<Bytes, ShardFailure> {
        let mut next = 0usize;
        let mut tried: Vec<String> = Vec::new();
        let mut in_flight = FuturesUnordered::new();
        let attempt = |i: usize| {
            let replica = replicas.get(i).cloned();
            let nodes = self.nodes.clone();
            let path = replica
                .as_ref()
                .map(|r| format!("/indexes/{}{}", r.index, call.suffix))
                .unwrap_or_default();
            let method = call.method.clone();
            let body = call.body.clone().map(|b| ("application/json", b));
            async move {
                let started = Instant::now();
                let Some(replica) = replica else {
                    let missing = NodeError::Unreachable {
                        url: String::new(),
                        reason: "no such copy".into(),
                    };
                    return (String::new(), started, Err(missing));
                };
                let result = nodes.send(&replica.url, method, &path, body).await;
                (replica.node, started, result)
            }
        };
        if replicas.is_empty() {
            return Err(ShardFailure::Unavailable { tried });
        }
        in_flight.push(attempt(next));
        next += 1;
        let far = deadline + Duration::from_secs(3600);
        let hedge_at = |now: Instant| self.hedge_after.map_or(far, |d| now + d);
        let hedge = tokio::time::sleep_until(hedge_at(Instant::now()));
        let expired = tokio::time::sleep_until(deadline);
        tokio::pin!(hedge, expired);
        loop {
            tokio::select! {
                Some((node, started, result)) = in_flight.next() => match result {
                    Ok((_, body)) => {
                        metrics::shard_answered(call.op, &node, started.elapsed());
                        return Ok(body);
                    }
                    Err(error) => match copy_fault(&error) {
                        None => {
                            metrics::shard_answered(call.op, &node, started.elapsed());
                            return Err(match error {
                                NodeError::Meili(e) => ShardFailure::Client(e),
                                NodeError::Unreachable { .. } => ShardFailure::Unavailable { tried },
                            });
                        }
                        Some(reason) => {
                            tracing::warn!(op = call.op, node = %node, %reason, "a shard copy failed; trying another");
                            tried.push(node);
                            if next < replicas.len() {
                                metrics::retry(call.op);
                                in_flight.push(attempt(next));
                                next += 1;
                                hedge.as_mut().reset(hedge_at(Instant::now()));
                            } else if in_flight.is_empty() {
                                return Err(ShardFailure::Unavailable { tried });
                            }
                        }
                    },
                },
                () = &mut hedge, if next < replicas.len() && !in_flight.is_empty() => {
                    metrics::hedge(call.op);
                    in_flight.push(attempt(next));
                    next += 1;
                    hedge.as_mut().reset(hedge_at(Instant::now()));
                }
                () = &mut expired => return Err(ShardFailure::Timeout),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use miroir_proto::ErrorType;

    fn meili(status: u16, code: &str) -> NodeError {
        NodeError::Meili(MeiliError::new(
            status,
            code,
            ErrorType::InvalidRequest,
            "m",
        ))
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
