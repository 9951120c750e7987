//! Invariant: documents and statistics read through the merger are those of one node holding every document: a get finds each document on its shard, fetch pages cover every document exactly once with the whole index's total, and stats are the shards' sums under the client's uid only.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;

use common::{Cluster, load_index, npm_settings};
use miroir_proto::MeiliError;
use miroir_proto::rpc::{DocumentGet, DocumentsFetch, JsonBody, Stats};
use miroir_testkit::{npm_documents, start_nodes};
use serde_json::{Value, json};

const DOCS: usize = 300;

async fn setup() -> (Cluster, Vec<miroir_testkit::Node>, Vec<Value>) {
    let nodes = start_nodes(4).await.unwrap();
    let mut cluster = Cluster::start().await.unwrap();
    cluster.put_nodes(&nodes[..3]).await.unwrap();
    let docs = npm_documents(DOCS).unwrap();
    let placement: &[&[usize]] = &[&[0, 1], &[1, 2], &[2, 0], &[0, 1]];
    let settings = npm_settings();
    let reference = nodes[3].client();
    let (a, b) = tokio::join!(
        cluster.create_index(&nodes, "npm", placement, &settings, &docs),
        load_index(&reference, "npm", &settings, &docs),
    );
    a.unwrap();
    b.unwrap();
    cluster.start_merger(cluster.config()).await.unwrap();
    (cluster, nodes, docs)
}

fn parse(reply: Result<JsonBody, MeiliError>) -> Result<Value, MeiliError> {
    reply.map(|r| serde_json::from_slice(&r.body).unwrap())
}

async fn get(cluster: &Cluster, id: &str, query: &str) -> Result<Value, MeiliError> {
    let request = DocumentGet {
        index_uid: "npm".into(),
        document_id: id.into(),
        query: query.into(),
    };
    parse(cluster.request(&request).await)
}

async fn fetch(cluster: &Cluster, body: Value) -> Result<Value, MeiliError> {
    let request = DocumentsFetch {
        index_uid: "npm".into(),
        body: serde_json::to_vec(&body).unwrap().into(),
    };
    parse(cluster.request(&request).await)
}

async fn stats(cluster: &Cluster, uid: Option<&str>) -> Value {
    parse(
        cluster
            .request(&Stats {
                index_uid: uid.map(str::to_owned),
                internal_sizes: false,
                human_sizes: false,
            })
            .await,
    )
    .unwrap()
}

fn without_link(mut v: Value) -> Value {
    v.as_object_mut().unwrap().remove("link");
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_and_fetch_documents() {
    let (cluster, nodes, docs) = setup().await;
    let reference = nodes[3].client();

    for doc in docs.iter().step_by(23) {
        let id = doc["id"].to_string();
        assert_eq!(get(&cluster, &id, "").await.unwrap(), *doc);
        let one = reference
            .get(&format!(
                "/indexes/npm/documents/{id}?fields=name,downloads"
            ))
            .await
            .unwrap();
        assert_eq!(
            get(&cluster, &id, "fields=name,downloads").await.unwrap(),
            one.body
        );
    }
    let missing = reference
        .get("/indexes/npm/documents/999999")
        .await
        .unwrap();
    let e = get(&cluster, "999999", "").await.unwrap_err();
    assert_eq!(
        (e.status, without_link(e.to_json())),
        (missing.status, without_link(missing.body))
    );

    // Pages of 37 cover every document exactly once, each with the whole total.
    let mut seen = BTreeSet::new();
    for offset in (0..DOCS + 37).step_by(37) {
        let page = fetch(&cluster, json!({"offset": offset, "limit": 37}))
            .await
            .unwrap();
        assert_eq!(
            (page["offset"].as_u64(), page["limit"].as_u64()),
            (Some(offset as u64), Some(37))
        );
        assert_eq!(page["total"], json!(DOCS));
        for doc in page["results"].as_array().unwrap() {
            assert!(
                seen.insert(doc["id"].as_u64().unwrap()),
                "{} listed twice",
                doc["id"]
            );
            assert!(docs.contains(doc));
        }
    }
    assert_eq!(seen.len(), DOCS);

    // The primary key added for de-duplication is stripped again.
    let page = fetch(&cluster, json!({"fields": ["name"], "limit": 5}))
        .await
        .unwrap();
    let results = page["results"].as_array().unwrap();
    assert_eq!(results.len(), 5);
    assert!(
        results
            .iter()
            .all(|d| d.as_object().unwrap().keys().eq(["name"])),
        "{page}"
    );

    // By ids (strings and integers, on several shards), and by filter: the node's sets and totals.
    let by_ids = json!({"ids": [docs[3]["id"].to_string(), docs[40]["id"], docs[77]["id"].to_string(), "999999"]});
    let filtered = json!({"filter": "major > 5", "limit": 1000});
    for body in [by_ids, filtered] {
        let one = reference
            .post("/indexes/npm/documents/fetch", &body)
            .await
            .unwrap();
        assert_eq!(one.status, 200, "{}", one.body);
        let merged = fetch(&cluster, body.clone()).await.unwrap();
        assert_eq!(merged["total"], one.body["total"], "{body}");
        let set = |v: &Value| {
            v["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.to_string())
                .collect::<BTreeSet<_>>()
        };
        assert_eq!(set(&merged), set(&one.body), "{body}");
    }

    // A node's refusal is the client's error, worded by the node, with the client's uid.
    for body in [
        json!({"filter": "version = 1"}),
        json!({"limit": -1}),
        json!({"nope": true}),
    ] {
        let one = reference
            .post("/indexes/npm/documents/fetch", &body)
            .await
            .unwrap();
        let e = fetch(&cluster, body.clone()).await.unwrap_err();
        assert_eq!(
            (e.status, without_link(e.to_json())),
            (one.status, without_link(one.body)),
            "{body}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_are_the_shards_sums() {
    let (cluster, nodes, _docs) = setup().await;
    let reference = nodes[3]
        .client()
        .get("/indexes/npm/stats")
        .await
        .unwrap()
        .body;
    let merged = stats(&cluster, Some("npm")).await;
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&merged), keys(&reference));
    assert_eq!(merged["numberOfDocuments"], json!(DOCS));
    assert_eq!(merged["fieldDistribution"], reference["fieldDistribution"]);
    assert_eq!(merged["isIndexing"], json!(false));

    // The raw size is the sum of one copy of each shard's, the average recomputed from it.
    let mut raw = 0;
    for (shard, node) in [(0, 0), (1, 1), (2, 2), (3, 0)] {
        let s = nodes[node]
            .client()
            .get(&format!("/indexes/npm__s{shard}/stats"))
            .await
            .unwrap()
            .body;
        raw += s["rawDocumentDbSize"].as_u64().unwrap();
    }
    assert_eq!(merged["rawDocumentDbSize"], json!(raw));
    assert_eq!(merged["avgDocumentSize"], json!(raw / DOCS as u64));

    let global = stats(&cluster, None).await;
    assert_eq!(
        global["indexes"],
        json!({"npm": merged}),
        "only the client's uids"
    );
    let mut size = 0;
    for node in &nodes[..3] {
        size += node.client().get("/stats").await.unwrap().body["databaseSize"]
            .as_u64()
            .unwrap();
    }
    assert_eq!(global["databaseSize"], json!(size));
    assert!(global["lastUpdate"].is_string());

    let e = parse(
        cluster
            .request(&Stats {
                index_uid: Some("nope".into()),
                internal_sizes: false,
                human_sizes: false,
            })
            .await,
    )
    .unwrap_err();
    assert_eq!((e.status, e.code.as_str()), (404, "index_not_found"));
}
