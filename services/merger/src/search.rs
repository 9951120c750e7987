//! `Search`: scatter the planned request to one copy of every shard, gather, merge exactly.
//!
//! The shards' answers stay bytes: the merge reads what it needs of them and splices the hits
//! into the answer ([`miroir_merge::merge_or_deepen`]). Each shard is asked for its likely
//! share of the client's window, not the whole of it ([`ShardPlan::spread_over`]); a shard
//! whose share the merge uses up is asked again for the whole window. Count-ordered facets
//! whose lists a shard cut take a second round for the counts they miss ([`facet_counts`]).

use bytes::Bytes;
use miroir_cluster::topology::Topology;
use miroir_merge::facets::{FacetCount, SecondRound};
use miroir_merge::{IndexMergeContext, Merged, Overrides, ShardPlan};
use miroir_placement::ShardId;
use miroir_proto::MeiliError;
use miroir_proto::rpc::{JsonBody, Search};
use miroir_proto::topology::IndexRecord;
use reqwest::Method;
use serde_json::Value;
use tokio::time::Instant;

use crate::fetch::ShardCall;
use crate::gather::{first_shard_verdict, gather_bytes, scatter};
use crate::metrics;
use crate::state::{Deadline, Merger};

/// The most count searches one search's second round sends; beyond, the facet counts are left
/// as the first round gave them (and counted as possibly cut).
const MAX_COUNT_SEARCHES: usize = 256;

pub async fn search(merger: &Merger, request: Search) -> Result<JsonBody, MeiliError> {
    search_as(merger, request, uuid::Uuid::new_v4().to_string()).await
}

/// [`search`], its answer carrying `request_uid` (the queries of one multi-search share theirs).
pub async fn search_as(
    merger: &Merger,
    request: Search,
    request_uid: String,
) -> Result<JsonBody, MeiliError> {
    let started = Instant::now();
    let result = run(merger, &request, started, request_uid).await;
    metrics::request("search", started.elapsed(), &result);
    result
}

async fn run(
    merger: &Merger,
    request: &Search,
    started: Instant,
    request_uid: String,
) -> Result<JsonBody, MeiliError> {
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
    let plan = plan.spread_over(shards.len());
    let call = ShardCall {
        op: "search",
        method: Method::POST,
        suffix: "/search",
        body: None,
    };
    let body = Bytes::from(
        serde_json::to_vec(plan.shard_request())
            .map_err(|e| MeiliError::internal(e.to_string()))?,
    );
    let requests = shards
        .iter()
        .map(|&shard| (shard, Some(body.clone())))
        .collect();
    let answers = scatter(merger, &topology, &record, &call, requests, deadline).await;
    let mut responses = gather_bytes(answers)?;
    let refs: Vec<&[u8]> = responses.iter().map(|b| b.as_ref()).collect();
    let (round, facet_counts) = facet_counts(
        merger, &topology, &record, &shards, &plan, &ctx, &refs, deadline,
    )
    .await?;
    let mut overrides = Overrides {
        processing_time_ms: None,
        request_uid: Some(request_uid),
        facet_counts,
    };
    // Each shard is asked for its share of the window; one whose share the merge used up is
    // asked again for the whole window (rare: see `ShardPlan::spread_over`), so each shard is
    // asked twice at most.
    let mut whole = vec![false; responses.len()];
    let merged = loop {
        overrides.processing_time_ms =
            Some(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX));
        let refs: Vec<&[u8]> = responses.iter().map(|b| b.as_ref()).collect();
        let cut = match miroir_merge::merge_or_deepen(&plan, &refs, &whole, &ctx, &overrides)? {
            Merged::Answer(merged) => break merged,
            Merged::Deepen(cut) => cut,
        };
        if cut.iter().any(|&i| whole.get(i).is_none_or(|&w| w)) {
            return Err(MeiliError::internal(format!(
                "the merge asked again for shards {cut:?}, already asked for the whole window"
            )));
        }
        metrics::searches_deepened(cut.len());
        let body = Bytes::from(
            serde_json::to_vec(&plan.whole_request())
                .map_err(|e| MeiliError::internal(e.to_string()))?,
        );
        let requests = cut
            .iter()
            .filter_map(|&i| Some((*shards.get(i)?, Some(body.clone()))))
            .collect();
        let answers = scatter(merger, &topology, &record, &call, requests, deadline).await;
        for (&i, answer) in cut.iter().zip(gather_bytes(answers)?) {
            if let (Some(slot), Some(w)) = (responses.get_mut(i), whole.get_mut(i)) {
                *slot = answer;
                *w = true;
            }
        }
    };
    if !round.unseen_bound.is_empty() {
        let distribution = miroir_merge::facet_distributions(&[&merged]);
        let distribution = distribution.first().and_then(Option::as_ref);
        if miroir_merge::facets::may_miss_unseen(&round, distribution, &ctx) {
            metrics::facet_values_cut();
        }
    }
    Ok(JsonBody {
        body: Bytes::from(merged),
    })
}

/// The second round of count-ordered facets: for every value that can be among the first
/// `maxValuesPerFacet` and that a shard with a full (so possibly cut) list did not list, that
/// shard's count of it, read with a `limit: 0` search filtered on the value
/// ([`miroir_merge::facets::count_request`]). All such searches run at once, one per (shard,
/// value), on the pooled connections. Nothing is sent when no count-ordered list is full.
#[allow(clippy::too_many_arguments)]
async fn facet_counts(
    merger: &Merger,
    topology: &Topology,
    record: &IndexRecord,
    shards: &[ShardId],
    plan: &ShardPlan,
    ctx: &IndexMergeContext,
    responses: &[&[u8]],
    deadline: Deadline,
) -> Result<(SecondRound, Vec<FacetCount>), MeiliError> {
    let by_count = ctx.sort_facet_values_by.values().any(|o| o == "count");
    if !by_count || plan.shard_request().get("facets").is_none() {
        return Ok((SecondRound::default(), Vec::new()));
    }
    let distributions = miroir_merge::facet_distributions(responses);
    let views: Vec<_> = distributions.iter().map(Option::as_ref).collect();
    let round = miroir_merge::facets::missing_counts(&views, ctx);
    if round.missing.is_empty() {
        return Ok((round, Vec::new()));
    }
    let mut asked = Vec::new();
    let mut requests = Vec::new();
    for missing in &round.missing {
        let request = miroir_merge::facets::count_request(
            plan.shard_request(),
            &missing.facet,
            &missing.value,
        );
        let (Some(request), Some(&shard)) = (request, shards.get(missing.shard)) else {
            continue;
        };
        let body = serde_json::to_vec(&request).map_err(|e| MeiliError::internal(e.to_string()))?;
        asked.push(missing);
        requests.push((shard, Some(Bytes::from(body))));
    }
    if asked.len() < round.missing.len() || requests.len() > MAX_COUNT_SEARCHES {
        // A facet name a filter cannot carry, or too many counts: the sums stay short.
        metrics::facet_values_cut();
        if requests.len() > MAX_COUNT_SEARCHES {
            return Ok((round, Vec::new()));
        }
    }
    let call = ShardCall {
        op: "facet_count",
        method: Method::POST,
        suffix: "/search",
        body: None,
    };
    let answers = scatter(merger, topology, record, &call, requests, deadline).await;
    let answers = gather_bytes(answers)?;
    let mut counts = Vec::with_capacity(answers.len());
    for (missing, answer) in asked.into_iter().zip(answers) {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Count {
            estimated_total_hits: u64,
        }
        let count: Count = serde_json::from_slice(&answer).map_err(|e| {
            MeiliError::internal(format!("a shard's facet count answer is unreadable: {e}"))
        })?;
        counts.push(FacetCount {
            shard: missing.shard,
            facet: missing.facet.clone(),
            value: missing.value.clone(),
            count: count.estimated_total_hits,
        });
    }
    Ok((round, counts))
}
