//! A session's journey, planned: the steps' names and how the next one is picked (in turn, or drawn
//! by weight from the session's own seeded stream, so a shard draws the same steps as the whole run).

use crate::profile::journey::{JourneyOrder, StepSection};
use rand::Rng;
use std::sync::Arc;

#[derive(Debug, Clone, Default)]
pub struct Journey {
    pub order: JourneyOrder,
    /// The steps' names, in the profile's order; empty for the single-call journey (`contacts`).
    pub names: Arc<[String]>,
    /// Each step's method and path template, as written, for the report.
    pub routes: Arc<[(String, String)]>,
    /// Running sums of the weights, the last exactly 1 (weighted journeys only).
    cumulative: Arc<[f64]>,
}

impl Journey {
    pub fn new(order: JourneyOrder, steps: &[StepSection]) -> Journey {
        let total: f64 = steps.iter().filter_map(|s| s.weight).sum();
        let mut running = 0.0;
        let mut cumulative: Vec<f64> = steps
            .iter()
            .map(|s| {
                running += s.weight.unwrap_or(0.0) / total.max(f64::MIN_POSITIVE);
                running
            })
            .collect();
        if let Some(last) = cumulative.last_mut() {
            *last = 1.0;
        }
        Journey {
            order,
            names: steps.iter().map(|s| s.name.clone()).collect(),
            routes: steps
                .iter()
                .map(|s| (s.method.to_ascii_uppercase(), s.path.to_string()))
                .collect(),
            cumulative: cumulative.into(),
        }
    }

    /// Steps the report shows apart; 0 for the single-call journey.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The step of a session's call number `call` (0-based); 0 for the single-call journey.
    pub fn step(&self, call: u64, rng: &mut impl Rng) -> usize {
        let n = self.names.len();
        if n <= 1 {
            return 0;
        }
        match self.order {
            JourneyOrder::Sequence => (call % n as u64) as usize,
            JourneyOrder::Weighted => {
                let u: f64 = rng.random();
                // A zero-weight step has an empty interval, so it is never drawn.
                self.cumulative.partition_point(|&c| c <= u).min(n - 1)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::template::Template;
    use rand::SeedableRng;

    fn step(name: &str, weight: f64) -> StepSection {
        StepSection {
            name: name.into(),
            method: "GET".into(),
            path: Template::parse("/x").unwrap(),
            body: None,
            weight: Some(weight),
        }
    }

    #[test]
    fn a_sequence_takes_every_step_in_turn() {
        let mut s = vec![step("a", 1.0), step("b", 1.0), step("c", 1.0)];
        s.iter_mut().for_each(|s| s.weight = None);
        let j = Journey::new(JourneyOrder::Sequence, &s);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let got: Vec<usize> = (0..7).map(|k| j.step(k, &mut rng)).collect();
        assert_eq!(got, [0, 1, 2, 0, 1, 2, 0]);
    }

    #[test]
    fn weighted_draws_follow_the_weights() {
        let s = [
            step("a", 6.0),
            step("b", 3.0),
            step("c", 1.0),
            step("d", 0.0),
        ];
        let j = Journey::new(JourneyOrder::Weighted, &s);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut counts = [0u64; 4];
        for k in 0..100_000 {
            counts[j.step(k, &mut rng)] += 1;
        }
        // Binomial counts of 100,000 draws: 4 standard deviations are at most 4 * sqrt(100,000 * 0.25)
        // = 633; a correct sampler leaves that about once in 16,000 checks.
        for (got, p) in counts.iter().zip([0.6f64, 0.3, 0.1, 0.0]) {
            let sd4 = 4.0 * (100_000.0 * p * (1.0 - p)).sqrt();
            assert!((*got as f64 - 100_000.0 * p).abs() <= sd4, "{counts:?}");
        }
        assert_eq!(counts[3], 0);
    }
}
