//! Sessions with a life, planned: when they arrive (a seeded Poisson or uniform process following the
//! run's schedule, so stages drive the arrival rate), and for each arrival its org, its length and the
//! random stream its think times come from. Everything about session `k` is drawn from a stream of its
//! own, so a shard that skips other orgs' sessions draws the very same sessions as the whole run.

use super::schedule::Schedule;
use super::{Org, PlanError, Shard};
use crate::profile::sessions::{
    ArrivalProcess, DistSection, LeaveKind, OrgWeights, SessionsSection,
};
use crate::profile::Profile;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp1, StandardNormal};
use std::sync::Arc;
use std::time::Duration;

/// The standard normal's 99th percentile: a log-normal's p99 is `exp(mu + Z99 * sigma)`.
const Z99: f64 = 2.326_347_874_040_840_8;

/// A distribution of durations, in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Dist {
    Fixed(f64),
    Uniform {
        min: f64,
        max: f64,
    },
    /// `ln` of the draw is normal with mean `mu` and deviation `sigma`.
    LogNormal {
        mu: f64,
        sigma: f64,
    },
}

impl Dist {
    pub fn of(section: &DistSection) -> Dist {
        match *section {
            DistSection::Fixed { value } => Dist::Fixed(value.secs_f64()),
            DistSection::Uniform { min, max } => Dist::Uniform {
                min: min.secs_f64(),
                max: max.secs_f64(),
            },
            DistSection::Lognormal { p50, p99 } => {
                let mu = p50.secs_f64().ln();
                Dist::LogNormal {
                    mu,
                    sigma: ((p99.secs_f64().ln() - mu) / Z99).max(0.0),
                }
            }
        }
    }

    pub fn draw(&self, rng: &mut impl Rng) -> Duration {
        let secs = match *self {
            Dist::Fixed(v) => v,
            Dist::Uniform { min, max } => min + (max - min) * rng.random::<f64>(),
            Dist::LogNormal { mu, sigma } => {
                let z: f64 = StandardNormal.sample(rng);
                (mu + sigma * z).exp()
            }
        };
        Duration::try_from_secs_f64(secs).unwrap_or(Duration::ZERO)
    }

    pub fn mean_s(&self) -> f64 {
        match *self {
            Dist::Fixed(v) => v,
            Dist::Uniform { min, max } => (min + max) / 2.0,
            Dist::LogNormal { mu, sigma } => (mu + sigma * sigma / 2.0).exp(),
        }
    }

    /// The 99th percentile: with this long since the start of a steady rate, nearly every session
    /// alive is one that arrived at that rate.
    pub fn p99_s(&self) -> f64 {
        match *self {
            Dist::Fixed(v) => v,
            Dist::Uniform { min, max } => min + 0.99 * (max - min),
            Dist::LogNormal { mu, sigma } => (mu + Z99 * sigma).exp(),
        }
    }
}

/// One arriving session, as drawn.
pub struct Drawn {
    pub org: u32,
    pub length: Duration,
    /// A returning visitor: the age of the saved token it wants to restore.
    pub returning: Option<Duration>,
    /// Its think times come from here, in order.
    pub rng: ChaCha8Rng,
}

#[derive(Debug, Clone)]
pub struct SessionPlan {
    pub arrival: ArrivalProcess,
    pub leave: LeaveKind,
    pub length: Dist,
    pub think: Dist,
    /// Each org's share of the sessions (they add up to 1).
    pub weights: Arc<[f64]>,
    /// Running sums of `weights`, the last exactly 1: an org is drawn by where a uniform number falls.
    cumulative: Arc<[f64]>,
    /// The orgs this process sends for: all of them, or its shard's.
    pub owns: Arc<[bool]>,
    /// The most sessions alive at once (`[load] sessions`).
    pub max_active: u32,
    /// The API calls a session makes, and how it picks the next.
    pub journey: super::journey::Journey,
    /// Returning visitors: their share of the arrivals, and the age of the token they restore.
    pub returning: Option<(f64, Dist)>,
    seed: u64,
}

impl SessionPlan {
    pub fn new(section: &SessionsSection, orgs: usize, max_active: u32, seed: u64) -> SessionPlan {
        let raw: Vec<f64> = match &section.org_weights {
            OrgWeights::Equal => vec![1.0; orgs],
            OrgWeights::LongTail => (0..orgs).map(|i| 1.0 / (i as f64 + 1.0)).collect(),
            OrgWeights::Given(w) => (0..orgs)
                .map(|i| w.get(i).copied().unwrap_or(0.0))
                .collect(),
        };
        let sum: f64 = raw.iter().sum::<f64>().max(f64::MIN_POSITIVE);
        let weights: Arc<[f64]> = raw.iter().map(|w| w / sum).collect();
        let mut running = 0.0;
        let mut cumulative: Vec<f64> = weights
            .iter()
            .map(|w| {
                running += w;
                running
            })
            .collect();
        if let Some(last) = cumulative.iter().rposition(|_| true) {
            cumulative[last] = 1.0;
        }
        SessionPlan {
            arrival: section.arrival,
            leave: section.leave,
            length: Dist::of(&section.length),
            think: Dist::of(&section.think),
            weights,
            cumulative: cumulative.into(),
            owns: vec![true; orgs].into(),
            max_active,
            journey: super::journey::Journey::new(section.journey, &section.steps),
            returning: section
                .returning
                .as_ref()
                .map(|r| (r.share, Dist::of(&r.age))),
            seed,
        }
    }

    /// Only the sessions of these orgs are sent (a shard's part of the run).
    pub fn owning(mut self, owns: Vec<bool>) -> SessionPlan {
        self.owns = owns.into();
        self
    }

    /// Share of all sessions this process sends for.
    pub fn share(&self) -> f64 {
        if self.owns.iter().all(|o| *o) {
            return 1.0;
        }
        self.weights
            .iter()
            .zip(self.owns.iter())
            .filter(|(_, owned)| **owned)
            .map(|(w, _)| w)
            .sum()
    }

    pub fn owned(&self, org: u32) -> bool {
        self.owns.get(org as usize).copied().unwrap_or(false)
    }

    /// Session `k` of the whole run (0-based, in arrival order): its org, its length, its think times.
    pub fn draw(&self, k: u64) -> Drawn {
        let stream = self.seed ^ 0x5E55_1075_0000_0000 ^ k.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut rng = ChaCha8Rng::seed_from_u64(stream);
        let u: f64 = rng.random();
        let org = self
            .cumulative
            .partition_point(|&c| c <= u)
            .min(self.cumulative.len().saturating_sub(1));
        let length = self.length.draw(&mut rng);
        // Drawn only when the profile has returning visitors, so that other profiles' think times
        // (the next numbers of the stream) stay what they were.
        let returning = self.returning.and_then(|(share, age)| {
            let u: f64 = rng.random();
            let age = age.draw(&mut rng);
            (u < share).then_some(age)
        });
        Drawn {
            org: org as u32,
            length,
            returning,
            rng,
        }
    }

    /// The arrival offsets of the whole run, in order, following `schedule`'s rate.
    pub fn arrivals(&self, schedule: Schedule) -> Arrivals {
        Arrivals {
            process: self.arrival,
            expected: schedule.expected_total(),
            total: schedule.total(),
            schedule,
            rng: ChaCha8Rng::seed_from_u64(self.seed ^ 0xA771_7A15),
            n: 0,
            at: 0.0,
        }
    }
}

/// The sessions' plan; a shard owns whole orgs (with their partners), balanced by weight.
pub(super) fn plan(
    section: &SessionsSection,
    profile: &Profile,
    seed: u64,
    orgs: &[Org],
    shard: Option<Shard>,
) -> Result<SessionPlan, PlanError> {
    let plan = SessionPlan::new(section, orgs.len(), profile.load.sessions, seed);
    let Some(shard) = shard else {
        return Ok(plan);
    };
    let primary: Vec<Option<usize>> = orgs.iter().map(|o| o.primary).collect();
    // Weights as whole numbers for the assignment: parts per billion of the sessions.
    let per_org: Vec<u64> = plan
        .weights
        .iter()
        .map(|w| (w * 1e9).round() as u64)
        .collect();
    let owns =
        super::shard::assign(shard, &primary, &per_org).map_err(|e| PlanError::Shard(shard, e))?;
    Ok(plan.owning(owns))
}

/// The `k` orgs with the most weight among those this process sends for.
pub(super) fn heaviest(plan: &SessionPlan, k: usize) -> Vec<usize> {
    let w = &plan.weights;
    let mut ranked: Vec<usize> = (0..w.len())
        .filter(|&o| plan.owns[o] && w[o] > 0.0)
        .collect();
    ranked.sort_by(|&a, &b| w[b].total_cmp(&w[a]).then(a.cmp(&b)));
    ranked.truncate(k);
    ranked
}

/// Arrival offsets from the start of the run, in order.
pub struct Arrivals {
    process: ArrivalProcess,
    schedule: Schedule,
    expected: f64,
    total: u64,
    rng: ChaCha8Rng,
    n: u64,
    /// Poisson: the unit-rate process's time, in expected arrivals.
    at: f64,
}

impl Iterator for Arrivals {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        match self.process {
            ArrivalProcess::Uniform => {
                let n = self.n;
                self.n += 1;
                (n < self.total).then(|| self.schedule.intended(n))
            }
            // Exponential gaps of mean 1 in expected arrivals: a Poisson process whose rate follows
            // the schedule's, ramps and stages included.
            ArrivalProcess::Poisson => {
                let gap: f64 = Exp1.sample(&mut self.rng);
                self.at += gap;
                (self.at < self.expected).then(|| self.schedule.time_at(self.at))
            }
        }
    }
}

#[cfg(test)]
#[path = "sessions_tests.rs"]
mod tests;
