//! The JSON and NDJSON splitter: finds where each top-level document starts and ends while bytes
//! stream in (tracking strings, escapes and bracket nesting), then lets serde_json validate that
//! one document alone.
//!
//! Meilisearch parses the whole body with serde_json, so its error messages carry positions in
//! the whole payload ("key must be a string at line 1 column 14"). The splitter remembers the
//! line and column where each document starts and shifts serde_json's positions by it, and it
//! writes the few errors that happen between documents (a missing comma, a trailing comma, EOF
//! in the array) with serde_json's own words and positions.

use serde::de::IgnoredAny;
use serde_json::error::Category;

use super::{ParseError, Sink};

/// `Array`: Meilisearch's `application/json` (an array of objects, or one object).
/// `Stream`: `application/x-ndjson` (objects one after the other, separated by whitespace).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    Array,
    Stream,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Only whitespace so far (Array), or between two documents (Stream).
    Start,
    /// Just after the opening `[`.
    ArrayFirst,
    AfterComma,
    AfterElement,
    InElement,
    /// The array closed. Meilisearch ignores what follows it, and so do we.
    Done,
    /// A top-level object closed: only whitespace may follow.
    AfterSingle,
    /// The body is neither an array nor an object: kept to report serde_json's verdict at the end.
    TopScalar,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Container,
    String,
    Scalar,
}

const DATA_NEITHER: &str = "data are neither an object nor a list of objects";

pub(crate) struct JsonSplitter {
    mode: Mode,
    state: State,
    /// Position after the bytes consumed so far, as serde_json counts it: 1-based line, and the
    /// number of bytes consumed on that line.
    line: u64,
    col: u64,
    elem: Vec<u8>,
    elem_line: u64,
    elem_col: u64,
    kind: Kind,
    closers: Vec<u8>,
    in_string: bool,
    escape: bool,
    top_single: bool,
    max: usize,
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\n' | b'\r' | b'\t')
}

impl JsonSplitter {
    pub(crate) fn new(mode: Mode, max: usize) -> Self {
        JsonSplitter {
            mode,
            state: State::Start,
            line: 1,
            col: 0,
            elem: Vec::new(),
            elem_line: 1,
            elem_col: 0,
            kind: Kind::Scalar,
            closers: Vec::new(),
            in_string: false,
            escape: false,
            top_single: false,
            max,
        }
    }

    fn payload(&self) -> &'static str {
        match self.mode {
            Mode::Array => "json",
            Mode::Stream => "ndjson",
        }
    }

    fn advance(&mut self, b: u8) {
        if b == b'\n' {
            self.line += 1;
            self.col = 0;
        } else {
            self.col += 1;
        }
    }

    fn malformed(&self, detail: &str) -> ParseError {
        ParseError::Malformed(format!(
            "The `{}` payload provided is malformed. `Couldn't serialize document value: {}`.",
            self.payload(),
            truncate(detail)
        ))
    }

    /// An error about the byte at the current position (serde_json's "peek" position).
    fn at_next_byte(&self, what: &str) -> ParseError {
        self.malformed(&format!(
            "{what} at line {} column {}",
            self.line,
            self.col + 1
        ))
    }

    /// An error at the end of the payload.
    fn at_eof(&self, what: &str) -> ParseError {
        self.malformed(&format!("{what} at line {} column {}", self.line, self.col))
    }

    /// serde_json's error on the current document, moved to its position in the whole payload.
    fn serde_error(&self, e: &serde_json::Error) -> ParseError {
        if e.classify() == Category::Data {
            return self.malformed(DATA_NEITHER);
        }
        let text = e.to_string();
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        let what = text.strip_suffix(&suffix).unwrap_or(&text);
        let (line, col) = if e.line() <= 1 {
            (self.elem_line, self.elem_col + e.column() as u64)
        } else {
            (self.elem_line + e.line() as u64 - 1, e.column() as u64)
        };
        self.malformed(&format!("{what} at line {line} column {col}"))
    }

    fn begin(&mut self, first: u8) {
        self.elem.clear();
        self.closers.clear();
        self.elem_line = self.line;
        self.elem_col = self.col;
        self.in_string = false;
        self.escape = false;
        self.kind = match first {
            b'{' | b'[' => Kind::Container,
            b'"' => Kind::String,
            _ => Kind::Scalar,
        };
        self.state = State::InElement;
    }

    fn push(&mut self, b: u8) -> Result<(), ParseError> {
        self.elem.push(b);
        self.advance(b);
        if self.elem.len() > self.max {
            return Err(ParseError::DocumentTooLarge {
                size: self.elem.len(),
                limit: self.max,
            });
        }
        Ok(())
    }

    /// Consume the bytes of the current document; returns how many were consumed and whether
    /// the document is complete. A scalar ends before its delimiter, which is left unconsumed.
    fn scan(&mut self, input: &[u8]) -> Result<(usize, bool), ParseError> {
        for (i, &b) in input.iter().enumerate() {
            match self.kind {
                Kind::Scalar => {
                    let delimiter =
                        is_ws(b) || matches!(b, b',' | b']' | b'}' | b'[' | b'{' | b'"' | b':');
                    if delimiter && !self.elem.is_empty() {
                        return Ok((i, true));
                    }
                    self.push(b)?;
                }
                Kind::String | Kind::Container => {
                    self.push(b)?;
                    if self.in_string {
                        if self.escape {
                            self.escape = false;
                        } else if b == b'\\' {
                            self.escape = true;
                        } else if b == b'"' {
                            self.in_string = false;
                            if self.kind == Kind::String {
                                return Ok((i + 1, true));
                            }
                        }
                        continue;
                    }
                    match b {
                        b'"' => self.in_string = true,
                        b'{' => self.closers.push(b'}'),
                        b'[' => self.closers.push(b']'),
                        b'}' | b']' => {
                            // A mismatched closer ends the document: serde_json fails on it at
                            // the same position it would in the whole payload.
                            if self.closers.last() != Some(&b) {
                                return Ok((i + 1, true));
                            }
                            self.closers.pop();
                            if self.closers.is_empty() {
                                return Ok((i + 1, true));
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
        Ok((input.len(), false))
    }

    fn element_done(&mut self, sink: &mut Sink<'_>) -> Result<(), ParseError> {
        self.state = match (self.mode, self.top_single) {
            (Mode::Array, true) => State::AfterSingle,
            (Mode::Array, false) => State::AfterElement,
            (Mode::Stream, _) => State::Start,
        };
        if let Err(e) = serde_json::from_slice::<IgnoredAny>(&self.elem) {
            return Err(self.serde_error(&e));
        }
        // serde_json does not check the UTF-8 of strings it ignores; a whole-payload parse (as
        // Meilisearch's) refuses it, with the position a full parse of the document gives.
        if std::str::from_utf8(&self.elem).is_err() {
            return Err(
                match serde_json::from_slice::<serde_json::Value>(&self.elem) {
                    Err(e) => self.serde_error(&e),
                    Ok(_) => self.malformed("invalid unicode code point"),
                },
            );
        }
        if self.elem.first() != Some(&b'{') {
            return Err(self.malformed(DATA_NEITHER));
        }
        // Newlines outside strings are whitespace (inside strings they are invalid JSON), so
        // blanking them makes the document one NDJSON line without touching its content.
        for b in self.elem.iter_mut() {
            if *b == b'\n' || *b == b'\r' {
                *b = b' ';
            }
        }
        sink(&self.elem)
    }

    pub(crate) fn feed(&mut self, input: &[u8], sink: &mut Sink<'_>) -> Result<(), ParseError> {
        let mut i = 0;
        while i < input.len() {
            match self.state {
                State::InElement => {
                    let (consumed, complete) = self.scan(&input[i..])?;
                    i += consumed;
                    if complete {
                        self.element_done(sink)?;
                    }
                    continue;
                }
                State::TopScalar => {
                    for &b in &input[i..] {
                        self.push(b)?;
                    }
                    return Ok(());
                }
                State::Done => return Ok(()),
                _ => {}
            }
            let b = input[i];
            if is_ws(b) {
                self.advance(b);
                i += 1;
                continue;
            }
            match self.state {
                State::Start => match (self.mode, b) {
                    (Mode::Array, b'[') => {
                        self.advance(b);
                        i += 1;
                        self.state = State::ArrayFirst;
                    }
                    (Mode::Array, b'{') => {
                        self.top_single = true;
                        self.begin(b);
                    }
                    (Mode::Array, _) => {
                        self.begin(b);
                        self.state = State::TopScalar;
                    }
                    (Mode::Stream, _) => self.begin(b),
                },
                State::ArrayFirst if b == b']' => {
                    self.advance(b);
                    i += 1;
                    self.state = State::Done;
                }
                State::ArrayFirst => self.begin(b),
                State::AfterComma if b == b']' => return Err(self.at_next_byte("trailing comma")),
                State::AfterComma => self.begin(b),
                State::AfterElement => {
                    match b {
                        b',' => self.state = State::AfterComma,
                        b']' => self.state = State::Done,
                        _ => return Err(self.at_next_byte("expected `,` or `]`")),
                    }
                    self.advance(b);
                    i += 1;
                }
                State::AfterSingle => return Err(self.at_next_byte("trailing characters")),
                State::InElement | State::TopScalar | State::Done => {}
            }
        }
        Ok(())
    }

    pub(crate) fn finish(&mut self, sink: &mut Sink<'_>) -> Result<(), ParseError> {
        match self.state {
            State::Start => match self.mode {
                Mode::Stream => Ok(()),
                Mode::Array => Err(self.at_eof("EOF while parsing a value")),
            },
            State::ArrayFirst | State::AfterElement => Err(self.at_eof("EOF while parsing a list")),
            State::AfterComma => Err(self.at_eof("EOF while parsing a value")),
            State::InElement => {
                if self.kind != Kind::Scalar {
                    // Unbalanced: serde_json says what it was parsing when the input ended.
                    if let Err(e) = serde_json::from_slice::<IgnoredAny>(&self.elem) {
                        return Err(self.serde_error(&e));
                    }
                }
                self.element_done(sink)?;
                self.finish(sink)
            }
            State::TopScalar => {
                let first = serde_json::Deserializer::from_slice(&self.elem)
                    .into_iter::<IgnoredAny>()
                    .next();
                match first {
                    Some(Err(e)) => Err(self.serde_error(&e)),
                    _ => Err(self.malformed(DATA_NEITHER)),
                }
            }
            State::Done | State::AfterSingle => Ok(()),
        }
    }
}

/// Meilisearch shortens long serde_json messages (which may quote the input) to their first 50
/// and last 85 bytes.
fn truncate(message: &str) -> String {
    const PREFIX: usize = 50;
    const SUFFIX: usize = 85;
    const ELLIPSIS: &str = "...";
    if message.len() <= PREFIX + SUFFIX + ELLIPSIS.len() {
        return message.to_string();
    }
    let mut start = PREFIX;
    while !message.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = message.len() - SUFFIX;
    while !message.is_char_boundary(end) {
        end += 1;
    }
    let mut out = String::with_capacity(start + ELLIPSIS.len() + message.len() - end);
    out.push_str(message.get(..start).unwrap_or_default());
    out.push_str(ELLIPSIS);
    out.push_str(message.get(end..).unwrap_or_default());
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::truncate;

    #[test]
    fn long_messages_keep_both_ends() {
        let long = "a".repeat(200);
        let t = truncate(&long);
        assert_eq!(t.len(), 50 + 3 + 85);
        assert!(t.starts_with(&"a".repeat(50)) && t.contains("..."));
        assert_eq!(truncate("short"), "short");
        let multibyte = "é".repeat(100);
        assert!(truncate(&multibyte).contains("..."));
    }
}
