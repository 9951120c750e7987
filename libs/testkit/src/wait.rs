//! Polling with a deadline: the only way the kit (and tests) wait for something to become true.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

/// What one look at the awaited condition found.
pub enum Attempt<T> {
    /// The condition holds; polling stops with this value.
    Ready(T),
    /// Not yet; the reason is reported if the deadline passes.
    Retry(String),
}

/// Polls `probe` until it is [`Attempt::Ready`], fails on its first `Err`, and gives up after
/// `timeout` with the last reason it was given. The pause between looks grows from 2 ms to 50 ms
/// so that fast things are seen fast without spinning on slow ones.
pub async fn until<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Attempt<T>>>,
{
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(2);
    loop {
        let last = match probe().await? {
            Attempt::Ready(value) => return Ok(value),
            Attempt::Retry(reason) => reason,
        };
        if Instant::now() >= deadline {
            bail!("timed out after {timeout:?} waiting for {what}; last: {last}");
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}
