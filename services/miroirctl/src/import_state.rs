//! The state file that makes `miroirctl import` resumable.
//!
//! It records, per index, how many of the source's documents (in the source's order) the
//! cluster has acknowledged: a batch counts only once its cluster task has *succeeded*, and the
//! recorded figure only ever covers a contiguous prefix (batches run several at a time and may
//! finish out of order). A re-run skips that prefix and sends the rest again; documents are
//! replaced by primary key, so a batch sent twice leaves no duplicate.
//!
//! The file names its source, so that a state written for another source is refused rather than
//! silently skipping documents that were never copied. It is replaced atomically (write to a
//! temporary file, then rename), so an import killed while saving leaves the previous state.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// What one index has reached.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IndexProgress {
    /// The index exists in the cluster with the source's primary key and settings.
    pub prepared: bool,
    /// Documents of the source, counted from its first, whose cluster task succeeded.
    pub acknowledged: u64,
    /// Every document was sent and the count check passed.
    pub done: bool,
}

/// The whole file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportState {
    /// The source this state belongs to (`live <url>` or `dump <path> <dumpDate>`).
    pub source: String,
    /// Documents per batch when the state was written: a resumed import keeps it.
    pub batch_size: usize,
    pub indexes: BTreeMap<String, IndexProgress>,
    /// Keys were copied.
    #[serde(default)]
    pub keys_done: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot read the state file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the state file {path} does not parse ({source}); delete it to start over")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error(
        "the state file {path} belongs to another import (`{found}`, not `{expected}`); give another --state file or delete it to start over"
    )]
    OtherSource {
        path: PathBuf,
        found: String,
        expected: String,
    },
    #[error("cannot write the state file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The state file on disk and its current content.
pub struct StateFile {
    path: PathBuf,
    pub state: ImportState,
}

impl StateFile {
    /// Open the state of an import of `source`: the file's content if it exists (and is for
    /// the same source), else a fresh state with `batch_size`.
    pub fn open(path: &Path, source: &str, batch_size: usize) -> Result<Self, StateError> {
        let state = match std::fs::read(path) {
            Ok(bytes) => {
                let state: ImportState =
                    serde_json::from_slice(&bytes).map_err(|source| StateError::Parse {
                        path: path.to_path_buf(),
                        source,
                    })?;
                if state.source != source {
                    return Err(StateError::OtherSource {
                        path: path.to_path_buf(),
                        found: state.source,
                        expected: source.to_string(),
                    });
                }
                state
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => ImportState {
                source: source.to_string(),
                batch_size,
                ..Default::default()
            },
            Err(source) => {
                return Err(StateError::Read {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        Ok(StateFile {
            path: path.to_path_buf(),
            state,
        })
    }

    pub fn index(&self, uid: &str) -> IndexProgress {
        self.state.indexes.get(uid).cloned().unwrap_or_default()
    }

    /// Change one index's progress and write the file.
    pub fn update(
        &mut self,
        uid: &str,
        change: impl FnOnce(&mut IndexProgress),
    ) -> Result<(), StateError> {
        change(self.state.indexes.entry(uid.to_string()).or_default());
        self.save()
    }

    pub fn save(&self) -> Result<(), StateError> {
        let err = |source| StateError::Write {
            path: self.path.clone(),
            source,
        };
        let bytes = serde_json::to_vec_pretty(&self.state)
            .map_err(|e| err(std::io::Error::other(e.to_string())))?;
        let mut tmp = self.path.clone().into_os_string();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        std::fs::write(&tmp, bytes).map_err(err)?;
        std::fs::rename(&tmp, &self.path).map_err(err)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_state_survives_a_reopen_and_refuses_another_source() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("import.json");
        let mut f = StateFile::open(&path, "live http://a", 100).unwrap();
        f.update("books", |p| p.acknowledged = 300).unwrap();
        let again = StateFile::open(&path, "live http://a", 5).unwrap();
        assert_eq!(again.index("books").acknowledged, 300);
        assert_eq!(
            again.state.batch_size, 100,
            "a resumed import keeps its batch size"
        );
        assert!(matches!(
            StateFile::open(&path, "live http://b", 100),
            Err(StateError::OtherSource { .. })
        ));
        std::fs::write(&path, b"{not json").unwrap();
        assert!(matches!(
            StateFile::open(&path, "live http://a", 100),
            Err(StateError::Parse { .. })
        ));
    }
}
