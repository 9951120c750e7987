//! Exact merge of sharded Meilisearch searches: the pure core of Miroir's read path.
//!
//! A sharded index answers a search by asking every shard for the first `offset + limit` hits
//! and merging the answers; this crate makes the merged answer the one a single, unsharded
//! index would have given. It does no I/O: the merger service calls [`plan`] to learn what to
//! send each shard, sends it, and hands the shards' JSON answers to [`merge`].
//!
//! Why this is more than "sort by `_rankingScore`":
//! - a `sort` is a ranking rule that sits *between* relevancy rules, and `_rankingScore` ignores
//!   it, so hits are compared rule by rule on `_rankingScoreDetails`, in the rules' `order`
//!   ([`compare`]);
//! - the typo rule's `maxTypoCount` and the words rule's `maxMatchingWords` depend on the words
//!   that exist in each shard's own dictionary, so the normalised scores of two shards are not
//!   comparable: hits are compared on raw counts and `_rankingScore` is re-normalised with the
//!   maxima seen across all shards ([`score`]), which gives back the whole index's score;
//! - facet counts are summed and re-sorted and re-cut as the index's faceting settings say
//!   ([`facets`]);
//! - a document that two shards both hold (mid-migration) counts once, and fields the merge
//!   needs but the client did not ask for are fetched and stripped again.
//!
//! ```
//! use miroir_merge::{merge, plan, IndexMergeContext};
//! use serde_json::json;
//!
//! let ctx = IndexMergeContext { primary_key: Some("id".into()), ..Default::default() };
//! let plan = plan(&json!({"q": "react", "offset": 1, "limit": 1}), &ctx)?;
//! assert_eq!(plan.shard_request()["limit"], json!(2));
//! let details = json!({"words": {"order": 0, "matchingWords": 1, "maxMatchingWords": 1, "score": 1.0}});
//! let shard = |id: u64| json!({
//!     "hits": [{"id": id, "_rankingScore": 1.0, "_rankingScoreDetails": details}],
//!     "query": "react", "processingTimeMs": 1, "limit": 2, "offset": 0, "estimatedTotalHits": 1,
//! });
//! let answer = merge(&plan, &[shard(1), shard(2)], &ctx)?;
//! assert_eq!(answer["hits"], json!([{"id": 2}]));
//! assert_eq!(answer["estimatedTotalHits"], json!(2));
//! # Ok::<(), miroir_proto::error::MeiliError>(())
//! ```

pub mod compare;
mod error;
pub mod facet_search;
pub mod facets;
pub mod federation;
mod hits;
mod merge;
mod params;
mod plan;
mod raw;
mod scan;
pub mod score;
#[cfg(test)]
mod test_texts;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use error::MergeError;
pub use merge::{
    Merged, Overrides, compare_document_ids, facet_distributions, merge, merge_bytes,
    merge_or_deepen,
};
pub use params::Pagination;
pub use plan::{ShardPlan, plan};

/// What the merge needs to know about the index, beyond the request: the settings that change
/// how one whole index would have answered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct IndexMergeContext {
    /// The index's primary key: fetched when `attributesToRetrieve` omits it, so that a document
    /// that two shards return (during a migration) is counted once.
    pub primary_key: Option<String>,
    /// `faceting.maxValuesPerFacet` as the client sees it (see
    /// [`facets::shard_max_values_per_facet`] for what the shards themselves should carry).
    pub max_values_per_facet: usize,
    /// `faceting.sortFacetValuesBy`: facet name (or `"*"`) -> `"alpha"` | `"count"`.
    pub sort_facet_values_by: BTreeMap<String, String>,
    /// `pagination.maxTotalHits`.
    pub max_total_hits: usize,
    /// The index's `distinctAttribute` setting; a request's `distinct` overrides it. Two shards
    /// can each keep one document per distinct value, so the merge must apply it again.
    pub distinct_attribute: Option<String>,
}

impl Default for IndexMergeContext {
    /// Meilisearch's defaults for a new index, with no known primary key.
    fn default() -> Self {
        IndexMergeContext {
            primary_key: None,
            max_values_per_facet: 100,
            sort_facet_values_by: BTreeMap::from([("*".to_owned(), "alpha".to_owned())]),
            max_total_hits: 1000,
            distinct_attribute: None,
        }
    }
}
