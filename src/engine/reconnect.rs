//! How long a widget waits before its next attempt to open a lost socket, as its SDK does: a fixed
//! delay (every widget dropped at once comes back at once, every time: lockstep waves), at once, or
//! exponential backoff with full jitter (each waits a uniform draw below a doubling cap, which spreads
//! a wave over the cap).

use crate::plan::client::ReconnectSettings;
use rand::Rng;
use std::time::Duration;

/// The wait before attempt `attempt` (1: the first after the socket was lost), or `None` when the
/// policy's attempts are used up.
pub fn delay(policy: ReconnectSettings, attempt: u32, rng: &mut impl Rng) -> Option<Duration> {
    if attempt == 0 || attempt > policy.attempts() {
        return None;
    }
    Some(match policy {
        ReconnectSettings::Fixed { delay, .. } => delay,
        ReconnectSettings::Immediate { .. } => Duration::ZERO,
        ReconnectSettings::Exponential { base, max, .. } => {
            let doublings = (attempt - 1).min(31);
            let cap = base.saturating_mul(1 << doublings).min(max);
            cap.mul_f64(rng.random::<f64>())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn fixed_and_immediate_wait_the_same_every_time_until_the_attempts_run_out() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let android = ReconnectSettings::ANDROID;
        assert_eq!(delay(android, 1, &mut rng), Some(Duration::from_secs(5)));
        assert_eq!(delay(android, 60, &mut rng), Some(Duration::from_secs(5)));
        assert_eq!(delay(android, 61, &mut rng), None);
        assert_eq!(
            delay(ReconnectSettings::IOS, 10, &mut rng),
            Some(Duration::ZERO)
        );
        assert_eq!(delay(ReconnectSettings::IOS, 11, &mut rng), None);
    }

    #[test]
    fn full_jitter_draws_below_a_doubling_cap() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let policy = ReconnectSettings::FULL_JITTER;
        for (attempt, cap_s) in [(1, 1.0), (2, 2.0), (3, 4.0), (6, 30.0), (30, 30.0)] {
            let draws: Vec<f64> = (0..2_000)
                .map(|_| delay(policy, attempt, &mut rng).unwrap().as_secs_f64())
                .collect();
            assert!(draws.iter().all(|d| *d < cap_s));
            // Uniform on [0, cap): the mean of 2,000 draws is within 5 % of cap/2 (its standard
            // error is cap/sqrt(12 * 2000), about 0.65 % of the cap).
            let mean = draws.iter().sum::<f64>() / draws.len() as f64;
            assert!(
                (mean - cap_s / 2.0).abs() < 0.05 * cap_s,
                "{attempt}: {mean}"
            );
        }
    }
}
