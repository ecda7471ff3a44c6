//! The drawn sessions follow their distributions: counts within 4 standard deviations of their
//! expectation on fixed seeds (a bound a correct sampler leaves about once in 16,000 checks).

use super::*;
use crate::profile::units::{Rate, Span};

fn secs(v: f64) -> Span {
    Span(Duration::from_secs_f64(v))
}

fn section(arrival: ArrivalProcess, length: DistSection, weights: OrgWeights) -> SessionsSection {
    SessionsSection {
        arrival,
        arrival_rate: Some(Rate { per_second: 50.0 }),
        length,
        think: DistSection::Fixed { value: secs(1.0) },
        leave: LeaveKind::Drop,
        org_weights: weights,
        journey: Default::default(),
        steps: Vec::new(),
        returning: None,
    }
}

fn plan(arrival: ArrivalProcess, length: DistSection, weights: OrgWeights) -> SessionPlan {
    SessionPlan::new(&section(arrival, length, weights), 100, 1000, 7)
}

/// 4 standard deviations of a binomial count of `n` trials with probability `p`.
fn four_sigma(n: f64, p: f64) -> f64 {
    4.0 * (n * p * (1.0 - p)).sqrt()
}

#[test]
fn poisson_arrivals_have_poisson_counts_and_exponential_gaps() {
    let fixed = DistSection::Fixed { value: secs(1.0) };
    let p = plan(ArrivalProcess::Poisson, fixed, OrgWeights::Equal);
    let schedule = Schedule::new(50.0, Duration::ZERO, Duration::from_secs(200));
    let times: Vec<f64> = p.arrivals(schedule).map(|d| d.as_secs_f64()).collect();
    // Count ~ Poisson(10,000): sd 100.
    let n = times.len() as f64;
    assert!((n - 10_000.0).abs() <= 400.0, "{n} arrivals");
    // P(gap > mean gap) = e^-1 for exponential gaps.
    let gaps: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    let long = gaps.iter().filter(|g| **g > 0.02).count() as f64;
    let expected = (-1.0f64).exp();
    let bound = four_sigma(gaps.len() as f64, expected);
    assert!(
        (long - gaps.len() as f64 * expected).abs() <= bound,
        "{long}"
    );
    assert!(times.windows(2).all(|w| w[1] >= w[0]), "in order");
    let again: Vec<f64> = p
        .arrivals(Schedule::new(
            50.0,
            Duration::ZERO,
            Duration::from_secs(200),
        ))
        .map(|d| d.as_secs_f64())
        .collect();
    assert_eq!(times, again, "same seed, same arrivals");
}

#[test]
fn uniform_arrivals_follow_the_schedule_exactly() {
    let fixed = DistSection::Fixed { value: secs(1.0) };
    let p = plan(ArrivalProcess::Uniform, fixed, OrgWeights::Equal);
    let schedule = Schedule::new(50.0, Duration::from_secs(10), Duration::from_secs(20));
    let times: Vec<Duration> = p.arrivals(schedule.clone()).collect();
    assert_eq!(times.len() as u64, schedule.total());
    assert_eq!(times.len(), 750, "half the ramp's 500, then 10 s at 50/s");
}

#[test]
fn lognormal_lengths_meet_their_percentiles() {
    let length = DistSection::Lognormal {
        p50: secs(30.0),
        p99: secs(300.0),
    };
    let p = plan(ArrivalProcess::Poisson, length, OrgWeights::Equal);
    let n = 20_000u64;
    let lengths: Vec<f64> = (0..n).map(|k| p.draw(k).length.as_secs_f64()).collect();
    for (quantile, at) in [(0.5, 30.0), (0.99, 300.0)] {
        let below = lengths.iter().filter(|l| **l < at).count() as f64;
        let bound = four_sigma(n as f64, quantile);
        assert!(
            (below - n as f64 * quantile).abs() <= bound,
            "{below} of {n} below {at}s, expected {quantile}"
        );
    }
    assert!((p.length.p99_s() - 300.0).abs() < 1e-6);
}

#[test]
fn fixed_and_uniform_lengths_stay_in_range() {
    let fixed = plan(
        ArrivalProcess::Poisson,
        DistSection::Fixed { value: secs(12.0) },
        OrgWeights::Equal,
    );
    assert!((0..100).all(|k| fixed.draw(k).length == Duration::from_secs(12)));
    let uniform = plan(
        ArrivalProcess::Poisson,
        DistSection::Uniform {
            min: secs(10.0),
            max: secs(20.0),
        },
        OrgWeights::Equal,
    );
    let n = 10_000u64;
    let lengths: Vec<f64> = (0..n)
        .map(|k| uniform.draw(k).length.as_secs_f64())
        .collect();
    assert!(lengths.iter().all(|l| (10.0..20.0).contains(l)));
    // The mean's sd is (10 / sqrt(12)) / sqrt(n) = 0.029 s.
    let mean = lengths.iter().sum::<f64>() / n as f64;
    assert!((mean - 15.0).abs() <= 4.0 * 0.029, "{mean}");
}

fn org_counts(p: &SessionPlan, n: u64) -> Vec<f64> {
    let mut counts = vec![0.0; p.weights.len()];
    for k in 0..n {
        counts[p.draw(k).org as usize] += 1.0;
    }
    counts
}

#[test]
fn sessions_spread_over_orgs_by_weight() {
    let fixed = DistSection::Fixed { value: secs(1.0) };
    let n = 50_000u64;
    for weights in [OrgWeights::Equal, OrgWeights::LongTail] {
        let p = plan(ArrivalProcess::Poisson, fixed, weights.clone());
        let counts = org_counts(&p, n);
        for (org, (count, w)) in counts.iter().zip(p.weights.iter()).enumerate() {
            let bound = four_sigma(n as f64, *w);
            assert!(
                (count - n as f64 * w).abs() <= bound,
                "{weights:?}: org {org} got {count}, expected {}",
                n as f64 * w
            );
        }
    }
    // Long tail: org 0 weighs 1 / H(100) = 0.1928.
    let tail = plan(ArrivalProcess::Poisson, fixed, OrgWeights::LongTail);
    assert!((tail.weights[0] - 0.192_776).abs() < 1e-5);
    let mut given = vec![0.0; 100];
    given[3] = 3.0;
    given[7] = 1.0;
    let p = plan(ArrivalProcess::Poisson, fixed, OrgWeights::Given(given));
    let counts = org_counts(&p, 4_000);
    let others: f64 = counts
        .iter()
        .enumerate()
        .filter(|(o, _)| ![3, 7].contains(o))
        .map(|(_, c)| c)
        .sum();
    assert_eq!(others, 0.0, "orgs of weight 0 get no sessions");
    assert!((counts[3] - 3_000.0).abs() <= four_sigma(4_000.0, 0.75));
}

#[test]
fn a_shard_draws_the_same_sessions_and_owns_its_share() {
    let fixed = DistSection::Fixed { value: secs(1.0) };
    let whole = plan(ArrivalProcess::Poisson, fixed, OrgWeights::LongTail);
    let owns: Vec<bool> = (0..100).map(|o| o % 2 == 0).collect();
    let shard = whole.clone().owning(owns);
    for k in [0, 1, 99, 12_345] {
        assert_eq!(whole.draw(k).org, shard.draw(k).org);
        assert_eq!(whole.draw(k).length, shard.draw(k).length);
    }
    let even: f64 = (0..100).step_by(2).map(|o| whole.weights[o]).sum();
    assert!((shard.share() - even).abs() < 1e-12);
    assert!((whole.share() - 1.0).abs() < 1e-12);
}

fn built(text: &str) -> crate::plan::Plan {
    let loaded = crate::profile::Loaded {
        path: "p.toml".into(),
        name: "p".into(),
        profile: crate::profile::parse(text, std::path::Path::new("p.toml")).unwrap(),
        text: text.into(),
    };
    crate::plan::build(&loaded, &crate::plan::Overrides::default()).unwrap()
}

const STAGED: &str = r#"
[load]
orgs = 5
sessions = 100
[[load.stage]]
name = "warm"
duration = "10s"
target = "10/s"
[[load.stage]]
name = "hold"
duration = "10s"
target = "10/s"
[sessions]
arrival = "uniform"
length = { dist = "uniform", min = "1s", max = "3s" }
think = { dist = "fixed", value = "1s" }
org_weights = "long-tail"
[[variant]]
name = "a"
client = "naive"
"#;

#[test]
fn stages_drive_the_session_arrival_rate() {
    let plan = built(STAGED);
    let sessions = plan.load.sessions.clone().expect("sessions planned");
    // The ramp's 50 arrivals, then 10 s at 10/s.
    assert_eq!(sessions.arrivals(plan.load.schedule()).count(), 150);
    assert_eq!(plan.load.rate_per_second, 10.0, "the peak arrival rate");
    assert_eq!(plan.load.steady_window(), None, "the rate changes");
    assert_eq!(plan.top_orgs, vec![0, 1, 2, 3, 4], "heaviest first");
    assert_eq!(sessions.max_active, 100);
}

#[test]
fn the_steady_window_starts_after_the_ramp_and_the_p99_length() {
    let text = STAGED
        .replace(
            "[[load.stage]]\nname = \"warm\"\nduration = \"10s\"\ntarget = \"10/s\"\n",
            "",
        )
        .replace(
            "[[load.stage]]\nname = \"hold\"\nduration = \"10s\"\ntarget = \"10/s\"\n",
            "ramp_up = \"4s\"\n",
        )
        .replace("[sessions]\n", "[sessions]\narrival_rate = \"10/s\"\n")
        .replace("[load]\n", "duration = \"20s\"\n[load]\n");
    let plan = built(&text);
    let (from, to) = plan.load.steady_window().expect("a steady window");
    // 4 s of ramp, then the uniform length's p99: 1 + 0.99 * 2 = 2.98 s.
    assert!((from.as_secs_f64() - 6.98).abs() < 1e-9, "{from:?}");
    assert_eq!(to, Duration::from_secs(20));
}
