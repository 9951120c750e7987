//! The node's indexes and their documents, in memory. Each index keeps its documents by
//! node-internal id (assigned in insertion order, kept when a document is replaced), a map from
//! external ids, the order in which fields were first seen (Meilisearch returns a document's
//! fields in that order), its settings, and the engine's search structures, kept in sync here.

use std::collections::{BTreeMap, HashMap};

use indexmap::IndexSet;
use miroir_proto::error::{ErrorCode, MeiliError};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::documents;
use crate::engine::{DocId, Document, EngineSettings, IndexView, SearchIndex};
use crate::settings::{Settings, SettingsPatch};
use crate::time_fmt::{now, rfc3339, rfc3339_value};

const INDEX_UID_RULE: &str = "Index uid can be an integer or a string containing only alphanumeric characters, hyphens (-) and underscores (_), and can not be more than 512 bytes.";

pub fn valid_index_uid(uid: &str) -> bool {
    !uid.is_empty()
        && uid.len() <= 512
        && uid
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The message for an invalid index uid (prefixed by its location when it came in a body).
pub fn invalid_index_uid_message(uid: &str) -> String {
    format!("`{uid}` is not a valid index uid. {INDEX_UID_RULE}")
}

/// An invalid uid in a route's path.
pub fn check_path_uid(uid: &str) -> Result<(), MeiliError> {
    if valid_index_uid(uid) {
        Ok(())
    } else {
        Err(MeiliError::new(
            ErrorCode::InvalidIndexUid,
            invalid_index_uid_message(uid),
        ))
    }
}

/// One index.
pub struct Index {
    pub uid: String,
    pub primary_key: Option<String>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub docs: BTreeMap<DocId, Document>,
    ids: HashMap<String, DocId>,
    next_doc_id: DocId,
    /// Every top-level field documents have held, in the order first seen.
    pub fields: IndexSet<String>,
    pub settings: Settings,
    pub engine_settings: EngineSettings,
    pub search: SearchIndex,
}

impl Index {
    pub fn new(uid: &str, primary_key: Option<String>) -> Self {
        let at = now();
        let settings = Settings::default();
        Index {
            uid: uid.to_string(),
            primary_key,
            created_at: at,
            updated_at: at,
            docs: BTreeMap::new(),
            ids: HashMap::new(),
            next_doc_id: 0,
            fields: IndexSet::new(),
            engine_settings: settings.to_engine(),
            settings,
            search: SearchIndex::new(),
        }
    }

    pub fn view(&self) -> IndexView<'_> {
        IndexView {
            uid: &self.uid,
            primary_key: self.primary_key.as_deref(),
            docs: &self.docs,
            settings: &self.engine_settings,
            search: &self.search,
        }
    }

    /// `GET /indexes/{uid}`.
    pub fn info(&self) -> Value {
        json!({
            "uid": self.uid,
            "createdAt": rfc3339(self.created_at),
            "updatedAt": rfc3339(self.updated_at),
            "primaryKey": self.primary_key,
        })
    }

    /// `GET /indexes/{uid}/stats`.
    pub fn stats(&self, is_indexing: bool) -> Value {
        let mut distribution: BTreeMap<&str, u64> = BTreeMap::new();
        let mut raw_size: u64 = 0;
        for doc in self.docs.values() {
            raw_size += serde_json::to_vec(doc).map(|v| v.len() as u64).unwrap_or(0);
            for field in doc.keys() {
                *distribution.entry(field.as_str()).or_default() += 1;
            }
        }
        let count = self.docs.len() as u64;
        json!({
            "numberOfDocuments": count,
            "rawDocumentDbSize": raw_size,
            "avgDocumentSize": raw_size.checked_div(count).unwrap_or(0),
            "isIndexing": is_indexing,
            "numberOfEmbeddings": 0,
            "numberOfEmbeddedDocuments": 0,
            "fieldDistribution": distribution,
        })
    }

    pub fn raw_size(&self) -> u64 {
        self.docs
            .values()
            .map(|d| serde_json::to_vec(d).map(|v| v.len() as u64).unwrap_or(0))
            .sum()
    }

    pub fn document(&self, external_id: &str) -> Option<&Document> {
        self.ids.get(external_id).and_then(|id| self.docs.get(id))
    }

    pub fn internal_id(&self, external_id: &str) -> Option<DocId> {
        self.ids.get(external_id).copied()
    }

    pub fn has_documents(&self) -> bool {
        !self.docs.is_empty()
    }

    /// Adds or replaces (`merge == false`) or adds or updates (`merge == true`) documents, all
    /// or nothing. Returns how many documents were indexed.
    pub fn add_documents(
        &mut self,
        docs: &[Document],
        primary_key: Option<&str>,
        merge: bool,
    ) -> Result<u64, MeiliError> {
        self.add_documents_with(docs, primary_key, merge, false)
    }

    /// [`add_documents`](Self::add_documents) with `?skipCreation=`: documents the index does
    /// not hold are skipped, yet counted as indexed (a real node reports them so), and the
    /// primary key is still set.
    pub fn add_documents_with(
        &mut self,
        docs: &[Document],
        primary_key: Option<&str>,
        merge: bool,
        skip_creation: bool,
    ) -> Result<u64, MeiliError> {
        let pk = match (&self.primary_key, primary_key) {
            (Some(current), Some(asked)) if current != asked => {
                return Err(MeiliError::new(
                    ErrorCode::IndexPrimaryKeyAlreadyExists,
                    format!("Index already has a primary key: `{current}`."),
                ));
            }
            (Some(current), _) => current.clone(),
            (None, Some(asked)) => asked.to_string(),
            (None, None) => match docs.first() {
                Some(first) => documents::infer_primary_key(first)?,
                None => return Ok(0),
            },
        };
        let ids = docs
            .iter()
            .map(|d| documents::document_id(d, &pk))
            .collect::<Result<Vec<_>, _>>()?;
        self.primary_key = Some(pk);
        for (doc, id) in docs.iter().zip(ids) {
            let existing = self.ids.get(&id).copied();
            if skip_creation && existing.is_none() {
                continue;
            }
            let merged = match (merge, existing.and_then(|i| self.docs.get(&i))) {
                (true, Some(old)) => {
                    let mut m = old.clone();
                    for (k, v) in doc {
                        m.insert(k.clone(), v.clone());
                    }
                    m
                }
                _ => doc.clone(),
            };
            let ordered = self.in_field_order(merged);
            let internal = match existing {
                Some(internal) => {
                    if let Some(old) = self.docs.remove(&internal) {
                        self.search.remove(&self.engine_settings, internal, &old);
                    }
                    internal
                }
                None => {
                    let internal = self.next_doc_id;
                    self.next_doc_id = self.next_doc_id.checked_add(1).ok_or_else(|| {
                        MeiliError::internal("the stand-in node ran out of internal document ids")
                    })?;
                    self.ids.insert(id, internal);
                    internal
                }
            };
            self.search
                .insert(&self.engine_settings, internal, &ordered);
            self.docs.insert(internal, ordered);
        }
        self.updated_at = now();
        Ok(docs.len() as u64)
    }

    /// Registers the document's new fields and orders its keys as the index first saw them.
    fn in_field_order(&mut self, doc: Document) -> Document {
        for k in doc.keys() {
            if !self.fields.contains(k) {
                self.fields.insert(k.clone());
            }
        }
        let mut entries: Vec<(String, Value)> = doc.into_iter().collect();
        entries.sort_by_key(|(k, _)| self.fields.get_index_of(k).unwrap_or(usize::MAX));
        entries.into_iter().collect()
    }

    fn remove_internal(&mut self, internal: DocId) -> bool {
        match self.docs.remove(&internal) {
            Some(old) => {
                self.search.remove(&self.engine_settings, internal, &old);
                true
            }
            None => false,
        }
    }

    /// Deletes documents by external id; returns how many existed.
    pub fn delete_ids(&mut self, ids: &[String]) -> u64 {
        let mut deleted = 0;
        for id in ids {
            if let Some(internal) = self.ids.remove(id)
                && self.remove_internal(internal)
            {
                deleted += 1;
            }
        }
        if deleted > 0 {
            self.updated_at = now();
        }
        deleted
    }

    /// Deletes every document `matches` selects; returns how many.
    pub fn delete_where(&mut self, matches: impl Fn(&Document) -> bool) -> u64 {
        let victims: Vec<DocId> = self
            .docs
            .iter()
            .filter(|(_, d)| matches(d))
            .map(|(id, _)| *id)
            .collect();
        let pk = self.primary_key.clone().unwrap_or_default();
        for internal in &victims {
            if let Some(doc) = self.docs.get(internal)
                && let Ok(ext) = documents::document_id(doc, &pk)
            {
                self.ids.remove(&ext);
            }
            self.remove_internal(*internal);
        }
        if !victims.is_empty() {
            self.updated_at = now();
        }
        victims.len() as u64
    }

    pub fn clear(&mut self) -> u64 {
        let n = self.docs.len() as u64;
        self.docs.clear();
        self.ids.clear();
        self.search = SearchIndex::new();
        self.updated_at = now();
        n
    }

    /// Applies a settings change and rebuilds the search structures.
    pub fn apply_settings(&mut self, patch: &SettingsPatch) -> Result<(), MeiliError> {
        let settings = patch.apply(&self.settings)?;
        self.engine_settings = settings.to_engine();
        self.settings = settings;
        let mut search = SearchIndex::new();
        search.rebuild(
            &self.engine_settings,
            self.docs.iter().map(|(id, d)| (*id, d)),
        );
        self.search = search;
        self.updated_at = now();
        Ok(())
    }
}

/// Every index of the node.
#[derive(Default)]
pub struct Store {
    pub indexes: BTreeMap<String, Index>,
}

impl Store {
    pub fn index(&self, uid: &str) -> Result<&Index, MeiliError> {
        self.indexes
            .get(uid)
            .ok_or_else(|| MeiliError::index_not_found(uid))
    }

    pub fn index_mut(&mut self, uid: &str) -> Result<&mut Index, MeiliError> {
        self.indexes
            .get_mut(uid)
            .ok_or_else(|| MeiliError::index_not_found(uid))
    }

    /// `GET /stats`. Sizes are what the documents take as JSON; a real node's are its LMDB files'.
    pub fn stats(&self, indexing: &dyn Fn(&str) -> bool) -> Value {
        let mut indexes = Map::new();
        let mut total: u64 = 0;
        for (uid, index) in &self.indexes {
            total += index.raw_size();
            indexes.insert(uid.clone(), index.stats(indexing(uid)));
        }
        let last_update = self.indexes.values().map(|i| i.updated_at).max();
        json!({
            "databaseSize": total + 4096 * (1 + self.indexes.len() as u64),
            "usedDatabaseSize": total,
            "lastUpdate": rfc3339_value(last_update),
            "indexes": indexes,
        })
    }

    /// Swaps (or, with `rename`, renames `a` to `b`) every pair, all or nothing.
    pub fn swap(&mut self, swaps: &[(String, String, bool)]) -> Result<(), MeiliError> {
        let mut missing: Vec<&str> = Vec::new();
        for (a, b, rename) in swaps {
            if !self.indexes.contains_key(a) && !missing.contains(&a.as_str()) {
                missing.push(a);
            }
            if !rename && !self.indexes.contains_key(b) && !missing.contains(&b.as_str()) {
                missing.push(b);
            }
        }
        match missing.as_slice() {
            [] => {}
            [one] => return Err(MeiliError::index_not_found(one)),
            many => {
                let list: Vec<String> = many.iter().map(|m| format!("`{m}`")).collect();
                return Err(MeiliError::new(
                    ErrorCode::IndexNotFound,
                    format!("Indexes {} not found.", list.join(", ")),
                ));
            }
        }
        for (_, b, rename) in swaps {
            if *rename && self.indexes.contains_key(b) {
                return Err(MeiliError::index_already_exists(b));
            }
        }
        for (a, b, rename) in swaps {
            let left = self.indexes.remove(a);
            let right = if *rename {
                None
            } else {
                self.indexes.remove(b)
            };
            if let Some(mut l) = left {
                l.uid = b.clone();
                self.indexes.insert(b.clone(), l);
            }
            if let Some(mut r) = right {
                r.uid = a.clone();
                self.indexes.insert(a.clone(), r);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn doc(v: Value) -> Document {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn skip_creation_updates_held_documents_only_and_counts_all_as_the_recording_shows() {
        let mut index = Index::new("movies", None);
        let n = index
            .add_documents_with(&[doc(json!({"id": 1, "title": "Up"}))], None, false, true)
            .unwrap();
        assert_eq!((n, index.docs.len()), (1, 0), "nothing created");
        assert_eq!(
            index.primary_key.as_deref(),
            Some("id"),
            "the key is still set"
        );
        index
            .add_documents(&[doc(json!({"id": 2, "title": "Heat"}))], None, false)
            .unwrap();
        let n = index
            .add_documents_with(
                &[doc(json!({"id": 2, "rating": 8.6})), doc(json!({"id": 21}))],
                None,
                true,
                true,
            )
            .unwrap();
        assert_eq!(n, 2);
        assert_eq!(index.docs.len(), 1);
        assert_eq!(
            serde_json::to_value(index.document("2").unwrap()).unwrap(),
            json!({"id": 2, "title": "Heat", "rating": 8.6})
        );
        // Ids are still checked: a bad one fails the whole batch, as without skipCreation.
        assert!(
            index
                .add_documents_with(&[doc(json!({"id": "a b"}))], None, false, true)
                .is_err()
        );
    }

    #[test]
    fn integer_and_string_ids_are_one_document_and_partial_update_keeps_field_order() {
        let mut index = Index::new("movies", None);
        index
            .add_documents(
                &[doc(json!({"id": 1, "title": "Carol", "year": 2015}))],
                None,
                false,
            )
            .unwrap();
        index
            .add_documents(&[doc(json!({"rating": 4.5, "id": "1"}))], None, true)
            .unwrap();
        assert_eq!(index.docs.len(), 1);
        let d = index.document("1").unwrap();
        assert_eq!(
            serde_json::to_string(d).unwrap(),
            r#"{"id":"1","title":"Carol","year":2015,"rating":4.5}"#
        );
        assert_eq!(index.delete_ids(&["1".into(), "2".into()]), 1);
    }

    #[test]
    fn failed_batches_change_nothing() {
        let mut index = Index::new("movies", Some("id".into()));
        let e = index
            .add_documents(
                &[doc(json!({"id": 1})), doc(json!({"id": "bad id!"}))],
                None,
                false,
            )
            .unwrap_err();
        assert_eq!(e.code, "invalid_document_id");
        assert!(index.docs.is_empty());
    }

    #[test]
    fn swap_and_rename() {
        let mut store = Store::default();
        store
            .indexes
            .insert("a".into(), Index::new("a", Some("x".into())));
        store.indexes.insert("b".into(), Index::new("b", None));
        store.swap(&[("a".into(), "b".into(), false)]).unwrap();
        assert_eq!(store.index("b").unwrap().primary_key.as_deref(), Some("x"));
        store.swap(&[("b".into(), "c".into(), true)]).unwrap();
        assert!(store.index("c").is_ok() && store.index("b").is_err());
        assert_eq!(
            store
                .swap(&[("nope".into(), "c".into(), false)])
                .unwrap_err()
                .code,
            "index_not_found"
        );
    }
}
