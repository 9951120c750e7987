//! JSON kept as the shards wrote it: an object's top-level members with their values left as raw
//! text ([`Raw`], borrowed from the answer's bytes), and the few edits the merge makes to a
//! hit (drop a field, nested or not) done on that text.
//!
//! Why: a merged search answer is mostly documents, and the merge needs none of their fields but
//! the ranking details, the primary key and the distinct attribute. Scanning an object's members
//! without building them ([`crate::scan`] still checks the text's structure) and writing the
//! kept bytes back out costs a fraction of decoding every document into `serde_json::Value` and
//! encoding it again.

use std::borrow::Cow;

use serde::Deserialize;
use serde::de;
use serde_json::Value;

pub(crate) use crate::scan::Raw;
use crate::scan::{self, Scanner};

/// A JSON object's members in their order, values unparsed.
#[derive(Debug, Default)]
pub(crate) struct RawObject<'a> {
    pub members: Vec<(Cow<'a, str>, Raw<'a>)>,
}

/// What can be read from a [`Scanner`]'s position: the shards' answers are read with the
/// scanner, not serde_json, so that the documents they carry are skipped, not parsed.
pub(crate) trait Scan<'a>: Sized {
    fn scan(s: &mut Scanner<'a>) -> scan::Result<Self>;

    /// [`scan`](Self::scan) for an item of a list (a hit of `hits`), after `last`, the
    /// ranking details of the item before it (a hit that decodes its details may skip reading
    /// the same text again, [`RankedHit::scan_after`]).
    fn scan_item(
        s: &mut Scanner<'a>,
        last: &mut crate::compare::LastDetails<'a>,
    ) -> scan::Result<Self> {
        let _ = last;
        Self::scan(s)
    }
}

impl<'a> Scan<'a> for RawObject<'a> {
    fn scan(s: &mut Scanner<'a>) -> scan::Result<Self> {
        let mut object = RawObject::default();
        read_members(s, &mut object, |_, _| Ok(false))?;
        Ok(object)
    }
}

/// `text` read whole as `T`: nothing but whitespace may follow it.
fn scan_whole<'a, T: Scan<'a>>(text: &'a str) -> scan::Result<T> {
    scan::whole(text, T::scan)
}

/// Read the members of the object at `s` into `object`, values unparsed, except those
/// `special` reads itself: it is shown each key first and returns `true` once it has read that
/// member's value.
fn read_members<'a>(
    s: &mut Scanner<'a>,
    object: &mut RawObject<'a>,
    mut special: impl FnMut(&str, &mut Scanner<'a>) -> scan::Result<bool>,
) -> scan::Result<()> {
    object.members.reserve(16);
    let mut members = s.object()?;
    while let Some(key) = members.next_key()? {
        if !special(&key, &mut *members.scanner)? {
            let value = members.scanner.value()?;
            object.members.push((key, value));
        }
    }
    Ok(())
}

/// A search answer read in one pass: its members other than `hits` unparsed, and each hit read
/// as `H` (its members unparsed, [`RawObject`], or with its ranking details decoded on the way,
/// [`RankedHit`]). Fails on anything else (including a `hits` that is not an array of objects);
/// the caller then reads it member by member to say what is wrong.
#[derive(Debug)]
pub(crate) struct SearchBody<'a, H = RawObject<'a>> {
    pub body: RawObject<'a>,
    pub hits: Option<Vec<H>>,
}

impl<'a, H: Scan<'a>> Scan<'a> for SearchBody<'a, H> {
    fn scan(s: &mut Scanner<'a>) -> scan::Result<Self> {
        let mut body = RawObject::default();
        let mut hits = None;
        read_members(s, &mut body, |key, s| {
            if key != "hits" || hits.is_some() {
                return Ok(false);
            }
            let mut items = s.array()?;
            let mut list = Vec::new();
            let mut last = crate::compare::LastDetails::default();
            while items.next()? {
                list.push(H::scan_item(&mut *items.scanner, &mut last)?);
            }
            hits = Some(list);
            Ok(true)
        })?;
        Ok(SearchBody { body, hits })
    }
}

impl<'a, H: Scan<'a>> SearchBody<'a, H> {
    pub fn parse_slice(bytes: &'a [u8]) -> Result<SearchBody<'a, H>, serde_json::Error> {
        scan_whole(utf8(bytes)?)
    }
}

/// A hit whose `_rankingScoreDetails` is decoded where it stands ([`crate::compare::OnePass`])
/// instead of being kept as text and read again: for a client that does not show the details,
/// whose answer never holds them. The other members stay unparsed; the details are not among
/// them. Fails where [`crate::compare::OnePass`] cannot read the details (the caller then
/// reads the answer the slower way).
#[derive(Debug)]
pub(crate) struct RankedHit<'a> {
    pub doc: RawObject<'a>,
    pub details: Option<crate::compare::OnePass>,
}

impl<'a> Scan<'a> for RankedHit<'a> {
    fn scan(s: &mut Scanner<'a>) -> scan::Result<Self> {
        let (doc, details) = read_hit(s, crate::compare::OnePass::read)?;
        Ok(RankedHit { doc, details })
    }

    fn scan_item(
        s: &mut Scanner<'a>,
        last: &mut crate::compare::LastDetails<'a>,
    ) -> scan::Result<Self> {
        RankedHit::scan_after(s, last)
    }
}

impl<'a> RankedHit<'a> {
    /// The hit in `text`, whole.
    pub fn parse(text: &'a str) -> Result<RankedHit<'a>, serde_json::Error> {
        scan_whole(text)
    }

    /// [`Scan::scan`], with the details read after `last`, the previous hit's of the same
    /// answer ([`crate::compare::OnePass::read_after`]).
    pub fn scan_after(
        s: &mut Scanner<'a>,
        last: &mut crate::compare::LastDetails<'a>,
    ) -> scan::Result<Self> {
        let (doc, details) = read_hit(s, |s| crate::compare::OnePass::read_after(s, last))?;
        Ok(RankedHit { doc, details })
    }
}

/// A hit's members, except its `_rankingScoreDetails`, which `details` reads (once: a repeated
/// one is an error).
fn read_hit<'a, D>(
    s: &mut Scanner<'a>,
    mut details: impl FnMut(&mut Scanner<'a>) -> scan::Result<D>,
) -> scan::Result<(RawObject<'a>, Option<D>)> {
    let mut doc = RawObject::default();
    let mut read = None;
    read_members(s, &mut doc, |key, s| {
        if key != "_rankingScoreDetails" {
            return Ok(false);
        }
        if read.is_some() {
            return Err(scan::invalid(format_args!(
                "duplicate field `_rankingScoreDetails`"
            )));
        }
        read = Some(details(s)?);
        Ok(true)
    })?;
    Ok((doc, read))
}

/// A hit whose `_rankingScoreDetails` is only delimited ([`Scanner::delimited`]), to be read
/// if the merge ever compares the hit: for a client that sees neither scores nor details. The
/// other members are read as [`RawObject`] reads them; the details are not among them.
#[derive(Debug)]
pub(crate) struct LazyHit<'a> {
    pub doc: RawObject<'a>,
    pub details: Option<Raw<'a>>,
}

impl<'a> Scan<'a> for LazyHit<'a> {
    fn scan(s: &mut Scanner<'a>) -> scan::Result<Self> {
        let (doc, details) = read_hit(s, Scanner::delimited)?;
        Ok(LazyHit { doc, details })
    }
}

impl<'a> LazyHit<'a> {
    /// The hit in `text`, whole.
    pub fn parse(text: &'a str) -> Result<LazyHit<'a>, serde_json::Error> {
        scan_whole(text)
    }
}

/// An object only delimited ([`Scanner::delimited`]): a hit read only if the merge compares it.
#[derive(Debug)]
pub(crate) struct DelimitedObject<'a>(pub Raw<'a>);

impl<'a> Scan<'a> for DelimitedObject<'a> {
    fn scan(s: &mut Scanner<'a>) -> scan::Result<Self> {
        s.delimited_object().map(DelimitedObject)
    }
}

/// `bytes` as text, checked once for the whole answer (the scanner then checks only structure).
fn utf8(bytes: &[u8]) -> Result<&str, serde_json::Error> {
    simdutf8::compat::from_utf8(bytes).map_err(<serde_json::Error as de::Error>::custom)
}

impl<'a> RawObject<'a> {
    /// The members of the object `text`; an error when it is not one.
    pub fn parse(text: &'a str) -> Result<RawObject<'a>, serde_json::Error> {
        scan_whole(text)
    }

    /// The members of the object in `bytes`.
    pub fn parse_slice(bytes: &'a [u8]) -> Result<RawObject<'a>, serde_json::Error> {
        scan_whole(utf8(bytes)?)
    }

    /// The raw value of `key` (the first, should the text repeat it).
    pub fn get(&self, key: &str) -> Option<Raw<'a>> {
        self.members.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
    }

    /// `key`'s value decoded as `T`; `None` when absent or of another shape.
    pub fn decode<T: Deserialize<'a>>(&self, key: &str) -> Option<T> {
        self.get(key)
            .and_then(|v| serde_json::from_str(v.get()).ok())
    }
}

/// Append `"key":` to `out`, escaped as serde_json escapes it.
pub(crate) fn write_key(out: &mut Vec<u8>, key: &str) {
    write_value(out, key);
    out.push(b':');
}

/// Append a serialisable value. Serialising into a `Vec` fails only for a map with non-string
/// keys, which nothing here writes; such a value would be written as `null`.
pub(crate) fn write_value<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    let mark = out.len();
    if serde_json::to_writer(&mut *out, value).is_err() {
        out.truncate(mark);
        out.extend_from_slice(b"null");
    }
}

/// A document (or its `_formatted`) with dotted `path` removed, as [`crate::hits`]' value path
/// removes it: the literal key `path` and, through nested objects, `a` → `b` for `a.b`, dropping
/// an object the removal leaves empty. `None` when nothing changed (or the text is not an
/// object); otherwise the new text and whether the object is now empty.
pub(crate) fn remove_path(text: &str, path: &str) -> Option<(String, bool)> {
    let object = RawObject::parse(text).ok()?;
    let mut changed = false;
    let mut kept: Vec<(&str, Cow<'_, str>)> = Vec::with_capacity(object.members.len());
    for (key, value) in &object.members {
        if key == path {
            changed = true;
            continue;
        }
        let mut replaced: Option<(String, bool)> = None;
        for (i, _) in path.match_indices('.') {
            if key != &path[..i] {
                continue;
            }
            let current = replaced.as_ref().map_or(value.get(), |(t, _)| t.as_str());
            if let Some(next) = remove_path(current, &path[i + 1..]) {
                replaced = Some(next);
            }
        }
        match replaced {
            Some((_, true)) => changed = true,
            Some((text, false)) => {
                changed = true;
                kept.push((key, Cow::Owned(text)));
            }
            None => kept.push((key, Cow::Borrowed(value.get()))),
        }
    }
    if !changed {
        return None;
    }
    let mut out = Vec::with_capacity(text.len());
    out.push(b'{');
    for (i, (key, value)) in kept.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_key(&mut out, key);
        out.extend_from_slice(value.as_bytes());
    }
    out.push(b'}');
    let empty = kept.is_empty();
    String::from_utf8(out).ok().map(|s| (s, empty))
}

/// The members of a hit that [`crate::hits::distinct_values`] and [`crate::hits::document_id`]
/// look at for `path` (the literal key and the heads of its dotted prefixes), decoded into a
/// small object; the rest of the document is not decoded.
pub(crate) fn decode_path_members(
    object: &RawObject<'_>,
    path: &str,
) -> serde_json::Map<String, Value> {
    let mut out = serde_json::Map::new();
    for (key, value) in &object.members {
        let wanted = key == path
            || path
                .match_indices('.')
                .any(|(i, _)| key.as_ref() == &path[..i]);
        if wanted
            && !out.contains_key(key.as_ref())
            && let Ok(v) = serde_json::from_str::<Value>(value.get())
        {
            out.insert(key.to_string(), v);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    /// What the general reading makes of a hit that [`Scanner::compact_hit`] would take: the
    /// first `id`, the raw `_rankingScore`, the details' reading, and the hit as written for a
    /// client that sees neither scores nor details (every other member, one by one).
    fn read_generally(
        text: &str,
    ) -> Result<(Option<String>, Option<String>, String, String), String> {
        let hit = RankedHit::parse(text).map_err(|e| e.to_string())?;
        let mut written = Vec::from(&b"{"[..]);
        for (key, value) in hit.doc.members.iter().filter(|(k, _)| k != "_rankingScore") {
            if written.len() > 1 {
                written.push(b',');
            }
            write_key(&mut written, key);
            written.extend_from_slice(value.get().as_bytes());
        }
        written.push(b'}');
        Ok((
            hit.doc.get("id").map(|v| v.get().to_owned()),
            hit.doc.get("_rankingScore").map(|v| v.get().to_owned()),
            format!("{:?}", hit.details),
            String::from_utf8(written).unwrap(),
        ))
    }

    /// [`Scanner::compact_hit`] on the whole of `text`, in the same shape.
    fn read_compactly(text: &str) -> Option<(Option<String>, Option<String>, String, String)> {
        let hit = scan::whole(text, |s| {
            s.compact_hit(Some("id"), crate::compare::OnePass::read)
                .ok_or_else(|| scan::invalid(format_args!("not compact")))
        })
        .ok()?;
        Some((
            hit.id.map(|v| v.get().to_owned()),
            Some(hit.score.get().to_owned()),
            format!("{:?}", Some(hit.details)),
            format!("{}}}", hit.head),
        ))
    }

    /// A hit as Meilisearch writes it is taken by the compact reading (which the merge then
    /// uses), and read as the general reading reads it.
    #[test]
    fn a_hit_as_meilisearch_writes_it_is_read_compactly() {
        let texts = [
            r#"{"id":8202,"name":"react-router-component","scope":null,"version":"0.40.0","major":0,"downloads":1132,"summary":"Declarative \"router\" component","tags":["component","react"],"_rankingScore":0.9848484848484849,"_rankingScoreDetails":{"words":{"order":0,"matchingWords":2,"maxMatchingWords":2,"score":1.0},"typo":{"order":1,"typoCount":0,"maxTypoCount":2,"score":1.0}}}"#,
            r#"{"name":"x","meta":{"id":1, "deep": [1, {"a": null}]},"id":"a-1","_formatted":{"name":"<em>x</em>"},"_rankingScore":1,"_rankingScoreDetails":{}}"#,
            r#"{"_rankingScore":0.5,"_rankingScoreDetails":{"sort":{"order":0,"value":3}}}"#,
        ];
        for text in texts {
            let compact = read_compactly(text);
            assert!(compact.is_some(), "{text}");
            assert_eq!(compact, read_generally(text).ok(), "{text}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4096))]
        /// The compact reading of a hit takes it only if the general reading reads it, and then
        /// finds the same primary key, score and details, and its head written out is the hit
        /// the general reading writes: whatever the members, their spacing and their errors.
        #[test]
        fn a_hit_read_compactly_reads_as_the_general_reading_reads_it(
            members in proptest::collection::vec((hit_key(), hit_value()), 0..6),
            score in proptest::sample::select(vec!["0.5", "1", "1e-3", "-0", "01", "\"0.5\"", "null"]),
            details in proptest::sample::select(vec![
                r#"{"words":{"order":0,"matchingWords":1,"maxMatchingWords":2,"score":0.5}}"#,
                r#"{"typo": {"order": 0, "typoCount": 1, "maxTypoCount": 2}}"#,
                r#"{"exactness":{"order":0,"matchType":"exactMatch","score":1.0}}"#,
                "{}",
                "[]",
                r#"{"words":{"order":0,"matchingWords":}}"#,
            ]),
            tail in proptest::sample::select(vec![0usize, 1, 2, 3]),
            spaced in proptest::bool::ANY,
        ) {
            let mut body: Vec<String> = members.iter().map(|(k, v)| format!("{k}:{v}")).collect();
            match tail {
                // The scores as Meilisearch writes them, the other way round, one alone, none.
                0 => body.extend([format!(r#""_rankingScore":{score}"#), format!(r#""_rankingScoreDetails":{details}"#)]),
                1 => body.extend([format!(r#""_rankingScoreDetails":{details}"#), format!(r#""_rankingScore":{score}"#)]),
                2 => body.push(format!(r#""_rankingScore":{score}"#)),
                _ => {}
            }
            let sep = if spaced { ", " } else { "," };
            let text = format!("{{{}}}", body.join(sep));
            if let Some(compact) = read_compactly(&text) {
                proptest::prop_assert_eq!(Ok(compact), read_generally(&text), "{}", text);
            }
        }
    }

    /// A member's key as it may come: the primary key, other fields, an escaped key, and
    /// names close to the scores'.
    fn hit_key() -> impl proptest::strategy::Strategy<Value = String> {
        crate::test_texts::one_of(&[
            r#""id""#,
            r#""name""#,
            r#""tags""#,
            r#""_formatted""#,
            r#""i\u0064""#,
            r#""_rankingScore""#,
            r#""_rankingScoreDetails""#,
            r#""_rankingScoreX""#,
            r#""a b""#,
        ])
    }

    /// A member's value as it may come: every kind, nested values spaced or not, strings with
    /// escapes, and malformed texts.
    fn hit_value() -> impl proptest::strategy::Strategy<Value = String> {
        crate::test_texts::one_of(&[
            "0",
            "-12.5e3",
            "01",
            "1.",
            "null",
            "true",
            "false",
            "tru",
            r#""plain""#,
            r#""a\"b\\""#,
            r#""\u00e9\n""#,
            r#""bad \x""#,
            r#""open"#,
            r#"["a","b"]"#,
            r#"[1,"a\"b",null,true,-0.5]"#,
            r#"["x",]"#,
            r#"[1 ,2]"#,
            r#"[[1],"a"]"#,
            r#"[nul]"#,
            "[]",
            r#"[ 1 , {"x" : [ ] } ]"#,
            r#"{"id":7,"_rankingScore":1}"#,
            "{}",
            "[1,]",
            "{",
            "",
        ])
    }

    /// A hit whose details repeat the previous hit's text is given the previous reading, and
    /// the hit is read on past them; any other text (even the same details spaced otherwise)
    /// is read again. Every hit reads as it reads alone.
    #[test]
    fn repeated_details_are_read_once() {
        let a = r#"{"words":{"order":0,"matchingWords":2,"maxMatchingWords":2,"score":1.0},"typo":{"order":1,"typoCount":0,"maxTypoCount":2,"score":1.0}}"#;
        let b = r#"{"words":{"order":0,"matchingWords":1,"maxMatchingWords":2,"score":0.5}}"#;
        let a_spaced = a.replace(',', ", ");
        let hits = [
            format!(r#"{{"id":1,"_rankingScoreDetails":{a},"x":[1]}}"#),
            format!(r#"{{"id":2,"_rankingScoreDetails": {a} ,"x":[2]}}"#),
            format!(r#"{{"id":3,"_rankingScoreDetails":{b}}}"#),
            format!(r#"{{"id":4,"_rankingScoreDetails":{a_spaced},"x":4}}"#),
            format!(r#"{{"id":5,"_rankingScoreDetails":{a_spaced}}}"#),
        ];
        let text = format!("[{}]", hits.join(","));
        let mut s = Scanner::new(&text);
        let mut items = s.array().unwrap();
        let mut last = crate::compare::LastDetails::default();
        let mut read_again = Vec::new();
        for hit in &hits {
            assert!(items.next().unwrap());
            let before = last.whole.as_ref().map(|(t, _)| t.get().as_ptr());
            let read = RankedHit::scan_after(&mut *items.scanner, &mut last).unwrap();
            let after = last.whole.as_ref().map(|(t, _)| t.get().as_ptr());
            read_again.push(before != after);
            let alone = RankedHit::parse(hit).unwrap();
            let ranking = |h: RankedHit<'_>| {
                crate::compare::Ranking::from_one_pass(None, h.details.unwrap()).unwrap()
            };
            assert_eq!(
                read.doc
                    .members
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.get()))
                    .collect::<Vec<_>>(),
                alone
                    .doc
                    .members
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.get()))
                    .collect::<Vec<_>>(),
            );
            assert_eq!(ranking(read), ranking(alone));
        }
        assert!(!items.next().unwrap());
        assert_eq!(read_again, [true, false, true, true, false]);
    }

    #[test]
    fn members_keep_their_order_and_text() {
        let text = r#"{"b": 1.50, "a\"x": {"n": [1, 2]}, "c": "é"}"#;
        let o = RawObject::parse(text).unwrap();
        let keys: Vec<&str> = o.members.iter().map(|(k, _)| k.as_ref()).collect();
        assert_eq!(keys, ["b", "a\"x", "c"]);
        assert_eq!(o.get("b").unwrap().get(), "1.50");
        assert_eq!(o.get("a\"x").unwrap().get(), r#"{"n": [1, 2]}"#);
        assert_eq!(o.decode::<f64>("b"), Some(1.5));
        assert!(RawObject::parse("[1]").is_err());
        assert!(RawObject::parse(r#"{"a": }"#).is_err());
    }

    #[test]
    fn paths_are_removed_like_the_value_path_removes_them() {
        let doc = json!({"id": 1, "meta": {"x": 1, "y": {"z": 2}}, "meta.x": 3, "tags": [1]});
        let text = doc.to_string();
        let cases = [
            (
                "id",
                json!({"meta": {"x": 1, "y": {"z": 2}}, "meta.x": 3, "tags": [1]}),
            ),
            (
                "meta.x",
                json!({"id": 1, "meta": {"y": {"z": 2}}, "tags": [1]}),
            ),
            (
                "meta.y.z",
                json!({"id": 1, "meta": {"x": 1}, "meta.x": 3, "tags": [1]}),
            ),
        ];
        for (path, want) in cases {
            let (got, empty) = remove_path(&text, path).unwrap();
            assert!(!empty);
            assert_eq!(serde_json::from_str::<Value>(&got).unwrap(), want, "{path}");
        }
        assert!(remove_path(&text, "nope").is_none());
        assert!(remove_path(&text, "tags.x").is_none());
        assert_eq!(
            remove_path(r#"{"a":{"b":1}}"#, "a.b").unwrap(),
            ("{}".to_owned(), true)
        );
    }

    #[test]
    fn only_the_members_on_a_path_are_decoded() {
        let text = r#"{"id": 7, "a": {"b": [1]}, "a.b": "x", "big": {"never": "decoded"}}"#;
        let o = RawObject::parse(text).unwrap();
        let m = decode_path_members(&o, "a.b");
        assert_eq!(Value::Object(m), json!({"a": {"b": [1]}, "a.b": "x"}));
        assert_eq!(
            Value::Object(decode_path_members(&o, "id")),
            json!({"id": 7})
        );
    }
}
