//! The gateway's decoders of client bytes, reachable from outside the crate for the fuzz targets
//! in `fuzz/` (and their regression tests) only: the modules that own them stay private, and
//! nothing here is part of the gateway's API. Each item is the entry point a request really goes
//! through, re-exported or wrapped unchanged.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use miroir_proto::MeiliError;
use serde_json::Value;
use sha2::{Sha256, Sha384, Sha512};

pub use crate::auth::rules::{SearchRules, fuse_filters, pattern_matches};
pub use crate::auth::token::{TenantToken, TokenError, verify as verify_token};
pub use crate::ingest::{DocumentParser, Format, ParseError, Sink, parse_pieces};
pub use crate::routes::multi_search::envelope::{
    Envelope as MultiSearchEnvelope, Query as MultiSearchQuery, parse as parse_multi_search,
};

/// A request body as the JSON routes read it (`parse_json` of [`crate::body`]).
pub fn parse_json_body(bytes: &[u8]) -> Result<Value, MeiliError> {
    crate::body::parse_json(bytes)
}

/// `GET /indexes/{uid}/search?...` as the body of the `POST` route.
pub fn search_query(raw: Option<&str>) -> Result<Value, MeiliError> {
    crate::params::search_body(raw)
}

/// `GET /indexes/{uid}/documents?...` as the body of `POST .../documents/fetch`.
pub fn documents_query(raw: Option<&str>) -> Result<Value, MeiliError> {
    crate::params::documents_body(raw)
}

/// `GET /indexes/{uid}/similar?...` as the body of the `POST` route.
pub fn similar_query(raw: Option<&str>) -> Result<Value, MeiliError> {
    crate::params::similar_body(raw)
}

/// Sign `header.claims` with `secret` as an SDK signs a tenant token (HS256 unless the header's
/// `alg` says HS384 or HS512), so that a fuzz target can reach what follows the signature check.
pub fn sign_token(header: &Value, claims: &Value, secret: &str) -> Option<String> {
    let h = URL_SAFE_NO_PAD.encode(header.to_string());
    let p = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signed = format!("{h}.{p}");
    let key = secret.as_bytes();
    let sig = match header.get("alg").and_then(Value::as_str) {
        Some("HS384") => mac::<Hmac<Sha384>>(key, &signed),
        Some("HS512") => mac::<Hmac<Sha512>>(key, &signed),
        _ => mac::<Hmac<Sha256>>(key, &signed),
    }?;
    Some(format!("{signed}.{sig}"))
}

fn mac<M: Mac + hmac::digest::KeyInit>(key: &[u8], message: &str) -> Option<String> {
    let mut m = <M as hmac::digest::KeyInit>::new_from_slice(key).ok()?;
    m.update(message.as_bytes());
    Some(URL_SAFE_NO_PAD.encode(m.finalize().into_bytes()))
}
