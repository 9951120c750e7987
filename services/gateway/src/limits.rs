//! Bounds on the shape of a search request, checked before it leaves the gateway.
//!
//! A search body is small, but what it asks for is not: one filter of a hundred thousand nested
//! parentheses, a million facets or a multi-search of ten thousand queries costs every node of the
//! fleet (each query fans out to every shard). The gateway refuses such requests up front, with
//! the error Meilisearch gives for a bad value of the same field (`invalid_search_filter`,
//! `invalid_search_facets`, …, status 400), so a client sees an ordinary validation error. The
//! bounds are config keys (`max_json_depth`, `max_filter_bytes`, `max_filter_depth`,
//! `max_list_items`, `max_multi_search_queries`); the defaults are far above any real request.
//! The payload size itself is bounded where the body is read (`max_payload_bytes`, 413).

use miroir_proto::{ErrorCode, MeiliError};
use serde_json::Value;

use crate::config::Config;

/// The search parameters that take a list of attributes, with the code of a bad value of each.
const LISTS: &[(&str, ErrorCode)] = &[
    ("facets", ErrorCode::InvalidSearchFacets),
    (
        "attributesToRetrieve",
        ErrorCode::InvalidSearchAttributesToRetrieve,
    ),
    ("attributesToCrop", ErrorCode::InvalidSearchAttributesToCrop),
    (
        "attributesToHighlight",
        ErrorCode::InvalidSearchAttributesToHighlight,
    ),
    (
        "attributesToSearchOn",
        ErrorCode::InvalidSearchAttributesToSearchOn,
    ),
    ("sort", ErrorCode::InvalidSearchSort),
];

/// Check one search (or facet-search) body against the configured bounds.
pub fn check_search(config: &Config, body: &Value) -> Result<(), MeiliError> {
    check_depth(config, body)?;
    check_query(config, body)
}

/// Check a multi-search body: its depth, the number of queries, then each query as a search
/// (an error names the query, as Meilisearch's do).
pub fn check_multi_search(config: &Config, body: &Value) -> Result<(), MeiliError> {
    check_depth(config, body)?;
    let Some(queries) = body.get("queries").and_then(Value::as_array) else {
        // A missing or mistyped `queries` is the envelope parser's to report.
        return Ok(());
    };
    if queries.len() > config.max_multi_search_queries {
        return Err(MeiliError::new(
            ErrorCode::BadRequest,
            format!(
                "Too many queries in `.queries`: {} where at most {} are accepted (the gateway's `max_multi_search_queries`).",
                queries.len(),
                config.max_multi_search_queries
            ),
        ));
    }
    for (i, query) in queries.iter().enumerate() {
        check_query(config, query).map_err(|e| {
            let message = format!("Inside `.queries[{i}]`: {}", e.message);
            e.with_message(message)
        })?;
    }
    Ok(())
}

/// The nesting of JSON arrays and objects.
fn check_depth(config: &Config, body: &Value) -> Result<(), MeiliError> {
    let depth = depth(body);
    if depth > config.max_json_depth {
        return Err(MeiliError::new(
            ErrorCode::BadRequest,
            format!(
                "The JSON payload nests {depth} levels deep, more than the {} accepted (the gateway's `max_json_depth`).",
                config.max_json_depth
            ),
        ));
    }
    Ok(())
}

/// Depth of a value, without recursion (a deep value must not exhaust the stack here either).
fn depth(value: &Value) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(value, 1usize)];
    while let Some((value, level)) = stack.pop() {
        match value {
            Value::Array(items) => {
                deepest = deepest.max(level);
                stack.extend(items.iter().map(|child| (child, level + 1)));
            }
            Value::Object(map) => {
                deepest = deepest.max(level);
                stack.extend(map.values().map(|child| (child, level + 1)));
            }
            _ => deepest = deepest.max(level.saturating_sub(1)),
        }
    }
    deepest
}

fn check_query(config: &Config, query: &Value) -> Result<(), MeiliError> {
    let Some(members) = query.as_object() else {
        return Ok(());
    };
    // One walk over the (few) members instead of a hashed lookup per bounded parameter; the
    // checks then run in their fixed order, so that the same error wins whatever the order of
    // the members.
    let mut filter = None;
    let mut lists: [Option<&Value>; LISTS.len()] = [None; LISTS.len()];
    for (key, value) in members {
        if key == "filter" {
            filter = Some(value);
        } else if let Some(i) = LISTS.iter().position(|(name, _)| name == key)
            && let Some(slot) = lists.get_mut(i)
        {
            *slot = Some(value);
        }
    }
    if let Some(filter) = filter {
        check_filter(config, filter)?;
    }
    for ((name, code), value) in LISTS.iter().zip(lists) {
        if let Some(items) = value.and_then(Value::as_array)
            && items.len() > config.max_list_items
        {
            return Err(MeiliError::new(
                *code,
                format!(
                    "Invalid value at `.{name}`: {} items where at most {} are accepted (the gateway's `max_list_items`).",
                    items.len(),
                    config.max_list_items
                ),
            ));
        }
    }
    Ok(())
}

/// A filter's total length and nesting (parentheses in strings, arrays in array form).
fn check_filter(config: &Config, filter: &Value) -> Result<(), MeiliError> {
    let mut bytes = 0usize;
    let mut deepest = 0usize;
    let mut stack = vec![(filter, 0usize)];
    while let Some((value, level)) = stack.pop() {
        match value {
            Value::String(text) => {
                bytes = bytes.saturating_add(text.len());
                deepest = deepest.max(level + paren_depth(text));
            }
            Value::Array(items) => {
                deepest = deepest.max(level + 1);
                stack.extend(items.iter().map(|item| (item, level + 1)));
            }
            // Other types are the node's to refuse with its own message.
            _ => {}
        }
    }
    if bytes > config.max_filter_bytes {
        return Err(MeiliError::new(
            ErrorCode::InvalidSearchFilter,
            format!(
                "The filter is {bytes} bytes long, more than the {} accepted (the gateway's `max_filter_bytes`).",
                config.max_filter_bytes
            ),
        ));
    }
    if deepest > config.max_filter_depth {
        return Err(MeiliError::new(
            ErrorCode::InvalidSearchFilter,
            format!(
                "The filter nests {deepest} levels deep, more than the {} accepted (the gateway's `max_filter_depth`).",
                config.max_filter_depth
            ),
        ));
    }
    Ok(())
}

/// The deepest parenthesis nesting of a filter expression, outside quoted values.
fn paren_depth(text: &str) -> usize {
    let mut depth = 0usize;
    let mut deepest = 0usize;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in text.chars() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' => quote = Some(c),
            '(' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            ')' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

#[cfg(test)]
mod tests {
    use super::*;
    use miroir_proto::Code;
    use serde_json::json;

    #[test]
    fn depth_counts_containers() {
        assert_eq!(depth(&json!(1)), 0);
        assert_eq!(depth(&json!({})), 1);
        assert_eq!(depth(&json!({"a": [1]})), 2);
        assert_eq!(depth(&json!({"a": [[{"b": 1}]]})), 4);
    }

    #[test]
    fn parentheses_in_quotes_do_not_count() {
        assert_eq!(paren_depth("(a = 1 OR (b = 2))"), 2);
        assert_eq!(paren_depth("title = \"((((\""), 0);
        assert_eq!(paren_depth("title = 'it\\'s (' AND (x = 1)"), 1);
    }

    #[test]
    fn ordinary_requests_pass_and_excess_is_refused() {
        let config = Config::default();
        let ordinary = json!({
            "q": "x",
            "filter": [["genre = a", "genre = b"], "(year > 1990 AND (rating > 3))"],
            "facets": ["genre", "year"],
            "attributesToRetrieve": ["*"],
        });
        assert!(check_search(&config, &ordinary).is_ok());

        let deep_filter = format!("{}a = 1{}", "(".repeat(100), ")".repeat(100));
        let e = check_search(&config, &json!({"filter": deep_filter})).err();
        assert_eq!(
            e.map(|e| e.code),
            Some(Code::Known(ErrorCode::InvalidSearchFilter))
        );

        let facets: Vec<String> = (0..=config.max_list_items)
            .map(|i| format!("f{i}"))
            .collect();
        let e = check_search(&config, &json!({"facets": facets})).err();
        assert_eq!(
            e.map(|e| e.code),
            Some(Code::Known(ErrorCode::InvalidSearchFacets))
        );

        // Several bounds exceeded: the same one is reported whatever the members' order.
        let long = &facets;
        for body in [
            json!({"sort": long, "facets": long, "filter": deep_filter}),
            json!({"filter": deep_filter, "facets": long, "sort": long}),
        ] {
            let e = check_search(&config, &body).err();
            assert_eq!(
                e.map(|e| e.code),
                Some(Code::Known(ErrorCode::InvalidSearchFilter))
            );
        }
        for body in [
            json!({"sort": long, "q": "x", "facets": long}),
            json!({"facets": long, "sort": long}),
        ] {
            let e = check_search(&config, &body).err();
            assert_eq!(
                e.map(|e| e.code),
                Some(Code::Known(ErrorCode::InvalidSearchFacets))
            );
        }

        let queries: Vec<Value> = (0..=config.max_multi_search_queries)
            .map(|_| json!({"indexUid": "a"}))
            .collect();
        let e = check_multi_search(&config, &json!({"queries": queries})).err();
        assert_eq!(e.map(|e| e.code), Some(Code::Known(ErrorCode::BadRequest)));

        let e = check_multi_search(
            &config,
            &json!({"queries": [{"indexUid": "a"}, {"indexUid": "a", "sort": vec!["a:asc"; 2000]}]}),
        )
        .err();
        assert!(
            e.is_some_and(|e| e.code == Code::Known(ErrorCode::InvalidSearchSort)
                && e.message.starts_with("Inside `.queries[1]`"))
        );
    }
}
