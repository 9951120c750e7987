//! Invariant: each shard is asked for its likely share of the window only, yet a search whose best hits crowd onto one shard past that share answers hit for hit what one node holding every document answers (the shard is asked again for the whole window).
#![allow(clippy::unwrap_used)]

mod common;

use common::{Cluster, load_index};
use miroir_merge::IndexMergeContext;
use miroir_placement::{PrimaryKeyValue, ShardCount, shard_for_key};
use miroir_testkit::start_nodes;
use serde_json::{Value, json};

const DOCS: u64 = 400;

/// Shard 0's documents rank first on `rank`, the others' after; `family` repeats across shards.
fn documents() -> Vec<Value> {
    let count = ShardCount::new(4).unwrap();
    (0..DOCS)
        .map(|i| {
            let key = PrimaryKeyValue::from_json(&json!(i)).unwrap();
            let first = shard_for_key(&key, count).index() == 0;
            json!({
                "id": i,
                "title": "widget part",
                "rank": if first { i } else { 1000 + i },
                "family": i % 50,
            })
        })
        .collect()
}

fn ids(answer: &Value) -> Vec<u64> {
    answer["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_u64().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_share_used_up_is_asked_again() {
    let nodes = start_nodes(4).await.unwrap();
    let mut cluster = Cluster::start().await.unwrap();
    cluster.put_nodes(&nodes[..3]).await.unwrap();
    let docs = documents();
    let settings = json!({
        "searchableAttributes": ["title"],
        "filterableAttributes": ["rank", "family"],
        "sortableAttributes": ["rank"],
    });
    let placement: &[&[usize]] = &[&[0, 1], &[1, 2], &[2, 0], &[0, 1]];
    let reference = nodes[3].client();
    let (sharded, single) = tokio::join!(
        cluster.create_index(&nodes, "parts", placement, &settings, &docs),
        load_index(&reference, "parts", &settings, &docs),
    );
    sharded.unwrap();
    single.unwrap();
    cluster.start_merger(cluster.config()).await.unwrap();

    let on_first_shard = |id: u64| {
        let key = PrimaryKeyValue::from_json(&json!(id)).unwrap();
        shard_for_key(&key, ShardCount::new(4).unwrap()).index() == 0
    };
    let ctx = IndexMergeContext {
        primary_key: Some("id".into()),
        ..Default::default()
    };
    for request in [
        json!({"q": "widget", "sort": ["rank:asc"]}),
        json!({"q": "widget", "sort": ["rank:asc"], "offset": 10, "limit": 15}),
        json!({"q": "", "sort": ["rank:asc"], "filter": "rank < 2000", "limit": 40}),
        json!({"q": "widget", "sort": ["rank:desc"], "limit": 30}),
        json!({"q": "widget", "sort": ["rank:asc"], "distinct": "family", "limit": 20}),
    ] {
        let one = reference
            .post("/indexes/parts/search", &request)
            .await
            .unwrap();
        assert_eq!(one.status, 200, "{request}: {}", one.body);
        let merged = cluster
            .search("parts", &request)
            .await
            .map_err(|e| format!("{request}: {e}"))
            .unwrap();
        assert_eq!(ids(&merged), ids(&one.body), "{request}");
        assert_eq!(merged["offset"], one.body["offset"], "{request}");
        assert_eq!(merged["limit"], one.body["limit"], "{request}");
        if request.get("distinct").is_none() {
            assert_eq!(
                merged["estimatedTotalHits"], one.body["estimatedTotalHits"],
                "{request}"
            );
        }
        // The ascending searches do send shard 0 past its share: its hits up to the end of the
        // window outnumber what it was asked first.
        if request["sort"][0] == json!("rank:asc") {
            let share = miroir_merge::plan(&request, &ctx)
                .unwrap()
                .spread_over(4)
                .shard_request()["limit"]
                .as_u64()
                .unwrap();
            let offset = request.get("offset").and_then(Value::as_u64).unwrap_or(0);
            let mut prefix = request.clone();
            prefix["offset"] = json!(0);
            prefix["limit"] =
                json!(offset + request.get("limit").and_then(Value::as_u64).unwrap_or(20));
            let prefix = reference
                .post("/indexes/parts/search", &prefix)
                .await
                .unwrap();
            let crowded = ids(&prefix.body)
                .into_iter()
                .filter(|&id| on_first_shard(id))
                .count();
            assert!(
                crowded as u64 > share,
                "{request}: {crowded} of shard 0's hits, share {share}"
            );
        }
    }
}
