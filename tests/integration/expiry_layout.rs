//! Seeded expiry layout: orgs that all start at once refresh together (the herd at the token
//! endpoint); orgs spread over `org_start_spread` refresh apart, the same way for the same seed.

use super::support::{assert_accounted, run_profile};

/// 30 orgs, one coalescing token each, refreshed 0.5 s before their 3 s expiry, over 7 s.
const PROFILE: &str = r#"
seed = 11
duration = "7s"
[server]
token_ttl = "3s"
per_token_rate = "0/s"
[load]
orgs = 30
sessions = 300
rate = "300/s"
SPREAD
[[variant]]
name = "coalesced"
client = { token_scope = "org", trigger = "margin", margin = "500ms", coalesce = "single-flight" }
"#;

/// The most refresh calls in any one second, and how many arrivals were scheduled.
fn peak_and_scheduled(spread: &str) -> (u64, u64) {
    let ran = run_profile(&PROFILE.replace("SPREAD", spread));
    let v = &ran.report.variants[0];
    assert_accounted(v);
    let peak = v
        .timeseries
        .buckets
        .iter()
        .map(|b| b.refresh.total())
        .max()
        .unwrap_or(0);
    (peak, v.requests.scheduled)
}

#[test]
fn spread_orgs_do_not_refresh_together_and_the_layout_repeats() {
    let (herd, all) = peak_and_scheduled("");
    // Every org got its first token in the first tenth of a second, so all 30 refresh together.
    assert!(
        herd >= 25,
        "synchronised orgs refresh together: peak {herd}/s"
    );
    assert_eq!(all, 7 * 300);

    let (spread, scheduled) = peak_and_scheduled("org_start_spread = \"3s\"");
    assert!(
        spread * 3 <= herd * 2,
        "orgs joining over 3 s spread their tokens: peak {spread}/s against {herd}/s"
    );
    // An org's arrivals before it joins do not exist: fewer are scheduled, by the same count each time.
    assert!(scheduled < all, "{scheduled}");
    let (_, again) = peak_and_scheduled("org_start_spread = \"3s\"");
    assert_eq!(again, scheduled, "the seed fixes the layout");
}
