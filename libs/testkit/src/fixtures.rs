//! Where the repository's fixtures live, and typed access to them. The recordings of a real
//! Meilisearch 1.50 node are the specification of a node's behaviour; tests read the copies inside
//! this crate, found through `CARGO_MANIFEST_DIR`, so that a clone is self-contained.

use std::path::PathBuf;

use anyhow::{Context, Result};
use serde::Deserialize;
use serde_json::Value;

/// `libs/testkit/fixtures/`.
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// `libs/testkit/fixtures/meilisearch-1.50/`: the recorded exchanges (`01..10-*.json`).
pub fn recordings_dir() -> PathBuf {
    fixtures_dir().join("meilisearch-1.50")
}

/// `libs/testkit/fixtures/npm-10k.ndjson`: 10,000 npm package records, one JSON object a line.
pub fn npm_corpus_path() -> PathBuf {
    fixtures_dir().join("npm-10k.ndjson")
}

/// One recorded request and the answer the real node gave.
#[derive(Clone, Debug, Deserialize)]
pub struct Exchange {
    pub name: String,
    pub request: RecordedRequest,
    pub response: RecordedResponse,
}

#[derive(Clone, Debug, Deserialize)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    #[serde(default)]
    pub headers: serde_json::Map<String, Value>,
    #[serde(default)]
    pub body: Value,
}

#[derive(Clone, Debug, Deserialize)]
pub struct RecordedResponse {
    pub status: u16,
    #[serde(default)]
    pub body: Value,
}

/// The exchanges of one recording file, by file name (`"01-basics.json"`). The sharded oracle
/// (`10-sharded-oracle.json`) has another shape: read it with `serde_json` directly.
pub fn load_recordings(file: &str) -> Result<Vec<Exchange>> {
    let path = recordings_dir().join(file);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// The first `limit` documents of the npm corpus (all 10,000 with `usize::MAX`).
pub fn npm_documents(limit: usize) -> Result<Vec<Value>> {
    let path = npm_corpus_path();
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .take(limit)
        .enumerate()
        .map(|(n, line)| {
            serde_json::from_str(line).with_context(|| format!("{} line {}", path.display(), n + 1))
        })
        .collect()
}
