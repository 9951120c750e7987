//! What every fuzz target checks beyond "no panic": the shape of the errors a client gets, and
//! a cheap way to cut an input into the pieces a network would deliver.

use miroir_proto::{Code, MeiliError};

/// A refusal a client may see: a code from the table, with the status the table gives it (or
/// one of the few overrides Meilisearch makes), a 4xx, and a message that is not empty.
pub fn assert_client_error(e: &MeiliError) {
    let Code::Known(code) = &e.code else {
        panic!("an error with a code outside the table: {e:?}");
    };
    assert!(
        (400..500).contains(&e.status),
        "a client error with status {}: {e:?}",
        e.status
    );
    assert_eq!(
        e.error_type,
        code.error_type(),
        "an error whose type is not its code's: {e:?}"
    );
    assert!(!e.message.is_empty(), "an error without a message: {e:?}");
    let body = e.to_json();
    for field in ["message", "code", "type", "link"] {
        assert!(body.get(field).is_some(), "no `{field}` in {body}");
    }
}

/// Like [`assert_client_error`], and the status is exactly the code's.
pub fn assert_table_error(e: &MeiliError) {
    assert_client_error(e);
    if let Code::Known(code) = &e.code {
        assert_eq!(e.status, code.status(), "status is not the code's: {e:?}");
    }
}

/// `data` cut into pieces whose lengths come from `seed` (1 to 64 bytes, some empty), the way
/// a network cuts an upload.
pub fn pieces(data: &[u8], seed: u8) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut state = u32::from(seed).wrapping_mul(2_654_435_761).wrapping_add(1);
    let mut rest = data;
    while !rest.is_empty() {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let len = ((state >> 16) % 65) as usize;
        if len == 0 {
            out.push(&rest[..0]);
            continue;
        }
        let (head, tail) = rest.split_at(len.min(rest.len()));
        out.push(head);
        rest = tail;
    }
    out
}

/// `serde_json::to_value` of both sides equal (maps compare without order): a value decoded,
/// encoded and decoded again must be the same value.
pub fn assert_same_json<T: serde::Serialize>(a: &T, b: &T) {
    if let (Ok(x), Ok(y)) = (serde_json::to_value(a), serde_json::to_value(b)) {
        assert_eq!(x, y, "a value changed through an encode/decode round trip");
    }
}
