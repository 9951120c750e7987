//! Document payloads: JSON array (or one object), NDJSON and CSV with any delimiter and quotes,
//! pushed into the gateway's streaming parser in the pieces the fuzzer chooses, as a network
//! would cut an upload.
//!
//! Checks: the outcome does not depend on where the pieces were cut (same documents, or the
//! same error); every document is one line of compact JSON, an object; the accepted documents,
//! written back as NDJSON and as a JSON array, parse again to the same documents; a refusal is
//! `malformed_payload` (400) or `payload_too_large` (413).
#![no_main]

use libfuzzer_sys::fuzz_target;
use miroir_fuzz::{assert_table_error, pieces};
use miroir_gateway::fuzz_api::{Format, parse_pieces};
use serde_json::{Map, Value};

fuzz_target!(|data: &[u8]| {
    let [kind, delimiter, seed, size, rest @ ..] = data else {
        return;
    };
    let format = match kind % 4 {
        0 => Format::Json,
        1 => Format::Ndjson,
        2 => Format::Csv { delimiter: b',' },
        _ => Format::Csv {
            delimiter: *delimiter,
        },
    };
    // Small limits reach the "document too large" paths; large ones the rest.
    let max = if size % 2 == 0 { usize::from(*size) + 1 } else { 1 << 20 };

    let whole = parse_pieces(format, [rest], max);
    let cut = parse_pieces(format, pieces(rest, *seed), max);
    assert_eq!(whole, cut, "the outcome depends on where the upload was cut");

    match whole {
        Err(e) => assert_table_error(&e.to_meili()),
        Ok(docs) => {
            let mut parsed = Vec::with_capacity(docs.len());
            for doc in &docs {
                assert!(!doc.contains(&b'\n'), "a document spans lines");
                let object: Map<String, Value> = match serde_json::from_slice(doc) {
                    Ok(o) => o,
                    Err(e) => panic!("a document that is not a JSON object ({e}): {doc:?}"),
                };
                parsed.push(object);
            }
            let mut ndjson = Vec::new();
            for doc in &docs {
                ndjson.extend_from_slice(doc);
                ndjson.push(b'\n');
            }
            let array = [b"[".as_slice(), &docs.join(&b","[..]), b"]"].concat();
            for (format, bytes) in [(Format::Ndjson, &ndjson), (Format::Json, &array)] {
                match parse_pieces(format, pieces(bytes, *seed), usize::MAX / 2) {
                    Ok(again) => assert_eq!(again.len(), docs.len(), "{format:?}"),
                    Err(e) => panic!("documents written back as {format:?} refused: {e}"),
                }
            }
        }
    }
});
