//! A hit's `_rankingScoreDetails` read from its text for the weighted score ([`super::weighted`]),
//! into [`Details`]: of each rule only the fields its kind counts with (`order`, and the counts,
//! `matchType`, `score`, `similarity`, `distance` or sort `value`), decoded where they stand; no
//! map is built.
//!
//! The reading must give what decoding the text into a `serde_json::Map` and reading it with
//! `Value::as_u64` / `as_f64` / `as_str` gave, a map serde_json refuses included (the hit then
//! has no details). So every value is checked as serde_json would read it, read or not: what the
//! scanner leaves unchecked (raw control characters in strings, invalid `\u` escapes, numbers out
//! of `f64`'s range) makes the text go to serde_json after all, as does what this reading does
//! not do itself (a repeated or escaped rule name, details that are not an object). That text
//! is then decoded into a map, as before, and read from it.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::weighted::{Details, Fields, Kind, MatchType};
use crate::raw::Raw;
use crate::scan::{self, Scanner};

/// Read the details `text` into `out` (cleared first): `false` when they are not a JSON object
/// as serde_json reads one (the hit is then scored as one without details).
pub(crate) fn read<'a>(text: &'a str, out: &mut Details<'a>) -> bool {
    out.clear();
    if direct(text, out).is_ok() {
        out.finish();
        return true;
    }
    out.clear();
    match serde_json::from_str::<Map<String, Value>>(text) {
        Ok(map) => {
            from_map(map, out);
            out.finish();
            true
        }
        Err(_) => false,
    }
}

/// The text needs serde_json's reading ([`read`]).
struct Decode;

impl From<serde_json::Error> for Decode {
    fn from(_: serde_json::Error) -> Self {
        Decode
    }
}

type Direct<T> = Result<T, Decode>;

/// The details read straight from the text; `Err` for anything to decode instead.
fn direct<'a>(text: &'a str, out: &mut Details<'a>) -> Direct<()> {
    let mut s = Scanner::new(text);
    let mut rules = s.object()?;
    let mut position = 0u64;
    while let Some(name) = rules.next_key()? {
        // An escaped name is rare: the map reads it.
        let Cow::Borrowed(name) = name else {
            return Err(Decode);
        };
        if has_control(name) || out.names.contains(&name) {
            return Err(Decode);
        }
        out.names.push(name);
        let kind = Kind::of(name);
        let fields = rule(rules.scanner, kind)?;
        out.push(position, Cow::Borrowed(name), kind, fields);
        position += 1;
    }
    s.end()?;
    Ok(())
}

/// The fields of the rule at the scanner that `kind` reads. A rule that is not an object has
/// none (as `Value::get` finds none in it).
fn rule(s: &mut Scanner<'_>, kind: Kind) -> Direct<Fields> {
    let mut trial = s.clone();
    let Ok(mut members) = trial.object() else {
        return check(s.value()?).map(|()| Fields::default());
    };
    let mut f = Fields::default();
    // A repeated field: the last one counts, as in a map.
    while let Some(key) = members.next_key()? {
        if let Cow::Borrowed(key) = &key
            && has_control(key)
        {
            return Err(Decode);
        }
        let raw = members.scanner.value()?;
        match (key.as_ref(), kind) {
            ("order", _) => f.order = uint(raw)?,
            ("matchingWords", Kind::Words | Kind::Exactness) => f.matching_words = uint(raw)?,
            ("maxMatchingWords", Kind::Words | Kind::Exactness) => {
                f.max_matching_words = uint(raw)?;
            }
            ("typoCount", Kind::Typo) => f.typo_count = uint(raw)?,
            ("maxTypoCount", Kind::Typo) => f.max_typo_count = uint(raw)?,
            ("matchType", Kind::Exactness) => f.match_type = match_type(raw)?,
            ("score", Kind::Other) => f.score = float(raw)?,
            ("similarity", Kind::Vector) => f.similarity = float(raw)?,
            ("distance", Kind::GeoSort { .. }) => f.distance = float(raw)?,
            ("value", Kind::Sort { .. }) => f.value = Some(serde_json::from_str(raw.get())?),
            _ => check(raw)?,
        }
    }
    *s = trial;
    Ok(f)
}

/// The rules of details decoded into a map, read from it.
fn from_map(map: Map<String, Value>, out: &mut Details<'_>) {
    for (position, (name, d)) in map.into_iter().enumerate() {
        let uint = |k: &str| d.get(k).and_then(Value::as_u64);
        let float = |k: &str| d.get(k).and_then(Value::as_f64);
        let fields = Fields {
            order: uint("order"),
            matching_words: uint("matchingWords"),
            max_matching_words: uint("maxMatchingWords"),
            typo_count: uint("typoCount"),
            max_typo_count: uint("maxTypoCount"),
            match_type: d
                .get("matchType")
                .and_then(Value::as_str)
                .map(MatchType::of),
            score: float("score"),
            similarity: float("similarity"),
            distance: float("distance"),
            value: d.get("value").cloned(),
        };
        let kind = Kind::of(&name);
        out.push(position as u64, Cow::Owned(name), kind, fields);
    }
}

fn has_control(text: &str) -> bool {
    text.bytes().any(|b| b < 0x20)
}

/// `Ok` when serde_json reads the value `raw` (the scanner has checked its grammar).
fn check(raw: Raw<'_>) -> Direct<()> {
    let text = raw.get();
    let read = match text.as_bytes().first() {
        Some(b'"') if text.contains('\\') => scan::text(raw).is_ok(),
        Some(b'"') => !has_control(text),
        // Without an exponent, a number of up to 300 characters is within `f64`'s range.
        Some(b'-' | b'0'..=b'9') => {
            (text.len() <= 300 && !text.bytes().any(|b| b | 0x20 == b'e'))
                || serde_json::from_str::<Value>(text).is_ok()
        }
        Some(b't' | b'f' | b'n') => true,
        _ => serde_json::from_str::<Value>(text).is_ok(),
    };
    if read { Ok(()) } else { Err(Decode) }
}

/// `Value::as_u64` of the value `raw`.
fn uint(raw: Raw<'_>) -> Direct<Option<u64>> {
    match scan::uint(raw) {
        Ok(n) => Ok(n),
        Err(_) => check(raw).map(|()| None),
    }
}

/// `Value::as_f64` of the value `raw`.
fn float(raw: Raw<'_>) -> Direct<Option<f64>> {
    match raw.get().as_bytes().first() {
        // An error here is a number out of range, which serde_json refuses too.
        Some(b'-' | b'0'..=b'9') => scan::float(raw).map_err(|_| Decode),
        _ => check(raw).map(|()| None),
    }
}

/// `Value::as_str` of the value `raw`, as a match type.
fn match_type(raw: Raw<'_>) -> Direct<Option<MatchType>> {
    if !raw.get().starts_with('"') {
        return check(raw).map(|()| None);
    }
    let text = scan::text(raw)?;
    if let Some(Cow::Borrowed(text)) = &text
        && has_control(text)
    {
        return Err(Decode);
    }
    Ok(text.map(|t| MatchType::of(&t)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The details read straight from `text`, or `None` when it goes to serde_json.
    fn directly(text: &str) -> Option<Details<'_>> {
        let mut d = Details::default();
        direct(text, &mut d).ok().map(|()| {
            d.finish();
            d
        })
    }

    /// The details as the map reads them.
    fn decoded(text: &str) -> Option<Details<'static>> {
        let map = serde_json::from_str::<Map<String, Value>>(text).ok()?;
        let mut d = Details::default();
        from_map(map, &mut d);
        d.finish();
        Some(d)
    }

    fn items(d: &Details<'_>) -> String {
        format!("{:?}", d.items().collect::<Vec<_>>())
    }

    #[test]
    fn what_serde_json_would_refuse_or_read_otherwise_goes_to_serde_json() {
        let to_decode = [
            "[]",
            "null",
            r#"{"words": {"order": 0, "x": 1e999}}"#,
            r#"{"words": {"order": 1e999}}"#,
            r#"{"proximity": {"score": 1e999}}"#,
            "{\"x:asc\": {\"value\": \"a\u{1}\"}}",
            "{\"x\": {\"note\": \"a\u{1f}\"}}",
            "{\"x\u{1}\": {}}",
            "{\"x\": {\"k\u{2}\": 1}}",
            r#"{"x": {"note": "\ud800"}}"#,
            r#"{"exactness": {"matchType": "\ud800"}}"#,
            r#"{"x": {"note": [1, "\ud800"]}}"#,
            r#"{"x": {"note": {"a": 1e400}}}"#,
            r#"{"words": {}, "words": {}}"#,
            r#"{"w\u006frds": {}}"#,
        ];
        for text in to_decode {
            assert!(directly(text).is_none(), "{text}");
            let mut d = Details::default();
            let read = read(text, &mut d);
            assert_eq!(read, decoded(text).is_some(), "{text}");
            if let Some(want) = decoded(text) {
                assert_eq!(items(&d), items(&want), "{text}");
            }
        }
        let long = format!(r#"{{"x": {{"n": 1{}}}}}"#, "0".repeat(400));
        assert!(directly(&long).is_none());
        assert!(!read(&long, &mut Details::default()));
    }

    #[test]
    fn texts_read_directly_read_as_the_map_reads_them() {
        let texts = [
            r#"{"words": {"order": 0, "matchingWords": 2, "maxMatchingWords": 3, "score": 0.6}, "typo": {"order": 1, "typoCount": 1, "maxTypoCount": 2}}"#,
            r#"{"exactness": {"order": 0, "matchType": "noExactMatch", "matchingWords": 1, "maxMatchingWords": 3}, "x:asc": {"order": 1, "value": "a\"b"}}"#,
            r#"{"exactness": {"matchType": "m\u0061tchesStart"}, "x:desc": {"value": [1, {"a": null}]}}"#,
            r#"{"_geoPoint(1,2):asc": {"order": 0, "value": {"lat": 1.0}, "distance": 3.5}, "vectorSort": {"order": 1, "similarity": 0.25}}"#,
            r#"{"words": {"order": "zero", "matchingWords": -1, "maxMatchingWords": 1.5}, "typo": 7, "proximity": {"score": 1}}"#,
            r#"{"b": {"order": 2, "score": 0.5}, "a": {"score": 0.1}, "c": {"order": 0}, "skipped": {"order": 0}}"#,
            r#"{"typo": {"order": 0, "typoCount": 0, "typoCount": 2, "maxTypoCount": 2}}"#,
            r#"{"words": {"order": 18446744073709551616, "matchingWords": 1, "maxMatchingWords": 1e2}}"#,
            r#"{"p": {"score": 0.9949494949494949, "note": "\u00e9\n", "n": -0, "big": 1e300}}"#,
            r#"{"p": {"score": null, "order": null}, "q": {"score": true}, "r": {"score": "1"}}"#,
            r#"{"vectorSort": {"score": 0.5}, "x:sideways": {"score": 0.5}, "_geoPoint(1,2):desc": {"distance": "far"}}"#,
            r#"{}"#,
        ];
        for text in texts {
            let got = directly(text);
            assert!(got.is_some(), "{text}");
            let (got, want) = (got.unwrap(), decoded(text).unwrap());
            assert_eq!(items(&got), items(&want), "{text}");
            assert_eq!(got.bucket(), want.bucket(), "{text}");
        }
    }
}
