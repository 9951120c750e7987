//! Meilisearch 1.50's experimental features as a Miroir cluster offers them.
//!
//! The cluster keeps its switches in KV ([`crate::subjects::FEATURES_KEY`]) and applies them to
//! every node, so that every shard of every index behaves the same. A feature is refused only when
//! turning it on cannot give a client what it gives on one node: either it works across the
//! indexes of one node, which a sharded index is not on, or the routes it opens are not served
//! by Miroir's gateway (turning it on would change nothing a client can reach).

/// Every feature of `GET /experimental-features` on a Meilisearch 1.50 node, in its order.
pub const FEATURES: &[&str] = &[
    "metrics",
    "logsRoute",
    "editDocumentsByFunction",
    "containsFilter",
    "dynamicSearchRules",
    "network",
    "getTaskDocumentsRoute",
    "taskQueueCompactionRoute",
    "compositeEmbedders",
    "chatCompletions",
    "multimodal",
    "foreignKeys",
    "disableDocumentsFetchQueue",
    "legacySearch",
    "renderRoute",
];

/// Why `feature` cannot be turned on in a Miroir cluster, or `None` when it can.
pub fn refusal(feature: &str) -> Option<&'static str> {
    Some(match feature {
        "foreignKeys" => {
            "a node resolves foreign keys (document hydration and `_foreign` filters) in the foreign index it holds itself, and the documents of a Miroir index are spread over shards on other nodes, so the answers would silently miss documents."
        }
        "network" => {
            "it makes nodes shard and replicate their indexes among themselves, which would fight Miroir's own placement of shards and copies."
        }
        "metrics" | "logsRoute" => {
            "its routes (`/metrics`, `/logs/*`) are per node and Miroir's gateway does not serve them; read each node's own, and Miroir's metrics on each service."
        }
        "editDocumentsByFunction" => {
            "Miroir's gateway does not serve `POST /indexes/{indexUid}/documents/edit`."
        }
        "getTaskDocumentsRoute" => {
            "a Miroir task is made of many node tasks, and Miroir's gateway does not serve `GET /tasks/{taskUid}/documents`."
        }
        "taskQueueCompactionRoute" => {
            "Miroir's tasks live in NATS JetStream, not in a node's task queue, and its gateway does not serve `POST /tasks/compact`."
        }
        "chatCompletions" | "dynamicSearchRules" | "renderRoute" => {
            "the routes it opens are not served by Miroir's gateway."
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_shard_features_are_allowed_and_every_refusal_is_a_known_feature() {
        for f in [
            "containsFilter",
            "compositeEmbedders",
            "multimodal",
            "disableDocumentsFetchQueue",
            "legacySearch",
        ] {
            assert!(FEATURES.contains(&f));
            assert_eq!(refusal(f), None, "{f}");
        }
        assert!(refusal("foreignKeys").is_some());
        assert!(refusal("network").is_some());
        let refused = FEATURES.iter().filter(|f| refusal(f).is_some()).count();
        assert_eq!(refused, FEATURES.len() - 5);
    }
}
