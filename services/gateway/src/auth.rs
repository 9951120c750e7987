//! Meilisearch's master-key authentication: with a master key configured, a request needs
//! `Authorization: Bearer <key>`. A missing header (or another scheme) is a 401
//! `missing_authorization_header`, a wrong key a 403 `invalid_api_key`. Without a master key the
//! API is open, as Meilisearch is.

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use miroir_proto::MeiliError;

use crate::state::AppState;

/// Compare without stopping at the first difference, so that timing does not leak the key.
fn same_key(given: &[u8], expected: &[u8]) -> bool {
    let mut diff = given.len() ^ expected.len();
    for (i, e) in expected.iter().enumerate() {
        diff |= usize::from(given.get(i).copied().unwrap_or(0) ^ e);
    }
    diff == 0
}

pub fn check(master_key: Option<&str>, header: Option<&[u8]>) -> Result<(), MeiliError> {
    let Some(master_key) = master_key else {
        return Ok(());
    };
    let Some(header) = header else {
        return Err(MeiliError::missing_authorization_header());
    };
    let header = String::from_utf8_lossy(header);
    let mut parts = header.splitn(2, ' ');
    match (parts.next(), parts.next()) {
        (Some("Bearer"), Some(token)) if same_key(token.as_bytes(), master_key.as_bytes()) => {
            Ok(())
        }
        (Some("Bearer"), Some(_)) => Err(MeiliError::invalid_api_key()),
        _ => Err(MeiliError::missing_authorization_header()),
    }
}

/// Layered on every route except `/health` and `/`.
pub async fn require_key(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let header = req
        .headers()
        .get(AUTHORIZATION)
        .map(|v| v.as_bytes().to_vec());
    match check(state.config().master_key.as_deref(), header.as_deref()) {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn bearer_master_key_only() {
        assert!(check(None, None).is_ok());
        let key = Some("masterKey");
        assert_eq!(check(key, None).unwrap_err().status, 401);
        assert_eq!(check(key, Some(b"Basic abc")).unwrap_err().status, 401);
        assert_eq!(check(key, Some(b"Bearer nope")).unwrap_err().status, 403);
        assert_eq!(
            check(key, Some(b"Bearer masterKeyX")).unwrap_err().status,
            403
        );
        assert_eq!(check(key, Some(b"Bearer ")).unwrap_err().status, 403);
        assert!(check(key, Some(b"Bearer masterKey")).is_ok());
    }
}
