//! Inputs the fuzz targets in `fuzz/` found mishandled, kept here so that the bug stays fixed
//! in the ordinary suite (see docs/testing.md, "Fuzzing"). Each test names its target.
#![allow(clippy::unwrap_used, clippy::panic)]

use miroir_gateway::ingest::{Format, parse_pieces};
use miroir_proto::{Code, ErrorCode};

/// `documents`: a string with bytes that are not UTF-8 passed the streaming JSON splitter
/// (serde_json does not check ignored strings) and reached the WAL, where Meilisearch refuses
/// the whole payload as malformed.
#[test]
fn documents_with_invalid_utf8_are_malformed_payloads() {
    // The fuzzer's input, shortened: an npm document whose `version` got 0xd6 bytes.
    let cases: [(Format, &[u8]); 5] = [
        (
            Format::Json,
            b"[{\"id\":0,\"version\":\"2\xd6\xd6\xd6.0.0\"}]",
        ),
        (Format::Json, b"{\"id\":0,\"v\xff\":1}"),
        (
            Format::Ndjson,
            b"{\"id\":0}\n{\"id\":1,\"name\":\"\xc3\x28\"}\n",
        ),
        (
            Format::Json,
            b"[{\"id\":0},\n {\"id\":1,\"name\":\"\xed\xa0\x80\"}]",
        ),
        (Format::Ndjson, b"{\"id\":0,\"name\":\"\xf0\x9f\x98\"}"),
    ];
    for (format, input) in cases {
        for piece in [1, 3, input.len()] {
            let got = parse_pieces(format, input.chunks(piece), 1 << 20);
            let Err(e) = got else {
                panic!("{format:?} {input:?} accepted: {got:?}");
            };
            let e = e.to_meili();
            assert_eq!(e.code, Code::Known(ErrorCode::MalformedPayload), "{e:?}");
            assert_eq!(e.status, 400);
            assert!(
                e.message.contains("invalid unicode code point"),
                "{}",
                e.message
            );
        }
    }
    // Valid multi-byte UTF-8 is still fine, whatever the cuts.
    let ok = "[{\"id\":0,\"name\":\"caf\u{e9} \u{1f600}\"}]".as_bytes();
    for piece in [1, 2, ok.len()] {
        assert_eq!(
            parse_pieces(Format::Json, ok.chunks(piece), 1 << 20)
                .unwrap()
                .len(),
            1
        );
    }
}
