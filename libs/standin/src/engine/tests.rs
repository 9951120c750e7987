//! The engine against the recordings of a real Meilisearch 1.50 on the npm corpus: every
//! recorded search is replayed on the same documents and settings, and the hits, totals,
//! scores and score details must come out as recorded.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::OnceLock;

use miroir_proto::ErrorCode;
use serde_json::{Value, json};

use super::*;

pub(crate) struct Npm {
    pub settings: EngineSettings,
    pub docs: BTreeMap<DocId, Document>,
    pub index: SearchIndex,
}

impl Npm {
    pub fn view(&self) -> IndexView<'_> {
        IndexView {
            uid: "npm",
            primary_key: Some("id"),
            docs: &self.docs,
            settings: &self.settings,
            search: &self.index,
        }
    }

    pub fn search(&self, body: Value) -> Result<Value, miroir_proto::error::MeiliError> {
        let q = parse_search_body(&body)?;
        search(&self.view(), &q)
    }
}

fn fixtures() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testkit/fixtures")
}

pub(crate) fn npm_settings() -> EngineSettings {
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    EngineSettings {
        searchable: Some(strings(&["name", "summary", "tags"])),
        filterable: strings(&["scope", "major", "downloads", "tags"]),
        sortable: strings(&["downloads", "name", "major"]),
        ..Default::default()
    }
}

pub(crate) fn npm() -> &'static Npm {
    static NPM: OnceLock<Npm> = OnceLock::new();
    NPM.get_or_init(|| {
        let text = std::fs::read_to_string(fixtures().join("npm-10k.ndjson")).unwrap();
        let settings = npm_settings();
        let mut docs = BTreeMap::new();
        let mut index = SearchIndex::new();
        for (i, line) in text.lines().enumerate() {
            let doc: Document = serde_json::from_str(line).unwrap();
            index.insert(&settings, i as DocId, &doc);
            docs.insert(i as DocId, doc);
        }
        Npm {
            settings,
            docs,
            index,
        }
    })
}

fn recorded(file: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(fixtures().join("meilisearch-1.50").join(file)).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Volatile fields left out of comparisons.
fn strip(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.remove("processingTimeMs");
        o.remove("requestUid");
    }
    v
}

fn ids(v: &Value) -> Vec<Value> {
    v["hits"]
        .as_array()
        .map(|h| h.iter().map(|x| x["id"].clone()).collect())
        .unwrap_or_default()
}

#[test]
fn recorded_searches_replay_exactly() {
    let npm = npm();
    let mut failures = Vec::new();
    let mut checked = 0;
    for ex in recorded("05-search.json") {
        let req = &ex["request"];
        let path = req["path"].as_str().unwrap_or("");
        if !path.starts_with("/indexes/npm/search") {
            continue;
        }
        let got = if req["method"] == "GET" {
            let qs = path.split_once('?').map(|(_, q)| q).unwrap_or("");
            parse_search_params(qs).and_then(|q| search(&npm.view(), &q))
        } else {
            npm.search(req["body"].clone())
        };
        let want = &ex["response"];
        checked += 1;
        let got = match got {
            Ok(v) => json!({"status": 200, "body": strip(v)}),
            Err(e) => json!({"status": e.status, "body": e.to_json()}),
        };
        let want = json!({"status": want["status"], "body": strip(want["body"].clone())});
        if !same(&got, &want) {
            failures.push(format!(
                "{}:\n  want ids {:?}\n  got  ids {:?}\n  want {}\n  got  {}",
                ex["name"],
                ids(&want["body"]),
                ids(&got["body"]),
                truncate(&want),
                truncate(&got)
            ));
        }
    }
    assert!(checked > 20);
    assert!(
        failures.is_empty(),
        "{} of {checked} recorded searches differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// JSON equality, floats within rounding (the fixtures' floats do not all parse back to the
/// exact double that was printed).
pub(crate) fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (
                x.as_f64().unwrap_or(f64::NAN),
                y.as_f64().unwrap_or(f64::NAN),
            );
            (x - y).abs() <= 1e-12 * x.abs().max(1.0)
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((ka, va), (kb, vb))| ka == kb && same(va, vb))
        }
        _ => a == b,
    }
}

fn truncate(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 3000 {
        format!(
            "{}…",
            &s[..s.char_indices().nth(3000).map_or(s.len(), |(i, _)| i)]
        )
    } else {
        s
    }
}

fn shard(n: u64) -> Npm {
    let whole = npm();
    let settings = npm_settings();
    let mut docs = BTreeMap::new();
    let mut index = SearchIndex::new();
    for (id, doc) in &whole.docs {
        if doc["id"].as_u64().is_some_and(|i| i % 4 == n) {
            index.insert(&settings, *id, doc);
            docs.insert(*id, doc.clone());
        }
    }
    Npm {
        settings,
        docs,
        index,
    }
}

/// Compare a response with the recorded one: same hits in the same order (documents whose
/// details are exactly tied may swap), same totals, same details and scores.
fn compare(name: &str, got: &Value, want: &Value, failures: &mut Vec<String>) {
    let (g, w) = (strip(got.clone()), strip(want.clone()));
    if same(&g, &w) {
        return;
    }
    let gh = g["hits"].as_array().cloned().unwrap_or_default();
    let wh = w["hits"].as_array().cloned().unwrap_or_default();
    let mut g_rest = g.clone();
    let mut w_rest = w.clone();
    g_rest.as_object_mut().map(|o| o.remove("hits"));
    w_rest.as_object_mut().map(|o| o.remove("hits"));
    if !same(&g_rest, &w_rest) {
        failures.push(format!(
            "{name}: response differs outside hits:\n  want {}\n  got  {}",
            truncate(&w_rest),
            truncate(&g_rest)
        ));
    }
    if gh.len() != wh.len() {
        failures.push(format!("{name}: {} hits, want {}", gh.len(), wh.len()));
        return;
    }
    for (i, (a, b)) in gh.iter().zip(&wh).enumerate() {
        if same(a, b) {
            continue;
        }
        // A swap between exactly tied documents is allowed.
        let tied = |x: &Value, y: &Value| {
            x.get("_rankingScoreDetails").is_some()
                && same(&x["_rankingScoreDetails"], &y["_rankingScoreDetails"])
                || x.get("_rankingScoreDetails").is_none()
                    && x.get("_rankingScore").is_some()
                    && same(&x["_rankingScore"], &y["_rankingScore"])
        };
        let swapped = wh.iter().any(|o| same(o, a)) && tied(a, b);
        if !swapped {
            failures.push(format!(
                "{name}: hit {i} differs:\n  want {}\n  got  {}",
                truncate(b),
                truncate(a)
            ));
        }
    }
}

#[test]
fn sharded_oracle_whole_index_and_shards() {
    let text = std::fs::read_to_string(fixtures().join("meilisearch-1.50/10-sharded-oracle.json"))
        .unwrap();
    let oracle: Value = serde_json::from_str(&text).unwrap();
    let whole = npm();
    let shards: Vec<Npm> = (0..4).map(shard).collect();
    let mut failures = Vec::new();
    let cases = oracle["cases"].as_array().unwrap();
    for case in cases {
        let name = case["request"].to_string();
        // The whole-index answers were recorded with `showRankingScore`.
        let mut request = case["request"].clone();
        request["showRankingScore"] = json!(true);
        let got = whole.search(request).unwrap();
        compare(
            &format!("whole {name}"),
            &got,
            &case["expected_whole_index_response"],
            &mut failures,
        );
        for (s, shard) in shards.iter().enumerate() {
            let got = shard.search(case["shard_request"].clone()).unwrap();
            compare(
                &format!("shard {s} {name}"),
                &got,
                &case["shard_responses"][s],
                &mut failures,
            );
        }
    }
    assert!(
        failures.is_empty(),
        "{} differences:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn recorded_facet_searches_replay_exactly() {
    let npm = npm();
    let mut checked = 0;
    for ex in recorded("06-multi-search.json") {
        let req = &ex["request"];
        if req["path"] != "/indexes/npm/facet-search" {
            continue;
        }
        checked += 1;
        let got = match facet_search(&npm.view(), &req["body"]) {
            Ok(v) => json!({"status": 200, "body": strip(v)}),
            Err(e) => json!({"status": e.status, "body": e.to_json()}),
        };
        let want = json!({"status": ex["response"]["status"], "body": strip(ex["response"]["body"].clone())});
        assert!(
            same(&got, &want),
            "{}:\n  want {want}\n  got  {got}",
            ex["name"]
        );
    }
    assert_eq!(checked, 2);
}

#[test]
fn filters_answered_by_the_facet_index_match_the_documents() {
    let npm = npm();
    let filters = [
        json!("major >= 1 AND downloads > 1000"),
        json!([["scope = types", "scope = babel"], "major > 5"]),
        json!("tags = react OR tags IN [vue, angular]"),
        json!("NOT major > 2 AND scope EXISTS"),
        json!("scope IS NULL AND tags IS EMPTY"),
        json!("scope IS NOT NULL AND major 2 TO 3"),
        json!("scope != types AND tags NOT IN [react]"),
        json!("scope STARTS WITH type OR scope CONTAINS script"),
        json!("scope > typea AND scope <= typez"),
        json!("downloads < 600 OR major = '10'"),
        json!("missing = 1 OR missing != 2"),
    ];
    for f in filters {
        let parsed = filter::parse(&f, ErrorCode::InvalidSearchFilter).unwrap();
        let set = parsed
            .doc_set(&npm.index, &npm.settings)
            .expect("the facet index covers the settings");
        let by_set: Vec<DocId> = set.iter().collect();
        let by_doc: Vec<DocId> = npm
            .docs
            .iter()
            .filter(|(_, d)| parsed.matches(d))
            .map(|(id, _)| *id)
            .collect();
        assert!(
            !by_doc.is_empty() || f.as_str().is_some_and(|s| s.contains("missing")),
            "{f} matches nothing"
        );
        assert_eq!(by_set, by_doc, "{f}");
    }
}
