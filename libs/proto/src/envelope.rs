//! The versioned envelope every message travels in.
//!
//! MessagePack has no schema, so each message names its kind and the version of its shape. A reader
//! first decodes only the header (`v`, `kind`) and refuses a version or kind it does not know with a
//! typed error, before it tries to read the body: a newer sender can never be misread as an older shape.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A message type that can travel on the bus.
pub trait Message: Serialize + DeserializeOwned {
    /// Stable name of the message type, e.g. `"router.index.create"`.
    const KIND: &'static str;
    /// Version of this message's shape. Bump it on any incompatible change.
    const VERSION: u16;
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProtoError {
    #[error(
        "unsupported version {got} of message `{kind}` (this build speaks version {supported})"
    )]
    UnsupportedVersion {
        kind: String,
        got: u16,
        supported: u16,
    },
    #[error("expected message `{expected}`, got `{got}`")]
    WrongKind { expected: &'static str, got: String },
    #[error("cannot decode message: {0}")]
    Decode(String),
    #[error("cannot encode message: {0}")]
    Encode(String),
}

#[derive(Serialize)]
struct EnvelopeOut<'a, T> {
    v: u16,
    kind: &'a str,
    body: &'a T,
}

#[derive(Deserialize)]
struct Header {
    v: u16,
    kind: String,
}

#[derive(Deserialize)]
struct EnvelopeIn<T> {
    body: T,
}

/// Encode a message in its envelope (MessagePack, named fields).
pub fn encode<T: Message>(msg: &T) -> Result<Vec<u8>, ProtoError> {
    rmp_serde::to_vec_named(&EnvelopeOut {
        v: T::VERSION,
        kind: T::KIND,
        body: msg,
    })
    .map_err(|e| ProtoError::Encode(e.to_string()))
}

/// Decode a message, refusing an unknown version or a different kind with a typed error.
pub fn decode<T: Message>(bytes: &[u8]) -> Result<T, ProtoError> {
    let header: Header =
        rmp_serde::from_slice(bytes).map_err(|e| ProtoError::Decode(e.to_string()))?;
    if header.kind != T::KIND {
        return Err(ProtoError::WrongKind {
            expected: T::KIND,
            got: header.kind,
        });
    }
    if header.v != T::VERSION {
        return Err(ProtoError::UnsupportedVersion {
            kind: header.kind,
            got: header.v,
            supported: T::VERSION,
        });
    }
    let env: EnvelopeIn<T> =
        rmp_serde::from_slice(bytes).map_err(|e| ProtoError::Decode(e.to_string()))?;
    Ok(env.body)
}
