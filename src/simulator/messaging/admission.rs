//! Who gets a socket and how much they may send: outage windows, allowed origins, sockets per
//! deployment and the per-deployment message bucket, all on the server's clock.

use super::super::config::Messaging;
use super::super::state::nanos;
use super::super::truth::{Count, Truth};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The drop-all fault's schedule: when sockets are dropped, and the refusals after each drop.
pub(super) struct Outages {
    /// Sorted, in nanoseconds since the server's start.
    drops_ns: Vec<i64>,
    refuse_ns: i64,
}

impl Outages {
    pub fn new(config: &Messaging) -> Outages {
        let mut drops_ns: Vec<i64> = config
            .faults
            .drop_all_at
            .iter()
            .map(|d| nanos(*d))
            .collect();
        drops_ns.sort_unstable();
        drops_ns.dedup();
        Outages {
            drops_ns,
            refuse_ns: nanos(config.faults.refuse_for),
        }
    }

    /// The first drop after `opened_ns`: a socket opened then is dropped at that moment.
    pub fn next_drop(&self, opened_ns: i64) -> Option<i64> {
        self.drops_ns.iter().copied().find(|&at| at > opened_ns)
    }

    /// How long upgrades are still refused at `now_ns`, if they are.
    pub fn refusing(&self, now_ns: i64) -> Option<Duration> {
        self.drops_ns
            .iter()
            .filter(|&&at| at <= now_ns && now_ns < at.saturating_add(self.refuse_ns))
            .map(|&at| at.saturating_add(self.refuse_ns) - now_ns)
            .max()
            .map(|left| Duration::from_nanos(u64::try_from(left).unwrap_or(0)))
    }
}

/// True when `origin` may open a socket of a deployment whose own list is `own` (`None`: it has
/// none, and the endpoint's list applies): no list, or the list names it (ASCII case aside, as
/// scheme and host compare). A socket without an `Origin` header is refused when there is a list.
pub(super) fn origin_allowed(
    own: Option<&[String]>,
    endpoint: &[String],
    origin: Option<&str>,
) -> bool {
    let allowed = own.unwrap_or(endpoint);
    allowed.is_empty()
        || origin.is_some_and(|o| {
            let o = o.trim_end_matches('/');
            allowed
                .iter()
                .any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(o))
        })
}

/// Open sockets per deployment, against the configured maximum.
pub(super) struct Capacity {
    open: Arc<[AtomicUsize]>,
    max: Option<usize>,
}

/// One open socket: on the deployment's count and the `sockets_open` gauge until dropped.
pub(super) struct Slot {
    open: Option<(Arc<[AtomicUsize]>, usize)>,
    truth: Truth,
    org: Option<usize>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some((open, deployment)) = &self.open {
            open[*deployment].fetch_sub(1, Ordering::AcqRel);
        }
        self.truth.sub(self.org, Count::SocketsOpen);
    }
}

impl Capacity {
    pub fn new(deployments: usize, max: Option<usize>) -> Capacity {
        Capacity {
            open: (0..deployments).map(|_| AtomicUsize::new(0)).collect(),
            max,
        }
    }

    /// A slot for a socket of `deployment` (`None`: unknown, not limited), or `None` when it is full.
    pub fn take(
        &self,
        deployment: Option<usize>,
        truth: &Truth,
        org: Option<usize>,
    ) -> Option<Slot> {
        let open = match deployment {
            Some(d) => {
                let max = self.max.unwrap_or(usize::MAX);
                self.open[d]
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                        (n < max).then_some(n + 1)
                    })
                    .ok()?;
                Some((self.open.clone(), d))
            }
            None => None,
        };
        truth.add(org, Count::SocketsOpen);
        Some(Slot {
            open,
            truth: truth.clone(),
            org,
        })
    }
}

/// Messages per second per deployment: a token bucket holding one second's worth (at least one).
pub(super) struct Buckets {
    per_ns: f64,
    burst: f64,
    buckets: Box<[Mutex<Bucket>]>,
}

struct Bucket {
    tokens: f64,
    at_ns: i64,
}

impl Buckets {
    pub fn new(deployments: usize, per_second: f64) -> Buckets {
        let burst = per_second.max(1.0);
        Buckets {
            per_ns: per_second / 1e9,
            burst,
            buckets: (0..deployments)
                .map(|_| {
                    Mutex::new(Bucket {
                        tokens: burst,
                        at_ns: 0,
                    })
                })
                .collect(),
        }
    }

    /// Spends one message of `deployment`'s budget at `now_ns`; false when it is spent.
    pub fn take(&self, deployment: usize, now_ns: i64) -> bool {
        let Some(bucket) = self.buckets.get(deployment) else {
            return true;
        };
        let mut b = bucket.lock().unwrap_or_else(|p| p.into_inner());
        let gained = (now_ns - b.at_ns).max(0) as f64 * self.per_ns;
        b.tokens = (b.tokens + gained).min(self.burst);
        b.at_ns = b.at_ns.max(now_ns);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    #[test]
    fn drops_are_found_after_the_opening_and_refuse_for_their_window() {
        let mut config = Messaging::default();
        config.faults.drop_all_at = vec![Duration::from_secs(20), Duration::from_secs(10)];
        config.faults.refuse_for = Duration::from_secs(3);
        let o = Outages::new(&config);
        assert_eq!(o.next_drop(0), Some(10 * S));
        assert_eq!(o.next_drop(10 * S), Some(20 * S));
        assert_eq!(o.next_drop(20 * S), None);
        assert_eq!(o.refusing(10 * S - 1), None);
        assert_eq!(o.refusing(11 * S), Some(Duration::from_secs(2)));
        assert_eq!(o.refusing(13 * S), None);
    }

    #[test]
    fn origins_match_exactly_when_there_is_a_list() {
        let list = vec!["https://shop.example".to_string()];
        assert!(origin_allowed(None, &[], None));
        assert!(origin_allowed(None, &list, Some("https://SHOP.example/")));
        assert!(!origin_allowed(None, &list, Some("https://evil.example")));
        assert!(!origin_allowed(None, &list, Some("http://shop.example")));
        assert!(!origin_allowed(None, &list, None));
    }

    #[test]
    fn a_deployments_own_list_replaces_the_endpoints() {
        let endpoint = vec!["https://shop.example".to_string()];
        let own = vec!["https://other.example".to_string()];
        let shop = Some("https://shop.example");
        assert!(!origin_allowed(Some(&own), &endpoint, shop));
        assert!(origin_allowed(
            Some(&own),
            &endpoint,
            Some("https://other.example")
        ));
        // An empty list of its own lets any origin in, whatever the endpoint's says.
        assert!(origin_allowed(
            Some(&[]),
            &endpoint,
            Some("https://evil.example")
        ));
        assert!(origin_allowed(Some(&[]), &endpoint, None));
        assert!(!origin_allowed(Some(&own), &[], None));
    }

    #[test]
    fn capacity_counts_slots_and_gives_them_back() {
        let truth = Truth::new(vec!["o".into()]);
        let c = Capacity::new(2, Some(1));
        let first = c.take(Some(0), &truth, Some(0)).expect("room for one");
        assert!(c.take(Some(0), &truth, Some(0)).is_none());
        let other = c.take(Some(1), &truth, Some(0));
        assert_eq!(truth.snapshot().total.messaging.sockets_open, 2);
        drop(first);
        drop(other);
        assert!(c.take(Some(0), &truth, Some(0)).is_some());
    }

    #[test]
    fn the_bucket_holds_a_second_and_refills_at_the_rate() {
        let b = Buckets::new(1, 2.0);
        assert!(b.take(0, 0) && b.take(0, 0));
        assert!(!b.take(0, S / 2 - 1));
        assert!(
            b.take(0, S / 2),
            "one message back after half a second at 2/s"
        );
        assert!(!b.take(0, S / 2));
        let slow = Buckets::new(1, 0.1);
        assert!(slow.take(0, 0) && !slow.take(0, 9 * S) && slow.take(0, 10 * S));
    }
}
