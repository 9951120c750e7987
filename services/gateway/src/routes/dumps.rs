//! `POST /dumps`: a router writes a dump of the whole cluster (every index's documents, settings
//! and primary key, and the API keys) in Meilisearch's own dump format, into its `dump_dir`;
//! the answer is the enqueued `dumpCreation` task, as on a node. See
//! `services/router/src/dump.rs`.

use axum::extract::State;
use axum::response::Response;
use miroir_proto::MeiliError;
use miroir_proto::rpc_dumps::DumpCreate;

use crate::errors::enqueued;
use crate::state::AppState;

/// A node ignores any body of `POST /dumps`; so does the cluster.
pub async fn create(State(state): State<AppState>) -> Result<Response, MeiliError> {
    let task = state
        .call(&DumpCreate {}, state.config().write_timeout(), None)
        .await?;
    Ok(enqueued(task))
}
