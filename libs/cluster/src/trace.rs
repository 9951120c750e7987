//! W3C Trace Context (<https://www.w3.org/TR/trace-context/>) across Miroir: the `traceparent`
//! header parsed, checked and written ([`TraceContext`], pure), and the context of the work a
//! task is doing ([`scope`], [`current`]), so that whatever calls out (a NATS request in
//! [`crate::bus`], an HTTP request to a node in [`crate::node`]) sends it on without every
//! function in between passing it along.
//!
//! The gateway takes the client's `traceparent` or starts a trace; every hop opens a span of its
//! own (a new 8-byte span id, the caller's span as its parent) and sends *its* span id as the
//! parent of the next hop. The `tracestate` header is passed through unchanged. Spans are
//! `tracing` spans carrying `trace_id`, `span_id` and `parent_span_id` fields, so JSON logs show
//! them; there is no exporter (OpenTelemetry is not a dependency).
//!
//! The cost on a request is one random number per span and the header values; the context is a
//! 25-byte `Copy` value in a task-local.

use std::fmt;
use std::future::Future;

use reqwest::header::{HeaderName, HeaderValue};

/// The W3C trace context headers, as HTTP header names (the gateway reads them from clients,
/// the node client sends them to nodes); NATS messages carry the same names
/// ([`miroir_proto::subjects::TRACEPARENT_HEADER`]).
pub const TRACEPARENT: HeaderName =
    HeaderName::from_static(miroir_proto::subjects::TRACEPARENT_HEADER);
pub const TRACESTATE: HeaderName =
    HeaderName::from_static(miroir_proto::subjects::TRACESTATE_HEADER);

/// Target of the trace spans and their events: `RUST_LOG=info,miroir::trace=debug` shows the
/// scatter and per-node spans, which are off at the default `info`.
pub const TARGET: &str = "miroir::trace";

/// The `sampled` flag: set on the traces Miroir starts (every span is recorded, in the logs).
pub const SAMPLED: u8 = 0x01;

/// One hop of a trace: the trace id, the id of the span making the call and the trace flags, as
/// `traceparent` carries them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TraceContext {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub flags: u8,
}

/// Length of a version-00 `traceparent`: `00-<32 hex>-<16 hex>-<2 hex>`.
pub const TRACEPARENT_LEN: usize = 55;

impl TraceContext {
    /// Parse a `traceparent` value as the specification says a receiver must:
    /// - version `00`: exactly 55 characters, lowercase hex in each field, dashes between;
    /// - version `ff` is invalid; a higher version is read for its first four fields (and must
    ///   be 55 characters or followed by `-`), and only the `sampled` flag is kept;
    /// - an all-zero trace id or span id is invalid.
    ///
    /// `None` means: ignore the header (and `tracestate` with it) and start a new trace.
    pub fn parse(value: &str) -> Option<TraceContext> {
        let b = value.as_bytes();
        if b.len() < TRACEPARENT_LEN {
            return None;
        }
        let version = hex_byte(&b[0..2])?;
        if version == 0xff {
            return None;
        }
        if version == 0 && b.len() != TRACEPARENT_LEN {
            return None;
        }
        if version != 0 && b.len() > TRACEPARENT_LEN && b[TRACEPARENT_LEN] != b'-' {
            return None;
        }
        if b[2] != b'-' || b[35] != b'-' || b[52] != b'-' {
            return None;
        }
        let mut trace_id = [0u8; 16];
        for (i, byte) in trace_id.iter_mut().enumerate() {
            *byte = hex_byte(&b[3 + 2 * i..5 + 2 * i])?;
        }
        let mut span_id = [0u8; 8];
        for (i, byte) in span_id.iter_mut().enumerate() {
            *byte = hex_byte(&b[36 + 2 * i..38 + 2 * i])?;
        }
        let flags = hex_byte(&b[53..55])?;
        if trace_id == [0; 16] || span_id == [0; 8] {
            return None;
        }
        let flags = if version == 0 { flags } else { flags & SAMPLED };
        Some(TraceContext {
            trace_id,
            span_id,
            flags,
        })
    }

    /// A new trace: `trace_id` and `span_id` must not be all zeros (see [`random_root`]).
    pub fn root(trace_id: [u8; 16], span_id: [u8; 8]) -> TraceContext {
        TraceContext {
            trace_id,
            span_id,
            flags: SAMPLED,
        }
    }

    /// The context of a span opened under this one: same trace and flags, span id `span_id`.
    pub fn child(&self, span_id: [u8; 8]) -> TraceContext {
        TraceContext { span_id, ..*self }
    }

    /// The `traceparent` value (version 00), on the stack.
    pub fn to_bytes(&self) -> [u8; TRACEPARENT_LEN] {
        let mut out = [b'-'; TRACEPARENT_LEN];
        out[0] = b'0';
        out[1] = b'0';
        write_hex(&mut out[3..35], &self.trace_id);
        write_hex(&mut out[36..52], &self.span_id);
        write_hex(&mut out[53..55], &[self.flags]);
        out
    }

    /// The `traceparent` value as a header value (its one allocation).
    pub fn header_value(&self) -> HeaderValue {
        // Hex digits and dashes only: always a valid header value.
        HeaderValue::from_bytes(&self.to_bytes()).unwrap_or(HeaderValue::from_static(""))
    }

    /// The trace id, for a log field (32 lowercase hex digits; formats without allocating).
    pub fn trace_id(&self) -> Hex<'_> {
        Hex(&self.trace_id)
    }

    /// The span id, for a log field (16 lowercase hex digits).
    pub fn span_id(&self) -> Hex<'_> {
        Hex(&self.span_id)
    }
}

impl fmt::Display for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.to_bytes();
        // Always ASCII.
        f.write_str(std::str::from_utf8(&bytes).map_err(|_| fmt::Error)?)
    }
}

/// Bytes shown as lowercase hex.
pub struct Hex<'a>(pub &'a [u8]);

impl fmt::Display for Hex<'_> {
    /// Written in pieces of 32 digits, one `write_str` each (ids are 8 or 16 bytes: one piece),
    /// not a `write!` per byte: every request's span shows two or three ids.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut digits = [0u8; 32];
        for piece in self.0.chunks(16) {
            let out = digits.get_mut(..piece.len() * 2).unwrap_or_default();
            write_hex(out, piece);
            // Hex digits only: always UTF-8.
            f.write_str(std::str::from_utf8(out).map_err(|_| fmt::Error)?)?;
        }
        Ok(())
    }
}

impl fmt::Debug for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn write_hex(out: &mut [u8], bytes: &[u8]) {
    for (pair, b) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = HEX[usize::from(b >> 4)];
        pair[1] = HEX[usize::from(b & 0x0f)];
    }
}

/// Two lowercase hex digits (the specification allows no uppercase).
fn hex_byte(pair: &[u8]) -> Option<u8> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    match pair {
        [hi, lo] => Some((digit(*hi)? << 4) | digit(*lo)?),
        _ => None,
    }
}

/// A random span id, never all zeros.
pub fn random_span_id() -> [u8; 8] {
    loop {
        let id: [u8; 8] = rand::random();
        if id != [0; 8] {
            return id;
        }
    }
}

/// A new trace with random ids.
pub fn random_root() -> TraceContext {
    let trace_id = loop {
        let id: [u8; 16] = rand::random();
        if id != [0; 16] {
            break id;
        }
    };
    TraceContext::root(trace_id, random_span_id())
}

/// The trace context of the work in progress: its own span, and the `tracestate` to pass on.
#[derive(Clone, Debug)]
pub struct Active {
    pub context: TraceContext,
    /// The caller's `tracestate`, passed on unchanged.
    pub state: Option<HeaderValue>,
}

impl Active {
    /// A span opened under this one (a new span id), with the same `tracestate`.
    pub fn child(&self) -> Active {
        Active {
            context: self.context.child(random_span_id()),
            state: self.state.clone(),
        }
    }

    /// The span of a request received with `traceparent` and `tracestate` (the raw header
    /// values): a child of the caller's span, or the root of a new trace when `traceparent` is
    /// missing or invalid (`tracestate` is then dropped, as the specification says). Returns the
    /// caller's span id too, for the `parent_span_id` log field.
    pub fn received(
        traceparent: Option<&str>,
        tracestate: Option<&str>,
    ) -> (Active, Option<[u8; 8]>) {
        match traceparent.and_then(TraceContext::parse) {
            Some(parent) => {
                let state = tracestate
                    .filter(|s| !s.is_empty() && s.len() <= MAX_TRACESTATE)
                    .and_then(|s| HeaderValue::from_str(s).ok());
                let active = Active {
                    context: parent.child(random_span_id()),
                    state,
                };
                (active, Some(parent.span_id))
            }
            None => (
                Active {
                    context: random_root(),
                    state: None,
                },
                None,
            ),
        }
    }
}

/// The longest `tracestate` passed on (the specification's 32 entries of at most 256 bytes are
/// more than any real one; a longer value is dropped rather than cut).
pub const MAX_TRACESTATE: usize = 8192;

tokio::task_local! {
    static ACTIVE: Active;
}

/// Run `work` as the span `active`: calls it makes carry `active` as their parent.
pub fn scope<F: Future>(active: Active, work: F) -> impl Future<Output = F::Output> {
    ACTIVE.scope(active, work)
}

/// The span of the work in progress, if a trace is being followed.
pub fn current() -> Option<Active> {
    ACTIVE.try_with(Active::clone).ok()
}

/// The trace context of the work in progress, without its `tracestate`.
pub fn current_context() -> Option<TraceContext> {
    ACTIVE.try_with(|a| a.context).ok()
}

/// A span under the current one, or the root of a new trace when none is being followed; and
/// the current span's id (the new span's parent).
pub fn child_of_current() -> (Active, Option<[u8; 8]>) {
    match ACTIVE.try_with(|a| (a.child(), a.context.span_id)) {
        Ok((child, parent)) => (child, Some(parent)),
        Err(_) => (
            Active {
                context: random_root(),
                state: None,
            },
            None,
        ),
    }
}

/// Record the `parent_span_id` field of `span` (declared `tracing::field::Empty`) when there is
/// a parent; nothing is formatted when the span is disabled.
pub fn record_parent(span: &tracing::Span, parent: Option<[u8; 8]>) {
    if let Some(parent) = parent {
        span.record("parent_span_id", tracing::field::display(Hex(&parent)));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn hex_shows_every_byte_as_two_lowercase_digits() {
        let bytes: Vec<u8> = (0..=255u8).collect();
        for len in [0, 1, 8, 15, 16, 17, 32, 33, 256] {
            let slice = &bytes[..len];
            let expected: String = slice.iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(Hex(slice).to_string(), expected, "{len} bytes");
            assert_eq!(format!("{:?}", Hex(slice)), expected);
        }
    }

    #[test]
    fn the_specification_example_parses_and_formats_back() {
        let t = TraceContext::parse(VALID).unwrap();
        assert_eq!(t.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(t.span_id().to_string(), "00f067aa0ba902b7");
        assert_eq!(t.flags, 0x01);
        assert_eq!(t.to_string(), VALID);
        assert_eq!(t.header_value().to_str().unwrap(), VALID);
        let unsampled = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
        assert_eq!(
            TraceContext::parse(unsampled).unwrap().to_string(),
            unsampled
        );
    }

    #[test]
    fn invalid_values_are_refused() {
        let bad = [
            // all-zero ids
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            // version ff, and a version that is not hex
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            // uppercase hex anywhere
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A",
            "0A-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            // wrong lengths
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e47366-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-holds",
            "",
            // wrong separators, spaces, non-hex
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01",
            " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 ",
            "00-4bf92f3577b34da6a3ce929d0e0e473z-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902bz-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0z",
            // a future version still needs its four fields, then the end or a dash
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
        ];
        for value in bad {
            assert_eq!(TraceContext::parse(value), None, "{value:?}");
        }
    }

    #[test]
    fn a_future_version_is_read_for_what_version_00_knows() {
        let t = TraceContext::parse(
            "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09-what-the-future-holds",
        )
        .unwrap();
        assert_eq!(t.to_string(), VALID, "sent on as version 00, sampled only");
        assert!(
            TraceContext::parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")
                .is_some()
        );
    }

    #[test]
    fn round_trips_and_children() {
        for _ in 0..200 {
            let root = random_root();
            assert_ne!(root.trace_id, [0; 16]);
            assert_eq!(TraceContext::parse(&root.to_string()), Some(root));
            let child = root.child(random_span_id());
            assert_eq!(child.trace_id, root.trace_id);
            assert_eq!(child.flags, root.flags);
            assert_ne!(child.span_id, root.span_id);
            assert_eq!(TraceContext::parse(&child.to_string()), Some(child));
        }
    }

    #[test]
    fn a_received_request_is_a_child_of_its_caller_or_a_new_trace() {
        let (active, parent) = Active::received(Some(VALID), Some("congo=t61rcWkgMzE"));
        let caller = TraceContext::parse(VALID).unwrap();
        assert_eq!(active.context.trace_id, caller.trace_id);
        assert_ne!(active.context.span_id, caller.span_id);
        assert_eq!(parent, Some(caller.span_id));
        assert_eq!(active.state.unwrap(), "congo=t61rcWkgMzE");

        let bad = "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01";
        let (active, parent) = Active::received(Some(bad), Some("congo=t61rcWkgMzE"));
        assert_ne!(active.context.trace_id, caller.trace_id);
        assert_eq!(parent, None);
        assert_eq!(
            active.state, None,
            "tracestate goes with an invalid traceparent"
        );
        assert_eq!(active.context.flags, SAMPLED);
    }

    #[tokio::test]
    async fn the_scope_is_what_calls_inside_it_see() {
        assert!(current().is_none());
        let (active, _) = Active::received(Some(VALID), None);
        let seen = scope(active.clone(), async {
            let (child, parent) = child_of_current();
            (current_context(), child, parent)
        })
        .await;
        assert_eq!(seen.0, Some(active.context));
        assert_eq!(seen.1.context.trace_id, active.context.trace_id);
        assert_eq!(seen.2, Some(active.context.span_id));
        let (root, parent) = child_of_current();
        assert_eq!(parent, None);
        assert_ne!(root.context.trace_id, active.context.trace_id);
    }
}
