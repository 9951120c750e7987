//! `POST`/`PUT /indexes/{uid}/documents`: the body is parsed while it streams in, packed into
//! WAL chunks that are spooled in JetStream one by one (each acknowledged before more of the
//! body is read), and only once the whole body parsed does the router get the batch to commit.
//! A malformed payload purges what was spooled: nothing reaches a node.
//!
//! Every wait on the cluster is bounded, so that an upload always gets an answer, also while NATS
//! is away or reconnecting: each step of the WAL (a chunk published, acknowledged, a batch
//! purged) within `write_timeout_ms`, the router's commit within `write_timeout_ms` (and sooner
//! when the connection was lost meanwhile, see `miroir_cluster::bus::LOST_AFTER`), the index
//! record within `read_timeout_ms`. The body itself is bounded by the body timeouts. Each stage
//! logs at debug level (target `miroir_gateway::routes::upload`), so that a slow upload says
//! where it waited.

use std::future::Future;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::HeaderMap;
use axum::response::Response;
use futures::StreamExt;
use miroir_cluster::wal;
use miroir_proto::rpc::{DocumentsCommit, WriteMethod};
use miroir_proto::{ErrorCode, MeiliError};

use crate::body::{check_content_length, content_type, parse_mime, read_error};
use crate::errors::enqueued;
use crate::ingest::{ChunkLimits, ChunkPacker, DocumentParser, Format, IdCheck, ParseError};
use crate::params::{QueryParams, check_index_uid, invalid_param};
use crate::state::AppState;

const ACCEPTED: &[&str] = &["application/json", "application/x-ndjson", "text/csv"];

/// Bytes handed to the parser at a time, so that one large network frame never yields more
/// than a couple of chunks before they are spooled.
const FEED_SLICE: usize = 64 * 1024;

struct UploadParams {
    primary_key: Option<String>,
    csv_delimiter: Option<u8>,
    custom_metadata: Option<String>,
    skip_creation: bool,
}

fn upload_params(raw_query: Option<&str>) -> Result<UploadParams, MeiliError> {
    const CSV: ErrorCode = ErrorCode::InvalidDocumentCsvDelimiter;
    let params = QueryParams::parse(raw_query);
    let mut out = UploadParams {
        primary_key: None,
        csv_delimiter: None,
        custom_metadata: None,
        skip_creation: false,
    };
    for (name, value) in params.entries(&[
        ("primaryKey", ErrorCode::InvalidIndexPrimaryKey),
        ("csvDelimiter", CSV),
        ("customMetadata", ErrorCode::InvalidIndexCustomMetadata),
        ("skipCreation", ErrorCode::InvalidSkipCreation),
    ])? {
        match name {
            "primaryKey" => {
                out.primary_key = Some(value.to_string());
                continue;
            }
            "customMetadata" => {
                out.custom_metadata = Some(value.to_string());
                continue;
            }
            "skipCreation" => {
                out.skip_creation = skip_creation(value)?;
                continue;
            }
            _ => {}
        }
        let mut chars = value.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) if c.is_ascii() => out.csv_delimiter = Some(c as u8),
            (Some(c), None) => {
                return Err(invalid_param(
                    CSV,
                    name,
                    format!("csv delimiter must be an ascii character. Found: `{c}`"),
                ));
            }
            _ => {
                return Err(invalid_param(
                    CSV,
                    name,
                    format!(
                        "expected a string of one character, but found the following string of {} characters: `{value}`",
                        value.chars().count()
                    ),
                ));
            }
        }
    }
    Ok(out)
}

/// `?skipCreation=`: `true` or `false` in any case, as Meilisearch reads it.
fn skip_creation(value: &str) -> Result<bool, MeiliError> {
    if value.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if value.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(invalid_param(
            ErrorCode::InvalidSkipCreation,
            "skipCreation",
            format!("skipCreation must be either `true` or `false`. Found: `{value}`"),
        ))
    }
}

fn csv_delimiter_refused(content_type: &str) -> MeiliError {
    MeiliError::new(
        ErrorCode::InvalidContentType,
        format!(
            "The Content-Type `{content_type}` does not support the use of a csv delimiter. The csv delimiter can only be used with the Content-Type `text/csv`."
        ),
    )
}

/// The payload format from `Content-Type` and `?csvDelimiter=`, as Meilisearch decides it.
fn payload_format(headers: &HeaderMap, csv_delimiter: Option<u8>) -> Result<Format, MeiliError> {
    let Some(raw) = content_type(headers) else {
        return Err(MeiliError::missing_content_type(ACCEPTED));
    };
    let Some(mime) = parse_mime(&raw) else {
        return Err(MeiliError::invalid_content_type(&raw, ACCEPTED));
    };
    match (mime.type_.as_str(), mime.subtype.as_str(), csv_delimiter) {
        ("application", "json", None) => Ok(Format::Json),
        ("application", "x-ndjson", None) => Ok(Format::Ndjson),
        ("text", "csv", d) => Ok(Format::Csv {
            delimiter: d.unwrap_or(b','),
        }),
        ("application", "json", Some(_)) => Err(csv_delimiter_refused("application/json")),
        ("application", "x-ndjson", Some(_)) => Err(csv_delimiter_refused("application/x-ndjson")),
        (t, s, _) => Err(MeiliError::invalid_content_type(
            &format!("{t}/{s}"),
            ACCEPTED,
        )),
    }
}

/// A batch id that is a valid NATS subject token.
fn new_batch_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// What a successful spool produced.
struct Spooled {
    chunks: u32,
    documents: u64,
    /// The primary key every document was found to carry a valid id for, if checked.
    ids_checked: Option<String>,
}

/// WAL chunks published and not yet acknowledged, at most: the upload's next chunk is parsed
/// and packed while the WAL stores the previous ones, and the gateway holds no more than this
/// many chunks (about half NATS's max payload each) beyond the one being packed.
const WAL_WINDOW: usize = 4;

/// `step`, or a 504 once `wait` has passed: JetStream gone quiet becomes an answer the client
/// can retry on, not a request that hangs. (async-nats bounds a publish and its acknowledgement
/// by the JetStream context's own timeout too; this bound does not depend on it.)
async fn within<T>(
    wait: Duration,
    what: &str,
    step: impl Future<Output = Result<T, MeiliError>>,
) -> Result<T, MeiliError> {
    tokio::time::timeout(wait, step).await.unwrap_or_else(|_| {
        tracing::debug!(?wait, "the WAL did not {what} in time");
        Err(MeiliError::new(
            ErrorCode::ServiceTimeout,
            format!(
                "The WAL did not {what} within {} ms. Retry later.",
                wait.as_millis()
            ),
        ))
    })
}

/// Publishes an upload's chunks to the WAL with up to [`WAL_WINDOW`] acknowledgements pending.
struct WalSpooler<'a> {
    js: &'a async_nats::jetstream::Context,
    pending: std::collections::VecDeque<async_nats::jetstream::context::PublishAckFuture>,
    /// The bound of each publish and of each acknowledgement.
    wait: Duration,
}

impl WalSpooler<'_> {
    async fn send(&mut self, chunk: &miroir_proto::rpc::WalChunk) -> Result<(), MeiliError> {
        while self.pending.len() >= WAL_WINDOW {
            if let Some(ack) = self.pending.pop_front() {
                self.confirm(ack).await?;
            }
        }
        let sent = within(
            self.wait,
            "take a document chunk",
            wal::send_chunk(self.js, chunk),
        )
        .await?;
        self.pending.push_back(sent);
        Ok(())
    }

    async fn confirm(
        &self,
        ack: async_nats::jetstream::context::PublishAckFuture,
    ) -> Result<(), MeiliError> {
        within(
            self.wait,
            "acknowledge a document chunk",
            wal::confirm_chunk(ack),
        )
        .await
    }

    /// Every chunk sent is acknowledged.
    async fn confirm_all(&mut self) -> Result<(), MeiliError> {
        while let Some(ack) = self.pending.pop_front() {
            self.confirm(ack).await?;
        }
        Ok(())
    }

    /// Wait until every chunk sent is stored or refused (or its wait is over), whatever the
    /// outcome: a purge must come after them, or a chunk still on its way would outlive it.
    async fn settle(&mut self) {
        while let Some(ack) = self.pending.pop_front() {
            let _ = self.confirm(ack).await;
        }
    }
}

/// Purge a batch, waiting at most `wait`: the client's answer does not wait longer for it.
async fn purge_within(state: &AppState, batch_id: &str, wait: Duration) {
    if tokio::time::timeout(wait, wal::purge_batch(state.wal(), batch_id))
        .await
        .is_err()
    {
        tracing::warn!(
            batch = batch_id,
            ?wait,
            "the purge of a WAL batch did not finish in time (the WAL's max age removes it)"
        );
    }
}

/// One parsed document: its id checked (when the primary key is known) and packed.
fn take(
    doc: &[u8],
    id_check: &mut Option<IdCheck>,
    packer: &mut ChunkPacker,
) -> Result<(), ParseError> {
    if let Some(check) = id_check.as_mut() {
        check.check(doc);
    }
    packer.push(doc)
}

async fn spool(
    state: &AppState,
    format: Format,
    body: Body,
    packer: &mut ChunkPacker,
    mut id_check: Option<IdCheck>,
    wal: &mut WalSpooler<'_>,
) -> Result<Spooled, MeiliError> {
    let limit = state.config().max_payload_bytes;
    let max_document_bytes =
        ChunkLimits::for_max_payload(state.nats().max_payload()).max_document_bytes;
    let mut parser = DocumentParser::new(format, max_document_bytes);
    let mut stream = body.into_data_stream();
    let mut received: u64 = 0;
    while let Some(frame) = stream.next().await {
        let frame = frame.map_err(read_error)?;
        received += frame.len() as u64;
        if received > limit {
            return Err(MeiliError::payload_too_large(limit));
        }
        for slice in frame.chunks(FEED_SLICE) {
            parser
                .feed(slice, &mut |doc| take(doc, &mut id_check, packer))
                .map_err(|e| e.to_meili())?;
            while let Some(chunk) = packer.pop_ready() {
                wal.send(&chunk).await?;
            }
        }
    }
    if received == 0 {
        return Err(MeiliError::new(
            ErrorCode::MissingPayload,
            format!("A {} payload is missing.", format.name()),
        ));
    }
    parser
        .finish(&mut |doc| take(doc, &mut id_check, packer))
        .map_err(|e| e.to_meili())?;
    packer.finish();
    while let Some(chunk) = packer.pop_ready() {
        wal.send(&chunk).await?;
    }
    wal.confirm_all().await?;
    metrics::counter!("miroir_gateway_upload_bytes_total").increment(received);
    Ok(Spooled {
        chunks: packer.chunks(),
        documents: packer.documents(),
        ids_checked: id_check.and_then(IdCheck::vouched_key),
    })
}

/// The primary key the router will resolve for this upload, when it is known before the body
/// is read: the index's own, or the client's `?primaryKey=` for an index without one (the
/// router infers a key from the first document otherwise, and refuses a `?primaryKey=` that
/// differs from the index's: nothing to check then).
async fn known_primary_key(state: &AppState, uid: &str, asked: Option<&str>) -> Option<String> {
    // Not known in time: the router checks the ids itself.
    let record = tokio::time::timeout(state.config().read_timeout(), state.index(uid))
        .await
        .ok()
        .and_then(Result::ok)
        .flatten();
    match (record.and_then(|r| r.primary_key), asked) {
        (Some(existing), Some(asked)) if existing != asked => None,
        (Some(existing), _) => Some(existing),
        (None, asked) => asked.map(str::to_string),
    }
}

pub async fn add_documents(
    state: AppState,
    uid: String,
    method: WriteMethod,
    headers: HeaderMap,
    raw_query: Option<String>,
    body: Body,
) -> Result<Response, MeiliError> {
    let params = upload_params(raw_query.as_deref())?;
    check_index_uid(&uid)?;
    let format = payload_format(&headers, params.csv_delimiter)?;
    check_content_length(&headers, state.config().max_payload_bytes)?;

    let limits = ChunkLimits::for_max_payload(state.nats().max_payload());
    let mut packer = ChunkPacker::new(new_batch_id(), limits);
    let id_check = known_primary_key(&state, &uid, params.primary_key.as_deref())
        .await
        .map(IdCheck::new);
    let wait = state.config().write_timeout();
    let mut wal_spooler = WalSpooler {
        js: state.jetstream(),
        pending: Default::default(),
        wait,
    };
    let started = Instant::now();
    let spooled = match spool(
        &state,
        format,
        body,
        &mut packer,
        id_check,
        &mut wal_spooler,
    )
    .await
    {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!(
                index = %uid,
                batch = packer.batch_id(),
                chunks = packer.chunks(),
                elapsed = ?started.elapsed(),
                code = %e.code.as_str(),
                "upload not spooled"
            );
            wal_spooler.settle().await;
            if packer.chunks() > 0 {
                purge_within(&state, packer.batch_id(), wait).await;
            }
            metrics::counter!("miroir_gateway_uploads_refused_total", "code" => e.code.as_str().to_string())
                .increment(1);
            return Err(e);
        }
    };
    tracing::debug!(
        index = %uid,
        batch = packer.batch_id(),
        chunks = spooled.chunks,
        documents = spooled.documents,
        elapsed = ?started.elapsed(),
        "upload spooled to the WAL; asking the router to commit it"
    );
    let commit = DocumentsCommit {
        index_uid: uid.clone(),
        batch_id: packer.batch_id().to_string(),
        chunks: spooled.chunks,
        documents: spooled.documents,
        primary_key: params.primary_key,
        method,
        ids_checked: spooled.ids_checked,
        custom_metadata: params.custom_metadata,
        skip_creation: params.skip_creation,
    };
    let asked = Instant::now();
    match state.call(&commit, wait, Some(&uid)).await {
        Ok(task) => {
            tracing::debug!(
                index = %uid,
                batch = packer.batch_id(),
                task = task.task_uid,
                elapsed = ?asked.elapsed(),
                "the router committed the upload"
            );
            metrics::counter!("miroir_gateway_documents_total").increment(spooled.documents);
            Ok(enqueued(task))
        }
        Err(e) => {
            tracing::debug!(
                index = %uid,
                batch = packer.batch_id(),
                elapsed = ?asked.elapsed(),
                status = e.status,
                code = %e.code.as_str(),
                "the router did not commit the upload"
            );
            // Nobody took the batch: it would only sit in the WAL. After a timeout the router
            // may still be working on it, so it is left alone.
            if e.status == 503 {
                purge_within(&state, packer.batch_id(), wait).await;
            }
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use axum::http::HeaderValue;
    use axum::http::header::CONTENT_TYPE;

    fn with_type(t: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_TYPE, HeaderValue::from_str(t).unwrap());
        h
    }

    #[test]
    fn content_types_and_delimiters() {
        assert_eq!(
            payload_format(&with_type("application/json; charset=utf-8"), None).unwrap(),
            Format::Json
        );
        assert_eq!(
            payload_format(&with_type("text/csv"), Some(b';')).unwrap(),
            Format::Csv { delimiter: b';' }
        );
        let e = payload_format(&with_type("text/plain"), None).unwrap_err();
        assert_eq!(
            e.message,
            "The Content-Type `text/plain` is invalid. Accepted values for the Content-Type header are: `application/json`, `application/x-ndjson`, `text/csv`"
        );
        assert_eq!(
            payload_format(&HeaderMap::new(), None).unwrap_err().code,
            "missing_content_type"
        );
        assert_eq!(
            payload_format(&with_type("application/json"), Some(b';'))
                .unwrap_err()
                .status,
            415
        );
        assert_eq!(
            upload_params(Some("csvDelimiter=ab")).err().unwrap().code,
            "invalid_document_csv_delimiter"
        );
        let p = upload_params(Some("skipCreation=TRUE&customMetadata=fix%20titles")).unwrap();
        assert!(p.skip_creation);
        assert_eq!(p.custom_metadata.as_deref(), Some("fix titles"));
        let e = upload_params(Some("skipCreation=yes")).err().unwrap();
        assert_eq!(
            (e.code.as_str(), e.message.as_str()),
            (
                "invalid_skip_creation",
                "Invalid value in parameter `skipCreation`: skipCreation must be either `true` or `false`. Found: `yes`"
            )
        );
        assert_eq!(
            upload_params(Some("customMetadata=a&customMetadata=b"))
                .err()
                .unwrap()
                .code,
            "invalid_index_custom_metadata"
        );
        assert_eq!(
            upload_params(Some("primaryKey=pid"))
                .unwrap()
                .primary_key
                .as_deref(),
            Some("pid")
        );
    }
}
