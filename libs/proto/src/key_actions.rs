//! Meilisearch's API key actions: the list a key may be given (in the order its error message
//! lists them), how wildcard actions expand when a key is stored, and the actions of `/keys`. The
//! gateway and the stand-in node both check keys, so they share this one table; which action each
//! route needs stays with each of them, because their route tables differ.

use std::collections::BTreeSet;

/// Every action a key may be given, in the order Meilisearch 1.50 lists them.
pub const ACTIONS: &[&str] = &[
    "*",
    "search",
    "documents.*",
    "documents.add",
    "documents.get",
    "documents.delete",
    "indexes.*",
    "indexes.create",
    "indexes.get",
    "indexes.update",
    "indexes.delete",
    "indexes.swap",
    "tasks.*",
    "tasks.cancel",
    "tasks.delete",
    "tasks.get",
    "settings.*",
    "settings.get",
    "settings.update",
    "stats.*",
    "stats.get",
    "metrics.*",
    "metrics.get",
    "dumps.*",
    "dumps.create",
    "snapshots.*",
    "snapshots.create",
    "version",
    "keys.create",
    "keys.get",
    "keys.update",
    "keys.delete",
    "experimental.get",
    "experimental.update",
    "export",
    "network.get",
    "network.update",
    "chatCompletions",
    "chats.*",
    "chats.get",
    "chats.delete",
    "chatsSettings.*",
    "chatsSettings.get",
    "chatsSettings.update",
    "*.get",
    "webhooks.get",
    "webhooks.update",
    "webhooks.delete",
    "webhooks.create",
    "webhooks.*",
    "indexes.compact",
    "fields.post",
    "tasks.compact",
    "dynamicSearchRules.get",
    "dynamicSearchRules.create",
    "dynamicSearchRules.update",
    "dynamicSearchRules.delete",
    "dynamicSearchRules.*",
];

/// What `*.get` grants: Meilisearch's read actions. `keys.get` is left out on purpose (it would
/// let a read-only key read the admin key), and `chatCompletions` too (it writes chats).
const READ_ACTIONS: &[&str] = &[
    "search",
    "documents.get",
    "export",
    "indexes.get",
    "tasks.get",
    "settings.get",
    "stats.get",
    "metrics.get",
    "version",
    "experimental.get",
    "network.get",
    "chats.get",
    "chatsSettings.get",
    "webhooks.get",
    "dynamicSearchRules.get",
];

/// The actions a key's list grants, expanded as Meilisearch expands them when it stores a key.
/// Note that a family wildcard grants its members but not itself: `documents.*` does not open
/// a route that needs `documents.*` (editing documents by function); only `*` does.
pub fn expand(granted: &[String]) -> BTreeSet<&'static str> {
    let mut out = BTreeSet::new();
    for action in granted {
        match action.as_str() {
            "*" => out.extend(ACTIONS.iter().copied().filter(|a| *a != "*.get")),
            "*.get" => out.extend(READ_ACTIONS.iter().copied()),
            "documents.*" => out.extend(["documents.get", "documents.delete", "documents.add"]),
            "indexes.*" => out.extend([
                "indexes.create",
                "indexes.delete",
                "indexes.get",
                "indexes.update",
                "indexes.swap",
                "indexes.compact",
            ]),
            "settings.*" => out.extend(["settings.get", "settings.update"]),
            "dumps.*" => out.extend(["dumps.create"]),
            "snapshots.*" => out.extend(["snapshots.create"]),
            "tasks.*" => out.extend(["tasks.get", "tasks.delete", "tasks.cancel"]),
            "stats.*" => out.extend(["stats.get"]),
            "metrics.*" => out.extend(["metrics.get"]),
            "chats.*" => out.extend(["chats.get", "chats.delete"]),
            "chatsSettings.*" => out.extend(["chatsSettings.get", "chatsSettings.update"]),
            "webhooks.*" => out.extend([
                "webhooks.get",
                "webhooks.update",
                "webhooks.delete",
                "webhooks.create",
            ]),
            "dynamicSearchRules.*" => out.extend([
                "dynamicSearchRules.get",
                "dynamicSearchRules.create",
                "dynamicSearchRules.update",
                "dynamicSearchRules.delete",
            ]),
            other => {
                if let Some(known) = ACTIONS.iter().find(|a| **a == other) {
                    out.insert(*known);
                }
            }
        }
    }
    out
}

/// The routes of `/keys`, which stay closed without a master key.
pub fn is_keys_action(action: &str) -> bool {
    matches!(
        action,
        "keys.get" | "keys.create" | "keys.update" | "keys.delete"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn wildcards_expand_as_meilisearch_stores_them() {
        assert!(expand(&g(&["*"])).contains("keys.get"));
        assert!(expand(&g(&["*"])).contains("documents.*"));
        assert!(!expand(&g(&["*"])).contains("*.get"));
        let docs = expand(&g(&["documents.*"]));
        assert!(docs.contains("documents.add") && !docs.contains("documents.*"));
        let reads = expand(&g(&["*.get"]));
        assert!(reads.contains("settings.get") && reads.contains("search"));
        assert!(!reads.contains("keys.get") && !reads.contains("settings.update"));
        assert!(expand(&g(&["nope"])).is_empty());
    }
}
