//! What the merge must know about an index beyond the request ([`IndexMergeContext`]): the
//! primary key from the topology, and the faceting, pagination and distinct settings read from
//! one of its shards (every shard holds the same settings) and cached for a short TTL.
//!
//! **Staleness bound.** A cached context is used for at most `settings_ttl` after it was read, so
//! a settings change that the shards have applied reaches merged answers at most `settings_ttl`
//! (default 1 s) later; until then facets are cut at, and pages clamped to, the previous values,
//! just as a client of one Meilisearch node sees the old settings until its settings task is
//! processed. An index deleted and created again under the same uid is never served the old
//! settings: entries are keyed by the index record's `createdAt` too.
//!
//! **Facet limit.** Shards answer with as many facet values as their own
//! `faceting.maxValuesPerFacet` allows (a setting, not a search parameter, so no request can ask
//! for more). In alphabetical order (the default) the client's limit is enough for exact counts;
//! in count order, [`miroir_merge::facets::shard_max_values_per_facet`] says what the shards would
//! need. Shards hold the client's settings verbatim (they are also what `GET /settings`
//! answers), so in count order the merger compares the shards' lists with the limit and counts,
//! in `miroir_merger_facet_values_cut_total`, each answer whose sums may be short.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
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
}

/// Contexts by index uid.
pub struct ContextCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, Entry>>,
}

impl ContextCache {
    pub fn new(ttl: Duration) -> Self {
        ContextCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The cached context of `record`'s index if it is younger than the TTL (`fresh`) or, with
    /// `fresh == false`, whatever age it has (the fallback when no shard can be asked).
    pub fn get(&self, record: &IndexRecord, fresh: bool) -> Option<IndexMergeContext> {
        let entries = self.entries.lock().ok()?;
        let entry = entries.get(&record.uid)?;
        let young = entry.read_at.elapsed() < self.ttl;
        (entry.created_at == record.created_at && (young || !fresh))
            .then(|| with_key(entry.context.clone(), record))
    }

    pub fn put(&self, record: &IndexRecord, context: IndexMergeContext) {
        if let Ok(mut entries) = self.entries.lock() {
            let entry = Entry {
                read_at: Instant::now(),
                created_at: record.created_at.clone(),
                context,
            };
            entries.insert(record.uid.clone(), entry);
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
    fn entries_expire_and_follow_recreation() {
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
        cache.put(&record, IndexMergeContext::default());
        assert!(cache.get(&record, true).is_none());
        assert_eq!(
            cache.get(&record, false).unwrap().primary_key.as_deref(),
            Some("id")
        );
        let recreated = IndexRecord {
            created_at: "t2".into(),
            ..record.clone()
        };
        assert!(cache.get(&recreated, false).is_none());
        let cache = ContextCache::new(Duration::from_secs(60));
        cache.put(&record, IndexMergeContext::default());
        assert!(cache.get(&record, true).is_some());
    }
}
