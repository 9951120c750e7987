//! Meilisearch's key actions: the list a key may be given (in the order its error message lists
//! them), how wildcard actions expand when a key is stored, and which action each route needs.

use std::collections::BTreeSet;

use axum::http::Method;

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

/// `/indexes/{uid}/search` -> `/indexes/{}/search`: parameter names do not matter.
fn shape(template: &str) -> String {
    template
        .split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                "{}"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The action a route needs, from its method and route template, as Meilisearch's route table
/// says. A route missing here needs `*` (the master key or a key with every action), so that a
/// route added later is closed to scoped keys until it is listed.
pub fn route_action(method: &Method, template: &str) -> &'static str {
    let shape = shape(template);
    let m = method.as_str();
    match (m, shape.as_str()) {
        ("GET", "/version") => "version",
        ("GET", "/stats" | "/indexes/{}/stats") => "stats.get",
        ("GET", "/indexes" | "/indexes/{}") => "indexes.get",
        ("POST", "/indexes") => "indexes.create",
        ("PATCH", "/indexes/{}") => "indexes.update",
        ("DELETE", "/indexes/{}") => "indexes.delete",
        ("POST", "/swap-indexes") => "indexes.swap",
        ("POST", "/indexes/{}/compact") => "indexes.compact",
        ("GET", "/indexes/{}/documents" | "/indexes/{}/documents/{}") => "documents.get",
        ("POST", "/indexes/{}/documents/fetch") => "documents.get",
        ("POST" | "PUT", "/indexes/{}/documents") => "documents.add",
        ("DELETE", "/indexes/{}/documents" | "/indexes/{}/documents/{}") => "documents.delete",
        ("POST", "/indexes/{}/documents/delete-batch" | "/indexes/{}/documents/delete") => {
            "documents.delete"
        }
        ("POST", "/indexes/{}/documents/edit") => "documents.*",
        ("GET" | "POST", "/indexes/{}/search" | "/indexes/{}/similar") => "search",
        ("POST", "/indexes/{}/facet-search" | "/multi-search") => "search",
        ("GET", "/indexes/{}/settings" | "/indexes/{}/settings/{}") => "settings.get",
        ("PATCH" | "PUT" | "DELETE", "/indexes/{}/settings" | "/indexes/{}/settings/{}") => {
            "settings.update"
        }
        ("POST", "/indexes/{}/fields") => "fields.post",
        ("GET", "/tasks" | "/tasks/{}" | "/tasks/{}/documents" | "/batches" | "/batches/{}") => {
            "tasks.get"
        }
        ("POST", "/tasks/cancel") => "tasks.cancel",
        ("DELETE", "/tasks") => "tasks.delete",
        ("POST", "/tasks/compact") => "tasks.compact",
        ("GET", "/keys" | "/keys/{}") => "keys.get",
        ("POST", "/keys") => "keys.create",
        ("PATCH", "/keys/{}") => "keys.update",
        ("DELETE", "/keys/{}") => "keys.delete",
        ("GET", "/experimental-features") => "experimental.get",
        ("PATCH", "/experimental-features") => "experimental.update",
        ("POST", "/dumps") => "dumps.create",
        ("POST", "/snapshots") => "snapshots.create",
        ("POST", "/export") => "export",
        ("GET", "/network") => "network.get",
        ("PATCH", "/network") => "network.update",
        ("GET", "/metrics") => "metrics.get",
        ("GET", "/webhooks" | "/webhooks/{}") => "webhooks.get",
        ("POST", "/webhooks") => "webhooks.create",
        ("PATCH", "/webhooks/{}") => "webhooks.update",
        ("DELETE", "/webhooks/{}") => "webhooks.delete",
        _ => "*",
    }
}

/// The index a route is about: the first path parameter of a route under `/indexes/{...}`.
pub fn index_param_name(template: &str) -> Option<&str> {
    let rest = template.strip_prefix("/indexes/{")?;
    rest.split_once('}').map(|(name, _)| name)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
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

    #[test]
    fn routes_need_their_action() {
        assert_eq!(
            route_action(&Method::POST, "/indexes/{uid}/search"),
            "search"
        );
        assert_eq!(
            route_action(&Method::GET, "/indexes/{index_uid}/documents/{id}"),
            "documents.get"
        );
        assert_eq!(
            route_action(&Method::PUT, "/indexes/{uid}/settings/{name}"),
            "settings.update"
        );
        assert_eq!(route_action(&Method::DELETE, "/keys/{key}"), "keys.delete");
        assert_eq!(route_action(&Method::POST, "/some/new/route"), "*");
        assert_eq!(index_param_name("/indexes/{uid}/search"), Some("uid"));
        assert_eq!(index_param_name("/indexes"), None);
    }
}
