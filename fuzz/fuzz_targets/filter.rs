//! Filters: the stand-in node's parser (what a node answers to a client's filter, string or
//! array form) and the gateway's fusing of a tenant token's filter with the request's.
//!
//! Checks: an error carries the code it was asked for with its status; a parsed filter re-rendered
//! with every value quoted parses again, names the same attributes and selects the same
//! documents; a fused filter is the request's and the rule's, ANDed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use miroir_fuzz::assert_table_error;
use miroir_gateway::fuzz_api::fuse_filters;
use miroir_proto::{Code, ErrorCode};
use miroir_standin::engine::filter::parse;
use serde_json::{Value, json};

fn documents() -> Vec<serde_json::Map<String, Value>> {
    [
        json!({"id": 1, "genres": ["horror", "comedy"], "year": 2001, "title": "Night", "a": null}),
        json!({"id": 2, "genres": "drama", "year": "1999", "rating": 4.5, "a": [], "b": {"c": 3}}),
        json!({"id": 3, "title": "", "year": -1e3, "a": {}, "b.c": "x", "tags": [1, "2", true]}),
    ]
    .into_iter()
    .filter_map(|d| match d {
        Value::Object(m) => Some(m),
        _ => None,
    })
    .collect()
}

fn check(filter: &Value, docs: &[serde_json::Map<String, Value>]) {
    let code = ErrorCode::InvalidSearchFilter;
    match parse(filter, code) {
        Err(e) => {
            assert_table_error(&e);
            assert_eq!(e.code, Code::Known(code), "{e:?}");
        }
        Ok(f) => {
            let again = f.requoted();
            assert_eq!(f.attributes(), again.attributes(), "{filter}");
            for doc in docs {
                assert_eq!(f.matches(doc), again.matches(doc), "{filter} on {doc:?}");
            }
            let filterable = vec!["genres".to_string(), "year".to_string(), "b.*".to_string()];
            if let Err(e) = f.check_filterable(&filterable, Some("movies"), code) {
                assert_table_error(&e);
            }
            // A tenant token's filter ANDed with this one: never fewer conditions.
            let rule = json!("genres = horror");
            match fuse_filters(Some(filter.clone()), Some(rule.clone())) {
                Some(fused) => {
                    if let Ok(g) = parse(&fused, code) {
                        for doc in docs {
                            if g.matches(doc) {
                                assert!(f.matches(doc), "fused filter widened {filter}");
                            }
                        }
                    }
                }
                None => panic!("fusing with a rule lost the rule"),
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let docs = documents();
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // The string form as it is, and the array form when the input is JSON.
    check(&Value::String(text.to_string()), &docs);
    if let Ok(v) = serde_json::from_str::<Value>(text) {
        check(&v, &docs);
    }
});
