//! Every error code Miroir sends or branches on, with its HTTP status and its `type`, in one table.
//!
//! This is the only place where a code is spelled as a string. A status belongs to the code, not to
//! the place that raises it, so a code can no longer be given two statuses (`index_already_exists`
//! used to be 400 in one crate and 409 in another; Meilisearch says 409). The statuses are
//! Meilisearch 1.50's (`meilisearch-types` `error.rs` `Code`), checked against the recorded
//! exchanges in `libs/testkit/fixtures/meilisearch-1.50` by this crate's `tests/error_codes.rs`.
//!
//! A node may send a code this table does not know (a newer Meilisearch): [`Code::Unknown`] keeps it
//! verbatim, so such an error passes through Miroir unchanged instead of failing to decode.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Meilisearch's `type` field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorType {
    InvalidRequest,
    Auth,
    Internal,
    System,
}

impl ErrorType {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::InvalidRequest => "invalid_request",
            ErrorType::Auth => "auth",
            ErrorType::Internal => "internal",
            ErrorType::System => "system",
        }
    }
}

macro_rules! error_codes {
    ($($variant:ident => $wire:literal, $status:literal, $ty:ident;)*) => {
        /// An error code Miroir knows: see the table in this module's source.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ErrorCode {
            $($variant,)*
        }

        impl ErrorCode {
            /// Every code, in table order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The code as it appears in `{"code": ...}` and in the error's link.
            pub const fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $wire,)* }
            }

            /// The HTTP status an error with this code is answered with.
            pub const fn status(self) -> u16 {
                match self { $(ErrorCode::$variant => $status,)* }
            }

            /// Meilisearch's `type` for this code.
            pub const fn error_type(self) -> ErrorType {
                match self { $(ErrorCode::$variant => ErrorType::$ty,)* }
            }

            /// The code spelled `wire`, if Miroir knows it.
            pub fn from_wire(wire: &str) -> Option<ErrorCode> {
                match wire {
                    $($wire => Some(ErrorCode::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

error_codes! {
    // Meilisearch's codes.
    ApiKeyAlreadyExists                    => "api_key_already_exists",                        409, InvalidRequest;
    ApiKeyNotFound                         => "api_key_not_found",                             404, InvalidRequest;
    BadRequest                             => "bad_request",                                   400, InvalidRequest;
    BatchNotFound                          => "batch_not_found",                               404, InvalidRequest;
    DocumentNotFound                       => "document_not_found",                            404, InvalidRequest;
    DumpProcessFailed                      => "dump_process_failed",                           500, Internal;
    FacetSearchDisabled                    => "facet_search_disabled",                         400, InvalidRequest;
    FeatureNotEnabled                      => "feature_not_enabled",                           400, InvalidRequest;
    ImmutableApiKeyActions                 => "immutable_api_key_actions",                     400, InvalidRequest;
    ImmutableApiKeyCreatedAt               => "immutable_api_key_created_at",                  400, InvalidRequest;
    ImmutableApiKeyExpiresAt               => "immutable_api_key_expires_at",                  400, InvalidRequest;
    ImmutableApiKeyIndexes                 => "immutable_api_key_indexes",                     400, InvalidRequest;
    ImmutableApiKeyUid                     => "immutable_api_key_uid",                         400, InvalidRequest;
    ImmutableApiKeyUpdatedAt               => "immutable_api_key_updated_at",                  400, InvalidRequest;
    ImmutableIndexCreatedAt                => "immutable_index_created_at",                    400, InvalidRequest;
    ImmutableIndexUid                      => "immutable_index_uid",                           400, InvalidRequest;
    ImmutableIndexUpdatedAt                => "immutable_index_updated_at",                    400, InvalidRequest;
    ImmutableWebhook                       => "immutable_webhook",                             400, InvalidRequest;
    ImmutableWebhookIsEditable             => "immutable_webhook_is_editable",                 400, InvalidRequest;
    ImmutableWebhookUuid                   => "immutable_webhook_uuid",                        400, InvalidRequest;
    IndexAlreadyExists                     => "index_already_exists",                          409, InvalidRequest;
    IndexNotFound                          => "index_not_found",                               404, InvalidRequest;
    IndexPrimaryKeyAlreadyExists           => "index_primary_key_already_exists",              400, InvalidRequest;
    IndexPrimaryKeyMultipleCandidatesFound => "index_primary_key_multiple_candidates_found",   400, InvalidRequest;
    IndexPrimaryKeyNoCandidateFound        => "index_primary_key_no_candidate_found",          400, InvalidRequest;
    Internal                               => "internal",                                      500, Internal;
    InvalidApiKey                          => "invalid_api_key",                               403, Auth;
    InvalidApiKeyActions                   => "invalid_api_key_actions",                       400, InvalidRequest;
    InvalidApiKeyDescription               => "invalid_api_key_description",                   400, InvalidRequest;
    InvalidApiKeyExpiresAt                 => "invalid_api_key_expires_at",                    400, InvalidRequest;
    InvalidApiKeyIndexes                   => "invalid_api_key_indexes",                       400, InvalidRequest;
    InvalidApiKeyLimit                     => "invalid_api_key_limit",                         400, InvalidRequest;
    InvalidApiKeyName                      => "invalid_api_key_name",                          400, InvalidRequest;
    InvalidApiKeyOffset                    => "invalid_api_key_offset",                        400, InvalidRequest;
    InvalidApiKeyUid                       => "invalid_api_key_uid",                           400, InvalidRequest;
    InvalidBatchUids                       => "invalid_batch_uids",                            400, InvalidRequest;
    InvalidContentType                     => "invalid_content_type",                          415, InvalidRequest;
    InvalidDocumentCsvDelimiter            => "invalid_document_csv_delimiter",                400, InvalidRequest;
    InvalidDocumentFields                  => "invalid_document_fields",                       400, InvalidRequest;
    InvalidDocumentFilter                  => "invalid_document_filter",                       400, InvalidRequest;
    InvalidDocumentId                      => "invalid_document_id",                           400, InvalidRequest;
    InvalidDocumentIds                     => "invalid_document_ids",                          400, InvalidRequest;
    InvalidDocumentLimit                   => "invalid_document_limit",                        400, InvalidRequest;
    InvalidDocumentOffset                  => "invalid_document_offset",                       400, InvalidRequest;
    InvalidDocumentRetrieveVectors         => "invalid_document_retrieve_vectors",             400, InvalidRequest;
    InvalidDocumentSort                    => "invalid_document_sort",                         400, InvalidRequest;
    InvalidFacetSearchExhaustiveFacetCount => "invalid_facet_search_exhaustive_facet_count",   400, InvalidRequest;
    InvalidFacetSearchFacetName            => "invalid_facet_search_facet_name",               400, InvalidRequest;
    InvalidFacetSearchFacetQuery           => "invalid_facet_search_facet_query",              400, InvalidRequest;
    InvalidIndexLimit                      => "invalid_index_limit",                           400, InvalidRequest;
    InvalidIndexOffset                     => "invalid_index_offset",                          400, InvalidRequest;
    InvalidIndexPrimaryKey                 => "invalid_index_primary_key",                     400, InvalidRequest;
    InvalidIndexCustomMetadata             => "invalid_index_custom_metadata",                 400, InvalidRequest;
    InvalidIndexUid                        => "invalid_index_uid",                             400, InvalidRequest;
    InvalidMultiSearchFacetOrder           => "invalid_multi_search_facet_order",              400, InvalidRequest;
    InvalidMultiSearchFacetsByIndex        => "invalid_multi_search_facets_by_index",          400, InvalidRequest;
    InvalidMultiSearchFederated            => "invalid_multi_search_federated",                400, InvalidRequest;
    InvalidMultiSearchFederationOptions    => "invalid_multi_search_federation_options",       400, InvalidRequest;
    InvalidMultiSearchMaxValuesPerFacet    => "invalid_multi_search_max_values_per_facet",     400, InvalidRequest;
    InvalidMultiSearchMergeFacets          => "invalid_multi_search_merge_facets",             400, InvalidRequest;
    InvalidMultiSearchQueryFacets          => "invalid_multi_search_query_facets",             400, InvalidRequest;
    InvalidMultiSearchQueryPagination      => "invalid_multi_search_query_pagination",         400, InvalidRequest;
    InvalidMultiSearchWeight               => "invalid_multi_search_weight",                   400, InvalidRequest;
    InvalidSearchAttributesToCrop          => "invalid_search_attributes_to_crop",             400, InvalidRequest;
    InvalidSearchAttributesToHighlight     => "invalid_search_attributes_to_highlight",        400, InvalidRequest;
    InvalidSearchAttributesToRetrieve      => "invalid_search_attributes_to_retrieve",         400, InvalidRequest;
    InvalidSearchAttributesToSearchOn      => "invalid_search_attributes_to_search_on",        400, InvalidRequest;
    InvalidSearchCropLength                => "invalid_search_crop_length",                    400, InvalidRequest;
    InvalidSearchCropMarker                => "invalid_search_crop_marker",                    400, InvalidRequest;
    InvalidSearchDistinct                  => "invalid_search_distinct",                       400, InvalidRequest;
    InvalidSearchEmbedder                  => "invalid_search_embedder",                       400, InvalidRequest;
    InvalidSearchFacets                    => "invalid_search_facets",                         400, InvalidRequest;
    InvalidSearchFilter                    => "invalid_search_filter",                         400, InvalidRequest;
    InvalidSearchHighlightPostTag          => "invalid_search_highlight_post_tag",             400, InvalidRequest;
    InvalidSearchHighlightPreTag           => "invalid_search_highlight_pre_tag",              400, InvalidRequest;
    InvalidSearchHitsPerPage               => "invalid_search_hits_per_page",                  400, InvalidRequest;
    InvalidSearchHybridQuery               => "invalid_search_hybrid_query",                   400, InvalidRequest;
    InvalidSearchLimit                     => "invalid_search_limit",                          400, InvalidRequest;
    InvalidSearchLocales                   => "invalid_search_locales",                        400, InvalidRequest;
    InvalidSearchMedia                     => "invalid_search_media",                          400, InvalidRequest;
    InvalidSearchMatchingStrategy          => "invalid_search_matching_strategy",              400, InvalidRequest;
    InvalidSearchOffset                    => "invalid_search_offset",                         400, InvalidRequest;
    InvalidSearchPage                      => "invalid_search_page",                           400, InvalidRequest;
    InvalidSearchPersonalize               => "invalid_search_personalize",                    400, InvalidRequest;
    InvalidSearchQ                         => "invalid_search_q",                              400, InvalidRequest;
    InvalidSearchRankingScoreThreshold     => "invalid_search_ranking_score_threshold",        400, InvalidRequest;
    InvalidSearchRetrieveVectors           => "invalid_search_retrieve_vectors",               400, InvalidRequest;
    InvalidSearchSemanticRatio             => "invalid_search_semantic_ratio",                 400, InvalidRequest;
    InvalidSearchShowMatchesPosition       => "invalid_search_show_matches_position",          400, InvalidRequest;
    InvalidSearchShowPerformanceDetails    => "invalid_search_show_performance_details",       400, InvalidRequest;
    InvalidSearchShowRankingScore          => "invalid_search_show_ranking_score",             400, InvalidRequest;
    InvalidSearchShowRankingScoreDetails   => "invalid_search_show_ranking_score_details",     400, InvalidRequest;
    InvalidSearchSort                      => "invalid_search_sort",                           400, InvalidRequest;
    InvalidSearchUseNetwork                => "invalid_search_use_network",                    400, InvalidRequest;
    InvalidSearchVector                    => "invalid_search_vector",                         400, InvalidRequest;
    InvalidSettingsDictionary              => "invalid_settings_dictionary",                   400, InvalidRequest;
    InvalidSettingsDisplayedAttributes     => "invalid_settings_displayed_attributes",         400, InvalidRequest;
    InvalidSettingsDistinctAttribute       => "invalid_settings_distinct_attribute",           400, InvalidRequest;
    InvalidSettingsEmbedders               => "invalid_settings_embedders",                    400, InvalidRequest;
    InvalidSettingsFacetSearch             => "invalid_settings_facet_search",                 400, InvalidRequest;
    InvalidSettingsFaceting                => "invalid_settings_faceting",                     400, InvalidRequest;
    InvalidSettingsForeignKeys             => "invalid_settings_foreign_keys",                 400, InvalidRequest;
    InvalidSettingsFilterableAttributes    => "invalid_settings_filterable_attributes",        400, InvalidRequest;
    InvalidSettingsLocalizedAttributes     => "invalid_settings_localized_attributes",         400, InvalidRequest;
    InvalidSettingsNonSeparatorTokens      => "invalid_settings_non_separator_tokens",         400, InvalidRequest;
    InvalidSettingsPagination              => "invalid_settings_pagination",                   400, InvalidRequest;
    InvalidSettingsPrefixSearch            => "invalid_settings_prefix_search",                400, InvalidRequest;
    InvalidSettingsProximityPrecision      => "invalid_settings_proximity_precision",          400, InvalidRequest;
    InvalidSettingsRankingRules            => "invalid_settings_ranking_rules",                400, InvalidRequest;
    InvalidSettingsSearchableAttributes    => "invalid_settings_searchable_attributes",        400, InvalidRequest;
    InvalidSettingsSearchCutoffMs          => "invalid_settings_search_cutoff_ms",            400, InvalidRequest;
    InvalidSettingsSeparatorTokens         => "invalid_settings_separator_tokens",             400, InvalidRequest;
    InvalidSettingsSortableAttributes      => "invalid_settings_sortable_attributes",          400, InvalidRequest;
    InvalidSettingsStopWords               => "invalid_settings_stop_words",                   400, InvalidRequest;
    InvalidSettingsSynonyms                => "invalid_settings_synonyms",                     400, InvalidRequest;
    InvalidSettingsTypoTolerance           => "invalid_settings_typo_tolerance",               400, InvalidRequest;
    InvalidSimilarEmbedder                 => "invalid_similar_embedder",                      400, InvalidRequest;
    InvalidSimilarFilter                   => "invalid_similar_filter",                        400, InvalidRequest;
    InvalidSimilarId                       => "invalid_similar_id",                            400, InvalidRequest;
    InvalidSimilarAttributesToRetrieve     => "invalid_similar_attributes_to_retrieve",        400, InvalidRequest;
    InvalidSimilarLimit                    => "invalid_similar_limit",                         400, InvalidRequest;
    InvalidSimilarOffset                   => "invalid_similar_offset",                        400, InvalidRequest;
    InvalidSimilarRankingScoreThreshold    => "invalid_similar_ranking_score_threshold",       400, InvalidRequest;
    InvalidSimilarRetrieveVectors          => "invalid_similar_retrieve_vectors",              400, InvalidRequest;
    InvalidSimilarShowRankingScore         => "invalid_similar_show_ranking_score",            400, InvalidRequest;
    InvalidSimilarShowRankingScoreDetails  => "invalid_similar_show_ranking_score_details",    400, InvalidRequest;
    InvalidStatsShowInternalDatabaseSizes  => "invalid_stats_show_internal_database_sizes",    400, InvalidRequest;
    InvalidStatsSizeFormat                 => "invalid_stats_size_format",                     400, InvalidRequest;
    InvalidSkipCreation                    => "invalid_skip_creation",                         400, InvalidRequest;
    InvalidSwapDuplicateIndexFound         => "invalid_swap_duplicate_index_found",            400, InvalidRequest;
    InvalidSwapIndexes                     => "invalid_swap_indexes",                          400, InvalidRequest;
    InvalidSwapRename                      => "invalid_swap_rename",                           400, InvalidRequest;
    InvalidTaskAfterEnqueuedAt             => "invalid_task_after_enqueued_at",                400, InvalidRequest;
    InvalidTaskAfterFinishedAt             => "invalid_task_after_finished_at",                400, InvalidRequest;
    InvalidTaskAfterStartedAt              => "invalid_task_after_started_at",                 400, InvalidRequest;
    InvalidTaskBeforeEnqueuedAt            => "invalid_task_before_enqueued_at",               400, InvalidRequest;
    InvalidTaskBeforeFinishedAt            => "invalid_task_before_finished_at",               400, InvalidRequest;
    InvalidTaskBeforeStartedAt             => "invalid_task_before_started_at",                400, InvalidRequest;
    InvalidTaskCanceledBy                  => "invalid_task_canceled_by",                      400, InvalidRequest;
    InvalidTaskFrom                        => "invalid_task_from",                             400, InvalidRequest;
    InvalidTaskLimit                       => "invalid_task_limit",                            400, InvalidRequest;
    InvalidTaskReverse                     => "invalid_task_reverse",                          400, InvalidRequest;
    InvalidTaskStatuses                    => "invalid_task_statuses",                         400, InvalidRequest;
    InvalidTaskTypes                       => "invalid_task_types",                            400, InvalidRequest;
    InvalidTaskUids                        => "invalid_task_uids",                             400, InvalidRequest;
    InvalidWebhookHeaders                  => "invalid_webhook_headers",                       400, InvalidRequest;
    InvalidWebhookUrl                      => "invalid_webhook_url",                           400, InvalidRequest;
    InvalidWebhookUuid                     => "invalid_webhook_uuid",                          400, InvalidRequest;
    InvalidWebhooks                        => "invalid_webhooks",                              400, InvalidRequest;
    MalformedPayload                       => "malformed_payload",                             400, InvalidRequest;
    MissingApiKeyActions                   => "missing_api_key_actions",                       400, InvalidRequest;
    MissingApiKeyExpiresAt                 => "missing_api_key_expires_at",                    400, InvalidRequest;
    MissingApiKeyIndexes                   => "missing_api_key_indexes",                       400, InvalidRequest;
    MissingAuthorizationHeader             => "missing_authorization_header",                  401, Auth;
    MissingContentType                     => "missing_content_type",                          415, InvalidRequest;
    MissingDocumentFilter                  => "missing_document_filter",                       400, InvalidRequest;
    MissingDocumentId                      => "missing_document_id",                           400, InvalidRequest;
    MissingIndexUid                        => "missing_index_uid",                             400, InvalidRequest;
    MissingMasterKey                       => "missing_master_key",                            401, Auth;
    MissingPayload                         => "missing_payload",                               400, InvalidRequest;
    MissingSearchHybrid                    => "missing_search_hybrid",                         400, InvalidRequest;
    MissingSwapIndexes                     => "missing_swap_indexes",                          400, InvalidRequest;
    MissingTaskFilters                     => "missing_task_filters",                          400, InvalidRequest;
    PayloadTooLarge                        => "payload_too_large",                             413, InvalidRequest;
    TaskNotFound                           => "task_not_found",                                404, InvalidRequest;
    WebhookNotFound                        => "webhook_not_found",                             404, InvalidRequest;

    // Miroir's own codes, and its answers for routes it does not serve.
    HandoffUnavailable                     => "handoff_unavailable",                           503, System;
    MethodNotAllowed                       => "method_not_allowed",                            405, InvalidRequest;
    NoNodeAvailable                        => "no_node_available",                             503, System;
    NodeUnavailable                        => "node_unavailable",                              503, System;
    NotFound                               => "not_found",                                     404, InvalidRequest;
    NotImplemented                         => "not_implemented",                               501, InvalidRequest;
    NotSupportedByMiroir                   => "not_supported_by_miroir",                       501, InvalidRequest;
    // A request body that stalled or took too long (the gateway's `body_*_timeout_ms`).
    RequestTimeout                         => "request_timeout",                               408, InvalidRequest;
    ServiceTimeout                         => "service_timeout",                               504, System;
    ServiceUnavailable                     => "service_unavailable",                           503, System;
    ShardTimeout                           => "shard_timeout",                                 504, System;
    ShardUnavailable                       => "shard_unavailable",                             503, System;
    SwapConflict                           => "swap_conflict",                                 503, System;
    // A key has as many uploads in flight as the gateway allows (`max_concurrent_uploads_per_key`).
    TooManyRequests                        => "too_many_requests",                             429, InvalidRequest;
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `code` of an error as it travels: a known [`ErrorCode`], or a code a node sent that this
/// table does not know, kept verbatim. Encoded as the bare string in JSON and MessagePack.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Code {
    Known(ErrorCode),
    Unknown(UnknownCode),
}

/// A code that is not in the table. Only [`Code::from_wire`] builds one, so a known code is never
/// held as `Unknown` and comparing codes by value stays correct.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct UnknownCode(String);

impl UnknownCode {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Code {
    /// Read a code from the wire; never fails.
    pub fn from_wire(wire: &str) -> Code {
        match ErrorCode::from_wire(wire) {
            Some(c) => Code::Known(c),
            None => Code::Unknown(UnknownCode(wire.to_string())),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Code::Known(c) => c.as_str(),
            Code::Unknown(u) => u.as_str(),
        }
    }

    /// The known code, if it is one.
    pub fn known(&self) -> Option<ErrorCode> {
        match self {
            Code::Known(c) => Some(*c),
            Code::Unknown(_) => None,
        }
    }
}

impl From<ErrorCode> for Code {
    fn from(c: ErrorCode) -> Code {
        Code::Known(c)
    }
}

impl PartialEq<ErrorCode> for Code {
    fn eq(&self, other: &ErrorCode) -> bool {
        *self == Code::Known(*other)
    }
}

impl PartialEq<Code> for ErrorCode {
    fn eq(&self, other: &Code) -> bool {
        other == self
    }
}

/// Comparing with the wire spelling, for tests that pin what a client sees.
impl PartialEq<&str> for Code {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<str> for Code {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Code {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Code, D::Error> {
        let wire = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Ok(Code::from_wire(&wire))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_reads_back_from_its_wire_spelling() {
        for &c in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_wire(c.as_str()), Some(c));
            assert_eq!(Code::from_wire(c.as_str()), c);
        }
    }

    #[test]
    fn an_unknown_code_is_kept_verbatim() {
        let c = Code::from_wire("some_future_code");
        assert_eq!(c.known(), None);
        assert_eq!(c, "some_future_code");
        let json = serde_json::to_string(&c).unwrap_or_default();
        assert_eq!(json, "\"some_future_code\"");
        assert_eq!(serde_json::from_str::<Code>(&json).ok(), Some(c));
    }
}
