//! `POST /dumps`: the gateway asks a router to write a cluster dump (see
//! `services/router/src/dump.rs`); the answer is the enqueued `dumpCreation` task.

use serde::{Deserialize, Serialize};

use crate::envelope::Message;
use crate::rpc::{EnqueuedTask, Rpc};
use crate::subjects::Service;

use crate::rpc::{message, rpc};

/// Write a dump of every index (documents, settings, primary key) and of the API keys.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DumpCreate {}
message!(DumpCreate, "router.dump.create", 1);
rpc!(DumpCreate => EnqueuedTask, Service::Router, "dump.create");
