//! Per-tenant views in bounded memory: every org's contacts calls and 401s as two counters, and latency
//! histograms only for the K busiest orgs plus one "other" for the rest, so 10,000 orgs cost 10,000
//! pairs of counters and K + 1 histograms, not 10,000 histograms.

use super::latency::{micros, new_histogram};
use crate::http::Outcome;
use hdrhistogram::Histogram;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

pub struct Tenants {
    calls: Box<[AtomicU64]>,
    unauthorized: Box<[AtomicU64]>,
    /// Org index -> histogram slot: `0..top.len()` for the busiest orgs, `top.len()` for all others.
    slot: Box<[u32]>,
    top: Vec<usize>,
    histograms: Box<[Mutex<Histogram<u64>>]>,
}

/// Plain data for the report.
#[derive(Clone, Default)]
pub struct TenantsSnapshot {
    pub calls: Vec<u64>,
    pub unauthorized: Vec<u64>,
    /// The busiest orgs' indices, in the order of `histograms`.
    pub top: Vec<usize>,
    /// One per top org, then the "other" aggregate.
    pub histograms: Vec<Histogram<u64>>,
}

impl Tenants {
    /// `top`: the orgs that get a histogram of their own (the busiest, chosen by the plan).
    pub fn new(orgs: usize, top: &[usize]) -> Tenants {
        let top: Vec<usize> = top.iter().copied().filter(|&o| o < orgs).collect();
        let mut slot = vec![top.len() as u32; orgs];
        for (i, &org) in top.iter().enumerate() {
            slot[org] = i as u32;
        }
        Tenants {
            calls: (0..orgs).map(|_| AtomicU64::new(0)).collect(),
            unauthorized: (0..orgs).map(|_| AtomicU64::new(0)).collect(),
            slot: slot.into(),
            histograms: (0..=top.len())
                .map(|_| Mutex::new(new_histogram()))
                .collect(),
            top,
        }
    }

    /// One contacts call of `org`.
    pub fn call(&self, org: usize, outcome: Outcome, latency: Duration) {
        let Some(slot) = self.slot.get(org) else {
            return;
        };
        self.calls[org].fetch_add(1, Ordering::Relaxed);
        if outcome == Outcome::Unauthorized {
            self.unauthorized[org].fetch_add(1, Ordering::Relaxed);
        }
        let mut h = self.histograms[*slot as usize]
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        // Auto-resizing histograms accept any value, so recording cannot fail.
        let _ = h.record(micros(latency));
    }

    pub fn snapshot(&self) -> TenantsSnapshot {
        let load = |a: &[AtomicU64]| a.iter().map(|c| c.load(Ordering::Relaxed)).collect();
        TenantsSnapshot {
            calls: load(&self.calls),
            unauthorized: load(&self.unauthorized),
            top: self.top.clone(),
            histograms: self
                .histograms
                .iter()
                .map(|h| h.lock().unwrap_or_else(|p| p.into_inner()).clone())
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_orgs_get_their_own_histogram_and_the_rest_share_one() {
        let t = Tenants::new(5, &[3, 1]);
        t.call(3, Outcome::Ok, Duration::from_millis(5));
        t.call(0, Outcome::Unauthorized, Duration::from_millis(9));
        t.call(4, Outcome::Ok, Duration::from_millis(9));
        t.call(99, Outcome::Ok, Duration::from_millis(9));
        let s = t.snapshot();
        assert_eq!(s.calls, vec![1, 0, 0, 1, 1]);
        assert_eq!(s.unauthorized, vec![1, 0, 0, 0, 0]);
        assert_eq!(s.histograms.len(), 3);
        assert_eq!(s.histograms[0].len(), 1, "org 3");
        assert_eq!(s.histograms[1].len(), 0, "org 1");
        assert_eq!(s.histograms[2].len(), 2, "orgs 0 and 4 together");
    }
}
