//! Gathering the shards' answers, and the errors that replace them.

use bytes::Bytes;
use miroir_cluster::topology::Topology;
use miroir_cluster::trace;
use miroir_placement::ShardId;
use miroir_proto::MeiliError;
use miroir_proto::topology::IndexRecord;
use serde_json::Value;
use tracing::Instrument;

use crate::fetch::ShardCall;
use crate::state::{Deadline, Merger};

/// One request per listed shard, each with its own body (or none), to one copy of each shard,
/// all in parallel; the answers in the order of `requests`. All shards start on the same
/// rotation turn, so successive requests spread over the copies. The fan-out is a `scatter`
/// span of the request's trace, the parent of each copy's `shard_request` span ([`crate::fetch`]).
pub async fn scatter(
    merger: &Merger,
    topology: &Topology,
    record: &IndexRecord,
    template: &ShardCall<'_>,
    requests: Vec<(ShardId, Option<Bytes>)>,
    deadline: Deadline,
) -> Vec<Result<Bytes, MeiliError>> {
    let turn = merger.next_turn();
    let latency = merger.latency();
    let (active, parent) = trace::child_of_current();
    let span = tracing::debug_span!(
        target: trace::TARGET,
        "scatter",
        op = template.op,
        index = %record.uid,
        shards = requests.len(),
        trace_id = %active.context.trace_id(),
        span_id = %active.context.span_id(),
        parent_span_id = tracing::field::Empty,
    );
    trace::record_parent(&span, parent);
    let all = futures::future::join_all(requests.into_iter().map(|(shard, body)| {
        let replicas = merger.replicas(topology, record, shard, &latency, turn);
        let call = ShardCall {
            body,
            ..template.clone()
        };
        async move {
            merger
                .read_shard(&replicas, record, shard, &call, deadline)
                .await
        }
    }));
    trace::scope(active, all.instrument(span)).await
}

/// The shards' answers in shard order, decoded, or the error that replaces them (see
/// [`gather_bytes`]).
pub fn gather(answers: Vec<Result<Bytes, MeiliError>>) -> Result<Vec<Value>, MeiliError> {
    gather_bytes(answers)?
        .iter()
        .map(|bytes| {
            serde_json::from_slice(bytes)
                .map_err(|e| MeiliError::internal(format!("a shard's answer is not JSON: {e}")))
        })
        .collect()
}

/// The shards' answers in shard order as they came (the search merge reads them without
/// decoding the documents), or the error that replaces them: a client error (the lowest
/// shard's, all shards holding the same settings) before an unavailable shard.
pub fn gather_bytes(answers: Vec<Result<Bytes, MeiliError>>) -> Result<Vec<Bytes>, MeiliError> {
    let mut responses = Vec::with_capacity(answers.len());
    let mut unavailable = None;
    for answer in answers {
        match answer {
            Ok(bytes) => responses.push(bytes),
            Err(e) if e.status < 500 => return Err(e),
            Err(e) => {
                unavailable.get_or_insert(e);
            }
        }
    }
    match unavailable {
        Some(e) => Err(e),
        None => Ok(responses),
    }
}

/// When the merger rejects a request before sending it, the client must still get the error
/// one Meilisearch node would give (its checks come in its own order, with its own words): the
/// client's request goes to the first shard as is, and its refusal stands. `own` is only used if
/// that shard unexpectedly accepts it.
pub async fn first_shard_verdict(
    merger: &Merger,
    topology: &Topology,
    record: &IndexRecord,
    shards: &[ShardId],
    call: &ShardCall<'_>,
    deadline: Deadline,
    own: MeiliError,
) -> MeiliError {
    let Some(&first) = shards.first() else {
        return own;
    };
    let replicas = merger.replicas(
        topology,
        record,
        first,
        &merger.latency(),
        merger.next_turn(),
    );
    match merger
        .read_shard(&replicas, record, first, call, deadline)
        .await
    {
        Ok(_) => own,
        Err(e) => e,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use miroir_proto::{Code, ErrorType};

    fn err(status: u16, code: &str) -> Result<Bytes, MeiliError> {
        Err(MeiliError {
            status,
            code: Code::from_wire(code),
            error_type: ErrorType::InvalidRequest,
            message: code.to_string(),
        })
    }

    #[test]
    fn a_client_error_wins_over_an_unavailable_shard_and_the_lowest_shard_wins() {
        let ok = || Ok(Bytes::from_static(b"{}"));
        let e = gather(vec![
            ok(),
            err(503, "shard_unavailable"),
            err(400, "first"),
            err(400, "second"),
        ])
        .unwrap_err();
        assert_eq!(e.code, "first");
        let e = gather(vec![
            ok(),
            err(504, "shard_timeout"),
            err(503, "shard_unavailable"),
        ])
        .unwrap_err();
        assert_eq!(e.code, "shard_timeout");
        assert_eq!(gather(vec![ok(), ok()]).unwrap().len(), 2);
    }
}
