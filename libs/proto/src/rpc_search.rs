//! Request/reply pairs of the read routes beyond the plain search, all served by the merger:
//! `POST /multi-search` (plain and federated) and `POST /indexes/{uid}/facet-search`.
//!
//! The gateway checks the multi-search envelope (the list of queries, each one's `indexUid` and
//! `federationOptions`, the `federation` object) and sends it already parsed; each query's own
//! search parameters travel as the client's JSON, checked by the nodes as one node would.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::envelope::Message;
use crate::rpc::{JsonBody, Rpc};
use crate::subjects::Service;

use crate::rpc::{message, rpc};

/// One query of a multi-search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MultiSearchQuery {
    pub index_uid: String,
    /// The query's search parameters: the client's object without `indexUid` and
    /// `federationOptions`.
    pub body: Bytes,
    /// `federationOptions.weight` (1.0 when absent); only meaningful in a federated search.
    pub weight: f64,
}

/// `federation.mergeFacets`: merge the facets of every index into one distribution.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct MergeFacets {
    pub max_values_per_facet: Option<u64>,
}

/// The `federation` object of a federated multi-search, with Meilisearch's defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Federation {
    pub limit: u64,
    pub offset: u64,
    /// `page`/`hitsPerPage`: either one switches the answer to page mode.
    pub page: Option<u64>,
    pub hits_per_page: Option<u64>,
    /// index uid -> the facets to compute on it (`None`: the client wrote `null`).
    pub facets_by_index: BTreeMap<String, Option<Vec<String>>>,
    pub merge_facets: Option<MergeFacets>,
}

impl Default for Federation {
    fn default() -> Self {
        Federation {
            limit: 20,
            offset: 0,
            page: None,
            hits_per_page: None,
            facets_by_index: BTreeMap::new(),
            merge_facets: None,
        }
    }
}

/// `POST /multi-search`: plain when `federation` is `None`, else federated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MultiSearch {
    pub queries: Vec<MultiSearchQuery>,
    pub federation: Option<Federation>,
    /// How long the caller waits, so the merger can retry other replicas within it.
    pub deadline_ms: u64,
}
message!(MultiSearch, "merger.multi-search", 1);
rpc!(MultiSearch => JsonBody, Service::Merger, "multi-search");

/// `POST /indexes/{uid}/facet-search`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FacetSearch {
    pub index_uid: String,
    /// The client's facet-search request, a JSON object.
    pub body: Bytes,
    pub deadline_ms: u64,
}
message!(FacetSearch, "merger.facet-search", 1);
rpc!(FacetSearch => JsonBody, Service::Merger, "facet-search");

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::envelope::{decode, encode};

    #[test]
    fn multi_search_round_trips_and_names_its_subject() {
        let request = MultiSearch {
            queries: vec![MultiSearchQuery {
                index_uid: "npm".into(),
                body: Bytes::from_static(br#"{"q":"react"}"#),
                weight: 2.5,
            }],
            federation: Some(Federation {
                facets_by_index: BTreeMap::from([
                    ("npm".into(), Some(vec!["major".into()])),
                    ("movies".into(), None),
                ]),
                merge_facets: Some(MergeFacets {
                    max_values_per_facet: Some(3),
                }),
                ..Federation::default()
            }),
            deadline_ms: 900,
        };
        let bytes = encode(&request).unwrap();
        assert_eq!(decode::<MultiSearch>(&bytes).unwrap(), request);
        assert_eq!(MultiSearch::subject(), "miroir.v1.merger.multi-search");
        assert_eq!(FacetSearch::subject(), "miroir.v1.merger.facet-search");
    }
}
