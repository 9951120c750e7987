//! Where `miroirctl import` reads from: a live Meilisearch (its HTTP API and a key) or a
//! Meilisearch dump file (`.dump`, a gzipped tar).
//!
//! Both give the same things: the indexes (uid, primary key, settings, document count), the API
//! keys, and each index's documents as NDJSON batches in a stable order starting at any
//! position, so that an interrupted import resumes where its acknowledged prefix ends.
//!
//! A live source is paged with `GET /indexes/{uid}/documents?offset&limit`, in the node's
//! internal order, which is stable while nobody writes to it: stop the writers of the source
//! before importing (or import again: documents are replaced by primary key).
//!
//! A dump (format `V6`, what Meilisearch 1.x writes) is read with streaming gzip and tar: a
//! first pass reads the small JSON files and counts each index's documents (the tar puts
//! `documents.jsonl` before the index's `metadata.json`, so one pass cannot create the index
//! before its documents come); each index's documents are then streamed by another pass that
//! reads nothing into memory beyond one batch.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::import_http::{Http, HttpError};

/// One index of the source.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceIndex {
    pub uid: String,
    pub primary_key: Option<String>,
    /// The index's settings as the source shows them (`GET /indexes/{uid}/settings`).
    pub settings: Value,
    /// Documents the source holds.
    pub count: u64,
}

/// One API key of the source.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceKey {
    pub uid: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub actions: Vec<String>,
    pub indexes: Vec<String>,
    pub expires_at: Option<String>,
    /// The key's value, when the source shows it (a live source does; a dump does not).
    pub value: Option<String>,
}

/// A page of documents as NDJSON: documents `start .. start + count` of the source's order.
#[derive(Debug)]
pub struct Batch {
    pub start: u64,
    pub count: u64,
    pub body: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("cannot read the dump {path}: {message}")]
    Dump { path: PathBuf, message: String },
    #[error("the source has no index `{0}`")]
    NoSuchIndex(String),
}

/// The source of an import.
pub enum Source {
    Live(Http),
    Dump(DumpFile),
}

impl Source {
    /// Names the source in the state file: an import resumes only over the same source.
    pub fn identity(&self) -> String {
        match self {
            Source::Live(http) => format!("live {}", http.base()),
            Source::Dump(d) => format!("dump {} {}", d.path.display(), d.dump_date),
        }
    }

    pub async fn indexes(&self) -> Result<Vec<SourceIndex>, SourceError> {
        match self {
            Source::Live(http) => live_indexes(http).await,
            Source::Dump(d) => Ok(d.indexes.clone()),
        }
    }

    pub async fn keys(&self) -> Result<Vec<SourceKey>, SourceError> {
        match self {
            Source::Live(http) => live_keys(http).await,
            Source::Dump(d) => Ok(d.keys.clone()),
        }
    }

    /// Batches of `uid`'s documents from position `from`, produced ahead of the sender by at
    /// most `ahead` batches.
    pub fn batches(
        &self,
        uid: &str,
        from: u64,
        batch_size: usize,
        ahead: usize,
    ) -> mpsc::Receiver<Result<Batch, SourceError>> {
        let (tx, rx) = mpsc::channel(ahead.max(1));
        match self {
            Source::Live(http) => {
                let (http, uid) = (http.clone(), uid.to_string());
                tokio::spawn(live_batches(http, uid, from, batch_size, tx));
            }
            Source::Dump(d) => {
                let (path, uid) = (d.path.clone(), uid.to_string());
                tokio::task::spawn_blocking(move || {
                    if let Err(e) = dump_batches(&path, &uid, from, batch_size, &tx) {
                        let _ = tx.blocking_send(Err(e));
                    }
                });
            }
        }
        rx
    }
}

fn encode(path: &str) -> String {
    form_urlencoded_path(path)
}

/// Percent-encode an index uid for a URL path (uids are `[A-Za-z0-9_-]`, so this is a guard).
fn form_urlencoded_path(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn live_indexes(http: &Http) -> Result<Vec<SourceIndex>, SourceError> {
    let mut out = Vec::new();
    let mut offset = 0usize;
    loop {
        let page = http
            .get(&format!("/indexes?offset={offset}&limit=100"))
            .await?;
        let results = page["results"].as_array().cloned().unwrap_or_default();
        for index in &results {
            let Some(uid) = index["uid"].as_str() else {
                continue;
            };
            let path = encode(uid);
            let settings = http.get(&format!("/indexes/{path}/settings")).await?;
            let stats = http.get(&format!("/indexes/{path}/stats")).await?;
            out.push(SourceIndex {
                uid: uid.to_string(),
                primary_key: index["primaryKey"].as_str().map(str::to_string),
                settings,
                count: stats["numberOfDocuments"].as_u64().unwrap_or(0),
            });
        }
        offset += results.len();
        let total = page["total"].as_u64().unwrap_or(0) as usize;
        if results.is_empty() || offset >= total {
            return Ok(out);
        }
    }
}

async fn live_keys(http: &Http) -> Result<Vec<SourceKey>, SourceError> {
    let mut out = Vec::new();
    let mut offset = 0usize;
    loop {
        let page = http
            .get(&format!("/keys?offset={offset}&limit=100"))
            .await?;
        let results = page["results"].as_array().cloned().unwrap_or_default();
        for k in &results {
            let Some(uid) = k["uid"].as_str() else {
                continue;
            };
            out.push(SourceKey {
                uid: uid.to_string(),
                name: k["name"].as_str().map(str::to_string),
                description: k["description"].as_str().map(str::to_string),
                actions: strings(&k["actions"]),
                indexes: strings(&k["indexes"]),
                expires_at: k["expiresAt"].as_str().map(str::to_string),
                value: k["key"].as_str().map(str::to_string),
            });
        }
        offset += results.len();
        let total = page["total"].as_u64().unwrap_or(0) as usize;
        if results.is_empty() || offset >= total {
            return Ok(out);
        }
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

async fn live_batches(
    http: Http,
    uid: String,
    from: u64,
    batch_size: usize,
    tx: mpsc::Sender<Result<Batch, SourceError>>,
) {
    let path = encode(&uid);
    let mut offset = from;
    loop {
        let page = match http
            .get(&format!(
                "/indexes/{path}/documents?offset={offset}&limit={batch_size}"
            ))
            .await
        {
            Ok(page) => page,
            Err(e) => {
                let _ = tx.send(Err(e.into())).await;
                return;
            }
        };
        let docs = page["results"].as_array().cloned().unwrap_or_default();
        if docs.is_empty() {
            return;
        }
        let mut body = Vec::with_capacity(docs.len() * 256);
        for d in &docs {
            // A `Value` always serialises.
            let _ = serde_json::to_writer(&mut body, d);
            body.push(b'\n');
        }
        let count = docs.len() as u64;
        if tx
            .send(Ok(Batch {
                start: offset,
                count,
                body,
            }))
            .await
            .is_err()
        {
            return;
        }
        offset += count;
        if docs.len() < batch_size {
            return;
        }
    }
}

/// What the first pass over a dump file learnt.
#[derive(Clone, Debug)]
pub struct DumpFile {
    pub path: PathBuf,
    pub dump_version: String,
    pub db_version: String,
    pub dump_date: String,
    pub indexes: Vec<SourceIndex>,
    pub keys: Vec<SourceKey>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DumpMetadata {
    dump_version: String,
    #[serde(default)]
    db_version: String,
    #[serde(default)]
    dump_date: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DumpIndexMetadata {
    primary_key: Option<String>,
}

/// A key as a V6 dump stores it (`keys.jsonl`, snake_case, without its value).
#[derive(Deserialize)]
struct DumpKey {
    uid: String,
    name: Option<String>,
    description: Option<String>,
    actions: Vec<String>,
    indexes: Vec<String>,
    expires_at: Option<String>,
}

/// The path of a tar entry without its leading `./`.
fn entry_path(entry: &tar::Entry<'_, impl Read>) -> Option<String> {
    let p = entry.path().ok()?;
    let s = p.to_string_lossy();
    Some(s.trim_start_matches("./").to_string())
}

/// `indexes/<uid>/<file>` -> (uid, file).
fn index_file(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("indexes/")?;
    let (uid, file) = rest.split_once('/')?;
    (!uid.is_empty() && !file.contains('/')).then_some((uid, file))
}

fn open_archive(path: &Path) -> Result<tar::Archive<impl Read>, SourceError> {
    let file = std::fs::File::open(path).map_err(|e| dump_err(path, e))?;
    Ok(tar::Archive::new(flate2::read::GzDecoder::new(
        std::io::BufReader::with_capacity(1 << 20, file),
    )))
}

fn dump_err(path: &Path, e: impl std::fmt::Display) -> SourceError {
    SourceError::Dump {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

impl DumpFile {
    /// Read a dump's metadata, index records, settings, keys and document counts (blocking:
    /// call it off the async runtime).
    pub fn open(path: &Path) -> Result<Self, SourceError> {
        let mut archive = open_archive(path)?;
        let mut metadata: Option<DumpMetadata> = None;
        let mut pks: BTreeMap<String, Option<String>> = BTreeMap::new();
        let mut settings: BTreeMap<String, Value> = BTreeMap::new();
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        let mut keys = Vec::new();
        for entry in archive.entries().map_err(|e| dump_err(path, e))? {
            let mut entry = entry.map_err(|e| dump_err(path, e))?;
            let Some(name) = entry_path(&entry) else {
                continue;
            };
            let what = |e: &dyn std::fmt::Display| dump_err(path, format!("{name}: {e}"));
            if name == "metadata.json" {
                metadata = Some(serde_json::from_reader(&mut entry).map_err(|e| what(&e))?);
            } else if name == "keys.jsonl" {
                for line in BufReader::new(&mut entry).lines() {
                    let line = line.map_err(|e| what(&e))?;
                    if line.trim().is_empty() {
                        continue;
                    }
                    let k: DumpKey = serde_json::from_str(&line).map_err(|e| what(&e))?;
                    keys.push(SourceKey {
                        uid: k.uid,
                        name: k.name,
                        description: k.description,
                        actions: k.actions,
                        indexes: k.indexes,
                        expires_at: k.expires_at,
                        value: None,
                    });
                }
            } else if let Some((uid, file)) = index_file(&name) {
                let uid = uid.to_string();
                match file {
                    "metadata.json" => {
                        let m: DumpIndexMetadata =
                            serde_json::from_reader(&mut entry).map_err(|e| what(&e))?;
                        pks.insert(uid, m.primary_key);
                    }
                    "settings.json" => {
                        let s: Value = serde_json::from_reader(&mut entry).map_err(|e| what(&e))?;
                        settings.insert(uid, s);
                    }
                    "documents.jsonl" => {
                        let mut n = 0u64;
                        for line in BufReader::new(&mut entry).split(b'\n') {
                            let line = line.map_err(|e| what(&e))?;
                            if !line.iter().all(u8::is_ascii_whitespace) {
                                n += 1;
                            }
                        }
                        counts.insert(uid, n);
                    }
                    _ => {}
                }
            }
        }
        let metadata = metadata.ok_or_else(|| dump_err(path, "no metadata.json: not a dump"))?;
        if metadata.dump_version != "V6" {
            return Err(dump_err(
                path,
                format!(
                    "dump version {} is not supported (only V6, written by Meilisearch 1.x); load it into a Meilisearch of its version and import from that node",
                    metadata.dump_version
                ),
            ));
        }
        let mut indexes = Vec::new();
        for (uid, primary_key) in pks {
            indexes.push(SourceIndex {
                settings: settings.remove(&uid).unwrap_or(Value::Null),
                count: counts.get(&uid).copied().unwrap_or(0),
                uid,
                primary_key,
            });
        }
        Ok(DumpFile {
            path: path.to_path_buf(),
            dump_version: metadata.dump_version,
            db_version: metadata.db_version,
            dump_date: metadata.dump_date,
            indexes,
            keys,
        })
    }
}

/// Stream `indexes/<uid>/documents.jsonl` from line `from` in batches (blocking).
fn dump_batches(
    path: &Path,
    uid: &str,
    from: u64,
    batch_size: usize,
    tx: &mpsc::Sender<Result<Batch, SourceError>>,
) -> Result<(), SourceError> {
    let mut archive = open_archive(path)?;
    let wanted = format!("indexes/{uid}/documents.jsonl");
    for entry in archive.entries().map_err(|e| dump_err(path, e))? {
        let entry = entry.map_err(|e| dump_err(path, e))?;
        if entry_path(&entry).as_deref() != Some(wanted.as_str()) {
            continue;
        }
        let mut position = 0u64;
        let mut batch = Batch {
            start: from,
            count: 0,
            body: Vec::new(),
        };
        for line in BufReader::with_capacity(1 << 20, entry).split(b'\n') {
            let line = line.map_err(|e| dump_err(path, format!("{wanted}: {e}")))?;
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            position += 1;
            if position <= from {
                continue;
            }
            batch.body.extend_from_slice(&line);
            batch.body.push(b'\n');
            batch.count += 1;
            if batch.count as usize >= batch_size {
                let next = Batch {
                    start: batch.start + batch.count,
                    count: 0,
                    body: Vec::new(),
                };
                let full = std::mem::replace(&mut batch, next);
                if tx.blocking_send(Ok(full)).is_err() {
                    return Ok(());
                }
            }
        }
        if batch.count > 0 {
            let _ = tx.blocking_send(Ok(batch));
        }
        return Ok(());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_files_are_recognised() {
        assert_eq!(
            index_file("indexes/npm/documents.jsonl"),
            Some(("npm", "documents.jsonl"))
        );
        assert_eq!(index_file("indexes/npm"), None);
        assert_eq!(index_file("tasks/queue.jsonl"), None);
        assert_eq!(form_urlencoded_path("a b"), "a%20b");
    }
}
