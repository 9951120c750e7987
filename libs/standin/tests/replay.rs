//! Invariant: replayed in order against the stand-in, every in-scope exchange recorded with a
//! real Meilisearch 1.50 node (`libs/testkit/fixtures/meilisearch-1.50/01..09-*.json`) gets
//! the same status and a body of the same shape (same keys in the same order, same JSON types),
//! with the same values wherever they are deterministic; search hits need only the same shape.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Exchange, Server, load_recordings, npm_corpus_path};
use miroir_standin::Config;
use miroir_testkit::conformance::{Cmp, Mode, compare_exchange, short};
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
                let diffs = compare_exchange(
                    &ex.request.path,
                    ex.response.status,
                    &ex.response.body,
                    status,
                    &body,
                );
                if !diffs.is_empty() {
                    failures.push(format!(
                        "{file} / {}: {} {}\n{}\n  expected: {}\n  actual:   {}",
                        ex.name,
                        ex.request.method,
                        ex.request.path,
                        diffs.join("\n"),
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
