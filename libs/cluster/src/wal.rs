//! The write-ahead spool of document batches, a JetStream stream.
//!
//! The gateway streams a client's upload into [`WalChunk`]s (whole documents, NDJSON, each chunk
//! under NATS's max payload) and publishes them here with acknowledgement; only when the whole
//! upload parsed does it ask the router to commit the batch. So a malformed payload never reaches a
//! node (nothing is half-written), neither the gateway nor the router holds a whole upload in
//! memory, and an acknowledged batch survives the crash of any one service.

use std::time::Duration;

use async_nats::jetstream::{self, stream};
use bytes::Bytes;
use miroir_proto::rpc::WalChunk;
use miroir_proto::subjects::{WAL_STREAM, wal_batch, wal_subjects};
use miroir_proto::{MeiliError, decode, encode};

/// Open (creating if needed) the WAL stream.
pub async fn open(js: &jetstream::Context) -> anyhow::Result<stream::Stream> {
    js.get_or_create_stream(stream::Config {
        name: WAL_STREAM.to_string(),
        description: Some(
            "Miroir: document batches spooled by the gateway until the router commits them".into(),
        ),
        subjects: vec![wal_subjects()],
        storage: stream::StorageType::File,
        retention: stream::RetentionPolicy::Limits,
        max_age: Duration::from_secs(24 * 3600),
        allow_direct: true,
        ..Default::default()
    })
    .await
    .map_err(|e| anyhow::anyhow!("cannot open the WAL stream {WAL_STREAM}: {e}"))
}

/// Publish one chunk and wait for JetStream's acknowledgement.
pub async fn publish_chunk(js: &jetstream::Context, chunk: &WalChunk) -> Result<(), MeiliError> {
    confirm_chunk(send_chunk(js, chunk).await?).await
}

/// Publish one chunk without waiting for its acknowledgement: a spooler keeps a few in flight
/// (in order, on one connection) and passes each to [`confirm_chunk`] before it reports the
/// batch spooled.
pub async fn send_chunk(
    js: &jetstream::Context,
    chunk: &WalChunk,
) -> Result<jetstream::context::PublishAckFuture, MeiliError> {
    let payload = encode(chunk).map_err(|e| MeiliError::internal(e.to_string()))?;
    js.publish(wal_batch(&chunk.batch_id), Bytes::from(payload))
        .await
        .map_err(|e| MeiliError::internal(format!("cannot spool a document chunk: {e}")))
}

/// Wait for the acknowledgement of a chunk sent with [`send_chunk`].
pub async fn confirm_chunk(ack: jetstream::context::PublishAckFuture) -> Result<(), MeiliError> {
    ack.await.map_err(|e| {
        MeiliError::internal(format!("the WAL did not acknowledge a document chunk: {e}"))
    })?;
    Ok(())
}

/// Read the chunks of one batch in order, handing each to `f`.
pub async fn read_batch<F, Fut>(
    wal: &stream::Stream,
    batch_id: &str,
    chunks: u32,
    mut f: F,
) -> Result<(), MeiliError>
where
    F: FnMut(WalChunk) -> Fut,
    Fut: std::future::Future<Output = Result<(), MeiliError>>,
{
    let subject = wal_batch(batch_id);
    let mut next_seq: Option<u64> = None;
    for expected in 0..chunks {
        let msg = wal
            .direct_get_next_for_subject(subject.clone(), next_seq)
            .await
            .map_err(|e| {
                MeiliError::internal(format!(
                    "batch {batch_id}: chunk {expected} missing from the WAL: {e}"
                ))
            })?;
        next_seq = Some(msg.sequence + 1);
        let chunk: WalChunk = decode(&msg.payload)
            .map_err(|e| MeiliError::internal(format!("batch {batch_id}: {e}")))?;
        if chunk.seq != expected {
            return Err(MeiliError::internal(format!(
                "batch {batch_id}: chunk {} where {expected} was expected",
                chunk.seq
            )));
        }
        f(chunk).await?;
    }
    Ok(())
}

/// Forget a batch (after commit, or when the upload failed).
pub async fn purge_batch(wal: &stream::Stream, batch_id: &str) {
    if let Err(e) = wal.purge().filter(wal_batch(batch_id)).await {
        tracing::warn!(batch = batch_id, error = %e, "cannot purge a WAL batch");
    }
}

/// Reads the chunks of one batch in order, one at a time (for callers that need `&mut` state
/// across chunks).
pub struct BatchReader<'a> {
    wal: &'a stream::Stream,
    batch_id: String,
    subject: String,
    chunks: u32,
    next_chunk: u32,
    next_seq: Option<u64>,
}

impl<'a> BatchReader<'a> {
    pub fn new(wal: &'a stream::Stream, batch_id: &str, chunks: u32) -> Self {
        BatchReader {
            wal,
            batch_id: batch_id.to_string(),
            subject: wal_batch(batch_id),
            chunks,
            next_chunk: 0,
            next_seq: None,
        }
    }

    pub async fn next(&mut self) -> Option<Result<WalChunk, MeiliError>> {
        if self.next_chunk >= self.chunks {
            return None;
        }
        let expected = self.next_chunk;
        self.next_chunk += 1;
        let batch_id = &self.batch_id;
        let msg = match self
            .wal
            .direct_get_next_for_subject(self.subject.clone(), self.next_seq)
            .await
        {
            Ok(m) => m,
            Err(e) => {
                return Some(Err(MeiliError::internal(format!(
                    "batch {batch_id}: chunk {expected} missing from the WAL: {e}"
                ))));
            }
        };
        self.next_seq = Some(msg.sequence + 1);
        Some(match decode::<WalChunk>(&msg.payload) {
            Ok(c) if c.seq == expected => Ok(c),
            Ok(c) => Err(MeiliError::internal(format!(
                "batch {batch_id}: chunk {} where {expected} was expected",
                c.seq
            ))),
            Err(e) => Err(MeiliError::internal(format!("batch {batch_id}: {e}"))),
        })
    }
}
