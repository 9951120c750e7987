//! The request check, on hand-built keys: Meilisearch's order of checks and its messages.
#![allow(clippy::unwrap_used)]

use miroir_cluster::keys::ApiKeyRecord;
use serde_json::json;

use super::*;

const MASTER: &str = "MASTER_KEY";
const UID: &str = "4bc0887a-0e41-4f3b-935d-0c451dcee9c8";

fn ring(actions: &[&str], indexes: &[&str], expires_at: Option<&str>) -> Ring {
    let record = ApiKeyRecord {
        uid: UID.into(),
        name: None,
        description: None,
        actions: actions.iter().map(|s| s.to_string()).collect(),
        indexes: indexes.iter().map(|s| s.to_string()).collect(),
        expires_at: expires_at.map(str::to_string),
        created_at: "2026-11-21T05:01:17.060205375Z".into(),
        updated_at: "2026-11-21T05:01:17.060205375Z".into(),
    };
    Ring {
        revision: 1,
        keys: vec![RingKey::new(record, Some(MASTER)).unwrap()],
    }
}

fn check(
    master: Option<&str>,
    ring: &Ring,
    header: Option<&str>,
    action: &str,
    index: Option<&str>,
) -> Result<AuthContext, MeiliError> {
    authenticate(
        master,
        ring,
        header,
        action,
        index,
        OffsetDateTime::now_utc(),
    )
    .map_err(|r| r.error)
}

#[test]
fn key_values_match_meilisearchs_test_vector() {
    // Meilisearch's own test suite: master key `MASTER_KEY`, this uid, this key.
    let r = ring(&["search"], &["products"], None);
    assert_eq!(
        r.keys[0].value,
        "d9e776b8412f1db6974c9a5556b961c3559440b6588216f4ea5d9ed49f7c8f3c"
    );
}

#[test]
fn header_and_master_key_rules() {
    let r = ring(&["search"], &["products"], None);
    let key = format!("Bearer {}", r.keys[0].value);
    // Meilisearch decodes key values as hex, in either case.
    let upper = format!("Bearer {}", r.keys[0].value.to_ascii_uppercase());
    assert!(check(Some(MASTER), &r, Some(&upper), "search", None).is_ok());
    let code = |res: Result<AuthContext, MeiliError>| {
        res.map(|_| "ok".to_string())
            .unwrap_or_else(|e| e.code.to_string())
    };
    assert_eq!(
        code(check(Some(MASTER), &r, None, "search", None)),
        "missing_authorization_header"
    );
    assert_eq!(
        code(check(Some(MASTER), &r, Some("Basic x"), "search", None)),
        "missing_authorization_header"
    );
    assert_eq!(
        code(check(Some(MASTER), &r, Some("Bearer"), "search", None)),
        "invalid_api_key"
    );
    assert_eq!(
        code(check(Some(MASTER), &r, Some("Bearer "), "search", None)),
        "invalid_api_key"
    );
    assert_eq!(
        code(check(
            Some(MASTER),
            &r,
            Some("Bearer MASTER_KEY"),
            "keys.delete",
            None
        )),
        "ok"
    );
    assert_eq!(
        code(check(
            Some(MASTER),
            &r,
            Some(&key),
            "search",
            Some("products")
        )),
        "ok"
    );
    assert_eq!(
        code(check(
            Some(MASTER),
            &r,
            Some(&key),
            "documents.add",
            Some("products")
        )),
        "invalid_api_key"
    );
    let e = check(Some(MASTER), &r, Some(&key), "search", Some("movies")).unwrap_err();
    assert_eq!(
        e.message,
        "The API key cannot acces the index `movies`, authorized indexes are [\"products\"]."
    );
    // Without a master key everything is open but `/keys`; the header is still parsed.
    assert_eq!(
        code(check(None, &r, None, "documents.add", Some("x"))),
        "ok"
    );
    assert_eq!(
        code(check(
            None,
            &r,
            Some("Bearer anything"),
            "settings.update",
            None
        )),
        "ok"
    );
    assert_eq!(
        code(check(None, &r, None, "keys.get", None)),
        "missing_master_key"
    );
    assert_eq!(
        code(check(
            None,
            &r,
            Some("Bearer anything"),
            "keys.create",
            None
        )),
        "missing_master_key"
    );
    assert_eq!(
        code(check(None, &r, Some("Basic x"), "search", None)),
        "missing_authorization_header"
    );
}

#[test]
fn expired_keys_and_index_creation() {
    let expired = ring(&["*"], &["*"], Some("2020-01-01T00:00:00Z"));
    let key = format!("Bearer {}", expired.keys[0].value);
    assert_eq!(
        check(Some(MASTER), &expired, Some(&key), "version", None)
            .unwrap_err()
            .code,
        "invalid_api_key"
    );
    let r = ring(&["indexes.create"], &["books*"], None);
    let key = format!("Bearer {}", r.keys[0].value);
    let ctx = check(Some(MASTER), &r, Some(&key), "indexes.create", None).unwrap();
    assert!(ctx.allow_index_creation("books_2024") && !ctx.allow_index_creation("movies"));
    assert!(!ctx.all_indexes_authorized());
    assert!(AuthContext::unrestricted().all_indexes_authorized());
}

#[test]
fn tenant_tokens_carry_their_rules() {
    let r = ring(&["search"], &["*"], None);
    let token = token::tests::sign(
        &json!({"alg": "HS256"}),
        &json!({"apiKeyUid": UID, "searchRules": {"movies": {"filter": "genre = comedy"}}}),
        &r.keys[0].value,
    );
    let header = format!("Bearer {token}");
    let ctx = check(Some(MASTER), &r, Some(&header), "search", Some("movies")).unwrap();
    let mut body = json!({"q": "x", "filter": "genre = drama OR genre = comedy"});
    apply_search_rules(&ctx, "movies", &mut body).unwrap();
    assert_eq!(
        body["filter"],
        json!(["genre = drama OR genre = comedy", "genre = comedy"])
    );
    assert_eq!(
        apply_search_rules(&ctx, "books", &mut body)
            .unwrap_err()
            .code,
        "invalid_api_key"
    );
    let e = check(Some(MASTER), &r, Some(&header), "search", Some("books")).unwrap_err();
    assert_eq!(
        e.message,
        "The provided tenant token cannot acces the index `books`, allowed indexes are [\"movies\"]."
    );
    // Elsewhere than a search, a token is an unknown key.
    let e = check(
        Some(MASTER),
        &r,
        Some(&header),
        "documents.get",
        Some("movies"),
    )
    .unwrap_err();
    assert_eq!(e.message, "The provided API key is invalid.");
    // Raw bodies pass through untouched when no filter applies.
    let raw = Bytes::from_static(br#"{"q":"x"}"#);
    let unrestricted = AuthContext::unrestricted();
    assert_eq!(
        apply_search_rules_raw(&unrestricted, "movies", raw.clone(), json!({"q": "x"})).unwrap(),
        raw
    );
    let fused = apply_search_rules_raw(&ctx, "movies", raw, json!({"q": "x"})).unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&fused).unwrap(),
        json!({"q": "x", "filter": "genre = comedy"})
    );
}
