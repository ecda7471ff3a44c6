//! The expiry lens: every API request placed in a 1 s bin by how far its token was from expiry when sent.

use crate::vocabulary::Outcome;
use std::sync::atomic::{AtomicU64, Ordering};

/// First bin starts this many seconds before expiry.
pub const FIRST_OFFSET_S: i64 = -30;
/// Bins end this many seconds after expiry.
pub const LAST_OFFSET_S: i64 = 10;
const BINS: usize = (LAST_OFFSET_S - FIRST_OFFSET_S) as usize;

/// Counts per bin and outcome, plus what fell before the first bin or after the last.
pub struct ExpiryLens {
    bins: Box<[[AtomicU64; Outcome::COUNT]]>,
    before: [AtomicU64; Outcome::COUNT],
    after: [AtomicU64; Outcome::COUNT],
    /// Refresh calls placed by the same offset of the token they replaced: where the client refreshes.
    refreshes: Box<[AtomicU64]>,
    refreshes_before: AtomicU64,
    refreshes_after: AtomicU64,
    /// How those refresh calls ended, by the same bins (calls outside the lens are not kept by outcome).
    refresh_outcomes: Box<[[AtomicU64; Outcome::COUNT]]>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LensSnapshot {
    /// `(offset_s, counts by Outcome::index)`, offset_s being the bin's start (send time minus expiry).
    pub bins: Vec<(i64, [u64; Outcome::COUNT])>,
    pub before: [u64; Outcome::COUNT],
    pub after: [u64; Outcome::COUNT],
    /// Refresh calls per bin (same order as `bins`), and before the first / after the last.
    pub refreshes: Vec<u64>,
    pub refreshes_before: u64,
    pub refreshes_after: u64,
    /// Outcomes of the refresh calls per bin (same order as `bins`).
    pub refresh_outcomes: Vec<[u64; Outcome::COUNT]>,
}

impl ExpiryLens {
    pub fn new() -> ExpiryLens {
        ExpiryLens {
            bins: (0..BINS).map(|_| Default::default()).collect(),
            before: Default::default(),
            after: Default::default(),
            refreshes: (0..BINS).map(|_| AtomicU64::new(0)).collect(),
            refreshes_before: AtomicU64::new(0),
            refreshes_after: AtomicU64::new(0),
            refresh_outcomes: (0..BINS).map(|_| Default::default()).collect(),
        }
    }

    fn bin(offset_ms: i64) -> Result<usize, bool> {
        let bin = offset_ms.div_euclid(1000);
        if bin < FIRST_OFFSET_S {
            Err(false)
        } else if bin >= LAST_OFFSET_S {
            Err(true)
        } else {
            Ok((bin - FIRST_OFFSET_S) as usize)
        }
    }

    /// A refresh call started `offset_ms` after the expiry of the token it replaces.
    pub fn record_refresh(&self, offset_ms: i64) {
        let counter = match Self::bin(offset_ms) {
            Ok(i) => &self.refreshes[i],
            Err(false) => &self.refreshes_before,
            Err(true) => &self.refreshes_after,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The refresh call started `offset_ms` after the expiry of the token it replaces ended in `outcome`.
    pub fn record_refresh_outcome(&self, offset_ms: i64, outcome: Outcome) {
        if let Ok(i) = Self::bin(offset_ms) {
            self.refresh_outcomes[i][outcome.index()].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// `offset_ms` is send time minus the token's expiry: negative while the token is still good.
    pub fn record(&self, offset_ms: i64, outcome: Outcome) {
        let row = match Self::bin(offset_ms) {
            Ok(i) => &self.bins[i],
            Err(false) => &self.before,
            Err(true) => &self.after,
        };
        row[outcome.index()].fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> LensSnapshot {
        let load = |row: &[AtomicU64; Outcome::COUNT]| {
            std::array::from_fn(|i| row[i].load(Ordering::Relaxed))
        };
        LensSnapshot {
            bins: self
                .bins
                .iter()
                .enumerate()
                .map(|(i, row)| (FIRST_OFFSET_S + i as i64, load(row)))
                .collect(),
            before: load(&self.before),
            after: load(&self.after),
            refreshes: self
                .refreshes
                .iter()
                .map(|a| a.load(Ordering::Relaxed))
                .collect(),
            refreshes_before: self.refreshes_before.load(Ordering::Relaxed),
            refreshes_after: self.refreshes_after.load(Ordering::Relaxed),
            refresh_outcomes: self.refresh_outcomes.iter().map(load).collect(),
        }
    }
}

impl Default for ExpiryLens {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_land_in_floor_bins_with_overflow_rows() {
        let lens = ExpiryLens::new();
        lens.record(-1, Outcome::Ok); // just before expiry: bin -1
        lens.record(0, Outcome::Unauthorized); // at expiry: bin 0
        lens.record(999, Outcome::Unauthorized);
        lens.record(-30_000, Outcome::Ok); // first bin
        lens.record(-30_001, Outcome::Ok); // before
        lens.record(10_000, Outcome::Ok); // after
        let s = lens.snapshot();
        let bin = |offset: i64| {
            s.bins
                .iter()
                .find(|(o, _)| *o == offset)
                .map(|(_, c)| *c)
                .unwrap()
        };
        assert_eq!(bin(-1)[Outcome::Ok.index()], 1);
        assert_eq!(bin(0)[Outcome::Unauthorized.index()], 2);
        assert_eq!(bin(-30)[Outcome::Ok.index()], 1);
        assert_eq!(s.before[Outcome::Ok.index()], 1);
        assert_eq!(s.after[Outcome::Ok.index()], 1);
        assert_eq!(s.bins.len(), 40);
        assert_eq!(s.bins.last().map(|b| b.0), Some(9));
    }
}
