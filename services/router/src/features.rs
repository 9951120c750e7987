//! `GET` / `PATCH /experimental-features` for the whole cluster.
//!
//! The switches a client set are kept in the topology bucket under
//! [`FEATURES_KEY`](miroir_proto::subjects::FEATURES_KEY) (a JSON object of booleans), so that
//! they survive any router and reach nodes that join later: a background loop compares every
//! reachable node's switches with the stored ones and sets those that differ. Every shard of an
//! index thus behaves the same. Features that cannot work on a sharded index are refused
//! ([`miroir_proto::features::refusal`]); turning any feature off is always accepted.

use std::sync::Arc;
use std::time::Duration;

use miroir_proto::features::{FEATURES, refusal};
use miroir_proto::rpc::{FeaturesGet, FeaturesUpdate, JsonBody};
use miroir_proto::subjects::{FEATURES_KEY, TOPOLOGY_BUCKET};
use miroir_proto::topology::Availability;
use miroir_proto::{ErrorCode, MeiliError};
use reqwest::Method;
use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

use crate::Router;

/// How often every node's switches are compared with the stored ones.
const CONVERGE_EVERY: Duration = Duration::from_secs(5);
/// Compare-and-set attempts when routers change the switches at once.
const ATTEMPTS: usize = 8;

type Switches = Map<String, Value>;

/// The node-shaped answer: every feature of 1.50 in its order, `false` unless switched on.
pub(crate) fn view(stored: &Switches) -> Value {
    Value::Object(
        FEATURES
            .iter()
            .map(|f| {
                let on = stored.get(*f).and_then(Value::as_bool).unwrap_or(false);
                ((*f).to_string(), Value::Bool(on))
            })
            .collect(),
    )
}

/// The switches after `patch` (`null` leaves a switch as it is, as on a node), or the refusal of
/// the first feature that cannot be turned on.
pub(crate) fn apply_patch(stored: &Switches, patch: &Switches) -> Result<Switches, MeiliError> {
    let mut next = stored.clone();
    for (name, value) in patch {
        let Some(on) = value.as_bool() else {
            if value.is_null() {
                continue;
            }
            return Err(MeiliError::bad_request(format!(
                "Invalid value type at `.{name}`: expected a boolean"
            )));
        };
        if !FEATURES.contains(&name.as_str()) {
            return Err(MeiliError::bad_request(format!(
                "Unknown field `{name}`: expected one of {}",
                miroir_proto::suggest::quoted(FEATURES)
            )));
        }
        if on && let Some(why) = refusal(name) {
            return Err(MeiliError::new(
                ErrorCode::NotSupportedByMiroir,
                format!(
                    "The experimental feature `{name}` cannot be enabled on a Miroir cluster: {why}"
                ),
            ));
        }
        next.insert(name.clone(), Value::Bool(on));
    }
    Ok(next)
}

impl Router {
    async fn features_kv(&self) -> Result<async_nats::jetstream::kv::Store, MeiliError> {
        self.js
            .get_key_value(TOPOLOGY_BUCKET)
            .await
            .map_err(|e| MeiliError::internal(format!("cannot open the topology bucket: {e}")))
    }

    async fn stored_features(&self) -> Result<(Switches, u64), MeiliError> {
        let kv = self.features_kv().await?;
        Ok(miroir_cluster::kv_json::read::<Switches>(&kv, FEATURES_KEY)
            .await
            .map_err(|e| MeiliError::internal(e.to_string()))?
            .unwrap_or_default())
    }

    pub(crate) async fn features_get(&self, _req: FeaturesGet) -> Result<JsonBody, MeiliError> {
        let (stored, _) = self.stored_features().await?;
        Ok(JsonBody {
            body: serde_json::to_vec(&view(&stored))
                .unwrap_or_default()
                .into(),
        })
    }

    pub(crate) async fn features_update(
        &self,
        req: FeaturesUpdate,
    ) -> Result<JsonBody, MeiliError> {
        let patch: Switches = serde_json::from_slice(&req.body)
            .map_err(|e| MeiliError::malformed_payload("json", e))?;
        let kv = self.features_kv().await?;
        let mut stored = None;
        for _ in 0..ATTEMPTS {
            let (current, revision) = self.stored_features().await?;
            let next = apply_patch(&current, &patch)?;
            let written = if revision == 0 {
                miroir_cluster::kv_json::create(&kv, FEATURES_KEY, &next).await
            } else {
                miroir_cluster::kv_json::update(&kv, FEATURES_KEY, &next, revision).await
            };
            match written {
                Ok(_) => {
                    stored = Some(next);
                    break;
                }
                Err(
                    miroir_cluster::topology::StoreError::Conflict(_)
                    | miroir_cluster::topology::StoreError::Exists(_),
                ) => continue,
                Err(e) => return Err(MeiliError::internal(e.to_string())),
            }
        }
        let stored = stored.ok_or_else(|| {
            MeiliError::internal("the experimental features kept changing; retry")
        })?;
        // Now on every node that answers; the others get it from the convergence loop.
        self.converge_features(&stored).await;
        Ok(JsonBody {
            body: serde_json::to_vec(&view(&stored))
                .unwrap_or_default()
                .into(),
        })
    }

    /// Set the stored switches on every reachable node whose own differ.
    async fn converge_features(&self, stored: &Switches) {
        if stored.is_empty() {
            return;
        }
        let topo = self.topology.current();
        let nodes = topo
            .nodes
            .values()
            .filter(|n| n.availability() != Availability::Down)
            .map(|n| (n.id.clone(), n.url.clone()));
        let wanted = Value::Object(stored.clone());
        let calls = nodes.map(|(id, url)| {
            let wanted = &wanted;
            async move {
                let current = match self
                    .nodes
                    .json(&url, Method::GET, "/experimental-features", None)
                    .await
                {
                    Ok(v) => v,
                    Err(e) => {
                        tracing::debug!(node = %id, error = %e, "cannot read a node's experimental features");
                        return;
                    }
                };
                let differs = stored.iter().any(|(k, v)| current.get(k) != Some(v));
                if !differs {
                    return;
                }
                match self
                    .nodes
                    .json(&url, Method::PATCH, "/experimental-features", Some(wanted))
                    .await
                {
                    Ok(_) => {
                        tracing::info!(node = %id, "experimental features set on the node");
                        crate::metrics::features_synced();
                    }
                    Err(e) => {
                        tracing::warn!(node = %id, error = %e, "a node refused the cluster's experimental features")
                    }
                }
            }
        });
        futures::future::join_all(calls).await;
    }
}

/// Keep every node's switches equal to the stored ones (nodes that joined, restarted empty, or
/// were unreachable when the switches changed).
pub(crate) async fn run(router: Arc<Router>, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(CONVERGE_EVERY) => {}
        }
        match router.stored_features().await {
            Ok((stored, _)) => router.converge_features(&stored).await,
            Err(e) => tracing::debug!(error = %e.message, "cannot read the experimental features"),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Switches {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn switches_patch_like_a_node_and_refuse_what_cannot_work_sharded() {
        let stored = apply_patch(&Switches::new(), &obj(json!({"containsFilter": true}))).unwrap();
        let v = view(&stored);
        assert_eq!(v["containsFilter"], json!(true));
        assert_eq!(v["foreignKeys"], json!(false));
        assert_eq!(v.as_object().unwrap().len(), FEATURES.len());
        // null leaves a switch alone; false is always accepted.
        let next = apply_patch(
            &stored,
            &obj(json!({"containsFilter": null, "foreignKeys": false})),
        )
        .unwrap();
        assert_eq!(view(&next)["containsFilter"], json!(true));
        let e = apply_patch(&stored, &obj(json!({"foreignKeys": true}))).unwrap_err();
        assert_eq!(e.code, ErrorCode::NotSupportedByMiroir);
        assert!(e.message.contains("`foreignKeys`"), "{}", e.message);
        assert_eq!(
            apply_patch(&stored, &obj(json!({"nope": true})))
                .unwrap_err()
                .code,
            ErrorCode::BadRequest
        );
    }
}
