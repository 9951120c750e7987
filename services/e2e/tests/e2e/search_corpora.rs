//! What the multi-search and facet-search end-to-end tests share: the same corpora loaded into
//! the cluster and into one stand-in node, and comparisons of rankings that allow documents tied
//! on their score to trade places.
#![allow(dead_code, clippy::unwrap_used, clippy::panic)]

use std::collections::BTreeSet;

use miroir_e2e::{ClusterOptions, TestCluster};
use miroir_testkit::{MeiliClient, Node, NodeOptions, npm_documents, start_node};
use serde_json::{Value, json};

/// npm documents loaded (the first ones of the recorded corpus).
pub const NPM_DOCS: usize = 1200;

pub struct Setup {
    pub cluster: TestCluster,
    pub single: Node,
}

impl Setup {
    pub fn cluster(&self) -> MeiliClient {
        self.cluster.client()
    }

    pub fn whole(&self) -> MeiliClient {
        self.single.client()
    }

    /// The same request to both; both statuses must agree.
    pub async fn both(&self, path: &str, body: &Value) -> (Value, Value) {
        let a = self.cluster().post(path, body).await.unwrap();
        let b = self.whole().post(path, body).await.unwrap();
        assert_eq!(
            a.status, b.status,
            "{path} {body}:\ncluster {}\nwhole {}",
            a.body, b.body
        );
        (a.body, b.body)
    }
}

pub fn npm_settings() -> Value {
    json!({
        "searchableAttributes": ["name", "summary", "tags"],
        "filterableAttributes": ["scope", "major", "downloads", "tags"],
        "sortableAttributes": ["downloads", "name", "major"],
    })
}

const WORDS: &[&str] = &[
    "carol", "react", "vue", "night", "wonder", "the", "router", "moana", "joker", "parser",
];
const GENRES: &[&str] = &["drama", "comedy", "action", "horror"];
const TAGS: &[&str] = &["react", "components", "cli", "vue", "parser", "webpack"];

/// A small second index whose words and tags overlap npm's, so that federated queries on both
/// interleave and merged facets add up.
pub fn movies() -> Vec<Value> {
    (0..80u64)
        .map(|i| {
            let title = format!(
                "{} {} {}",
                WORDS[(i % 10) as usize],
                WORDS[(i * 7 % 10) as usize],
                i
            );
            json!({
                "id": i,
                "title": title,
                "genres": [GENRES[(i % 4) as usize], GENRES[(i / 4 % 4) as usize]],
                "year": 1980 + i % 40,
                "tags": [TAGS[(i % 6) as usize]],
            })
        })
        .collect()
}

pub fn movies_settings() -> Value {
    json!({
        "searchableAttributes": ["title", "tags"],
        "filterableAttributes": ["genres", "year", "tags"],
        "sortableAttributes": ["year"],
    })
}

pub async fn load(client: &MeiliClient, uid: &str, settings: &Value, docs: &[Value]) {
    let r = client
        .post("/indexes", &json!({"uid": uid, "primaryKey": "id"}))
        .await
        .unwrap();
    client.wait_succeeded(&r).await.unwrap();
    let r = client
        .patch(&format!("/indexes/{uid}/settings"), settings)
        .await
        .unwrap();
    client.wait_succeeded(&r).await.unwrap();
    let r = client
        .post(&format!("/indexes/{uid}/documents"), &json!(docs))
        .await
        .unwrap();
    client.wait_succeeded(&r).await.unwrap();
}

/// The cluster (3 nodes, 4 shards, RF 2) and one stand-in node, each holding `npm` and `movies`
/// and the extra `(uid, settings)` copies of npm.
pub async fn start(extra_npm: &[(&str, Value)]) -> Setup {
    let cluster = TestCluster::start(ClusterOptions::default()).await.unwrap();
    let single = start_node(NodeOptions::default()).await.unwrap();
    let setup = Setup { cluster, single };
    let npm = npm_documents(NPM_DOCS).unwrap();
    let movies = movies();
    for client in [setup.cluster(), setup.whole()] {
        load(&client, "npm", &npm_settings(), &npm).await;
        load(&client, "movies", &movies_settings(), &movies).await;
        for (uid, settings) in extra_npm {
            load(&client, uid, settings, &npm).await;
        }
    }
    setup
}

/// Two ranked lists agree: the same scores position by position, and within a run of equal
/// scores the same documents, except for runs cut by the page's edges (where another document
/// tied on its score may take the place). `key` names a hit, `score` reads its score.
pub fn same_ranking(
    a: &[Value],
    b: &[Value],
    key: impl Fn(&Value) -> String,
    score: impl Fn(&Value) -> f64,
    cut_at_start: bool,
) -> Result<(), String> {
    if a.len() != b.len() {
        return Err(format!("{} hits vs {}", a.len(), b.len()));
    }
    for (x, y) in a.iter().zip(b) {
        if (score(x) - score(y)).abs() > 1e-9 {
            return Err(format!(
                "scores differ: {} {} vs {} {}",
                key(x),
                score(x),
                key(y),
                score(y)
            ));
        }
    }
    let mut start = 0;
    while start < a.len() {
        let mut end = start + 1;
        while end < a.len() && (score(&a[end]) - score(&a[start])).abs() <= 1e-9 {
            end += 1;
        }
        let edge = (start == 0 && cut_at_start) || end == a.len();
        if !edge {
            let ia: BTreeSet<String> = a[start..end].iter().map(&key).collect();
            let ib: BTreeSet<String> = b[start..end].iter().map(&key).collect();
            if ia != ib {
                return Err(format!("tie group {start}..{end} holds {ia:?} vs {ib:?}"));
            }
        }
        start = end;
    }
    Ok(())
}

pub fn hits(v: &Value) -> &[Value] {
    v["hits"].as_array().map(Vec::as_slice).unwrap_or_default()
}

pub fn assert_error(body: &Value, code: &str) {
    assert_eq!(body["code"], json!(code), "{body}");
    assert_eq!(
        body["link"],
        json!(format!("https://docs.meilisearch.com/errors#{code}")),
        "{body}"
    );
    assert!(
        !body.to_string().contains("__s"),
        "a shard name leaked: {body}"
    );
}
