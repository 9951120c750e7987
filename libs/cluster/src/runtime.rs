//! The services' tokio runtime, sized by their `worker_threads` setting.
//!
//! Why a setting: a search is a chain of short steps (the NATS message in, four node requests
//! out, their answers, the merge, the reply). On a multi-threaded runtime each step may wake a
//! parked worker on another core (a futex wake and a context switch) and move the task's data
//! between caches. On the cluster bench (2 cores) one worker per merger and gateway cut their CPU
//! per search by about a quarter (1035 to 780 us sequential, 725 to 557 us at 8 clients): the
//! wake-ups cost more than the second core gave. A service that should use more cores is given
//! more workers, or more replicas.

use std::io;

/// A runtime with `worker_threads` workers (0: one per core, tokio's default;
/// `TOKIO_WORKER_THREADS` then still applies), I/O and timers enabled, its threads named after
/// the service. One worker is a current-thread runtime: the service's tasks, I/O and timers all
/// run on the thread that calls `block_on`, without the work-stealing scheduler's queues and
/// atomics (no slower on the cluster bench, and a little faster under concurrent load).
pub fn build(service: &'static str, worker_threads: usize) -> io::Result<tokio::runtime::Runtime> {
    let mut builder = if worker_threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    builder.enable_all().thread_name(service);
    if worker_threads > 1 {
        builder.worker_threads(worker_threads);
    }
    builder.build()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_sized_runtime_runs_on_that_many_workers() {
        let runtime = build("miroir-test", 1).unwrap();
        assert_eq!(runtime.metrics().num_workers(), 1);
        assert_eq!(runtime.block_on(async { 6 * 7 }), 42);
        let runtime = build("miroir-test", 3).unwrap();
        assert_eq!(runtime.metrics().num_workers(), 3);
    }
}
