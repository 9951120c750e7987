//! Which key action each route of the gateway needs. The actions themselves, their wildcards and
//! their expansion are shared with the stand-in node in `miroir_proto::key_actions`.

use axum::http::Method;
pub use miroir_proto::key_actions::{ACTIONS, expand, is_keys_action};

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

    #[test]
    fn routes_need_their_action() {
        // `routes::Early` admits both searches and multi-searches with this action.
        for method in [Method::POST, Method::GET] {
            assert_eq!(route_action(&method, "/indexes/{uid}/search"), "search");
        }
        assert_eq!(route_action(&Method::POST, "/multi-search"), "search");
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
