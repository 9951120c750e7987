//! Tenant tokens: the gateway's verification of a bearer token, on raw strings (split, base64,
//! JSON of header and claims, algorithm, signature, expiry) and on tokens the fuzzer's header and
//! claims make, correctly signed, so that what follows the signature is reached too; then the
//! search rules such a token carries (index patterns, the filter fused into a search).
//!
//! Checks: a token verified verifies again with the same result, fails with another key, and
//! fails once expired; every error gives a message; the rules never authorize an index that no
//! pattern matches.
#![no_main]

use libfuzzer_sys::fuzz_target;
use miroir_gateway::fuzz_api::{
    SearchRules, TokenError, fuse_filters, pattern_matches, sign_token, verify_token,
};
use serde_json::Value;

const SECRET: &str = "fuzz-key-value-0123456789abcdef";
const NOW: i64 = 1_700_000_000;

fn patterns(rules: &SearchRules) -> Vec<String> {
    match rules {
        SearchRules::Set(s) => s.iter().cloned().collect(),
        SearchRules::Map(m) => m.keys().cloned().collect(),
    }
}

fn check(token: &str) {
    let first = verify_token(token, |_| SECRET.to_string(), NOW);
    match first {
        Err(e) => assert!(!e.message().is_empty()),
        Ok(t) => {
            let again = match verify_token(token, |_| SECRET.to_string(), NOW) {
                Ok(again) => again,
                Err(e) => panic!("a verified token is refused the second time: {e:?}"),
            };
            assert_eq!(t.api_key_uid, again.api_key_uid);
            assert_eq!(t.search_rules, again.search_rules);
            assert!(
                verify_token(token, |_| format!("{SECRET}-other"), NOW).is_err(),
                "a token verified with the wrong key"
            );
            match verify_token(token, |_| SECRET.to_string(), i64::MAX) {
                Err(TokenError::Expired { .. }) | Ok(_) => {}
                Err(e) => panic!("only expiry may change with time: {e:?}"),
            }
            let listed = patterns(&t.search_rules);
            for uid in ["movies", "movies_2024", "books", "*", ""] {
                if t.search_rules.is_index_authorized(uid) {
                    assert!(
                        listed.iter().any(|p| pattern_matches(p, uid)),
                        "{uid} authorized by {listed:?}"
                    );
                }
                if let Some(rule) = t.search_rules.filter_for(uid) {
                    let fused = fuse_filters(Some(Value::String("x = 1".into())), Some(rule));
                    assert!(fused.is_some());
                }
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    check(text);
    // `header\x00claims`, both JSON: sign them and verify what comes out.
    if let Some((header, claims)) = text.split_once('\0')
        && let (Ok(h), Ok(c)) = (
            serde_json::from_str::<Value>(header),
            serde_json::from_str::<Value>(claims),
        )
        && let Some(token) = sign_token(&h, &c, SECRET)
    {
        check(&token);
    }
});
