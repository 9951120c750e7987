//! Invariant: merging four real shards' answers gives what the real whole index answered.
//!
//! Data: `libs/testkit/fixtures/meilisearch-1.50/10-sharded-oracle.json`, recorded from a real
//! Meilisearch 1.50 holding the npm-10k corpus once whole and once split over four indexes.
//! Hits must come in the same order except among documents that every rule ties (their order
//! is arbitrary in Meilisearch too, and at the cuts of the page another tied document may take
//! the first or last places); totals, facets and pagination must be equal; `_rankingScore` must equal
//! the whole index's within 1e-12. Set `MERGE_ORACLE_VERBOSE=1` to print every case's line.
#![allow(clippy::unwrap_used)]

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap, HashSet};

use miroir_merge::compare::Ranking;
use miroir_merge::{IndexMergeContext, merge, plan};
use serde_json::{Map, Value, json};

const SCORE_TOLERANCE: f64 = 1e-12;

fn fixture() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../testkit/fixtures/meilisearch-1.50/10-sharded-oracle.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn context(settings: &Value) -> IndexMergeContext {
    IndexMergeContext {
        primary_key: Some("id".into()),
        max_values_per_facet: settings["faceting"]["maxValuesPerFacet"]
            .as_u64()
            .map_or(100, |v| v as usize),
        ..IndexMergeContext::default()
    }
}

/// A document's identity: its id, or (when the answer lacks the primary key) its content.
fn identity(hit: &Map<String, Value>) -> String {
    match hit.get("id") {
        Some(id) => id.to_string(),
        None => {
            let content: BTreeMap<&String, &Value> =
                hit.iter().filter(|(k, _)| !k.starts_with('_')).collect();
            serde_json::to_string(&content).unwrap()
        }
    }
}

fn without_score(hit: &Map<String, Value>) -> Map<String, Value> {
    let mut h = hit.clone();
    h.shift_remove("_rankingScore");
    h
}

/// Our shard request must ask what the recorded one asked. Two differences are equivalent:
/// fields the plan adds to `attributesToRetrieve` for itself, and a `limit` above
/// `maxTotalHits`, which a shard clamps anyway.
fn shard_request_mismatch(
    ours: &Value,
    recorded: &Value,
    added: &[String],
    max_total_hits: u64,
) -> Option<String> {
    let mut ours = ours.as_object().unwrap().clone();
    let mut recorded = recorded.as_object().unwrap().clone();
    if let Some(Value::Array(list)) = ours.get_mut("attributesToRetrieve") {
        list.retain(|a| !added.iter().any(|x| a.as_str() == Some(x)));
    }
    for req in [&mut ours, &mut recorded] {
        if let Some(limit) = req.get("limit").and_then(Value::as_u64) {
            req.insert("limit".into(), json!(limit.min(max_total_hits)));
        }
    }
    (ours != recorded).then(|| {
        format!(
            "shard request {} != recorded {}",
            Value::Object(ours),
            Value::Object(recorded)
        )
    })
}

enum Outcome {
    Exact,
    TiesOnly(usize),
}

fn check_case(case: &Value, ctx: &IndexMergeContext) -> Result<Outcome, String> {
    let request = &case["request"];
    let expected = case["expected_whole_index_response"].as_object().unwrap();
    let shard_responses = case["shard_responses"].as_array().unwrap();

    let p = plan(request, ctx).map_err(|e| format!("plan: {e}"))?;
    if let Some(m) = shard_request_mismatch(
        p.shard_request(),
        &case["shard_request"],
        p.added_fields(),
        1000,
    ) {
        return Err(m);
    }

    // The recorded whole-index answer shows `_rankingScore`: ask for it too.
    let mut scored_request = request.as_object().unwrap().clone();
    scored_request.insert("showRankingScore".into(), json!(true));
    let scored_plan =
        plan(&Value::Object(scored_request), ctx).map_err(|e| format!("plan: {e}"))?;
    let merged = merge(&scored_plan, shard_responses, ctx).map_err(|e| format!("merge: {e}"))?;
    let merged = merged.as_object().unwrap();

    // Without showRankingScore, the same answer minus the score.
    let plain = merge(&p, shard_responses, ctx).map_err(|e| format!("merge: {e}"))?;
    let plain_hits: Vec<Value> = merged["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| Value::Object(without_score(h.as_object().unwrap())))
        .collect();
    if plain["hits"] != Value::Array(plain_hits) {
        return Err(
            "hits without showRankingScore differ from the scored hits minus `_rankingScore`"
                .into(),
        );
    }

    let keys = |m: &Map<String, Value>| m.keys().cloned().collect::<Vec<_>>();
    if keys(merged) != keys(expected) {
        return Err(format!(
            "response keys {:?} != {:?}",
            keys(merged),
            keys(expected)
        ));
    }
    let threshold = request.get("rankingScoreThreshold").is_some();
    for key in [
        "query",
        "limit",
        "offset",
        "estimatedTotalHits",
        "hitsPerPage",
        "page",
        "totalPages",
        "totalHits",
        "facetStats",
    ] {
        // With a threshold the whole index's own count is an estimate (README of the fixture).
        if threshold && key == "estimatedTotalHits" {
            continue;
        }
        if merged.get(key) != expected.get(key) {
            return Err(format!(
                "`{key}`: {:?} != expected {:?}",
                merged.get(key),
                expected.get(key)
            ));
        }
    }
    // Compared as text: the order of facet values matters.
    let text = |v: Option<&Value>| v.map(|v| serde_json::to_string(v).unwrap());
    if text(merged.get("facetDistribution")) != text(expected.get("facetDistribution")) {
        return Err("facetDistribution differs (counts, order or cut)".into());
    }

    check_hits(
        merged["hits"].as_array().unwrap(),
        expected["hits"].as_array().unwrap(),
        shard_responses,
    )
}

fn check_hits(
    ours: &[Value],
    theirs: &[Value],
    shard_responses: &[Value],
) -> Result<Outcome, String> {
    // Every document any shard returned, with its ranking as its shard saw it.
    let mut rankings: HashMap<String, Ranking> = HashMap::new();
    for hit in shard_responses
        .iter()
        .flat_map(|r| r["hits"].as_array().unwrap())
    {
        let hit = hit.as_object().unwrap();
        rankings.insert(identity(hit), Ranking::from_hit(hit));
    }
    if ours.len() != theirs.len() {
        return Err(format!("{} hits != expected {}", ours.len(), theirs.len()));
    }
    let ours: Vec<&Map<String, Value>> = ours.iter().map(|h| h.as_object().unwrap()).collect();
    let theirs: Vec<&Map<String, Value>> = theirs.iter().map(|h| h.as_object().unwrap()).collect();
    let ranking = |hit: &Map<String, Value>| {
        rankings
            .get(&identity(hit))
            .ok_or_else(|| format!("document {} is in no shard's answer", identity(hit)))
    };
    let mut tie_swaps = 0;
    for (pos, (o, t)) in ours.iter().zip(&theirs).enumerate() {
        let (os, ts) = (o["_rankingScore"].as_f64(), t["_rankingScore"].as_f64());
        match (os, ts) {
            (Some(a), Some(b)) if (a - b).abs() <= SCORE_TOLERANCE => {}
            _ => {
                return Err(format!(
                    "position {pos}: _rankingScore {os:?} != expected {ts:?} ({})",
                    identity(t)
                ));
            }
        }
        if identity(o) == identity(t) {
            if without_score(o) != without_score(t) {
                return Err(format!(
                    "position {pos}: document content differs for {}",
                    identity(t)
                ));
            }
            continue;
        }
        if ranking(o)?.compare(ranking(t)?) != Ordering::Equal {
            return Err(format!(
                "position {pos}: {} where the whole index has {} (not tied)",
                identity(o),
                identity(t)
            ));
        }
        tie_swaps += 1;
    }
    // Documents on one side only must be tied with the first or the last place: the page's
    // cuts (offset and limit) may fall inside a group of tied documents.
    let ids =
        |hits: &[&Map<String, Value>]| hits.iter().map(|h| identity(h)).collect::<HashSet<_>>();
    let (our_ids, their_ids) = (ids(&ours), ids(&theirs));
    if let (Some(first), Some(last)) = (theirs.first(), theirs.last()) {
        for id in our_ids.symmetric_difference(&their_ids) {
            let r = rankings
                .get(id)
                .ok_or_else(|| format!("document {id} is in no shard's answer"))?;
            let at_a_cut = [first, last]
                .iter()
                .any(|edge| ranking(edge).is_ok_and(|e| r.compare(e) == Ordering::Equal));
            if !at_a_cut {
                return Err(format!(
                    "document {id} is on one side only and not tied with a place at the page's cuts"
                ));
            }
        }
    }
    Ok(if tie_swaps == 0 {
        Outcome::Exact
    } else {
        Outcome::TiesOnly(tie_swaps)
    })
}

#[test]
fn merging_the_shards_reproduces_the_whole_index() {
    let data = fixture();
    let ctx = context(&data["settings"]);
    let cases = data["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 16);
    let verbose = std::env::var_os("MERGE_ORACLE_VERBOSE").is_some();
    let (mut exact, mut ties, mut failures) = (0, 0, Vec::new());
    for (i, case) in cases.iter().enumerate() {
        let line = match check_case(case, &ctx) {
            Ok(Outcome::Exact) => {
                exact += 1;
                "exact".to_owned()
            }
            Ok(Outcome::TiesOnly(n)) => {
                ties += 1;
                format!("same up to ties ({n} positions hold another tied document)")
            }
            Err(e) => {
                let line = format!("FAIL: {e}");
                failures.push(format!("case {i} {}: {line}", case["request"]));
                line
            }
        };
        if verbose {
            println!("case {i:2} {}: {line}", case["request"]);
        }
    }
    for f in &failures {
        println!("{f}");
    }
    if verbose {
        println!(
            "{exact} exact, {ties} equal up to ties, {} failed",
            failures.len()
        );
    }
    assert!(
        failures.is_empty(),
        "{} of {} oracle cases failed",
        failures.len(),
        cases.len()
    );
}
