//! The streaming document parsers give the same documents (or the same Meilisearch error,
//! positions included) however the upload is cut into pieces, and pack them into WAL chunks that
//! respect the size bound without losing or reordering a document.
#![allow(clippy::unwrap_used, clippy::panic)]

use miroir_gateway::ingest::{ChunkLimits, ChunkPacker, Format, ParseError, parse_pieces};
use serde_json::{Value, json};

const MAX_DOC: usize = 1 << 20;

fn whole(format: Format, input: &[u8]) -> Result<Vec<Value>, ParseError> {
    parse_pieces(format, [input], MAX_DOC).map(|docs| {
        docs.iter()
            .map(|d| serde_json::from_slice(d).unwrap())
            .collect()
    })
}

/// Every document comes out as exactly one line of JSON.
fn check_lines(docs: &[Vec<u8>]) {
    for d in docs {
        assert!(
            !d.contains(&b'\n') && !d.contains(&b'\r'),
            "{}",
            String::from_utf8_lossy(d)
        );
    }
}

/// The result of parsing `input` cut at every single position, and cut into 1-byte pieces, is
/// the result of parsing it whole.
fn same_at_every_cut(format: Format, input: &[u8]) -> Result<Vec<Value>, ParseError> {
    let reference = whole(format, input);
    for cut in 0..=input.len() {
        let (a, b) = input.split_at(cut);
        let got = parse_pieces(format, [a, b], MAX_DOC);
        if let Ok(docs) = &got {
            check_lines(docs);
        }
        let got = got.map(|docs| {
            docs.iter()
                .map(|d| serde_json::from_slice(d).unwrap())
                .collect::<Vec<Value>>()
        });
        assert_eq!(
            got,
            reference,
            "cut at {cut} of {:?}",
            String::from_utf8_lossy(input)
        );
    }
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    let got = parse_pieces(format, bytes, MAX_DOC).map(|docs| {
        docs.iter()
            .map(|d| serde_json::from_slice(d).unwrap())
            .collect::<Vec<Value>>()
    });
    assert_eq!(got, reference, "byte by byte");
    reference
}

fn malformed(format: Format, input: &str) -> String {
    match whole(format, input.as_bytes()) {
        Err(ParseError::Malformed(m)) => m,
        other => panic!("expected a malformed payload for {input:?}, got {other:?}"),
    }
}

#[test]
fn json_array_split_anywhere_with_escapes_and_brackets_in_strings() {
    let input = r#" [
  {"id": 1, "title": "a \"quoted\" ] } [ { title", "tags": [["x", "y]"], {"z": "}"}], "esc": "\\\\", "u": "é\u00e9"},
  {"id": "two", "nested": {"deep": [1, [2, [3, {"k": "]]]"}]]]}, "empty": {}, "arr": []} ,
  {"id": 3, "back": "\\", "quote": "\"", "n": -1.5e3, "b": true, "nil": null}
] "#;
    let docs = same_at_every_cut(Format::Json, input.as_bytes()).unwrap();
    let expected: Vec<Value> = serde_json::from_str(input).unwrap();
    assert_eq!(docs, expected);
}

#[test]
fn json_single_object_and_empty_array() {
    assert_eq!(
        same_at_every_cut(Format::Json, br#" {"id": 1, "a": [1, 2]} "#).unwrap(),
        vec![json!({"id": 1, "a": [1, 2]})]
    );
    assert_eq!(
        same_at_every_cut(Format::Json, b"[ ]").unwrap(),
        Vec::<Value>::new()
    );
    // Meilisearch ignores what follows a closed array, but not what follows a single object.
    assert_eq!(
        whole(Format::Json, br#"[{"id": 1}] trailing"#)
            .unwrap()
            .len(),
        1
    );
    assert!(malformed(Format::Json, r#"{"id": 1} x"#).ends_with(
        "`Couldn't serialize document value: trailing characters at line 1 column 11`."
    ));
}

#[test]
fn ndjson_with_blank_lines_crlf_and_multiline_objects() {
    let input = "\r\n{\"id\": 1, \"s\": \"a\\nb\"}\r\n\r\n   \n{\"id\": 2,\n  \"multi\": [1,\n 2]}\n{\"id\":3}{\"id\":4}";
    let docs = same_at_every_cut(Format::Ndjson, input.as_bytes()).unwrap();
    assert_eq!(
        docs,
        vec![
            json!({"id": 1, "s": "a\nb"}),
            json!({"id": 2, "multi": [1, 2]}),
            json!({"id": 3}),
            json!({"id": 4})
        ]
    );
    assert_eq!(
        whole(Format::Ndjson, b" \n\r\n ").unwrap(),
        Vec::<Value>::new()
    );
}

#[test]
fn csv_typed_headers_quoted_newlines_and_nulls() {
    let input = "\u{feff}id,title,year:number,price:number,ok:boolean,note:string,odd:type\n\
                 1,\"Carol, the \"\"film\"\"\",2015,4.5,true,\"line one\nline two\",x\r\n\
                 \"007\",,,,,\"\",\n";
    let docs = same_at_every_cut(Format::Csv { delimiter: b',' }, input.as_bytes()).unwrap();
    assert_eq!(
        docs,
        vec![
            json!({"id": "1", "title": "Carol, the \"film\"", "year": 2015, "price": 4.5, "ok": true, "note": "line one\nline two", "odd:type": "x"}),
            json!({"id": "007", "title": null, "year": null, "price": null, "ok": null, "note": null, "odd:type": null}),
        ]
    );
    // Key order is the header's, as Meilisearch stores it.
    let raw = parse_pieces(
        Format::Csv { delimiter: b',' },
        [b"b,a\n1,2\n".as_slice()],
        MAX_DOC,
    )
    .unwrap();
    assert_eq!(
        String::from_utf8(raw[0].clone()).unwrap(),
        r#"{"b":"1","a":"2"}"#
    );
    let semicolon = whole(Format::Csv { delimiter: b';' }, b"id;n:number\nx; 3 \n").unwrap();
    assert_eq!(semicolon, vec![json!({"id": "x", "n": 3})]);
    assert_eq!(
        whole(Format::Csv { delimiter: b',' }, b"id,title\n").unwrap(),
        Vec::<Value>::new()
    );
}

#[test]
fn csv_errors_are_meilisearchs() {
    let csv = Format::Csv { delimiter: b',' };
    assert_eq!(
        malformed(csv, "#id:number,a:boolean,b:number\n0,doggo,1"),
        "The `csv` payload provided is malformed: `Error parsing boolean \"doggo\" at line 1: provided string was not `true` or `false``."
    );
    assert_eq!(
        malformed(csv, "#id:number,a:boolean,b:number\n0,true,doggo"),
        "The `csv` payload provided is malformed: `Error parsing number \"doggo\" at line 1: invalid float literal`."
    );
    assert_eq!(
        malformed(csv, "id, content\n1234, hello, world\n12, hello world"),
        "The `csv` payload provided is malformed: `CSV error: record 1 (line: 2, byte: 12): found record with 3 fields, but the previous record has 2 fields`."
    );
    // The same error wherever the upload is cut.
    let input = b"id,n:number\n1,2\n2,x\n";
    let reference = whole(csv, input);
    for cut in 0..=input.len() {
        let (a, b) = input.split_at(cut);
        assert_eq!(
            parse_pieces(csv, [a, b], MAX_DOC).map(|d| d.len()),
            reference.clone().map(|d| d.len())
        );
    }
}

#[test]
fn malformed_json_reports_meilisearch_messages_and_positions() {
    // The recorded exchange with a real Meilisearch 1.50.
    let recorded = miroir_testkit::load_recordings("03-documents.json").unwrap();
    let exchange = recorded
        .iter()
        .find(|e| e.name == "add documents malformed JSON")
        .unwrap();
    let body = exchange.request.body.as_str().unwrap();
    assert_eq!(
        Value::String(malformed(Format::Json, body)),
        exchange.response.body["message"]
    );
    assert_eq!(
        malformed(Format::Json, r#"[{"id": 1}, {id: 2}]"#),
        "The `json` payload provided is malformed. `Couldn't serialize document value: key must be a string at line 1 column 14`."
    );
    assert_eq!(
        malformed(Format::Ndjson, "{\"id\": 1}\n{id: 2}"),
        "The `ndjson` payload provided is malformed. `Couldn't serialize document value: key must be a string at line 2 column 2`."
    );
    let neither = "The `json` payload provided is malformed. `Couldn't serialize document value: data are neither an object nor a list of objects`.";
    assert_eq!(
        malformed(Format::Json, &format!("\"{}\"", "0123456789".repeat(10))),
        neither
    );
    assert_eq!(malformed(Format::Json, "[1, 2]"), neither);
    // Errors at the very end of the payload, whatever the cuts.
    for (input, detail) in [
        (
            "[{\"id\": 1},\n{\"id\": 2}",
            "EOF while parsing a list at line 2 column 9",
        ),
        (
            "[{\"id\": 1},",
            "EOF while parsing a value at line 1 column 11",
        ),
        ("[{\"id\": 1}, ]", "trailing comma at line 1 column 13"),
        (
            "[{\"id\": 1} {\"id\": 2}]",
            "expected `,` or `]` at line 1 column 12",
        ),
        (
            "[{\"id\": \"unterminated}]",
            "EOF while parsing a string at line 1 column 23",
        ),
        ("  \n ", "EOF while parsing a value at line 2 column 1"),
    ] {
        let expected = format!(
            "The `json` payload provided is malformed. `Couldn't serialize document value: {detail}`."
        );
        assert_eq!(malformed(Format::Json, input), expected, "{input:?}");
        assert_eq!(
            same_at_every_cut(Format::Json, input.as_bytes()),
            Err(ParseError::Malformed(expected))
        );
    }
    // serde_json's own verdict on the whole body agrees on these positions.
    for input in [
        "[{\"id\": \"unterminated}]",
        "[{\"id\": 1},",
        "[{\"id\": 1},\n{\"id\": 2}",
        "[{\"id\": 1} {\"id\": 2}]",
        "[{\"a\": [1}]",
    ] {
        let serde = serde_json::from_str::<Vec<Value>>(input)
            .unwrap_err()
            .to_string();
        assert!(
            malformed(Format::Json, input).contains(&serde),
            "{input:?}: serde says {serde}"
        );
    }
}

#[test]
fn a_document_too_large_is_refused_without_holding_more() {
    let big = format!("[{{\"id\": 1, \"s\": \"{}\"}}]", "x".repeat(5000));
    let e = parse_pieces(Format::Json, [big.as_bytes()], 1000).unwrap_err();
    assert!(
        matches!(e, ParseError::DocumentTooLarge { limit: 1000, .. }),
        "{e:?}"
    );
}

#[test]
fn a_thousand_documents_pack_into_bounded_chunks_in_order() {
    let docs: Vec<Value> = (0..1000)
        .map(|i| json!({"id": i, "title": format!("doc {i}"), "pad": "p".repeat(i % 97)}))
        .collect();
    let input = serde_json::to_vec(&docs).unwrap();
    let limits = ChunkLimits {
        target_bytes: 4096,
        max_document_bytes: 8192,
    };
    let mut packer = ChunkPacker::new("batch1", limits);
    let parsed = parse_pieces(Format::Json, input.chunks(777), MAX_DOC).unwrap();
    for doc in &parsed {
        packer.push(doc).unwrap();
    }
    packer.finish();
    let mut chunks = Vec::new();
    while let Some(c) = packer.pop_ready() {
        chunks.push(c);
    }
    assert!(chunks.len() > 10, "{} chunks", chunks.len());
    let mut seen = Vec::new();
    for (i, chunk) in chunks.iter().enumerate() {
        assert_eq!(chunk.seq, i as u32);
        assert_eq!(chunk.batch_id, "batch1");
        assert!(
            chunk.ndjson.len() <= limits.target_bytes,
            "chunk {i}: {} bytes",
            chunk.ndjson.len()
        );
        let lines: Vec<Value> = chunk
            .ndjson
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        assert_eq!(lines.len(), chunk.documents as usize);
        seen.extend(lines);
    }
    assert_eq!(packer.documents(), 1000);
    assert_eq!(packer.chunks() as usize, chunks.len());
    assert_eq!(seen, docs);
}

#[test]
fn the_npm_corpus_parses_the_same_as_ndjson_json_and_in_any_pieces() {
    let text = std::fs::read(miroir_testkit::npm_corpus_path()).unwrap();
    let expected: Vec<Value> = text
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    let ndjson = parse_pieces(Format::Ndjson, text.chunks(4093), MAX_DOC).unwrap();
    let array = serde_json::to_vec_pretty(&expected).unwrap();
    let json = parse_pieces(Format::Json, array.chunks(65_521), MAX_DOC).unwrap();
    check_lines(&json);
    for parsed in [ndjson, json] {
        let parsed: Vec<Value> = parsed
            .iter()
            .map(|d| serde_json::from_slice(d).unwrap())
            .collect();
        assert_eq!(parsed, expected);
    }
}
