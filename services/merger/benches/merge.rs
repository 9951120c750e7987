//! CPU cost of one merge, in µs per search, beside a baseline from the same run: parsing the
//! same shard answers into `serde_json::Value` and writing one back (what any path that decodes
//! whole documents pays before it merges anything).
//!
//! Shard answers are built from the npm corpus (real documents, with ranking details shaped as a
//! node writes them), for 4 shards x 20 hits, 8 shards x 100 hits, and 4 shards x 20 hits with
//! facets: two small ones, or `tags` (each shard's 100 most frequent tags of its share of the
//! corpus, overlapping between shards) and `major`, ordered alphabetically or by count; then a
//! federated multi-search's merge of 3 queries' answers x 20 hits (each answer as the sharded
//! search writes it, scores and details shown), with and without `facetsByIndex`.
//! `BENCH_ITERS` (default 2000) changes the number of merges timed per case.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::Instant;

use bytes::Bytes;
use miroir_merge::federation::{self, QueryAnswer};
use miroir_merge::{IndexMergeContext, Overrides, plan};
use miroir_proto::rpc_search::Federation;
use miroir_testkit::npm_documents;
use serde_json::{Value, json};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The facet maps a shard's answer carries.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Facets {
    None,
    /// `scope` and `major`, a few values each.
    Small,
    /// `tags`, the shard's 100 most frequent, and `major`, from the shard's share of `docs`.
    Tags,
}

/// The distribution of `field` (a string or a list of strings or a number) over the documents
/// of `docs` that `shard` of `shards` holds: its `top` most frequent values, listed as
/// Meilisearch lists them alphabetically.
fn distribution(docs: &[Value], shard: usize, shards: usize, field: &str, top: usize) -> Value {
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for doc in docs.iter().skip(shard).step_by(shards) {
        let values = match &doc[field] {
            Value::Array(values) => values.clone(),
            Value::Null => Vec::new(),
            one => vec![one.clone()],
        };
        for value in values {
            let text = match value {
                Value::String(s) => s,
                other => other.to_string(),
            };
            *counts.entry(text).or_default() += 1;
        }
    }
    let mut by_count: Vec<(String, u64)> = counts.into_iter().collect();
    by_count.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    by_count.truncate(top);
    by_count.sort();
    Value::Object(
        by_count
            .into_iter()
            .map(|(v, c)| (v, Value::from(c)))
            .collect(),
    )
}

/// One shard's answer to a search for `limit` hits, documents taken from `docs`.
fn shard_answer(
    shard: usize,
    shards: usize,
    limit: usize,
    docs: &[Value],
    facets: Facets,
) -> Bytes {
    let hits: Vec<Value> = (0..limit)
        .map(|i| {
            let mut doc = docs[(i * shards + shard) % docs.len()].clone();
            // Hits come in runs of three with the same details, as a node lists the hits of
            // one bucket one after another (in the recorded Meilisearch answers, 63% of the
            // hits after the first repeat the previous hit's details).
            let run = i / 3;
            let words = 3 - (i * 3 / limit.max(1)) as u64;
            let typo = (run % 2) as u64;
            let details = json!({
                "words": {"order": 0, "matchingWords": words, "maxMatchingWords": 3, "score": words as f64 / 3.0},
                "typo": {"order": 1, "typoCount": typo, "maxTypoCount": 2, "score": 1.0 - typo as f64 / 3.0},
                "proximity": {"order": 2, "score": 1.0 - (run % 7) as f64 / 14.0},
                "attribute": {"order": 3, "attributeRankingOrderScore": 1.0, "queryWordDistanceScore": 0.9, "score": 0.95},
                "exactness": {"order": 4, "matchType": "noExactMatch", "matchingWords": 1, "maxMatchingWords": 3, "score": 0.5},
            });
            let obj = doc.as_object_mut().unwrap();
            obj.insert("_rankingScore".into(), json!(0.99 - i as f64 / 1000.0));
            obj.insert("_rankingScoreDetails".into(), details);
            doc
        })
        .collect();
    let mut answer = json!({
        "hits": hits, "query": "react", "processingTimeMs": 3, "limit": limit, "offset": 0,
        "estimatedTotalHits": 1000 + shard,
    });
    match facets {
        Facets::None => {}
        Facets::Small => {
            answer["facetDistribution"] = json!({
                "scope": {"babel": 10 + shard, "types": 30, "react": 7 * shard + 1},
                "major": {"0": 40, "1": 20 + shard, "2": 5, "10": 1},
            });
            answer["facetStats"] = json!({"major": {"min": 0.0, "max": 10.0 + shard as f64}});
        }
        Facets::Tags => {
            answer["facetDistribution"] = json!({
                "major": distribution(docs, shard, shards, "major", 100),
                "tags": distribution(docs, shard, shards, "tags", 100),
            });
            answer["facetStats"] = json!({"major": {"min": 0.0, "max": 30.0 + shard as f64}});
        }
    }
    Bytes::from(serde_json::to_vec(&answer).unwrap())
}

fn time<F: FnMut() -> usize>(iters: usize, mut f: F) -> (f64, usize) {
    for _ in 0..iters / 10 {
        std::hint::black_box(f());
    }
    let started = Instant::now();
    let mut bytes = 0;
    for _ in 0..iters {
        bytes = std::hint::black_box(f());
    }
    (started.elapsed().as_secs_f64() * 1e6 / iters as f64, bytes)
}

fn main() -> anyhow::Result<()> {
    let iters = env_usize("BENCH_ITERS", 2000);
    let docs = npm_documents(2000)?;
    let ctx = IndexMergeContext {
        primary_key: Some("id".into()),
        ..Default::default()
    };
    let by_count = IndexMergeContext {
        sort_facet_values_by: BTreeMap::from([
            ("*".to_owned(), "alpha".to_owned()),
            ("tags".to_owned(), "count".to_owned()),
        ]),
        ..ctx.clone()
    };
    let cases = [
        (
            "4 shards x 20 hits",
            4usize,
            json!({"q": "react"}),
            Facets::None,
            &ctx,
        ),
        (
            "8 shards x 100 hits",
            8,
            json!({"q": "react", "limit": 100}),
            Facets::None,
            &ctx,
        ),
        (
            "4 shards x 20 hits, facets",
            4,
            json!({"q": "react", "facets": ["scope", "major"]}),
            Facets::Small,
            &ctx,
        ),
        (
            "4 shards x 20 hits, facets tags x100 (alpha)",
            4,
            json!({"q": "react", "facets": ["tags", "major"]}),
            Facets::Tags,
            &ctx,
        ),
        (
            "4 shards x 20 hits, facets tags x100 (count)",
            4,
            json!({"q": "react", "facets": ["tags", "major"]}),
            Facets::Tags,
            &by_count,
        ),
        (
            "4 shards x 20 hits, retrieve 2 (pk stripped)",
            4,
            json!({"q": "react", "attributesToRetrieve": ["name", "downloads"]}),
            Facets::None,
            &ctx,
        ),
    ];
    println!("merge CPU per search, {iters} merges per case (one thread):");
    for (name, shards, request, facets, ctx) in cases {
        let p = plan(&request, ctx).map_err(|e| anyhow::anyhow!("{}", e.message))?;
        let limit = p.shard_request()["limit"].as_u64().unwrap() as usize;
        let answers: Vec<Bytes> = (0..shards)
            .map(|s| shard_answer(s, shards, limit, &docs, facets))
            .collect();
        let input: usize = answers.iter().map(Bytes::len).sum();
        let (baseline, _) = time(iters, || {
            let values: Vec<Value> = answers
                .iter()
                .map(|a| serde_json::from_slice(a).unwrap())
                .collect();
            serde_json::to_vec(&values[0]).unwrap().len()
        });
        let (merged, out) = time(iters, || {
            let refs: Vec<&[u8]> = answers.iter().map(|a| a.as_ref()).collect();
            miroir_merge::merge_bytes(&p, &refs, ctx, &miroir_merge::Overrides::default())
                .unwrap()
                .len()
        });
        println!(
            "{name:<46} in {:>7} B out {out:>6} B | parse to Value + write one (baseline) {baseline:8.1} µs | merge {merged:8.1} µs ({:.2}x)",
            input,
            merged / baseline
        );
    }
    federated(iters, &docs, &ctx);
    Ok(())
}

/// A federated merge of 3 queries on one index, 20 hits each (queries 0 and 2 share most of
/// their documents), into one page of 20, beside the same baseline.
fn federated(iters: usize, docs: &[Value], ctx: &IndexMergeContext) {
    let contexts = BTreeMap::from([("npm".to_owned(), ctx.clone())]);
    for facets in [false, true] {
        let federation = Federation {
            limit: 20,
            facets_by_index: if facets {
                BTreeMap::from([(
                    "npm".to_owned(),
                    Some(vec!["scope".to_owned(), "major".to_owned()]),
                )])
            } else {
                BTreeMap::new()
            },
            ..Federation::default()
        };
        let required = federation::required_hits(&federation);
        let index_facets = federation.facets_by_index.get("npm").cloned().flatten();
        let answers: Vec<QueryAnswer> = [("react", 1.0), ("vue", 1.0), ("react hooks", 0.8)]
            .into_iter()
            .enumerate()
            .map(|(q, (text, weight))| QueryAnswer {
                index_uid: "npm".into(),
                weight,
                primary_key: Some("id".into()),
                prepared: federation::prepare_query(
                    &json!({"q": text}),
                    required,
                    index_facets.as_deref(),
                    Some("id"),
                ),
                response: shard_answer(
                    q,
                    2,
                    required as usize,
                    docs,
                    if facets { Facets::Small } else { Facets::None },
                ),
            })
            .collect();
        let input: usize = answers.iter().map(|a| a.response.len()).sum();
        let (baseline, _) = time(iters, || {
            let values: Vec<Value> = answers
                .iter()
                .map(|a| serde_json::from_slice(&a.response).unwrap())
                .collect();
            serde_json::to_vec(&values[0]).unwrap().len()
        });
        let (merged, out) = time(iters, || {
            federation::merge(&federation, &answers, &contexts, &Overrides::default())
                .unwrap()
                .len()
        });
        let name = if facets {
            "federated 3 queries x 20 hits, facetsByIndex"
        } else {
            "federated 3 queries x 20 hits"
        };
        println!(
            "{name:<46} in {input:>7} B out {out:>6} B | parse to Value + write one (baseline) {baseline:8.1} µs | merge {merged:8.1} µs ({:.2}x)",
            merged / baseline
        );
    }
}
