//! Matching tasks against the filters of `/tasks`, `/batches`, cancel and delete, with
//! Meilisearch's semantics: every given filter must hold; `after*` is strictly after, `before*`
//! strictly before; a task that has not started matches no `startedAt` bound.
//!
//! Filters split in two: those a task's record always answers (uid, type, index, enqueue date)
//! and those that depend on how far it ran (status, batch, `canceledBy`, start and end dates),
//! which for a task not yet known to be final need its nodes to be asked.

use miroir_proto::MeiliError;
use miroir_proto::rpc_tasks::TaskFilter;
use time::OffsetDateTime;

use crate::task_index::{Progress, TaskSummary, parse_time};

/// How far a task ran, as its view shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct Dynamic {
    pub status: String,
    pub batch_uid: Option<u64>,
    pub canceled_by: Option<u64>,
    pub started_at: Option<OffsetDateTime>,
    pub finished_at: Option<OffsetDateTime>,
}

impl Dynamic {
    /// From the final state cached in the record.
    pub fn of_final(summary: &TaskSummary, done: &Progress) -> Self {
        Dynamic {
            status: done.status.clone(),
            batch_uid: Some(summary.uid),
            canceled_by: summary.canceled_by.filter(|_| done.status == "canceled"),
            started_at: done.started_at,
            finished_at: done.finished_at,
        }
    }

    /// From a rendered task view (`status`, `batchUid`, `canceledBy`, `startedAt`, `finishedAt`).
    pub fn of_view(view: &serde_json::Value) -> Self {
        let time = |k: &str| view.get(k).and_then(|v| v.as_str()).and_then(parse_time);
        Dynamic {
            status: view
                .get("status")
                .and_then(|s| s.as_str())
                .unwrap_or("processing")
                .to_string(),
            batch_uid: view.get("batchUid").and_then(|v| v.as_u64()),
            canceled_by: view.get("canceledBy").and_then(|v| v.as_u64()),
            started_at: time("startedAt"),
            finished_at: time("finishedAt"),
        }
    }

    pub fn is_final(&self) -> bool {
        matches!(self.status.as_str(), "succeeded" | "failed" | "canceled")
    }
}

/// A [`TaskFilter`] with its dates parsed once.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub raw: TaskFilter,
    after_enqueued: Option<OffsetDateTime>,
    before_enqueued: Option<OffsetDateTime>,
    after_started: Option<OffsetDateTime>,
    before_started: Option<OffsetDateTime>,
    after_finished: Option<OffsetDateTime>,
    before_finished: Option<OffsetDateTime>,
    /// Only tasks that left `enqueued` (those that have a batch).
    started_only: bool,
}

fn date(v: &Option<String>) -> Result<Option<OffsetDateTime>, MeiliError> {
    match v {
        None => Ok(None),
        Some(s) => parse_time(s).map(Some).ok_or_else(|| {
            MeiliError::internal(format!("the gateway sent an unreadable date `{s}`"))
        }),
    }
}

fn after(value: Option<OffsetDateTime>, bound: Option<OffsetDateTime>) -> bool {
    bound.is_none_or(|b| value.is_some_and(|v| v > b))
}

fn before(value: Option<OffsetDateTime>, bound: Option<OffsetDateTime>) -> bool {
    bound.is_none_or(|b| value.is_some_and(|v| v < b))
}

impl Filter {
    pub fn new(raw: TaskFilter) -> Result<Self, MeiliError> {
        Ok(Filter {
            after_enqueued: date(&raw.after_enqueued_at)?,
            before_enqueued: date(&raw.before_enqueued_at)?,
            after_started: date(&raw.after_started_at)?,
            before_started: date(&raw.before_started_at)?,
            after_finished: date(&raw.after_finished_at)?,
            before_finished: date(&raw.before_finished_at)?,
            raw,
            started_only: false,
        })
    }

    /// The same filter, keeping only tasks that started: the batches.
    pub fn started_only(mut self) -> Self {
        self.started_only = true;
        self
    }

    /// Whether some filter depends on how far a task ran.
    pub fn is_dynamic(&self) -> bool {
        let r = &self.raw;
        self.started_only
            || r.statuses.is_some()
            || r.batch_uids.is_some()
            || r.canceled_by.is_some()
            || self.after_started.is_some()
            || self.before_started.is_some()
            || self.after_finished.is_some()
            || self.before_finished.is_some()
    }

    /// The filters a task record always answers.
    pub fn matches_static(&self, t: &TaskSummary) -> bool {
        let r = &self.raw;
        r.visible_indexes
            .as_ref()
            .is_none_or(|v| !t.indexes.is_empty() && t.indexes.iter().all(|i| v.contains(i)))
            && r.uids.as_ref().is_none_or(|u| u.contains(&t.uid))
            && r.types.as_ref().is_none_or(|ty| ty.contains(&t.task_type))
            && r.index_uids
                .as_ref()
                .is_none_or(|ix| t.indexes.iter().any(|i| ix.contains(i)))
            && after(t.enqueued_at, self.after_enqueued)
            && before(t.enqueued_at, self.before_enqueued)
    }

    /// The filters that depend on how far the task ran.
    pub fn matches_dynamic(&self, d: &Dynamic) -> bool {
        let r = &self.raw;
        (!self.started_only || d.status != "enqueued")
            && r.statuses.as_ref().is_none_or(|s| s.contains(&d.status))
            && r.batch_uids
                .as_ref()
                .is_none_or(|b| d.batch_uid.is_some_and(|id| b.contains(&id)))
            && r.canceled_by
                .as_ref()
                .is_none_or(|c| d.canceled_by.is_some_and(|id| c.contains(&id)))
            && after(d.started_at, self.after_started)
            && before(d.started_at, self.before_started)
            && after(d.finished_at, self.after_finished)
            && before(d.finished_at, self.before_finished)
    }
}

/// One step of a listing: the tasks that match, known or still to be asked.
#[derive(Clone, Debug)]
pub enum Candidate {
    /// Matches every filter.
    Match(u64),
    /// Matches the static filters; whether it matches the others depends on its nodes.
    Unknown(u64),
}

impl Candidate {
    pub fn uid(&self) -> u64 {
        match self {
            Candidate::Match(u) | Candidate::Unknown(u) => *u,
        }
    }
}

/// Classify a summary: `None` when it cannot match.
pub fn classify(filter: &Filter, s: &TaskSummary) -> Option<Candidate> {
    if !filter.matches_static(s) {
        return None;
    }
    match &s.done {
        Some(done) => filter
            .matches_dynamic(&Dynamic::of_final(s, done))
            .then_some(Candidate::Match(s.uid)),
        None if filter.is_dynamic() => Some(Candidate::Unknown(s.uid)),
        None => Some(Candidate::Match(s.uid)),
    }
}

/// Meilisearch's page: `total` counts every match, `from` is the first uid shown (the `from`
/// asked, or the first match in order), `next` the uid that starts the next page.
pub fn page(
    matches: &[u64],
    from: Option<u64>,
    limit: usize,
    ascending: bool,
) -> (Vec<u64>, Option<u64>) {
    let start = match from {
        Some(f) if ascending => matches
            .iter()
            .position(|u| *u >= f)
            .unwrap_or(matches.len()),
        Some(f) => matches
            .iter()
            .position(|u| *u <= f)
            .unwrap_or(matches.len()),
        None => 0,
    };
    let window: Vec<u64> = matches
        .iter()
        .skip(start)
        .take(limit.saturating_add(1))
        .copied()
        .collect();
    let next = if window.len() > limit {
        window.last().copied()
    } else {
        None
    };
    (window.into_iter().take(limit).collect(), next)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn summary(uid: u64, index: &str, status: Option<&str>) -> TaskSummary {
        TaskSummary {
            uid,
            task_type: "documentAdditionOrUpdate".into(),
            indexes: vec![index.into()],
            enqueued_at: parse_time("2026-11-21T05:01:17Z"),
            canceled_by: None,
            done: status.map(|s| Progress {
                status: s.into(),
                started_at: parse_time("2026-11-21T05:01:18Z"),
                finished_at: parse_time("2026-11-21T05:01:19Z"),
            }),
        }
    }

    #[test]
    fn static_and_dynamic_filters() {
        let f = Filter::new(TaskFilter {
            index_uids: Some(vec!["movies".into()]),
            statuses: Some(vec!["failed".into()]),
            ..Default::default()
        })
        .unwrap();
        assert!(f.is_dynamic());
        assert!(classify(&f, &summary(1, "books", Some("failed"))).is_none());
        assert!(matches!(
            classify(&f, &summary(2, "movies", Some("failed"))),
            Some(Candidate::Match(2))
        ));
        assert!(classify(&f, &summary(3, "movies", Some("succeeded"))).is_none());
        assert!(matches!(
            classify(&f, &summary(4, "movies", None)),
            Some(Candidate::Unknown(4))
        ));
        let f = Filter::new(TaskFilter {
            after_enqueued_at: Some("2026-11-21T05:01:17Z".into()),
            ..Default::default()
        })
        .unwrap();
        // Strictly after.
        assert!(classify(&f, &summary(5, "movies", None)).is_none());
        let f = Filter::new(TaskFilter {
            before_started_at: Some("2026-11-22T00:00:00Z".into()),
            ..Default::default()
        })
        .unwrap();
        assert!(matches!(
            classify(&f, &summary(6, "movies", Some("succeeded"))),
            Some(Candidate::Match(6))
        ));
        let enqueued = Dynamic {
            status: "enqueued".into(),
            batch_uid: None,
            canceled_by: None,
            started_at: None,
            finished_at: None,
        };
        assert!(!f.matches_dynamic(&enqueued));
        // A key restricted to some indexes sees only the tasks of those.
        let f = Filter::new(TaskFilter {
            visible_indexes: Some(vec!["movies".into()]),
            ..Default::default()
        })
        .unwrap();
        assert!(classify(&f, &summary(7, "movies", None)).is_some());
        assert!(classify(&f, &summary(8, "books", None)).is_none());
        let mut cancel = summary(9, "movies", None);
        cancel.indexes.clear();
        assert!(classify(&f, &cancel).is_none());
    }

    #[test]
    fn pages_like_meilisearch() {
        let desc = [27, 26, 25, 24, 3];
        assert_eq!(page(&desc, None, 3, false), (vec![27, 26, 25], Some(24)));
        assert_eq!(page(&desc, Some(24), 3, false), (vec![24, 3], None));
        assert_eq!(page(&desc, Some(100), 1, false), (vec![27], Some(26)));
        let asc = [3, 24, 25];
        assert_eq!(page(&asc, Some(4), 1, true), (vec![24], Some(25)));
        assert_eq!(page(&asc, None, 0, true), (vec![], Some(3)));
    }
}
