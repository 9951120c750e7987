//! Search latency of the stand-in engine, without HTTP: the real npm corpus (10k documents,
//! the recorded npm settings) plus 100k documents generated deterministically from its
//! vocabulary, then a fixed mix of queries (keywords, typos, filters, facets, sort,
//! placeholder). Prints p50/p99 per kind of query and the overall queries per second.
//!
//! Run with `cargo bench -p miroir-standin --bench search`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use anyhow::Context;
use miroir_standin::engine::{
    DocId, Document, EngineSettings, IndexView, SearchIndex, parse_search_body, search,
};
use serde_json::{Value, json};

const GENERATED: usize = 100_000;
const ROUNDS: usize = 15;

/// splitmix64: deterministic, dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % (n.max(1) as u64)) as usize
    }
    fn pick<'a>(&mut self, items: &'a [String]) -> &'a str {
        items
            .get(self.below(items.len()))
            .map(String::as_str)
            .unwrap_or("x")
    }
}

fn settings() -> EngineSettings {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    EngineSettings {
        searchable: Some(s(&["name", "summary", "tags"])),
        filterable: s(&["scope", "major", "downloads", "tags"]),
        sortable: s(&["downloads", "name", "major"]),
        ..Default::default()
    }
}

fn load() -> anyhow::Result<Vec<Document>> {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testkit/fixtures/npm-10k.ndjson");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    text.lines()
        .map(|l| serde_json::from_str::<Document>(l).context("parsing a corpus line"))
        .collect()
}

/// Documents shaped like the corpus, drawn from its words, scopes and tags.
fn generate(corpus: &[Document], n: usize) -> Vec<Document> {
    let mut words = BTreeSet::new();
    let mut scopes = BTreeSet::new();
    let mut tags = BTreeSet::new();
    for d in corpus {
        for field in ["name", "summary"] {
            if let Some(s) = d.get(field).and_then(Value::as_str) {
                for w in s
                    .split(|c: char| !c.is_alphanumeric())
                    .filter(|w| w.len() > 1)
                {
                    words.insert(w.to_lowercase());
                }
            }
        }
        if let Some(s) = d.get("scope").and_then(Value::as_str) {
            scopes.insert(s.to_string());
        }
        for t in d
            .get("tags")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            tags.insert(t.to_string());
        }
    }
    let words: Vec<String> = words.into_iter().collect();
    let scopes: Vec<String> = scopes.into_iter().collect();
    let tags: Vec<String> = tags.into_iter().collect();
    let mut rng = Rng(42);
    (0..n)
        .map(|i| {
            let name_words = 1 + rng.below(4);
            let name: Vec<&str> = (0..name_words).map(|_| rng.pick(&words)).collect();
            let scope = if rng.below(10) < 3 {
                Value::String(rng.pick(&scopes).to_string())
            } else {
                Value::Null
            };
            let name = match &scope {
                Value::String(s) => format!("@{s}/{}", name.join("-")),
                _ => name.join("-"),
            };
            let summary_words = rng.below(16);
            let summary: Vec<&str> = (0..summary_words).map(|_| rng.pick(&words)).collect();
            let tag_count = rng.below(6);
            let doc_tags: Vec<&str> = (0..tag_count).map(|_| rng.pick(&tags)).collect();
            let major = [0, 1, 1, 2, 2, 3, 4, 5, 7, 10, 22][rng.below(11)];
            let downloads = 500 + (rng.next() % 1_000_000) * (1 + rng.below(100)) as u64;
            let v = json!({
                "id": 10_000 + i,
                "name": name,
                "scope": scope,
                "version": format!("{major}.{}.{}", rng.below(20), rng.below(30)),
                "major": major,
                "downloads": downloads,
                "summary": summary.join(" "),
                "tags": doc_tags,
            });
            v.as_object().cloned().unwrap_or_default()
        })
        .collect()
}

fn mix() -> Vec<(&'static str, Value)> {
    vec![
        ("keywords", json!({"q": "react"})),
        ("keywords", json!({"q": "react router", "limit": 10})),
        (
            "keywords",
            json!({"q": "vue component library", "limit": 15}),
        ),
        (
            "keywords",
            json!({"q": "eslint plugin", "offset": 20, "limit": 10}),
        ),
        (
            "keywords",
            json!({"q": "typescript types", "page": 3, "hitsPerPage": 7}),
        ),
        (
            "keywords",
            json!({"q": "webpack loader", "attributesToHighlight": ["summary"], "attributesToCrop": ["summary"], "cropLength": 5}),
        ),
        (
            "keywords",
            json!({"q": "markdown parser", "matchingStrategy": "all"}),
        ),
        (
            "typo",
            json!({"q": "recat compnent", "showRankingScore": true}),
        ),
        ("typo", json!({"q": "lodsh"})),
        ("typo", json!({"q": "typscript definitons"})),
        (
            "filter",
            json!({"q": "azure", "filter": "major >= 1 AND downloads > 1000"}),
        ),
        (
            "filter",
            json!({"q": "aws sdk client", "filter": "downloads > 500"}),
        ),
        (
            "facets",
            json!({"q": "cli", "facets": ["scope", "major", "tags"], "limit": 5}),
        ),
        ("facets", json!({"q": "vue", "facets": ["*"], "limit": 0})),
        (
            "sort",
            json!({"q": "webpack", "sort": ["downloads:desc"], "limit": 10}),
        ),
        (
            "sort",
            json!({"q": "test runner", "filter": "major >= 2", "sort": ["major:asc", "downloads:desc"], "limit": 10}),
        ),
        ("placeholder", json!({"q": "", "limit": 20})),
        (
            "placeholder",
            json!({"q": "", "filter": [["scope = types", "scope = babel"], "major > 5"], "limit": 3}),
        ),
        (
            "placeholder",
            json!({"q": "", "facets": ["major"], "limit": 0}),
        ),
        (
            "placeholder",
            json!({"q": "", "sort": ["name:asc"], "limit": 10, "offset": 5}),
        ),
    ]
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn all_by_query(
    queries: &[(&str, miroir_standin::engine::SearchQuery)],
    i: usize,
    view: &IndexView,
) -> anyhow::Result<Vec<Duration>> {
    let mut out = Vec::new();
    if let Some((_, q)) = queries.get(i) {
        for _ in 0..3 {
            let t = Instant::now();
            std::hint::black_box(search(view, q)?);
            out.push(t.elapsed());
        }
    }
    Ok(out)
}

fn main() -> anyhow::Result<()> {
    let settings = settings();
    let corpus = load()?;
    let generated = generate(&corpus, GENERATED);
    let mut docs: BTreeMap<DocId, Document> = BTreeMap::new();
    let mut index = SearchIndex::new();
    // First the real 10k corpus alone, then with the 100k generated documents added.
    for (label, batch) in [("npm 10k", corpus), ("npm 10k + 100k generated", generated)] {
        let started = Instant::now();
        let before = docs.len();
        for doc in batch {
            let id = DocId::try_from(docs.len())?;
            index.insert(&settings, id, &doc);
            docs.insert(id, doc);
        }
        let indexing = started.elapsed();
        println!(
            "== {label}: indexed {} documents in {:.2}s ({:.0} docs/s), {} in the index",
            docs.len() - before,
            indexing.as_secs_f64(),
            (docs.len() - before) as f64 / indexing.as_secs_f64(),
            docs.len()
        );
        measure(&settings, &docs, &index)?;
    }
    Ok(())
}

fn measure(
    settings: &EngineSettings,
    docs: &BTreeMap<DocId, Document>,
    index: &SearchIndex,
) -> anyhow::Result<()> {
    let view = IndexView {
        uid: "npm",
        primary_key: Some("id"),
        docs,
        settings,
        search: index,
    };
    let queries: Vec<(&str, _)> = mix()
        .into_iter()
        .map(|(kind, body)| parse_search_body(&body).map(|q| (kind, q)))
        .collect::<Result<_, _>>()?;

    // Warm up once, then measure.
    for (_, q) in &queries {
        search(&view, q)?;
    }
    let mut by_kind: BTreeMap<&str, Vec<Duration>> = BTreeMap::new();
    let mut all = Vec::new();
    let total_started = Instant::now();
    for _ in 0..ROUNDS {
        for (kind, q) in &queries {
            let t = Instant::now();
            let resp = search(&view, q)?;
            let d = t.elapsed();
            std::hint::black_box(resp);
            by_kind.entry(kind).or_default().push(d);
            all.push(d);
        }
    }
    let total = total_started.elapsed();
    if std::env::var_os("BENCH_VERBOSE").is_some() {
        for (i, (_, q)) in queries.iter().enumerate() {
            let mut times: Vec<Duration> = all_by_query(&queries, i, &view)?;
            times.sort();
            println!(
                "  {:>8.2}ms  {:?} {:?} {:?}",
                percentile(&times, 0.5).as_secs_f64() * 1000.0,
                q.q,
                q.filter,
                q.facets
            );
        }
    }
    println!(
        "{:<12} {:>8} {:>10} {:>10}",
        "kind", "queries", "p50", "p99"
    );
    for (kind, mut times) in by_kind {
        times.sort();
        println!(
            "{:<12} {:>8} {:>8.2}ms {:>8.2}ms",
            kind,
            times.len(),
            percentile(&times, 0.5).as_secs_f64() * 1000.0,
            percentile(&times, 0.99).as_secs_f64() * 1000.0
        );
    }
    all.sort();
    println!(
        "{:<12} {:>8} {:>8.2}ms {:>8.2}ms",
        "all",
        all.len(),
        percentile(&all, 0.5).as_secs_f64() * 1000.0,
        percentile(&all, 0.99).as_secs_f64() * 1000.0
    );
    println!(
        "throughput: {:.0} queries/s (one thread)",
        all.len() as f64 / total.as_secs_f64()
    );
    Ok(())
}
