//! Per-tenant views in bounded memory: every org's contacts calls and 401s as two counters, and latency
//! histograms only for the K busiest orgs plus one "other" for the rest, so 10,000 orgs cost 10,000
//! pairs of counters and K + 1 histograms, not 10,000 histograms. The histograms live in the
//! thread-sharded latency store, indexed by the slot this maps an org to.

use crate::vocabulary::Outcome;
use std::sync::atomic::{AtomicU64, Ordering};

pub struct Tenants {
    calls: Box<[AtomicU64]>,
    unauthorized: Box<[AtomicU64]>,
    /// Org index -> histogram slot: `0..top.len()` for the busiest orgs, `top.len()` for all others.
    slot: Box<[u32]>,
    top: Vec<usize>,
}

/// Plain data for the report; the histograms, one per slot, are in the latency snapshot.
#[derive(Clone, Default)]
pub struct TenantsSnapshot {
    pub calls: Vec<u64>,
    pub unauthorized: Vec<u64>,
    /// The busiest orgs' indices, in slot order; slot `top.len()` is every other org.
    pub top: Vec<usize>,
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
            top,
        }
    }

    pub fn orgs(&self) -> usize {
        self.slot.len()
    }

    /// Counts one contacts call of `org`; returns the histogram slot its latency goes to, or `None`
    /// for an org the plan does not know.
    pub fn call(&self, org: usize, outcome: Outcome) -> Option<usize> {
        let slot = *self.slot.get(org)? as usize;
        self.calls[org].fetch_add(1, Ordering::Relaxed);
        if outcome == Outcome::Unauthorized {
            self.unauthorized[org].fetch_add(1, Ordering::Relaxed);
        }
        Some(slot)
    }

    pub fn snapshot(&self) -> TenantsSnapshot {
        let load = |a: &[AtomicU64]| a.iter().map(|c| c.load(Ordering::Relaxed)).collect();
        TenantsSnapshot {
            calls: load(&self.calls),
            unauthorized: load(&self.unauthorized),
            top: self.top.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_orgs_get_their_own_slot_and_the_rest_share_one() {
        let t = Tenants::new(5, &[3, 1]);
        assert_eq!(t.call(3, Outcome::Ok), Some(0));
        assert_eq!(t.call(1, Outcome::Ok), Some(1));
        assert_eq!(t.call(0, Outcome::Unauthorized), Some(2));
        assert_eq!(t.call(4, Outcome::Ok), Some(2));
        assert_eq!(t.call(99, Outcome::Ok), None);
        let s = t.snapshot();
        assert_eq!(s.calls, vec![1, 1, 0, 1, 1]);
        assert_eq!(s.unauthorized, vec![1, 0, 0, 0, 0]);
        assert_eq!(s.top, vec![3, 1]);
    }
}
