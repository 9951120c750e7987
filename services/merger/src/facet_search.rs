//! `FacetSearch`: the client's facet-search request to one copy of every shard, the counts
//! summed and the values ordered and cut as one whole index would ([`miroir_merge::facet_search`]).

use bytes::Bytes;
use miroir_proto::MeiliError;
use miroir_proto::rpc::JsonBody;
use miroir_proto::rpc_search::FacetSearch;
use reqwest::Method;
use serde_json::Value;
use tokio::time::Instant;

use crate::fetch::ShardCall;
use crate::gather::{gather, scatter};
use crate::metrics;
use crate::state::Merger;

pub async fn facet_search(merger: &Merger, request: FacetSearch) -> Result<JsonBody, MeiliError> {
    let started = Instant::now();
    let result = run(merger, &request, started).await;
    metrics::request("facet_search", started.elapsed(), &result);
    result
}

async fn run(
    merger: &Merger,
    request: &FacetSearch,
    started: Instant,
) -> Result<JsonBody, MeiliError> {
    let deadline = merger.deadline(request.deadline_ms);
    let topology = merger.topology();
    let record = merger.index(&topology, &request.index_uid)?;
    let client: Value = serde_json::from_slice(&request.body)
        .map_err(|e| MeiliError::malformed_payload("json", e))?;
    let ctx = merger.merge_context(&topology, &record, deadline).await?;
    let shards = merger.shards(&record)?;
    // Every shard checks the request itself (facet name, filter, ...), so it goes as it came.
    let call = ShardCall {
        op: "facet_search",
        method: Method::POST,
        suffix: "/facet-search",
        body: None,
    };
    let requests = shards
        .iter()
        .map(|&shard| (shard, Some(request.body.clone())))
        .collect();
    let answers = scatter(merger, &topology, &record, &call, requests, deadline).await;
    let responses = gather(answers)?;
    let facet_name = client
        .get("facetName")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if miroir_merge::facet_search::may_be_cut(&responses, facet_name, &ctx) {
        metrics::facet_values_cut();
    }
    let mut merged = miroir_merge::facet_search::merge(&responses, facet_name, &ctx)?;
    if let Some(answer) = merged.as_object_mut() {
        let took = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        answer.insert("processingTimeMs".into(), Value::from(took));
    }
    let bytes = serde_json::to_vec(&merged).map_err(|e| MeiliError::internal(e.to_string()))?;
    Ok(JsonBody {
        body: Bytes::from(bytes),
    })
}
