//! What the merge must know about an index beyond the request ([`IndexMergeContext`]): the
//! primary key from the topology, and the faceting, pagination and distinct settings read from
//! one of its shards (every shard holds the same settings) and cached for a short TTL.
//!
//! **No search waits on settings** but the first one of an index: a context older than
//! `settings_ttl` is still used, and the first search to see it so starts one background re-read
//! (single flight); concurrent first searches of an index share one read.
//!
//! **Staleness bound.** A settings change that the shards have applied reaches merged answers at
//! most `settings_ttl` (default 1 s) plus one settings read later (longer only while no copy of the
//! index answers `GET /settings`); until then facets are cut at, and pages clamped to, the previous values,
//! just as a client of one Meilisearch node sees the old settings until its settings task is
//! processed. An index deleted and created again under the same uid is never served the old
//! settings: entries are keyed by the index record's `createdAt` too.
//!
//! **Facet limit.** Shards answer with as many facet values as their own
//! `faceting.maxValuesPerFacet` allows (a setting, not a search parameter, so no request can ask
//! for more; shards hold the client's settings verbatim, which `GET /settings` also answers). In
//! alphabetical order (the default) that is enough for exact counts; in count order the search
//! takes a second round for the counts a shard cut (`crate::search`, docs/architecture.md).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use miroir_merge::IndexMergeContext;
use miroir_proto::topology::IndexRecord;
use serde_json::Value;
use tokio::time::Instant;

/// The context of an index from its settings (`GET /indexes/{shard}/settings`); Meilisearch's
/// defaults fill what the settings do not say.
pub fn from_settings(primary_key: Option<String>, settings: &Value) -> IndexMergeContext {
    let defaults = IndexMergeContext::default();
    let faceting = settings.get("faceting");
    let max_values_per_facet = faceting
        .and_then(|f| f.get("maxValuesPerFacet"))
        .and_then(Value::as_u64)
        .map_or(defaults.max_values_per_facet, |v| {
            usize::try_from(v).unwrap_or(usize::MAX)
        });
    let sort_facet_values_by = match faceting
        .and_then(|f| f.get("sortFacetValuesBy"))
        .and_then(Value::as_object)
    {
        Some(orders) => orders
            .iter()
            .filter_map(|(facet, order)| order.as_str().map(|o| (facet.clone(), o.to_owned())))
            .collect::<BTreeMap<_, _>>(),
        None => defaults.sort_facet_values_by,
    };
    let max_total_hits = settings
        .get("pagination")
        .and_then(|p| p.get("maxTotalHits"))
        .and_then(Value::as_u64)
        .map_or(defaults.max_total_hits, |v| {
            usize::try_from(v).unwrap_or(usize::MAX)
        });
    let distinct_attribute = settings
        .get("distinctAttribute")
        .and_then(Value::as_str)
        .map(str::to_owned);
    IndexMergeContext {
        primary_key,
        max_values_per_facet,
        sort_facet_values_by,
        max_total_hits,
        distinct_attribute,
    }
}

struct Entry {
    read_at: Instant,
    created_at: String,
    context: IndexMergeContext,
    /// A re-read is under way (single flight: one per index at a time).
    refreshing: bool,
}

/// What the cache holds for an index.
#[derive(Debug, PartialEq)]
pub enum Lookup {
    /// Read less than the TTL ago.
    Fresh(IndexMergeContext),
    /// Older: still the one to use now. `refresh` is true for the one caller that must start a
    /// background re-read (and then call [`ContextCache::put`] or
    /// [`ContextCache::refresh_failed`]); false while one is under way.
    Stale {
        context: IndexMergeContext,
        refresh: bool,
    },
    /// Never read (or read for a previous index of the same uid): the caller must wait for a
    /// read, under [`ContextCache::first_read_gate`].
    Missing,
}

/// Contexts by index uid. A search never waits on a settings read except the first one of an
/// index: once read, a context is served while a re-read runs in the background.
pub struct ContextCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, Entry>>,
    /// One gate per index being read for the first time, so that concurrent first searches
    /// share one read.
    first_reads: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl ContextCache {
    pub fn new(ttl: Duration) -> Self {
        ContextCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
            first_reads: Mutex::new(HashMap::new()),
        }
    }

    /// The context of `record`'s index, and whether to refresh it (see [`Lookup`]).
    pub fn lookup(&self, record: &IndexRecord) -> Lookup {
        let Ok(mut entries) = self.entries.lock() else {
            return Lookup::Missing;
        };
        let Some(entry) = entries.get_mut(&record.uid) else {
            return Lookup::Missing;
        };
        if entry.created_at != record.created_at {
            return Lookup::Missing;
        }
        let context = with_key(entry.context.clone(), record);
        if entry.read_at.elapsed() < self.ttl {
            return Lookup::Fresh(context);
        }
        let refresh = !std::mem::replace(&mut entry.refreshing, true);
        Lookup::Stale { context, refresh }
    }

    pub fn put(&self, record: &IndexRecord, context: IndexMergeContext) {
        if let Ok(mut entries) = self.entries.lock() {
            let entry = Entry {
                read_at: Instant::now(),
                created_at: record.created_at.clone(),
                context,
                refreshing: false,
            };
            entries.insert(record.uid.clone(), entry);
        }
    }

    /// A background re-read failed: the old context stays, and the next search past the TTL
    /// starts another.
    pub fn refresh_failed(&self, record: &IndexRecord) {
        if let Ok(mut entries) = self.entries.lock()
            && let Some(entry) = entries.get_mut(&record.uid)
        {
            entry.refreshing = false;
        }
    }

    /// The gate the first reads of an index queue on (hold its lock while reading, then look
    /// the index up again: another search may have read it meanwhile).
    pub fn first_read_gate(&self, uid: &str) -> Arc<tokio::sync::Mutex<()>> {
        match self.first_reads.lock() {
            Ok(mut gates) => gates.entry(uid.to_owned()).or_default().clone(),
            Err(_) => Arc::default(),
        }
    }

    /// Drop the gate of an index once it has been read.
    pub fn first_read_done(&self, uid: &str) {
        if let Ok(mut gates) = self.first_reads.lock() {
            gates.remove(uid);
        }
    }
}

/// The primary key always comes from the current record, which can gain one after the read.
fn with_key(mut context: IndexMergeContext, record: &IndexRecord) -> IndexMergeContext {
    context.primary_key = record.primary_key.clone();
    context
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn settings_fill_the_context() {
        let s = json!({
            "distinctAttribute": "scope",
            "faceting": {"maxValuesPerFacet": 7, "sortFacetValuesBy": {"*": "alpha", "tags": "count"}},
            "pagination": {"maxTotalHits": 50}
        });
        let c = from_settings(Some("id".into()), &s);
        assert_eq!(c.primary_key.as_deref(), Some("id"));
        assert_eq!(c.max_values_per_facet, 7);
        assert_eq!(
            c.sort_facet_values_by.get("tags").map(String::as_str),
            Some("count")
        );
        assert_eq!(c.max_total_hits, 50);
        assert_eq!(c.distinct_attribute.as_deref(), Some("scope"));
        let d = from_settings(None, &json!({"distinctAttribute": null}));
        assert_eq!(d, IndexMergeContext::default());
    }

    #[test]
    fn stale_entries_are_served_while_one_caller_refreshes() {
        let record = IndexRecord {
            uid: "a".into(),
            primary_key: Some("id".into()),
            shard_count: 1,
            replication_factor: 1,
            created_at: "t1".into(),
            updated_at: "t1".into(),
            shards: Vec::new(),
            state: Default::default(),
            storage_uid: None,
        };
        let cache = ContextCache::new(Duration::ZERO);
        assert_eq!(cache.lookup(&record), Lookup::Missing);
        cache.put(&record, IndexMergeContext::default());
        let with_pk = IndexMergeContext {
            primary_key: Some("id".into()),
            ..Default::default()
        };
        // The first caller past the TTL refreshes; the others are served without refreshing.
        assert_eq!(
            cache.lookup(&record),
            Lookup::Stale {
                context: with_pk.clone(),
                refresh: true
            }
        );
        assert_eq!(
            cache.lookup(&record),
            Lookup::Stale {
                context: with_pk.clone(),
                refresh: false
            }
        );
        // A failed refresh lets the next caller try again.
        cache.refresh_failed(&record);
        assert!(matches!(
            cache.lookup(&record),
            Lookup::Stale { refresh: true, .. }
        ));
        // A new index under the same uid is never served the old settings.
        let recreated = IndexRecord {
            created_at: "t2".into(),
            ..record.clone()
        };
        assert_eq!(cache.lookup(&recreated), Lookup::Missing);
        let cache = ContextCache::new(Duration::from_secs(60));
        cache.put(&record, IndexMergeContext::default());
        assert_eq!(cache.lookup(&record), Lookup::Fresh(with_pk));
        let gate = cache.first_read_gate("a");
        assert!(Arc::ptr_eq(&gate, &cache.first_read_gate("a")));
        cache.first_read_done("a");
        assert!(!Arc::ptr_eq(&gate, &cache.first_read_gate("a")));
    }
}
