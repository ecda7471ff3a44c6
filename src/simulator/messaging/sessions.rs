//! Web-messaging sessions by (deployment, session token): when each expires, and whether it is over.

use super::super::shards::Shards;
use std::sync::Arc;
use tokio::sync::watch;

/// An expired session is kept this long before a sweep may drop it, so the sockets still on it
/// announce its expiry (and count it) from its entry.
const KEEP_AFTER_EXPIRY_NS: i64 = 60_000_000_000;

/// Where a session's life stands; every socket configured on it watches this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Life {
    Open,
    /// Ended by `closeSession`; `all`: its other sockets are closed too (`closeAllConnections`).
    Closed {
        all: bool,
    },
    Expired,
}

#[derive(Clone)]
struct Entry {
    expires_ns: i64,
    life: Arc<watch::Sender<Life>>,
}

impl Entry {
    fn live_at(&self, now_ns: i64) -> bool {
        *self.life.borrow() == Life::Open && now_ns < self.expires_ns
    }
}

/// A configure's outcome: whether the session is new, when it expires, and its life to watch.
pub(super) struct Configured {
    pub new_session: bool,
    pub expires_ns: i64,
    pub life: watch::Receiver<Life>,
}

pub(super) struct Sessions {
    map: Shards<(usize, String), Entry>,
    duration_ns: i64,
}

impl Sessions {
    pub fn new(duration_ns: i64) -> Sessions {
        Sessions {
            map: Shards::new(),
            duration_ns,
        }
    }

    /// Resumes the session when it is known, open and not expired; otherwise starts a new one.
    pub fn configure(&self, deployment: usize, token: &str, now_ns: i64) -> Configured {
        let duration = self.duration_ns;
        let keep = move |e: &Entry| {
            *e.life.borrow() == Life::Open
                && now_ns < e.expires_ns.saturating_add(KEEP_AFTER_EXPIRY_NS)
        };
        self.map
            .upsert((deployment, token.to_owned()), keep, |entry| match entry {
                Some(e) if e.live_at(now_ns) => (
                    Configured {
                        new_session: false,
                        expires_ns: e.expires_ns,
                        life: e.life.subscribe(),
                    },
                    None,
                ),
                _ => {
                    let (life, watching) = watch::channel(Life::Open);
                    let expires_ns = now_ns.saturating_add(duration);
                    let entry = Entry {
                        expires_ns,
                        life: Arc::new(life),
                    };
                    let configured = Configured {
                        new_session: true,
                        expires_ns,
                        life: watching,
                    };
                    (configured, Some(entry))
                }
            })
    }

    /// Ends an open session as `to`; true when this call is the one that ended it (it counts it).
    pub fn end(&self, deployment: usize, token: &str, to: Life) -> bool {
        let key = (deployment, token.to_owned());
        self.map.update(&key, |entry| {
            entry.is_some_and(|e| {
                e.life.send_if_modified(|life| {
                    let open = *life == Life::Open;
                    if open {
                        *life = to;
                    }
                    open
                })
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_resumes_until_it_is_closed_or_expires() {
        let s = Sessions::new(100);
        assert!(s.configure(0, "t", 0).new_session);
        assert!(!s.configure(0, "t", 99).new_session, "resumed");
        assert!(s.configure(1, "t", 99).new_session, "another deployment's");
        let expired = s.configure(0, "t", 100);
        assert!(expired.new_session, "its duration ran out");
        assert_eq!(expired.expires_ns, 200);
        let mut watching = s.configure(0, "t", 150).life;
        assert!(s.end(0, "t", Life::Closed { all: true }));
        assert!(!s.end(0, "t", Life::Expired), "ended once");
        assert!(watching.has_changed().unwrap());
        assert_eq!(*watching.borrow_and_update(), Life::Closed { all: true });
        assert!(
            s.configure(0, "t", 151).new_session,
            "a closed session is over"
        );
        assert!(!s.end(5, "nobody", Life::Expired));
    }
}
