//! Meilisearch's authentication at the gateway: the master key, API keys (kept in the cluster's
//! `miroir-keys` KV bucket, see [`keyring`]) and tenant tokens ([`token`]).
//!
//! With a master key configured, every route but `/health` and `/` needs
//! `Authorization: Bearer <master key | API key | tenant token>`: a missing header (or another
//! scheme) is a 401 `missing_authorization_header`, anything that does not open the route a 403
//! `invalid_api_key`, with Meilisearch's messages and in its order (token, key, the route's
//! index, then the route's action and the key's expiry). Without a master key the API is open,
//! except `/keys` (401 `missing_master_key`). The master key opens everything.
//!
//! What a request may see once let in is its [`AuthContext`] (its indexes, and a tenant token's
//! search rules): handlers take it as an extractor, list only authorized indexes and call
//! [`apply_search_rules`] on every search body so that a token's filter always applies.

mod actions;
mod keyring;
pub(crate) mod rules;
pub(crate) mod token;

use axum::extract::{FromRequestParts, MatchedPath, RawPathParams, Request, State};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use miroir_proto::{ErrorCode, MeiliError};
use serde_json::Value;
use time::OffsetDateTime;

use crate::state::AppState;
pub use actions::ACTIONS;
pub use keyring::{Keyring, Ring, RingKey};
use rules::{SearchRules, fuse_filters, pattern_matches};
use token::TokenError;

/// Compare without stopping at the first difference, so that timing does not leak a secret.
pub(crate) fn same_bytes(given: &[u8], expected: &[u8]) -> bool {
    let mut diff = given.len() ^ expected.len();
    for (i, e) in expected.iter().enumerate() {
        diff |= usize::from(given.get(i).copied().unwrap_or(0) ^ e);
    }
    diff == 0
}

pub fn missing_master_key() -> MeiliError {
    MeiliError::new(
        ErrorCode::MissingMasterKey,
        "Meilisearch is running without a master key. To access this API endpoint, you must have set a master key at launch.",
    )
}

fn auth_error(message: impl Into<String>) -> MeiliError {
    MeiliError::new(ErrorCode::InvalidApiKey, message)
}

/// What an authenticated request may see.
#[derive(Clone, Debug)]
pub struct AuthContext {
    /// The key's index patterns; `None`: every index (master key, open API, `*` key).
    key_indexes: Option<Vec<String>>,
    /// A tenant token's rules; `None` when the request did not use a token.
    search_rules: Option<SearchRules>,
    allow_index_creation: bool,
    /// The API key the request was let in with (a tenant token's signing key); `None` for the
    /// master key and an open API.
    key_uid: Option<uuid::Uuid>,
}

impl AuthContext {
    /// The master key's (or an open API's) context: everything.
    pub fn unrestricted() -> Self {
        AuthContext {
            key_indexes: None,
            search_rules: None,
            allow_index_creation: true,
            key_uid: None,
        }
    }

    /// The API key the request was let in with; `None` for the master key and an open API.
    pub fn key_uid(&self) -> Option<uuid::Uuid> {
        self.key_uid
    }

    pub fn is_tenant_token(&self) -> bool {
        self.search_rules.is_some()
    }

    /// Whether the key (and the tenant token, if any) opens the index `uid`.
    pub fn is_index_authorized(&self, uid: &str) -> bool {
        self.key_indexes
            .as_ref()
            .is_none_or(|patterns| patterns.iter().any(|p| pattern_matches(p, uid)))
            && self
                .search_rules
                .as_ref()
                .is_none_or(|rules| rules.is_index_authorized(uid))
    }

    /// Whether nothing is hidden from this request (listings need no filtering then).
    pub fn all_indexes_authorized(&self) -> bool {
        self.key_indexes.is_none()
            && self
                .search_rules
                .as_ref()
                .is_none_or(SearchRules::all_indexes_authorized)
    }

    /// Whether the request may create the index `uid` (`POST /indexes`, or documents sent to an
    /// index that does not exist yet).
    pub fn allow_index_creation(&self, uid: &str) -> bool {
        self.allow_index_creation && self.is_index_authorized(uid)
    }

    /// The filter a tenant token imposes on searches of `uid`, if any.
    pub fn search_filter(&self, uid: &str) -> Option<Value> {
        self.search_rules.as_ref()?.filter_for(uid)
    }

    /// Meilisearch's errors for a route's index that the request may not touch.
    fn check_route_index(&self, uid: &str) -> Result<(), MeiliError> {
        if let Some(rules) = &self.search_rules
            && !rules.is_index_authorized(uid)
        {
            return Err(auth_error(format!(
                "The provided tenant token cannot acces the index `{uid}`, allowed indexes are {:?}.",
                rules.listed()
            )));
        }
        if let Some(patterns) = &self.key_indexes
            && !patterns.iter().any(|p| pattern_matches(p, uid))
        {
            if self.is_tenant_token() {
                // The key's indexes are not the token holder's business.
                return Err(auth_error(format!(
                    "The API key used to generate this tenant token cannot acces the index `{uid}`."
                )));
            }
            let mut allowed = patterns.clone();
            allowed.sort_unstable();
            return Err(auth_error(format!(
                "The API key cannot acces the index `{uid}`, authorized indexes are {allowed:?}."
            )));
        }
        Ok(())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for AuthContext {
    type Rejection = MeiliError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, MeiliError> {
        // Only routes behind `require_key` have one; anything else is a wiring mistake, and
        // failing closed is the safe answer to it.
        parts
            .extensions
            .get::<AuthContext>()
            .cloned()
            .ok_or_else(|| MeiliError::internal("the route has no authentication context"))
    }
}

/// Put a tenant token's rules for `index_uid` into a search body (`/search`, each query of a
/// multi-search, facet search, similar documents): its filter is ANDed with the body's own
/// `filter`, as Meilisearch does, so that the request can only narrow what the token allows.
/// Refuses (403 `invalid_api_key`, "The provided API key is invalid.", Meilisearch's answer in
/// a multi-search) an index the key or the token does not open; routes with the index in their
/// path were already checked, with more precise messages, before the handler ran.
pub fn apply_search_rules(
    ctx: &AuthContext,
    index_uid: &str,
    body: &mut Value,
) -> Result<(), MeiliError> {
    if !ctx.is_index_authorized(index_uid) {
        return Err(MeiliError::invalid_api_key());
    }
    let Some(rule) = ctx.search_filter(index_uid) else {
        return Ok(());
    };
    let Some(object) = body.as_object_mut() else {
        return Err(MeiliError::bad_request(
            "A search body must be a JSON object to carry a tenant token's filter.",
        ));
    };
    let fused = fuse_filters(object.remove("filter"), Some(rule));
    if let Some(fused) = fused {
        object.insert("filter".to_string(), fused);
    }
    Ok(())
}

/// [`apply_search_rules`] on a raw JSON body: the bytes go through untouched (big numbers, key
/// order) unless a filter must be added.
pub fn apply_search_rules_raw(
    ctx: &AuthContext,
    index_uid: &str,
    raw: Bytes,
    mut parsed: Value,
) -> Result<Bytes, MeiliError> {
    if !ctx.is_index_authorized(index_uid) {
        return Err(MeiliError::invalid_api_key());
    }
    if ctx.search_filter(index_uid).is_none() {
        return Ok(raw);
    }
    apply_search_rules(ctx, index_uid, &mut parsed)?;
    serde_json::to_vec(&parsed)
        .map(Bytes::from)
        .map_err(|e| MeiliError::internal(format!("cannot encode a search body: {e}")))
}

/// Why a request was refused; `unknown_key` when the bearer named no key of the mirror, which
/// may only be the mirror lagging behind a key created a moment ago through another gateway.
struct Refusal {
    error: MeiliError,
    unknown_key: bool,
}

impl From<MeiliError> for Refusal {
    fn from(error: MeiliError) -> Self {
        Refusal {
            error,
            unknown_key: false,
        }
    }
}

fn unknown_key() -> Refusal {
    Refusal {
        error: MeiliError::invalid_api_key(),
        unknown_key: true,
    }
}

/// The check itself, on one snapshot of the keys: Meilisearch's `GuardedData` extractor and
/// `ActionPolicy::authenticate`, step by step.
fn authenticate(
    master: Option<&str>,
    ring: &Ring,
    header: Option<&str>,
    action: &str,
    index: Option<&str>,
    now: OffsetDateTime,
) -> Result<AuthContext, Refusal> {
    let Some(header) = header else {
        return match master {
            None if actions::is_keys_action(action) => Err(missing_master_key().into()),
            None => Ok(AuthContext::unrestricted()),
            Some(_) => Err(MeiliError::missing_authorization_header().into()),
        };
    };
    let mut parts = header.splitn(2, ' ');
    if parts.next() != Some("Bearer") {
        return Err(MeiliError::missing_authorization_header().into());
    }
    let Some(bearer) = parts.next() else {
        return Err(MeiliError::invalid_api_key().into());
    };
    let Some(master) = master else {
        return if actions::is_keys_action(action) {
            Err(missing_master_key().into())
        } else {
            Ok(AuthContext::unrestricted())
        };
    };
    if same_bytes(bearer.as_bytes(), master.as_bytes()) {
        return Ok(AuthContext::unrestricted());
    }
    // Only searches take tenant tokens; elsewhere a token is just an unknown key.
    let tenant = if action == "search" {
        match token::verify(
            bearer,
            |uid| keyring::key_value(master, uid),
            now.unix_timestamp(),
        ) {
            Ok(token) => Some(token),
            Err(TokenError::NotAToken) => None,
            Err(e) => return Err(auth_error(e.message()).into()),
        }
    } else {
        None
    };
    let (key, search_rules) = match tenant {
        Some(token) => (
            ring.by_uid(&token.api_key_uid).ok_or_else(unknown_key)?,
            Some(token.search_rules),
        ),
        None => (ring.by_value(bearer).ok_or_else(unknown_key)?, None),
    };
    let ctx = AuthContext {
        key_indexes: key.index_patterns(),
        search_rules,
        allow_index_creation: key.allows("indexes.create", now),
        key_uid: Some(key.uid),
    };
    if let Some(index) = index {
        ctx.check_route_index(index)?;
    }
    if key.allows(action, now) {
        Ok(ctx)
    } else {
        Err(MeiliError::invalid_api_key().into())
    }
}

/// Layered on every route except `/health` and `/`: lets the request through with its
/// [`AuthContext`], or answers Meilisearch's error.
pub async fn require_key(
    State(state): State<AppState>,
    matched: Option<MatchedPath>,
    params: Result<RawPathParams, axum::extract::rejection::RawPathParamsRejection>,
    mut req: Request,
    next: Next,
) -> Response {
    let template = matched
        .as_ref()
        .map(MatchedPath::as_str)
        .unwrap_or_default();
    let action = actions::route_action(req.method(), template);
    let index: Option<&str> = actions::index_param_name(template).and_then(|name| {
        params
            .as_ref()
            .ok()?
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
    });
    match admit(&state, req.headers(), action, index).await {
        Ok(ctx) => {
            req.extensions_mut().insert(ctx);
            next.run(req).await
        }
        Err(error) => error.into_response(),
    }
}

/// Whether a request with `headers` may do `action` (an [`ACTIONS`] name) on the route's
/// `index` (the index in its path, if any): its [`AuthContext`], or Meilisearch's error. What
/// [`require_key`] checks, for the routes the gateway answers before routing (the searches).
pub(crate) async fn admit(
    state: &AppState,
    headers: &HeaderMap,
    action: &'static str,
    index: Option<&str>,
) -> Result<AuthContext, MeiliError> {
    // A header that is not visible ASCII reads as empty, as in Meilisearch (actix `to_str`).
    let header = headers
        .get(AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or_default());
    let keys = state.keys();
    let now = OffsetDateTime::now_utc();
    let master = keys.master();
    let outcome = authenticate(master, &keys.ring(), header, action, index, now);
    match outcome {
        Ok(ctx) => Ok(ctx),
        Err(Refusal {
            unknown_key: true, ..
        }) => {
            let ring = keys.fresh_ring().await;
            authenticate(master, &ring, header, action, index, now).map_err(|r| r.error)
        }
        Err(refusal) => Err(refusal.error),
    }
}

#[cfg(test)]
mod tests;
