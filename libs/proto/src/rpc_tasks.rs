//! Request/reply pairs of the task routes (`GET /tasks`, `POST /tasks/cancel`, `DELETE /tasks`,
//! `/batches`) and of `POST /swap-indexes`, all served by the router, which owns cluster tasks
//! and index records.

use serde::{Deserialize, Serialize};

use crate::envelope::Message;
use crate::rpc::{EnqueuedTask, JsonBody, Rpc};
use crate::subjects::Service;

use crate::rpc::{message, rpc};

/// The filters of `/tasks`, `/batches`, `POST /tasks/cancel` and `DELETE /tasks`, as the gateway
/// parsed and validated them. `None` is "no filter" (absent, or `*`). Dates are RFC 3339, already
/// moved to the next midnight for a bare `after*` date, as Meilisearch does.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskFilter {
    pub uids: Option<Vec<u64>>,
    pub batch_uids: Option<Vec<u64>>,
    pub canceled_by: Option<Vec<u64>>,
    pub types: Option<Vec<String>>,
    pub statuses: Option<Vec<String>>,
    pub index_uids: Option<Vec<String>>,
    pub after_enqueued_at: Option<String>,
    pub before_enqueued_at: Option<String>,
    pub after_started_at: Option<String>,
    pub before_started_at: Option<String>,
    pub after_finished_at: Option<String>,
    pub before_finished_at: Option<String>,
    /// The indexes the client's API key may see (`None`: all). A task is visible when it names
    /// at least one index and every index it names is in the list, as Meilisearch shows tasks
    /// to a key restricted to some indexes.
    #[serde(default)]
    pub visible_indexes: Option<Vec<String>>,
}

/// `limit`, `from` and `reverse` of a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskPage {
    pub limit: u32,
    pub from: Option<u64>,
    pub reverse: bool,
}

impl Default for TaskPage {
    fn default() -> Self {
        TaskPage {
            limit: 20,
            from: None,
            reverse: false,
        }
    }
}

/// `GET /tasks`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskSearch {
    pub filter: TaskFilter,
    pub page: TaskPage,
}
message!(TaskSearch, "router.task.search", 1);
rpc!(TaskSearch => JsonBody, Service::Router, "task.search");

/// `POST /tasks/cancel`. `original_filter` is the client's query string with its `?`, shown in
/// the task's details.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskCancel {
    pub filter: TaskFilter,
    pub original_filter: String,
}
message!(TaskCancel, "router.task.cancel", 1);
rpc!(TaskCancel => EnqueuedTask, Service::Router, "task.cancel");

/// `DELETE /tasks`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskDelete {
    pub filter: TaskFilter,
    pub original_filter: String,
}
message!(TaskDelete, "router.task.delete", 1);
rpc!(TaskDelete => EnqueuedTask, Service::Router, "task.delete");

/// `GET /batches/{uid}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchGet {
    pub uid: u64,
}
message!(BatchGet, "router.batch.get", 1);
rpc!(BatchGet => JsonBody, Service::Router, "batch.get");

/// `GET /batches`: the same filters as `/tasks`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchList {
    pub filter: TaskFilter,
    pub page: TaskPage,
}
message!(BatchList, "router.batch.list", 1);
rpc!(BatchList => JsonBody, Service::Router, "batch.list");

/// Every index uid named by a cluster task (the gateway checks them against a restricted API
/// key to build [`TaskFilter::visible_indexes`]). The reply is a JSON array of strings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskIndexUids {}
message!(TaskIndexUids, "router.task.index-uids", 1);
rpc!(TaskIndexUids => JsonBody, Service::Router, "task.index-uids");

/// One pair of `POST /swap-indexes`, already validated by the gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwapPair {
    pub lhs: String,
    pub rhs: String,
    /// Rename `lhs` to `rhs` (which must not exist) instead of swapping.
    pub rename: bool,
}

/// `POST /swap-indexes`: every pair is applied at once, or none is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexSwap {
    pub swaps: Vec<SwapPair>,
}
message!(IndexSwap, "router.index.swap", 1);
rpc!(IndexSwap => EnqueuedTask, Service::Router, "index.swap");

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{decode, encode};

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    /// The encoded bytes are pinned: a change here is a wire change and needs a version bump.
    #[test]
    fn bytes_are_pinned() {
        let swap = IndexSwap {
            swaps: vec![SwapPair {
                lhs: "a".into(),
                rhs: "b".into(),
                rename: false,
            }],
        };
        let bytes = encode(&swap).unwrap();
        assert_eq!(
            hex(&bytes),
            "83a17601a46b696e64b1726f757465722e696e6465782e73776170a4626f647981a5737761707391\
             83a36c6873a161a3726873a162a672656e616d65c2"
        );
        assert_eq!(decode::<IndexSwap>(&bytes).unwrap(), swap);
        let cancel = TaskCancel {
            filter: TaskFilter {
                statuses: Some(vec!["enqueued".into()]),
                ..Default::default()
            },
            original_filter: "?statuses=enqueued".into(),
        };
        assert_eq!(
            decode::<TaskCancel>(&encode(&cancel).unwrap()).unwrap(),
            cancel
        );
        let search = TaskSearch {
            filter: TaskFilter {
                uids: Some(vec![3]),
                ..Default::default()
            },
            page: TaskPage::default(),
        };
        let bytes = encode(&search).unwrap();
        assert_eq!(
            hex(&bytes),
            "83a17601a46b696e64b2726f757465722e7461736b2e736561726368a4626f647982a666696c7465728da47569647391\
             03aa62617463685f75696473c0ab63616e63656c65645f6279c0a57479706573c0a87374617475736573c0aa696e6465\
             785f75696473c0b161667465725f656e7175657565645f6174c0b26265666f72655f656e7175657565645f6174c0b061\
             667465725f737461727465645f6174c0b16265666f72655f737461727465645f6174c0b161667465725f66696e697368\
             65645f6174c0b26265666f72655f66696e69736865645f6174c0af76697369626c655f696e6465786573c0a470616765\
             83a56c696d697414a466726f6dc0a772657665727365c2"
        );
        assert_eq!(decode::<TaskSearch>(&bytes).unwrap(), search);
        assert_eq!(TaskCancel::subject(), "miroir.v1.router.task.cancel");
        assert_eq!(IndexSwap::subject(), "miroir.v1.router.index.swap");
        assert_eq!(BatchList::subject(), "miroir.v1.router.batch.list");
    }
}
