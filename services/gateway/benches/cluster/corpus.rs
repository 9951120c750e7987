//! Generated npm-like documents: the real 10k records of the fixture, repeated with fresh ids
//! and names (so every document is distinct and the vocabulary stays real), optionally with a
//! `readme` of corpus words to make documents larger. Deterministic, so runs compare.

use bytes::Bytes;
use serde_json::{Value, json};

pub struct Generator {
    base: Vec<Value>,
    words: Vec<String>,
    /// Approximate length of the `readme` field; 0 leaves it out.
    readme_bytes: usize,
}

impl Generator {
    pub fn new(readme_bytes: usize) -> anyhow::Result<Generator> {
        let base = miroir_testkit::npm_documents(usize::MAX)?;
        let mut words: Vec<String> = base
            .iter()
            .filter_map(|d| d.get("summary").and_then(Value::as_str))
            .flat_map(|s| s.split_whitespace().map(str::to_string))
            .filter(|w| w.len() > 2)
            .collect();
        if words.is_empty() {
            words.push("lorem".into());
        }
        anyhow::ensure!(!base.is_empty(), "the npm corpus is empty");
        Ok(Generator {
            base,
            words,
            readme_bytes,
        })
    }

    /// Document `i` (`id` = `i`).
    pub fn document(&self, i: u64) -> Value {
        let n = self.base.len() as u64;
        let mut doc = self.base[(i % n) as usize].clone();
        let round = i / n;
        if let Some(obj) = doc.as_object_mut() {
            obj.insert("id".into(), json!(i));
            if round > 0 {
                let name = obj.get("name").and_then(Value::as_str).unwrap_or("pkg");
                let name = format!("{name}-r{round}");
                obj.insert("name".into(), json!(name));
                let downloads = obj.get("downloads").and_then(Value::as_u64).unwrap_or(0);
                obj.insert("downloads".into(), json!(downloads + round * 7));
            }
            if self.readme_bytes > 0 {
                let mut readme = String::with_capacity(self.readme_bytes + 16);
                let mut k = i.wrapping_mul(2_654_435_761);
                while readme.len() < self.readme_bytes {
                    k = k
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    let w = &self.words[((k >> 33) % self.words.len() as u64) as usize];
                    readme.push_str(w);
                    readme.push(' ');
                }
                obj.insert("readme".into(), json!(readme));
            }
        }
        doc
    }

    /// Document `i` as one NDJSON line (with its `\n`).
    pub fn line(&self, i: u64, out: &mut Vec<u8>) {
        // Serializing a `Value` cannot fail.
        let _ = serde_json::to_writer(&mut *out, &self.document(i));
        out.push(b'\n');
    }

    /// Documents `0..count` as one NDJSON body.
    pub fn ndjson(&self, count: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(count as usize * 260);
        for i in 0..count {
            self.line(i, &mut out);
        }
        out
    }

    /// An NDJSON body of at most `max_bytes`, generated as it is sent in pieces of about
    /// `piece` bytes, never held whole. Returns the stream; `tally` counts documents and bytes
    /// sent.
    pub fn stream(
        self,
        max_bytes: u64,
        piece: usize,
        tally: std::sync::Arc<Tally>,
    ) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
        use std::sync::atomic::Ordering::Relaxed;
        futures::stream::unfold(
            (self, 0u64, 0u64, Vec::new()),
            move |(generator, mut next, mut sent, mut pending)| {
                let tally = tally.clone();
                async move {
                    let mut piece_buf: Vec<u8> = Vec::with_capacity(piece + 4096);
                    loop {
                        if pending.is_empty() {
                            generator.line(next, &mut pending);
                        }
                        if sent + (piece_buf.len() + pending.len()) as u64 > max_bytes {
                            break;
                        }
                        piece_buf.append(&mut pending);
                        next += 1;
                        tally.documents.fetch_add(1, Relaxed);
                        if piece_buf.len() >= piece {
                            break;
                        }
                    }
                    if piece_buf.is_empty() {
                        return None;
                    }
                    sent += piece_buf.len() as u64;
                    tally.bytes.fetch_add(piece_buf.len() as u64, Relaxed);
                    Some((Ok(Bytes::from(piece_buf)), (generator, next, sent, pending)))
                }
            },
        )
    }
}

/// What a streamed body has sent so far.
#[derive(Default)]
pub struct Tally {
    pub documents: std::sync::atomic::AtomicU64,
    pub bytes: std::sync::atomic::AtomicU64,
}
