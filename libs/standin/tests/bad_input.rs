//! Invariant: whatever a client sends (malformed JSON, wrong content types, bad ids and uids,
//! bad filters, unknown parameters, huge or negative numbers, invalid UTF-8, empty bodies) on
//! any route family, the node answers with Meilisearch's status and error code in a
//! Meilisearch-shaped body: never a panic, never a 500, never a bare framework body.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::Server;
use miroir_standin::Config;
use serde_json::{Value, json};

const KEY: &str = "bad-input-master-key";

#[derive(Clone, Copy)]
enum Auth {
    Master,
    Missing,
    Raw(&'static str),
}

struct Case {
    method: &'static str,
    path: &'static str,
    content_type: Option<&'static str>,
    body: Option<Vec<u8>>,
    auth: Auth,
    status: u16,
    code: &'static str,
}

fn case(method: &'static str, path: &'static str, status: u16, code: &'static str) -> Case {
    Case {
        method,
        path,
        content_type: None,
        body: None,
        auth: Auth::Master,
        status,
        code,
    }
}

impl Case {
    fn json(mut self, body: Value) -> Case {
        self.content_type = Some("application/json");
        self.body = Some(serde_json::to_vec(&body).unwrap());
        self
    }
    fn raw(mut self, content_type: Option<&'static str>, body: &[u8]) -> Case {
        self.content_type = content_type;
        self.body = Some(body.to_vec());
        self
    }
    fn auth(mut self, auth: Auth) -> Case {
        self.auth = auth;
        self
    }
}

const JSON: Option<&str> = Some("application/json");

fn cases() -> Vec<Case> {
    let invalid_utf8: &[u8] = b"{\"uid\": \"\xff\xfe\"}";
    vec![
        // Authentication.
        case("GET", "/indexes", 401, "missing_authorization_header").auth(Auth::Missing),
        case("GET", "/indexes", 403, "invalid_api_key").auth(Auth::Raw("Bearer wrong")),
        case("GET", "/indexes", 401, "missing_authorization_header").auth(Auth::Raw("Basic abc")),
        case("GET", "/indexes", 403, "invalid_api_key").auth(Auth::Raw("Bearer")),
        // Routing.
        case("GET", "/nope", 404, "not_found"),
        case("PUT", "/health", 405, "method_not_allowed"),
        case("GET", "/indexes/movies/settings/nope", 404, "not_found"),
        case("PATCH", "/indexes/movies/settings/ranking-rules", 405, "method_not_allowed").json(json!(["words"])),
        case("GET", "/indexes/%FF", 400, "bad_request"),
        // Indexes.
        case("POST", "/indexes", 400, "malformed_payload").raw(JSON, b"{\"uid\":"),
        case("POST", "/indexes", 400, "missing_payload").raw(JSON, b""),
        case("POST", "/indexes", 415, "invalid_content_type").raw(Some("text/plain"), b"uid=x"),
        case("POST", "/indexes", 415, "missing_content_type").raw(None, b"{\"uid\": \"x\"}"),
        case("POST", "/indexes", 400, "malformed_payload").raw(JSON, invalid_utf8),
        case("POST", "/indexes", 400, "invalid_index_uid").json(json!({"uid": 12})),
        case("POST", "/indexes", 400, "invalid_index_uid").json(json!({"uid": "a".repeat(600)})),
        case("POST", "/indexes", 400, "invalid_index_uid").json(json!({"uid": "é"})),
        case("POST", "/indexes", 400, "missing_index_uid").json(json!({"primaryKey": "id"})),
        case("POST", "/indexes", 400, "invalid_index_primary_key").json(json!({"uid": "x", "primaryKey": 3})),
        case("POST", "/indexes", 400, "bad_request").json(json!({"uid": "x", "nope": 1})),
        case("POST", "/indexes", 400, "bad_request").json(json!(["x"])),
        case("GET", "/indexes?limit=-1", 400, "invalid_index_limit"),
        case("GET", "/indexes?offset=abc", 400, "invalid_index_offset"),
        case("GET", "/indexes?limit=184467440737095516160", 400, "invalid_index_limit"),
        case("GET", "/indexes?limit=1&limit=2", 400, "invalid_index_limit"),
        case("GET", "/indexes?nope=1", 400, "bad_request"),
        case("GET", "/indexes/bad%20uid!", 400, "invalid_index_uid"),
        case("GET", "/indexes/ghost", 404, "index_not_found"),
        case("GET", "/indexes/ghost/stats", 404, "index_not_found"),
        case("PATCH", "/indexes/movies", 400, "bad_request").json(json!({"nope": true})),
        case("PATCH", "/indexes/movies", 400, "invalid_index_uid").json(json!({"uid": "no way"})),
        case("POST", "/swap-indexes", 400, "invalid_swap_indexes").json(json!([{"indexes": ["a"]}])),
        case("POST", "/swap-indexes", 400, "invalid_swap_duplicate_index_found").json(json!([{"indexes": ["a", "a"]}])),
        case("POST", "/swap-indexes", 400, "missing_swap_indexes").json(json!([{}])),
        case("POST", "/swap-indexes", 400, "bad_request").json(json!({"indexes": ["a", "b"]})),
        // Documents.
        case("POST", "/indexes/movies/documents", 400, "malformed_payload").raw(JSON, b"[{\"id\": 1,"),
        case("POST", "/indexes/movies/documents", 400, "malformed_payload").raw(JSON, b"[1, 2]"),
        case("POST", "/indexes/movies/documents", 400, "malformed_payload").raw(JSON, b"\"just a string\""),
        case("POST", "/indexes/movies/documents", 400, "malformed_payload").raw(JSON, b"[{\"id\": \"\xff\"}]"),
        case("POST", "/indexes/movies/documents", 400, "missing_payload").raw(JSON, b""),
        case("POST", "/indexes/movies/documents", 400, "malformed_payload").raw(Some("application/x-ndjson"), b"{\"id\": 1}\n{oops}\n"),
        case("POST", "/indexes/movies/documents", 400, "malformed_payload").raw(Some("application/x-ndjson"), b"[1]\n"),
        case("POST", "/indexes/movies/documents", 400, "malformed_payload").raw(Some("text/csv"), b"id,year:number\n1,soon\n"),
        case("POST", "/indexes/movies/documents", 400, "malformed_payload").raw(Some("text/csv"), b"id,title\n1,a,extra\n"),
        case("POST", "/indexes/movies/documents", 415, "invalid_content_type").raw(Some("text/plain"), b"id=1"),
        case("POST", "/indexes/movies/documents", 415, "invalid_content_type").raw(Some("garbage"), b"[]"),
        case("PUT", "/indexes/movies/documents", 415, "missing_content_type").raw(None, b"[]"),
        case("POST", "/indexes/movies/documents?csvDelimiter=ab", 400, "invalid_document_csv_delimiter").raw(Some("text/csv"), b"id\n1\n"),
        case("POST", "/indexes/movies/documents?csvDelimiter=%3B", 415, "invalid_content_type").raw(JSON, b"[]"),
        case("POST", "/indexes/movies/documents?nope=1", 400, "bad_request").raw(JSON, b"[]"),
        case("POST", "/indexes/bad%20uid/documents", 400, "invalid_index_uid").raw(JSON, b"[]"),
        case("GET", "/indexes/movies/documents?limit=-5", 400, "invalid_document_limit"),
        case("GET", "/indexes/movies/documents?offset=99999999999999999999999", 400, "invalid_document_offset"),
        case("GET", "/indexes/movies/documents?retrieveVectors=maybe", 400, "invalid_document_retrieve_vectors"),
        case("GET", "/indexes/movies/documents?filter=year%20%3E", 400, "invalid_document_filter"),
        case("GET", "/indexes/movies/documents?filter=title%20%3D%20x", 400, "invalid_document_filter"),
        case("GET", "/indexes/movies/documents?sort=title", 400, "invalid_document_sort"),
        case("GET", "/indexes/movies/documents?sort=rating:asc", 400, "invalid_document_sort"),
        case("GET", "/indexes/movies/documents?unknown=1", 400, "bad_request"),
        case("GET", "/indexes/ghost/documents", 404, "index_not_found"),
        case("GET", "/indexes/movies/documents/nope", 404, "document_not_found"),
        case("GET", "/indexes/movies/documents/a%20b", 404, "document_not_found"),
        case("GET", "/indexes/movies/documents/1?fields=title&fields=year", 400, "invalid_document_fields"),
        case("POST", "/indexes/movies/documents/fetch", 400, "invalid_document_limit").json(json!({"limit": "x"})),
        case("POST", "/indexes/movies/documents/fetch", 400, "invalid_document_offset").json(json!({"offset": -1})),
        case("POST", "/indexes/movies/documents/fetch", 400, "invalid_document_ids").json(json!({"ids": [1.5]})),
        case("POST", "/indexes/movies/documents/fetch", 400, "invalid_document_ids").json(json!({"ids": "1"})),
        case("POST", "/indexes/movies/documents/fetch", 400, "invalid_document_fields").json(json!({"fields": "title"})),
        case("POST", "/indexes/movies/documents/fetch", 400, "invalid_document_filter").json(json!({"filter": "year >"})),
        case("POST", "/indexes/movies/documents/fetch", 400, "bad_request").json(json!({"nope": 1})),
        case("POST", "/indexes/movies/documents/fetch", 400, "malformed_payload").raw(JSON, b"{"),
        case("POST", "/indexes/movies/documents/delete-batch", 400, "bad_request").json(json!({"ids": [1]})),
        case("POST", "/indexes/movies/documents/delete-batch", 415, "missing_content_type").raw(None, b"[1]"),
        case("POST", "/indexes/movies/documents/delete", 400, "missing_document_filter").json(json!({})),
        case("POST", "/indexes/movies/documents/delete", 400, "invalid_document_filter").json(json!({"filter": ""})),
        case("POST", "/indexes/movies/documents/delete", 400, "invalid_document_filter").json(json!({"filter": 5})),
        case("POST", "/indexes/movies/documents/delete", 400, "invalid_document_filter").json(json!({"filter": "year = "})),
        case("POST", "/indexes/movies/documents/edit", 400, "feature_not_enabled").json(json!({"function": "doc"})),
        // Settings.
        case("PATCH", "/indexes/movies/settings", 400, "invalid_settings_ranking_rules").json(json!({"rankingRules": "words"})),
        case("PATCH", "/indexes/movies/settings", 400, "invalid_settings_ranking_rules").json(json!({"rankingRules": ["year:up"]})),
        case("PATCH", "/indexes/movies/settings", 400, "invalid_settings_typo_tolerance")
            .json(json!({"typoTolerance": {"minWordSizeForTypos": {"oneTypo": 300}}})),
        case("PATCH", "/indexes/movies/settings", 400, "invalid_settings_typo_tolerance")
            .json(json!({"typoTolerance": {"minWordSizeForTypos": {"oneTypo": 8, "twoTypos": 3}}})),
        case("PATCH", "/indexes/movies/settings", 400, "invalid_settings_typo_tolerance").json(json!({"typoTolerance": {"nope": 1}})),
        case("PATCH", "/indexes/movies/settings", 400, "invalid_settings_pagination").json(json!({"pagination": {"maxTotalHits": -1}})),
        case("PATCH", "/indexes/movies/settings", 400, "invalid_settings_faceting")
            .json(json!({"faceting": {"sortFacetValuesBy": {"*": "random"}}})),
        case("PATCH", "/indexes/movies/settings", 400, "invalid_settings_filterable_attributes").json(json!({"filterableAttributes": [1]})),
        case("PATCH", "/indexes/movies/settings", 400, "invalid_settings_synonyms").json(json!({"synonyms": {"a": "b"}})),
        case("PATCH", "/indexes/movies/settings", 400, "invalid_settings_proximity_precision").json(json!({"proximityPrecision": "exact"})),
        case("PATCH", "/indexes/movies/settings", 400, "invalid_settings_search_cutoff_ms").json(json!({"searchCutoffMs": -3})),
        case("PATCH", "/indexes/movies/settings", 400, "bad_request").json(json!({"nope": 1})),
        case("PATCH", "/indexes/movies/settings", 400, "bad_request").json(json!([1])),
        case("PATCH", "/indexes/movies/settings", 400, "malformed_payload").raw(JSON, b"{\"rankingRules\": [}"),
        case("PATCH", "/indexes/movies/settings", 400, "missing_payload").raw(JSON, b""),
        case("PUT", "/indexes/movies/settings/ranking-rules", 400, "invalid_settings_ranking_rules").json(json!([1])),
        case("PUT", "/indexes/movies/settings/stop-words", 415, "invalid_content_type").raw(Some("text/plain"), b"the"),
        case("PUT", "/indexes/movies/settings/distinct-attribute", 400, "invalid_settings_distinct_attribute").json(json!(["title"])),
        case("PATCH", "/indexes/movies/settings/pagination", 400, "invalid_settings_pagination").json(json!({"maxTotalHits": "many"})),
        case("GET", "/indexes/ghost/settings", 404, "index_not_found"),
        case("GET", "/indexes/bad%20uid/settings/ranking-rules", 400, "invalid_index_uid"),
        // Search.
        case("POST", "/indexes/movies/search", 400, "malformed_payload").raw(JSON, b"{\"q\": "),
        case("POST", "/indexes/movies/search", 415, "missing_content_type").raw(None, b"{}"),
        case("POST", "/indexes/movies/search", 400, "invalid_search_limit").json(json!({"limit": -1})),
        case("POST", "/indexes/movies/search", 400, "invalid_search_limit").json(json!({"limit": 1e300})),
        case("POST", "/indexes/movies/search", 400, "invalid_search_q").json(json!({"q": 5})),
        case("POST", "/indexes/movies/search", 400, "bad_request").json(json!({"nope": 1})),
        case("POST", "/indexes/movies/search", 400, "invalid_search_filter").json(json!({"filter": "year >"})),
        case("POST", "/indexes/movies/search", 400, "invalid_search_sort").json(json!({"sort": ["nope:asc"]})),
        case("POST", "/indexes/ghost/search", 404, "index_not_found").json(json!({"q": "x"})),
        case("GET", "/indexes/movies/search?limit=abc", 400, "invalid_search_limit"),
        case("POST", "/indexes/movies/facet-search", 400, "invalid_facet_search_facet_name").json(json!({"facetName": "title"})),
        case("POST", "/indexes/ghost/facet-search", 404, "index_not_found").json(json!({"facetName": "year"})),
        case("POST", "/indexes/movies/similar", 400, "bad_request").json(json!({"id": 1})),
        case("POST", "/indexes/movies/similar", 400, "invalid_similar_embedder").json(json!({"id": 1, "embedder": "x"})),
        case("POST", "/multi-search", 400, "missing_index_uid").json(json!({"queries": [{"q": "x"}]})),
        case("POST", "/multi-search", 400, "bad_request").json(json!({"queries": "x"})),
        case("POST", "/multi-search", 400, "bad_request").json(json!({})),
        case("POST", "/multi-search", 400, "invalid_index_uid").json(json!({"queries": [{"indexUid": "bad uid"}]})),
        case("POST", "/multi-search", 400, "index_not_found").json(json!({"queries": [{"indexUid": "ghost"}]})),
        case("POST", "/multi-search", 400, "invalid_search_limit").json(json!({"queries": [{"indexUid": "movies", "limit": -2}]})),
        case("POST", "/multi-search", 400, "invalid_multi_search_query_pagination")
            .json(json!({"federation": {}, "queries": [{"indexUid": "movies", "limit": 2}]})),
        case("POST", "/multi-search", 400, "invalid_multi_search_federation_options")
            .json(json!({"queries": [{"indexUid": "movies", "federationOptions": {"weight": 2}}]})),
        case("POST", "/multi-search", 400, "invalid_multi_search_weight")
            .json(json!({"federation": {}, "queries": [{"indexUid": "movies", "federationOptions": {"weight": -2}}]})),
        // Tasks and batches.
        case("GET", "/tasks?limit=abc", 400, "invalid_task_limit"),
        case("GET", "/tasks?from=-1", 400, "invalid_task_from"),
        case("GET", "/tasks?reverse=maybe", 400, "invalid_task_reverse"),
        case("GET", "/tasks?statuses=done", 400, "invalid_task_statuses"),
        case("GET", "/tasks?types=nope", 400, "invalid_task_types"),
        case("GET", "/tasks?uids=1,x", 400, "invalid_task_uids"),
        case("GET", "/tasks?canceledBy=x", 400, "invalid_task_canceled_by"),
        case("GET", "/tasks?indexUids=bad%20uid", 400, "invalid_index_uid"),
        case("GET", "/tasks?afterEnqueuedAt=yesterday", 400, "invalid_task_after_enqueued_at"),
        case("GET", "/tasks?beforeFinishedAt=2024-13-45", 400, "invalid_task_before_finished_at"),
        case("GET", "/tasks?nope=1", 400, "bad_request"),
        case("GET", "/tasks/abc", 400, "invalid_task_uids"),
        case("GET", "/tasks/99999999999", 400, "invalid_task_uids"),
        case("GET", "/tasks/424242", 404, "task_not_found"),
        case("DELETE", "/tasks", 400, "missing_task_filters"),
        case("POST", "/tasks/cancel", 400, "missing_task_filters"),
        case("POST", "/tasks/cancel?limit=1", 400, "bad_request"),
        case("GET", "/batches?limit=x", 400, "invalid_task_limit"),
        case("GET", "/batches/abc", 400, "invalid_batch_uids"),
        case("GET", "/batches/424242", 404, "batch_not_found"),
        // Keys.
        case("POST", "/keys", 400, "missing_api_key_actions").json(json!({})),
        case("POST", "/keys", 400, "invalid_api_key_actions").json(json!({"actions": ["x"], "indexes": ["*"], "expiresAt": null})),
        case("POST", "/keys", 400, "invalid_api_key_indexes").json(json!({"actions": ["search"], "indexes": ["no way"], "expiresAt": null})),
        case("POST", "/keys", 400, "invalid_api_key_expires_at")
            .json(json!({"actions": ["search"], "indexes": ["*"], "expiresAt": "2000-01-01"})),
        case("POST", "/keys", 400, "missing_api_key_expires_at").json(json!({"actions": ["search"], "indexes": ["*"]})),
        case("POST", "/keys", 400, "invalid_api_key_uid").json(json!({"uid": "nope", "actions": ["search"], "indexes": ["*"], "expiresAt": null})),
        case("POST", "/keys", 400, "missing_payload").raw(JSON, b""),
        case("GET", "/keys?limit=x", 400, "invalid_api_key_limit"),
        case("GET", "/keys/nope", 404, "api_key_not_found"),
        case("DELETE", "/keys/nope", 404, "api_key_not_found"),
        // Misc.
        case("GET", "/network", 400, "feature_not_enabled"),
        case("GET", "/metrics", 400, "feature_not_enabled"),
        case("POST", "/snapshots", 501, "not_implemented"),
        case("PATCH", "/experimental-features", 400, "bad_request").json(json!({"nope": true})),
        case("PATCH", "/experimental-features", 400, "bad_request").json(json!({"metrics": "yes"})),
    ]
}

async fn prepared_server(config: Config) -> Server {
    let server = Server::start(config).await;
    let (status, task) = server
        .json("POST", "/indexes/movies/documents", &json!([{"id": 1, "title": "Carol", "year": 2015}, {"id": 2, "title": "Joker", "year": 2019}]))
        .await;
    assert_eq!(status, 202, "{task}");
    server.wait_task(task["taskUid"].as_u64().unwrap()).await;
    let (status, task) = server
        .json(
            "PATCH",
            "/indexes/movies/settings",
            &json!({"filterableAttributes": ["year"], "sortableAttributes": ["year"]}),
        )
        .await;
    assert_eq!(status, 202, "{task}");
    assert_eq!(
        server.wait_task(task["taskUid"].as_u64().unwrap()).await["status"],
        "succeeded"
    );
    server
}

fn is_meili_error(body: &Value) -> bool {
    body.as_object().is_some_and(|o| {
        o.keys().map(String::as_str).collect::<Vec<_>>() == ["message", "code", "type", "link"]
            && body["link"].as_str()
                == Some(&format!(
                    "https://docs.meilisearch.com/errors#{}",
                    body["code"].as_str().unwrap_or_default()
                ))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_meilisearch_errors_on_every_route() {
    let server = prepared_server(Config {
        master_key: Some(KEY.into()),
        ..Config::default()
    })
    .await;
    let mut failures = Vec::new();
    let all = cases();
    for c in &all {
        let mut headers = match c.auth {
            Auth::Master => server.auth(),
            Auth::Missing => vec![],
            Auth::Raw(v) => vec![("Authorization", v.to_string())],
        };
        if let Some(ct) = c.content_type {
            headers.push(("Content-Type", ct.to_string()));
        }
        let (status, body) = server
            .send(c.method, c.path, &headers, c.body.clone())
            .await;
        if status != c.status || body["code"] != c.code || !is_meili_error(&body) {
            failures.push(format!(
                "{} {}: expected {} `{}`, got {status} {body}",
                c.method, c.path, c.status, c.code
            ));
        }
    }
    // None of it hurt the node.
    let (status, _) = server.get("/indexes/movies/documents/1").await;
    assert_eq!(status, 200);
    server.stop().await;
    assert!(
        failures.is_empty(),
        "{} of {} cases answered wrongly:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payloads_over_the_limit_are_refused_on_every_route() {
    let server = prepared_server(Config {
        master_key: Some(KEY.into()),
        max_payload_bytes: 2_000,
        ..Config::default()
    })
    .await;
    let big = json!([{"id": 3, "title": "x".repeat(5_000)}]);
    for (method, path) in [
        ("POST", "/indexes/movies/documents"),
        ("PUT", "/indexes/movies/documents"),
        ("POST", "/indexes/movies/search"),
        ("PATCH", "/indexes/movies/settings"),
        ("POST", "/multi-search"),
    ] {
        let (status, body) = server.json(method, path, &big).await;
        assert_eq!(status, 413, "{method} {path}: {body}");
        assert_eq!(body["code"], "payload_too_large");
        assert!(is_meili_error(&body), "{body}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_tasks_carry_meilisearch_errors() {
    let server = prepared_server(Config {
        master_key: Some(KEY.into()),
        ..Config::default()
    })
    .await;
    let cases = [
        (
            "POST",
            "/indexes/movies/documents?primaryKey=title",
            json!([{"id": 9}]),
            "index_primary_key_already_exists",
        ),
        (
            "POST",
            "/indexes/movies/documents",
            json!([{"id": 1.5}]),
            "invalid_document_id",
        ),
        (
            "POST",
            "/indexes/movies/documents",
            json!([{"title": "no id"}]),
            "missing_document_id",
        ),
        (
            "POST",
            "/indexes/fresh/documents",
            json!([{"a": 1}]),
            "index_primary_key_no_candidate_found",
        ),
        (
            "POST",
            "/indexes/movies/documents/delete",
            json!({"filter": "title = x"}),
            "invalid_document_filter",
        ),
        (
            "PATCH",
            "/indexes/ghost-index",
            json!({"primaryKey": "id"}),
            "index_not_found",
        ),
        (
            "PATCH",
            "/indexes/movies",
            json!({"primaryKey": "title"}),
            "index_primary_key_already_exists",
        ),
        (
            "POST",
            "/indexes",
            json!({"uid": "movies"}),
            "index_already_exists",
        ),
        (
            "POST",
            "/swap-indexes",
            json!([{"indexes": ["movies", "ghost"]}]),
            "index_not_found",
        ),
        (
            "PATCH",
            "/indexes/movies/settings",
            json!({"typoTolerance": {"minWordSizeForTypos": {"oneTypo": 10}}}),
            "invalid_settings_typo_tolerance",
        ),
    ];
    for (method, path, body, code) in cases {
        let (status, enqueued) = server.json(method, path, &body).await;
        assert_eq!(status, 202, "{method} {path}: {enqueued}");
        let task = server
            .wait_task(enqueued["taskUid"].as_u64().unwrap())
            .await;
        assert_eq!(task["status"], "failed", "{method} {path}: {task}");
        assert_eq!(task["error"]["code"], code, "{method} {path}: {task}");
        assert!(is_meili_error(&task["error"]), "{task}");
    }
    // A failed addition did not create its index; the old documents are intact.
    assert_eq!(server.get("/indexes/fresh").await.0, 404);
    assert_eq!(server.get("/indexes/movies/documents").await.1["total"], 2);
    server.stop().await;
}
