//! Invariant: every error code has one status and one type, Meilisearch 1.50's where a recording
//! shows that code, and no crate spells a code as a string outside the table in `error_code.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use miroir_proto::{Code, ErrorCode, MeiliError};
use serde_json::Value;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every `{message, code, type, link}` in the recordings, with the HTTP status it came with when it
/// is the whole response (`None` inside a task, whose error has no status of its own).
fn recorded_errors() -> Vec<(String, Option<u16>, Value)> {
    let dir = workspace().join("libs/testkit/fixtures/meilisearch-1.50");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !name.ends_with(".json") || name.starts_with("10-") {
            continue;
        }
        let exchanges: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for ex in exchanges.as_array().unwrap() {
            let status = ex["response"]["status"].as_u64().unwrap() as u16;
            let at = format!("{name}: {}", ex["name"]);
            collect(&ex["response"]["body"], Some(status), &at, &mut out);
        }
    }
    out
}

fn collect(v: &Value, status: Option<u16>, at: &str, out: &mut Vec<(String, Option<u16>, Value)>) {
    match v {
        Value::Object(map) => {
            if map.contains_key("code") && map.contains_key("type") && map.contains_key("link") {
                out.push((at.to_string(), status, v.clone()));
            }
            for child in map.values() {
                collect(child, None, at, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| collect(i, None, at, out)),
        _ => {}
    }
}

#[test]
fn statuses_and_types_are_the_recorded_ones() {
    let errors = recorded_errors();
    assert!(errors.len() > 20, "the recordings hold errors");
    for (at, status, body) in errors {
        let wire = body["code"].as_str().unwrap();
        let code = ErrorCode::from_wire(wire)
            .unwrap_or_else(|| panic!("{at}: `{wire}` is not in the table"));
        assert_eq!(
            body["type"],
            code.error_type().as_str(),
            "{at}: type of `{wire}`"
        );
        assert_eq!(
            body["link"],
            MeiliError::new(code, "").link(),
            "{at}: link of `{wire}`"
        );
        let Some(status) = status else { continue };
        // Meilisearch answers an error inside a multi-search query with 400 whatever its code;
        // the multi-search wrappers (`in_query` in the merger and the stand-in) do the same.
        let inside_query = body["message"]
            .as_str()
            .unwrap()
            .starts_with("Inside `.queries[");
        if !inside_query {
            assert_eq!(status, code.status(), "{at}: status of `{wire}`");
        }
    }
}

#[test]
fn a_node_error_with_an_unknown_code_decodes_and_passes_through() {
    let body =
        br#"{"message":"m","code":"a_code_from_the_future","type":"invalid_request","link":"x"}"#;
    let e = MeiliError::from_node_body(418, body);
    assert_eq!(e.status, 418);
    assert_eq!(e.code, Code::from_wire("a_code_from_the_future"));
    assert_eq!(e.code.known(), None);
    assert_eq!(e.to_json()["code"], "a_code_from_the_future");
    let back = miroir_proto::decode_outcome::<miroir_proto::rpc::JsonBody>(
        &miroir_proto::encode_outcome::<miroir_proto::rpc::JsonBody>(&miroir_proto::Outcome::Err(
            e.clone(),
        ))
        .unwrap(),
    )
    .unwrap();
    assert_eq!(back, miroir_proto::Outcome::Err(e));
}

/// The source of `path` that is not a test: up to its `#[cfg(test)]` module, nothing for a file
/// that is itself a test module.
fn non_test_source(path: &Path) -> String {
    let name = path.file_name().unwrap().to_string_lossy();
    if name == "tests.rs" || name.ends_with("_tests.rs") {
        return String::new();
    }
    let text = std::fs::read_to_string(path).unwrap();
    match text.find("#[cfg(test)]\nmod ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_code_is_spelled_outside_the_table() {
    let root = workspace();
    let mut files = Vec::new();
    for group in ["libs", "services"] {
        for krate in std::fs::read_dir(root.join(group)).unwrap() {
            rust_files(&krate.unwrap().path().join("src"), &mut files);
        }
    }
    let table = root
        .join("libs/proto/src/error_code.rs")
        .canonicalize()
        .unwrap();
    let mut found = Vec::new();
    for path in files {
        if path.canonicalize().unwrap() == table {
            continue;
        }
        let source = non_test_source(&path);
        for &code in ErrorCode::ALL {
            let quoted = format!("\"{}\"", code.as_str());
            for (n, line) in source.lines().enumerate() {
                if line.contains(&quoted) {
                    found.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "error codes spelled outside libs/proto/src/error_code.rs:\n{}",
        found.join("\n")
    );
}
