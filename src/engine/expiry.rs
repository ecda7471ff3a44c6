//! When a client will stop using a token it just got: the arithmetic of margins, early expiry, clock
//! skew and jitter, as a pure function so it can be checked case by case.

use crate::plan::{ClientModel, RefreshTrigger};
use std::time::{Duration, Instant};

/// The instants a new token carries (see `Token`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Windows {
    /// Expiry as the client's clock sees it: `expires_in` after asking, moved by the clock skew.
    pub expires_at: Instant,
    pub refresh_at: Option<Instant>,
    pub advisory_at: Option<Instant>,
}

/// `at` moved by `ms` milliseconds (negative: earlier), never before `floor`.
fn shift(at: Instant, ms: i64, floor: Instant) -> Instant {
    let d = Duration::from_millis(ms.unsigned_abs());
    let moved = if ms >= 0 {
        at.checked_add(d)
    } else {
        at.checked_sub(d)
    };
    moved.unwrap_or(floor).max(floor)
}

fn before(at: Instant, d: Duration, floor: Instant) -> Instant {
    at.checked_sub(d).unwrap_or(floor).max(floor)
}

/// `asked` is when the client sent the token request; `jitter_share` in 0..1 picks this token's jitter.
pub fn windows(
    model: &ClientModel,
    asked: Instant,
    expires_in: Duration,
    jitter_share: f64,
) -> Windows {
    let expires_at = asked + expires_in;
    // A client whose clock is ahead by s reads the absolute expiry s early.
    let believed = shift(expires_at, -model.clock_skew_ms, asked);
    let jitter = model.jitter.mul_f64(jitter_share.clamp(0.0, 1.0));
    let early =
        (!model.early_expiry.is_zero()).then(|| before(believed, model.early_expiry, asked));
    let (trigger_at, advisory_at) = match model.trigger {
        // A purely reactive client does not look at expiry at all, unless it has an early-expiry rule.
        RefreshTrigger::Reactive => (None, None),
        RefreshTrigger::Margin { margin } => (Some(before(believed, margin + jitter, asked)), None),
        RefreshTrigger::Fraction { fraction } => (
            Some(before(asked + expires_in.mul_f64(fraction), jitter, asked)),
            None,
        ),
        RefreshTrigger::TwoWindow {
            advisory,
            mandatory,
        } => (
            Some(before(believed, mandatory + jitter, asked)),
            Some(before(believed, advisory + jitter, asked)),
        ),
    };
    let refresh_at = match (trigger_at, early) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    Windows {
        expires_at: believed,
        refresh_at,
        advisory_at,
    }
}

/// A share in 0..1 from (seed, slot, generation), so every run with the same seed jitters the same.
pub fn jitter_share(seed: u64, slot: usize, generation: u64) -> f64 {
    // splitmix64: a few multiply-xor rounds give well-spread bits without shared RNG state.
    let mut z =
        seed ^ (slot as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ generation.rotate_left(32);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::client::ClientSettings;
    use crate::profile::schema::{TokenScope, Trigger};
    use crate::profile::units::{SignedSpan, Span};

    fn model(edit: impl FnOnce(&mut ClientSettings)) -> ClientModel {
        let mut s = ClientSettings {
            token_scope: Some(TokenScope::Org),
            trigger: Some(Trigger::Reactive),
            ..Default::default()
        };
        edit(&mut s);
        crate::plan::client::resolve("m", &s)
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn triggers_place_the_refresh() {
        let t0 = Instant::now();
        let ttl = secs(100);
        let at = |w: Windows| w.refresh_at.map(|i| i.duration_since(t0));
        let reactive = model(|_| {});
        assert_eq!(
            at(windows(&reactive, t0, ttl, 0.0)),
            None,
            "reactive ignores expiry"
        );
        let messenger = model(|s| s.early_expiry = Some(Span(secs(5))));
        assert_eq!(at(windows(&messenger, t0, ttl, 0.0)), Some(secs(95)));
        let margin = model(|s| {
            s.trigger = Some(Trigger::Margin);
            s.margin = Some(Span(secs(10)));
            s.jitter = Some(Span(secs(4)));
        });
        assert_eq!(at(windows(&margin, t0, ttl, 0.0)), Some(secs(90)));
        assert_eq!(
            at(windows(&margin, t0, ttl, 0.5)),
            Some(secs(88)),
            "half the jitter"
        );
        let fraction = model(|s| {
            s.trigger = Some(Trigger::Fraction);
            s.fraction = Some(0.75);
        });
        assert_eq!(at(windows(&fraction, t0, ttl, 0.0)), Some(secs(75)));
        let two = model(|s| {
            s.trigger = Some(Trigger::TwoWindow);
            s.advisory = Some(Span(secs(30)));
            s.margin = Some(Span(secs(10)));
        });
        let w = windows(&two, t0, ttl, 0.0);
        assert_eq!(at(w), Some(secs(90)));
        assert_eq!(w.advisory_at.map(|i| i.duration_since(t0)), Some(secs(70)));
        assert_eq!(w.expires_at.duration_since(t0), secs(100));
    }

    #[test]
    fn clock_skew_moves_the_refresh_by_the_skew() {
        let t0 = Instant::now();
        let behind = model(|s| {
            s.trigger = Some(Trigger::Margin);
            s.margin = Some(Span(secs(2)));
            s.clock_skew = Some("-5s".parse::<SignedSpan>().unwrap());
        });
        let w = windows(&behind, t0, secs(100), 0.0);
        assert_eq!(
            w.refresh_at.map(|i| i.duration_since(t0)),
            Some(secs(103)),
            "3 s past the real expiry"
        );
        let ahead = model(|s| {
            s.trigger = Some(Trigger::Margin);
            s.margin = Some(Span(secs(2)));
            s.clock_skew = Some("+500s".parse::<SignedSpan>().unwrap());
        });
        let w = windows(&ahead, t0, secs(100), 0.0);
        assert_eq!(
            w.refresh_at,
            Some(t0),
            "never before the token was asked for"
        );
    }

    #[test]
    fn jitter_is_deterministic_and_spread() {
        assert_eq!(jitter_share(1, 2, 3), jitter_share(1, 2, 3));
        let shares: Vec<f64> = (0..1000).map(|i| jitter_share(42, i, 1)).collect();
        assert!(shares.iter().all(|s| (0.0..1.0).contains(s)));
        let mean = shares.iter().sum::<f64>() / shares.len() as f64;
        assert!((mean - 0.5).abs() < 0.05, "{mean}");
    }
}
