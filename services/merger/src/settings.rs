//! `SettingsGet`: every shard holds the same settings, so one copy of shard 0 answers (another
//! copy, then another shard, when it cannot).

use miroir_proto::MeiliError;
use miroir_proto::rpc::{JsonBody, SettingsGet};
use reqwest::Method;
use tokio::time::Instant;

use crate::fetch::ShardCall;
use crate::metrics;
use crate::state::Merger;

pub async fn get(merger: &Merger, request: SettingsGet) -> Result<JsonBody, MeiliError> {
    let started = Instant::now();
    let result = get_settings(merger, &request).await;
    metrics::request("settings", started.elapsed(), &result);
    result
}

async fn get_settings(merger: &Merger, request: &SettingsGet) -> Result<JsonBody, MeiliError> {
    let deadline = merger.deadline(0);
    let topology = merger.topology();
    let record = merger.index(&topology, &request.index_uid)?;
    let suffix = match request.sub_route.as_deref() {
        None | Some("") => "/settings".to_owned(),
        // Sub-routes are kebab-case words; anything else would change the path sent to a node.
        Some(sub) if sub.bytes().all(|b| b.is_ascii_lowercase() || b == b'-') => {
            format!("/settings/{sub}")
        }
        Some(sub) => {
            return Err(MeiliError::bad_request(format!(
                "`{sub}` is not a settings route."
            )));
        }
    };
    let (first, replicas) = merger.any_shard_replicas(&topology, &record)?;
    let call = ShardCall {
        op: "settings",
        method: Method::GET,
        suffix: &suffix,
        body: None,
    };
    let body = merger
        .read_shard(&replicas, &record, first, &call, deadline)
        .await?;
    Ok(JsonBody { body })
}
