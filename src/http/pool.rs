//! Idle API connections, per origin, for reuse: HTTP/1.1 connections one request at a time (most
//! recently used first, so a steady load keeps reusing the same warm sockets), one shared HTTP/2
//! sender.

use super::connect::{Conn, Origin, Stream};
use super::direct::Body;
use super::h1;
use hyper::client::conn::http2;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long an idle connection is kept when the profile does not say: hyper's and reqwest's pool
/// default. Servers that close sooner (Node 5 s, load balancers 60 s, nginx 75 s) are why a request
/// on a reused connection that fails before any answer is sent again (`direct.rs`).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

pub struct Pool {
    origins: Mutex<Vec<Origins>>,
    max_idle_per_origin: usize,
    idle_timeout: Duration,
}

struct Origins {
    origin: Origin,
    h1: IdleList<h1::Conn<Stream>>,
    h2: Option<http2::SendRequest<Body>>,
}

impl Pool {
    pub fn new(max_idle_per_origin: Option<usize>, idle_timeout: Duration) -> Pool {
        Pool {
            origins: Mutex::new(Vec::new()),
            max_idle_per_origin: max_idle_per_origin.unwrap_or(usize::MAX),
            idle_timeout,
        }
    }

    /// A connection to where `uri` goes, if one is idle and younger than the idle timeout. HTTP/1.1
    /// connections are not checked here, under the lock: the caller asks `is_closed` of the one it got.
    pub fn checkout(&self, uri: &http::Uri) -> Option<Conn> {
        let mut origins = self.lock();
        let idle = origins.iter_mut().find(|i| i.origin.serves(uri))?;
        if let Some(h2) = idle.h2.as_ref().filter(|s| !s.is_closed()) {
            return Some(Conn::H2(h2.clone()));
        }
        let fresh = Instant::now().checked_sub(self.idle_timeout);
        idle.h1.take(fresh).map(Conn::H1)
    }

    /// An HTTP/1.1 connection whose last response was read to the end, back for reuse.
    pub fn put(&self, uri: &http::Uri, conn: h1::Conn<Stream>) {
        let now = Instant::now();
        let mut origins = self.lock();
        let Some(idle) = Self::entry(&mut origins, uri) else {
            return;
        };
        let fresh = now.checked_sub(self.idle_timeout);
        idle.h1.put(conn, now, fresh, self.max_idle_per_origin);
    }

    /// A new HTTP/2 connection becomes the one later requests share, unless one is already shared.
    pub fn share(&self, uri: &http::Uri, sender: &http2::SendRequest<Body>) {
        let mut origins = self.lock();
        let Some(idle) = Self::entry(&mut origins, uri) else {
            return;
        };
        if idle.h2.as_ref().is_none_or(|s| s.is_closed()) {
            idle.h2 = Some(sender.clone());
        }
    }

    fn entry<'a>(origins: &'a mut Vec<Origins>, uri: &http::Uri) -> Option<&'a mut Origins> {
        let at = match origins.iter().position(|i| i.origin.serves(uri)) {
            Some(at) => at,
            None => {
                origins.push(Origins {
                    origin: Origin::of(uri)?,
                    h1: IdleList::default(),
                    h2: None,
                });
                origins.len() - 1
            }
        };
        Some(&mut origins[at])
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Origins>> {
        // A panic while holding the lock leaves only idle connections behind: still usable.
        self.origins.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Idle things in the order they went idle: the oldest at the front, the most recent at the back.
/// Dropping one closes its connection.
struct IdleList<T> {
    items: VecDeque<(T, Instant)>,
}

impl<T> Default for IdleList<T> {
    fn default() -> Self {
        IdleList {
            items: VecDeque::new(),
        }
    }
}

impl<T> IdleList<T> {
    /// The most recently idled item, after dropping those idle since before `fresh` (all of them are
    /// at the front, so a quiet spell's stale connections go at once rather than one per call).
    fn take(&mut self, fresh: Option<Instant>) -> Option<T> {
        self.evict(fresh);
        self.items.pop_back().map(|(item, _)| item)
    }

    /// Keeps `item` as idle since `now`; the stale go first, and a full list drops its oldest, which
    /// is the one a server is likeliest to have closed already.
    fn put(&mut self, item: T, now: Instant, fresh: Option<Instant>, max: usize) {
        if max == 0 {
            return;
        }
        self.evict(fresh);
        if self.items.len() >= max {
            self.items.pop_front();
        }
        self.items.push_back((item, now));
    }

    fn evict(&mut self, fresh: Option<Instant>) {
        let Some(fresh) = fresh else {
            return;
        };
        while self.items.front().is_some_and(|(_, since)| *since < fresh) {
            self.items.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::IdleList;
    use std::time::{Duration, Instant};

    fn list(at: &[u64], t0: Instant, max: usize) -> IdleList<u64> {
        let mut l = IdleList::default();
        for &s in at {
            l.put(s, t0 + Duration::from_secs(s), None, max);
        }
        l
    }

    #[test]
    fn the_most_recently_idled_is_reused_first() {
        let t0 = Instant::now();
        let mut l = list(&[1, 2, 3], t0, 10);
        assert_eq!(l.take(None), Some(3));
        assert_eq!(l.take(None), Some(2));
        assert_eq!(l.take(None), Some(1));
        assert_eq!(l.take(None), None);
    }

    #[test]
    fn checkout_drops_every_connection_idle_longer_than_the_timeout() {
        let t0 = Instant::now();
        let mut l = list(&[1, 2, 3, 4], t0, 10);
        // Idle since before t0 + 3 s: 1 and 2 are stale and go, 4 is taken, 3 stays.
        assert_eq!(l.take(Some(t0 + Duration::from_secs(3))), Some(4));
        assert_eq!(l.items.len(), 1);
        // All stale: nothing is handed out.
        assert_eq!(l.take(Some(t0 + Duration::from_secs(10))), None);
        assert!(l.items.is_empty());
    }

    #[test]
    fn return_drops_stale_ones_and_a_full_list_drops_its_oldest() {
        let t0 = Instant::now();
        let mut l = list(&[1, 2, 3], t0, 3);
        l.put(4, t0 + Duration::from_secs(4), None, 3);
        let kept: Vec<u64> = l.items.iter().map(|(s, _)| *s).collect();
        assert_eq!(kept, [2, 3, 4], "the oldest made room, the newest stayed");
        l.put(
            9,
            t0 + Duration::from_secs(9),
            Some(t0 + Duration::from_secs(4)),
            3,
        );
        let kept: Vec<u64> = l.items.iter().map(|(s, _)| *s).collect();
        assert_eq!(kept, [4, 9], "2 and 3 were idle too long");
    }

    #[test]
    fn a_pool_of_size_zero_keeps_nothing() {
        let mut l = list(&[1, 2], Instant::now(), 0);
        assert_eq!(l.take(None), None);
    }
}
