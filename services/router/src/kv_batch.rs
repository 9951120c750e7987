//! Writing several keys of a KV bucket at once, all or nothing, each with compare-and-set: a
//! JetStream atomic batch (ADR-50, nats-server 2.12+) published to the bucket's stream. Every
//! write carries `Nats-Expected-Last-Subject-Sequence` (the revision it was read at, `0` for a
//! key that must not exist), so the batch is refused whole if any key moved on.
//!
//! The KV API offers no multi-key transaction; an index swap needs one, so that no reader ever
//! finds both records pointing at the same shards or at none.

use bytes::Bytes;
use miroir_proto::subjects::{kv_key_subject, kv_stream_name};

/// One write of a batch.
#[derive(Clone, Debug, PartialEq)]
pub enum KvWrite {
    /// Put `value` under `key`, which must be at `revision` (`0`: must have never existed, or be
    /// deleted at `revision`).
    Put {
        key: String,
        value: Bytes,
        revision: u64,
    },
    /// Delete `key`, which must be at `revision`.
    Delete { key: String, revision: u64 },
}

#[derive(Debug, thiserror::Error)]
pub enum KvBatchError {
    /// A key was not at the expected revision: nothing was written.
    #[error("a key changed since it was read: {0}")]
    Conflict(String),
    /// The server cannot publish atomic batches (older than 2.12, or the stream refuses).
    #[error(
        "the NATS server cannot write atomic batches (nats-server 2.12 or later is needed): {0}"
    )]
    Unsupported(String),
    #[error("atomic batch to the KV bucket failed: {0}")]
    Nats(String),
}

/// Let the bucket's stream take atomic batches (idempotent; a stream setting since 2.12).
pub async fn enable(js: &async_nats::jetstream::Context, bucket: &str) -> Result<(), KvBatchError> {
    let mut stream = js
        .get_stream(kv_stream_name(bucket))
        .await
        .map_err(|e| KvBatchError::Nats(e.to_string()))?;
    let info = stream
        .info()
        .await
        .map_err(|e| KvBatchError::Nats(e.to_string()))?;
    if info.config.allow_atomic_publish {
        return Ok(());
    }
    let mut config = info.config.clone();
    config.allow_atomic_publish = true;
    js.update_stream(config)
        .await
        .map_err(|e| KvBatchError::Unsupported(e.to_string()))?;
    Ok(())
}

fn classify(description: &str) -> KvBatchError {
    let d = description.to_ascii_lowercase();
    if d.contains("wrong last sequence") || d.contains("last sequence mismatch") {
        KvBatchError::Conflict(description.to_string())
    } else if d.contains("atomic")
        && (d.contains("disabled") || d.contains("not enabled") || d.contains("not supported"))
    {
        KvBatchError::Unsupported(description.to_string())
    } else {
        KvBatchError::Nats(description.to_string())
    }
}

/// `Err` when a JetStream answer is an API error.
fn check(answer: &[u8]) -> Result<Option<serde_json::Value>, KvBatchError> {
    if answer.is_empty() {
        return Ok(None);
    }
    let v: serde_json::Value = serde_json::from_slice(answer)
        .map_err(|e| KvBatchError::Nats(format!("unreadable answer: {e}")))?;
    if let Some(err) = v.get("error") {
        let description = err
            .get("description")
            .and_then(|d| d.as_str())
            .unwrap_or("unknown error");
        return Err(classify(description));
    }
    Ok(Some(v))
}

/// Write every change of `writes` to `bucket` in one atomic batch named `batch_id` (at most 64
/// characters, unique per batch).
pub async fn write_all(
    client: &async_nats::Client,
    bucket: &str,
    batch_id: &str,
    writes: &[KvWrite],
) -> Result<(), KvBatchError> {
    let count = writes.len();
    for (i, write) in writes.iter().enumerate() {
        let seq = i + 1;
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Batch-Id", batch_id);
        headers.insert("Nats-Batch-Sequence", seq.to_string().as_str());
        let (key, revision, payload) = match write {
            KvWrite::Put {
                key,
                value,
                revision,
            } => (key, revision, value.clone()),
            KvWrite::Delete { key, revision } => {
                headers.insert("KV-Operation", "DEL");
                (key, revision, Bytes::new())
            }
        };
        headers.insert(
            "Nats-Expected-Last-Subject-Sequence",
            revision.to_string().as_str(),
        );
        let subject = kv_key_subject(bucket, key);
        let last = seq == count;
        if last {
            headers.insert("Nats-Batch-Commit", "1");
        }
        if last || seq == 1 {
            // The first message is acknowledged (the batch is accepted), the last one commits it.
            let answer = client
                .request_with_headers(subject, headers, payload)
                .await
                .map_err(|e| KvBatchError::Nats(e.to_string()))?;
            let ack = check(&answer.payload)?;
            if last {
                let committed = ack
                    .as_ref()
                    .and_then(|a| a.get("count"))
                    .and_then(|c| c.as_u64());
                if committed != Some(count as u64) {
                    return Err(KvBatchError::Nats(format!(
                        "the batch was not committed whole: {ack:?}"
                    )));
                }
            }
        } else {
            client
                .publish_with_headers(subject, headers, payload)
                .await
                .map_err(|e| KvBatchError::Nats(e.to_string()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_are_classified() {
        assert!(matches!(check(br#"{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 5"}}"#), Err(KvBatchError::Conflict(_))));
        assert!(matches!(
            check(br#"{"error":{"code":400,"description":"atomic publish is disabled"}}"#),
            Err(KvBatchError::Unsupported(_))
        ));
        assert!(matches!(check(b""), Ok(None)));
        assert!(check(br#"{"stream":"KV_x","seq":7,"batch":"b","count":2}"#).is_ok());
    }
}
