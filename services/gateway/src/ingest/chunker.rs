//! Packs documents (one compact JSON line each) into numbered [`WalChunk`]s of bounded size.
//!
//! A chunk is sealed once it reaches its target size, about half of NATS's max payload, so that
//! a chunk plus its envelope always fits in one message with room to spare. A single document
//! larger than the target travels alone in its own chunk, up to the hard limit.

use std::collections::VecDeque;

use bytes::Bytes;
use miroir_proto::rpc::WalChunk;

use super::ParseError;

/// Room kept in every NATS message for the chunk's envelope and headers.
const ENVELOPE_ROOM: usize = 4096;

/// Sizes of the chunks of one upload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkLimits {
    /// A chunk is sealed as soon as its NDJSON reaches this size.
    pub target_bytes: usize,
    /// The largest document accepted (it must fit in one message alone).
    pub max_document_bytes: usize,
}

impl ChunkLimits {
    /// Limits for a NATS server whose `max_payload` is given.
    pub fn for_max_payload(max_payload: usize) -> Self {
        let max_document_bytes = max_payload.saturating_sub(ENVELOPE_ROOM + 1).max(1024);
        ChunkLimits {
            target_bytes: (max_payload / 2).clamp(1024, max_document_bytes),
            max_document_bytes,
        }
    }
}

/// Accumulates documents and hands out sealed chunks in order.
pub struct ChunkPacker {
    batch_id: String,
    limits: ChunkLimits,
    buf: Vec<u8>,
    buf_documents: u32,
    ready: VecDeque<WalChunk>,
    next_seq: u32,
    documents: u64,
}

impl ChunkPacker {
    pub fn new(batch_id: impl Into<String>, limits: ChunkLimits) -> Self {
        ChunkPacker {
            batch_id: batch_id.into(),
            limits,
            buf: Vec::new(),
            buf_documents: 0,
            ready: VecDeque::new(),
            next_seq: 0,
            documents: 0,
        }
    }

    /// Add one document (a JSON object on one line, without its newline).
    pub fn push(&mut self, document: &[u8]) -> Result<(), ParseError> {
        let needed = document.len() + 1;
        if needed > self.limits.max_document_bytes {
            return Err(ParseError::DocumentTooLarge {
                size: document.len(),
                limit: self.limits.max_document_bytes - 1,
            });
        }
        if !self.buf.is_empty() && self.buf.len() + needed > self.limits.target_bytes {
            self.seal();
        }
        self.buf.extend_from_slice(document);
        self.buf.push(b'\n');
        self.buf_documents += 1;
        self.documents += 1;
        if self.buf.len() >= self.limits.target_bytes {
            self.seal();
        }
        Ok(())
    }

    fn seal(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let ndjson = Bytes::from(std::mem::take(&mut self.buf));
        self.ready.push_back(WalChunk {
            batch_id: self.batch_id.clone(),
            seq: self.next_seq,
            documents: self.buf_documents,
            ndjson,
        });
        self.next_seq += 1;
        self.buf_documents = 0;
    }

    /// The next sealed chunk, oldest first.
    pub fn pop_ready(&mut self) -> Option<WalChunk> {
        self.ready.pop_front()
    }

    /// Seal what is left; call once, after the last document.
    pub fn finish(&mut self) {
        self.seal();
    }

    /// How many chunks were sealed so far.
    pub fn chunks(&self) -> u32 {
        self.next_seq
    }

    /// How many documents were pushed so far.
    pub fn documents(&self) -> u64 {
        self.documents
    }

    pub fn batch_id(&self) -> &str {
        &self.batch_id
    }
}
