//! `showInternalDatabaseSizes` and `sizeFormat` of `GET /stats` and `GET /indexes/{uid}/stats`.
//!
//! A node lists the LMDB databases of an index that hold something, in its own order, each with
//! its size on disk (whole 4 KiB pages). The stand-in keeps no LMDB files, so it models them:
//! `main` and `celluliteMetadata` always (one page each, as a node's empty index shows), the
//! word and document databases once the index holds documents (`documents` in as many pages as
//! the documents' JSON needs), the number and string facet databases when a filterable or
//! sortable field holds numbers or strings. The sizes are a model; which databases are listed,
//! their order and the answer's shape are a node's.

use miroir_proto::byte_size::SizeFormat;
use miroir_proto::error::{ErrorCode, MeiliError};
use serde_json::{Map, Value};

use crate::deserr::{self, QueryParams};
use crate::engine::fields::{leaves, matches_any};
use crate::store::{Index, Store};

const PAGE: u64 = 4096;

/// What a stats request asks for.
#[derive(Clone, Copy, Default)]
pub(super) struct StatsQuery {
    internal_sizes: bool,
    format: SizeFormat,
}

impl StatsQuery {
    pub(super) fn parse(raw: Option<&str>) -> Result<StatsQuery, MeiliError> {
        let mut q = StatsQuery::default();
        let params = QueryParams::parse(raw);
        for (name, value) in params.entries(&[
            (
                "showInternalDatabaseSizes",
                ErrorCode::InvalidStatsShowInternalDatabaseSizes,
            ),
            ("sizeFormat", ErrorCode::InvalidStatsSizeFormat),
        ])? {
            match name {
                "sizeFormat" => q.format = SizeFormat::parse(value)?,
                _ => {
                    q.internal_sizes = deserr::param_bool(
                        ErrorCode::InvalidStatsShowInternalDatabaseSizes,
                        name,
                        value,
                    )?
                }
            }
        }
        Ok(q)
    }

    /// One index's stats (as `Index::stats` gives them) in the asked shape.
    pub(super) fn index(self, index: &Index, stats: Value) -> Value {
        let Value::Object(stats) = stats else {
            return stats;
        };
        let mut out = Map::new();
        for (k, v) in stats {
            let v = match (k.as_str(), v.as_u64()) {
                ("rawDocumentDbSize" | "avgDocumentSize", Some(bytes)) => self.format.render(bytes),
                _ => v,
            };
            let after_indexing = k == "isIndexing";
            out.insert(k, v);
            if after_indexing && self.internal_sizes {
                let sizes = database_sizes(index)
                    .into_iter()
                    .map(|(name, bytes)| (name.to_string(), self.format.render(bytes)))
                    .collect();
                out.insert("internalDatabaseSizes".into(), Value::Object(sizes));
            }
        }
        Value::Object(out)
    }

    /// The node's stats (as `Store::stats` gives them) in the asked shape.
    pub(super) fn global(self, store: &Store, stats: Value) -> Value {
        let Value::Object(stats) = stats else {
            return stats;
        };
        let mut out = Map::new();
        for (k, v) in stats {
            let v = match (k.as_str(), v) {
                ("databaseSize" | "usedDatabaseSize", v) => match v.as_u64() {
                    Some(bytes) => self.format.render(bytes),
                    None => v,
                },
                ("indexes", Value::Object(each)) => Value::Object(
                    each.into_iter()
                        .map(|(uid, s)| {
                            let s = match store.indexes.get(&uid) {
                                Some(index) => self.index(index, s),
                                None => s,
                            };
                            (uid, s)
                        })
                        .collect(),
                ),
                (_, v) => v,
            };
            out.insert(k, v);
        }
        Value::Object(out)
    }
}

fn pages(bytes: u64) -> u64 {
    bytes.div_ceil(PAGE).max(1) * PAGE
}

/// The modelled databases of an index, in a node's order.
fn database_sizes(index: &Index) -> Vec<(&'static str, u64)> {
    let mut out = vec![("main", PAGE)];
    if !index.has_documents() {
        out.push(("celluliteMetadata", PAGE));
        return out;
    }
    let settings = &index.engine_settings;
    let (mut numbers, mut strings, mut filterable) = (false, false, false);
    for doc in index.docs.values() {
        for (path, value) in leaves(doc) {
            let is_filterable = matches_any(&settings.filterable, &path);
            if !is_filterable && !matches_any(&settings.sortable, &path) {
                continue;
            }
            filterable |= is_filterable;
            numbers |= value.is_number();
            strings |= value.is_string();
        }
    }
    out.extend([
        ("externalDocumentsIds", PAGE),
        ("wordDocids", PAGE),
        ("wordPairProximityDocids", PAGE),
        ("wordPositionDocids", PAGE),
        ("wordFidDocids", PAGE),
        ("fieldIdWordCountDocids", PAGE),
    ]);
    if numbers {
        out.push(("facetIdF64Docids", PAGE));
    }
    if strings {
        out.extend([
            ("facetIdStringDocids", PAGE),
            ("facetIdNormalizedStringStrings", PAGE),
            ("facetIdStringFst", PAGE),
        ]);
    }
    if filterable {
        out.push(("facetIdExistsDocids", PAGE));
    }
    if numbers {
        out.push(("fieldIdDocidFacetF64S", PAGE));
    }
    if strings {
        out.push(("fieldIdDocidFacetStrings", PAGE));
    }
    out.push(("documents", pages(index.raw_size())));
    out.push(("celluliteMetadata", PAGE));
    out
}
