//! Invariant: a `NodeKind::Meilisearch` node is a separate process started with the flags a real
//! Meilisearch needs (address, key, database under its own directory, no analytics), polled on
//! `/health`, killed by `stop` and on drop, and restarted on the same port with the same database.
//! A small Python program stands in for the binary here; `MEILI_BIN` runs the real one elsewhere.
#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

use miroir_testkit::{NodeKind, NodeOptions, start_node};

/// Serves `/health` and `/argv` (the flags it got) and counts its starts in the database dir.
const FAKE_MEILISEARCH: &str = r#"#!/usr/bin/env python3
import http.server, json, os, sys
args = sys.argv[1:]
flags = {a: b for a, b in zip(args, args[1:] + [""]) if a.startswith("--") and not b.startswith("--")}
assert "--no-analytics" in args and flags.get("--env") == "development", args
os.makedirs(flags["--db-path"], exist_ok=True)
starts = os.path.join(flags["--db-path"], "starts")
count = int(open(starts).read()) + 1 if os.path.exists(starts) else 1
open(starts, "w").write(str(count))
host, port = flags["--http-addr"].rsplit(":", 1)
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = {"/health": {"status": "available"}, "/argv": {"args": args, "starts": count}}.get(self.path)
        data = json.dumps(body).encode()
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def log_message(self, *a):
        pass
http.server.HTTPServer((host, int(port)), Handler).serve_forever()
"#;

fn fake_binary(dir: &tempfile::TempDir) -> PathBuf {
    let path = dir.path().join("meilisearch");
    std::fs::write(&path, FAKE_MEILISEARCH).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[tokio::test]
async fn meilisearch_process_gets_its_flags_and_restarts_in_place() {
    let bin_dir = tempfile::tempdir().unwrap();
    let options = NodeOptions {
        kind: NodeKind::Meilisearch {
            binary: fake_binary(&bin_dir),
        },
        master_key: Some("a-master-key-of-sixteen-bytes".into()),
        max_payload_bytes: Some(2_000_000),
        task_delay: None,
    };
    let mut node = start_node(options).await.unwrap();
    let port = node.port();
    let argv = node.client().get("/argv").await.unwrap().body;
    let args: Vec<String> = serde_json::from_value(argv["args"].clone()).unwrap();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    assert_eq!(flag("--http-addr"), Some(format!("127.0.0.1:{port}")));
    assert_eq!(
        flag("--master-key").as_deref(),
        Some("a-master-key-of-sixteen-bytes")
    );
    assert_eq!(
        flag("--http-payload-size-limit").as_deref(),
        Some("2000000")
    );
    assert!(
        flag("--db-path").unwrap().contains("miroir-meili-"),
        "{args:?}"
    );
    assert_eq!(argv["starts"], 1);

    node.restart().await.unwrap();
    assert_eq!(node.port(), port);
    assert_eq!(
        node.client().get("/argv").await.unwrap().body["starts"],
        2,
        "the database must survive a restart"
    );

    drop(node);
    assert!(
        std::net::TcpStream::connect_timeout(
            &([127, 0, 0, 1], port).into(),
            Duration::from_secs(1)
        )
        .is_err()
    );
}

#[tokio::test]
async fn a_binary_that_dies_at_start_is_reported_with_its_log() {
    let bin_dir = tempfile::tempdir().unwrap();
    let path = bin_dir.path().join("meilisearch");
    std::fs::write(
        &path,
        "#!/bin/sh\necho 'cannot open database' >&2\nexit 3\n",
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    let options = NodeOptions {
        kind: NodeKind::Meilisearch { binary: path },
        ..Default::default()
    };
    let error = format!("{:#}", start_node(options).await.err().unwrap());
    assert!(error.contains("cannot open database"), "{error}");
}
