//! A hash map split into independently locked shards, so concurrent requests rarely wait on each other.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::sync::{Mutex, MutexGuard};

const SHARDS: usize = 64;
/// Every this many inserts into a shard, stale entries of that shard are swept.
const SWEEP_EVERY: u32 = 1024;

pub(crate) struct Shards<K, V> {
    hasher: RandomState,
    shards: Box<[Mutex<Shard<K, V>>]>,
}

struct Shard<K, V> {
    map: HashMap<K, V>,
    inserts: u32,
}

impl<K: Hash + Eq, V: Clone> Shards<K, V> {
    pub(crate) fn new() -> Self {
        Shards {
            hasher: RandomState::new(),
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        map: HashMap::new(),
                        inserts: 0,
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
        shard.inserts = shard.inserts.wrapping_add(1);
        if shard.inserts.is_multiple_of(SWEEP_EVERY) {
            shard.map.retain(|_, v| keep(v));
        }
        shard.map.insert(key, value);
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
    fn sweeping_keeps_what_keep_accepts() {
        let map: Shards<u32, u32> = Shards::new();
        for i in 0..(SHARDS as u32 * SWEEP_EVERY * 2) {
            map.insert(i, i, |v| v % 2 == 0);
        }
        assert_eq!(map.get(&4), Some(4));
        let odd_left = (0..1000)
            .filter(|i| i % 2 == 1 && map.get(i).is_some())
            .count();
        assert!(
            odd_left < 500,
            "sweeps dropped most odd entries, {odd_left} left"
        );
        assert_eq!(map.update(&4, |v| v.map(|v| *v)), Some(4));
    }
}
