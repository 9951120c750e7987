//! CSV, record by record, as Meilisearch reads it: the first record names the fields, a header
//! `name:number` / `name:boolean` / `name:string` types its column (anything else after the
//! last `:` keeps the whole header as the name of a string field), empty values are `null`, and
//! every record must have as many fields as the header. Errors carry the `csv` crate's and
//! Meilisearch's messages.
//!
//! `csv_core` is a push parser, so a record (quoted newlines and all) may arrive in any number of
//! pieces; only the record being read is held.

use csv_core::{ReadRecordResult, Reader, ReaderBuilder};
use serde_json::{Map, Value};

use super::{ParseError, Sink};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    String,
    Number,
    Boolean,
}

fn parse_header(header: &str) -> (String, Kind) {
    match header.rsplit_once(':') {
        Some((name, "string")) => (name.to_string(), Kind::String),
        Some((name, "number")) => (name.to_string(), Kind::Number),
        Some((name, "boolean")) => (name.to_string(), Kind::Boolean),
        _ => (header.to_string(), Kind::String),
    }
}

const BOM: &[u8] = b"\xef\xbb\xbf";

pub(crate) struct CsvParser {
    reader: Reader,
    out: Vec<u8>,
    outlen: usize,
    ends: Vec<usize>,
    endlen: usize,
    /// The first bytes, held until there are enough to recognise a UTF-8 BOM (which `csv_core`
    /// strips only when it sees all three bytes in its first input).
    head: Vec<u8>,
    started: bool,
    headers: Option<Vec<(String, Kind)>>,
    /// The `csv` crate's position of the record being read: its index (the header is 0), line
    /// and byte offset where it starts.
    record: u64,
    record_line: u64,
    record_byte: u64,
    consumed: u64,
    /// Meilisearch's count of data records, used in its type errors.
    data_line: u64,
    json: Vec<u8>,
    max: usize,
}

impl CsvParser {
    pub(crate) fn new(delimiter: u8, max: usize) -> Self {
        CsvParser {
            reader: ReaderBuilder::new().delimiter(delimiter).build(),
            out: vec![0; 4096],
            outlen: 0,
            ends: vec![0; 64],
            endlen: 0,
            head: Vec::new(),
            started: false,
            headers: None,
            record: 0,
            record_line: 1,
            record_byte: 0,
            consumed: 0,
            data_line: 0,
            json: Vec::new(),
            max,
        }
    }

    fn malformed(detail: &str) -> ParseError {
        ParseError::Malformed(format!(
            "The `csv` payload provided is malformed: `{detail}`."
        ))
    }

    pub(crate) fn feed(&mut self, input: &[u8], sink: &mut Sink<'_>) -> Result<(), ParseError> {
        if self.started {
            return self.run(input, false, sink);
        }
        self.head.extend_from_slice(input);
        let may_be_bom = self.head.len() < BOM.len() && BOM.starts_with(&self.head);
        if may_be_bom {
            return Ok(());
        }
        self.started = true;
        let head = std::mem::take(&mut self.head);
        self.run(&head, false, sink)
    }

    pub(crate) fn finish(&mut self, sink: &mut Sink<'_>) -> Result<(), ParseError> {
        if !self.started {
            self.started = true;
            let head = std::mem::take(&mut self.head);
            self.run(&head, false, sink)?;
        }
        self.run(&[], true, sink)
    }

    /// Drive `csv_core` over `input`; with `eof`, an empty input tells it the data ended.
    fn run(&mut self, mut input: &[u8], eof: bool, sink: &mut Sink<'_>) -> Result<(), ParseError> {
        loop {
            if input.is_empty() && !eof {
                return Ok(());
            }
            let (result, nin, nout, nend) = self.reader.read_record(
                input,
                &mut self.out[self.outlen..],
                &mut self.ends[self.endlen..],
            );
            input = &input[nin..];
            self.consumed += nin as u64;
            self.outlen += nout;
            self.endlen += nend;
            match result {
                ReadRecordResult::InputEmpty => {
                    if eof {
                        // csv_core asks for more even at the end only when nothing is pending.
                        return Ok(());
                    }
                }
                ReadRecordResult::OutputFull => {
                    if self.out.len() > self.max {
                        return Err(ParseError::DocumentTooLarge {
                            size: self.out.len(),
                            limit: self.max,
                        });
                    }
                    let len = self.out.len() * 2;
                    self.out.resize(len, 0);
                }
                ReadRecordResult::OutputEndsFull => {
                    let len = self.ends.len() * 2;
                    self.ends.resize(len, 0);
                }
                ReadRecordResult::Record => {
                    self.record_done(sink)?;
                    self.outlen = 0;
                    self.endlen = 0;
                    self.record += 1;
                    self.record_line = self.reader.line();
                    self.record_byte = self.consumed;
                }
                ReadRecordResult::End => return Ok(()),
            }
        }
    }

    fn fields(&self) -> Vec<&[u8]> {
        let mut start = 0;
        let mut fields = Vec::with_capacity(self.endlen);
        for &end in self.ends.get(..self.endlen).unwrap_or_default() {
            fields.push(self.out.get(start..end).unwrap_or_default());
            start = end;
        }
        fields
    }

    fn utf8<'a>(&self, field_index: usize, bytes: &'a [u8]) -> Result<&'a str, ParseError> {
        std::str::from_utf8(bytes).map_err(|e| {
            Self::malformed(&format!(
                "CSV parse error: record {} (line {}, field: {field_index}, byte: {}): invalid utf-8: invalid UTF-8 in field {field_index} near byte index {}",
                self.record,
                self.record_line,
                self.record_byte,
                e.valid_up_to()
            ))
        })
    }

    fn record_done(&mut self, sink: &mut Sink<'_>) -> Result<(), ParseError> {
        let fields = self.fields();
        let Some(headers) = &self.headers else {
            let mut headers = Vec::with_capacity(fields.len());
            for (i, field) in fields.iter().enumerate() {
                headers.push(parse_header(self.utf8(i, field)?));
            }
            self.headers = Some(headers);
            return Ok(());
        };
        if fields.len() != headers.len() {
            return Err(Self::malformed(&format!(
                "CSV error: record {} (line: {}, byte: {}): found record with {} fields, but the previous record has {} fields",
                self.record,
                self.record_line,
                self.record_byte,
                fields.len(),
                headers.len()
            )));
        }
        let line = self.data_line + 1;
        let mut object = Map::with_capacity(headers.len());
        for (name, _) in headers {
            object.insert(name.clone(), Value::Null);
        }
        for (i, ((name, kind), field)) in headers.iter().zip(&fields).enumerate() {
            let raw = self.utf8(i, field)?;
            let trimmed = raw.trim();
            let value = match kind {
                Kind::Number if trimmed.is_empty() => Value::Null,
                Kind::Number => match trimmed.parse::<i64>() {
                    Ok(n) => Value::from(n),
                    Err(_) => match trimmed.parse::<f64>() {
                        Ok(f) => Value::from(f),
                        Err(e) => {
                            return Err(Self::malformed(&format!(
                                "Error parsing number {raw:?} at line {line}: {e}"
                            )));
                        }
                    },
                },
                Kind::Boolean if trimmed.is_empty() => Value::Null,
                Kind::Boolean => match trimmed.parse::<bool>() {
                    Ok(b) => Value::Bool(b),
                    Err(e) => {
                        return Err(Self::malformed(&format!(
                            "Error parsing boolean {raw:?} at line {line}: {e}"
                        )));
                    }
                },
                Kind::String if raw.is_empty() => Value::Null,
                Kind::String => Value::String(raw.to_string()),
            };
            object.insert(name.clone(), value);
        }
        self.data_line = line;
        self.json.clear();
        serde_json::to_writer(&mut self.json, &object)
            .map_err(|e| Self::malformed(&e.to_string()))?;
        if self.json.len() > self.max {
            return Err(ParseError::DocumentTooLarge {
                size: self.json.len(),
                limit: self.max,
            });
        }
        sink(&self.json)
    }
}
