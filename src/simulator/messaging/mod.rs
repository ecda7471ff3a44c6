//! The web-messaging WebSocket endpoint (`GET /v1?deploymentId=`): sessions configured over a socket,
//! messages answered by tracing id, JWTs, session expiry, limits and socket faults, with ground truth.
//! The wire protocol and its choices are in docs/messaging.md.

mod admission;
mod answer;
mod frames;
mod sessions;
mod socket;
mod upgrade;

pub(crate) use upgrade::upgrade;

use super::config::{Latency, Messaging};
use super::faults::draw;
use super::state::{mix, nanos};
use admission::{Buckets, Capacity, Outages};
use sessions::Sessions;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::watch;

/// Path of the socket endpoint.
pub const SOCKET_PATH: &str = "/v1";

/// A client frame is at most this long; a longer one is refused with close 1009 before it is read.
pub(crate) const MAX_FRAME_BYTES: usize = 64 * 1024;

/// The custom attributes of a message are at most this long as JSON (the platform's limit).
const MAX_ATTRIBUTES_BYTES: usize = 2048;

/// The messaging side of the server's state.
pub(crate) struct Hub {
    config: Messaging,
    sessions: Sessions,
    capacity: Capacity,
    buckets: Option<Buckets>,
    outages: Outages,
    replies: ReplyLatency,
    /// Raised once when the server stops: every socket closes with 1001.
    stopping: watch::Sender<bool>,
}

impl Hub {
    pub fn new(config: &Messaging, deployments: usize, seed: u64) -> Hub {
        Hub {
            sessions: Sessions::new(nanos(config.session_duration)),
            capacity: Capacity::new(deployments, config.max_sockets_per_deployment),
            buckets: config
                .messages_per_second
                .filter(|r| r.is_finite() && *r > 0.0)
                .map(|r| Buckets::new(deployments, r)),
            outages: Outages::new(config),
            replies: ReplyLatency {
                latency: config.faults.reply_latency,
                salt: mix(seed ^ mix(3)),
                arrivals: AtomicU64::new(0),
            },
            stopping: watch::channel(false).0,
            config: config.clone(),
        }
    }

    /// Closes every socket (1001, going away); new ones are closed as soon as they open.
    pub fn stop(&self) {
        self.stopping.send_replace(true);
    }
}

/// The reply-latency fault: draw `n` depends only on the seed and `n`, as the REST faults' draws do.
struct ReplyLatency {
    latency: Latency,
    salt: u64,
    arrivals: AtomicU64,
}

impl ReplyLatency {
    fn is_quiet(&self) -> bool {
        self.latency == Latency::None
    }

    /// A uniform draw in [0, 1) for arrival `n`, stream `k`.
    fn unit(&self, n: u64, k: u64) -> f64 {
        (mix(self.salt ^ n.wrapping_mul(4).wrapping_add(k)) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn delay(&self, n: u64) -> Duration {
        draw(self.latency, 1.0 - self.unit(n, 0), self.unit(n, 1))
    }

    /// The next answer's arrival number and its delay.
    fn next(&self) -> (u64, Duration) {
        if self.is_quiet() {
            return (0, Duration::ZERO);
        }
        let n = self.arrivals.fetch_add(1, Ordering::Relaxed);
        (n, self.delay(n))
    }

    /// A message id in UUID form, from the seed and a per-server sequence, so runs repeat.
    fn message_id(&self, n: u64) -> String {
        let (a, b) = (mix(self.salt ^ !n), mix(self.salt.rotate_left(17) ^ n));
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0x0fff,
            0x8000 | (b >> 48) & 0x3fff,
            b & 0xffff_ffff_ffff
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_delays_repeat_per_seed_and_are_not_in_arrival_order() {
        let mut config = Messaging::default();
        config.faults.reply_latency = Latency::LogNormal {
            p50: Duration::from_millis(20),
            p99: Duration::from_millis(200),
        };
        let delays = |seed| {
            let hub = Hub::new(&config, 1, seed);
            (0..20).map(|_| hub.replies.next().1).collect::<Vec<_>>()
        };
        assert_eq!(delays(7), delays(7));
        assert_ne!(delays(7), delays(8));
        let d = delays(7);
        assert!(d.windows(2).any(|w| w[0] > w[1]), "{d:?}");
    }

    #[test]
    fn message_ids_look_like_uuids_and_differ() {
        let hub = Hub::new(&Messaging::default(), 1, 1);
        let (a, b) = (hub.replies.message_id(1), hub.replies.message_id(2));
        assert_ne!(a, b);
        let groups: Vec<usize> = a.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12], "{a}");
    }
}
