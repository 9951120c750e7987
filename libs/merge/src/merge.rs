//! Turning the shards' answers into the client's answer.

use std::cmp::Ordering;
use std::collections::HashSet;

use std::borrow::Cow;
use std::cell::OnceCell;

use miroir_proto::error::MeiliError;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::compare::{OnePass, Ranking};
use crate::hits::{self, DistinctKey};
use crate::params::Pagination;
use crate::raw::{
    self, RankedHit, RawObject, SearchBody, decode_path_members, write_key, write_value,
};
use crate::scan::{self, ObjectCursor};
use crate::score::Maxima;
use crate::{IndexMergeContext, MergeError, ShardPlan, facets};

/// A re-normalised score is recomputed through a few float operations; when it is compared
/// with the client's `rankingScoreThreshold`, it gets this much benefit of the doubt.
const RECOMPUTED_SCORE_TOLERANCE: f64 = 1e-12;

/// Keys of a search response that the merge computes; any other key a shard returns is copied
/// from the first shard that has it, after these.
const COMPUTED_KEYS: &[&str] = &[
    "hits",
    "query",
    "queryVector",
    "processingTimeMs",
    "limit",
    "offset",
    "estimatedTotalHits",
    "hitsPerPage",
    "page",
    "totalPages",
    "totalHits",
    "facetDistribution",
    "facetStats",
    "requestUid",
];

/// Values the caller sets on the merged answer rather than the merge computing them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `processingTimeMs` (else the slowest shard's).
    pub processing_time_ms: Option<u64>,
    /// `requestUid`, written when a shard answered one (else the first shard's).
    pub request_uid: Option<String>,
    /// Facet counts that shards did not list and a second round read
    /// ([`facets::missing_counts`]).
    pub facet_counts: Vec<facets::FacetCount>,
}

/// One hit, kept as the shard wrote it: its members unparsed, and what the merge reads of it.
///
/// For a client that sees neither scores nor details (nor sets a threshold), a hit is only
/// delimited in the pass over the shard's answer; its members, its ranking and its primary key
/// are read when the k-way merge first compares it, which is a few more hits than the page, not
/// every hit of every shard. A hit that is then found malformed fails the merge as a malformed
/// answer would; one never compared is never read.
struct ShardHit<'a> {
    /// The hit's text, when its members are read only if needed.
    text: Option<raw::Raw<'a>>,
    /// Its members (without the details) and its `_rankingScoreDetails` as the shard wrote them;
    /// `None` when `text` is not an object.
    read: OnceCell<Option<(RawObject<'a>, Option<raw::Raw<'a>>)>>,
    ranking: OnceCell<Ranking>,
    /// The primary key's value, when the hit has it.
    id: OnceCell<Option<Value>>,
    /// For a hit read compactly ([`ShardHit::compact`]), its text before its scores: written
    /// as is for a client that sees neither scores nor details and has no field to strip.
    head: Option<&'a str>,
}

/// The members of a hit that could not be read (never written: such a hit fails the merge).
static NO_MEMBERS: RawObject<'static> = RawObject {
    members: Vec::new(),
};

/// The ranking of a hit whose details were decoded where they stand, or `None` where that
/// reading cannot tell (the details are then read from their text).
fn ranked(hit: RankedHit<'_>) -> Option<(RawObject<'_>, Ranking)> {
    let score = hit.doc.decode::<f64>("_rankingScore");
    let ranking = match hit.details {
        Some(pass) => Ranking::from_one_pass(score, pass)?,
        None => Ranking::from_raw(score, None),
    };
    Some((hit.doc, ranking))
}

/// A primary key's raw JSON as serde_json decodes it. The usual shapes, a string without
/// escapes and a non-negative integer, are taken directly; anything else goes to serde_json.
fn id_value(raw: &str) -> Option<Value> {
    let bytes = raw.as_bytes();
    if let [b'"', inner @ .., b'"'] = bytes
        && !inner.iter().any(|&b| b == b'\\' || b == b'"' || b < 0x20)
    {
        // Within a valid `&str`, between quotes: the same text serde_json would unescape to.
        return raw
            .get(1..raw.len() - 1)
            .map(|s| Value::String(s.to_owned()));
    }
    if let Some(n) = scan::json_u64(raw) {
        return Some(Value::from(n));
    }
    serde_json::from_str::<Value>(raw).ok()
}

impl<'a> ShardHit<'a> {
    /// A hit read in the pass: its members, and its details when kept as text.
    fn read(doc: RawObject<'a>, details: Option<raw::Raw<'a>>) -> Self {
        ShardHit {
            text: None,
            read: OnceCell::from(Some((doc, details))),
            ranking: OnceCell::new(),
            id: OnceCell::new(),
            head: None,
        }
    }

    /// A hit only delimited in the pass.
    fn delimited(text: raw::Raw<'a>) -> Self {
        ShardHit {
            text: Some(text),
            read: OnceCell::new(),
            ranking: OnceCell::new(),
            id: OnceCell::new(),
            head: None,
        }
    }

    /// A hit of a split answer, read as the merge reaches it (to be compared at once): with its
    /// ranking decoded on the way when [`RankedHit`] could read it, else with its details kept
    /// as text ([`raw::LazyHit`]), or found malformed.
    fn lazy(text: raw::Raw<'a>, read: Option<RankedHit<'a>>) -> Self {
        let hit = ShardHit::delimited(text);
        let read = match read.and_then(ranked) {
            Some((doc, ranking)) => {
                let _ = hit.ranking.set(ranking);
                Some((doc, None))
            }
            None => raw::LazyHit::parse(text.get())
                .ok()
                .map(|h| (h.doc, h.details)),
        };
        let _ = hit.read.set(read);
        hit
    }

    /// A hit of a split answer read compactly ([`scan::Scanner::compact_hit`], which checked
    /// it whole): its ranking and primary key decoded on the way, its members left unread
    /// until something needs them (`distinct`, a field to strip). `None` where the details'
    /// one-pass reading cannot tell the ranking.
    fn compact(text: raw::Raw<'a>, hit: scan::CompactHit<'a, OnePass>) -> Option<Self> {
        // The score as every other reading takes it ([`scan::float`], serde_json's value).
        let score = scan::float(hit.score).ok().flatten();
        let ranking = Ranking::from_one_pass(score, hit.details)?;
        let id = hit.id.and_then(|raw| id_value(raw.get()));
        let mut read = ShardHit::delimited(text);
        read.head = Some(hit.head);
        let _ = read.ranking.set(ranking);
        let _ = read.id.set(id);
        Some(read)
    }

    /// Whether the hit is a JSON object the merge can read (a compactly read one was checked
    /// whole already).
    fn is_readable(&self) -> bool {
        self.head.is_some() || self.members().is_some()
    }

    /// Its members and details, read now if they were not in the pass; `None` if malformed.
    /// A hit read now is read for a client that does not see the details: they are decoded
    /// where they stand ([`RankedHit`]) into its ranking, or, should that reading refuse
    /// them, kept as text and read from it.
    fn members(&self) -> Option<&(RawObject<'a>, Option<raw::Raw<'a>>)> {
        self.read
            .get_or_init(|| {
                let text = self.text?;
                if let Some((doc, ranking)) = RankedHit::parse(text.get()).ok().and_then(ranked) {
                    let _ = self.ranking.set(ranking);
                    return Some((doc, None));
                }
                let hit = raw::LazyHit::parse(text.get()).ok()?;
                Some((hit.doc, hit.details))
            })
            .as_ref()
    }

    fn doc(&self) -> &RawObject<'a> {
        self.members().map_or(&NO_MEMBERS, |(doc, _)| doc)
    }

    fn details(&self) -> Option<raw::Raw<'a>> {
        self.members().and_then(|(_, details)| *details)
    }

    fn ranking(&self) -> &Ranking {
        if let Some(ranking) = self.ranking.get() {
            return ranking;
        }
        // Reading a hit may decode its ranking on the way: read first, so that the cell is
        // never set while its own initialiser runs.
        let _ = self.members();
        self.ranking.get_or_init(|| {
            let score = self.doc().decode::<f64>("_rankingScore");
            Ranking::from_raw(score, self.details().map(|d| d.get()))
        })
    }

    fn id(&self, ctx: &IndexMergeContext) -> Option<&Value> {
        self.id
            .get_or_init(|| {
                ctx.primary_key
                    .as_deref()
                    .and_then(|pk| self.doc().decode::<Value>(pk))
            })
            .as_ref()
    }
}

struct ShardAnswer<'a> {
    body: RawObject<'a>,
    /// The hits read so far: all of them, or (answer split, see [`scan::split_hits`]) those
    /// the merge has asked for, the rest still behind `more`.
    hits: Vec<ShardHit<'a>>,
    more: Option<ObjectCursor<'a>>,
    /// The answer's bytes, read again whole should the split turn out wrong.
    response: &'a [u8],
    total: u64,
    /// `facetDistribution` and `facetStats`, read borrowing the answer's text (the merge sums
    /// them).
    facets: facets::ShardFacets<'a>,
    /// The details of the last hit read from `more`, which the next one often repeats.
    last_details: crate::compare::LastDetails<'a>,
}

/// A hit of a split answer as [`ShardAnswer::fill`] read it.
enum HitRead<'a> {
    Compact(scan::CompactHit<'a, OnePass>),
    General(RankedHit<'a>),
}

/// How a shard's hits are read: with every ranking decoded in the pass (the maxima, and so
/// every hit's details, are needed: the client sees scores or details, or set a threshold), or
/// with each ranking read when the merge first compares the hit.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Rankings {
    Eager { show_details: bool },
    Lazy,
}

/// Whether a shard's answer is a Meilisearch error rather than a search answer.
fn is_error(body: &RawObject<'_>) -> bool {
    body.decode::<String>("code").is_some() && body.decode::<String>("message").is_some()
}

fn read_shard<'a>(
    shard: usize,
    response: &'a [u8],
    mode: Rankings,
) -> Result<ShardAnswer<'a>, MergeError> {
    // The common case first: members around the hits read, each hit read only when the merge
    // reaches it (`fill`).
    if mode == Rankings::Lazy
        && let Ok(text) = simdutf8::compat::from_utf8(response)
        && let Some(split) = scan::split_hits(text)
    {
        let body = RawObject {
            members: split.members,
        };
        if !is_error(&body) {
            return shard_answer(shard, response, body, Vec::new(), Some(split.hits));
        }
    }
    read_whole(shard, response, mode)
}

/// [`read_shard`] without the split: every hit at least delimited in one pass.
fn read_whole<'a>(
    shard: usize,
    response: &'a [u8],
    mode: Rankings,
) -> Result<ShardAnswer<'a>, MergeError> {
    let bad = |reason: String| MergeError::NotASearchResponse { shard, reason };
    // One pass over the bytes. Lazily read hits keep their details as delimited text; a
    // client that does not see the ranking details gets them decoded where they stand (they
    // are not written out); one that does, or details of an unusual shape, has them kept as
    // text and read from it. Only a malformed answer is read a third time, to say what is wrong.
    let fast = match mode {
        Rankings::Eager { show_details: true } => None,
        Rankings::Lazy => match SearchBody::<raw::DelimitedObject<'a>>::parse_slice(response) {
            Ok(SearchBody {
                body,
                hits: Some(raw_hits),
            }) if !is_error(&body) => {
                let hits = raw_hits
                    .into_iter()
                    .map(|hit| ShardHit::delimited(hit.0))
                    .collect();
                Some((body, hits))
            }
            _ => None,
        },
        Rankings::Eager {
            show_details: false,
        } => match SearchBody::<RankedHit<'a>>::parse_slice(response) {
            Ok(SearchBody {
                body,
                hits: Some(raw_hits),
            }) if !is_error(&body) => raw_hits
                .into_iter()
                .map(|hit| {
                    let score = hit.doc.decode::<f64>("_rankingScore");
                    let ranking = match hit.details {
                        Some(pass) => Ranking::from_one_pass(score, pass)?,
                        None => Ranking::from_raw(score, None),
                    };
                    let read = ShardHit::read(hit.doc, None);
                    let _ = read.ranking.set(ranking);
                    Some(read)
                })
                .collect::<Option<Vec<_>>>()
                .map(|hits| (body, hits)),
            _ => None,
        },
    };
    let (body, hits) = match fast {
        Some(read) => read,
        None => match SearchBody::<RawObject<'a>>::parse_slice(response) {
            Ok(SearchBody {
                body,
                hits: Some(raw_hits),
            }) if !is_error(&body) => {
                let hits = raw_hits
                    .into_iter()
                    .map(|doc| {
                        let details = doc.get("_rankingScoreDetails");
                        ShardHit::read(doc, details)
                    })
                    .collect();
                (body, hits)
            }
            _ => return Err(bad(diagnose(response))),
        },
    };
    shard_answer(shard, response, body, hits, None)
}

/// A shard's answer, its total and facets read from its members.
fn shard_answer<'a>(
    shard: usize,
    response: &'a [u8],
    body: RawObject<'a>,
    hits: Vec<ShardHit<'a>>,
    more: Option<ObjectCursor<'a>>,
) -> Result<ShardAnswer<'a>, MergeError> {
    let bad = |reason: String| MergeError::NotASearchResponse { shard, reason };
    let total = ["estimatedTotalHits", "totalHits"]
        .iter()
        .find_map(|k| body.decode::<u64>(k));
    let Some(total) = total else {
        return Err(bad(
            "no `estimatedTotalHits` or `totalHits` count".to_owned()
        ));
    };
    let facets = facets::ShardFacets::read(body.get("facetDistribution"), body.get("facetStats"));
    Ok(ShardAnswer {
        body,
        hits,
        more,
        response,
        total,
        facets,
        last_details: Default::default(),
    })
}

impl ShardAnswer<'_> {
    /// Read hits from `more` until `len` are read or none is left. Should the cursor fail
    /// (a malformed hit, or an answer whose `hits` is not followed by `query` after all), the
    /// answer is read again whole: its hits are the same texts in the same order up to there,
    /// and a malformed one fails the merge as it would have in one pass.
    ///
    /// A hit written as Meilisearch writes one is read compactly ([`ShardHit::compact`]:
    /// `primary_key` is noted on the way), any other the general way ([`ShardHit::lazy`]).
    fn fill(
        &mut self,
        shard: usize,
        len: usize,
        primary_key: Option<&str>,
    ) -> Result<(), MergeError> {
        while self.hits.len() < len {
            let Some(more) = self.more.as_mut() else {
                break;
            };
            // In the cursor's one scan: compactly if the hit is written so, else the general
            // way from the same position.
            let last = &mut self.last_details;
            let next = more.next_read(|s| {
                match s.compact_hit(primary_key, |s| OnePass::read_after(s, last)) {
                    Some(hit) => Ok(HitRead::Compact(hit)),
                    None => RankedHit::scan_after(s, last).map(HitRead::General),
                }
            });
            match next {
                Ok(Some((text, read))) => self.hits.push(match read {
                    Some(HitRead::Compact(hit)) => {
                        ShardHit::compact(text, hit).unwrap_or_else(|| ShardHit::lazy(text, None))
                    }
                    Some(HitRead::General(read)) => ShardHit::lazy(text, Some(read)),
                    None => ShardHit::lazy(text, None),
                }),
                Ok(None) => self.more = None,
                Err(_) => {
                    *self = read_whole(shard, self.response, Rankings::Lazy)?;
                }
            }
        }
        Ok(())
    }
}

/// Each shard's `facetDistribution`, decoded alone (`None` where a shard has none or its answer
/// is not an object), for [`facets::missing_counts`]. The hits are not read when the answer
/// splits around them ([`scan::split_hits`]).
pub fn facet_distributions(shard_responses: &[&[u8]]) -> Vec<Option<Map<String, Value>>> {
    shard_responses
        .iter()
        .map(|r| {
            let split = simdutf8::compat::from_utf8(r)
                .ok()
                .and_then(scan::split_hits);
            let body = match split {
                Some(split) => RawObject {
                    members: split.members,
                },
                None => RawObject::parse_slice(r).ok()?,
            };
            body.decode::<Map<String, Value>>("facetDistribution")
        })
        .collect()
}

/// Why `response` is not a search answer (or, should it be one after all with a `code` member,
/// that it has no readable hits).
fn diagnose(response: &[u8]) -> String {
    let Ok(body) = RawObject::parse_slice(response) else {
        return format!("expected a JSON object, got `{}`", truncated(response));
    };
    if let (Some(code), Some(message)) = (
        body.decode::<String>("code"),
        body.decode::<String>("message"),
    ) {
        return format!("the shard answered an error `{code}`: {message}");
    }
    let Some(raw_hits) = body
        .get("hits")
        .and_then(|h| serde_json::from_str::<Vec<&RawValue>>(h.get()).ok())
    else {
        return "no `hits` array".to_owned();
    };
    for (i, hit) in raw_hits.iter().enumerate() {
        if RawObject::parse(hit.get()).is_err() {
            return format!("hit #{i} is not an object");
        }
    }
    "unreadable answer".to_owned()
}

fn truncated(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    match s.char_indices().nth(200) {
        Some((cut, _)) => format!("{}...", &s[..cut]),
        None => s.into_owned(),
    }
}

/// Merge the shards' answers to [`ShardPlan::shard_request`] into the answer one whole index
/// would have given the client's request. `shard_responses` are Meilisearch search response
/// bodies, one per shard, in a fixed shard order (it breaks ties, so it must not vary).
///
/// A convenience over [`merge_bytes`] for answers already decoded (tests, tools); the read path
/// calls [`merge_bytes`] on the shards' bytes.
pub fn merge(
    plan: &ShardPlan,
    shard_responses: &[Value],
    ctx: &IndexMergeContext,
) -> Result<Value, MeiliError> {
    let encoded = shard_responses
        .iter()
        .map(serde_json::to_vec)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| MeiliError::internal(e.to_string()))?;
    let refs: Vec<&[u8]> = encoded.iter().map(Vec::as_slice).collect();
    let merged = merge_bytes(plan, &refs, ctx, &Overrides::default())?;
    serde_json::from_slice(&merged).map_err(|e| MeiliError::internal(e.to_string()))
}

/// [`merge`] on the shards' answers as they came over the wire, writing the client's answer as
/// bytes. No document is decoded: each hit's members are scanned, only the ranking details, the
/// primary key and the distinct attribute are decoded, and the hits' bytes are spliced into
/// the answer (with the re-normalised score and details, and without the fields the merge added
/// for itself).
///
/// Hits are merged shard list by shard list (each shard's own order is kept), picking at each
/// step the head that ranks first rule by rule ([`Ranking::compare`]), ties going to the lower
/// shard position; then documents already taken (same primary key) are skipped, the client's
/// `rankingScoreThreshold` is applied to the re-normalised score, `distinct` is applied across
/// shards, and the client's page is sliced out. Totals are the shards' sums minus the
/// duplicates seen (documents, and with `distinct` the values already kept from another shard:
/// see [`merge`]'s module docs for the bound); `processingTimeMs` is the slowest shard's and
/// `requestUid` the first shard's unless `overrides` say otherwise. `semanticHitCount` counts
/// the semantic hits (ranked by `vectorSort`) of the page, as one index counts them.
///
/// For a plan spread over the shards ([`ShardPlan::spread_over`]) call [`merge_or_deepen`]:
/// here a shard's answer that runs out too early is an error.
pub fn merge_bytes(
    plan: &ShardPlan,
    shard_responses: &[&[u8]],
    ctx: &IndexMergeContext,
    overrides: &Overrides,
) -> Result<Vec<u8>, MeiliError> {
    Ok(merge_answers(plan, shard_responses, &[], ctx, overrides)?)
}

/// What [`merge_or_deepen`] made of the shards' answers.
#[derive(Debug, PartialEq, Eq)]
pub enum Merged {
    /// The client's answer, as [`merge_bytes`] writes it.
    Answer(Vec<u8>),
    /// The merge used up the hits of these shards (positions in the answers), each asked for
    /// its share of the window only and each returning all of it: ask them again with
    /// [`ShardPlan::whole_request`], mark them in `whole`, and merge again.
    Deepen(Vec<usize>),
}

/// [`merge_bytes`] for a plan spread over the shards ([`ShardPlan::spread_over`]):
/// `whole[i]` says that answer `i` was asked for the whole window
/// ([`ShardPlan::whole_request`]), any other for the plan's share. The answer is the one the
/// whole window gives every shard: where the merge would need a hit beyond a shard's share, it
/// names the shards to ask again instead ([`Merged::Deepen`]).
pub fn merge_or_deepen(
    plan: &ShardPlan,
    shard_responses: &[&[u8]],
    whole: &[bool],
    ctx: &IndexMergeContext,
    overrides: &Overrides,
) -> Result<Merged, MeiliError> {
    match merge_answers(plan, shard_responses, whole, ctx, overrides) {
        Ok(answer) => Ok(Merged::Answer(answer)),
        Err(MergeError::ShardsCut { shards }) => Ok(Merged::Deepen(shards)),
        Err(e) => Err(e.into()),
    }
}

/// The merge of [`merge_bytes`] and [`merge_or_deepen`]; a shard whose `whole` entry is
/// missing is taken to have been asked as the plan says.
fn merge_answers(
    plan: &ShardPlan,
    shard_responses: &[&[u8]],
    whole: &[bool],
    ctx: &IndexMergeContext,
    overrides: &Overrides,
) -> Result<Vec<u8>, MergeError> {
    // Whole-index scores (and so the maxima over every hit) are needed only to show scores or
    // details, or to apply a threshold.
    let client = &plan.client;
    let scored = client.show_score || client.show_details || client.threshold.is_some();
    let mode = if scored {
        Rankings::Eager {
            show_details: client.show_details,
        }
    } else {
        Rankings::Lazy
    };
    let mut shards = shard_responses
        .iter()
        .enumerate()
        .map(|(i, r)| read_shard(i, r, mode))
        .collect::<Result<Vec<_>, _>>()?;
    let mut maxima = Maxima::default();
    if scored {
        for hit in shards.iter().flat_map(|s| &s.hits) {
            maxima.observe(hit.ranking());
        }
    }

    let (start, end) = plan.window;
    let ranked = ranked_hits(&mut shards, scored.then_some(&maxima), whole, plan, ctx)?;
    // After the ranking: a split answer may have been read again whole on the way.
    if !overrides.facet_counts.is_empty() {
        let mut facet_maps: Vec<facets::ShardFacets<'_>> = shards
            .iter_mut()
            .map(|s| std::mem::take(&mut s.facets))
            .collect();
        facets::add_counts(&mut facet_maps, &overrides.facet_counts);
        for (shard, map) in shards.iter_mut().zip(facet_maps) {
            shard.facets = map;
        }
    }
    let page_len = usize::try_from(end - start).unwrap_or(usize::MAX);
    let page: Vec<(&ShardHit<'_>, Option<f64>)> = ranked
        .kept
        .iter()
        .skip(usize::try_from(start).unwrap_or(usize::MAX))
        .take(page_len)
        .filter_map(|&((s, h), score)| Some((shards.get(s)?.hits.get(h)?, score)))
        .collect();

    let total = shards
        .iter()
        .fold(0u64, |acc, s| acc.saturating_add(s.total))
        .saturating_sub(ranked.duplicates);
    // Room for the page's hits as the shards wrote them (at most what is written of them)
    // and an average shard's answer for the rest, so that the answer is not copied as it grows.
    let input: usize = shard_responses.iter().map(|r| r.len()).sum();
    let page_bytes: usize = page
        .iter()
        .map(|(hit, _)| hit.text.map_or(0, |t| t.get().len() + 1))
        .sum();
    let mut out = Vec::with_capacity(page_bytes + input / shards.len().max(1) + 256);
    let strips = hits::strips(&plan.added_fields, &plan.client);
    out.extend_from_slice(b"{\"hits\":[");
    for (i, (hit, score)) in page.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_client_hit(&mut out, plan, &maxima, hit, *score, &strips);
    }
    out.push(b']');
    let semantic = page
        .iter()
        .filter(|(hit, _)| hit.ranking().rules.iter().any(|r| r.name == "vectorSort"))
        .count();
    write_response(&mut out, plan, ctx, &shards, total, semantic, overrides);
    out.push(b'}');
    Ok(out)
}

/// The merged ranking up to the end of the client's window, and what was skipped on the way.
struct Ranked {
    /// The first `plan.window.1` hits of the whole ranking (shard, position in its hits) with
    /// their whole-index scores.
    kept: Vec<((usize, usize), Option<f64>)>,
    /// Documents another shard had already returned, and (with `distinct`) hits whose value a
    /// better hit of another shard already holds: each counted in some shard's total.
    duplicates: u64,
}

/// A k-way merge of the shards' lists: each list is already in the index's order, so the next
/// hit overall is the best of the lists' heads. Keeping each shard's own order (rather than
/// sorting everything) also keeps the shard's word on anything the details cannot tell apart.
/// A split answer's hits are read as the heads reach them.
fn ranked_hits(
    shards: &mut [ShardAnswer<'_>],
    // `None` when no whole-index score is needed (nothing shows or filters on one).
    maxima: Option<&Maxima>,
    // Per shard, whether it was asked for the whole window; any other was asked for the
    // plan's share, and if it returned that many it may have more: the merge cannot go on once
    // it has used them up.
    whole: &[bool],
    plan: &ShardPlan,
    ctx: &IndexMergeContext,
) -> Result<Ranked, MergeError> {
    let end = plan.window.1;
    let mut heads = vec![0usize; shards.len()];
    let mut kept = Vec::new();
    // Sized for the window (bounded: a huge `limit` grows it as hits come), hashed with
    // foldhash (seeded per process) rather than SipHash: each hit's id is hashed once.
    let capacity = usize::try_from(end.min(1024)).unwrap_or(1024);
    let mut seen_ids: HashSet<String, foldhash::fast::RandomState> =
        HashSet::with_capacity_and_hasher(capacity, foldhash::fast::RandomState::default());
    let mut seen_distinct: HashSet<DistinctKey, foldhash::fast::RandomState> = HashSet::default();
    let mut duplicates = 0u64;
    while (kept.len() as u64) < end {
        let mut cut = Vec::new();
        for (s, shard) in shards.iter_mut().enumerate() {
            let head = heads.get(s).copied().unwrap_or_default();
            shard.fill(s, head + 1, ctx.primary_key.as_deref())?;
            let used_up = shard.hits.len() <= head;
            if used_up
                && !whole.get(s).copied().unwrap_or(false)
                && let Some(asked) = plan.spread_limit
                && shard.hits.len() as u64 >= asked
            {
                cut.push(s);
            }
        }
        if !cut.is_empty() {
            return Err(MergeError::ShardsCut { shards: cut });
        }
        let mut best: Option<(usize, &ShardHit<'_>)> = None;
        for (s, shard) in shards.iter().enumerate() {
            let Some((h, candidate)) = heads.get(s).and_then(|&h| Some((h, shard.hits.get(h)?)))
            else {
                continue;
            };
            if !candidate.is_readable() {
                return Err(MergeError::NotASearchResponse {
                    shard: s,
                    reason: format!("hit #{h} is not a readable JSON object"),
                });
            }
            let better = best.is_none_or(|(_, b)| match candidate.ranking().compare(b.ranking()) {
                Ordering::Less => true,
                Ordering::Greater => false,
                Ordering::Equal => tie_break(candidate, b, ctx) == Ordering::Less,
            });
            if better {
                best = Some((s, candidate));
            }
        }
        let Some((s, hit)) = best else { break };
        let h = heads.get(s).copied().unwrap_or_default();
        if let Some(head) = heads.get_mut(s) {
            *head += 1;
        }
        let id = hit.id(ctx).and_then(hits::id_of);
        if id.is_some_and(|id| !seen_ids.insert(id)) {
            duplicates += 1;
            continue;
        }
        let score = maxima.and_then(|m| m.global_score(hit.ranking()));
        if let (Some(threshold), Some(score)) = (plan.client.threshold, score) {
            let recomputed = hit.ranking().score != Some(score);
            let tolerance = if recomputed {
                RECOMPUTED_SCORE_TOLERANCE
            } else {
                0.0
            };
            if score + tolerance < threshold {
                continue;
            }
        }
        if let Some(attribute) = &plan.distinct {
            let values =
                hits::distinct_values(&decode_path_members(hit.doc(), attribute), attribute);
            if values.iter().any(|v| seen_distinct.contains(v)) {
                // Its shard kept one document of this value and counted it; a better one of
                // another shard is already in, so the sum counts the value once too often.
                duplicates += 1;
                continue;
            }
            seen_distinct.extend(values);
        }
        kept.push(((s, h), score));
    }
    Ok(Ranked { kept, duplicates })
}

/// Between heads tied on every rule: the smaller primary key first (integers by value, before
/// strings, strings by bytes), then the lower shard position (the caller's `<` on shard order).
///
/// One index breaks such ties by its internal document id, which follows insertion order; for
/// the common case of documents inserted by increasing id, the primary key order is the same
/// order, so even a placeholder search pages through the documents as one index would.
fn tie_break(a: &ShardHit<'_>, b: &ShardHit<'_>, ctx: &IndexMergeContext) -> Ordering {
    match (a.id(ctx), b.id(ctx)) {
        (Some(x), Some(y)) => compare_document_ids(x, y),
        _ => Ordering::Equal,
    }
}

/// Order of primary key values when nothing else tells documents apart: integers by value,
/// before strings, strings by bytes (see [`merge`]'s tie-break).
pub fn compare_document_ids(x: &Value, y: &Value) -> Ordering {
    match (x, y) {
        (Value::Number(a), Value::Number(b)) => match (a.as_i64(), b.as_i64()) {
            (Some(a), Some(b)) => a.cmp(&b),
            _ => a
                .as_f64()
                .partial_cmp(&b.as_f64())
                .unwrap_or(Ordering::Equal),
        },
        (Value::Number(_), _) => Ordering::Less,
        (_, Value::Number(_)) => Ordering::Greater,
        (Value::String(a), Value::String(b)) => a.cmp(b),
        _ => Ordering::Equal,
    }
}

/// One hit as the client asked for it, written after `out`: the shard's bytes, with the
/// whole-index score and details, without what the client did not ask for.
fn write_client_hit(
    out: &mut Vec<u8>,
    plan: &ShardPlan,
    maxima: &Maxima,
    hit: &ShardHit<'_>,
    score: Option<f64>,
    strips: &hits::Strips<'_>,
) {
    let new_score = match score {
        Some(score) if plan.client.show_score && hit.ranking().score != Some(score) => Some(score),
        _ => None,
    };
    if let Some(head) = hit.head
        && !plan.client.show_score
        && !plan.client.show_details
        && strips.document.is_empty()
        && strips.formatted.is_empty()
    {
        // The members before the scores, as the shard wrote them and as the loop below would
        // write them again one by one.
        out.extend_from_slice(head.as_bytes());
        out.push(b'}');
        return;
    }
    out.push(b'{');
    let mut first = true;
    let mut score_written = false;
    let mut sep = |out: &mut Vec<u8>| {
        if !std::mem::take(&mut first) {
            out.push(b',');
        }
    };
    for (key, raw) in &hit.doc().members {
        let key = key.as_ref();
        match key {
            "_rankingScore" => {
                if !plan.client.show_score || score_written {
                    continue;
                }
                score_written = true;
                sep(out);
                write_key(out, key);
                match new_score {
                    Some(s) => write_value(out, &Value::from(s)),
                    None => out.extend_from_slice(raw.get().as_bytes()),
                }
                continue;
            }
            "_rankingScoreDetails" => {
                if !plan.client.show_details {
                    continue;
                }
                sep(out);
                write_key(out, key);
                let decoded = hit
                    .details()
                    .and_then(|d| serde_json::from_str::<Map<String, Value>>(d.get()).ok());
                match decoded {
                    Some(details) => {
                        let mut fixed = details.clone();
                        maxima.fix_details(hit.ranking(), &mut fixed);
                        if fixed == details {
                            out.extend_from_slice(raw.get().as_bytes());
                        } else {
                            write_value(out, &fixed);
                        }
                    }
                    None => out.extend_from_slice(raw.get().as_bytes()),
                }
                continue;
            }
            _ => {}
        }
        let paths: &[&str] = if key == "_formatted" {
            &strips.formatted
        } else {
            &strips.document
        };
        let mut text: Cow<'_, str> = Cow::Borrowed(raw.get());
        let mut dropped = false;
        if key != "_formatted" && strips.document.contains(&key) {
            dropped = true;
        }
        if !dropped {
            for path in paths {
                if key == "_formatted" {
                    if let Some((t, _)) = raw::remove_path(&text, path) {
                        text = Cow::Owned(t);
                    }
                    continue;
                }
                // A nested path whose head is this member: strip inside it.
                if let Some(rest) = path.strip_prefix(key).and_then(|r| r.strip_prefix('.')) {
                    match raw::remove_path(&text, rest) {
                        Some((_, true)) => {
                            dropped = true;
                            break;
                        }
                        Some((t, false)) => text = Cow::Owned(t),
                        None => {}
                    }
                }
            }
        }
        if dropped {
            continue;
        }
        sep(out);
        write_key(out, key);
        out.extend_from_slice(text.as_bytes());
    }
    if let (Some(s), false) = (new_score, score_written) {
        sep(out);
        write_key(out, "_rankingScore");
        write_value(out, &Value::from(s));
    }
    out.push(b'}');
}

/// The rest of the response object after `"hits":[..]`, keys in Meilisearch's order.
fn write_response(
    out: &mut Vec<u8>,
    plan: &ShardPlan,
    ctx: &IndexMergeContext,
    shards: &[ShardAnswer<'_>],
    total: u64,
    semantic_hits: usize,
    overrides: &Overrides,
) {
    let first = |key: &str| shards.iter().find_map(|s| s.body.get(key));
    let field = |out: &mut Vec<u8>, key: &str, value: &Value| {
        out.push(b',');
        write_key(out, key);
        write_value(out, value);
    };
    field(out, "query", &Value::from(plan.client.query.as_str()));
    if let Some(vector) = first("queryVector") {
        out.push(b',');
        write_key(out, "queryVector");
        out.extend_from_slice(vector.get().as_bytes());
    }
    let slowest = shards
        .iter()
        .filter_map(|s| {
            s.body
                .decode::<Value>("processingTimeMs")
                .and_then(|v| v.as_u64())
        })
        .max();
    let took = overrides.processing_time_ms.or(slowest).unwrap_or(0);
    field(out, "processingTimeMs", &Value::from(took));
    match plan.client.pagination {
        Pagination::OffsetLimit { offset, limit } => {
            field(out, "limit", &Value::from(limit));
            field(out, "offset", &Value::from(offset));
            field(out, "estimatedTotalHits", &Value::from(total));
        }
        Pagination::Pages {
            page,
            hits_per_page,
        } => {
            // Meilisearch 1.50 reports page-mode totals uncapped by `maxTotalHits` (its single-index
            // search runs through the federated path, meilisearch#6482), as it does
            // `estimatedTotalHits`; only the hits themselves stop at `maxTotalHits`.
            let total_pages = total.div_ceil(hits_per_page.max(1)) * u64::from(hits_per_page > 0);
            field(out, "hitsPerPage", &Value::from(hits_per_page));
            field(out, "page", &Value::from(page));
            field(out, "totalPages", &Value::from(total_pages));
            field(out, "totalHits", &Value::from(total));
        }
    }
    let shard_facets: Vec<&facets::ShardFacets<'_>> = shards.iter().map(|s| &s.facets).collect();
    facets::merge_distribution_into(out, &shard_facets, ctx, total);
    facets::merge_stats_into(out, &shard_facets);
    if let Some(uid) = first("requestUid") {
        out.push(b',');
        write_key(out, "requestUid");
        match &overrides.request_uid {
            Some(ours) => write_value(out, ours),
            None => out.extend_from_slice(uid.get().as_bytes()),
        }
    }
    let mut written: HashSet<&str, foldhash::fast::RandomState> =
        HashSet::with_capacity_and_hasher(16, foldhash::fast::RandomState::default());
    for shard in shards {
        for (key, value) in &shard.body.members {
            let key = key.as_ref();
            if COMPUTED_KEYS.contains(&key) || !written.insert(key) {
                continue;
            }
            out.push(b',');
            write_key(out, key);
            if key == "semanticHitCount" {
                write_value(out, &Value::from(semantic_hits));
            } else {
                out.extend_from_slice(value.get().as_bytes());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    /// What the decoded path made of a hit: the document with [`hits::strip`] applied.
    fn value_path(plan: &ShardPlan, hit: &Value) -> String {
        let mut doc = hit.as_object().cloned().unwrap();
        hits::strip(&mut doc, &plan.added_fields, &plan.client);
        serde_json::to_string(&doc).unwrap()
    }

    /// The hits of `shards`' answers merged for `request`.
    fn merged_hits(ctx: &IndexMergeContext, shards: &[&str], request: Value) -> Vec<Value> {
        let plan = crate::plan(&request, ctx).unwrap();
        let shards: Vec<&[u8]> = shards.iter().map(|s| s.as_bytes()).collect();
        let merged = merge_bytes(&plan, &shards, ctx, &Overrides::default()).unwrap();
        let merged: Value = serde_json::from_slice(&merged).unwrap();
        merged["hits"].as_array().unwrap().clone()
    }

    #[test]
    fn a_primary_key_is_read_as_serde_json_reads_it() {
        for raw in [
            r#""abc""#,
            r#""""#,
            r#""a\"b""#,
            r#""a\u0041""#,
            r#""é ü""#,
            "0",
            "7",
            "1234567890123456789",
            "18446744073709551615",
            "18446744073709551616",
            "99999999999999999999",
            "-3",
            "-0",
            "1.5",
            "1e3",
            "01",
            "null",
            "true",
            "{}",
            "[1]",
            "\"unterminated",
        ] {
            assert_eq!(
                id_value(raw),
                serde_json::from_str::<Value>(raw).ok(),
                "{raw}"
            );
        }
        for (value, id) in [
            (json!("x"), "x"),
            (json!(42), "42"),
            (json!(-42), "-42"),
            (json!(u64::MAX), "18446744073709551615"),
            (json!(1.5), "1.5"),
        ] {
            assert_eq!(hits::id_of(&value).as_deref(), Some(id));
        }
    }

    /// An index whose primary key is `id`, Meilisearch's defaults otherwise.
    fn id_ctx() -> IndexMergeContext {
        IndexMergeContext {
            primary_key: Some("id".into()),
            ..Default::default()
        }
    }

    fn ids(hits: &[Value]) -> Vec<u64> {
        hits.iter().map(|h| h["id"].as_u64().unwrap()).collect()
    }

    /// A shard asked for its share of the window whose hits the merge uses up is named to be
    /// asked again; with its whole answer the merge gives the whole window's answer byte for
    /// byte. A shard that returned fewer hits than its share has no more and is not asked.
    #[test]
    fn a_share_used_up_is_asked_again_and_the_answer_is_the_whole_windows() {
        let ctx = id_ctx();
        let hit = |id: u64, typos: u64| {
            json!({"id": id, "_rankingScore": 0.5, "_rankingScoreDetails": {
                "typo": {"order": 0, "typoCount": typos, "maxTypoCount": 2, "score": 0.5}}})
        };
        // What a shard holding `hits` answers when asked for `limit` of them.
        let answer = |hits: &[(u64, u64)], limit: usize| {
            let listed: Vec<Value> = hits.iter().take(limit).map(|&(id, t)| hit(id, t)).collect();
            json!({"hits": listed, "query": "a", "limit": limit, "offset": 0,
                   "estimatedTotalHits": hits.len()})
            .to_string()
        };
        let request = json!({"q": "a", "limit": 20});
        let whole_plan = crate::plan(&request, &ctx).unwrap();
        let plan = whole_plan.clone().spread_over(4);
        assert_eq!(plan.spread_limit, Some(13));
        assert_eq!(plan.whole_request()["limit"], json!(20));
        // The 4 shards' answers to the whole window and to the share when shard 0 holds the
        // `best` best documents (no typo) and the others `rest` each (one typo).
        let answers = |best: u64, rest: u64| {
            let holdings: Vec<Vec<(u64, u64)>> = (0..4u64)
                .map(|s| match s {
                    0 => (0..best).map(|i| (i * 4, 0)).collect(),
                    _ => (0..rest).map(|i| (i * 4 + s, 1)).collect(),
                })
                .collect();
            let asked = |limit| {
                holdings
                    .iter()
                    .map(|h| answer(h, limit))
                    .collect::<Vec<_>>()
            };
            (asked(20), asked(13))
        };
        let (whole, mut spread) = answers(16, 5);
        let bytes = |answers: &[String]| -> Vec<Vec<u8>> {
            answers.iter().map(|a| a.as_bytes().to_vec()).collect()
        };
        let expected = {
            let answers = bytes(&whole);
            let refs: Vec<&[u8]> = answers.iter().map(Vec::as_slice).collect();
            merge_bytes(&whole_plan, &refs, &ctx, &Overrides::default()).unwrap()
        };
        let merge = |answers: &[String], asked_whole: &[bool]| {
            let answers = bytes(answers);
            let refs: Vec<&[u8]> = answers.iter().map(Vec::as_slice).collect();
            merge_or_deepen(&plan, &refs, asked_whole, &ctx, &Overrides::default()).unwrap()
        };
        assert_eq!(merge(&spread, &[false; 4]), Merged::Deepen(vec![0]));
        {
            // `merge_bytes` does not take a used-up share for the end of a shard's list.
            let answers = bytes(&spread);
            let refs: Vec<&[u8]> = answers.iter().map(Vec::as_slice).collect();
            let e = merge_bytes(&plan, &refs, &ctx, &Overrides::default()).unwrap_err();
            assert_eq!(e.status, 500, "{e:?}");
        }
        spread[0] = whole[0].clone();
        let merged = merge(&spread, &[true, false, false, false]);
        assert_eq!(merged, Merged::Answer(expected.clone()));
        let Merged::Answer(merged) = merged else {
            unreachable!()
        };
        let merged: Value = serde_json::from_slice(&merged).unwrap();
        assert_eq!(
            ids(merged["hits"].as_array().unwrap())[..16],
            (0..16).map(|i| i * 4).collect::<Vec<_>>()[..]
        );
        assert_eq!(merged["estimatedTotalHits"], json!(31));

        // Shard 0 holds 12 of the best: its share is not used up, nothing is asked again.
        let (whole, spread) = answers(12, 9);
        let answers = bytes(&whole);
        let refs: Vec<&[u8]> = answers.iter().map(Vec::as_slice).collect();
        let expected = merge_bytes(&whole_plan, &refs, &ctx, &Overrides::default()).unwrap();
        assert_eq!(merge(&spread, &[false; 4]), Merged::Answer(expected));
    }

    /// Details decoded where they stand (a client not showing them) and details kept as text
    /// (a client showing them, or a shape the one-pass reading refuses) rank hits the same way.
    #[test]
    fn details_read_in_one_pass_rank_as_details_read_from_text() {
        let ctx = id_ctx();
        let words =
            |m: u64| json!({"order": 0, "matchingWords": m, "maxMatchingWords": 2, "score": 0.5});
        let typo = |t: u64| json!({"order": 1, "typoCount": t, "maxTypoCount": 2, "score": 0.5});
        let hit = |id: u64, details: Value| json!({"id": id, "_rankingScore": 0.5, "_rankingScoreDetails": details});
        // Shard 0's details are regular; shard 1's second hit names a rule twice (JSON text
        // allows it), and its third has a rule whose fields have unexpected types.
        let shard0 = json!({"hits": [
            hit(1, json!({"words": words(2), "typo": typo(0)})),
            hit(3, json!({"words": words(2), "typo": typo(2)})),
            hit(5, json!({"words": words(1), "typo": typo(0)})),
        ], "estimatedTotalHits": 3})
        .to_string();
        let shard1 = format!(
            r#"{{"hits": [{}, {{"id": 4, "_rankingScore": 0.5, "_rankingScoreDetails": {{"words": {}, "words": {}, "typo": {}}}}}, {}], "estimatedTotalHits": 3}}"#,
            hit(2, json!({"words": words(2), "typo": typo(1)})),
            words(1),
            words(2),
            typo(1),
            hit(
                6,
                json!({"words": {"order": "0", "matchingWords": "x"}, "typo": typo(0)})
            ),
        );
        let ids = |request: Value| ids(&merged_hits(&ctx, &[&shard0, &shard1], request));
        let hidden = ids(json!({"q": "a b", "limit": 6}));
        let shown = ids(json!({"q": "a b", "limit": 6, "showRankingScoreDetails": true}));
        assert_eq!(hidden, shown);
        assert_eq!(hidden.len(), 6);
        // Two matching words and no typo first, then one typo (the repeated rule keeps its last
        // value, as a decoded object would), then two typos.
        assert_eq!(&hidden[..3], &[1, 2, 4]);
    }

    /// Hits whose details repeat the previous hit's text (read once per run) rank as they do
    /// when each hit's details are read (a client showing them), with every hit read lazily or
    /// every hit read in the pass (a client showing scores).
    #[test]
    fn runs_of_repeated_details_rank_as_details_read_one_by_one() {
        let ctx = id_ctx();
        let details = |words: u64, typos: u64| {
            json!({
                "words": {"order": 0, "matchingWords": words, "maxMatchingWords": 2, "score": words as f64 / 2.0},
                "typo": {"order": 1, "typoCount": typos, "maxTypoCount": 2, "score": 1.0 - typos as f64 / 3.0},
            })
        };
        let shard = |hits: &[(u64, u64, u64)]| {
            let hits: Vec<Value> = hits
                .iter()
                .map(|&(id, w, t)| json!({"id": id, "_rankingScore": 0.5, "_rankingScoreDetails": details(w, t)}))
                .collect();
            json!({"hits": hits, "query": "a b", "estimatedTotalHits": hits.len()}).to_string()
        };
        let shard0 = shard(&[(1, 2, 0), (2, 2, 0), (3, 2, 1), (5, 1, 0), (7, 1, 0)]);
        let shard1 = shard(&[(4, 2, 0), (6, 2, 2), (8, 2, 2), (9, 1, 1)]);
        let merged = |request: Value| merged_hits(&ctx, &[&shard0, &shard1], request);
        let shown = merged(json!({"q": "a b", "limit": 9, "showRankingScoreDetails": true}));
        let hidden = merged(json!({"q": "a b", "limit": 9}));
        let scored = merged(json!({"q": "a b", "limit": 9, "showRankingScore": true}));
        assert_eq!(ids(&hidden), ids(&shown));
        assert_eq!(ids(&scored), ids(&shown));
        let ranks: Vec<(u64, u64)> = shown
            .iter()
            .map(|h| {
                let d = &h["_rankingScoreDetails"];
                (
                    d["words"]["matchingWords"].as_u64().unwrap(),
                    d["typo"]["typoCount"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            ranks,
            [
                (2, 0),
                (2, 0),
                (2, 0),
                (2, 1),
                (2, 2),
                (2, 2),
                (1, 0),
                (1, 0),
                (1, 1)
            ]
        );
        assert_eq!(&ids(&shown)[3..], &[3, 6, 8, 5, 7, 9]);
    }

    #[test]
    fn raw_hits_are_written_as_the_decoded_path_wrote_them() {
        let ctx = IndexMergeContext {
            primary_key: Some("id".into()),
            distinct_attribute: Some("meta.family".into()),
            ..Default::default()
        };
        let details =
            json!({"words": {"order": 0, "matchingWords": 1, "maxMatchingWords": 1, "score": 1.0}});
        let hit = json!({
            "name": "n", "id": 1, "meta": {"x": 1, "family": "f", "y": {"z": 2}}, "meta.family": "g",
            "esc\"aped": "\u{e9}\n",
            "_formatted": {"name": "<em>n</em>", "id": "1", "meta": {"x": "1", "family": "f"}},
            "_rankingScore": 1.0, "_rankingScoreDetails": details,
        });
        let requests = [
            json!({"q": "n"}),
            json!({"q": "n", "attributesToRetrieve": ["name"]}),
            json!({"q": "n", "attributesToRetrieve": ["name", "meta.x"], "attributesToHighlight": ["meta"]}),
            json!({"q": "n", "attributesToRetrieve": ["meta.y"], "showRankingScore": true}),
            json!({"q": "n", "attributesToRetrieve": ["name"], "attributesToHighlight": ["*"], "showRankingScoreDetails": true}),
            json!({"q": "n", "attributesToRetrieve": ["meta.family.deep"], "attributesToCrop": ["id:3"]}),
        ];
        for request in requests {
            let p = crate::plan(&request, &ctx).unwrap();
            let shard = json!({"hits": [hit], "query": "n", "estimatedTotalHits": 1}).to_string();
            let merged = merge_bytes(&p, &[shard.as_bytes()], &ctx, &Overrides::default()).unwrap();
            let merged: Value = serde_json::from_slice(&merged).unwrap();
            assert_eq!(
                serde_json::to_string(&merged["hits"][0]).unwrap(),
                value_path(&p, &hit),
                "{request}"
            );
        }
    }

    #[test]
    fn the_answer_is_written_in_meilisearchs_key_order_with_the_callers_values() {
        let ctx = IndexMergeContext::default();
        let p = crate::plan(&json!({"q": "a", "limit": 1}), &ctx).unwrap();
        let shard = |t: u64| {
            format!(
                r#"{{"hits":[],"query":"a","processingTimeMs":{t},"limit":1,"offset":0,"estimatedTotalHits":2,"requestUid":"r{t}","extra":[1]}}"#
            )
        };
        let (a, b) = (shard(3), shard(9));
        let plain = merge_bytes(
            &p,
            &[a.as_bytes(), b.as_bytes()],
            &ctx,
            &Overrides::default(),
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(plain).unwrap(),
            r#"{"hits":[],"query":"a","processingTimeMs":9,"limit":1,"offset":0,"estimatedTotalHits":4,"requestUid":"r3","extra":[1]}"#
        );
        let overrides = Overrides {
            processing_time_ms: Some(12),
            request_uid: Some("mine".into()),
            facet_counts: Vec::new(),
        };
        let ours = merge_bytes(&p, &[a.as_bytes(), b.as_bytes()], &ctx, &overrides).unwrap();
        assert_eq!(
            String::from_utf8(ours).unwrap(),
            r#"{"hits":[],"query":"a","processingTimeMs":12,"limit":1,"offset":0,"estimatedTotalHits":4,"requestUid":"mine","extra":[1]}"#
        );
    }
}
