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
}

/// From the client's search request (a JSON object), what each shard must be asked.
///
/// Every shard gets the client's request with these changes, all undone by [`crate::merge`]:
/// - `offset: 0` and `limit: end of the client's window` (`offset + limit`, or
///   `page * hitsPerPage`), clamped to `maxTotalHits` as Meilisearch clamps it; `page` and
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

    #[test]
    fn the_score_flags_are_forced_on() {
        let p = plan(&json!({"showRankingScore": false}), &ctx()).unwrap();
        assert_eq!(p.shard_request()["showRankingScore"], json!(true));
        assert!(!p.client.show_score);
    }
}
