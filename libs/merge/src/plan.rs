//! What every shard is asked, and what the merge must remember about the client's request.

use miroir_proto::error::MeiliError;
use serde_json::Value;

use crate::IndexMergeContext;
use crate::params::{self, ClientParams, Pagination};

/// The shard request and what the merge must undo afterwards. Built by [`plan`].
#[derive(Clone, Debug, PartialEq)]
pub struct ShardPlan {
    shard_request: Value,
    pub(crate) client: ClientParams,
    /// `[start, end)` of the merged ranking that the client gets.
    pub(crate) window: (u64, u64),
    /// Fields added to `attributesToRetrieve` for the merge's sake, stripped from the answer.
    pub(crate) added_fields: Vec<String>,
    /// The distinct attribute in force (request's `distinct`, else the index's setting).
    pub(crate) distinct: Option<String>,
    /// The `limit` every shard is asked when it is less than the end of the window
    /// ([`ShardPlan::spread_over`]); `None` when each is asked for the whole window.
    pub(crate) spread_limit: Option<u64>,
}

impl ShardPlan {
    /// The body to send to every shard's `POST /indexes/{shard}/search`.
    pub fn shard_request(&self) -> &Value {
        &self.shard_request
    }

    /// How the client paginates (with Meilisearch's defaults filled in).
    pub fn pagination(&self) -> Pagination {
        self.client.pagination
    }

    /// Fields the shards are asked for only because the merge needs them.
    pub fn added_fields(&self) -> &[String] {
        &self.added_fields
    }

    /// The plan for an index of `shards` shards: each shard is asked for its likely share of
    /// the window rather than the whole of it, where that is exact.
    ///
    /// Documents are spread over the shards by a hash of their primary key, so the number of
    /// the window's first `end` hits that one shard holds follows a binomial law of mean
    /// `end / shards`; each shard is asked for that mean plus 3 standard deviations plus 2
    /// (13 of 20 hits at 4 shards, 25 of 100 at 8). The merge then takes the hits it needs as
    /// before; should it use up every hit of a shard that returned all it was asked (so may
    /// have more), it stops and names that shard ([`crate::merge_or_deepen`]), the caller asks
    /// it for the whole window and merges again: the answer is the one the whole window gives,
    /// at the price of one more round trip, in about 1 search in 8,000 at 4 shards and 20 hits,
    /// 1 in 650 at 8 shards and 100 hits (more where `distinct` or documents listed by two
    /// shards during a move make the merge skip hits).
    ///
    /// Kept whole where the shards' answers beyond the page can change what the page shows:
    /// a client that sees scores or details or sets `rankingScoreThreshold` (the whole-index
    /// scores take their maxima over every hit returned, [`crate::score::Maxima`]), a vector,
    /// hybrid or media search (an approximate nearest-neighbour search is not a prefix of a
    /// longer one), page mode (whose totals the shards count for the window they are asked);
    /// and wherever the share would not be smaller than the window.
    pub fn spread_over(mut self, shards: usize) -> ShardPlan {
        let end = self.window.1;
        let client = &self.client;
        let scored = client.show_score || client.show_details || client.threshold.is_some();
        let paged = matches!(client.pagination, Pagination::Pages { .. });
        let request = self.shard_request.as_object();
        let semantic = ["vector", "hybrid", "media"].iter().any(|k| {
            request
                .and_then(|r| r.get(*k))
                .is_some_and(|v| !v.is_null())
        });
        if shards < 2 || end == 0 || scored || paged || semantic {
            return self;
        }
        let share = spread_limit(end, shards);
        if share >= end {
            return self;
        }
        if let Some(request) = self.shard_request.as_object_mut() {
            request.insert("limit".into(), Value::from(share));
            self.spread_limit = Some(share);
        }
        self
    }

    /// The request for a shard whose spread answer the merge used up: the whole window.
    pub fn whole_request(&self) -> Value {
        let mut request = self.shard_request.clone();
        if let Some(request) = request.as_object_mut() {
            request.insert("limit".into(), Value::from(self.window.1));
        }
        request
    }
}

/// How many of the first `end` hits one of `shards` shards is asked for: the binomial mean
/// plus 3 standard deviations plus 2, at most `end` ([`ShardPlan::spread_over`]).
fn spread_limit(end: u64, shards: usize) -> u64 {
    let n = end as f64;
    let p = 1.0 / shards as f64;
    let mean = n * p;
    let deviation = (n * p * (1.0 - p)).sqrt();
    let share = (mean + 3.0 * deviation + 2.0).ceil();
    if share >= n {
        end
    } else {
        (share as u64).max(1)
    }
}

/// From the client's search request (a JSON object), what each shard must be asked.
///
/// Every shard gets the client's request with these changes, all undone by [`crate::merge`]:
/// - `offset: 0` and `limit: end of the client's window` (`offset + limit`, or
///   `page * hitsPerPage`), clamped to `maxTotalHits` as Meilisearch clamps it (a shard's
///   share of it once [`ShardPlan::spread_over`] knows the number of shards); `page` and
///   `hitsPerPage` are dropped, the merge rebuilds page-mode totals from the shards' counts;
/// - `showRankingScore` and `showRankingScoreDetails` are always on: the merge compares hits
///   on the details and re-normalises the score;
/// - when `attributesToRetrieve` restricts the fields, the primary key (to count a document
///   that two shards return once) and the distinct attribute (to apply `distinct` across
///   shards) are added to it. Sort fields are not: the details carry every sort value the
///   merge compares, as Meilisearch itself used it.
///
/// `rankingScoreThreshold` is passed unchanged and applied again to the re-normalised score;
/// a document whose shard-local score falls just under the threshold while its whole-index
/// score does not is the one case this cannot recover (it needs differing dictionaries).
pub fn plan(client_request: &Value, ctx: &IndexMergeContext) -> Result<ShardPlan, MeiliError> {
    let client = params::read(client_request)?;
    let max_total_hits = u64::try_from(ctx.max_total_hits).unwrap_or(u64::MAX);
    let window = client.pagination.window(max_total_hits);
    let distinct = client
        .distinct
        .clone()
        .or_else(|| ctx.distinct_attribute.clone());

    let mut request = client_request.as_object().cloned().unwrap_or_default();
    request.shift_remove("page");
    request.shift_remove("hitsPerPage");
    request.insert("offset".into(), Value::from(0u64));
    request.insert("limit".into(), Value::from(window.1));
    request.insert("showRankingScore".into(), Value::Bool(true));
    request.insert("showRankingScoreDetails".into(), Value::Bool(true));

    let mut added_fields = Vec::new();
    if let Some(retrieved) = &client.attributes_to_retrieve {
        let mut list = retrieved.clone();
        for needed in ctx.primary_key.iter().chain(distinct.iter()) {
            if !is_covered(needed, &list) {
                list.push(needed.clone());
                added_fields.push(needed.clone());
            }
        }
        if !added_fields.is_empty() {
            request.insert("attributesToRetrieve".into(), Value::from(list));
        }
    }

    Ok(ShardPlan {
        shard_request: Value::Object(request),
        client,
        window,
        added_fields,
        distinct,
        spread_limit: None,
    })
}

/// Whether retrieving `attributes` brings back `field` whole (`a` brings back `a.b`).
fn is_covered(field: &str, attributes: &[String]) -> bool {
    attributes.iter().any(|a| crate::hits::is_within(field, a))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn ctx() -> IndexMergeContext {
        IndexMergeContext {
            primary_key: Some("id".into()),
            ..Default::default()
        }
    }

    #[test]
    fn asks_each_shard_for_the_whole_prefix() {
        let p = plan(
            &json!({"q": "a", "offset": 20, "limit": 10, "filter": "x = 1"}),
            &ctx(),
        )
        .unwrap();
        assert_eq!(
            p.shard_request(),
            &json!({"q": "a", "offset": 0, "limit": 30, "filter": "x = 1", "showRankingScore": true, "showRankingScoreDetails": true})
        );
        let p = plan(&json!({"q": "a", "page": 3, "hitsPerPage": 7}), &ctx()).unwrap();
        assert_eq!(
            p.shard_request(),
            &json!({"q": "a", "offset": 0, "limit": 21, "showRankingScore": true, "showRankingScoreDetails": true})
        );
        let p = plan(&json!({"offset": 990, "limit": 20}), &ctx()).unwrap();
        assert_eq!(p.shard_request()["limit"], json!(1000));
    }

    #[test]
    fn adds_primary_key_and_distinct_only_when_missing() {
        let c = IndexMergeContext {
            distinct_attribute: Some("meta.family".into()),
            ..ctx()
        };
        let p = plan(&json!({"attributesToRetrieve": ["name"]}), &c).unwrap();
        assert_eq!(
            p.shard_request()["attributesToRetrieve"],
            json!(["name", "id", "meta.family"])
        );
        assert_eq!(p.added_fields(), ["id", "meta.family"]);
        let p = plan(&json!({"attributesToRetrieve": ["id", "meta"]}), &c).unwrap();
        assert_eq!(
            p.shard_request()["attributesToRetrieve"],
            json!(["id", "meta"])
        );
        assert!(p.added_fields().is_empty());
        let p = plan(&json!({"attributesToRetrieve": ["*"], "distinct": "x"}), &c).unwrap();
        assert!(p.added_fields().is_empty());
        assert_eq!(p.distinct.as_deref(), Some("x"));
    }

    /// Each shard is asked for its share of the window where that is exact, the whole window
    /// elsewhere; the whole request differs from the share's by its limit alone.
    #[test]
    fn shards_are_asked_for_their_share_where_it_is_exact() {
        let share = |request: Value, shards: usize| {
            let p = plan(&request, &ctx()).unwrap().spread_over(shards);
            let whole = p.whole_request();
            let mut asked = p.shard_request().clone();
            asked["limit"] = whole["limit"].clone();
            assert_eq!(asked, whole, "{request}");
            (p.shard_request()["limit"].as_u64().unwrap(), p.spread_limit)
        };
        assert_eq!(share(json!({"q": "a"}), 4), (13, Some(13)));
        assert_eq!(share(json!({"q": "a", "limit": 100}), 8), (25, Some(25)));
        assert_eq!(
            share(json!({"q": "a", "offset": 20, "limit": 10}), 4),
            (17, Some(17))
        );
        assert_eq!(
            share(json!({"offset": 990, "limit": 20}), 4),
            (294, Some(294))
        );
        assert_eq!(share(json!({"q": "a"}), 2), (19, Some(19)));
        // No smaller share: one shard, a small window, nothing asked.
        assert_eq!(share(json!({"q": "a"}), 1), (20, None));
        assert_eq!(share(json!({"q": "a", "limit": 5}), 4), (5, None));
        assert_eq!(share(json!({"q": "a", "limit": 0}), 4), (0, None));
        // Whole where the hits past the page change it or the totals.
        for request in [
            json!({"q": "a", "showRankingScore": true}),
            json!({"q": "a", "showRankingScoreDetails": true}),
            json!({"q": "a", "rankingScoreThreshold": 0.5}),
            json!({"q": "a", "page": 1, "hitsPerPage": 20}),
            json!({"q": "a", "hybrid": {"embedder": "e", "semanticRatio": 0.5}}),
            json!({"vector": [0.1, 0.2]}),
            json!({"media": {"image": "x"}}),
        ] {
            assert_eq!(share(request, 4).1, None);
        }
        // `null` is Meilisearch's absent.
        assert_eq!(share(json!({"q": "a", "vector": null}), 4).1, Some(13));
    }

    #[test]
    fn the_score_flags_are_forced_on() {
        let p = plan(&json!({"showRankingScore": false}), &ctx()).unwrap();
        assert_eq!(p.shard_request()["showRankingScore"], json!(true));
        assert!(!p.client.show_score);
    }
}
