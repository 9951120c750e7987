//! Tenant tokens: JWTs (HS256, HS384 or HS512) signed with an API key's value, carrying
//! `{"apiKeyUid", "searchRules", "exp"}`. Verified here without a JWT library, step by step as
//! Meilisearch's `jsonwebtoken` decoding goes, so that each malformed token gets the message a
//! Meilisearch node gives it ("Could not decode tenant token, InvalidSignature." ...).
//!
//! A bearer token that is not shaped like a JWT (fewer than two dots) is not a tenant token: the
//! caller then tries it as an API key.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Sha256, Sha384, Sha512};
use uuid::Uuid;

use super::rules::SearchRules;
use super::same_bytes;

/// The algorithms `jsonwebtoken` knows, in its order (its serde error lists them so).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[allow(clippy::upper_case_acronyms)]
enum Algorithm {
    HS256,
    HS384,
    HS512,
    ES256,
    ES384,
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    EdDSA,
}

/// The JOSE header as `jsonwebtoken` reads it: only `alg` is required.
#[derive(Deserialize)]
#[allow(dead_code)]
struct Header {
    typ: Option<String>,
    alg: Algorithm,
    cty: Option<String>,
    jku: Option<String>,
    jwk: Option<Value>,
    kid: Option<String>,
    x5u: Option<String>,
    x5c: Option<Vec<String>>,
    x5t: Option<String>,
    #[serde(rename = "x5t#S256")]
    x5t_s256: Option<String>,
}

/// Meilisearch's claims: `exp` is optional, the other two are required.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Claims {
    search_rules: SearchRules,
    exp: Option<i64>,
    api_key_uid: Uuid,
}

/// A verified token.
#[derive(Debug)]
pub struct TenantToken {
    pub api_key_uid: Uuid,
    pub search_rules: SearchRules,
}

#[derive(Debug, PartialEq, Eq)]
pub enum TokenError {
    /// Not a JWT at all: try the bearer as an API key.
    NotAToken,
    /// "Could not decode tenant token, {0}."
    Decode(String),
    /// The token's `exp` has passed.
    Expired { exp: i64, now: i64 },
}

impl TokenError {
    pub fn message(&self) -> String {
        match self {
            TokenError::NotAToken => "The provided API key is invalid.".to_string(),
            TokenError::Decode(e) => format!("Could not decode tenant token, {e}."),
            TokenError::Expired { exp, now } => {
                format!("Tenant token expired. Was valid up to `{exp}` and we're now `{now}`.")
            }
        }
    }
}

fn b64(part: &str) -> Result<Vec<u8>, TokenError> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|e| TokenError::Decode(format!("Base64 error: {e}")))
}

fn json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, TokenError> {
    serde_json::from_slice(bytes).map_err(|e| TokenError::Decode(format!("JSON error: {e}")))
}

/// The three parts, split as `jsonwebtoken` splits (from the right).
struct Parts<'a> {
    header: &'a str,
    payload: &'a str,
    signature: &'a str,
    /// `header.payload`, what the signature covers.
    signed: &'a str,
}

fn split(token: &str) -> Result<Parts<'_>, TokenError> {
    let (signed, signature) = token.rsplit_once('.').ok_or(TokenError::NotAToken)?;
    let (header, payload) = signed.rsplit_once('.').ok_or(TokenError::NotAToken)?;
    Ok(Parts {
        header,
        payload,
        signature,
        signed,
    })
}

/// Decode the claims and apply `jsonwebtoken`'s default validation (which refuses an `aud`
/// claim when no audience is expected).
fn claims(payload: &str) -> Result<Claims, TokenError> {
    let bytes = b64(payload)?;
    let claims: Claims = json(&bytes)?;
    let raw: Value = json(&bytes)?;
    let has_audience = match raw.get("aud") {
        Some(Value::String(_)) => true,
        Some(Value::Array(items)) => items.iter().all(Value::is_string),
        _ => false,
    };
    if has_audience {
        return Err(TokenError::Decode("InvalidAudience".to_string()));
    }
    Ok(claims)
}

fn hmac_b64<M: Mac + hmac::digest::KeyInit>(secret: &[u8], message: &[u8]) -> Option<String> {
    let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(secret).ok()?;
    mac.update(message);
    Some(URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
}

/// Verify `token`; `key_value_of` gives the value of the key a uid names (derived from the
/// master key, whether or not the key still exists: the caller checks that next, as
/// Meilisearch does). `now` is the current unix time.
pub fn verify(
    token: &str,
    key_value_of: impl Fn(&Uuid) -> String,
    now: i64,
) -> Result<TenantToken, TokenError> {
    let parts = split(token)?;
    // First pass without the signature, to learn which key signed it.
    let header: Header = json(&b64(parts.header)?)?;
    let unverified = claims(parts.payload)?;
    let secret = key_value_of(&unverified.api_key_uid);
    let expected = match header.alg {
        Algorithm::HS256 => hmac_b64::<Hmac<Sha256>>(secret.as_bytes(), parts.signed.as_bytes()),
        Algorithm::HS384 => hmac_b64::<Hmac<Sha384>>(secret.as_bytes(), parts.signed.as_bytes()),
        Algorithm::HS512 => hmac_b64::<Hmac<Sha512>>(secret.as_bytes(), parts.signed.as_bytes()),
        _ => return Err(TokenError::Decode("InvalidAlgorithm".to_string())),
    };
    let Some(expected) = expected else {
        return Err(TokenError::Decode("InvalidSignature".to_string()));
    };
    if !same_bytes(parts.signature.as_bytes(), expected.as_bytes()) {
        return Err(TokenError::Decode("InvalidSignature".to_string()));
    }
    if let Some(exp) = unverified.exp
        && now > exp
    {
        return Err(TokenError::Expired { exp, now });
    }
    Ok(TenantToken {
        api_key_uid: unverified.api_key_uid,
        search_rules: unverified.search_rules,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    const UID: &str = "76cf8b87-fd12-4688-ad34-260d930ca4f4";

    /// Sign a token as an SDK does (any header, any claims).
    pub fn sign(header: &Value, claims: &Value, secret: &str) -> String {
        let h = URL_SAFE_NO_PAD.encode(header.to_string());
        let p = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signed = format!("{h}.{p}");
        let alg = header["alg"].as_str().unwrap_or("HS256");
        let sig = match alg {
            "HS384" => hmac_b64::<Hmac<Sha384>>(secret.as_bytes(), signed.as_bytes()),
            "HS512" => hmac_b64::<Hmac<Sha512>>(secret.as_bytes(), signed.as_bytes()),
            _ => hmac_b64::<Hmac<Sha256>>(secret.as_bytes(), signed.as_bytes()),
        }
        .unwrap();
        format!("{signed}.{sig}")
    }

    fn value(_: &Uuid) -> String {
        "the-key-value".to_string()
    }

    #[test]
    fn every_hmac_algorithm_verifies() {
        for alg in ["HS256", "HS384", "HS512"] {
            let t = sign(
                &json!({"alg": alg, "typ": "JWT"}),
                &json!({"apiKeyUid": UID, "searchRules": {"npm": {"filter": "a = 1"}}, "exp": null}),
                "the-key-value",
            );
            let ok = verify(&t, value, 0).unwrap();
            assert_eq!(ok.api_key_uid.to_string(), UID);
            assert_eq!(ok.search_rules.filter_for("npm"), Some(json!("a = 1")));
        }
    }

    #[test]
    fn tampering_is_refused_with_meilisearchs_messages() {
        let claims = json!({"apiKeyUid": UID, "searchRules": ["*"]});
        let good = sign(&json!({"alg": "HS256"}), &claims, "the-key-value");
        let wrong_key = sign(&json!({"alg": "HS256"}), &claims, "another");
        assert_eq!(
            verify(&wrong_key, value, 0).unwrap_err().message(),
            "Could not decode tenant token, InvalidSignature."
        );
        // Payload swapped under the same signature.
        let (h, rest) = good.split_once('.').unwrap();
        let (_, s) = rest.split_once('.').unwrap();
        let widened = URL_SAFE_NO_PAD
            .encode(json!({"apiKeyUid": UID, "searchRules": ["*", "x"]}).to_string());
        let forged = format!("{h}.{widened}.{s}");
        assert_eq!(
            verify(&forged, value, 0).unwrap_err(),
            TokenError::Decode("InvalidSignature".into())
        );
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let e = verify(&none, value, 0).unwrap_err().message();
        assert!(e.starts_with("Could not decode tenant token, JSON error: unknown variant `none`, expected one of `HS256`"), "{e}");
        let rs = sign(&json!({"alg": "RS256"}), &claims, "the-key-value");
        assert_eq!(
            verify(&rs, value, 0).unwrap_err().message(),
            "Could not decode tenant token, InvalidAlgorithm."
        );
        assert_eq!(
            verify("abcdef", value, 0).unwrap_err(),
            TokenError::NotAToken
        );
        assert_eq!(verify("a.b", value, 0).unwrap_err(), TokenError::NotAToken);
        let no_uid = sign(
            &json!({"alg": "HS256"}),
            &json!({"searchRules": ["*"]}),
            "the-key-value",
        );
        assert!(
            verify(&no_uid, value, 0)
                .unwrap_err()
                .message()
                .contains("missing field `apiKeyUid`")
        );
        let aud = sign(
            &json!({"alg": "HS256"}),
            &json!({"apiKeyUid": UID, "searchRules": ["*"], "aud": "x"}),
            "the-key-value",
        );
        assert_eq!(
            verify(&aud, value, 0).unwrap_err().message(),
            "Could not decode tenant token, InvalidAudience."
        );
    }

    #[test]
    fn expiry_is_checked_after_the_signature() {
        let t = sign(
            &json!({"alg": "HS256"}),
            &json!({"apiKeyUid": UID, "searchRules": ["*"], "exp": 100}),
            "the-key-value",
        );
        assert!(verify(&t, value, 100).is_ok());
        assert_eq!(
            verify(&t, value, 101).unwrap_err().message(),
            "Tenant token expired. Was valid up to `100` and we're now `101`."
        );
    }
}
