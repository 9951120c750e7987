//! Multi-search request decoding: the gateway's reading of `{queries, federation}` (each
//! query's `indexUid` and `federationOptions`, the `federation` object and Meilisearch's rules
//! between them), on the JSON body a client sends.
//!
//! Checks: a refusal is a Meilisearch error from the table with its status (or the 400 a
//! multi-search answers with); an accepted envelope has as many queries as the body, each with
//! a valid index uid, a finite non-negative weight, and no `indexUid`/`federationOptions` left in
//! its body; federation options only in a federated search.
#![no_main]

use libfuzzer_sys::fuzz_target;
use miroir_fuzz::assert_client_error;
use miroir_gateway::fuzz_api::{parse_json_body, parse_multi_search};
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(body) = parse_json_body(data) else {
        return;
    };
    match parse_multi_search(&body) {
        Err(e) => assert_client_error(&e),
        Ok(envelope) => {
            let sent = body
                .get("queries")
                .and_then(Value::as_array)
                .map(Vec::len)
                .unwrap_or_default();
            assert_eq!(envelope.queries.len(), sent, "{body}");
            for q in &envelope.queries {
                assert!(!q.index_uid.is_empty(), "{body}");
                assert!(q.weight.is_finite() && q.weight >= 0.0, "{body}");
                assert!(!q.body.contains_key("indexUid"), "{body}");
                assert!(!q.body.contains_key("federationOptions"), "{body}");
                if q.has_federation_options {
                    assert!(envelope.federation.is_some(), "{body}");
                }
            }
        }
    }
});
