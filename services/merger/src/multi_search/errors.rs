//! Where an error of one query of a multi-search is reported, and in which words.
//!
//! Meilisearch parses the whole multi-search body before it runs anything, so a malformed
//! parameter in any query (deserr's `Invalid value type at ...`) wins over an index that does not
//! exist or a filter that fails; those come in the order the queries run. The nodes word each
//! query's errors for a body of their own, so their locations are moved inside the query
//! (`.limit` -> `.queries[2].limit`) and other messages are prefixed with ``Inside `.queries[2]`: ``
//! as Meilisearch's `with_index` does (its `404 index_not_found` becomes a 400 there: the index
//! is not part of the URL).

use miroir_proto::MeiliError;

/// Whether the error is one of deserr's (a parameter's type or value), found while parsing.
pub fn is_parse_error(e: &MeiliError) -> bool {
    const PREFIXES: &[&str] = &[
        "Invalid value type at `",
        "Invalid value type: ",
        "Invalid value at `",
        "Unknown field `",
        "Missing field `",
        "Unknown value `",
    ];
    e.status == 400 && PREFIXES.iter().any(|p| e.message.starts_with(p))
}

/// The order of precedence among the queries' errors: parse errors first, then the client's
/// errors, then the cluster's own (unavailable shards), each by the given position.
pub fn rank(e: &MeiliError) -> u8 {
    if is_parse_error(e) {
        0
    } else if e.status < 500 {
        1
    } else {
        2
    }
}

/// `e`, which a node gave for query `i`'s own body, as Meilisearch words it in a multi-search.
pub fn in_query(e: MeiliError, i: usize) -> MeiliError {
    let at = format!(".queries[{i}]");
    let m = e.message.as_str();
    let moved = if let Some(rest) = m.strip_prefix("Invalid value type at `") {
        Some(format!("Invalid value type at `{at}{rest}"))
    } else if let Some(rest) = m.strip_prefix("Invalid value at `") {
        Some(format!("Invalid value at `{at}{rest}"))
    } else if let Some(rest) = m.strip_prefix("Invalid value type: ") {
        Some(format!("Invalid value type at `{at}`: {rest}"))
    } else if m.starts_with("Unknown value `") {
        Some(m.replacen("` at `.", &format!("` at `{at}."), 1))
    } else if m.starts_with("Unknown field `") || m.starts_with("Missing field `") {
        Some(if m.contains(" inside `.") {
            m.replacen(" inside `.", &format!(" inside `{at}."), 1)
        } else if m.starts_with("Missing field `") {
            format!("{m} inside `{at}`")
        } else {
            m.replacen("`: ", &format!("` inside `{at}`: "), 1)
        })
    } else {
        None
    };
    match moved {
        Some(message) => e.with_message(message),
        None => {
            // Meilisearch answers a missing index inside a multi-search with 400, not 404.
            let status = if e.status == 404 { 400 } else { e.status };
            let message = format!("Inside `{at}`: {m}");
            e.with_status(status).with_message(message)
        }
    }
}

/// An error about `federation.facetsByIndex.{uid}`, noting which query used the index.
pub fn in_facets_by_index(e: MeiliError, uid: &str, first_query: Option<usize>) -> MeiliError {
    let note = match first_query {
        Some(i) => format!("\n - Note: index `{uid}` used in `.queries[{i}]`"),
        None => format!("\n - Note: index `{uid}` is not used in queries"),
    };
    let status = if e.status == 404 { 400 } else { e.status };
    let message = format!(
        "Inside `.federation.facetsByIndex.{uid}`: {}{note}",
        e.message
    );
    e.with_status(status).with_message(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use miroir_proto::ErrorCode;

    fn err(status: u16, message: &str) -> MeiliError {
        MeiliError::new(ErrorCode::BadRequest, message).with_status(status)
    }

    #[test]
    fn locations_move_inside_the_query() {
        let e = in_query(
            err(
                400,
                "Invalid value type at `.limit`: expected a positive integer, but found a string: `\"x\"`",
            ),
            2,
        );
        assert_eq!(
            e.message,
            "Invalid value type at `.queries[2].limit`: expected a positive integer, but found a string: `\"x\"`"
        );
        assert!(is_parse_error(&e));
        let e = in_query(
            err(
                400,
                "Unknown field `lmit`: did you mean `limit`? expected one of `q`, `limit`",
            ),
            0,
        );
        assert_eq!(
            e.message,
            "Unknown field `lmit` inside `.queries[0]`: did you mean `limit`? expected one of `q`, `limit`"
        );
        let e = in_query(
            err(
                400,
                "Unknown field `x` inside `.hybrid`: expected one of `a`",
            ),
            1,
        );
        assert_eq!(
            e.message,
            "Unknown field `x` inside `.queries[1].hybrid`: expected one of `a`"
        );
        let e = in_query(err(400, "Missing field `embedder` inside `.hybrid`"), 1);
        assert_eq!(
            e.message,
            "Missing field `embedder` inside `.queries[1].hybrid`"
        );
        let e = in_query(
            err(
                400,
                "Unknown value `sometimes` at `.matchingStrategy`: expected one of `last`",
            ),
            3,
        );
        assert_eq!(
            e.message,
            "Unknown value `sometimes` at `.queries[3].matchingStrategy`: expected one of `last`"
        );
    }

    #[test]
    fn other_errors_are_prefixed_and_not_found_is_a_bad_request() {
        let e = in_query(
            MeiliError::new(ErrorCode::IndexNotFound, "Index `nope` not found."),
            1,
        );
        assert_eq!(e.status, 400);
        assert_eq!(e.message, "Inside `.queries[1]`: Index `nope` not found.");
        assert_eq!(rank(&e), 1);
        assert_eq!(rank(&err(503, "Shard 1 of index `a` is unavailable")), 2);
        let e = in_facets_by_index(err(400, "Invalid facet distribution."), "npm", Some(0));
        assert_eq!(
            e.message,
            "Inside `.federation.facetsByIndex.npm`: Invalid facet distribution.\n - Note: index `npm` used in `.queries[0]`"
        );
        let e = in_facets_by_index(err(404, "Index `x` not found."), "x", None);
        assert_eq!(e.status, 400);
        assert!(
            e.message
                .ends_with("\n - Note: index `x` is not used in queries")
        );
    }
}
