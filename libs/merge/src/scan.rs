//! A JSON scanner for the shards' answers: it walks the structure of the text, hands out object
//! members as borrowed key and raw value text, and skips every value nobody asked for without
//! building it.
//!
//! Why not serde_json: capturing a `RawValue` makes serde_json parse the value it skips byte by
//! byte, and a search answer is mostly documents nobody reads. Here a string is skipped with
//! `memchr` (vectorised) from quote or backslash to the next, and a container by its structure.
//!
//! What [`Scanner::value`] checks: the structure (brackets, colons, commas, nothing after the
//! value), every escape, every literal and every number's grammar, and nesting depth (at most
//! [`MAX_DEPTH`], as serde_json); the caller checks the whole text is UTF-8 once. Not checked: a
//! raw control character inside a string, which JSON forbids; the value's text is copied out as
//! the node wrote it. [`Scanner::delimited`] checks less (strings and their escapes, bracket
//! depth): it is for values read only if needed, and checked whole then.

use std::borrow::Cow;

use serde::de::Error as _;

/// How deep objects and arrays may nest (serde_json's own limit).
pub(crate) const MAX_DEPTH: usize = 128;

/// A JSON value's text as the shard wrote it, borrowed from the answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Raw<'a>(&'a str);

impl<'a> Raw<'a> {
    /// The value's text.
    pub fn get(&self) -> &'a str {
        self.0
    }
}

pub(crate) type Result<T> = std::result::Result<T, serde_json::Error>;

/// A position in a JSON text.
#[derive(Clone)]
pub(crate) struct Scanner<'a> {
    text: &'a str,
    pos: usize,
    depth: usize,
}

fn error(what: &str, at: usize) -> serde_json::Error {
    serde_json::Error::custom(format_args!("{what} at byte {at}"))
}

/// An error of the reader built on the scanner (a field of the wrong type, a repeated one).
pub(crate) fn invalid(what: std::fmt::Arguments<'_>) -> serde_json::Error {
    serde_json::Error::custom(what)
}

/// `text` read whole by `read`: nothing but whitespace may follow the value.
pub(crate) fn whole<'a, T>(
    text: &'a str,
    read: impl FnOnce(&mut Scanner<'a>) -> Result<T>,
) -> Result<T> {
    let mut s = Scanner::new(text);
    let value = read(&mut s)?;
    s.end()?;
    Ok(value)
}

/// `None` for `null`, as serde reads an `Option`.
pub(crate) fn not_null(raw: Raw<'_>) -> Option<Raw<'_>> {
    (raw.0 != "null").then_some(raw)
}

/// An unsigned integer (or `null`); anything else (a negative or fractional number, another
/// type, a value beyond `u64`) is an error, as serde reads an `Option<u64>`.
pub(crate) fn uint(raw: Raw<'_>) -> Result<Option<u64>> {
    match raw.0 {
        "null" => Ok(None),
        text => json_u64(text)
            .map(Some)
            .ok_or_else(|| invalid(format_args!("expected an unsigned integer, got `{text}`"))),
    }
}

/// `text` as a `u64` when it is a JSON integer that fits one: digits only, without a leading
/// zero (`str::parse` would also take `+1` and `01`, which serde_json refuses).
pub(crate) fn json_u64(text: &str) -> Option<u64> {
    Some(text)
        .filter(|t| t.bytes().all(|b| b.is_ascii_digit()))
        .filter(|t| t.len() == 1 || !t.starts_with('0'))
        .and_then(|t| t.parse().ok())
}

/// A number as `f64` (or `null`), equal to what serde_json makes of the same text (the merge's
/// `Value` readings must agree with this one to the last bit).
pub(crate) fn float(raw: Raw<'_>) -> Result<Option<f64>> {
    match raw.0.as_bytes().first() {
        Some(b'n') => Ok(None),
        Some(b'-' | b'0'..=b'9') => match exact_float(raw.0) {
            Some(f) => Ok(Some(f)),
            None => serde_json::from_str(raw.0).map(Some),
        },
        _ => Err(invalid(format_args!("expected a number, got `{}`", raw.0))),
    }
}

/// Powers of ten that `f64` holds exactly.
const EXACT_POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// A decimal without exponent whose digits fit a `u64` and whose fraction has at most 22
/// digits (ranking scores: `0.6666666666666666`, `0.9876543210987654`): the digits converted to
/// `f64`, divided by an exact power of ten. That is serde_json's own computation for such text
/// (its digits accumulated in a `u64`, then `significand as f64` scaled by `POW10`, without
/// the `float_roundtrip` feature, which nothing in the workspace enables; below 2^53 both
/// steps are exact or correctly rounded, so that either way serde_json agrees there).
/// `None` for anything else (the caller asks serde_json); a property test holds this to
/// serde_json's value to the bit.
fn exact_float(text: &str) -> Option<f64> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest.as_bytes()),
        None => (false, text.as_bytes()),
    };
    // One pass: digits into the significand, those before and after the point counted.
    let mut significand: u64 = 0;
    let mut whole = 0usize;
    let mut scale: Option<usize> = None;
    for &b in digits {
        match b {
            b'0'..=b'9' => {
                significand = significand
                    .checked_mul(10)?
                    .checked_add(u64::from(b - b'0'))?;
                match scale.as_mut() {
                    Some(scale) => *scale += 1,
                    None => whole += 1,
                }
            }
            b'.' if scale.is_none() => scale = Some(0),
            _ => return None,
        }
    }
    // Not JSON's form (no digit before or after the point, a leading zero): serde_json says why.
    if whole == 0 || scale == Some(0) || (whole > 1 && digits.first() == Some(&b'0')) {
        return None;
    }
    let f = significand as f64 / *EXACT_POW10.get(scale.unwrap_or(0))?;
    Some(if negative { -f } else { f })
}

/// A string, decoded (borrowed unless it has escapes), or `null`.
pub(crate) fn text(raw: Raw<'_>) -> Result<Option<Cow<'_, str>>> {
    if raw.0 == "null" {
        return Ok(None);
    }
    let inner = raw
        .0
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .ok_or_else(|| invalid(format_args!("expected a string, got `{}`", raw.0)))?;
    if inner.contains('\\') {
        serde_json::from_str::<String>(raw.0).map(|s| Some(Cow::Owned(s)))
    } else {
        Ok(Some(Cow::Borrowed(inner)))
    }
}

/// Just after the closing quote of the string whose text starts at `start` (after its opening
/// quote), its escapes checked; and whether it has any.
#[inline]
fn string_end(bytes: &[u8], start: usize) -> Result<(usize, bool)> {
    let mut at = start;
    let mut escaped = false;
    loop {
        let Some(found) = quote_or_backslash(bytes, at) else {
            return Err(error("unterminated string", start.saturating_sub(1)));
        };
        at = found;
        if bytes.get(at) == Some(&b'"') {
            return Ok((at + 1, escaped));
        }
        escaped = true;
        match bytes.get(at + 1) {
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => at += 2,
            Some(b'u') => {
                let hex = bytes.get(at + 2..at + 6).unwrap_or_default();
                if hex.len() != 4 || !hex.iter().all(u8::is_ascii_hexdigit) {
                    return Err(error("invalid \\u escape", at));
                }
                at += 6;
            }
            _ => return Err(error("invalid escape", at)),
        }
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `word` that equals `byte` (exact for the lowest such byte,
/// which is all the callers read: a borrow can only flag bytes above a true match).
#[inline]
fn bytes_equal(word: u64, byte: u8) -> u64 {
    let x = word ^ (ONES * u64::from(byte));
    x.wrapping_sub(ONES) & !x & HIGHS
}

/// The first byte at or after `from` whose 8-byte word has a `flags` bit for it, eight bytes at
/// a time (in safe code: each word read with `from_le_bytes`), the tail one by one.
#[inline]
fn first_flagged(
    bytes: &[u8],
    from: usize,
    words: usize,
    flags: impl Fn(u64) -> u64,
    tail: impl Fn(u8) -> bool,
) -> std::result::Result<usize, usize> {
    let rest = bytes.get(from..).unwrap_or_default();
    let mut chunks = rest.chunks_exact(8);
    let mut offset = from;
    for chunk in chunks.by_ref().take(words) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let found = flags(u64::from_le_bytes(word));
        if found != 0 {
            return Ok(offset + (found.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    if offset + 8 <= bytes.len() {
        // More words than asked for: the caller goes on another way from `offset`.
        return Err(offset);
    }
    match bytes
        .get(offset..)
        .unwrap_or_default()
        .iter()
        .position(|&b| tail(b))
    {
        Some(i) => Ok(offset + i),
        None => Err(bytes.len()),
    }
}

/// The first quote or backslash at or after `from`. Most strings (keys, short values) end
/// within a few words: those are looked at eight bytes at a time before `memchr` takes the rest.
#[inline]
fn quote_or_backslash(bytes: &[u8], from: usize) -> Option<usize> {
    let flags = |w| bytes_equal(w, b'"') | bytes_equal(w, b'\\');
    match first_flagged(bytes, from, 4, flags, |b| b == b'"' || b == b'\\') {
        Ok(at) => Some(at),
        Err(at) if at >= bytes.len() => None,
        Err(at) => memchr::memchr2(b'"', b'\\', bytes.get(at..)?).map(|i| at + i),
    }
}

/// Just after the number whose text starts at `start`, if it is one:
/// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
fn number_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut at = start;
    let digits = |at: &mut usize| {
        let from = *at;
        while bytes.get(*at).is_some_and(u8::is_ascii_digit) {
            *at += 1;
        }
        *at > from
    };
    if bytes.get(at) == Some(&b'-') {
        at += 1;
    }
    match bytes.get(at) {
        Some(b'0') => at += 1,
        Some(b'1'..=b'9') => {
            digits(&mut at);
        }
        _ => return None,
    }
    if bytes.get(at) == Some(&b'.') {
        at += 1;
        if !digits(&mut at) {
            return None;
        }
    }
    if let Some(b'e' | b'E') = bytes.get(at) {
        at += 1;
        if let Some(b'+' | b'-') = bytes.get(at) {
            at += 1;
        }
        if !digits(&mut at) {
            return None;
        }
    }
    Some(at)
}

/// The first quote or bracket (`{}[]`) at or after `from`, or `None`.
#[inline]
fn next_structural(bytes: &[u8], from: usize) -> Option<usize> {
    // `[`/`{` and `]`/`}` differ only in 0x20: one comparison finds both.
    let flags = |w: u64| {
        let folded = w | (ONES * 0x20);
        bytes_equal(w, b'"') | bytes_equal(folded, b'{') | bytes_equal(folded, b'}')
    };
    let tail = |b: u8| matches!(b, b'"' | b'{' | b'}' | b'[' | b']');
    first_flagged(bytes, from, usize::MAX, flags, tail).ok()
}

/// Just after the string, number or literal (`null`, `true`, `false`) at `start`, if it is
/// one (a string's escapes checked).
fn scalar_end(bytes: &[u8], start: usize) -> Option<usize> {
    match bytes.get(start)? {
        b'"' => string_end(bytes, start + 1).ok().map(|(end, _)| end),
        b'-' | b'0'..=b'9' => number_end(bytes, start),
        _ => literal_end(bytes, start),
    }
}

/// Just after the `null`, `true` or `false` at `start`, if it is one.
fn literal_end(bytes: &[u8], start: usize) -> Option<usize> {
    let word: &[u8] = match bytes.get(start)? {
        b'n' => b"null",
        b't' => b"true",
        b'f' => b"false",
        _ => return None,
    };
    (bytes.get(start..start + word.len())? == word).then_some(start + word.len())
}

/// The key of the member written compactly at `at` (a string without escapes, `:` right after
/// it) and where its value starts.
fn compact_key(text: &str, at: usize) -> Option<(&str, usize)> {
    let bytes = text.as_bytes();
    if bytes.get(at) != Some(&b'"') {
        return None;
    }
    let end = quote_or_backslash(bytes, at + 1)?;
    if bytes.get(end) != Some(&b'"') || bytes.get(end + 1) != Some(&b':') {
        return None;
    }
    Some((text.get(at + 1..end)?, end + 2))
}

/// Just after the array at `start` when it is written compactly (no whitespace) and holds
/// scalars only ([`scalar_end`]); `None` for anything else.
fn compact_scalars_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut at = start + 1;
    if bytes.get(at) == Some(&b']') {
        return Some(at + 1);
    }
    loop {
        at = scalar_end(bytes, at)?;
        match bytes.get(at)? {
            b',' => at += 1,
            b']' => return Some(at + 1),
            _ => return None,
        }
    }
}

impl<'a> Scanner<'a> {
    pub fn new(text: &'a str) -> Self {
        Scanner {
            text,
            pos: 0,
            depth: 0,
        }
    }

    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes().get(self.pos).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn eat(&mut self, byte: u8, what: &str) -> Result<()> {
        self.ws();
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(error(what, self.pos))
        }
    }

    /// After the value: only whitespace may follow.
    pub fn end(&mut self) -> Result<()> {
        self.ws();
        if self.pos == self.text.len() {
            Ok(())
        } else {
            Err(error("trailing characters", self.pos))
        }
    }

    /// The string at the position (after whitespace): its text between the quotes, and whether
    /// it has escapes.
    fn string(&mut self) -> Result<(&'a str, bool)> {
        self.ws();
        if self.peek() != Some(b'"') {
            return Err(error("expected a string", self.pos));
        }
        let start = self.pos + 1;
        let (end, escaped) = string_end(self.bytes(), start)?;
        self.pos = end;
        // Both ends are ASCII quotes, so the slice is on character boundaries.
        let inner = self.text.get(start..end - 1).unwrap_or_default();
        Ok((inner, escaped))
    }

    /// An object key (or any string), decoded: borrowed unless it has escapes.
    pub fn key(&mut self) -> Result<Cow<'a, str>> {
        let start = self.pos;
        let (inner, escaped) = self.string()?;
        if !escaped {
            return Ok(Cow::Borrowed(inner));
        }
        let quoted = self.text.get(start..self.pos).unwrap_or_default();
        let quoted = quoted.trim_start();
        serde_json::from_str::<String>(quoted).map(Cow::Owned)
    }

    /// The value at the position (after whitespace) read by `read`, with its text.
    pub fn read_text<T>(
        &mut self,
        read: impl FnOnce(&mut Self) -> Result<T>,
    ) -> Result<(Raw<'a>, T)> {
        self.ws();
        let start = self.pos;
        let value = read(self)?;
        Ok((
            Raw(self.text.get(start..self.pos).unwrap_or_default()),
            value,
        ))
    }

    /// Whether the text at the position (after whitespace) is `value`'s, byte for byte; if so the
    /// position moves past it. `value` must be a whole object or array read before (at the same
    /// depth): such a text ends where its brackets close, so the same bytes here are the same
    /// value, whatever follows them.
    pub fn skip_repeat(&mut self, value: Raw<'_>) -> bool {
        self.ws();
        let repeats = self
            .bytes()
            .get(self.pos..)
            .is_some_and(|rest| rest.starts_with(value.0.as_bytes()));
        if repeats {
            self.pos += value.0.len();
        }
        repeats
    }

    /// Skip the value at the position (after whitespace) and return its text.
    pub fn value(&mut self) -> Result<Raw<'a>> {
        self.ws();
        let start = self.pos;
        self.skip()?;
        Ok(Raw(self.text.get(start..self.pos).unwrap_or_default()))
    }

    /// The value at the position (after whitespace), only delimited: strings are found with
    /// their escapes checked and brackets are counted, but what lies between is not checked.
    /// For a value that may never be read (a hit's ranking details, read only if the merge
    /// compares the hit, and then checked whole); a scalar is skipped as [`value`] skips it.
    ///
    /// [`value`]: Self::value
    pub fn delimited(&mut self) -> Result<Raw<'a>> {
        self.ws();
        let start = self.pos;
        if !matches!(self.peek(), Some(b'{' | b'[')) {
            return self.value();
        }
        let bytes = self.bytes();
        let mut depth = 0usize;
        let mut at = start;
        while let Some(found) = next_structural(bytes, at) {
            let b = bytes.get(found).copied().unwrap_or_default();
            at = found + 1;
            match b {
                b'"' => at = string_end(bytes, at)?.0,
                b'{' | b'[' => {
                    depth += 1;
                    if self.depth + depth > MAX_DEPTH {
                        return Err(error("recursion limit exceeded", at - 1));
                    }
                }
                b'}' | b']' => {
                    depth -= 1;
                    if depth == 0 {
                        self.pos = at;
                        return Ok(Raw(self.text.get(start..at).unwrap_or_default()));
                    }
                }
                _ => {}
            }
        }
        Err(error("unterminated value", start))
    }

    /// [`delimited`](Self::delimited), for an object only.
    pub fn delimited_object(&mut self) -> Result<Raw<'a>> {
        self.ws();
        if self.peek() != Some(b'{') {
            return Err(error("expected an object", self.pos));
        }
        self.delimited()
    }

    fn skip(&mut self) -> Result<()> {
        match self.peek() {
            Some(b'"') => self.string().map(|_| ()),
            Some(b'{') => {
                let mut members = self.object()?;
                while members.next_key()?.is_some() {
                    members.scanner.skip_value()?;
                }
                Ok(())
            }
            Some(b'[') => {
                let mut items = self.array()?;
                while items.next()? {
                    items.scanner.skip_value()?;
                }
                Ok(())
            }
            Some(b't' | b'f' | b'n') => {
                self.end_at(literal_end(self.bytes(), self.pos), "invalid literal")
            }
            Some(b'-' | b'0'..=b'9') => {
                self.end_at(number_end(self.bytes(), self.pos), "invalid number")
            }
            _ => Err(error("expected a value", self.pos)),
        }
    }

    fn skip_value(&mut self) -> Result<()> {
        self.ws();
        self.skip()
    }

    /// Move to `end`, where the scalar at the position ends ([`number_end`], [`literal_end`]),
    /// or fail with `what` where there is none.
    fn end_at(&mut self, end: Option<usize>, what: &str) -> Result<()> {
        match end {
            Some(end) => {
                self.pos = end;
                Ok(())
            }
            None => Err(error(what, self.pos)),
        }
    }

    /// The members of the object at the position when it is written compactly, as Meilisearch
    /// writes a ranking rule's details: no whitespace, keys without escapes, and values that are
    /// scalars ([`scalar_end`]: strings, numbers, `null`, `true`, `false`). Each member goes to `take`
    /// (which refuses it with `false`); the position moves past the object only if every member
    /// was taken. `None`, the position unchanged, for anything else: the caller then reads the
    /// object the general way, which finds the same members and any error.
    pub fn compact_object(&mut self, mut take: impl FnMut(&'a str, Raw<'a>) -> bool) -> Option<()> {
        let bytes = self.bytes();
        let mut at = self.pos;
        if bytes.get(at) != Some(&b'{') || self.depth + 1 > MAX_DEPTH {
            return None;
        }
        at += 1;
        if bytes.get(at) == Some(&b'}') {
            self.pos = at + 1;
            return Some(());
        }
        loop {
            let (key, start) = compact_key(self.text, at)?;
            at = scalar_end(bytes, start)?;
            if !take(key, Raw(self.text.get(start..at)?)) {
                return None;
            }
            match bytes.get(at)? {
                b',' => at += 1,
                b'}' => {
                    self.pos = at + 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// The hit at the position when it is written compactly (no whitespace between its members,
    /// keys without escapes) and ends as Meilisearch ends every hit the merge asks for: with
    /// `_rankingScore` (a number) then `_rankingScoreDetails` (read by `details`, the scanner
    /// at its value) as its last members. Every other member is checked as the general reading
    /// checks it ([`skip`](Self::skip) for a nested value) but not kept: the hit's text before
    /// `_rankingScore` ([`CompactHit::head`]) is the document as the shard wrote it, and the
    /// value of the first member named `primary_key` is noted on the way. `None`, the position
    /// unchanged, for anything else (another member named `_rankingScore...`, whitespace, an
    /// escaped key, any error): the caller then reads the hit the general way, which finds the
    /// same members and any error.
    pub fn compact_hit<D>(
        &mut self,
        primary_key: Option<&str>,
        details: impl FnOnce(&mut Scanner<'a>) -> Result<D>,
    ) -> Option<CompactHit<'a, D>> {
        const DETAILS: &[u8] = b",\"_rankingScoreDetails\":";
        let bytes = self.bytes();
        let start = self.pos;
        if bytes.get(start) != Some(&b'{') || self.depth + 1 > MAX_DEPTH {
            return None;
        }
        // A nested value is read by a scanner inside the hit.
        let mut inner = self.clone();
        inner.depth += 1;
        let mut at = start + 1;
        let mut id = None;
        loop {
            let (key, value) = compact_key(self.text, at)?;
            if key.starts_with("_rankingScore") {
                if key != "_rankingScore" {
                    return None;
                }
                // Without the comma before the member, if any.
                let head = self.text.get(start..(at - 1).max(start + 1))?;
                let score_end = number_end(bytes, value)?;
                if bytes.get(score_end..score_end + DETAILS.len())? != DETAILS {
                    return None;
                }
                inner.pos = score_end + DETAILS.len();
                let details = details(&mut inner).ok()?;
                if bytes.get(inner.pos) != Some(&b'}') {
                    return None;
                }
                self.pos = inner.pos + 1;
                return Some(CompactHit {
                    head,
                    id,
                    score: Raw(self.text.get(value..score_end)?),
                    details,
                });
            }
            at = match bytes.get(value)? {
                // A list of scalars (a document's tags) in one loop, any other nested value
                // by the general reading.
                b'[' if self.depth + 2 <= MAX_DEPTH
                    && let Some(end) = compact_scalars_end(bytes, value) =>
                {
                    end
                }
                b'{' | b'[' => {
                    inner.pos = value;
                    inner.skip().ok()?;
                    inner.pos
                }
                _ => scalar_end(bytes, value)?,
            };
            if id.is_none() && primary_key == Some(key) {
                id = Some(Raw(self.text.get(value..at)?));
            }
            // A hit that closes before its scores is not one this reading takes.
            if bytes.get(at) != Some(&b',') {
                return None;
            }
            at += 1;
        }
    }

    fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(error("recursion limit exceeded", self.pos));
        }
        Ok(())
    }

    /// Enter the object at the position: its members follow through [`Members`].
    pub fn object(&mut self) -> Result<Members<'_, 'a>> {
        self.eat(b'{', "expected an object")?;
        self.enter()?;
        Ok(Members {
            scanner: self,
            first: true,
            done: false,
        })
    }

    /// Enter the array at the position: its items follow through [`Items`].
    pub fn array(&mut self) -> Result<Items<'_, 'a>> {
        self.eat(b'[', "expected an array")?;
        self.enter()?;
        Ok(Items {
            scanner: self,
            items: ItemState::default(),
        })
    }
}

/// A hit read by [`Scanner::compact_hit`].
#[derive(Debug)]
pub(crate) struct CompactHit<'a, D> {
    /// The hit's text from its opening brace up to its `_rankingScore` member, without the
    /// comma before it: the hit as the client gets it, once closed, when it sees neither
    /// scores nor details and no field is to be stripped.
    pub head: &'a str,
    /// The raw value of the first member named as the primary key.
    pub id: Option<Raw<'a>>,
    /// The raw `_rankingScore`.
    pub score: Raw<'a>,
    pub details: D,
}

/// The items of one array, delimited one at a time and only when asked for, over the array's
/// text alone (`[` to `]`): a cursor that can be kept, unlike [`Items`], which borrows its
/// scanner. Each item must be an object ([`Scanner::delimited_object`]).
pub(crate) struct ObjectCursor<'a> {
    scanner: Scanner<'a>,
    items: ItemState,
}

impl<'a> ObjectCursor<'a> {
    /// `array` is the array's whole text; `depth` the nesting of the array itself (an answer's
    /// `hits` is at 2), so that the depth limit counts as in a whole reading.
    pub fn new(array: &'a str, depth: usize) -> Result<Self> {
        let mut scanner = Scanner::new(array);
        scanner.eat(b'[', "expected an array")?;
        scanner.depth = depth.saturating_sub(1);
        scanner.enter()?;
        Ok(ObjectCursor {
            scanner,
            items: ItemState::default(),
        })
    }

    /// The next item read by `read` (in the same scan), with its text; when `read` refuses it,
    /// only delimited (`None` beside the text). `None` after the closing bracket.
    pub fn next_read<T>(
        &mut self,
        read: impl FnOnce(&mut Scanner<'a>) -> Result<T>,
    ) -> Result<Option<(Raw<'a>, Option<T>)>> {
        if !self.advance()? {
            return Ok(None);
        }
        let s = &mut self.scanner;
        s.ws();
        let start = s.pos;
        let mut trial = s.clone();
        if s.peek() == Some(b'{')
            && let Ok(value) = read(&mut trial)
        {
            let text = Raw(s.text.get(start..trial.pos).unwrap_or_default());
            *s = trial;
            return Ok(Some((text, Some(value))));
        }
        s.delimited_object().map(|text| Some((text, None)))
    }

    /// Past the comma before the next item: whether one follows (after the closing bracket,
    /// which must end the text, none does).
    fn advance(&mut self) -> Result<bool> {
        if self.items.done {
            return Ok(false);
        }
        let more = self.items.next(&mut self.scanner)?;
        if !more {
            self.scanner.end()?;
        }
        Ok(more)
    }
}

/// A search answer split around its `hits` array without reading the hits: the members before
/// `hits` read forward, the members after it read backward from the end up to `query`, which
/// Meilisearch writes right after `hits`, and a cursor over the hits that delimits them only as
/// far as the merge asks. The members are read whole ([`Scanner::value`]), and so checked; the
/// hits never asked for are not read at all.
///
/// `None` for anything else (no `query` after `hits`, a repeated key, a malformed end): the
/// caller then reads the answer whole. Reading backward is exact on valid JSON: a quote inside a
/// string is escaped by an odd number of backslashes, so a string's opening quote is the first
/// quote before its end that is not.
pub(crate) struct Split<'a> {
    /// The members other than `hits`, in the answer's order.
    pub members: Vec<(Cow<'a, str>, Raw<'a>)>,
    pub hits: ObjectCursor<'a>,
}

pub(crate) fn split_hits(text: &str) -> Option<Split<'_>> {
    let bytes = text.as_bytes();
    let mut s = Scanner::new(text);
    let mut members = Vec::new();
    let start = {
        let mut object = s.object().ok()?;
        loop {
            let key = object.next_key().ok()??;
            if key == "hits" {
                break;
            }
            let value = object.scanner.value().ok()?;
            members.push((key, value));
        }
        object.scanner.ws();
        object.scanner.pos
    };
    if bytes.get(start) != Some(&b'[') {
        return None;
    }
    let last = back_ws(bytes, bytes.len()).checked_sub(1)?;
    if bytes.get(last) != Some(&b'}') {
        return None;
    }
    let mut at = last;
    let mut tail: Vec<(Cow<'_, str>, Raw<'_>)> = Vec::new();
    let end = loop {
        let value_end = back_ws(bytes, at);
        let value_start = back_value(bytes, value_end)?;
        let colon = back_ws(bytes, value_start).checked_sub(1)?;
        if bytes.get(colon) != Some(&b':') {
            return None;
        }
        let key_end = back_ws(bytes, colon);
        let key_start = back_string(bytes, key_end)?;
        // A key without escapes is its text between the quotes, a scalar is checked in place;
        // anything else is read as a forward reading reads it.
        let key = match text.get(key_start..key_end)? {
            quoted if !quoted.as_bytes().contains(&b'\\') && quoted.len() >= 2 => {
                Cow::Borrowed(quoted.get(1..quoted.len() - 1)?)
            }
            quoted => whole(quoted, |s| s.key()).ok()?,
        };
        let value = match text.get(value_start..value_end)? {
            scalar if scalar_end(scalar.as_bytes(), 0) == Some(scalar.len()) => Raw(scalar),
            nested => whole(nested, |s| s.value()).ok()?,
        };
        let repeated = key == "hits"
            || members.iter().any(|(k, _)| *k == key)
            || tail.iter().any(|(k, _)| *k == key);
        if repeated {
            return None;
        }
        let stop = key == "query";
        tail.push((key, value));
        let comma = back_ws(bytes, key_start).checked_sub(1)?;
        if bytes.get(comma) != Some(&b',') {
            return None;
        }
        if stop {
            break back_ws(bytes, comma);
        }
        at = comma;
    };
    if end <= start + 1 || bytes.get(end - 1) != Some(&b']') {
        return None;
    }
    tail.reverse();
    members.extend(tail);
    let hits = ObjectCursor::new(text.get(start..end)?, 2).ok()?;
    Some(Split { members, hits })
}

/// `at` moved back over whitespace.
fn back_ws(bytes: &[u8], mut at: usize) -> usize {
    while at > 0 && matches!(bytes.get(at - 1), Some(b' ' | b'\n' | b'\t' | b'\r')) {
        at -= 1;
    }
    at
}

/// Where the string ending (closing quote included) just before `end` opens.
fn back_string(bytes: &[u8], end: usize) -> Option<usize> {
    let mut before = end.checked_sub(1)?;
    if bytes.get(before) != Some(&b'"') {
        return None;
    }
    loop {
        let quote = memchr::memrchr(b'"', bytes.get(..before)?)?;
        let mut k = quote;
        while k > 0 && bytes.get(k - 1) == Some(&b'\\') {
            k -= 1;
        }
        if (quote - k) % 2 == 0 {
            return Some(quote);
        }
        before = quote;
    }
}

/// Where the value ending just before `end` starts (checked afterwards, read forward).
fn back_value(bytes: &[u8], end: usize) -> Option<usize> {
    match bytes.get(end.checked_sub(1)?)? {
        b'"' => back_string(bytes, end),
        b'}' | b']' => {
            let mut at = end;
            let mut depth = 0usize;
            while at > 0 {
                at -= 1;
                match bytes.get(at)? {
                    b'"' => at = back_string(bytes, at + 1)?,
                    b'}' | b']' => depth += 1,
                    b'{' | b'[' => {
                        depth = depth.checked_sub(1)?;
                        if depth == 0 {
                            return Some(at);
                        }
                    }
                    _ => {}
                }
            }
            None
        }
        _ => {
            let mut at = end;
            while at > 0
                && !matches!(
                    bytes.get(at - 1),
                    Some(
                        b',' | b':'
                            | b'{'
                            | b'['
                            | b'}'
                            | b']'
                            | b'"'
                            | b' '
                            | b'\n'
                            | b'\t'
                            | b'\r'
                    )
                )
            {
                at -= 1;
            }
            (at < end).then_some(at)
        }
    }
}

/// An object's members, one at a time: [`next_key`](Members::next_key), then the caller reads
/// the value ([`Scanner::value`], or a nested object or array) before asking for the next key.
pub(crate) struct Members<'s, 'a> {
    pub scanner: &'s mut Scanner<'a>,
    first: bool,
    done: bool,
}

impl<'a> Members<'_, 'a> {
    /// The next key (its colon eaten), or `None` after the closing brace.
    pub fn next_key(&mut self) -> Result<Option<Cow<'a, str>>> {
        if self.done {
            return Ok(None);
        }
        let s = &mut *self.scanner;
        s.ws();
        match s.peek() {
            Some(b'}') => {}
            Some(b',') if !self.first => {
                s.pos += 1;
                let key = s.key()?;
                s.eat(b':', "expected `:`")?;
                return Ok(Some(key));
            }
            Some(b'"') if self.first => {
                self.first = false;
                let key = s.key()?;
                s.eat(b':', "expected `:`")?;
                return Ok(Some(key));
            }
            _ => return Err(error("expected `,` or `}`", s.pos)),
        }
        s.pos += 1;
        s.depth -= 1;
        self.done = true;
        Ok(None)
    }
}

/// An array's items, one at a time: [`next`](Items::next) says whether one follows; the caller
/// reads it before asking again.
pub(crate) struct Items<'s, 'a> {
    pub scanner: &'s mut Scanner<'a>,
    items: ItemState,
}

impl Items<'_, '_> {
    /// Whether another item follows (its comma eaten); `false` after the closing bracket.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<bool> {
        self.items.next(self.scanner)
    }
}

/// Where an array's reading stands: before its first item, between items, or past its end.
#[derive(Default)]
struct ItemState {
    started: bool,
    done: bool,
}

impl ItemState {
    /// Past the comma before the next item of the array `s` is in: whether one follows;
    /// `false` after the closing bracket (eaten, the array left).
    fn next(&mut self, s: &mut Scanner<'_>) -> Result<bool> {
        if self.done {
            return Ok(false);
        }
        s.ws();
        match s.peek() {
            Some(b']') => {
                s.pos += 1;
                s.depth -= 1;
                self.done = true;
                Ok(false)
            }
            Some(b',') if self.started => {
                s.pos += 1;
                Ok(true)
            }
            Some(_) if !self.started => {
                self.started = true;
                Ok(true)
            }
            _ => Err(error("expected `,` or `]`", s.pos)),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Skips `text` whole: `Ok` exactly when it is one JSON value (strings without raw control
    /// characters).
    fn skim(text: &str) -> Result<&str> {
        let mut s = Scanner::new(text);
        let raw = s.value()?;
        s.end()?;
        Ok(raw.get())
    }

    #[test]
    fn accepts_what_serde_json_accepts() {
        let good = [
            r#"{"a": [1, -2.5e+3, 0, 0.1, 1E9, true, false, null], "b": {"c": "d\"\\\/\b\f\n\r\t\u00e9"}}"#,
            r#"  [ ]  "#,
            r#"{}"#,
            r#""é""#,
            "-0",
            r#"[{"a":[[[]]]},{"":""}]"#,
        ];
        for text in good {
            assert!(
                serde_json::from_str::<serde_json::Value>(text).is_ok(),
                "{text}"
            );
            assert_eq!(skim(text).unwrap(), text.trim(), "{text}");
        }
    }

    #[test]
    fn refuses_what_serde_json_refuses() {
        let bad = [
            r#"{"a" 1}"#,
            r#"{"a": 1,}"#,
            r#"[1,]"#,
            r#"[,1]"#,
            r#"{,"a":1}"#,
            r#"[1 2]"#,
            r#"{"a": 01}"#,
            r#"{"a": 1.}"#,
            r#"{"a": .5}"#,
            r#"{"a": 1e}"#,
            r#"{"a": -}"#,
            r#"{"a": tru}"#,
            r#"{"a": nul}"#,
            r#"{"a": "\x"}"#,
            r#"{"a": "\u12g4"}"#,
            r#"{"a": "open}"#,
            r#"{"a": 1} x"#,
            r#"{"a": [1}"#,
            r#"{"a": {1: 2}}"#,
            r#"{1}"#,
            "",
            "[",
        ];
        for text in bad {
            assert!(
                serde_json::from_str::<serde_json::Value>(text).is_err(),
                "{text}"
            );
            assert!(skim(text).is_err(), "{text}");
        }
    }

    #[test]
    fn fields_decode_as_serde_decodes_an_option() {
        let raw = |t: &'static str| Raw(t);
        assert_eq!(uint(raw("17")).unwrap(), Some(17));
        assert_eq!(uint(raw("null")).unwrap(), None);
        for bad in [
            "-1",
            "1.0",
            "1e2",
            "+1",
            "01",
            "\"1\"",
            "18446744073709551616",
        ] {
            assert!(uint(raw(bad)).is_err(), "{bad}");
            assert!(serde_json::from_str::<Option<u64>>(bad).is_err(), "{bad}");
        }
        for good in [
            "0.9876543210987654",
            "0.6666666666666666",
            "0.3333333333333333",
            "1",
            "-0",
            "-0.0",
            "-2.5e-3",
            "0.50",
            "12345678901234567890",
            "9007199254740993.5",
            "0.1234567890123456789012345",
            // Digits past 2^53 (serde_json rounds them to `f64`, then scales).
            "0.12345678901234567",
            "0.99999999999999999",
            "18446744073709551615",
            "1844674407370955161.5",
            "0.18446744073709551615",
            "0.18446744073709551616",
            "9007199254740993",
            "-900719925474099.35",
            "null",
        ] {
            let ours = float(raw(good)).unwrap().map(f64::to_bits);
            let theirs = serde_json::from_str::<Option<f64>>(good).unwrap();
            assert_eq!(ours, theirs.map(f64::to_bits), "{good}");
        }
        // Text that is not a JSON number is refused as serde_json refuses it.
        for bad in [
            "\"1\"", "-", "", "1.", ".5", "-.5", "01", "-01.5", "00", "1.2.3", "1e",
        ] {
            assert!(float(raw(bad)).is_err(), "{bad}");
            assert!(serde_json::from_str::<Option<f64>>(bad).is_err(), "{bad}");
        }
        assert_eq!(
            text(raw("\"exactMatch\"")).unwrap().as_deref(),
            Some("exactMatch")
        );
        assert_eq!(text(raw(r#""a\"b""#)).unwrap().as_deref(), Some("a\"b"));
        assert_eq!(text(raw("null")).unwrap(), None);
        assert!(text(raw("3")).is_err());
        assert_eq!(not_null(raw("null")), None);
        assert_eq!(not_null(raw("[1]")), Some(raw("[1]")));
    }

    #[test]
    fn long_strings_are_found_past_the_first_bytes() {
        let long = format!("\"{}\\\"{}\"", "x".repeat(40), "é".repeat(30));
        assert_eq!(skim(&long).unwrap(), long);
        let open = format!("\"{}", "x".repeat(40));
        assert!(skim(&open).is_err());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4096))]
        /// A number as the merge reads it (ranking scores, sort values, facet stats) is
        /// serde_json's value to the bit: decimals of up to 22 integer and 25 fraction digits,
        /// signed or not, with or without an exponent (digits past a `u64` included).
        #[test]
        fn a_number_reads_as_serde_json_reads_it(
            negative in proptest::bool::ANY,
            whole in "(0|[1-9][0-9]{0,21})",
            fraction in proptest::option::of("[0-9]{1,25}"),
            exponent in proptest::option::of("[eE][+-]?[0-9]{1,3}"),
        ) {
            let text = format!(
                "{}{whole}{}{}",
                if negative { "-" } else { "" },
                fraction.map(|f| format!(".{f}")).unwrap_or_default(),
                exponent.unwrap_or_default(),
            );
            let theirs = serde_json::from_str::<f64>(&text).ok().map(f64::to_bits);
            let ours = float(Raw(&text)).ok().flatten().map(f64::to_bits);
            proptest::prop_assert_eq!(ours, theirs, "{}", text);
        }
    }

    proptest::proptest! {
        /// Text made of JSON's own characters: the scanner takes exactly what serde_json takes.
        #[test]
        fn agrees_with_serde_json(text in r#"[ \[\]{}:,"\\a-c0-9.eE+\-ntrufls/]{0,40}"#) {
            let theirs = serde_json::from_str::<serde_json::Value>(&text).is_ok();
            proptest::prop_assert_eq!(skim(&text).is_ok(), theirs, "{}", text);
        }

        /// Any answer with `query` right after `hits` splits into what a whole reading gives,
        /// however its values and whitespace are written.
        #[test]
        fn splitting_agrees_with_a_whole_reading(
            before in proptest::collection::btree_map("[a-g]{1,3}", json_value(), 0..2),
            hits in proptest::collection::vec(
                proptest::collection::btree_map("\\PC{0,6}", json_value(), 0..5), 0..5),
            query in "\\PC{0,12}",
            after in proptest::collection::btree_map("[h-z]{1,3}", json_value(), 0..5),
            pretty in proptest::bool::ANY,
        ) {
            let write = |v: &serde_json::Value| if pretty {
                serde_json::to_string_pretty(v).unwrap()
            } else {
                v.to_string()
            };
            let key = |k: &str| serde_json::Value::from(k).to_string();
            let mut text = String::from(if pretty { "{\n " } else { "{" });
            for (k, v) in &before {
                text += &format!("{}: {},\n", key(k), write(v));
            }
            let hits: Vec<serde_json::Value> = hits
                .into_iter()
                .map(|m| serde_json::Value::Object(m.into_iter().collect()))
                .collect();
            text += &format!("\"hits\": {} , \"query\":{}", write(&serde_json::Value::from(hits.clone())), key(&query));
            for (k, v) in &after {
                text += &format!(", {}:{}", key(k), write(v));
            }
            text += if pretty { "\n}\n" } else { "}" };
            let split = read_split(&text);
            proptest::prop_assert!(split.is_some(), "{}", text);
            proptest::prop_assert_eq!(split.unwrap(), read_whole(&text));
        }

        /// Valid JSON, however built, is taken whole.
        #[test]
        fn takes_any_value_serde_json_writes(value in json_value()) {
            let text = value.to_string();
            proptest::prop_assert_eq!(skim(&text).ok(), Some(text.as_str()));
        }
    }

    /// An answer's members other than `hits` (key, value text), and its hits' texts.
    type Parts = (Vec<(String, String)>, Vec<String>);

    /// An answer read whole: its members other than `hits`, and its hits delimited.
    fn read_whole(text: &str) -> Parts {
        let mut s = Scanner::new(text);
        let mut members = s.object().unwrap();
        let (mut other, mut hits) = (Vec::new(), Vec::new());
        while let Some(key) = members.next_key().unwrap() {
            if key == "hits" {
                let mut items = members.scanner.array().unwrap();
                while items.next().unwrap() {
                    hits.push(items.scanner.delimited_object().unwrap().get().to_owned());
                }
            } else {
                other.push((
                    key.into_owned(),
                    members.scanner.value().unwrap().get().to_owned(),
                ));
            }
        }
        (other, hits)
    }

    /// The same answer split: its members, and every hit the cursor gives.
    fn read_split(text: &str) -> Option<Parts> {
        let mut split = split_hits(text)?;
        let members = split
            .members
            .iter()
            .map(|(k, v)| (k.to_string(), v.get().to_owned()))
            .collect();
        let mut hits = Vec::new();
        while let Some(hit) = delimit(&mut split.hits).unwrap() {
            hits.push(hit.to_owned());
        }
        Some((members, hits))
    }

    /// The cursor's next item only delimited (read by a reader that refuses everything).
    fn delimit<'a>(cursor: &mut ObjectCursor<'a>) -> Result<Option<&'a str>> {
        let next = cursor.next_read(|_| Err::<(), _>(invalid(format_args!("refused"))))?;
        Ok(next.map(|(text, _)| text.get()))
    }

    fn split_texts(text: &str) -> Vec<String> {
        read_whole(text).1
    }

    #[test]
    fn an_answer_splits_around_its_hits() {
        let text = r#" {"hits": [ {"id": 1, "s": "]\"},{"} , {"id": 2, "t": ["\\", {"u": "\"\\\""}]} ],
            "query" : "a \"b\" \\" , "processingTimeMs":3,"limit":20, "offset":0,
            "estimatedTotalHits":2,"facetDistribution":{"g":{"x\"}":1}},"facetStats":{},
            "requestUid":"r","semanticHitCount":0} "#;
        let split = read_split(text).unwrap();
        assert_eq!(split, read_whole(text));
        assert_eq!(split.1.len(), 2);
        assert_eq!(split.0.first().unwrap().1, r#""a \"b\" \\""#);
        assert_eq!(split.0.last().unwrap().0, "semanticHitCount");
        // Read in the same scan where the reader can, else only delimited; the same texts.
        let mut split = split_hits(text).unwrap();
        let keys = |s: &mut Scanner<'_>| {
            let mut members = s.object()?;
            let mut keys = Vec::new();
            while let Some(key) = members.next_key()? {
                if key == "t" {
                    return Err(invalid(format_args!("refused")));
                }
                keys.push(key.into_owned());
                members.scanner.value()?;
            }
            Ok(keys)
        };
        let (first, read) = split.hits.next_read(keys).unwrap().unwrap();
        assert_eq!(
            (first.get(), read),
            (
                r#"{"id": 1, "s": "]\"},{"}"#,
                Some(vec!["id".into(), "s".into()])
            )
        );
        let (second, read) = split.hits.next_read(keys).unwrap().unwrap();
        assert_eq!((second.get(), read), (split_texts(text)[1].as_str(), None));
        assert!(split.hits.next_read(keys).unwrap().is_none());
        let empty = r#"{"hits":[],"query":"","estimatedTotalHits":0}"#;
        assert_eq!(read_split(empty).unwrap(), read_whole(empty));
        let before = r#"{"x":[1],"hits":[{}],"query":"q","estimatedTotalHits":1}"#;
        assert_eq!(read_split(before).unwrap(), read_whole(before));
    }

    #[test]
    fn an_answer_of_another_shape_is_not_split() {
        for text in [
            r#"{"hits":[],"estimatedTotalHits":0}"#,
            r#"{"query":"q","hits":[],"estimatedTotalHits":0}"#,
            r#"{"hits":[],"query":"q","query":"r"}"#,
            r#"{"hits":[],"query":"q","hits":[]}"#,
            r#"{"hits":[],"query":"q","n":1x}"#,
            r#"{"hits":[],"query":"q","n":1"#,
            r#"{"hits":{},"query":"q"}"#,
            r#"{"hits":[] "query":"q"}"#,
            r#"["hits",[],"query","q"]"#,
        ] {
            assert!(split_hits(text).is_none(), "{text}");
        }
        // The end of the hits is found from the end of the answer; what lies between is only
        // read as far as asked, and a malformed hit is found when reached.
        let text = r#"{"hits":[{"a":1},{"b":"x],"query":"q","estimatedTotalHits":1}"#;
        let mut split = split_hits(text).unwrap();
        assert_eq!(delimit(&mut split.hits).unwrap().unwrap(), r#"{"a":1}"#);
        assert!(delimit(&mut split.hits).is_err());
        // An array member between `hits` and `query` (Meilisearch writes none) is taken for the
        // end of the hits: the hits before it are still the right ones, and the cursor fails
        // where the real hits end (the merge then reads the answer whole).
        let text = r#"{"hits":[{"a":1}],"v":[1],"query":"q"}"#;
        let mut split = split_hits(text).unwrap();
        assert_eq!(delimit(&mut split.hits).unwrap().unwrap(), r#"{"a":1}"#);
        assert!(delimit(&mut split.hits).is_err());
    }

    fn json_value() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(serde_json::Value::from),
            "\\PC{0,12}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
                proptest::collection::btree_map("\\PC{0,6}", inner, 0..6)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    #[test]
    fn delimited_values_end_where_their_brackets_close() {
        let text = r#"{"d": {"w": {"s": "}\"]"}, "x": [1, {"y": 2}]}, "n": 1}"#;
        let mut s = Scanner::new(text);
        let mut members = s.object().unwrap();
        assert_eq!(members.next_key().unwrap().as_deref(), Some("d"));
        let d = members.scanner.delimited().unwrap();
        assert_eq!(d.get(), r#"{"w": {"s": "}\"]"}, "x": [1, {"y": 2}]}"#);
        assert_eq!(members.next_key().unwrap().as_deref(), Some("n"));
        assert_eq!(members.scanner.delimited().unwrap().get(), "1");
        assert_eq!(members.next_key().unwrap(), None);
        for bad in [r#"{"a": [1, 2}"#, r#"{"a": "\q"}"#, "[[[", r#"{"a": "x"#] {
            let mut s = Scanner::new(bad);
            assert!(s.delimited().and_then(|_| s.end()).is_err(), "{bad}");
        }
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert!(Scanner::new(&deep).delimited().is_err());
    }

    #[test]
    fn words_find_the_first_byte_wherever_it_is() {
        for len in 0..40 {
            for at in 0..len {
                for special in [b'"', b'\\'] {
                    let mut text = vec![b'a'; len];
                    text[at] = special;
                    if at + 1 < len {
                        // A later match, and bytes whose borrow could mislead a lower lane.
                        text[len - 1] = b'"';
                    }
                    for from in 0..=at {
                        assert_eq!(
                            quote_or_backslash(&text, from),
                            Some(at),
                            "{len} {at} {from}"
                        );
                    }
                }
                for special in [b'{', b'}', b'[', b']', b'"'] {
                    let mut text = vec![b'\x01'; len];
                    text[at] = special;
                    assert_eq!(next_structural(&text, 0), Some(at), "{len} {at}");
                }
            }
            assert_eq!(quote_or_backslash(&vec![b'a'; len], 0), None);
            assert_eq!(next_structural(&vec![b'z'; len], 0), None);
        }
        // Every other byte value is passed over.
        let all: Vec<u8> = (0..=255u8)
            .filter(|b| !matches!(b, b'"' | b'\\' | b'{' | b'}' | b'[' | b']'))
            .collect();
        assert_eq!(quote_or_backslash(&all, 0), None);
        assert_eq!(next_structural(&all, 0), None);
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert!(skim(&deep).is_err());
        let fine = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(skim(&fine).is_ok());
    }

    #[test]
    fn keys_are_decoded_and_values_kept_as_text() {
        let text = r#"{"a\"b": {"x": [1, 2]}, "c": "v"}"#;
        let mut s = Scanner::new(text);
        let mut members = s.object().unwrap();
        let mut seen = Vec::new();
        while let Some(key) = members.next_key().unwrap() {
            let value = members.scanner.value().unwrap();
            seen.push((key.into_owned(), value.get()));
        }
        assert_eq!(
            seen,
            [
                ("a\"b".to_owned(), r#"{"x": [1, 2]}"#),
                ("c".to_owned(), r#""v""#)
            ]
        );
        s.end().unwrap();
    }
}
