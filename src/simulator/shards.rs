//! A hash map split into independently locked shards, so concurrent requests rarely wait on each other.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::sync::{Mutex, MutexGuard};

const SHARDS: usize = 64;
/// A shard is swept of stale entries once it holds twice what it kept at its last sweep, and never
/// below this size: memory stays within twice the live entries, at amortised constant cost. (A sweep
/// every 1,024 inserts per shard let a 10-minute soak's token records grow for six minutes.)
const SWEEP_FLOOR: usize = 64;

pub(crate) struct Shards<K, V> {
    hasher: RandomState,
    shards: Box<[Mutex<Shard<K, V>>]>,
}

struct Shard<K, V> {
    map: HashMap<K, V>,
    /// Entries kept at the last sweep.
    kept: usize,
}

impl<K: Hash + Eq, V: Clone> Shards<K, V> {
    pub(crate) fn new() -> Self {
        Shards {
            hasher: RandomState::new(),
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        map: HashMap::new(),
                        kept: 0,
                    })
                })
                .collect(),
        }
    }

    fn shard<Q: Hash + ?Sized>(&self, key: &Q) -> MutexGuard<'_, Shard<K, V>> {
        let i = (self.hasher.hash_one(key) as usize) % SHARDS;
        // A poisoned shard only means another request panicked mid-update; the map itself is still usable.
        self.shards[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.shard(key).map.get(key).cloned()
    }

    /// Inserts, and now and then drops the entries of that shard for which `keep` says no.
    pub(crate) fn insert(&self, key: K, value: V, keep: impl Fn(&V) -> bool) {
        let mut shard = self.shard(&key);
        if shard.map.len() >= (2 * shard.kept).max(SWEEP_FLOOR) {
            shard.map.retain(|_, v| keep(v));
            shard.kept = shard.map.len();
        }
        shard.map.insert(key, value);
    }

    /// Runs `f` on the entry (or on its absence) under the shard's lock; a value `f` returns replaces
    /// the entry, inserted as [`Shards::insert`] does. A check-then-create is atomic this way.
    pub(crate) fn upsert<R>(
        &self,
        key: K,
        keep: impl Fn(&V) -> bool,
        f: impl FnOnce(Option<&mut V>) -> (R, Option<V>),
    ) -> R {
        let mut shard = self.shard(&key);
        let (result, value) = f(shard.map.get_mut(&key));
        if let Some(value) = value {
            if shard.map.len() >= (2 * shard.kept).max(SWEEP_FLOOR) {
                shard.map.retain(|_, v| keep(v));
                shard.kept = shard.map.len();
            }
            shard.map.insert(key, value);
        }
        result
    }

    /// Runs `f` on the entry under the shard's lock, so a read-modify-write is atomic.
    pub(crate) fn update<Q, R>(&self, key: &Q, f: impl FnOnce(Option<&mut V>) -> R) -> R
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        f(self.shard(key).map.get_mut(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweeping_keeps_what_keep_accepts_and_bounds_what_is_held() {
        let map: Shards<u32, u32> = Shards::new();
        let n = (SHARDS * SWEEP_FLOOR * 8) as u32;
        // Like token records: only the last 100 issued are still live.
        for i in 0..n {
            map.insert(i, i, |v| v + 100 >= i);
        }
        for i in n - 100..n {
            assert_eq!(map.get(&i), Some(i), "a live entry was dropped");
        }
        let held: usize = map.shards.iter().map(|s| s.lock().unwrap().map.len()).sum();
        assert!(held <= SHARDS * (SWEEP_FLOOR + 1), "{held} of {n} held");
        assert_eq!(map.update(&(n - 1), |v| v.map(|v| *v)), Some(n - 1));
    }
}
