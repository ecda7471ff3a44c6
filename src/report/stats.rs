//! Whether a difference between two runs is real: tests that work on the reports' lossless histograms
//! and counts, so they need no raw samples and give the same answer for a merged report as for one run.
//!
//! - Latency percentiles: Poisson bootstrap over the histogram's buckets (each bucket's count redrawn
//!   from a Poisson distribution with that mean), seeded, giving a confidence interval for each side's
//!   percentile and for their difference.
//! - Latency distributions: Mann-Whitney U over the buckets (ties ranked together, tie-corrected normal
//!   approximation), with Vargha-Delaney's A as the effect size: with tens of thousands of calls any
//!   shift is "significant", so a difference also has to be more than negligible (|A - 0.5| >= 0.06).
//! - Rates (401s, invalid_grant): Welch's t-test on batch means of the time series, because calls in
//!   one storm are not independent trials (a z-test on calls calls two runs of one client different).

use hdrhistogram::Histogram;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Poisson};

/// Bootstrap rounds: enough for a stable 95 % interval, cheap on a few thousand buckets.
const ROUNDS: usize = 1000;
/// Vargha-Delaney: |A - 0.5| below this is a negligible effect.
const NEGLIGIBLE_A: f64 = 0.06;

/// A histogram as (value in microseconds, count) pairs in value order.
pub type Buckets = Vec<(u64, u64)>;

pub fn buckets(h: &Histogram<u64>) -> Buckets {
    h.iter_recorded()
        .map(|v| (v.value_iterated_to(), v.count_at_value()))
        .collect()
}

/// The `q` quantile (0..1) of bucketed values, in microseconds.
fn quantile(buckets: &[(u64, f64)], total: f64, q: f64) -> f64 {
    let target = (q * total).ceil().max(1.0);
    let mut seen = 0.0;
    for &(value, count) in buckets {
        seen += count;
        if seen >= target {
            return value as f64;
        }
    }
    buckets.last().map_or(0.0, |b| b.0 as f64)
}

/// One side's percentile and the bootstrap interval of the candidate minus the base, in ms.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PercentileDiff {
    pub base_ms: f64,
    pub candidate_ms: f64,
    pub diff_low_ms: f64,
    pub diff_high_ms: f64,
}

/// Bootstrap intervals at `confidence` (e.g. 0.95) for the difference in each quantile of `qs`; one
/// set of redraws serves every quantile. `None` when either side is empty.
pub fn percentile_diffs(
    base: &Buckets,
    candidate: &Buckets,
    qs: &[f64],
    confidence: f64,
    seed: u64,
) -> Option<Vec<PercentileDiff>> {
    let as_f = |b: &Buckets| -> Vec<(u64, f64)> { b.iter().map(|&(v, c)| (v, c as f64)).collect() };
    let (b, c) = (as_f(base), as_f(candidate));
    let total = |b: &[(u64, f64)]| b.iter().map(|x| x.1).sum::<f64>();
    let (bt, ct) = (total(&b), total(&c));
    if bt == 0.0 || ct == 0.0 {
        return None;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let poissons = |side: &[(u64, f64)]| -> Vec<Option<Poisson<f64>>> {
        side.iter().map(|&(_, n)| Poisson::new(n).ok()).collect()
    };
    let (bp, cp) = (poissons(&b), poissons(&c));
    let redraw = |side: &[(u64, f64)], dists: &[Option<Poisson<f64>>], rng: &mut ChaCha8Rng| {
        side.iter()
            .zip(dists)
            .map(|(&(v, n), d)| (v, d.as_ref().map_or(n, |d| d.sample(rng))))
            .collect::<Vec<(u64, f64)>>()
    };
    let mut diffs: Vec<Vec<f64>> = vec![Vec::with_capacity(ROUNDS); qs.len()];
    for _ in 0..ROUNDS {
        let (rb, rc) = (redraw(&b, &bp, &mut rng), redraw(&c, &cp, &mut rng));
        let (tb, tc) = (total(&rb), total(&rc));
        for (k, &q) in qs.iter().enumerate() {
            let qb = if tb > 0.0 {
                quantile(&rb, tb, q)
            } else {
                quantile(&b, bt, q)
            };
            let qc = if tc > 0.0 {
                quantile(&rc, tc, q)
            } else {
                quantile(&c, ct, q)
            };
            diffs[k].push(qc - qb);
        }
    }
    let tail = (1.0 - confidence) / 2.0;
    Some(
        qs.iter()
            .zip(diffs.iter_mut())
            .map(|(&q, d)| {
                d.sort_by(f64::total_cmp);
                let at = |p: f64| d[((p * (ROUNDS - 1) as f64).round() as usize).min(ROUNDS - 1)];
                PercentileDiff {
                    base_ms: quantile(&b, bt, q) / 1000.0,
                    candidate_ms: quantile(&c, ct, q) / 1000.0,
                    diff_low_ms: at(tail) / 1000.0,
                    diff_high_ms: at(1.0 - tail) / 1000.0,
                }
            })
            .collect(),
    )
}

/// Mann-Whitney U of candidate against base.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RankTest {
    /// Vargha-Delaney A: the chance a candidate call is slower than a base call (ties count half).
    pub a: f64,
    pub p_value: f64,
}

impl RankTest {
    /// Significant and more than negligible.
    pub fn differs(&self, confidence: f64) -> bool {
        self.p_value < 1.0 - confidence && (self.a - 0.5).abs() >= NEGLIGIBLE_A
    }
}

pub fn mann_whitney(base: &Buckets, candidate: &Buckets) -> Option<RankTest> {
    let n1: f64 = candidate.iter().map(|b| b.1 as f64).sum();
    let n2: f64 = base.iter().map(|b| b.1 as f64).sum();
    if n1 == 0.0 || n2 == 0.0 {
        return None;
    }
    // Walk both bucket lists in value order; each value's calls share the average of their ranks.
    let (mut i, mut j) = (0, 0);
    let (mut rank, mut r1, mut ties) = (0.0f64, 0.0f64, 0.0f64);
    while i < candidate.len() || j < base.len() {
        let vc = candidate.get(i).map_or(u64::MAX, |b| b.0);
        let vb = base.get(j).map_or(u64::MAX, |b| b.0);
        let v = vc.min(vb);
        let mut c = 0.0;
        let mut t = 0.0;
        if vc == v {
            c = candidate[i].1 as f64;
            t += c;
            i += 1;
        }
        if vb == v {
            t += base[j].1 as f64;
            j += 1;
        }
        r1 += c * (rank + (t + 1.0) / 2.0);
        ties += t * t * t - t;
        rank += t;
    }
    let u1 = r1 - n1 * (n1 + 1.0) / 2.0;
    let n = n1 + n2;
    let sigma = (n1 * n2 / 12.0 * ((n + 1.0) - ties / (n * (n - 1.0)))).sqrt();
    let p_value = if sigma > 0.0 {
        let z = (u1 - n1 * n2 / 2.0).abs() / sigma;
        erfc(z / std::f64::consts::SQRT_2)
    } else {
        1.0
    };
    Some(RankTest {
        a: u1 / (n1 * n2),
        p_value,
    })
}

/// Welch's t-test on two samples of batch means: the two-sided p-value that they share one mean.
/// Rates from a load test are clustered (one expiry makes a herd of 401s at once), so calls are not
/// independent trials; the means of time batches are close to independent (the method of batch
/// means of simulation output analysis), and they are what this tests.
pub fn welch(a: &[f64], b: &[f64]) -> f64 {
    let stats = |x: &[f64]| {
        let n = x.len() as f64;
        let mean = x.iter().sum::<f64>() / n;
        let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
        (n, mean, var)
    };
    if a.len() < 2 || b.len() < 2 {
        return 1.0;
    }
    let ((na, ma, va), (nb, mb, vb)) = (stats(a), stats(b));
    let (sa, sb) = (va / na, vb / nb);
    let se = (sa + sb).sqrt();
    if se == 0.0 {
        return if ma == mb { 1.0 } else { 0.0 };
    }
    let t = (ma - mb).abs() / se;
    let df = (sa + sb).powi(2) / (sa * sa / (na - 1.0) + sb * sb / (nb - 1.0));
    // Two-sided tail of Student's t: I_{df/(df+t^2)}(df/2, 1/2).
    incomplete_beta(df / 2.0, 0.5, df / (df + t * t))
}

/// Regularized incomplete beta I_x(a, b), by its continued fraction (Numerical Recipes' betai).
fn incomplete_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln();
    if x < (a + 1.0) / (a + b + 2.0) {
        ln_front.exp() * beta_fraction(a, b, x) / a
    } else {
        1.0 - ln_front.exp() * beta_fraction(b, a, 1.0 - x) / b
    }
}

fn beta_fraction(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    d = 1.0 / if d.abs() < TINY { TINY } else { d };
    let mut h = d;
    for m in 1..300 {
        let m = f64::from(m);
        let m2 = 2.0 * m;
        for aa in [
            m * (b - m) * x / ((qam + m2) * (a + m2)),
            -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)),
        ] {
            d = 1.0 + aa * d;
            d = 1.0 / if d.abs() < TINY { TINY } else { d };
            c = 1.0 + aa / c;
            if c.abs() < TINY {
                c = TINY;
            }
            h *= d * c;
        }
        if (d * c - 1.0).abs() < 1e-12 {
            break;
        }
    }
    h
}

/// ln Γ(x) for x > 0 (Lanczos, as in Numerical Recipes' gammln).
fn ln_gamma(x: f64) -> f64 {
    const C: [f64; 6] = [
        76.180_091_729_471_46,
        -86.505_320_329_416_77,
        24.014_098_240_830_91,
        -1.231_739_572_450_155,
        0.001_208_650_973_866_179,
        -0.000_005_395_239_384_953,
    ];
    let tmp = x + 5.5 - (x + 0.5) * (x + 5.5).ln();
    let mut ser = 1.000_000_000_190_015;
    for (k, c) in C.iter().enumerate() {
        ser += c / (x + 1.0 + k as f64);
    }
    -tmp + (2.506_628_274_631_000_5 * ser / x).ln()
}

/// Two-proportion z-test: the two-sided p-value that `x1/n1` and `x2/n2` share one rate.
pub fn proportions(x1: u64, n1: u64, x2: u64, n2: u64) -> f64 {
    if n1 == 0 || n2 == 0 {
        return 1.0;
    }
    let (x1, n1, x2, n2) = (x1 as f64, n1 as f64, x2 as f64, n2 as f64);
    let pooled = (x1 + x2) / (n1 + n2);
    let se = (pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)).sqrt();
    if se == 0.0 {
        return 1.0;
    }
    erfc(((x1 / n1 - x2 / n2).abs() / se) / std::f64::consts::SQRT_2)
}

/// Complementary error function (Numerical Recipes' erfcc, relative error below 1.2e-7).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(values: impl IntoIterator<Item = (u64, u64)>) -> Buckets {
        let mut h = crate::metrics::latency::new_histogram();
        for (v, n) in values {
            h.record_n(v, n).expect("in range");
        }
        buckets(&h)
    }

    #[test]
    fn erfc_matches_known_values() {
        assert!((erfc(0.0) - 1.0).abs() < 1e-6);
        assert!((erfc(1.0) - 0.157_299_2).abs() < 1e-6);
        assert!((erfc(-1.0) - 1.842_700_8).abs() < 1e-6);
    }

    #[test]
    fn identical_distributions_do_not_differ() {
        let a = hist((1..=200).map(|v| (v * 100, 50)));
        let t = mann_whitney(&a, &a).expect("non-empty");
        assert!((t.a - 0.5).abs() < 1e-9 && t.p_value > 0.99, "{t:?}");
        let d = percentile_diffs(&a, &a, &[0.99], 0.95, 1).expect("non-empty")[0];
        assert!(d.diff_low_ms <= 0.0 && d.diff_high_ms >= 0.0, "{d:?}");
    }

    #[test]
    fn a_shift_is_found_with_its_direction() {
        let base = hist((1..=200).map(|v| (v * 100, 50)));
        let slower = hist((1..=200).map(|v| (v * 100 + 5_000, 50)));
        let t = mann_whitney(&base, &slower).expect("non-empty");
        assert!(t.a > 0.6 && t.differs(0.95), "{t:?}");
        let d = percentile_diffs(&base, &slower, &[0.5], 0.95, 1).expect("non-empty")[0];
        assert!(d.diff_low_ms > 4.0 && d.diff_high_ms < 6.5, "{d:?}");
    }

    #[test]
    fn welch_matches_a_t_table() {
        // t = 2.0 with 20 degrees of freedom: two-sided p = 0.0593.
        let a: Vec<f64> = (0..11)
            .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
            .collect();
        let p = welch(&a, &a);
        assert!((p - 1.0).abs() < 1e-9);
        assert!((incomplete_beta(10.0, 0.5, 20.0 / 24.0) - 0.0593).abs() < 1e-3);
        assert!(welch(&[0.1, 0.12, 0.09, 0.11], &[0.0, 0.0, 0.0, 0.0]) < 0.01);
        assert!(welch(&[0.1, 0.0, 0.3, 0.0], &[0.0, 0.2, 0.0, 0.15]) > 0.5);
    }

    #[test]
    fn proportions_tell_a_storm_from_noise() {
        assert!(proportions(237, 60_237, 0, 60_000) < 1e-10);
        assert!(proportions(237, 60_237, 250, 60_250) > 0.4);
        assert_eq!(proportions(0, 100, 0, 100), 1.0);
    }
}
