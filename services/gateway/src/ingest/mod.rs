//! Streaming parsers of document uploads, and the packing of their documents into WAL chunks.
//!
//! An upload is never held whole: bytes are pushed in as they arrive ([`DocumentParser::feed`]),
//! every complete document comes out at once as one line of compact JSON, and
//! [`ChunkPacker`] packs those lines into [`WalChunk`](miroir_proto::rpc::WalChunk)s of bounded
//! size. Memory is one document being assembled plus a chunk or two, whatever the upload size.
//!
//! The parsers accept and refuse what Meilisearch 1.50 does, with its messages: a JSON array of
//! objects or a single object (positions of errors are those of the whole payload, as serde_json
//! reports them on the whole body), NDJSON (whitespace-separated objects, so blank lines and CRLF
//! are fine), and CSV with Meilisearch's typed headers (`name:number`, `name:boolean`,
//! `name:string`; untyped fields stay strings).

mod chunker;
mod csv;
mod ids;
mod json;

pub use chunker::{ChunkLimits, ChunkPacker};
pub use ids::IdCheck;

use miroir_proto::{ErrorCode, MeiliError};

/// The payload formats Meilisearch accepts for documents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Json,
    Ndjson,
    Csv { delimiter: u8 },
}

impl Format {
    /// The name Meilisearch uses in its messages (`json`, `ndjson`, `csv`).
    pub fn name(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Ndjson => "ndjson",
            Format::Csv { .. } => "csv",
        }
    }
}

/// Why an upload was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Meilisearch's `malformed_payload`; the string is the complete message a client sees.
    #[error("{0}")]
    Malformed(String),
    /// One document is larger than a WAL chunk can carry.
    #[error(
        "a document of more than {limit} bytes cannot be stored by the cluster (found one of at least {size} bytes)"
    )]
    DocumentTooLarge { size: usize, limit: usize },
}

impl ParseError {
    pub fn to_meili(&self) -> MeiliError {
        match self {
            ParseError::Malformed(message) => {
                MeiliError::new(ErrorCode::MalformedPayload, message.clone())
            }
            ParseError::DocumentTooLarge { size, limit } => MeiliError::new(
                ErrorCode::PayloadTooLarge,
                format!(
                    "A document is too large: found one of at least {size} bytes, and the largest document the cluster can store is {limit} bytes."
                ),
            ),
        }
    }
}

/// Where each complete document goes: one line of compact JSON, without its newline.
pub type Sink<'a> = dyn FnMut(&[u8]) -> Result<(), ParseError> + 'a;

/// A push parser for one upload.
pub struct DocumentParser {
    inner: Inner,
}

enum Inner {
    Json(json::JsonSplitter),
    Csv(Box<csv::CsvParser>),
}

impl DocumentParser {
    /// `max_document_bytes` bounds the memory one document may take while it is assembled.
    pub fn new(format: Format, max_document_bytes: usize) -> Self {
        let inner = match format {
            Format::Json => Inner::Json(json::JsonSplitter::new(
                json::Mode::Array,
                max_document_bytes,
            )),
            Format::Ndjson => Inner::Json(json::JsonSplitter::new(
                json::Mode::Stream,
                max_document_bytes,
            )),
            Format::Csv { delimiter } => {
                Inner::Csv(Box::new(csv::CsvParser::new(delimiter, max_document_bytes)))
            }
        };
        DocumentParser { inner }
    }

    /// Push the next bytes of the upload; complete documents go to `sink` in order.
    pub fn feed(&mut self, input: &[u8], sink: &mut Sink<'_>) -> Result<(), ParseError> {
        match &mut self.inner {
            Inner::Json(p) => p.feed(input, sink),
            Inner::Csv(p) => p.feed(input, sink),
        }
    }

    /// The upload ended: flush the last document or report what was left incomplete.
    pub fn finish(&mut self, sink: &mut Sink<'_>) -> Result<(), ParseError> {
        match &mut self.inner {
            Inner::Json(p) => p.finish(sink),
            Inner::Csv(p) => p.finish(sink),
        }
    }
}

/// Parse a whole upload given in pieces (as a network would cut it) into its documents.
/// For tests and tools; services stream with [`DocumentParser`] instead.
pub fn parse_pieces<'a>(
    format: Format,
    pieces: impl IntoIterator<Item = &'a [u8]>,
    max_document_bytes: usize,
) -> Result<Vec<Vec<u8>>, ParseError> {
    let mut parser = DocumentParser::new(format, max_document_bytes);
    let mut docs: Vec<Vec<u8>> = Vec::new();
    let mut sink = |doc: &[u8]| {
        docs.push(doc.to_vec());
        Ok(())
    };
    for piece in pieces {
        parser.feed(piece, &mut sink)?;
    }
    parser.finish(&mut sink)?;
    Ok(docs)
}
