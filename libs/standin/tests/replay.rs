//! Invariant: replayed in order against the stand-in, every in-scope exchange recorded with a
//! real Meilisearch 1.50 node (`libs/testkit/fixtures/meilisearch-1.50/01..09-*.json`) gets
//! the same status and a body of the same shape (same keys in the same order, same JSON types),
//! with the same values wherever they are deterministic; search hits need only the same shape.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Exchange, Server, load_recordings, npm_corpus_path};
use miroir_standin::Config;
use serde_json::Value;

const MASTER_KEY: &str = "replay-master-key-0123456789abcdef";

const FILES: &[&str] = &[
    "01-basics.json",
    "02-indexes.json",
    "03-documents.json",
    "04-settings.json",
    "05-search.json",
    "06-multi-search.json",
    "07-tasks.json",
    "08-keys.json",
    "09-misc.json",
];

/// Exchanges the stand-in cannot reproduce, with why. Everything else is compared.
const OUT_OF_SCOPE: &[(&str, &str, &str)] = &[];

/// Fields whose values change from run to run (or with the storage engine): only their JSON
/// type is compared.
const VOLATILE: &[&str] = &[
    "enqueuedAt",
    "startedAt",
    "finishedAt",
    "duration",
    "processingTimeMs",
    "requestUid",
    "createdAt",
    "updatedAt",
    "lastUpdate",
    "databaseSize",
    "usedDatabaseSize",
    "rawDocumentDbSize",
    "avgDocumentSize",
    "dumpUid",
    "key",
];

/// Search answers compare these exactly; the rest of them only by shape.
const SEARCH_EXACT: &[&str] = &[
    "query",
    "limit",
    "offset",
    "hitsPerPage",
    "page",
    "indexUid",
    "facetQuery",
];

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Exact,
    Shape,
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn is_error(v: &Value) -> bool {
    v.as_object().is_some_and(|o| {
        let keys: Vec<&str> = o.keys().map(String::as_str).collect();
        keys == ["message", "code", "type", "link"]
    })
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 300 {
        format!(
            "{}…",
            &s[..s.char_indices().nth(300).map_or(s.len(), |(i, _)| i)]
        )
    } else {
        s
    }
}

struct Cmp {
    diffs: Vec<String>,
}

impl Cmp {
    fn diff(&mut self, path: &str, msg: String) {
        if self.diffs.len() < 40 {
            self.diffs.push(format!(
                "  at {}: {msg}",
                if path.is_empty() { "." } else { path }
            ));
        }
    }

    fn compare(&mut self, expected: &Value, actual: &Value, path: &str, key: &str, mode: Mode) {
        if type_name(expected) != type_name(actual) {
            return self.diff(
                path,
                format!(
                    "expected {} {}, got {} {}",
                    type_name(expected),
                    short(expected),
                    type_name(actual),
                    short(actual)
                ),
            );
        }
        if VOLATILE.contains(&key) || key == "progressTrace" {
            return;
        }
        // In a search answer, error bodies and the echoed parameters are still exact.
        let mode = if mode == Mode::Shape && (is_error(expected) || SEARCH_EXACT.contains(&key)) {
            Mode::Exact
        } else {
            mode
        };
        match (expected, actual) {
            (Value::Object(e), Value::Object(a)) => {
                let data_map = mode == Mode::Shape
                    && (path.contains(".facetDistribution.")
                        || path.contains(".distribution.")
                        || key == "_matchesPosition");
                if data_map {
                    // Keys are data (facet values, matched fields): a value is compared with the
                    // recorded one of the same key, or must look like one of the recorded values.
                    for (k, v) in a {
                        let at = format!("{path}.{k}");
                        match e.get(k) {
                            Some(ev) => self.compare(ev, v, &at, k, Mode::Shape),
                            None => {
                                let fits = e.values().any(|ev| {
                                    let mut probe = Cmp { diffs: Vec::new() };
                                    probe.compare(ev, v, "", k, Mode::Shape);
                                    probe.diffs.is_empty()
                                });
                                if !fits && !e.is_empty() {
                                    self.diff(
                                        &at,
                                        format!(
                                            "{} looks like none of the recorded values",
                                            short(v)
                                        ),
                                    );
                                }
                            }
                        }
                    }
                    return;
                }
                let ek: Vec<&String> = e.keys().collect();
                let ak: Vec<&String> = a.keys().collect();
                if ek != ak {
                    return self.diff(path, format!("keys differ: expected {ek:?}, got {ak:?}"));
                }
                let api_key = e.contains_key("actions") && e.contains_key("key");
                for (k, ev) in e {
                    if api_key && k == "uid" {
                        if type_name(ev) != type_name(&a[k]) {
                            self.diff(&format!("{path}.uid"), "type differs".into());
                        }
                        continue;
                    }
                    self.compare(ev, &a[k], &format!("{path}.{k}"), k, mode);
                }
            }
            (Value::Array(e), Value::Array(a)) => match mode {
                Mode::Exact => {
                    if e.len() != a.len() {
                        return self.diff(
                            path,
                            format!(
                                "expected {} elements, got {}: {}",
                                e.len(),
                                a.len(),
                                short(actual)
                            ),
                        );
                    }
                    for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                        self.compare(ev, av, &format!("{path}[{i}]"), key, mode);
                    }
                }
                Mode::Shape => {
                    let counted = matches!(key, "hits" | "facetHits" | "results");
                    if counted && e.len() != a.len() {
                        return self.diff(
                            path,
                            format!("expected {} elements, got {}", e.len(), a.len()),
                        );
                    }
                    if e.is_empty() || a.is_empty() {
                        return;
                    }
                    for (i, av) in a.iter().enumerate() {
                        // An element must have the shape of one of the recorded elements.
                        let fits = e.iter().any(|ev| {
                            let mut probe = Cmp { diffs: Vec::new() };
                            probe.compare(ev, av, "", key, Mode::Shape);
                            probe.diffs.is_empty()
                        });
                        if !fits {
                            let mut first = Cmp { diffs: Vec::new() };
                            first.compare(
                                &e[i.min(e.len() - 1)],
                                av,
                                &format!("{path}[{i}]"),
                                key,
                                Mode::Shape,
                            );
                            self.diffs.extend(first.diffs);
                        }
                    }
                }
            },
            _ => {
                if mode == Mode::Exact && !same_scalar(expected, actual) {
                    self.diff(
                        path,
                        format!("expected {}, got {}", short(expected), short(actual)),
                    );
                }
            }
        }
    }
}

fn same_scalar(e: &Value, a: &Value) -> bool {
    match (e, a) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => e == a,
    }
}

/// A request ready to send: path, headers, body.
type Prepared = (String, Vec<(&'static str, String)>, Option<Vec<u8>>);

struct Replay {
    server: Server,
    search_key: Option<(String, String)>,
    recorded_key_uid: Option<String>,
}

impl Replay {
    /// The request as the recording made it, with this run's keys.
    fn prepare(&self, ex: &Exchange) -> Prepared {
        let mut path = ex.request.path.clone();
        if let (Some(recorded), Some((_, uid))) = (&self.recorded_key_uid, &self.search_key) {
            path = path.replace(recorded.as_str(), uid);
        }
        let mut headers = Vec::new();
        for (k, v) in &ex.request.headers {
            let v = v.as_str().unwrap_or_default().to_string();
            let v = if v.contains("<key>") {
                let key = match ex.name.as_str() {
                    "version with wrong key" => "not-the-master-key".to_string(),
                    n if n.contains("with search key") => self
                        .search_key
                        .as_ref()
                        .map(|(k, _)| k.clone())
                        .unwrap_or_default(),
                    _ => MASTER_KEY.to_string(),
                };
                v.replace("<key>", &key)
            } else {
                v
            };
            let name: &'static str = match k.to_ascii_lowercase().as_str() {
                "authorization" => "Authorization",
                "content-type" => "Content-Type",
                other => panic!("unexpected recorded header {other}"),
            };
            headers.push((name, v));
        }
        let body = match &ex.request.body {
            Value::Null => None,
            // NDJSON, CSV and deliberately malformed JSON were recorded as raw text.
            Value::String(s) => Some(s.clone().into_bytes()),
            other => Some(serde_json::to_vec(other).unwrap()),
        };
        (path, headers, body)
    }

    async fn run(&mut self, file: &str, ex: &Exchange) -> (u16, Value) {
        let (path, headers, body) = self.prepare(ex);
        if ex.name.ends_with("-> task") {
            let uid: u64 = path.trim_start_matches("/tasks/").parse().unwrap();
            return self.server.poll_task(uid).await;
        }
        let (status, body) = self
            .server
            .send(&ex.request.method, &path, &headers, body)
            .await;
        if file == "08-keys.json" && ex.name == "create search-only key" {
            let key = body["key"].as_str().unwrap_or_default().to_string();
            let uid = body["uid"].as_str().unwrap_or_default().to_string();
            self.search_key = Some((key, uid));
            self.recorded_key_uid = ex.response.body["uid"].as_str().map(str::to_string);
        }
        (status, body)
    }

    /// The recording loaded the npm corpus (task 27) right after the npm settings, in an
    /// exchange it does not show.
    async fn load_corpus(&self) -> Option<String> {
        let corpus = std::fs::read(npm_corpus_path()).unwrap();
        let mut headers = self.server.auth();
        headers.push(("Content-Type", "application/x-ndjson".into()));
        let (status, body) = self
            .server
            .send("POST", "/indexes/npm/documents", &headers, Some(corpus))
            .await;
        if status != 202 || body["taskUid"] != 27 {
            return Some(format!(
                "loading the npm corpus: expected 202 and task 27 as in the recording, got {status} {body}"
            ));
        }
        let task = self.server.wait_task(27).await;
        (task["status"] != "succeeded").then(|| format!("loading the npm corpus: {task}"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorded_exchanges_replay_against_the_standin() {
    let config = Config {
        master_key: Some(MASTER_KEY.to_string()),
        ..Config::default()
    };
    let mut replay = Replay {
        server: Server::start(config).await,
        search_key: None,
        recorded_key_uid: None,
    };
    let (mut in_scope, mut skipped, mut failures) = (0, 0, Vec::new());
    for file in FILES {
        for ex in load_recordings(file) {
            let skip = OUT_OF_SCOPE
                .iter()
                .any(|(f, n, _)| f == file && *n == ex.name);
            let (status, body) = replay.run(file, &ex).await;
            if skip {
                skipped += 1;
            } else {
                in_scope += 1;
                let is_search = ["/search", "/multi-search", "/facet-search"]
                    .iter()
                    .any(|p| ex.request.path.contains(p));
                let mode = if is_search && ex.response.status == 200 {
                    Mode::Shape
                } else {
                    Mode::Exact
                };
                let mut cmp = Cmp { diffs: Vec::new() };
                if status != ex.response.status {
                    cmp.diffs.push(format!(
                        "  status: expected {}, got {status}",
                        ex.response.status
                    ));
                }
                cmp.compare(&ex.response.body, &body, "", "", mode);
                if !cmp.diffs.is_empty() {
                    failures.push(format!(
                        "{file} / {}: {} {}\n{}\n  expected: {}\n  actual:   {}",
                        ex.name,
                        ex.request.method,
                        ex.request.path,
                        cmp.diffs.join("\n"),
                        short(&ex.response.body),
                        short(&body)
                    ));
                }
            }
            if *file == "05-search.json" && ex.name == "npm settings -> task" {
                failures.extend(replay.load_corpus().await);
            }
        }
    }
    println!(
        "replayed {in_scope} in-scope exchanges ({skipped} out of scope), {} differ",
        failures.len()
    );
    replay.server.stop().await;
    assert!(
        failures.is_empty(),
        "{} of {in_scope} exchanges differ from the recording:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn out_of_scope_list_names_recorded_exchanges() {
    for (file, name, reason) in OUT_OF_SCOPE {
        assert!(!reason.is_empty());
        let found = load_recordings(file).iter().any(|e| e.name == *name);
        assert!(found, "{file} has no exchange named {name}");
    }
}

#[test]
fn the_comparison_can_fail() {
    let mut cmp = Cmp { diffs: Vec::new() };
    cmp.compare(
        &serde_json::json!({"a": 1, "b": [1.0]}),
        &serde_json::json!({"b": [1], "a": 1}),
        "",
        "",
        Mode::Exact,
    );
    assert!(!cmp.diffs.is_empty());
    let mut cmp = Cmp { diffs: Vec::new() };
    cmp.compare(
        &serde_json::json!({"hits": [{"id": 1, "s": null}, {"id": 2, "s": "x"}]}),
        &serde_json::json!({"hits": [{"id": 5, "s": "y"}, {"id": 6, "s": null}]}),
        "",
        "",
        Mode::Shape,
    );
    assert!(cmp.diffs.is_empty(), "{:?}", cmp.diffs);
    let mut cmp = Cmp { diffs: Vec::new() };
    cmp.compare(
        &serde_json::json!({"hits": [{"id": 1}]}),
        &serde_json::json!({"hits": [{"id": "1"}]}),
        "",
        "",
        Mode::Shape,
    );
    assert!(!cmp.diffs.is_empty());
}
