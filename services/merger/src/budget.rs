//! The bound on the extra load hedging adds: a token bucket shared by every read of a merger.
//!
//! **Guarantee.** Every shard request that starts a read (not a hedge, not a retry) deposits
//! `percent / 100` of a token; a hedge takes a whole one; the bucket holds at most [`BURST`]
//! tokens and starts full. So over any stretch of `n` reads a merger sends at most
//! `BURST + n * percent / 100` hedges: 10 % (the default) means at most one hedge per ten reads
//! in the long run, with a little slack for the first slow copy after a quiet spell. With
//! `percent == 0` no hedge is ever sent. Retries after a copy fault take no token: a failed copy
//! is always replaced while another copy exists.
//!
//! **Less while hedges lose.** A read deposits its share scaled by `4 / k`, `k` being the
//! merger's current patience ([`crate::latency::Patience`]: 4 while hedges win, more while the
//! copies they were sent beside answer first). Patience alone cannot stop hedges that the hedge
//! ceiling (`hedge_after_ms`) sends, and under a load that saturates every node most reads wait
//! that long; the budget then shrinks instead (to a sixteenth at the patience's top), so the
//! bound above only gets tighter.

use std::sync::Mutex;

use tokio::time::Instant;

use crate::latency::Patience;

/// The most hedges the bucket can fund at once.
pub const BURST: f64 = 10.0;

/// The pure bucket.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenBucket {
    tokens: f64,
    per_read: f64,
    cap: f64,
}

impl TokenBucket {
    /// A full bucket for a budget of `percent` hedges per hundred reads.
    pub fn new(percent: u32) -> Self {
        let per_read = f64::from(percent) / 100.0;
        let cap = if percent == 0 { 0.0 } else { BURST };
        TokenBucket {
            tokens: cap,
            per_read,
            cap,
        }
    }

    /// One read started: `share` (0 to 1) of its tokens go in.
    pub fn deposit(&mut self, share: f64) {
        let share = if share.is_finite() {
            share.clamp(0.0, 1.0)
        } else {
            1.0
        };
        self.tokens = (self.tokens + self.per_read * share).min(self.cap);
    }

    /// Whether a hedge may be sent now (and, if so, pays for it).
    pub fn try_take(&mut self) -> bool {
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// A merger's hedging state behind one lock, for concurrent reads: the bucket, and the patience
/// that scales both its deposits and the wait before a hedge.
#[derive(Debug)]
pub struct HedgeBudget(Mutex<(TokenBucket, Patience)>);

impl HedgeBudget {
    pub fn new(percent: u32) -> Self {
        HedgeBudget(Mutex::new((TokenBucket::new(percent), Patience::default())))
    }

    /// One read started: its share goes in, scaled by `4 / k`; returns `k`, the patience the
    /// read waits with before hedging.
    pub fn deposit(&self, now: Instant) -> f64 {
        match self.0.lock() {
            Ok(mut state) => {
                let (bucket, patience) = &mut *state;
                let k = patience.deviations(now);
                bucket.deposit(Patience::FLOOR / k);
                k
            }
            Err(_) => Patience::FLOOR,
        }
    }

    pub fn try_take(&self) -> bool {
        self.0
            .lock()
            .map(|mut state| state.0.try_take())
            .unwrap_or(false)
    }

    /// A read that sent hedges was answered, by one of them (`won`) or by the copy they were
    /// sent beside; returns the patience now.
    pub fn settled(&self, won: bool, now: Instant) -> f64 {
        match self.0.lock() {
            Ok(mut state) => {
                let patience = &mut state.1;
                if won {
                    patience.won(now);
                } else {
                    patience.lost(now);
                }
                patience.deviations(now)
            }
            Err(_) => Patience::FLOOR,
        }
    }

    /// How many deviations past a node's mean a read now waits before it is hedged.
    pub fn patience(&self, now: Instant) -> f64 {
        self.0
            .lock()
            .map_or(Patience::FLOOR, |state| state.1.deviations(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every read wants `wanted` hedges: the bucket grants at most its share.
    fn granted(percent: u32, reads: usize, wanted: usize) -> usize {
        let mut b = TokenBucket::new(percent);
        let mut hedges = 0;
        for _ in 0..reads {
            b.deposit(1.0);
            hedges += (0..wanted).filter(|_| b.try_take()).count();
        }
        hedges
    }

    #[test]
    fn hedges_stay_within_the_share_of_reads() {
        for percent in [1u32, 5, 10, 25, 50, 100] {
            for reads in [0usize, 1, 10, 99, 1_000, 10_000] {
                let hedges = granted(percent, reads, 2);
                let bound = BURST + reads as f64 * f64::from(percent) / 100.0;
                assert!(
                    hedges as f64 <= bound + 1e-9,
                    "{percent}% of {reads}: {hedges}"
                );
            }
        }
        // In the long run the share is the configured one, not less.
        assert!((1_000..=1_010).contains(&granted(10, 10_000, 1)));
        assert_eq!(granted(0, 10_000, 3), 0);
    }

    #[test]
    fn an_exhausted_bucket_refills_with_reads() {
        let mut b = TokenBucket::new(50);
        for _ in 0..10 {
            assert!(b.try_take());
        }
        assert!(!b.try_take());
        b.deposit(1.0);
        assert!(!b.try_take());
        b.deposit(1.0);
        assert!(b.try_take());
        for _ in 0..1_000 {
            b.deposit(1.0);
        }
        assert_eq!((0..100).filter(|_| b.try_take()).count(), 10);
    }

    #[test]
    fn a_smaller_share_funds_fewer_hedges() {
        // Half the share, half the hedges in the long run.
        let mut b = TokenBucket::new(10);
        while b.try_take() {}
        let mut hedges = 0;
        for _ in 0..10_000 {
            b.deposit(0.5);
            hedges += usize::from(b.try_take());
        }
        assert_eq!(hedges, 500);
        // Out of range or not a number: no more than the whole share.
        let mut b = TokenBucket::new(10);
        while b.try_take() {}
        for _ in 0..10 {
            b.deposit(f64::NAN);
            b.deposit(7.0);
            b.deposit(-1.0);
        }
        assert_eq!((0..10).filter(|_| b.try_take()).count(), 2);
    }
}
