//! `Stats`: an index's statistics summed over its shards (one copy of each), and the global
//! `/stats` of the cluster, which only ever names the client's indexes.
//!
//! The global figures come from every node's own `GET /stats` (one request per node rather than
//! one per shard): `databaseSize` and `usedDatabaseSize` are the sums over the nodes that
//! answered (the disk the cluster uses, every copy included), `lastUpdate` the latest of theirs;
//! each index's figures are its shards' entries in those answers, one copy per shard chosen in
//! the usual read order. A shard that no answering node holds makes the answer an explicit 503.
//!
//! With `showInternalDatabaseSizes`, every shard is asked for its databases' sizes and each
//! database's sizes are summed (a database only some shards have is still listed, in a node's
//! order). With `sizeFormat=human`, every size is worded from the summed bytes, as a node words
//! its own ([`miroir_proto::byte_size`]); the shards are always asked for bytes.

use std::collections::BTreeMap;

use bytes::Bytes;
use miroir_cluster::topology::Topology;
use miroir_proto::MeiliError;
use miroir_proto::byte_size::SizeFormat;
use miroir_proto::rpc::{JsonBody, Stats};
use miroir_proto::topology::{Availability, IndexRecord, IndexState};
use reqwest::Method;
use serde_json::{Map, Value};
use tokio::time::Instant;

use crate::errors;
use crate::fetch::ShardCall;
use crate::gather::{gather, scatter};
use crate::metrics;
use crate::state::{Deadline, Merger};

pub async fn stats(merger: &Merger, request: Stats) -> Result<JsonBody, MeiliError> {
    let started = Instant::now();
    let deadline = merger.deadline(0);
    let shape = Shape::of(&request);
    let result = match &request.index_uid {
        Some(uid) => index_stats(merger, uid, shape, deadline).await,
        None => global_stats(merger, shape, deadline).await,
    };
    let result = result.and_then(|v| {
        serde_json::to_vec(&v)
            .map(|b| JsonBody {
                body: Bytes::from(b),
            })
            .map_err(|e| MeiliError::internal(e.to_string()))
    });
    metrics::request("stats", started.elapsed(), &result);
    result
}

/// What the client asked the answer to hold, and how its sizes are worded.
#[derive(Clone, Copy, Debug, Default)]
pub struct Shape {
    pub internal_sizes: bool,
    pub format: SizeFormat,
}

impl Shape {
    fn of(request: &Stats) -> Shape {
        Shape {
            internal_sizes: request.internal_sizes,
            format: if request.human_sizes {
                SizeFormat::Human
            } else {
                SizeFormat::Raw
            },
        }
    }

    /// The query a node's stats route is sent with.
    fn query(self) -> &'static str {
        if self.internal_sizes {
            "?showInternalDatabaseSizes=true"
        } else {
            ""
        }
    }
}

/// A node's databases in the order it lists them; a name not here (a newer node) comes after.
const DATABASES: &[&str] = &[
    "main",
    "externalDocumentsIds",
    "wordDocids",
    "exactWordDocids",
    "wordPrefixDocids",
    "exactWordPrefixDocids",
    "wordPairProximityDocids",
    "wordPositionDocids",
    "wordPrefixPositionDocids",
    "wordFidDocids",
    "wordPrefixFidDocids",
    "fieldIdWordCountDocids",
    "facetIdF64Docids",
    "facetIdStringDocids",
    "facetIdNormalizedStringStrings",
    "facetIdStringFst",
    "facetIdExistsDocids",
    "facetIdIsNullDocids",
    "facetIdIsEmptyDocids",
    "fieldIdDocidFacetF64S",
    "fieldIdDocidFacetStrings",
    "vectorEmbedderCategoryIds",
    "documents",
    "celluliteMetadata",
];

/// Each database's size summed over the shards' `internalDatabaseSizes`, in a node's order.
fn sum_database_sizes<'a>(parts: impl Iterator<Item = &'a Value>) -> Vec<(String, u64)> {
    let mut sums: Vec<(String, u64)> = Vec::new();
    for sizes in parts.filter_map(|p| p.get("internalDatabaseSizes").and_then(Value::as_object)) {
        for (name, size) in sizes {
            let size = size.as_u64().unwrap_or(0);
            match sums.iter_mut().find(|(n, _)| n == name) {
                Some((_, sum)) => *sum = sum.saturating_add(size),
                None => sums.push((name.clone(), size)),
            }
        }
    }
    let rank = |name: &str| {
        DATABASES
            .iter()
            .position(|d| *d == name)
            .unwrap_or(usize::MAX)
    };
    // Stable: names no node order knows keep the order they were met in.
    sums.sort_by_key(|(name, _)| rank(name));
    sums
}

async fn index_stats(
    merger: &Merger,
    uid: &str,
    shape: Shape,
    deadline: Deadline,
) -> Result<Value, MeiliError> {
    let topology = merger.topology();
    let record = merger.index(&topology, uid)?;
    let shards = merger.shards(&record)?;
    let suffix = format!("/stats{}", shape.query());
    let call = ShardCall {
        op: "stats",
        method: Method::GET,
        suffix: &suffix,
        body: None,
    };
    let requests = shards.iter().map(|&s| (s, None)).collect();
    let parts = gather(scatter(merger, &topology, &record, &call, requests, deadline).await)?;
    Ok(sum_index_stats(parts.iter(), shape))
}

/// One index's statistics from its shards', keys in Meilisearch's order.
pub fn sum_index_stats<'a>(parts: impl Iterator<Item = &'a Value> + Clone, shape: Shape) -> Value {
    let mut documents = 0u64;
    let mut raw_size = 0u64;
    let mut indexing = false;
    let mut embeddings = 0u64;
    let mut embedded = 0u64;
    let mut fields: BTreeMap<String, u64> = BTreeMap::new();
    let count = |part: &Value, key: &str| part.get(key).and_then(Value::as_u64).unwrap_or(0);
    for part in parts.clone() {
        documents = documents.saturating_add(count(part, "numberOfDocuments"));
        raw_size = raw_size.saturating_add(count(part, "rawDocumentDbSize"));
        indexing |= part
            .get("isIndexing")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        embeddings = embeddings.saturating_add(count(part, "numberOfEmbeddings"));
        embedded = embedded.saturating_add(count(part, "numberOfEmbeddedDocuments"));
        for (field, n) in part
            .get("fieldDistribution")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let slot = fields.entry(field.clone()).or_default();
            *slot = slot.saturating_add(n.as_u64().unwrap_or(0));
        }
    }
    let size = |bytes: u64| shape.format.render(bytes);
    let mut out = Map::new();
    out.insert("numberOfDocuments".into(), Value::from(documents));
    out.insert("rawDocumentDbSize".into(), size(raw_size));
    // Meilisearch's own figure: the integer mean, 0 for an empty index.
    out.insert(
        "avgDocumentSize".into(),
        size(raw_size.checked_div(documents).unwrap_or(0)),
    );
    out.insert("isIndexing".into(), Value::Bool(indexing));
    if shape.internal_sizes {
        let databases = sum_database_sizes(parts)
            .into_iter()
            .map(|(name, bytes)| (name, size(bytes)))
            .collect();
        out.insert("internalDatabaseSizes".into(), Value::Object(databases));
    }
    out.insert("numberOfEmbeddings".into(), Value::from(embeddings));
    out.insert("numberOfEmbeddedDocuments".into(), Value::from(embedded));
    out.insert(
        "fieldDistribution".into(),
        Value::Object(
            fields
                .into_iter()
                .map(|(k, v)| (k, Value::from(v)))
                .collect(),
        ),
    );
    Value::Object(out)
}

async fn global_stats(
    merger: &Merger,
    shape: Shape,
    deadline: Deadline,
) -> Result<Value, MeiliError> {
    let topology = merger.topology();
    let asked: Vec<(&String, &str)> = topology
        .nodes
        .iter()
        .filter(|(_, n)| n.availability() != Availability::Down)
        .map(|(id, n)| (id, n.url.as_str()))
        .collect();
    let path = format!("/stats{}", shape.query());
    let path = path.as_str();
    let answers = futures::future::join_all(asked.iter().map(|(id, url)| async move {
        let answer = tokio::time::timeout_at(
            deadline.at,
            merger.nodes().json(url, Method::GET, path, None),
        )
        .await;
        match answer {
            Ok(Ok(stats)) => Some(((*id).clone(), stats)),
            Ok(Err(e)) => {
                tracing::warn!(node = %id, error = %e, "a node's /stats failed");
                None
            }
            Err(_) => None,
        }
    }))
    .await;
    let by_node: BTreeMap<String, Value> = answers.into_iter().flatten().collect();
    global_from_nodes(merger, &topology, &by_node, shape)
}

fn global_from_nodes(
    merger: &Merger,
    topology: &Topology,
    by_node: &BTreeMap<String, Value>,
    shape: Shape,
) -> Result<Value, MeiliError> {
    let size = |key: &str| {
        by_node.values().fold(0u64, |acc, s| {
            acc.saturating_add(s.get(key).and_then(Value::as_u64).unwrap_or(0))
        })
    };
    let last_update = by_node
        .values()
        .filter_map(|s| s.get("lastUpdate").and_then(Value::as_str))
        .filter_map(|s| {
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                .ok()
                .map(|t| (t, s))
        })
        .max_by_key(|(t, _)| *t)
        .map(|(_, s)| Value::from(s));
    let mut indexes = Map::new();
    for (uid, (record, _)) in &topology.indexes {
        if record.state == IndexState::Deleting {
            continue;
        }
        indexes.insert(
            uid.clone(),
            index_from_nodes(merger, topology, record, by_node, shape)?,
        );
    }
    let mut out = Map::new();
    out.insert(
        "databaseSize".into(),
        shape.format.render(size("databaseSize")),
    );
    out.insert(
        "usedDatabaseSize".into(),
        shape.format.render(size("usedDatabaseSize")),
    );
    out.insert("lastUpdate".into(), last_update.unwrap_or(Value::Null));
    out.insert("indexes".into(), Value::Object(indexes));
    Ok(Value::Object(out))
}

fn index_from_nodes(
    merger: &Merger,
    topology: &Topology,
    record: &IndexRecord,
    by_node: &BTreeMap<String, Value>,
    shape: Shape,
) -> Result<Value, MeiliError> {
    let turn = merger.next_turn();
    let latency = merger.latency();
    let mut parts = Vec::new();
    for shard in merger.shards(record)? {
        let part = merger
            .replicas(topology, record, shard, &latency, turn)
            .into_iter()
            .find_map(|r| {
                by_node
                    .get(&r.node)
                    .and_then(|s| s.get("indexes"))
                    .and_then(|i| i.get(&r.index))
            });
        match part {
            Some(p) => parts.push(p),
            None => {
                metrics::shard_unavailable("stats");
                return Err(errors::shard_unavailable(
                    &record.uid,
                    shard,
                    "no node holding a copy answered its /stats",
                ));
            }
        }
    }
    Ok(sum_index_stats(parts.into_iter(), shape))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shard_stats_sum_with_a_recomputed_average() {
        let a = json!({"numberOfDocuments": 2, "rawDocumentDbSize": 100, "avgDocumentSize": 50, "isIndexing": false,
            "numberOfEmbeddings": 0, "numberOfEmbeddedDocuments": 0, "fieldDistribution": {"id": 2, "title": 1}});
        let b = json!({"numberOfDocuments": 1, "rawDocumentDbSize": 201, "avgDocumentSize": 201, "isIndexing": true,
            "numberOfEmbeddings": 3, "numberOfEmbeddedDocuments": 1, "fieldDistribution": {"id": 1, "genre": 1}});
        let sum = sum_index_stats([a, b].iter(), Shape::default());
        assert_eq!(
            serde_json::to_string(&sum).unwrap_or_default(),
            r#"{"numberOfDocuments":3,"rawDocumentDbSize":301,"avgDocumentSize":100,"isIndexing":true,"numberOfEmbeddings":3,"numberOfEmbeddedDocuments":1,"fieldDistribution":{"genre":1,"id":3,"title":1}}"#
        );
        let empty = sum_index_stats(std::iter::empty(), Shape::default());
        assert_eq!(empty["avgDocumentSize"], json!(0));
    }

    #[test]
    fn database_sizes_sum_per_database_in_a_node_order_and_word_the_sums() {
        let a = json!({"numberOfDocuments": 3, "rawDocumentDbSize": 2048, "isIndexing": false,
            "internalDatabaseSizes": {"main": 4096, "documents": 4096, "celluliteMetadata": 4096}});
        let b = json!({"numberOfDocuments": 0, "rawDocumentDbSize": 0, "isIndexing": false,
            "internalDatabaseSizes": {"main": 4096, "celluliteMetadata": 4096, "brandNew": 1}});
        let raw = Shape {
            internal_sizes: true,
            format: SizeFormat::Raw,
        };
        let sum = sum_index_stats([a.clone(), b.clone()].iter(), raw);
        assert_eq!(
            serde_json::to_string(&sum["internalDatabaseSizes"]).unwrap_or_default(),
            r#"{"main":8192,"documents":4096,"celluliteMetadata":8192,"brandNew":1}"#
        );
        let keys: Vec<&String> = sum
            .as_object()
            .map(|o| o.keys().collect())
            .unwrap_or_default();
        assert_eq!(keys[3..5], ["isIndexing", "internalDatabaseSizes"]);
        let human = Shape {
            internal_sizes: true,
            format: SizeFormat::Human,
        };
        let sum = sum_index_stats([a, b].iter(), human);
        assert_eq!(sum["internalDatabaseSizes"]["main"], json!("8 KiB"));
        assert_eq!(sum["rawDocumentDbSize"], json!("2 KiB"));
        assert_eq!(sum["avgDocumentSize"], json!("682 B"));
        let plain = sum_index_stats(std::iter::empty(), Shape::default());
        assert!(plain.get("internalDatabaseSizes").is_none());
    }
}
