//! The MessagePack envelopes services exchange over NATS: `decode::<T>` of every message type
//! and `decode_outcome::<T>` of every reply, on the same bytes (a peer running another version,
//! or a compromised one, chooses them).
//!
//! Checks: at most one message type accepts the bytes (kinds are distinct); a message accepted
//! is encoded again and decodes to the same value; an envelope of another kind or version is
//! refused with the typed error that says so.
#![no_main]

use libfuzzer_sys::fuzz_target;
use miroir_fuzz::assert_same_json;
use miroir_proto::handoff::Hint;
use miroir_proto::rpc::*;
use miroir_proto::rpc_dumps::DumpCreate;
use miroir_proto::rpc_search::{FacetSearch, MultiSearch};
use miroir_proto::rpc_tasks::{
    BatchGet, BatchList, IndexSwap, TaskCancel, TaskDelete, TaskIndexUids, TaskSearch,
};
use miroir_proto::{Message, Outcome, ProtoError, decode, decode_outcome, encode, encode_outcome};

/// Try `T` on `bytes`; whether it accepted them as a message and as an outcome.
fn one<T: Message>(bytes: &[u8]) -> (bool, bool) {
    let message = match decode::<T>(bytes) {
        Ok(m) => {
            let again = match encode(&m) {
                Ok(b) => b,
                Err(e) => panic!("{}: a decoded message cannot be encoded: {e}", T::KIND),
            };
            match decode::<T>(&again) {
                Ok(m2) => assert_same_json(&m, &m2),
                Err(e) => panic!("{}: an encoded message cannot be decoded: {e}", T::KIND),
            }
            true
        }
        Err(ProtoError::WrongKind { expected, .. }) => {
            assert_eq!(expected, T::KIND);
            false
        }
        Err(_) => false,
    };
    let outcome = match decode_outcome::<T>(bytes) {
        Ok(o) => {
            let again = match encode_outcome(&o) {
                Ok(b) => b,
                Err(e) => panic!("{}: a decoded outcome cannot be encoded: {e}", T::KIND),
            };
            match decode_outcome::<T>(&again) {
                Ok(o2) => match (&o, &o2) {
                    (Outcome::Ok(a), Outcome::Ok(b)) => assert_same_json(a, b),
                    (Outcome::Err(a), Outcome::Err(b)) => assert_eq!(a, b),
                    _ => panic!("{}: an outcome changed sides", T::KIND),
                },
                Err(e) => panic!("{}: an encoded outcome cannot be decoded: {e}", T::KIND),
            }
            true
        }
        Err(_) => false,
    };
    (message, outcome)
}

macro_rules! all {
    ($bytes:expr; $($ty:ty),* $(,)?) => {{
        let mut messages = 0;
        let mut outcomes = 0;
        $(
            let (m, o) = one::<$ty>($bytes);
            messages += usize::from(m);
            outcomes += usize::from(o);
        )*
        (messages, outcomes)
    }};
}

fuzz_target!(|data: &[u8]| {
    let (messages, outcomes) = all!(data;
        EnqueuedTask, JsonBody, IndexCreate, IndexUpdate, IndexDelete, WalChunk,
        DocumentsCommit, DocumentsDelete, SettingsUpdate, IndexCompact, FeaturesGet,
        FeaturesUpdate, TaskGet, Search, DocumentGet, DocumentsFetch, Stats, FieldsList,
        Similar, SettingsGet, DumpCreate, MultiSearch, FacetSearch, TaskSearch, TaskCancel,
        TaskDelete, BatchGet, BatchList, TaskIndexUids, IndexSwap, Hint,
    );
    assert!(messages <= 1, "{messages} message types accepted the same bytes");
    assert!(outcomes <= 1, "{outcomes} reply types accepted the same bytes");
});
