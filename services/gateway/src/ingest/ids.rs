//! The document id check, done while the upload streams in.
//!
//! The router refuses a whole batch when one document lacks a valid id under the index's
//! primary key, before any node sees it; done there, the check is a full pass over the spooled
//! batch that nothing else can overlap. When the gateway already knows the primary key (the
//! index has one, or the client gave `?primaryKey=`), it checks every document as it parses it
//! and tells the router so ([`DocumentsCommit::ids_checked`]), and the router goes straight to
//! sending. A document that fails here only means the gateway does not vouch for the batch: the
//! router then runs its own check, which words the task's error as Meilisearch does.
//!
//! Only the primary key's value is decoded; every other field is skipped without being built.
//!
//! [`DocumentsCommit::ids_checked`]: miroir_proto::rpc::DocumentsCommit

use std::fmt;

use miroir_placement::PrimaryKeyValue;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;

/// Checks each document of an upload for a valid id under one primary key.
#[derive(Debug)]
pub struct IdCheck {
    primary_key: String,
    all_valid: bool,
}

impl IdCheck {
    pub fn new(primary_key: impl Into<String>) -> Self {
        IdCheck {
            primary_key: primary_key.into(),
            all_valid: true,
        }
    }

    /// Check one document (a JSON object on one line). Once a document failed, the rest are
    /// not looked at: the router will check the batch itself.
    pub fn check(&mut self, document: &[u8]) {
        if self.all_valid {
            self.all_valid = has_valid_id(document, &self.primary_key);
        }
    }

    /// The primary key every document carries a valid id for, if they all do.
    pub fn vouched_key(self) -> Option<String> {
        self.all_valid.then_some(self.primary_key)
    }
}

/// Whether `document` is a JSON object whose top-level field `primary_key` is a valid document
/// id (as `PrimaryKeyValue::from_json` decides), reading nothing else into memory.
pub fn has_valid_id(document: &[u8], primary_key: &str) -> bool {
    let mut de = serde_json::Deserializer::from_slice(document);
    match (IdOf { primary_key }).deserialize(&mut de) {
        Ok(Some(id)) => de.end().is_ok() && PrimaryKeyValue::from_json(&id).is_ok(),
        _ => false,
    }
}

/// Deserializes an object into the value of its field `primary_key` (`None` when absent).
struct IdOf<'a> {
    primary_key: &'a str,
}

impl<'de> DeserializeSeed<'de> for IdOf<'_> {
    type Value = Option<Value>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for IdOf<'_> {
    type Value = Option<Value>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut id = None;
        while let Some(is_key) = map.next_key_seed(KeyIs(self.primary_key))? {
            if is_key {
                // A duplicate key: serde_json keeps the last one, as the router's check does.
                id = Some(map.next_value::<Value>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(id)
    }
}

/// Deserializes an object key into whether it is the given one, without allocating it.
struct KeyIs<'a>(&'a str);

impl<'de> DeserializeSeed<'de> for KeyIs<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for KeyIs<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<bool, E> {
        Ok(key == self.0)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn only_valid_ids_under_the_key_pass() {
        assert!(has_valid_id(br#"{"id": 1, "t": {"a": [1, 2]}}"#, "id"));
        assert!(has_valid_id(br#"{"t": "x", "id": "ab-c_9"}"#, "id"));
        assert!(has_valid_id(br#"{"i\u0064": "escaped-key"}"#, "id"));
        assert!(!has_valid_id(br#"{"t": "x"}"#, "id"));
        assert!(!has_valid_id(br#"{"id": "a b"}"#, "id"), "a space");
        assert!(!has_valid_id(br#"{"id": 1.5}"#, "id"));
        assert!(!has_valid_id(br#"{"id": null}"#, "id"));
        assert!(!has_valid_id(br#"{"id": [1]}"#, "id"));
        assert!(!has_valid_id(br#"[1]"#, "id"));
        assert!(!has_valid_id(br#"{"id": 1} x"#, "id"));
        assert!(has_valid_id(br#"{"pid": 3, "id": "x y"}"#, "pid"));
        // The last of duplicate keys counts, as when the router parses the document.
        assert!(!has_valid_id(br#"{"id": 1, "id": "a b"}"#, "id"));
    }

    #[test]
    fn the_check_agrees_with_the_routers_reading_of_each_document() {
        let docs: &[&[u8]] = &[
            br#"{"id": 7}"#,
            br#"{"id": -3}"#,
            br#"{"id": "x"}"#,
            br#"{"id": ""}"#,
            br#"{"id": true}"#,
            br#"{"id": 18446744073709551615}"#,
            "{\"id\": \"\u{e9}\"}".as_bytes(),
        ];
        for doc in docs {
            let map: serde_json::Map<String, Value> = serde_json::from_slice(doc).unwrap();
            let router = map
                .get("id")
                .is_some_and(|v| PrimaryKeyValue::from_json(v).is_ok());
            assert_eq!(
                has_valid_id(doc, "id"),
                router,
                "{}",
                String::from_utf8_lossy(doc)
            );
        }
    }

    #[test]
    fn one_bad_document_withdraws_the_vouch() {
        let mut check = IdCheck::new("id");
        check.check(br#"{"id": 1}"#);
        assert!(IdCheck::new("id").vouched_key().is_some());
        check.check(br#"{"name": "no id"}"#);
        check.check(br#"{"id": 2}"#);
        assert_eq!(check.vouched_key(), None);
    }
}
