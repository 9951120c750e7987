//! Comparing an answer with one recorded from a real Meilisearch 1.50: same status, same body
//! shape (keys in the same order, same JSON types, recursively), the same values wherever they
//! are deterministic; search hits need only the same shape. Shared by the stand-in's replay and
//! the gateway's conformance replay, so both are held to one standard.

use serde_json::Value;

/// Fields whose values change from run to run (or with the storage engine): only their JSON
/// type is compared.
pub const VOLATILE: &[&str] = &[
    "enqueuedAt",
    "startedAt",
    "finishedAt",
    "duration",
    "processingTimeMs",
    "requestUid",
    "createdAt",
    "updatedAt",
    "lastUpdate",
    "databaseSize",
    "usedDatabaseSize",
    "rawDocumentDbSize",
    "avgDocumentSize",
    "dumpUid",
    "key",
    "preCompactionSize",
    "postCompactionSize",
    "uuid",
];

/// Objects whose keys are compared but whose values are sizes on disk (only their JSON type is
/// compared): a node's LMDB page sizes, which differ with the storage engine and, in a cluster,
/// are the sum over shards.
pub const SIZE_MAPS: &[&str] = &["internalDatabaseSizes"];

/// Search answers compare these exactly; the rest of them only by shape.
pub const SEARCH_EXACT: &[&str] = &[
    "query",
    "limit",
    "offset",
    "hitsPerPage",
    "page",
    "indexUid",
    "facetQuery",
];

#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Mode {
    Exact,
    Shape,
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn is_error(v: &Value) -> bool {
    v.as_object().is_some_and(|o| {
        let keys: Vec<&str> = o.keys().map(String::as_str).collect();
        keys == ["message", "code", "type", "link"]
    })
}

pub fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 300 {
        format!(
            "{}…",
            &s[..s.char_indices().nth(300).map_or(s.len(), |(i, _)| i)]
        )
    } else {
        s
    }
}

pub struct Cmp {
    pub diffs: Vec<String>,
}

impl Cmp {
    fn diff(&mut self, path: &str, msg: String) {
        if self.diffs.len() < 40 {
            self.diffs.push(format!(
                "  at {}: {msg}",
                if path.is_empty() { "." } else { path }
            ));
        }
    }

    pub fn compare(&mut self, expected: &Value, actual: &Value, path: &str, key: &str, mode: Mode) {
        if type_name(expected) != type_name(actual) {
            return self.diff(
                path,
                format!(
                    "expected {} {}, got {} {}",
                    type_name(expected),
                    short(expected),
                    type_name(actual),
                    short(actual)
                ),
            );
        }
        if VOLATILE.contains(&key) || key == "progressTrace" {
            return;
        }
        // In a search answer, error bodies and the echoed parameters are still exact.
        let mode = if mode == Mode::Shape && (is_error(expected) || SEARCH_EXACT.contains(&key)) {
            Mode::Exact
        } else {
            mode
        };
        match (expected, actual) {
            (Value::Object(e), Value::Object(a)) => {
                let data_map = mode == Mode::Shape
                    && (path.contains(".facetDistribution.")
                        || path.contains(".distribution.")
                        || key == "_matchesPosition");
                if data_map {
                    // Keys are data (facet values, matched fields): a value is compared with the
                    // recorded one of the same key, or must look like one of the recorded values.
                    for (k, v) in a {
                        let at = format!("{path}.{k}");
                        match e.get(k) {
                            Some(ev) => self.compare(ev, v, &at, k, Mode::Shape),
                            None => {
                                let fits = e.values().any(|ev| {
                                    let mut probe = Cmp { diffs: Vec::new() };
                                    probe.compare(ev, v, "", k, Mode::Shape);
                                    probe.diffs.is_empty()
                                });
                                if !fits && !e.is_empty() {
                                    self.diff(
                                        &at,
                                        format!(
                                            "{} looks like none of the recorded values",
                                            short(v)
                                        ),
                                    );
                                }
                            }
                        }
                    }
                    return;
                }
                let ek: Vec<&String> = e.keys().collect();
                let ak: Vec<&String> = a.keys().collect();
                if ek != ak {
                    return self.diff(path, format!("keys differ: expected {ek:?}, got {ak:?}"));
                }
                if SIZE_MAPS.contains(&key) {
                    for (k, ev) in e {
                        if type_name(ev) != type_name(&a[k]) {
                            self.diff(&format!("{path}.{k}"), "type differs".into());
                        }
                    }
                    return;
                }
                let api_key = e.contains_key("actions") && e.contains_key("key");
                for (k, ev) in e {
                    if api_key && k == "uid" {
                        if type_name(ev) != type_name(&a[k]) {
                            self.diff(&format!("{path}.uid"), "type differs".into());
                        }
                        continue;
                    }
                    self.compare(ev, &a[k], &format!("{path}.{k}"), k, mode);
                }
            }
            (Value::Array(e), Value::Array(a)) => match mode {
                Mode::Exact => {
                    if e.len() != a.len() {
                        return self.diff(
                            path,
                            format!(
                                "expected {} elements, got {}: {}",
                                e.len(),
                                a.len(),
                                short(actual)
                            ),
                        );
                    }
                    for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                        self.compare(ev, av, &format!("{path}[{i}]"), key, mode);
                    }
                }
                Mode::Shape => {
                    let counted = matches!(key, "hits" | "facetHits" | "results");
                    if counted && e.len() != a.len() {
                        return self.diff(
                            path,
                            format!("expected {} elements, got {}", e.len(), a.len()),
                        );
                    }
                    if e.is_empty() || a.is_empty() {
                        return;
                    }
                    for (i, av) in a.iter().enumerate() {
                        // An element must have the shape of one of the recorded elements.
                        let fits = e.iter().any(|ev| {
                            let mut probe = Cmp { diffs: Vec::new() };
                            probe.compare(ev, av, "", key, Mode::Shape);
                            probe.diffs.is_empty()
                        });
                        if !fits {
                            let mut first = Cmp { diffs: Vec::new() };
                            first.compare(
                                &e[i.min(e.len() - 1)],
                                av,
                                &format!("{path}[{i}]"),
                                key,
                                Mode::Shape,
                            );
                            self.diffs.extend(first.diffs);
                        }
                    }
                }
            },
            _ => {
                if mode == Mode::Exact && !same_scalar(expected, actual) {
                    self.diff(
                        path,
                        format!("expected {}, got {}", short(expected), short(actual)),
                    );
                }
            }
        }
    }
}

fn same_scalar(e: &Value, a: &Value) -> bool {
    match (e, a) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::String(x), Value::String(y)) => mask_uuids(x) == mask_uuids(y),
        _ => e == a,
    }
}

/// A string with every UUID (8-4-4-4-12 hex digits) replaced by `<uuid>`: UUIDs are drawn at
/// random (webhooks), also inside messages.
pub fn mask_uuids(s: &str) -> String {
    const GROUPS: [usize; 5] = [8, 4, 4, 4, 12];
    const LEN: usize = 36;
    let bytes = s.as_bytes();
    let is_uuid = |at: usize| {
        let Some(window) = bytes.get(at..at + LEN) else {
            return false;
        };
        let mut i = 0;
        for (g, len) in GROUPS.iter().enumerate() {
            if g > 0 {
                if window[i] != b'-' {
                    return false;
                }
                i += 1;
            }
            if !window[i..i + len].iter().all(u8::is_ascii_hexdigit) {
                return false;
            }
            i += len;
        }
        true
    };
    let mut out = String::with_capacity(s.len());
    let mut at = 0;
    while at < bytes.len() {
        if is_uuid(at) {
            out.push_str("<uuid>");
            at += LEN;
        } else {
            let Some(c) = s[at..].chars().next() else {
                break;
            };
            out.push(c);
            at += c.len_utf8();
        }
    }
    out
}

/// Compare one exchange: the differences, empty when the answer conforms.
pub fn compare_exchange(
    path: &str,
    expected_status: u16,
    expected: &Value,
    status: u16,
    actual: &Value,
) -> Vec<String> {
    let is_search = ["/search", "/multi-search", "/facet-search"]
        .iter()
        .any(|p| path.contains(p));
    let mode = if is_search && expected_status == 200 {
        Mode::Shape
    } else {
        Mode::Exact
    };
    let mut cmp = Cmp { diffs: Vec::new() };
    if status != expected_status {
        cmp.diffs.push(format!(
            "  status: expected {expected_status}, got {status}"
        ));
    }
    cmp.compare(expected, actual, "", "", mode);
    cmp.diffs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn uuids_are_masked_and_size_maps_compare_keys_only() {
        assert_eq!(
            mask_uuids("Webhook `2a74819f-2405-46c5-9faf-27939329bc24` not found."),
            "Webhook `<uuid>` not found."
        );
        assert_eq!(
            mask_uuids("2a74819f-2405-46c5-9faf"),
            "2a74819f-2405-46c5-9faf"
        );
        let e = json!({"internalDatabaseSizes": {"main": "4 KiB", "documents": 4096}});
        let same_keys = json!({"internalDatabaseSizes": {"main": "16 KiB", "documents": 9}});
        assert!(compare_exchange("/stats", 200, &e, 200, &same_keys).is_empty());
        let other_keys = json!({"internalDatabaseSizes": {"main": "4 KiB"}});
        assert!(!compare_exchange("/stats", 200, &e, 200, &other_keys).is_empty());
        let other_type = json!({"internalDatabaseSizes": {"main": 1, "documents": 4096}});
        assert!(!compare_exchange("/stats", 200, &e, 200, &other_type).is_empty());
    }
}
