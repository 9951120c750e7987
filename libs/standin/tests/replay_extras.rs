//! Invariant: replayed in order against the stand-in, the write-side exchanges of
//! `11-api-1.50-extras.json` (customMetadata on documents and settings, skipCreation, compaction,
//! the foreign-keys setting, index rename, a deleted task) get the recorded status and a body of
//! the recorded shape, with the same values wherever they are deterministic. The read-side
//! exchanges between them are sent too, so that task uids follow the recording, and compared by
//! `replay.rs`'s owner once the stand-in serves them; webhooks and dumps come after and are not
//! sent here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Server, load_recordings};
use miroir_standin::Config;
use miroir_testkit::conformance::{compare_exchange, short};
use serde_json::Value;

const MASTER_KEY: &str = "replay-extras-master-key-0123456789";
const FILE: &str = "11-api-1.50-extras.json";

/// Read-side exchanges (documents sorted, stats sizes, fields): sent, not compared here.
const READ_SIDE: &[&str] = &[
    "get documents sorted",
    "get documents sorted GET",
    "get documents sort on unsortable",
    "index stats internal sizes",
    "index stats size format",
    "global stats size format",
    "global stats bad size format",
    "fields",
    "fields with filter",
    "fields paginated",
];

/// The last exchange of the write side; webhooks and dumps follow it.
const LAST: &str = "deleted task is gone";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_side_extras_replay_against_the_standin() {
    let server = Server::start(Config {
        master_key: Some(MASTER_KEY.to_string()),
        ..Config::default()
    })
    .await;
    let (mut compared, mut failures) = (0, Vec::new());
    for ex in load_recordings(FILE) {
        let path = ex.request.path.clone();
        let (status, body) = if ex.name.ends_with("-> task") {
            let uid: u64 = path.trim_start_matches("/tasks/").parse().unwrap();
            server.poll_task(uid).await
        } else {
            let headers: Vec<(&'static str, String)> = ex
                .request
                .headers
                .iter()
                .map(|(k, v)| {
                    let v = v.as_str().unwrap_or_default().replace("<key>", MASTER_KEY);
                    match k.to_ascii_lowercase().as_str() {
                        "authorization" => ("Authorization", v),
                        "content-type" => ("Content-Type", v),
                        other => panic!("unexpected recorded header {other}"),
                    }
                })
                .collect();
            let body = match &ex.request.body {
                Value::Null => None,
                Value::String(s) => Some(s.clone().into_bytes()),
                other => Some(serde_json::to_vec(other).unwrap()),
            };
            server.send(&ex.request.method, &path, &headers, body).await
        };
        if !READ_SIDE.contains(&ex.name.as_str()) {
            compared += 1;
            let diffs =
                compare_exchange(&path, ex.response.status, &ex.response.body, status, &body);
            if !diffs.is_empty() {
                failures.push(format!(
                    "{}: {} {}\n{}\n  expected: {}\n  actual:   {}",
                    ex.name,
                    ex.request.method,
                    path,
                    diffs.join("\n"),
                    short(&ex.response.body),
                    short(&body)
                ));
            }
        }
        if ex.name == LAST {
            break;
        }
    }
    server.stop().await;
    assert!(compared > 40, "the write side was replayed ({compared})");
    assert!(
        failures.is_empty(),
        "{} of {compared} exchanges differ from the recording:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
