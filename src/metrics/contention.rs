//! Refresh contention: refreshes in flight per org, and how many refreshes each token generation drew.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

pub struct Contention {
    in_flight: Box<[AtomicU64]>,
    max_in_flight: Box<[AtomicU64]>,
    total_in_flight: AtomicU64,
    /// invalid_grant answers per org: the partner-org bug shows up on partner orgs only.
    invalid_grant: Box<[AtomicU64]>,
    /// Herd size -> how many token generations drew that many refreshes.
    herds: Mutex<BTreeMap<u64, u64>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContentionSnapshot {
    /// Most refreshes in flight at once, per org index.
    pub max_in_flight_per_org: Vec<u64>,
    pub herds: BTreeMap<u64, u64>,
    pub invalid_grant_per_org: Vec<u64>,
}

/// Marks one refresh as in flight for its org until dropped.
pub struct InFlight<'a> {
    contention: &'a Contention,
    org: usize,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.contention.in_flight[self.org].fetch_sub(1, Ordering::Relaxed);
        self.contention
            .total_in_flight
            .fetch_sub(1, Ordering::Relaxed);
    }
}

impl Contention {
    pub fn new(orgs: usize) -> Contention {
        Contention {
            in_flight: (0..orgs).map(|_| AtomicU64::new(0)).collect(),
            max_in_flight: (0..orgs).map(|_| AtomicU64::new(0)).collect(),
            total_in_flight: AtomicU64::new(0),
            invalid_grant: (0..orgs).map(|_| AtomicU64::new(0)).collect(),
            herds: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn begin(&self, org: usize) -> InFlight<'_> {
        let now = self.in_flight[org].fetch_add(1, Ordering::Relaxed) + 1;
        self.max_in_flight[org].fetch_max(now, Ordering::Relaxed);
        self.total_in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight {
            contention: self,
            org,
        }
    }

    pub fn invalid_grant(&self, org: usize) {
        self.invalid_grant[org].fetch_add(1, Ordering::Relaxed);
    }

    pub fn total_in_flight(&self) -> u64 {
        self.total_in_flight.load(Ordering::Relaxed)
    }

    /// One token generation is over and drew `size` refreshes.
    pub fn herd(&self, size: u64) {
        let mut herds = self.herds.lock().unwrap_or_else(|p| p.into_inner());
        *herds.entry(size).or_default() += 1;
    }

    /// The herd sizes alone (the live export reads them each second; the per-org rows are not needed).
    pub fn herds(&self) -> BTreeMap<u64, u64> {
        self.herds.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn snapshot(&self) -> ContentionSnapshot {
        ContentionSnapshot {
            max_in_flight_per_org: self
                .max_in_flight
                .iter()
                .map(|a| a.load(Ordering::Relaxed))
                .collect(),
            herds: self.herds.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            invalid_grant_per_org: self
                .invalid_grant
                .iter()
                .map(|a| a.load(Ordering::Relaxed))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_flight_maxima_are_per_org() {
        let c = Contention::new(2);
        let a = c.begin(0);
        let b = c.begin(0);
        assert_eq!(c.total_in_flight(), 2);
        drop((a, b));
        let _c = c.begin(1);
        c.herd(3);
        c.herd(3);
        c.herd(1);
        let s = c.snapshot();
        assert_eq!(s.max_in_flight_per_org, vec![2, 1]);
        assert_eq!(s.herds.get(&3), Some(&2));
        assert_eq!(c.total_in_flight(), 1);
    }
}
