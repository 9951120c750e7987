//! Search request decoding: the gateway turning `GET .../search?...` (and the documents and
//! similar routes' query strings) into a JSON body, the gateway reading a `POST` body, and the
//! merger's plan of a client's search body (its pagination, `attributesToRetrieve`, `distinct`).
//!
//! Checks: every refusal is a Meilisearch error from the table with its status; a query string
//! accepted gives an object; a plan asks each shard for the client's whole window from offset
//! 0, within `maxTotalHits`, with ranking scores on.
#![no_main]

use libfuzzer_sys::fuzz_target;
use miroir_fuzz::{assert_client_error, assert_table_error};
use miroir_gateway::fuzz_api::{documents_query, parse_json_body, search_query, similar_query};
use miroir_merge::{IndexMergeContext, plan};
use serde_json::Value;

fn check_plan(body: &Value, selector: u8) {
    let ctx = IndexMergeContext {
        primary_key: (selector & 1 == 1).then(|| "id".to_string()),
        distinct_attribute: (selector & 2 == 2).then(|| "genre".to_string()),
        max_total_hits: if selector & 4 == 4 { 1000 } else { 3 },
        ..IndexMergeContext::default()
    };
    match plan(body, &ctx) {
        Err(e) => assert_client_error(&e),
        Ok(p) => {
            let (start, end) = p.pagination().window(ctx.max_total_hits as u64);
            assert!(start <= end && end <= ctx.max_total_hits as u64, "{body}");
            let shard = p.shard_request();
            assert_eq!(shard.get("offset").and_then(Value::as_u64), Some(0), "{shard}");
            assert_eq!(shard.get("limit").and_then(Value::as_u64), Some(end), "{shard}");
            assert_eq!(shard.get("showRankingScore"), Some(&Value::Bool(true)));
            assert!(shard.get("page").is_none() && shard.get("hitsPerPage").is_none());
            for f in p.added_fields() {
                let listed = shard
                    .get("attributesToRetrieve")
                    .and_then(Value::as_array)
                    .is_some_and(|l| l.iter().any(|v| v.as_str() == Some(f)));
                assert!(listed, "added field {f} not asked of the shards: {shard}");
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    match selector % 2 {
        // A query string.
        0 => {
            let Ok(raw) = std::str::from_utf8(rest) else {
                return;
            };
            match search_query(Some(raw)) {
                Err(e) => assert_table_error(&e),
                Ok(body) => {
                    assert!(body.is_object(), "{body}");
                    check_plan(&body, selector >> 1);
                }
            }
            for decoded in [documents_query(Some(raw)), similar_query(Some(raw))] {
                match decoded {
                    Err(e) => assert_table_error(&e),
                    Ok(body) => assert!(body.is_object(), "{body}"),
                }
            }
        }
        // A JSON body.
        _ => match parse_json_body(rest) {
            Err(e) => assert_table_error(&e),
            Ok(body) => check_plan(&body, selector >> 1),
        },
    }
});
