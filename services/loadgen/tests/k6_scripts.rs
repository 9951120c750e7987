//! Invariant: the k6 scripts of `loadtest/` and this generator run the same scenarios: the
//! scripts pass their own tests under node (options built from `scenarios.json` unchanged, tags,
//! checks, setup, `handleSummary`), and the requests their iterations send are, request for
//! request, the ones the generator sends (same query order, same batches under the same ids).
//! k6 cannot be installed here; node, which runs the scripts with k6's modules replaced by
//! recording stand-ins, is part of the machine.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

use miroir_loadgen::scenario::ScenarioFile;
use miroir_loadgen::workload::{Op, batch, read_documents, read_queries};
use serde_json::{Value, json};

fn loadtest() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../loadtest")
}

fn node(args: &[&str]) -> String {
    let out = Command::new("node")
        .args(args)
        .current_dir(loadtest().join(".."))
        .output()
        .expect(
            "node is needed to test the k6 scripts (it comes with this machine: /usr/bin/node)",
        );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "node {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn the_k6_scripts_pass_their_tests() {
    let out = node(&["--test", "loadtest/test/k6-scripts.test.mjs"]);
    assert!(out.contains("# fail 0"), "{out}");
    assert!(!out.contains("# pass 0"), "{out}");
}

#[test]
fn the_k6_scripts_send_what_the_generator_sends() {
    let file = ScenarioFile::read(&loadtest().join("scenarios.json")).unwrap();
    let queries = read_queries(&file.queries).unwrap();
    let n = queries.len() + 3;
    let sent: Vec<Value> = serde_json::from_str(&node(&[
        "loadtest/test/requests.mjs",
        "search",
        "search",
        &n.to_string(),
    ]))
    .unwrap();
    assert_eq!(sent.len(), n);
    for (i, request) in sent.iter().enumerate() {
        let q = &queries[i % queries.len()];
        let want = json!({"op": q.op.name(), "query": q.tag, "path": q.op.path(&file.index), "body": q.body});
        assert_eq!(request, &want, "search iteration {i}");
    }

    let corpus = read_documents(&file.documents.file).unwrap();
    let sent: Vec<Value> = serde_json::from_str(&node(&[
        "loadtest/test/requests.mjs",
        "indexing",
        "write",
        "3",
    ]))
    .unwrap();
    for (n, request) in sent.iter().enumerate() {
        let docs = batch(
            &corpus,
            n as u64,
            file.documents.batch_size,
            file.documents.id_offset,
            file.documents.id_space,
        );
        let want = json!({"op": "write", "query": "batch", "path": Op::Write.path(&file.index), "body": docs});
        assert_eq!(request, &want, "write iteration {n}");
    }
}
