//! The hinted-handoff queues: for each shard copy that missed writes, the writes in order, in
//! the JetStream stream [`HANDOFF_STREAM`] under `miroir.v1.handoff.<node>.<shard index>`.
//!
//! The router appends a [`Hint`] (with JetStream's acknowledgement, so it is durable before the
//! client hears the write was accepted) and raises the copy's `hintSeq` in the index record; the
//! active health-checker replays a queue in order once the node is back and purges what it has
//! applied. A copy is read again only once its queue is replayed past its `hintSeq`.

use std::time::Duration;

use async_nats::jetstream::{self, stream};
use bytes::Bytes;
use futures::TryStreamExt;
use miroir_proto::handoff::Hint;
use miroir_proto::subjects::{
    HANDOFF_STREAM, handoff_node_subjects, handoff_subject, handoff_subjects,
};
use miroir_proto::{decode, encode};

#[derive(Debug, thiserror::Error)]
pub enum HandoffError {
    #[error("cannot open the handoff stream: {0}")]
    Open(String),
    #[error("cannot queue a hint: {0}")]
    Append(String),
    #[error("cannot read a handoff queue: {0}")]
    Read(String),
    #[error("a hint does not decode: {0}")]
    Decode(String),
    #[error("cannot purge a handoff queue: {0}")]
    Purge(String),
}

/// The handoff stream.
#[derive(Clone)]
pub struct HandoffQueues {
    js: jetstream::Context,
    stream: stream::Stream,
}

impl HandoffQueues {
    /// Open (creating if needed) the stream. Hints are kept until replayed or dropped (a queue
    /// past its bound is handed to re-replication and dropped), never by age alone.
    pub async fn open(js: &jetstream::Context) -> Result<Self, HandoffError> {
        let stream = js
            .get_or_create_stream(stream::Config {
                name: HANDOFF_STREAM.to_string(),
                description: Some("Miroir: writes each shard copy missed, replayed in order when its node is back".into()),
                subjects: vec![handoff_subjects()],
                storage: stream::StorageType::File,
                retention: stream::RetentionPolicy::Limits,
                allow_direct: true,
                ..Default::default()
            })
            .await
            .map_err(|e| HandoffError::Open(e.to_string()))?;
        Ok(HandoffQueues {
            js: js.clone(),
            stream,
        })
    }

    /// Queue `hint` for its copy; returns its stream sequence once JetStream stored it.
    pub async fn append(&self, hint: &Hint, shard_index: &str) -> Result<u64, HandoffError> {
        let payload = encode(hint).map_err(|e| HandoffError::Append(e.to_string()))?;
        let ack = self
            .js
            .publish(
                handoff_subject(&hint.node, shard_index),
                Bytes::from(payload),
            )
            .await
            .map_err(|e| HandoffError::Append(e.to_string()))?;
        let ack = tokio::time::timeout(Duration::from_secs(10), ack)
            .await
            .map_err(|_| HandoffError::Append("no acknowledgement from JetStream".into()))?
            .map_err(|e| HandoffError::Append(e.to_string()))?;
        Ok(ack.sequence)
    }

    /// The queues of `node` that hold hints: node-local shard index -> number of hints.
    pub async fn pending(&self, node: &str) -> Result<Vec<(String, u64)>, HandoffError> {
        let prefix = handoff_subject(node, "");
        let mut info = self
            .stream
            .info_with_subjects(handoff_node_subjects(node))
            .await
            .map_err(|e| HandoffError::Read(e.to_string()))?;
        let mut out = Vec::new();
        while let Some((subject, count)) = info
            .try_next()
            .await
            .map_err(|e| HandoffError::Read(e.to_string()))?
        {
            if let Some(index) = subject.strip_prefix(&prefix) {
                out.push((index.to_string(), count as u64));
            }
        }
        out.sort();
        Ok(out)
    }

    /// Every queue of every node that holds hints: (node, shard index, hints).
    pub async fn all_pending(&self) -> Result<Vec<(String, String, u64)>, HandoffError> {
        let mut info = self
            .stream
            .info_with_subjects(handoff_subjects())
            .await
            .map_err(|e| HandoffError::Read(e.to_string()))?;
        let mut out = Vec::new();
        let root = handoff_subject("", "");
        let root = root.trim_end_matches('.');
        while let Some((subject, count)) = info
            .try_next()
            .await
            .map_err(|e| HandoffError::Read(e.to_string()))?
        {
            let rest = subject
                .strip_prefix(root)
                .map(|r| r.trim_start_matches('.'))
                .unwrap_or_default();
            if let Some((node, index)) = rest.split_once('.') {
                out.push((node.to_string(), index.to_string(), count as u64));
            }
        }
        out.sort();
        Ok(out)
    }

    /// The first hint of a copy's queue at or after `from` (a stream sequence), with its sequence.
    pub async fn next(
        &self,
        node: &str,
        shard_index: &str,
        from: Option<u64>,
    ) -> Result<Option<(u64, Hint)>, HandoffError> {
        match self
            .stream
            .direct_get_next_for_subject(handoff_subject(node, shard_index), from)
            .await
        {
            Ok(msg) => {
                let hint: Hint =
                    decode(&msg.payload).map_err(|e| HandoffError::Decode(e.to_string()))?;
                Ok(Some((msg.sequence, hint)))
            }
            Err(e) if e.kind() == stream::DirectGetErrorKind::NotFound => Ok(None),
            Err(e) => Err(HandoffError::Read(e.to_string())),
        }
    }

    /// Forget a copy's hints up to and including `seq` (they were applied).
    pub async fn ack_through(
        &self,
        node: &str,
        shard_index: &str,
        seq: u64,
    ) -> Result<(), HandoffError> {
        self.stream
            .purge()
            .filter(handoff_subject(node, shard_index))
            .sequence(seq + 1)
            .await
            .map(|_| ())
            .map_err(|e| HandoffError::Purge(e.to_string()))
    }

    /// Forget a whole queue (the copy is rebuilt from another copy instead).
    pub async fn drop_queue(&self, node: &str, shard_index: &str) -> Result<(), HandoffError> {
        self.stream
            .purge()
            .filter(handoff_subject(node, shard_index))
            .await
            .map(|_| ())
            .map_err(|e| HandoffError::Purge(e.to_string()))
    }
}
