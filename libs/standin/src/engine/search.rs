//! Running a search: validate the parameters against the index's settings, rank the
//! candidates, apply the score threshold and `distinct`, paginate within `maxTotalHits`,
//! and build Meilisearch's response.

use std::collections::HashSet;
use std::time::Instant;

use miroir_proto::error::{ErrorCode, MeiliError};
use serde_json::{Map, Value, json};

use super::facet_index::patterns_of;
use super::facets;
use super::fields::{PatternMatch, match_legacy, matches_any, searchable_weight};
use super::filter::{self, Filter};
use super::format::{FormatOptions, MatchSet, build_hit};
use super::matching::{Matcher, sort_value};
use super::pagination::{self, Rules, Selection};
use super::params::{DEFAULT_LIMIT, SearchQuery};
use super::query::{Query, parse_query};
use super::ranking::{Detail, MatchingStrategy, Scored, SortSpec, effective_rules};
use super::{DocId, IndexView};

/// The ranked outcome of a query, before pagination.
pub struct Ranked {
    pub hits: Vec<(DocId, Scored)>,
    pub query: Query,
}

/// Parse `field:asc` / `field:desc` criteria.
pub fn parse_sort(sort: &[String]) -> Result<Vec<SortSpec>, MeiliError> {
    sort.iter()
        .map(|s| {
            let s = s.trim();
            if let Some(f) = s.strip_suffix(":asc") {
                Ok(SortSpec { field: f.to_string(), asc: true })
            } else if let Some(f) = s.strip_suffix(":desc") {
                Ok(SortSpec { field: f.to_string(), asc: false })
            } else {
                Err(MeiliError::new(ErrorCode::InvalidSearchSort, format!("Invalid syntax for the sort parameter: expected expression ending by `:asc` or `:desc`, found `{s}`."),
                ))
            }
        })
        .collect()
}

fn check_sortable(specs: &[SortSpec], sortable: &[String], uid: &str) -> Result<(), MeiliError> {
    for s in specs {
        if sortable
            .iter()
            .any(|p| match_legacy(p, &s.field) == PatternMatch::Match)
        {
            continue;
        }
        let mut names: Vec<&String> = sortable.iter().collect();
        names.sort();
        let tail = if names.is_empty() {
            "This index does not have configured sortable attributes.".to_string()
        } else {
            format!(
                "Available sortable attributes are: `{}`.",
                names
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        return Err(MeiliError::new(
            ErrorCode::InvalidSearchSort,
            format!(
                "Index `{uid}`: Attribute `{}` is not sortable. {tail}",
                s.field
            ),
        ));
    }
    Ok(())
}

fn check_distinct(field: &str, filterable: &[String], uid: &str) -> Result<(), MeiliError> {
    if matches_any(filterable, field) {
        return Ok(());
    }
    let mut names: Vec<&String> = filterable.iter().collect();
    names.sort();
    let tail = if names.is_empty() {
        "This index does not have configured filterable attributes.".to_string()
    } else {
        format!(
            "Available filterable attributes patterns are: `{}`.",
            names
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    Err(MeiliError::new(
        ErrorCode::InvalidSearchDistinct,
        format!(
            "Index `{uid}`: Attribute `{field}` is not filterable and thus, cannot be used as distinct attribute. {tail}"
        ),
    ))
}

/// `attributesToSearchOn` as a mask over the index's field ids.
pub(crate) fn search_on_mask(
    view: &IndexView,
    attrs: &[String],
) -> Result<Option<Vec<bool>>, MeiliError> {
    if attrs.iter().any(|a| a == "*") {
        return Ok(None);
    }
    if let Some(searchable) = view.settings.searchable.as_deref()
        && !searchable.iter().any(|s| s == "*")
    {
        for a in attrs {
            if searchable_weight(Some(searchable), a).is_none()
                && !searchable
                    .iter()
                    .any(|s| match_legacy(s, a) == PatternMatch::Parent)
            {
                return Err(MeiliError::new(
                    ErrorCode::InvalidSearchAttributesToSearchOn,
                    format!(
                        "Attribute `{a}` is not searchable. Available searchable attributes are: `{}`.",
                        searchable.join(", ")
                    ),
                ));
            }
        }
    }
    let count = view.search.field_count();
    let mask = (0..count)
        .map(|f| {
            let name = u16::try_from(f)
                .ok()
                .and_then(|f| view.search.field_name(f))
                .unwrap_or("");
            attrs
                .iter()
                .any(|a| match_legacy(a, name) == PatternMatch::Match)
        })
        .collect();
    Ok(Some(mask))
}

/// Every document's position in a sort rule's order (numbers, then strings, then documents
/// without a value), read from the facet index; documents sharing a value share a position.
fn sort_ranks(index: &super::SearchIndex, field: &str, asc: bool) -> Vec<u32> {
    let size = index.universe.iter().last().map_or(0, |m| m as usize + 1);
    let mut ranks = vec![u32::MAX; size];
    let Some(f) = index.facets.fields.get(field) else {
        return ranks;
    };
    let mut position = 0u32;
    let mut assign = |ids: &Vec<DocId>| {
        for id in ids {
            if let Some(r) = ranks.get_mut(*id as usize)
                && *r == u32::MAX
            {
                *r = position;
            }
        }
        position += 1;
    };
    if asc {
        f.numbers.values().for_each(&mut assign);
        f.strings.values().for_each(&mut assign);
    } else {
        f.numbers.values().rev().for_each(&mut assign);
        f.strings.values().rev().for_each(&mut assign);
    }
    ranks
}

/// Better first; ties by internal id.
fn by_rank(a: &(DocId, Scored), b: &(DocId, Scored)) -> std::cmp::Ordering {
    a.1.cmp(&b.1).then(a.0.cmp(&b.0))
}

/// Order the hits: all of them when the threshold or `distinct` walk them, otherwise only
/// the first `k` (the rest stays unordered).
fn order(hits: &mut [(DocId, Scored)], k: usize, all: bool) {
    if all || k >= hits.len() {
        hits.sort_by(by_rank);
    } else if k > 0 {
        hits.select_nth_unstable_by(k - 1, by_rank);
        hits[..k].sort_by(by_rank);
    }
}

/// The documents matching `q` (and the filter) with their details, unordered; shared by
/// search and facet search.
pub fn rank(
    view: &IndexView,
    q: &str,
    filter: Option<&Filter>,
    sort: &[SortSpec],
    strategy: MatchingStrategy,
    search_on: Option<Vec<bool>>,
) -> Ranked {
    let query = parse_query(q, view.settings, view.search);
    let hits = if query.terms.is_empty() {
        // Every document is a candidate: evaluate the filter once, from the facet index.
        let allowed = filter.and_then(|f| f.doc_set(view.search, view.settings));
        let rules = effective_rules(&view.settings.ranking_rules, sort, strategy, true);
        let matcher = Matcher {
            index: view.search,
            settings: view.settings,
            query: &query,
            rules: &rules,
            strategy,
            allowed_fields: None,
        };
        let excluded = placeholder_exclusions(&matcher);
        let ids: Box<dyn Iterator<Item = DocId>> = match (&allowed, filter) {
            (Some(set), _) => Box::new(set.iter()),
            (None, Some(f)) => Box::new(
                view.docs
                    .iter()
                    .filter(|(_, d)| f.matches(d))
                    .map(|(id, _)| *id),
            ),
            (None, None) => Box::new(view.docs.keys().copied()),
        };
        // Sort positions from the facet index when it covers the sorted fields.
        let covered = view.search.facets.usable_for(&patterns_of(view.settings));
        let ranks: Vec<Option<Vec<u32>>> = rules
            .iter()
            .map(|r| match r {
                super::ranking::Rule::Sort { field, asc } if covered => {
                    Some(sort_ranks(view.search, field, *asc))
                }
                _ => None,
            })
            .collect();
        let mut out = Vec::new();
        for id in ids {
            if excluded.contains(&id) {
                continue;
            }
            let mut details = Vec::new();
            for (r, ranks) in rules.iter().zip(&ranks) {
                if let super::ranking::Rule::Sort { field, asc } = r {
                    let detail = match ranks {
                        Some(ranks) => Detail::Sort {
                            field: field.clone(),
                            asc: *asc,
                            value: Value::Null,
                            rank: Some(ranks.get(id as usize).copied().unwrap_or(u32::MAX)),
                        },
                        None => Detail::Sort {
                            field: field.clone(),
                            asc: *asc,
                            value: view
                                .docs
                                .get(&id)
                                .map_or(Value::Null, |doc| sort_value(doc, field, *asc)),
                            rank: None,
                        },
                    };
                    details.push(detail);
                }
            }
            out.push((id, Scored { details }));
        }
        out
    } else {
        let rules = effective_rules(&view.settings.ranking_rules, sort, strategy, false);
        let matcher = Matcher {
            index: view.search,
            settings: view.settings,
            query: &query,
            rules: &rules,
            strategy,
            allowed_fields: search_on,
        };
        // Few candidates are cheaper to check one by one; past a few thousand, the filter
        // is evaluated once from the facet index.
        let mut checked = 0usize;
        let mut set: Option<Option<super::docset::DocSet>> = None;
        let mut keep = |id: DocId| {
            let Some(f) = filter else { return true };
            checked += 1;
            if checked > 2000
                && let Some(s) = set.get_or_insert_with(|| f.doc_set(view.search, view.settings))
            {
                return s.contains(id);
            }
            view.docs.get(&id).is_some_and(|d| f.matches(d))
        };
        matcher.candidates(view.docs, &mut keep)
    };
    Ranked { hits, query }
}

/// A placeholder search with only negated words still excludes them.
fn placeholder_exclusions(m: &Matcher) -> HashSet<DocId> {
    let mut out = HashSet::new();
    for w in &m.query.negative_words {
        if let Some(id) = m.index.word_of(w) {
            out.extend(m.index.postings(id).iter().map(|p| p.doc));
        }
    }
    out
}

/// A UUID v7 (time-ordered), as Meilisearch gives `requestUid`.
pub fn request_uid() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let mut bytes = *uuid::Uuid::new_v4().as_bytes();
    let ts = (ms as u64).to_be_bytes();
    bytes[..6].copy_from_slice(&ts[2..8]);
    bytes[6] = (bytes[6] & 0x0f) | 0x70;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    uuid::Uuid::from_bytes(bytes).to_string()
}

fn crop_list(q: &SearchQuery) -> Vec<(String, usize)> {
    q.attributes_to_crop
        .iter()
        .flatten()
        .map(|a| match a.rsplit_once(':') {
            Some((name, n)) => match n.parse::<usize>() {
                Ok(n) => (name.to_string(), n),
                Err(_) => (a.clone(), q.crop_length),
            },
            None => (a.clone(), q.crop_length),
        })
        .collect()
}

/// Run a search and build Meilisearch's JSON response.
pub fn search(view: &IndexView, query: &SearchQuery) -> Result<Value, MeiliError> {
    let started = Instant::now();
    let settings = view.settings;
    let search_on = match &query.attributes_to_search_on {
        Some(attrs) => search_on_mask(view, attrs)?,
        None => None,
    };
    let filter = match &query.filter {
        Some(f) => {
            let parsed = filter::parse(f, ErrorCode::InvalidSearchFilter)?;
            Some(parsed.requoted())
        }
        None => None,
    };
    let sort = match &query.sort {
        Some(s) => parse_sort(s)?,
        None => Vec::new(),
    };
    let distinct = query
        .distinct
        .clone()
        .or_else(|| settings.distinct_attribute.clone());
    if let Some(d) = &query.distinct {
        check_distinct(d, &settings.filterable, view.uid)?;
    }
    if let Some(f) = &filter {
        f.check_filterable(
            &settings.filterable,
            Some(view.uid),
            ErrorCode::InvalidSearchFilter,
        )?;
    }
    check_sortable(&sort, &settings.sortable, view.uid)?;
    if let Some(f) = &query.facets {
        facets::check_facets(f, &settings.filterable)?;
    }

    let q = query.q.clone().unwrap_or_default();
    let ranked = rank(
        view,
        &q,
        filter.as_ref(),
        &sort,
        query.matching_strategy,
        search_on,
    );
    let max_total = settings.max_total_hits;
    let finite = query.is_finite_pagination();
    let (offset, limit) = if finite {
        let hpp = query.hits_per_page.unwrap_or(DEFAULT_LIMIT);
        let page = query.page.unwrap_or(1);
        if page == 0 {
            (0, 0)
        } else {
            ((page - 1).saturating_mul(hpp), hpp)
        }
    } else {
        (
            query.offset.unwrap_or(0),
            query.limit.unwrap_or(DEFAULT_LIMIT),
        )
    };
    let offset_c = offset.min(max_total);
    let limit_c = limit.min(max_total - offset_c);
    let rules = Rules {
        threshold: query.ranking_score_threshold,
        distinct: distinct.as_deref(),
        exhaustive: finite,
        offset: offset_c,
        limit: limit_c,
    };
    let mut ranked_hits = ranked.hits;
    order(
        &mut ranked_hits,
        offset_c + limit_c,
        rules.threshold.is_some() || rules.distinct.is_some(),
    );
    let Selection { hits, total } = pagination::select(ranked_hits, &rules, view.docs);

    let matches = MatchSet::new(&ranked.query, view.search);
    let highlight: Vec<String> = query.attributes_to_highlight.clone().unwrap_or_default();
    let opts = FormatOptions {
        highlight,
        crop: crop_list(query),
        crop_marker: &query.crop_marker,
        pre_tag: &query.highlight_pre_tag,
        post_tag: &query.highlight_post_tag,
        show_matches_position: query.show_matches_position,
    };
    let to_retrieve = query
        .attributes_to_retrieve
        .as_ref()
        .filter(|a| !a.iter().any(|x| x == "*"));
    let mut out_hits = Vec::new();
    for (id, scored) in hits.iter().skip(offset_c).take(limit_c) {
        let Some(doc) = view.docs.get(id) else {
            continue;
        };
        let mut hit = build_hit(
            doc,
            settings.displayed.as_deref(),
            to_retrieve.map(Vec::as_slice),
            &opts,
            &matches,
            view.search.tokenizer(),
        );
        if query.show_ranking_score {
            hit.insert("_rankingScore".into(), json!(scored.global()));
        }
        if query.show_ranking_score_details {
            let mut scored = scored.clone();
            scored.fill_sort_values(doc);
            hit.insert("_rankingScoreDetails".into(), scored.to_json());
        }
        out_hits.push(Value::Object(hit));
    }

    let mut resp = Map::new();
    resp.insert("hits".into(), Value::Array(out_hits));
    resp.insert("query".into(), json!(q));
    let elapsed = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    resp.insert("processingTimeMs".into(), json!(elapsed));
    if finite {
        let hpp = query.hits_per_page.unwrap_or(DEFAULT_LIMIT);
        // Uncapped, as Meilisearch 1.50 reports them (meilisearch#6482); hits stop at maxTotalHits.
        let total_hits = total;
        let total_pages = if hpp == 0 {
            0
        } else {
            total_hits.div_ceil(hpp)
        };
        resp.insert("hitsPerPage".into(), json!(hpp));
        resp.insert("page".into(), json!(query.page.unwrap_or(1)));
        resp.insert("totalPages".into(), json!(total_pages));
        resp.insert("totalHits".into(), json!(total_hits));
    } else {
        resp.insert("limit".into(), json!(limit));
        resp.insert("offset".into(), json!(offset));
        resp.insert("estimatedTotalHits".into(), json!(total));
    }
    if let Some(requested) = &query.facets {
        let fields =
            facets::selected_fields(requested, &settings.filterable, &view.search.all_fields);
        let mut ids: Vec<DocId> = hits.iter().map(|(id, _)| *id).collect();
        ids.sort_unstable();
        let (dist, stats) = facets::distribution(&fields, &ids, view.docs, settings, view.search);
        resp.insert("facetDistribution".into(), dist);
        resp.insert("facetStats".into(), stats);
    }
    if query.show_performance_details {
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        resp.insert(
            "performanceDetails".into(),
            json!({"search": format!("{ms:.2}ms")}),
        );
    }
    resp.insert("requestUid".into(), json!(request_uid()));
    Ok(Value::Object(resp))
}
