//! One probe of one node: `GET /health` without a key (is the process serving?) and then
//! `GET /version` with the node key (does it still accept the key every service uses?). Both must
//! answer 2xx within the probe timeout; a 401/403 on the second is a failed probe, because a node
//! that refuses the cluster's key is as useless to it as a dead one.

use std::time::Duration;

use tokio::time::Instant;

use crate::health::Outcome;

/// What a probe found, finer than success / failure (a label of the probe metrics).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeResult {
    Ok,
    /// No connection, or the connection broke.
    Unreachable,
    /// Connected, but no complete answer within the probe timeout.
    Timeout,
    /// `GET /health` answered with a status other than 2xx.
    Unhealthy,
    /// `GET /version` refused the node key (401 or 403).
    Unauthorized,
    /// `GET /version` answered with another status than 2xx.
    BadStatus,
}

impl ProbeResult {
    pub fn outcome(self) -> Outcome {
        match self {
            ProbeResult::Ok => Outcome::Success,
            ProbeResult::Timeout => Outcome::Slow,
            _ => Outcome::Failure,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            ProbeResult::Ok => "ok",
            ProbeResult::Unreachable => "unreachable",
            ProbeResult::Timeout => "timeout",
            ProbeResult::Unhealthy => "unhealthy",
            ProbeResult::Unauthorized => "unauthorized",
            ProbeResult::BadStatus => "bad_status",
        }
    }
}

/// Sends probes; cheap to clone.
#[derive(Clone)]
pub struct Prober {
    http: reqwest::Client,
    api_key: Option<String>,
    timeout: Duration,
}

impl Prober {
    pub fn new(api_key: Option<String>, timeout: Duration) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            // Half the budget for the connection, so that a node that cannot be reached fails
            // as unreachable (a hard failure) before the whole probe times out (a slow one).
            .connect_timeout(timeout / 2)
            .build()
            .unwrap_or_default();
        Prober {
            http,
            api_key,
            timeout,
        }
    }

    /// Probe the node at `base_url`; returns what it found and how long it took.
    pub async fn probe(&self, base_url: &str) -> (ProbeResult, Duration) {
        let started = Instant::now();
        let result = tokio::time::timeout(self.timeout, self.both(base_url.trim_end_matches('/')))
            .await
            .unwrap_or(ProbeResult::Timeout);
        (result, started.elapsed())
    }

    async fn both(&self, base: &str) -> ProbeResult {
        match self.get(&format!("{base}/health"), false).await {
            Ok(status) if (200..300).contains(&status) => {}
            Ok(_) => return ProbeResult::Unhealthy,
            Err(e) => return e,
        }
        match self.get(&format!("{base}/version"), true).await {
            Ok(status) if (200..300).contains(&status) => ProbeResult::Ok,
            Ok(401 | 403) => ProbeResult::Unauthorized,
            Ok(_) => ProbeResult::BadStatus,
            Err(e) => e,
        }
    }

    /// The status of a GET, once its whole body has arrived (a node that sends headers and then
    /// stalls is not healthy).
    async fn get(&self, url: &str, with_key: bool) -> Result<u16, ProbeResult> {
        let mut req = self.http.get(url);
        if let (true, Some(key)) = (with_key, &self.api_key) {
            req = req.bearer_auth(key);
        }
        let failed = |e: reqwest::Error| {
            if e.is_timeout() && !e.is_connect() {
                ProbeResult::Timeout
            } else {
                ProbeResult::Unreachable
            }
        };
        let resp = req.send().await.map_err(failed)?;
        let status = resp.status().as_u16();
        resp.bytes().await.map_err(failed)?;
        Ok(status)
    }
}
