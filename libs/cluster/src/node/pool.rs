//! Keep-alive HTTP/1.1 connections to the nodes, pooled per node, each request written and its
//! answer read by the task that sends it.
//!
//! Why not a client library here: a shard search is a few hundred microseconds of work for
//! Miroir. reqwest's per-request URL parsing (with IDNA host processing), timeout future, pool
//! and connector service were about a tenth of the merger's CPU on the cluster bench; hyper's
//! client connection, which replaced it, still cost about 25 us of CPU per request there: its
//! connection runs in a task of its own, so a request crosses to that task and its answer and
//! body cross back through channels, each crossing a wake-up (the cluster bench's fan-out floor:
//! 220 us of CPU for four shard searches with hyper, 120 us written and read in place). The
//! nodes are plain-HTTP Meilisearch servers on a private network, and an exchange is one
//! request with a known length and one answer: the head is parsed by `httparse` (hyper's own
//! parser), and the answer's body is framed by `Content-Length`, chunked encoding, or the
//! connection's end, as RFC 9112 section 6.3 orders them.
//!
//! A connection goes back to the pool only after an answer was read whole and the node did not
//! ask to close it; a request dropped half-way (a hedge's loser past its grace, a deadline) drops
//! its connection. An idle connection the node closed meanwhile is noticed before it is used
//! (the end of stream is already readable), so a request is not sent on it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Idle connections kept per node; more are opened under load and closed after use.
const MAX_IDLE_PER_NODE: usize = 64;

/// The first read's buffer: a search answer of 20 hits usually fits.
const FIRST_READ: usize = 16 * 1024;

/// Header lines read from an answer; Meilisearch sends about ten.
const MAX_HEADERS: usize = 64;

/// The longest answer head accepted.
const MAX_HEAD: usize = 64 * 1024;

/// The most reserved at once for a body of announced length; a longer one grows as it arrives,
/// so a wrong `Content-Length` cannot allocate more than came.
const MAX_RESERVE: usize = 8 * 1024 * 1024;

/// Idle connections by node authority (`host:port`).
#[derive(Clone, Default)]
pub(crate) struct Pool {
    idle: Arc<Mutex<HashMap<String, Vec<TcpStream>>>>,
}

/// A request ready to send: its head (request line and headers, ending with the blank line)
/// and body, and whether its answer has a body (not for `HEAD`).
pub(crate) struct Exchange {
    pub head: Vec<u8>,
    pub body: Bytes,
    pub answer_has_body: bool,
}

impl Pool {
    /// Send `exchange` to `authority` on an idle connection, or a new one, and read the whole
    /// answer: its status and body.
    pub async fn send(&self, authority: &str, exchange: Exchange) -> Result<(u16, Bytes), String> {
        let mut stream = match self.checkout(authority) {
            Some(stream) => stream,
            None => connect(authority).await?,
        };
        let mut out = Buf::chain(exchange.head.as_slice(), exchange.body.as_ref());
        stream
            .write_all_buf(&mut out)
            .await
            .map_err(|e| format!("cannot send the request: {e}"))?;
        let answer = read_answer(&mut stream, exchange.answer_has_body).await?;
        if answer.reusable {
            self.checkin(authority, stream);
        }
        Ok((answer.status, answer.body))
    }

    /// An idle connection to `authority` the node has not closed. A closed one has its end of
    /// stream (or a stray byte) readable already and is dropped.
    fn checkout(&self, authority: &str) -> Option<TcpStream> {
        let mut idle = self.idle.lock().ok()?;
        let list = idle.get_mut(authority)?;
        while let Some(stream) = list.pop() {
            let mut probe = [0u8; 1];
            match stream.try_read(&mut probe) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Some(stream),
                _ => continue,
            }
        }
        None
    }

    fn checkin(&self, authority: &str, stream: TcpStream) {
        if let Ok(mut idle) = self.idle.lock() {
            let list = idle.entry(authority.to_owned()).or_default();
            if list.len() < MAX_IDLE_PER_NODE {
                list.push(stream);
            }
        }
    }
}

/// A new connection to `authority`, with no delay on small writes.
async fn connect(authority: &str) -> Result<TcpStream, String> {
    let stream = TcpStream::connect(authority)
        .await
        .map_err(|e| format!("cannot connect: {e}"))?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    metrics::counter!("miroir_node_connections_opened_total").increment(1);
    Ok(stream)
}

struct Answer {
    status: u16,
    body: Bytes,
    /// Read whole, and the node keeps the connection open.
    reusable: bool,
}

/// How the answer's body ends (RFC 9112 section 6.3).
enum Framing {
    None,
    Length(usize),
    Chunked,
    /// Until the node closes the connection.
    Close,
}

/// Read one answer from `stream`: its head, skipping interim (1xx) answers, then its body.
async fn read_answer<S>(stream: &mut S, has_body: bool) -> Result<Answer, String>
where
    S: tokio::io::AsyncRead + Unpin,
{
    let mut buf = BytesMut::with_capacity(FIRST_READ);
    loop {
        let parsed = {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut response = httparse::Response::new(&mut headers);
            match response.parse(&buf) {
                Ok(httparse::Status::Complete(head_len)) => {
                    Some(head_of(&response, head_len, has_body)?)
                }
                Ok(httparse::Status::Partial) => None,
                Err(e) => return Err(format!("invalid answer from the node: {e}")),
            }
        };
        match parsed {
            // An interim answer (100 Continue, 103 Early Hints): the real one follows.
            Some(head) if (100..200).contains(&head.status) => {
                if head.status == 101 {
                    return Err("the node switched protocols".into());
                }
                buf.advance(head.len);
            }
            Some(head) => {
                buf.advance(head.len);
                let (body, clean_end) = read_body(stream, buf, head.framing).await?;
                return Ok(Answer {
                    status: head.status,
                    body,
                    reusable: head.keep_alive && clean_end,
                });
            }
            None if buf.len() >= MAX_HEAD => {
                return Err("the node's answer head is too long".into());
            }
            None => {
                if read_more(stream, &mut buf).await? == 0 {
                    return Err("the node closed the connection before answering".into());
                }
            }
        }
    }
}

struct Head {
    len: usize,
    status: u16,
    framing: Framing,
    keep_alive: bool,
}

fn head_of(response: &httparse::Response, len: usize, has_body: bool) -> Result<Head, String> {
    let status = response.code.unwrap_or_default();
    let mut length = None;
    let mut encoded = false;
    let mut chunked = false;
    let mut close = response.version != Some(1);
    for header in response.headers.iter() {
        let value = std::str::from_utf8(header.value).unwrap_or_default();
        if header.name.eq_ignore_ascii_case("content-length") {
            let n = value
                .trim()
                .parse::<usize>()
                .map_err(|_| format!("invalid content-length from the node: {value:?}"))?;
            if length.is_some_and(|m| m != n) {
                return Err("the node sent two different content-lengths".into());
            }
            length = Some(n);
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            // Chunked must come last; anything else is framed by the connection's end.
            encoded = true;
            chunked = value
                .rsplit(',')
                .next()
                .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
        } else if header.name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    close = true;
                } else if token.eq_ignore_ascii_case("keep-alive") && response.version == Some(0) {
                    close = false;
                }
            }
        }
    }
    let framing = if !has_body || status == 204 || status == 304 || (100..200).contains(&status) {
        Framing::None
    } else if encoded && chunked {
        Framing::Chunked
    } else if let (false, Some(n)) = (encoded, length) {
        Framing::Length(n)
    } else {
        close = true;
        Framing::Close
    };
    Ok(Head {
        len,
        status,
        framing,
        keep_alive: !close,
    })
}

/// The body of an answer whose head was read, `buf` holding what followed the head. Returns
/// the body and whether the stream ended exactly at its end (nothing read past it).
async fn read_body<S>(
    stream: &mut S,
    mut buf: BytesMut,
    framing: Framing,
) -> Result<(Bytes, bool), String>
where
    S: tokio::io::AsyncRead + Unpin,
{
    match framing {
        Framing::None => Ok((Bytes::new(), buf.is_empty())),
        Framing::Length(n) => {
            if buf.len() < n {
                buf.reserve((n - buf.len()).min(MAX_RESERVE));
            }
            while buf.len() < n {
                if read_more(stream, &mut buf).await? == 0 {
                    return Err(format!(
                        "the node closed the connection {} bytes into a {n}-byte answer",
                        buf.len()
                    ));
                }
            }
            let clean = buf.len() == n;
            buf.truncate(n);
            Ok((buf.freeze(), clean))
        }
        Framing::Close => {
            while read_more(stream, &mut buf).await? > 0 {}
            Ok((buf.freeze(), false))
        }
        Framing::Chunked => read_chunked(stream, buf).await,
    }
}

/// A chunked body (RFC 9112 section 7.1): the chunks' data joined; trailers are read and
/// dropped.
async fn read_chunked<S>(stream: &mut S, mut buf: BytesMut) -> Result<(Bytes, bool), String>
where
    S: tokio::io::AsyncRead + Unpin,
{
    let mut body = BytesMut::new();
    loop {
        let (consumed, size) = loop {
            match httparse::parse_chunk_size(&buf) {
                Ok(httparse::Status::Complete(found)) => break found,
                Ok(httparse::Status::Partial) => more(stream, &mut buf).await?,
                Err(_) => return Err("invalid chunk size in the node's answer".into()),
            }
        };
        buf.advance(consumed);
        let size = usize::try_from(size).map_err(|_| "a chunk too large".to_string())?;
        if size == 0 {
            break;
        }
        while buf.len() < size.saturating_add(2) {
            more(stream, &mut buf).await?;
        }
        body.extend_from_slice(&buf[..size]);
        if &buf[size..size + 2] != b"\r\n" {
            return Err("a chunk of the node's answer does not end with CRLF".into());
        }
        buf.advance(size + 2);
    }
    // Trailer fields, each a line, up to the empty line.
    loop {
        match buf.iter().position(|&b| b == b'\n') {
            Some(end) => {
                let empty = end == 0 || (end == 1 && buf[0] == b'\r');
                buf.advance(end + 1);
                if empty {
                    break;
                }
            }
            None if buf.len() >= MAX_HEAD => return Err("the node's trailers are too long".into()),
            None => more(stream, &mut buf).await?,
        }
    }
    Ok((body.freeze(), buf.is_empty()))
}

/// Read more of the answer, or fail at the stream's end.
async fn more<S>(stream: &mut S, buf: &mut BytesMut) -> Result<(), String>
where
    S: tokio::io::AsyncRead + Unpin,
{
    match read_more(stream, buf).await? {
        0 => Err("the node closed the connection in the middle of a chunked answer".into()),
        _ => Ok(()),
    }
}

async fn read_more<S>(stream: &mut S, buf: &mut BytesMut) -> Result<usize, String>
where
    S: tokio::io::AsyncRead + Unpin,
{
    if buf.capacity() - buf.len() < 4096 {
        buf.reserve(FIRST_READ);
    }
    stream
        .read_buf(buf)
        .await
        .map_err(|e| format!("cannot read the answer: {e}"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The answer read from `bytes`, delivered `step` bytes at a time.
    async fn answer(bytes: &[u8], step: usize, has_body: bool) -> Result<Answer, String> {
        let mut reader = Pieces {
            pieces: bytes.chunks(step.max(1)).map(<[u8]>::to_vec).collect(),
            next: 0,
        };
        read_answer(&mut reader, has_body).await
    }

    /// A reader handing out its pieces one read at a time, then the end of stream.
    struct Pieces {
        pieces: Vec<Vec<u8>>,
        next: usize,
    }

    impl tokio::io::AsyncRead for Pieces {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            out: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            if let Some(piece) = self.pieces.get(self.next).cloned() {
                let n = piece.len().min(out.remaining());
                out.put_slice(&piece[..n]);
                if n == piece.len() {
                    self.next += 1;
                } else {
                    let rest = piece[n..].to_vec();
                    let at = self.next;
                    self.pieces[at] = rest;
                }
            }
            std::task::Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn an_answer_framed_by_its_length_is_read_in_any_pieces() {
        let bytes = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"hits\":[]}";
        for step in [1, 2, 7, 64, 4096] {
            let a = answer(bytes, step, true).await.unwrap();
            assert_eq!(
                (a.status, a.body.as_ref()),
                (200, b"{\"hits\":[]}".as_ref())
            );
            assert!(a.reusable, "step {step}");
        }
    }

    #[tokio::test]
    async fn a_chunked_answer_is_joined_and_its_trailers_dropped() {
        let bytes = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nx-trailer: 1\r\n\r\n";
        for step in [1, 3, 4096] {
            let a = answer(bytes, step, true).await.unwrap();
            assert_eq!(a.body.as_ref(), b"hello, world", "step {step}");
            assert!(a.reusable);
        }
        let bare =
            b"HTTP/1.1 202 Accepted\r\ntransfer-encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n";
        let a = answer(bare, 5, true).await.unwrap();
        assert_eq!(
            (a.status, a.body.as_ref(), a.reusable),
            (202, b"{}".as_ref(), true)
        );
    }

    #[tokio::test]
    async fn an_answer_without_length_ends_with_the_connection_which_is_not_kept() {
        // Close-delimited, HTTP/1.0, and `connection: close`: read whole, never pooled.
        for (bytes, step, body) in [
            (
                &b"HTTP/1.1 200 OK\r\n\r\n{\"a\":1}"[..],
                3,
                &b"{\"a\":1}"[..],
            ),
            (b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\n{}", 64, b"{}"),
            (
                b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}",
                64,
                b"{}",
            ),
        ] {
            let a = answer(bytes, step, true).await.unwrap();
            assert_eq!((a.body.as_ref(), a.reusable), (body, false));
        }
    }

    #[tokio::test]
    async fn answers_without_a_body_and_interim_answers() {
        let a = answer(b"HTTP/1.1 204 No Content\r\n\r\n", 64, true)
            .await
            .unwrap();
        assert_eq!((a.status, a.body.len(), a.reusable), (204, 0, true));
        // HEAD: the length describes the body a GET would get; none follows.
        let a = answer(b"HTTP/1.1 200 OK\r\ncontent-length: 50\r\n\r\n", 64, false)
            .await
            .unwrap();
        assert_eq!((a.status, a.body.len(), a.reusable), (200, 0, true));
        let a = answer(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}",
            4,
            true,
        )
        .await
        .unwrap();
        assert_eq!((a.status, a.body.as_ref()), (200, b"{}".as_ref()));
    }

    #[tokio::test]
    async fn broken_answers_are_errors_and_never_panic() {
        for bytes in [
            &b""[..],
            b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n{}",
            b"HTTP/1.1 200 OK\r\ncontent-length: x\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\n{}",
            b"garbage\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\n{}XX0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\n{}\r\n",
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nffffffffffffffffff\r\n",
            b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-length: 18446744073709551615\r\n\r\n{}",
        ] {
            for step in [1, 4096] {
                let a = answer(bytes, step, true).await;
                assert!(
                    a.is_err(),
                    "{:?} step {step}",
                    String::from_utf8_lossy(bytes)
                );
            }
        }
        // A head that never ends.
        let mut long = b"HTTP/1.1 200 OK\r\n".to_vec();
        long.extend(std::iter::repeat_n(b'a', MAX_HEAD + 10));
        assert!(answer(&long, 4096, true).await.is_err());
    }

    #[tokio::test]
    async fn bytes_past_the_body_make_the_connection_unfit_to_keep() {
        let a = answer(
            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}HTTP",
            4096,
            true,
        )
        .await
        .unwrap();
        assert_eq!((a.body.as_ref(), a.reusable), (b"{}".as_ref(), false));
    }
}
