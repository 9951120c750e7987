//! `Search`: scatter the planned request to one copy of every shard, gather, merge exactly.

use bytes::Bytes;
use miroir_merge::IndexMergeContext;
use miroir_proto::MeiliError;
use miroir_proto::rpc::{JsonBody, Search};
use reqwest::Method;
use serde_json::Value;
use tokio::time::Instant;

use crate::fetch::ShardCall;
use crate::gather::{first_shard_verdict, gather, scatter};
use crate::metrics;
use crate::state::Merger;

pub async fn search(merger: &Merger, request: Search) -> Result<JsonBody, MeiliError> {
    let started = Instant::now();
    let result = run(merger, &request, started).await;
    metrics::request("search", started.elapsed(), &result);
    result
}

async fn run(merger: &Merger, request: &Search, started: Instant) -> Result<JsonBody, MeiliError> {
    let deadline = merger.deadline(request.deadline_ms);
    let topology = merger.topology();
    let record = merger.index(&topology, &request.index_uid)?;
    let client: Value = serde_json::from_slice(&request.body)
        .map_err(|e| MeiliError::malformed_payload("json", e))?;
    let ctx = merger.merge_context(&topology, &record, deadline).await?;
    let shards = merger.shards(&record)?;
    let plan = match miroir_merge::plan(&client, &ctx) {
        Ok(plan) => plan,
        Err(own) => {
            let call = ShardCall {
                op: "search",
                method: Method::POST,
                suffix: "/search",
                body: Some(request.body.clone()),
            };
            return Err(first_shard_verdict(
                merger, &topology, &record, &shards, &call, deadline, own,
            )
            .await);
        }
    };
    let body = Bytes::from(
        serde_json::to_vec(plan.shard_request())
            .map_err(|e| MeiliError::internal(e.to_string()))?,
    );
    let call = ShardCall {
        op: "search",
        method: Method::POST,
        suffix: "/search",
        body: None,
    };
    let requests = shards
        .iter()
        .map(|&shard| (shard, Some(body.clone())))
        .collect();
    let answers = scatter(merger, &topology, &record, &call, requests, deadline).await;
    let responses = gather(answers)?;
    note_cut_facets(&ctx, &responses);
    let mut merged = miroir_merge::merge(&plan, &responses, &ctx)?;
    if let Some(answer) = merged.as_object_mut() {
        let took = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        answer.insert("processingTimeMs".into(), Value::from(took));
        if let Some(uid) = answer.get_mut("requestUid") {
            *uid = Value::from(uuid::Uuid::new_v4().to_string());
        }
    }
    let bytes = serde_json::to_vec(&merged).map_err(|e| MeiliError::internal(e.to_string()))?;
    Ok(JsonBody {
        body: Bytes::from(bytes),
    })
}

/// In count order a shard's list of values stops at its limit, so a value beyond it on that
/// shard is missing from the sum: count each answer where that may have happened.
fn note_cut_facets(ctx: &IndexMergeContext, responses: &[Value]) {
    let by_count = |facet: &str| {
        let order = ctx
            .sort_facet_values_by
            .get(facet)
            .or_else(|| ctx.sort_facet_values_by.get("*"));
        order.is_some_and(|o| o == "count")
    };
    if miroir_merge::facets::shard_max_values_per_facet(ctx) <= ctx.max_values_per_facet {
        return;
    }
    let cut = responses
        .iter()
        .filter_map(|r| r.get("facetDistribution").and_then(Value::as_object))
        .any(|d| {
            d.iter().any(|(facet, values)| {
                by_count(facet)
                    && values
                        .as_object()
                        .is_some_and(|v| v.len() >= ctx.max_values_per_facet)
            })
        });
    if cut {
        metrics::facet_values_cut();
    }
}
