//! The query parameters of `/tasks`, `/batches`, `POST /tasks/cancel` and `DELETE /tasks`,
//! checked as Meilisearch's `TasksFilterQuery` and `TaskDeletionOrCancelationQuery` check them:
//! parameters in declaration order, each with its own error code, `*` meaning "no filter",
//! bare dates moved to midnight (`before*`) or the next midnight (`after*`).

use miroir_proto::rpc_tasks::{TaskFilter, TaskPage};
use miroir_proto::{ErrorCode, MeiliError};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::params::{QueryParams, index_uid_problem, invalid_param, param_bool, quoted};

/// Every task status, in Meilisearch's order.
pub const STATUSES: &[&str] = &["enqueued", "processing", "succeeded", "failed", "canceled"];

/// Every task type of Meilisearch 1.50, in its order (the order its error message lists them).
pub const TYPES: &[&str] = &[
    "documentAdditionOrUpdate",
    "documentEdition",
    "documentDeletion",
    "settingsUpdate",
    "indexCreation",
    "indexDeletion",
    "indexUpdate",
    "indexSwap",
    "taskCancelation",
    "taskDeletion",
    "dumpCreation",
    "snapshotCreation",
    "export",
    "upgradeDatabase",
    "indexCompaction",
    "networkTopologyChange",
];

/// Which route's parameters are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// `GET /tasks` and `GET /batches`: filters, `limit`, `from`, `reverse`.
    List,
    /// `POST /tasks/cancel`: filters only, at least one.
    Cancel,
    /// `DELETE /tasks`: filters only, at least one.
    Delete,
}

const PAGE_PARAMS: &[(&str, ErrorCode)] = &[
    ("limit", ErrorCode::InvalidTaskLimit),
    ("from", ErrorCode::InvalidTaskFrom),
    ("reverse", ErrorCode::InvalidTaskReverse),
];

const DATE_PARAMS: &[(&str, ErrorCode)] = &[
    ("afterEnqueuedAt", ErrorCode::InvalidTaskAfterEnqueuedAt),
    ("beforeEnqueuedAt", ErrorCode::InvalidTaskBeforeEnqueuedAt),
    ("afterStartedAt", ErrorCode::InvalidTaskAfterStartedAt),
    ("beforeStartedAt", ErrorCode::InvalidTaskBeforeStartedAt),
    ("afterFinishedAt", ErrorCode::InvalidTaskAfterFinishedAt),
    ("beforeFinishedAt", ErrorCode::InvalidTaskBeforeFinishedAt),
];

/// The accepted parameters of a route, in Meilisearch's declaration order (which its "expected
/// one of" message follows).
fn accepted(route: Route) -> Vec<(&'static str, ErrorCode)> {
    let mut out = Vec::new();
    match route {
        Route::List => {
            out.extend_from_slice(PAGE_PARAMS);
            out.extend([
                ("batchUids", ErrorCode::InvalidBatchUids),
                ("uids", ErrorCode::InvalidTaskUids),
            ]);
        }
        Route::Cancel | Route::Delete => {
            out.extend([
                ("uids", ErrorCode::InvalidTaskUids),
                ("batchUids", ErrorCode::InvalidBatchUids),
            ]);
        }
    }
    out.extend([
        ("canceledBy", ErrorCode::InvalidTaskCanceledBy),
        ("types", ErrorCode::InvalidTaskTypes),
        ("statuses", ErrorCode::InvalidTaskStatuses),
        ("indexUids", ErrorCode::InvalidIndexUid),
    ]);
    out.extend_from_slice(DATE_PARAMS);
    out
}

/// The filters and the page of a task route's query string.
pub fn parse(raw: Option<&str>, route: Route) -> Result<(TaskFilter, TaskPage), MeiliError> {
    let params = QueryParams::parse(raw);
    let accepted = accepted(route);
    let mut filter = TaskFilter::default();
    let mut page = TaskPage::default();
    let mut any_filter = false;
    for (name, value) in params.entries(&accepted)? {
        let code = accepted
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(ErrorCode::BadRequest, |(_, c)| *c);
        if !PAGE_PARAMS.iter().any(|(n, _)| *n == name) {
            any_filter = true;
        }
        match name {
            "limit" => page.limit = param_u32(code, name, value)?,
            "from" => page.from = Some(u64::from(param_u32(code, name, value)?)),
            "reverse" => page.reverse = param_bool(code, name, value)?,
            "batchUids" => filter.batch_uids = uid_list(code, name, value)?,
            "uids" => filter.uids = uid_list(code, name, value)?,
            "canceledBy" => filter.canceled_by = uid_list(code, name, value)?,
            "types" => filter.types = named_list(code, name, value, TYPES, "task type", "types")?,
            "statuses" => {
                filter.statuses =
                    named_list(code, name, value, STATUSES, "task status", "statuses")?
            }
            "indexUids" => {
                filter.index_uids = match star_or_list(value) {
                    None => None,
                    Some(items) => {
                        if let Some(problem) = items.iter().find_map(|u| index_uid_problem(u)) {
                            return Err(invalid_param(code, name, problem));
                        }
                        Some(items)
                    }
                }
            }
            date => {
                let parsed = if value.trim() == "*" {
                    None
                } else {
                    let at = parse_date(value, date.starts_with("after")).ok_or_else(|| {
                        invalid_param(
                            code,
                            name,
                            format!("`{value}` is an invalid date-time. It should follow the YYYY-MM-DD or RFC 3339 date-time format."),
                        )
                    })?;
                    Some(
                        at.format(&Rfc3339)
                            .map_err(|e| MeiliError::internal(e.to_string()))?,
                    )
                };
                match date {
                    "afterEnqueuedAt" => filter.after_enqueued_at = parsed,
                    "beforeEnqueuedAt" => filter.before_enqueued_at = parsed,
                    "afterStartedAt" => filter.after_started_at = parsed,
                    "beforeStartedAt" => filter.before_started_at = parsed,
                    "afterFinishedAt" => filter.after_finished_at = parsed,
                    _ => filter.before_finished_at = parsed,
                }
            }
        }
    }
    match route {
        Route::Cancel if !any_filter => return Err(missing_filters("cancel")),
        Route::Delete if !any_filter => return Err(missing_filters("delete")),
        _ => {}
    }
    Ok((filter, page))
}

/// `missing_task_filters`, worded for the route (`cancel` or `delete`).
fn missing_filters(what: &str) -> MeiliError {
    MeiliError::new(
        ErrorCode::MissingTaskFilters,
        format!(
            "Query parameters to filter the tasks to {what} are missing. Available query parameters are: `uids`, `indexUids`, `statuses`, `types`, `canceledBy`, `beforeEnqueuedAt`, `afterEnqueuedAt`, `beforeStartedAt`, `afterStartedAt`, `beforeFinishedAt`, `afterFinishedAt`."
        ),
    )
}

fn param_u32(code: ErrorCode, name: &str, v: &str) -> Result<u32, MeiliError> {
    v.parse::<u32>().map_err(|_| {
        invalid_param(
            code,
            name,
            format!("could not parse `{v}` as a positive integer"),
        )
    })
}

/// A comma-separated list where `*` anywhere means "no filter".
fn star_or_list(v: &str) -> Option<Vec<String>> {
    let items: Vec<String> = v.split(',').map(|s| s.trim().to_string()).collect();
    if items.iter().any(|s| s == "*") {
        None
    } else {
        Some(items)
    }
}

fn uid_list(code: ErrorCode, name: &str, v: &str) -> Result<Option<Vec<u64>>, MeiliError> {
    match star_or_list(v) {
        None => Ok(None),
        Some(items) => items
            .iter()
            .map(|i| param_u32(code, name, i).map(u64::from))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
    }
}

/// Statuses or types: case-insensitive, given back in Meilisearch's spelling.
fn named_list(
    code: ErrorCode,
    name: &str,
    v: &str,
    known: &[&str],
    what: &str,
    plural: &str,
) -> Result<Option<Vec<String>>, MeiliError> {
    let Some(items) = star_or_list(v) else {
        return Ok(None);
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        match known.iter().find(|k| k.eq_ignore_ascii_case(&item)) {
            Some(k) => out.push((*k).to_string()),
            None => {
                return Err(invalid_param(
                    code,
                    name,
                    format!(
                        "`{item}` is not a valid {what}. Available {plural} are {}.",
                        quoted(known)
                    ),
                ));
            }
        }
    }
    Ok(Some(out))
}

/// RFC 3339, or a bare `YYYY-MM-DD`: midnight for `before*`, the next midnight for `after*`
/// (Meilisearch's `deserialize_date`).
fn parse_date(value: &str, after: bool) -> Option<OffsetDateTime> {
    if let Ok(t) = OffsetDateTime::parse(value, &Rfc3339) {
        return Some(t);
    }
    let date = time::Date::parse(
        value,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .ok()?;
    let midnight = date.midnight().assume_utc();
    Some(if after {
        midnight
            .checked_add(time::Duration::days(1))
            .unwrap_or(midnight)
    } else {
        midnight
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn err(raw: &str, route: Route) -> MeiliError {
        parse(Some(raw), route).unwrap_err()
    }

    #[test]
    fn messages_are_meilisearchs() {
        let e = err("statuses=done", Route::List);
        assert_eq!(e.code, "invalid_task_statuses");
        assert_eq!(
            e.message,
            "Invalid value in parameter `statuses`: `done` is not a valid task status. Available statuses are `enqueued`, `processing`, `succeeded`, `failed`, `canceled`."
        );
        let e = err("types=doggo", Route::List);
        assert_eq!(e.code, "invalid_task_types");
        assert!(e.message.starts_with("Invalid value in parameter `types`: `doggo` is not a valid task type. Available types are `documentAdditionOrUpdate`, `documentEdition`,"));
        assert!(
            e.message
                .ends_with("`indexCompaction`, `networkTopologyChange`.")
        );
        let e = err("afterEnqueuedAt=doggo", Route::List);
        assert_eq!(e.code, "invalid_task_after_enqueued_at");
        assert_eq!(
            e.message,
            "Invalid value in parameter `afterEnqueuedAt`: `doggo` is an invalid date-time. It should follow the YYYY-MM-DD or RFC 3339 date-time format."
        );
        assert_eq!(
            err("beforeFinishedAt=2021", Route::Cancel).code,
            "invalid_task_before_finished_at"
        );
        let e = err("uids=a", Route::List);
        assert_eq!(
            e.message,
            "Invalid value in parameter `uids`: could not parse `a` as a positive integer"
        );
        assert_eq!(err("limit=-1", Route::List).code, "invalid_task_limit");
        assert_eq!(err("from=x", Route::List).code, "invalid_task_from");
        assert_eq!(err("reverse=1", Route::List).code, "invalid_task_reverse");
        assert_eq!(
            err("canceledBy=x", Route::List).code,
            "invalid_task_canceled_by"
        );
        assert_eq!(err("batchUids=x", Route::List).code, "invalid_batch_uids");
        assert_eq!(
            err("indexUids=bad%20uid", Route::List).code,
            "invalid_index_uid"
        );
        let e = err("from=12", Route::Delete);
        assert_eq!(e.code, "bad_request");
        assert_eq!(
            e.message,
            "Unknown parameter `from`: expected one of `uids`, `batchUids`, `canceledBy`, `types`, `statuses`, `indexUids`, `afterEnqueuedAt`, `beforeEnqueuedAt`, `afterStartedAt`, `beforeStartedAt`, `afterFinishedAt`, `beforeFinishedAt`"
        );
        let e = err("", Route::Cancel);
        assert_eq!(e.code, "missing_task_filters");
        assert!(
            e.message
                .starts_with("Query parameters to filter the tasks to cancel are missing.")
        );
        assert!(
            err("", Route::Delete)
                .message
                .contains("tasks to delete are")
        );
    }

    #[test]
    fn filters_and_pages() {
        let (f, p) = parse(
            Some("statuses=Failed,enqueued&types=*&limit=2&from=7&reverse=true&uids=1,2"),
            Route::List,
        )
        .unwrap();
        assert_eq!(
            f.statuses,
            Some(vec!["failed".to_string(), "enqueued".to_string()])
        );
        assert_eq!(f.types, None);
        assert_eq!(f.uids, Some(vec![1, 2]));
        assert_eq!(
            p,
            TaskPage {
                limit: 2,
                from: Some(7),
                reverse: true
            }
        );
        let (f, _) = parse(
            Some("afterEnqueuedAt=2026-11-21&beforeEnqueuedAt=2026-11-21"),
            Route::List,
        )
        .unwrap();
        assert_eq!(f.after_enqueued_at.as_deref(), Some("2026-11-22T00:00:00Z"));
        assert_eq!(
            f.before_enqueued_at.as_deref(),
            Some("2026-11-21T00:00:00Z")
        );
        // A filter that is `*` still counts as a filter for cancel and delete, like Meilisearch.
        assert!(parse(Some("uids=*"), Route::Delete).is_ok());
    }
}
