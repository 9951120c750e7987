//! Search behaviours the recordings do not cover, on small hand-made indexes: pagination
//! limits, retrieval and formatting options, rule variants, typo settings, phrases,
//! negations, synonyms, stop words, nested fields, parameter errors and index maintenance.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::*;

struct Fixture {
    settings: EngineSettings,
    docs: BTreeMap<DocId, Document>,
    index: SearchIndex,
}

impl Fixture {
    fn new(settings: EngineSettings, docs: Value) -> Self {
        let mut f = Fixture {
            settings,
            docs: BTreeMap::new(),
            index: SearchIndex::new(),
        };
        for (i, d) in docs.as_array().unwrap().iter().enumerate() {
            let doc = d.as_object().cloned().unwrap();
            f.index.insert(&f.settings, i as DocId, &doc);
            f.docs.insert(i as DocId, doc);
        }
        f
    }

    fn view(&self) -> IndexView<'_> {
        IndexView {
            uid: "movies",
            primary_key: Some("id"),
            docs: &self.docs,
            settings: &self.settings,
            search: &self.index,
        }
    }

    fn run(&self, body: Value) -> Value {
        search(&self.view(), &parse_search_body(&body).unwrap()).unwrap()
    }

    fn err(&self, body: Value) -> (String, String) {
        let e = parse_search_body(&body)
            .and_then(|q| search(&self.view(), &q))
            .unwrap_err();
        (e.code.to_string(), e.message)
    }

    fn ids(&self, body: Value) -> Vec<i64> {
        self.run(body)["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["id"].as_i64().unwrap())
            .collect()
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn movies() -> Fixture {
    let settings = EngineSettings {
        filterable: strings(&["genres", "year", "info"]),
        sortable: strings(&["year", "title"]),
        ..Default::default()
    };
    Fixture::new(
        settings,
        json!([
            {"id": 1, "title": "Carol", "genres": ["Romance", "Drama"], "year": 2015, "info": {"lang": "en"}},
            {"id": 2, "title": "Wonder Woman", "genres": ["Action", "Adventure"], "year": 2017, "info": {"lang": "en"}},
            {"id": 3, "title": "Life of Pi", "genres": ["Adventure", "Drama"], "year": 2012, "info": {"lang": "fr"}},
            {"id": 4, "title": "Mad Max: Fury Road", "genres": ["Adventure", "Science Fiction"], "year": 2015},
            {"id": 5, "title": "Moana", "genres": ["Fantasy", "Action"], "year": 2016},
            {"id": 6, "title": "Philadelphia", "genres": ["Drama"], "year": 1993},
            {"id": 7, "title": "The Woman King", "genres": ["Action", "Drama"], "year": 2022}
        ]),
    )
}

#[test]
fn response_keys_are_in_meilisearch_order() {
    let f = movies();
    let r = f.run(json!({"q": "wonder", "facets": ["genres"]}));
    let keys: Vec<&String> = r.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "hits",
            "query",
            "processingTimeMs",
            "limit",
            "offset",
            "estimatedTotalHits",
            "facetDistribution",
            "facetStats",
            "requestUid"
        ]
    );
    let r = f.run(json!({"q": "wonder", "page": 1}));
    let keys: Vec<&String> = r.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "hits",
            "query",
            "processingTimeMs",
            "hitsPerPage",
            "page",
            "totalPages",
            "totalHits",
            "requestUid"
        ]
    );
    assert_eq!(r["requestUid"].as_str().unwrap().len(), 36);
}

#[test]
/// Hits stop at maxTotalHits; the totals do not (Meilisearch 1.50, meilisearch#6482).
fn pagination_is_capped_by_max_total_hits() {
    let mut f = movies();
    f.settings.max_total_hits = 5;
    let r = f.run(json!({"q": "", "offset": 3, "limit": 10}));
    assert_eq!(r["hits"].as_array().unwrap().len(), 2);
    assert_eq!(
        (
            r["limit"].clone(),
            r["offset"].clone(),
            r["estimatedTotalHits"].clone()
        ),
        (json!(10), json!(3), json!(7))
    );
    let r = f.run(json!({"q": "", "page": 2, "hitsPerPage": 2}));
    assert_eq!(
        f.ids(json!({"q": "", "page": 2, "hitsPerPage": 2})),
        vec![3, 4]
    );
    assert_eq!(
        (r["totalHits"].clone(), r["totalPages"].clone()),
        (json!(7), json!(4))
    );
    let r = f.run(json!({"q": "", "page": 3, "hitsPerPage": 2}));
    assert_eq!(r["hits"].as_array().unwrap().len(), 1);
    let r = f.run(json!({"q": "", "page": 0}));
    assert_eq!(r["hits"], json!([]));
    let r = f.run(json!({"q": "", "hitsPerPage": 0}));
    assert_eq!(r["totalPages"], json!(0));
}

#[test]
fn placeholder_returns_documents_in_insertion_order_with_sort_details_only() {
    let f = movies();
    assert_eq!(f.ids(json!({"q": ""})), vec![1, 2, 3, 4, 5, 6, 7]);
    let r = f.run(json!({"q": "", "sort": ["year:desc"], "limit": 2, "showRankingScore": true, "showRankingScoreDetails": true}));
    assert_eq!(r["hits"][0]["id"], json!(7));
    assert_eq!(r["hits"][0]["_rankingScore"], json!(1.0));
    assert_eq!(
        r["hits"][0]["_rankingScoreDetails"],
        json!({"year:desc": {"order": 0, "value": 2022.0}})
    );
    assert_eq!(
        f.ids(json!({"q": "", "sort": ["title:asc"], "limit": 3})),
        vec![1, 3, 4]
    );
    // Ties keep insertion order.
    assert_eq!(
        f.ids(json!({"q": "", "sort": ["year:asc"]})),
        vec![6, 3, 1, 4, 5, 2, 7]
    );
}

#[test]
fn filters_facets_and_nested_fields() {
    let f = movies();
    assert_eq!(
        f.ids(json!({"filter": "genres = drama AND year > 2000"})),
        vec![1, 3, 7]
    );
    assert_eq!(f.ids(json!({"filter": "info.lang = fr"})), vec![3]);
    assert_eq!(
        f.ids(json!({"filter": "info EXISTS AND NOT year 2014 TO 2016"})),
        vec![2, 3]
    );
    let r = f.run(json!({"q": "", "facets": ["genres", "year"], "limit": 0}));
    assert_eq!(
        r["facetDistribution"],
        json!({"genres": {"Action": 3, "Adventure": 3, "Drama": 4, "Fantasy": 1, "Romance": 1, "Science Fiction": 1},
               "year": {"1993": 1, "2012": 1, "2015": 2, "2016": 1, "2017": 1, "2022": 1}})
    );
    assert_eq!(
        r["facetStats"],
        json!({"year": {"min": 1993.0, "max": 2022.0}})
    );
    let r = f.run(json!({"q": "woman", "facets": ["*"]}));
    assert_eq!(r["facetDistribution"]["info.lang"], json!({"en": 1}));
    assert_eq!(
        r["facetDistribution"]["genres"],
        json!({"Action": 2, "Adventure": 1, "Drama": 1})
    );
}

#[test]
fn parameter_errors() {
    let f = movies();
    assert_eq!(
        f.err(json!({"sort": ["year"]})),
        ("invalid_search_sort".into(), "Invalid syntax for the sort parameter: expected expression ending by `:asc` or `:desc`, found `year`.".into())
    );
    assert_eq!(
        f.err(json!({"sort": ["genres:asc"]})),
        ("invalid_search_sort".into(), "Index `movies`: Attribute `genres` is not sortable. Available sortable attributes are: `title, year`.".into())
    );
    assert_eq!(
        f.err(json!({"facets": ["title"]})).0,
        "invalid_search_facets"
    );
    assert_eq!(
        f.err(json!({"distinct": "title"})).0,
        "invalid_search_distinct"
    );
    let (code, msg) = f.err(json!({"filter": "title = Carol"}));
    assert_eq!(code, "invalid_search_filter");
    assert_eq!(
        msg,
        "Index `movies`: Attribute `title` is not filterable. Available filterable attribute patterns are: `genres`, `info`, `year`.\n2:7 \"title\" = \"Carol\""
    );
    assert_eq!(
        f.err(json!({"filter": true})).1,
        "Invalid syntax for the filter parameter: `expected String, Array, found: true`."
    );
    let mut g = movies();
    g.settings.searchable = Some(strings(&["title"]));
    let e = search(
        &g.view(),
        &parse_search_body(&json!({"q": "x", "attributesToSearchOn": ["genres"]})).unwrap(),
    )
    .unwrap_err();
    assert_eq!(
        e.message,
        "Attribute `genres` is not searchable. Available searchable attributes are: `title`."
    );
}

#[test]
fn retrieval_highlight_crop_and_positions() {
    let mut f = movies();
    f.settings.displayed = Some(strings(&["id", "title", "year"]));
    let r = f.run(json!({"q": "woman", "attributesToRetrieve": ["title", "genres"], "attributesToHighlight": ["*"],
                         "highlightPreTag": "[", "highlightPostTag": "]", "showMatchesPosition": true}));
    assert_eq!(
        r["hits"][0],
        json!({"title": "Wonder Woman", "_formatted": {"id": "2", "title": "Wonder [Woman]", "year": "2017"},
               "_matchesPosition": {"title": [{"start": 7, "length": 5}]}})
    );
    let r = f.run(json!({"q": "road", "attributesToCrop": ["title:2"], "cropMarker": "~"}));
    assert_eq!(r["hits"][0]["_formatted"]["title"], json!("~Fury Road"));
}

#[test]
fn rule_variants_and_custom_sort_rules() {
    let mut f = movies();
    f.settings.ranking_rules = strings(&[
        "words",
        "typo",
        "proximity",
        "attribute",
        "exactness",
        "year:desc",
    ]);
    let r = f.run(json!({"q": "woman", "showRankingScoreDetails": true}));
    // Both films tie on relevancy; the custom rule puts the later one first.
    assert_eq!(r["hits"][0]["id"], json!(7));
    assert_eq!(r["hits"][1]["id"], json!(2));
    let d = &r["hits"][0]["_rankingScoreDetails"];
    let keys: Vec<&String> = d.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "words",
            "typo",
            "proximity",
            "attribute",
            "exactness",
            "year:desc"
        ]
    );
    assert_eq!(
        d["attribute"],
        json!({"order": 3, "attributeRankingOrderScore": 1.0, "queryWordDistanceScore": 0.9090909090909091, "score": 0.9090909090909091})
    );
    assert_eq!(d["year:desc"], json!({"order": 5, "value": 2022.0}));
}

#[test]
fn matching_strategies() {
    let f = movies();
    assert_eq!(
        f.ids(json!({"q": "woman wonder", "matchingStrategy": "all"})),
        vec![2]
    );
    // `last` drops words from the end until something matches.
    assert_eq!(f.ids(json!({"q": "woman zzzz"})), vec![2, 7]);
    // `last` drops `moana`; `frequency` drops the most frequent word first: `woman`.
    assert_eq!(f.ids(json!({"q": "woman moana"})), vec![2, 7]);
    let r = f.run(json!({"q": "woman moana", "matchingStrategy": "frequency", "showRankingScoreDetails": true}));
    let ids: Vec<i64> = r["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![5]);
    assert_eq!(
        r["hits"][0]["_rankingScoreDetails"]["words"],
        json!({"order": 0, "matchingWords": 1, "maxMatchingWords": 2, "score": 0.5})
    );
}

#[test]
fn phrases_negation_synonyms_and_stop_words() {
    let mut f = movies();
    assert_eq!(f.ids(json!({"q": "\"woman king\""})), vec![7]);
    assert_eq!(f.ids(json!({"q": "\"king woman\""})), Vec::<i64>::new());
    assert_eq!(f.ids(json!({"q": "woman -wonder"})), vec![7]);
    assert_eq!(f.ids(json!({"q": "-wonder"})), vec![1, 3, 4, 5, 6, 7]);
    f.settings
        .synonyms
        .insert("lady".into(), strings(&["woman"]));
    f.settings.stop_words.insert("the".into());
    f.index
        .rebuild(&f.settings, f.docs.iter().map(|(id, d)| (*id, d)));
    assert_eq!(f.ids(json!({"q": "lady"})), vec![2, 7]);
    // The stop word is not searched: `the king` is `king`.
    let r = f.run(json!({"q": "the king", "showRankingScoreDetails": true}));
    assert_eq!(r["hits"][0]["id"], json!(7));
    assert_eq!(
        r["hits"][0]["_rankingScoreDetails"]["words"]["maxMatchingWords"],
        json!(1)
    );
}

#[test]
fn typo_settings() {
    let mut f = movies();
    assert_eq!(f.ids(json!({"q": "philadelfia"})), vec![6]);
    assert_eq!(f.ids(json!({"q": "wondr"})), vec![2]);
    f.settings.min_word_size_one_typo = 6;
    assert_eq!(f.ids(json!({"q": "wondr "})), Vec::<i64>::new());
    f.settings.min_word_size_one_typo = 5;
    f.settings.typo_disable_on_words.insert("wondr".into());
    assert_eq!(f.ids(json!({"q": "wondr "})), Vec::<i64>::new());
    f.settings.typo_disable_on_words.clear();
    f.settings.typo_disable_on_attributes.insert("title".into());
    assert_eq!(f.ids(json!({"q": "wondr "})), Vec::<i64>::new());
    f.settings.typo_disable_on_attributes.clear();
    f.settings.typo_enabled = false;
    assert_eq!(f.ids(json!({"q": "philadelfia"})), Vec::<i64>::new());
    let r = f.run(json!({"q": "carol", "showRankingScoreDetails": true}));
    // Even without typos a word counts one possible typo (a split word), as in Meilisearch.
    assert_eq!(
        r["hits"][0]["_rankingScoreDetails"]["typo"],
        json!({"order": 1, "typoCount": 0, "maxTypoCount": 1, "score": 1.0})
    );
}

#[test]
fn threshold_and_distinct_in_page_mode_are_exhaustive() {
    let mut f = movies();
    f.settings.distinct_attribute = Some("year".into());
    f.settings.filterable.push("year".into());
    let r = f.run(json!({"q": "", "page": 1, "hitsPerPage": 1}));
    assert_eq!(r["totalHits"], json!(6));
    let r = f.run(json!({"q": "woman", "rankingScoreThreshold": 0.99, "page": 1}));
    assert_eq!(r["totalHits"], json!(0));
}

#[test]
fn index_follows_inserts_and_removals() {
    let mut f = movies();
    let doc = f.docs.get(&1).cloned().unwrap();
    f.index.remove(&f.settings, 1, &doc);
    f.docs.remove(&1);
    assert_eq!(f.ids(json!({"q": "wonder"})), Vec::<i64>::new());
    let new = json!({"id": 2, "title": "Wonder Boys"})
        .as_object()
        .cloned()
        .unwrap();
    f.index.insert(&f.settings, 1, &new);
    f.docs.insert(1, new);
    assert_eq!(f.ids(json!({"q": "boys"})), vec![2]);
    assert_eq!(f.ids(json!({"q": "wonder"})), vec![2]);
}

#[test]
fn get_parameters_run_like_the_body() {
    let f = movies();
    let q = parse_search_params("q=woman&limit=1&filter=year%20%3E%202020&attributesToRetrieve=id")
        .unwrap();
    let r = search(&f.view(), &q).unwrap();
    assert_eq!(r["hits"], json!([{"id": 7}]));
}

#[test]
fn facet_search_counts_matching_values() {
    let f = movies();
    let r = facet_search(
        &f.view(),
        &json!({"facetName": "genres", "facetQuery": "a", "filter": "year > 2015"}),
    )
    .unwrap();
    assert_eq!(
        r["facetHits"],
        json!([{"value": "Action", "count": 3}, {"value": "Adventure", "count": 1}])
    );
    assert_eq!(r["facetQuery"], json!("a"));
    let r = facet_search(&f.view(), &json!({"facetName": "genres", "q": "woman"})).unwrap();
    assert_eq!(
        r["facetHits"],
        json!([{"value": "Action", "count": 2}, {"value": "Adventure", "count": 1}, {"value": "Drama", "count": 1}])
    );
    // One typo is allowed on a five-letter facet query.
    let r = facet_search(
        &f.view(),
        &json!({"facetName": "genres", "facetQuery": "drana"}),
    )
    .unwrap();
    assert_eq!(r["facetHits"], json!([{"value": "Drama", "count": 4}]));
    let e = facet_search(&f.view(), &json!({"facetName": "title"})).unwrap_err();
    assert_eq!(e.code, "invalid_facet_search_facet_name");
    let e = facet_search(&f.view(), &json!({"facetQuery": "x"})).unwrap_err();
    assert_eq!(e.message, "Missing field `facetName`");
}
