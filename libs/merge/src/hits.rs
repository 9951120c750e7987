//! Reading and reshaping individual hits: document identity, distinct values, and removing
//! the fields the merge fetched for itself.

use serde_json::{Map, Value};

use crate::params::ClientParams;

/// The document's identity across shards: Meilisearch treats the ids `1` and `"1"` as the same
/// document, so both become `"1"`. `None` when the hit does not carry the primary key.
pub(crate) fn document_id(hit: &Map<String, Value>, primary_key: &str) -> Option<String> {
    id_of(hit.get(primary_key)?)
}

/// [`document_id`] from the primary key's value.
pub(crate) fn id_of(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => itoa::Buffer::new().format(u).to_owned(),
            (None, Some(i)) => itoa::Buffer::new().format(i).to_owned(),
            _ => n.to_string(),
        }),
        _ => None,
    }
}

/// A distinct-attribute value as milli's facet index compares it: strings trimmed and
/// lowercased, numbers by value.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum DistinctKey {
    Text(String),
    Number(u64),
}

/// The values of `attribute` (a dotted path) in a hit, arrays flattened. Empty when the hit
/// has none, and such a hit is never removed by `distinct`.
pub(crate) fn distinct_values(hit: &Map<String, Value>, attribute: &str) -> Vec<DistinctKey> {
    let mut leaves = Vec::new();
    values_at(hit, attribute, &mut leaves);
    let mut keys = Vec::new();
    let mut stack: Vec<&Value> = leaves;
    while let Some(v) = stack.pop() {
        match v {
            Value::String(s) => keys.push(DistinctKey::Text(s.trim().to_lowercase())),
            Value::Bool(b) => keys.push(DistinctKey::Text(b.to_string())),
            // `+ 0.0` folds -0.0 into 0.0.
            Value::Number(n) => {
                if let Some(f) = n.as_f64() {
                    keys.push(DistinctKey::Number((f + 0.0).to_bits()));
                }
            }
            Value::Array(items) => stack.extend(items.iter()),
            Value::Null | Value::Object(_) => {}
        }
    }
    keys
}

/// Every value at dotted `path` under `obj`, whether the document spells it as a literal key
/// (`"a.b"`) or as nesting (`{"a": {"b": ..}}`), through arrays of objects.
fn values_at<'a>(obj: &'a Map<String, Value>, path: &str, out: &mut Vec<&'a Value>) {
    if let Some(v) = obj.get(path) {
        out.push(v);
    }
    for (i, _) in path.match_indices('.') {
        let (head, rest) = (&path[..i], &path[i + 1..]);
        match obj.get(head) {
            Some(Value::Object(child)) => values_at(child, rest, out),
            Some(Value::Array(items)) => {
                for item in items {
                    if let Value::Object(child) = item {
                        values_at(child, rest, out);
                    }
                }
            }
            _ => {}
        }
    }
}

/// Remove dotted `path` from `obj`, and any object the removal leaves empty (the reference
/// the raw path, [`crate::raw::remove_path`], is tested against).
#[cfg(test)]
fn remove_path(obj: &mut Map<String, Value>, path: &str) {
    obj.shift_remove(path);
    for (i, _) in path.match_indices('.') {
        let (head, rest) = (&path[..i], &path[i + 1..]);
        if let Some(Value::Object(child)) = obj.get_mut(head) {
            remove_path(child, rest);
            if child.is_empty() {
                obj.shift_remove(head);
            }
        }
    }
}

/// Whether dotted `path` is `ancestor` or lies inside it.
pub(crate) fn is_within(path: &str, ancestor: &str) -> bool {
    path.strip_prefix(ancestor)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
}

/// The dotted paths to remove from a hit (as [`strip`] removes them), worked out once per merge.
pub(crate) struct Strips<'a> {
    /// From the document itself.
    pub document: Vec<&'a str>,
    /// From its `_formatted`.
    pub formatted: Vec<&'a str>,
}

/// What [`strip`] removes for these added fields, as paths.
pub(crate) fn strips<'a>(added_fields: &'a [String], client: &ClientParams) -> Strips<'a> {
    let mut out = Strips {
        document: Vec::new(),
        formatted: Vec::new(),
    };
    for field in added_fields {
        let asked_inside = client
            .attributes_to_retrieve
            .iter()
            .flatten()
            .any(|a| a != field && is_within(a, field));
        if !asked_inside {
            out.document.push(field);
        }
        let formatted_asked = client
            .formatted_attributes
            .iter()
            .any(|a| a == "*" || is_within(field, a));
        if !formatted_asked {
            out.formatted.push(field);
        }
    }
    out
}

/// The reference for the merge's raw hit writer (tested against it). Remove what the client did not ask for: the fields added to `attributesToRetrieve` (from
/// the document and from `_formatted`), `_rankingScore` and `_rankingScoreDetails`.
#[cfg(test)]
pub(crate) fn strip(hit: &mut Map<String, Value>, added_fields: &[String], client: &ClientParams) {
    for field in added_fields {
        // The client asked for part of it (`a.b` when we added `a`): leave it rather than
        // strip what was asked for.
        let asked_inside = client
            .attributes_to_retrieve
            .iter()
            .flatten()
            .any(|a| a != field && is_within(a, field));
        if !asked_inside {
            remove_path(hit, field);
        }
        // `_formatted` holds the retrieved fields plus the highlighted and cropped ones.
        let formatted_asked = client
            .formatted_attributes
            .iter()
            .any(|a| a == "*" || is_within(field, a));
        if formatted_asked {
            continue;
        }
        if let Some(Value::Object(formatted)) = hit.get_mut("_formatted") {
            remove_path(formatted, field);
        }
    }
    if !client.show_score {
        hit.shift_remove("_rankingScore");
    }
    if !client.show_details {
        hit.shift_remove("_rankingScoreDetails");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn ids_one_and_string_one_are_the_same_document() {
        assert_eq!(
            document_id(&obj(json!({"id": 1})), "id"),
            document_id(&obj(json!({"id": "1"})), "id")
        );
        assert_eq!(document_id(&obj(json!({"id": null})), "id"), None);
        assert_eq!(document_id(&obj(json!({"name": "x"})), "id"), None);
    }

    #[test]
    fn distinct_values_are_normalised_and_flattened() {
        let hit = obj(json!({"a": {"b": [" Foo", 1.0]}, "a.b": "bar"}));
        let mut keys = distinct_values(&hit, "a.b");
        keys.sort_by_key(|k| format!("{k:?}"));
        assert_eq!(
            keys,
            vec![
                DistinctKey::Number(1f64.to_bits()),
                DistinctKey::Text("bar".into()),
                DistinctKey::Text("foo".into())
            ]
        );
        assert!(distinct_values(&hit, "zz").is_empty());
    }

    #[test]
    fn strip_removes_added_fields_and_unasked_scores() {
        let client = crate::params::read(
            &json!({"attributesToRetrieve": ["name", "meta.x"], "attributesToHighlight": ["meta"]}),
        )
        .unwrap();
        let mut hit = obj(json!({
            "id": 1, "name": "n", "meta": {"x": 1, "y": 2},
            "_formatted": {"id": "1", "name": "n", "meta": {"x": "1", "y": "2"}},
            "_rankingScore": 0.5, "_rankingScoreDetails": {}
        }));
        strip(&mut hit, &["id".into(), "meta.y".into()], &client);
        assert_eq!(
            serde_json::to_string(&hit).unwrap(),
            r#"{"name":"n","meta":{"x":1},"_formatted":{"name":"n","meta":{"x":"1","y":"2"}}}"#
        );
    }
}
