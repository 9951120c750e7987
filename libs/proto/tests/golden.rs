//! Invariant: the bytes of every message on the wire are pinned, so that a dependency bump or a
//! refactor can never silently change what another version of a service reads.
#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use miroir_proto::rpc::*;
use miroir_proto::subjects::{self, Service};
use miroir_proto::{
    MeiliError, Message, Outcome, ProtoError, decode, decode_outcome, encode, encode_outcome,
};

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn golden<T: Message + PartialEq + std::fmt::Debug>(msg: T, pinned: &str) {
    let bytes = encode(&msg).unwrap();
    assert_eq!(hex(&bytes), pinned, "encoding of {} changed", T::KIND);
    assert_eq!(decode::<T>(&unhex(pinned)).unwrap(), msg);
}

#[test]
fn index_create_bytes_are_pinned() {
    golden(
        IndexCreate {
            uid: "books".into(),
            primary_key: Some("id".into()),
        },
        "83a17601a46b696e64b3726f757465722e696e6465782e637265617465a4626f647982a3756964a5626f6f6b73ab7072696d6172795f6b6579a26964",
    );
}

#[test]
fn documents_commit_bytes_are_pinned() {
    golden(
        DocumentsCommit {
            index_uid: "npm".into(),
            batch_id: "b1".into(),
            chunks: 3,
            documents: 10_000,
            primary_key: None,
            method: WriteMethod::Replace,
            ids_checked: None,
            // Optional fields left out of the encoding when unset: the bytes stay those of v1.
            custom_metadata: None,
            skip_creation: false,
        },
        "83a17601a46b696e64b2726f757465722e646f63732e636f6d6d6974a4626f647986a9696e6465785f756964a36e706da862617463685f6964a26231a66368756e6b7303a9646f63756d656e7473cd2710ab7072696d6172795f6b6579c0a66d6574686f64a75265706c616365",
    );
}

#[test]
fn search_bytes_are_pinned() {
    golden(
        Search {
            index_uid: "npm".into(),
            body: Bytes::from_static(br#"{"q":"react"}"#),
            deadline_ms: 5000,
        },
        "83a17601a46b696e64ad6d65726765722e736561726368a4626f647983a9696e6465785f756964a36e706da4626f6479c40d7b2271223a227265616374227dab646561646c696e655f6d73cd1388",
    );
}

#[test]
fn wal_chunk_bytes_are_pinned() {
    golden(
        WalChunk {
            batch_id: "b1".into(),
            seq: 0,
            documents: 1,
            ndjson: Bytes::from_static(b"{\"id\":1}\n"),
        },
        "83a17601a46b696e64a977616c2e6368756e6ba4626f647984a862617463685f6964a26231a373657100a9646f63756d656e747301a66e646a736f6ec4097b226964223a317d0a",
    );
}

#[test]
fn delete_selector_bytes_are_pinned() {
    golden(
        DocumentsDelete {
            index_uid: "movies".into(),
            selector: DeleteSelector::Ids(vec!["4".into(), "three".into()]),
            custom_metadata: None,
        },
        "83a17601a46b696e64b2726f757465722e646f63732e64656c657465a4626f647982a9696e6465785f756964a66d6f76696573a873656c6563746f7281a349647392a134a57468726565",
    );
}

#[test]
fn error_outcome_bytes_are_pinned() {
    let outcome: Outcome<JsonBody> = Outcome::Err(MeiliError::index_not_found("nope"));
    let bytes = encode_outcome(&outcome).unwrap();
    assert_eq!(
        hex(&bytes),
        "83a17601a46b696e64a96a736f6e2d626f6479a4626f647981a345727284a6737461747573cd0194a4636f6465af696e6465785f6e6f745f666f756e64a474797065af696e76616c69645f72657175657374a76d657373616765b7496e64657820606e6f706560206e6f7420666f756e642e"
    );
    assert_eq!(decode_outcome::<JsonBody>(&bytes).unwrap(), outcome);
}

#[test]
fn enqueued_outcome_round_trips() {
    let outcome: Outcome<EnqueuedTask> = Outcome::Ok(EnqueuedTask {
        task_uid: 7,
        index_uid: Some("movies".into()),
        status: "enqueued".into(),
        task_type: "documentAdditionOrUpdate".into(),
        enqueued_at: "2026-11-21T05:01:17.465778993Z".into(),
        custom_metadata: Some("import-42".into()),
    });
    let bytes = encode_outcome(&outcome).unwrap();
    assert_eq!(decode_outcome::<EnqueuedTask>(&bytes).unwrap(), outcome);
}

#[test]
fn unknown_version_is_a_typed_error() {
    // The IndexCreate message above, with its version byte changed from 1 to 2.
    let mut bytes = encode(&IndexCreate {
        uid: "books".into(),
        primary_key: None,
    })
    .unwrap();
    assert_eq!(bytes[3], 0x01);
    bytes[3] = 0x02;
    assert_eq!(
        decode::<IndexCreate>(&bytes),
        Err(ProtoError::UnsupportedVersion {
            kind: "router.index.create".into(),
            got: 2,
            supported: 1
        })
    );
}

#[test]
fn wrong_kind_and_garbage_are_typed_errors() {
    let bytes = encode(&IndexDelete {
        uid: "books".into(),
    })
    .unwrap();
    assert!(matches!(
        decode::<IndexCreate>(&bytes),
        Err(ProtoError::WrongKind { .. })
    ));
    assert!(matches!(
        decode::<IndexCreate>(b"\xc1garbage"),
        Err(ProtoError::Decode(_))
    ));
    assert!(matches!(
        decode::<IndexCreate>(b""),
        Err(ProtoError::Decode(_))
    ));
}

#[test]
fn subjects_are_built_from_constants() {
    assert_eq!(IndexCreate::subject(), "miroir.v1.router.index.create");
    assert_eq!(DocumentsCommit::subject(), "miroir.v1.router.docs.commit");
    assert_eq!(Search::subject(), "miroir.v1.merger.search");
    assert_eq!(Service::Merger.group(), "miroir.v1.merger");
    assert_eq!(Service::Merger.queue_group(), "miroir-merger");
    assert_eq!(subjects::node_key("n1"), "nodes.n1");
    assert_eq!(subjects::index_key("books"), "indexes.books");
    assert_eq!(subjects::task_key(42), "task.42");
    assert_eq!(subjects::wal_batch("abc"), "miroir.v1.wal.abc");
    assert_eq!(subjects::wal_subjects(), "miroir.v1.wal.>");
}

#[test]
fn handoff_hint_bytes_are_pinned() {
    use miroir_proto::handoff::{Hint, HintBody};
    golden(
        Hint {
            task_uid: Some(7),
            index_uid: "npm".into(),
            node: "n2".into(),
            shard: 1,
            replica: 1,
            method: "POST".into(),
            path: "/indexes/npm__s1/documents?primaryKey=id".into(),
            body: HintBody::WalShard {
                batch_id: "b1".into(),
                chunks: 2,
                shard_count: 4,
                primary_key: "id".into(),
            },
            deferred_at: "2026-12-04T21:00:00Z".into(),
        },
        "83a17601a46b696e64ac68616e646f66662e68696e74a4626f647989a87461736b5f75696407a9696e6465785f756964a36e706da46e6f6465a26e32a5736861726401a77265706c69636101a66d6574686f64a4504f5354a470617468d9282f696e64657865732f6e706d5f5f73312f646f63756d656e74733f7072696d6172794b65793d6964a4626f647981a857616c536861726484a862617463685f6964a26231a66368756e6b7302ab73686172645f636f756e7404ab7072696d6172795f6b6579a26964ab64656665727265645f6174b4323032362d31322d30345432313a30303a30305a",
    );
    assert_eq!(
        subjects::handoff_subject("n2", "npm__s1"),
        "miroir.v1.handoff.n2.npm__s1"
    );
    assert_eq!(
        subjects::handoff_node_subjects("n2"),
        "miroir.v1.handoff.n2.*"
    );
}
