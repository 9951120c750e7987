//! At most `max_concurrent_uploads_per_key` document uploads in flight per API key, so that one
//! key (one runaway importer, one leaked key) cannot hold every upload the gateway can take.
//!
//! The guarantee: a slot is taken before the upload reads any of its body and is held by an
//! [`UploadPermit`] that the upload's handler owns; the permit gives the slot back when it is
//! dropped, so whatever ends the upload (its answer, an error, the client going away and the
//! connection dropping the handler, a shutdown aborting it) frees the slot. Refusal is
//! immediate (429 `too_many_requests` with `Retry-After`), never a queue: a client told to wait
//! holds no connection meanwhile.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::http::HeaderValue;
use axum::http::header::RETRY_AFTER;
use axum::response::{IntoResponse, Response};
use miroir_proto::{ErrorCode, MeiliError};
use uuid::Uuid;

/// What the `Retry-After` of a refusal says, in seconds: a slot frees as soon as any upload of
/// the key ends, and uploads of Meilisearch SDK batches end within seconds.
pub const RETRY_AFTER_SECS: u64 = 1;

/// Who an upload counts against: an API key, or the master key (which also stands for every
/// client of an open API).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Uploader {
    Master,
    Key(Uuid),
}

impl Uploader {
    pub fn of(key_uid: Option<Uuid>) -> Self {
        key_uid.map_or(Uploader::Master, Uploader::Key)
    }
}

/// The slots of every key; cheap to clone.
#[derive(Clone, Debug)]
pub struct UploadSlots {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    max_per_key: usize,
    /// Uploads in flight by key; a key with none has no entry, so the map stays as small as
    /// the number of keys uploading right now.
    in_flight: Mutex<HashMap<Uploader, usize>>,
}

/// One upload's slot, given back on drop.
#[derive(Debug)]
pub struct UploadPermit {
    inner: Arc<Inner>,
    uploader: Uploader,
}

/// An upload refused because its key has every slot taken: 429 with `Retry-After`.
#[derive(Debug)]
pub struct TooManyUploads {
    pub max_per_key: usize,
}

impl TooManyUploads {
    pub fn to_meili(&self) -> MeiliError {
        MeiliError::new(
            ErrorCode::TooManyRequests,
            format!(
                "Too many document uploads in flight with this API key: at most {} at once. Retry once one of them has finished.",
                self.max_per_key
            ),
        )
    }
}

impl IntoResponse for TooManyUploads {
    fn into_response(self) -> Response {
        let mut response = self.to_meili().into_response();
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        response
    }
}

impl UploadSlots {
    pub fn new(max_per_key: usize) -> Self {
        UploadSlots {
            inner: Arc::new(Inner {
                max_per_key,
                in_flight: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Take one of `uploader`'s slots, or refuse at once.
    pub fn try_acquire(&self, uploader: Uploader) -> Result<UploadPermit, TooManyUploads> {
        let mut in_flight = self
            .inner
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let taken = in_flight.entry(uploader).or_insert(0);
        if *taken >= self.inner.max_per_key {
            return Err(TooManyUploads {
                max_per_key: self.inner.max_per_key,
            });
        }
        *taken += 1;
        metrics::gauge!("miroir_gateway_uploads_in_flight").increment(1.0);
        Ok(UploadPermit {
            inner: self.inner.clone(),
            uploader,
        })
    }

    /// Uploads in flight for `uploader` (for tests and diagnostics).
    pub fn in_flight(&self, uploader: Uploader) -> usize {
        self.inner
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&uploader)
            .copied()
            .unwrap_or(0)
    }
}

impl Drop for UploadPermit {
    fn drop(&mut self) {
        let mut in_flight = self
            .inner
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(taken) = in_flight.get_mut(&self.uploader) {
            *taken = taken.saturating_sub(1);
            if *taken == 0 {
                in_flight.remove(&self.uploader);
            }
        }
        metrics::gauge!("miroir_gateway_uploads_in_flight").decrement(1.0);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn slots_are_per_key_and_come_back_on_drop() {
        let slots = UploadSlots::new(2);
        let key = Uploader::Key(Uuid::from_u128(7));
        let a = slots.try_acquire(key).unwrap();
        let b = slots.try_acquire(key).unwrap();
        let refused = slots.try_acquire(key).unwrap_err();
        assert_eq!(refused.to_meili().status, 429);
        let response = refused.into_response();
        assert_eq!(response.headers()[RETRY_AFTER], "1");
        // Another key, and the master key, have their own slots.
        let other = slots.try_acquire(Uploader::Master).unwrap();
        drop(a);
        assert_eq!(slots.in_flight(key), 1);
        let c = slots.try_acquire(key).unwrap();
        drop((b, c, other));
        assert_eq!(slots.in_flight(key), 0);
        assert_eq!(slots.in_flight(Uploader::Master), 0);
        assert!(slots.inner.in_flight.lock().unwrap().is_empty());
    }
}
