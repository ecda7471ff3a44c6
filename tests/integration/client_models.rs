//! Each refresh trigger and coalescing mode leaves its own signature in the report, against the
//! embedded target: where the 401s and the refreshes sit relative to expiry, and how many refreshes
//! each token draws.

use super::support::{assert_accounted, run_profile, variant};
use tokenstorm::report::model::VariantReport;
use tokenstorm::vocabulary::Outcome;

/// 2 s tokens from a token endpoint that takes `token_latency`; 100 calls/s per org for 5 s, so each
/// org's token expires twice.
fn profile(token_latency: &str, variants: &[(&str, &str)]) -> String {
    let mut text = format!(
        r#"seed = 3
duration = "5s"
[server]
token_ttl = "2s"
# Each model's edge is placed to the millisecond against an expiry exactly `expires_in` after issue;
# the whole-second `exp` of real issuers would move it by up to a second (expiry_signatures.rs).
expiry_precision = "exact"
per_token_rate = "0/s"
[server.faults.token]
latency = "{token_latency}"
[load]
orgs = 2
sessions = 40
rate = "200/s"
"#
    );
    for (name, client) in variants {
        text.push_str(&format!(
            "[[variant]]\nname = \"{name}\"\nclient = {client}\n"
        ));
    }
    text
}

fn unauthorized_in(v: &VariantReport, bins: std::ops::RangeInclusive<i64>) -> u64 {
    v.expiry_lens
        .bins
        .iter()
        .filter(|b| bins.contains(&b.offset_s))
        .map(|b| b.outcomes[Outcome::Unauthorized])
        .sum()
}

fn refreshes_in(v: &VariantReport, bins: std::ops::RangeInclusive<i64>) -> u64 {
    v.expiry_lens
        .bins
        .iter()
        .filter(|b| bins.contains(&b.offset_s))
        .map(|b| b.refreshes)
        .sum()
}

fn unauthorized(v: &VariantReport) -> u64 {
    v.endpoints.contacts.outcomes[Outcome::Unauthorized]
}

#[test]
fn reactive_meets_401s_at_expiry_and_margin_refreshes_before_it() {
    let ran = run_profile(&profile(
        "100ms",
        &[
            (
                "reactive",
                r#"{ token_scope = "org", trigger = "reactive", coalesce = "single-flight" }"#,
            ),
            (
                "margin",
                r#"{ token_scope = "org", trigger = "margin", margin = "1s", coalesce = "single-flight" }"#,
            ),
        ],
    ));
    let reactive = variant(&ran.report, "reactive");
    let margin = variant(&ran.report, "margin");
    assert_accounted(reactive);
    assert_accounted(margin);

    assert!(unauthorized(reactive) > 0);
    assert_eq!(
        unauthorized_in(reactive, -1..=0),
        unauthorized(reactive),
        "{:?}",
        reactive.expiry_lens
    );
    assert_eq!(
        refreshes_in(reactive, 0..=0),
        reactive.refresh.attempts,
        "refreshes right after expiry"
    );

    assert_eq!(unauthorized(margin), 0);
    assert!(
        margin.refresh.attempts >= 4,
        "2 orgs, 2 expiries: {:?}",
        margin.refresh
    );
    assert_eq!(
        refreshes_in(margin, -1..=-1),
        margin.refresh.attempts,
        "refreshes 1 s before expiry"
    );
    // Single-flight: exactly one refresh per org per expiry, whatever the number of callers.
    assert_eq!(margin.refresh.per_generation_max, 1);
    assert_eq!(reactive.refresh.per_generation_max, 1);
    assert!(
        margin.refresh.waits > 0,
        "callers waited for the one refresh"
    );
}

#[test]
fn no_coalescing_sends_a_herd_per_expiry() {
    let ran = run_profile(&profile(
        "100ms",
        &[(
            "herd",
            r#"{ token_scope = "org", trigger = "reactive", coalesce = "none" }"#,
        )],
    ));
    let herd = variant(&ran.report, "herd");
    assert_accounted(herd);
    // About 100 ms of calls at 100 calls/s per org meet the expired token before the first refresh returns.
    assert!(herd.refresh.per_generation_max >= 4, "{:?}", herd.refresh);
    assert!(
        herd.refresh.max_in_flight_per_org >= 4,
        "{:?}",
        herd.refresh
    );
    assert_eq!(
        herd.refresh.attempts,
        unauthorized(herd),
        "every 401 refreshes on its own"
    );
}

#[test]
fn a_lock_that_expires_mid_refresh_lets_a_second_refresh_through() {
    let ran = run_profile(&profile(
        "400ms",
        &[
            (
                "short-lock",
                r#"{ token_scope = "org", trigger = "margin", margin = "1s", coalesce = "lock", lock_ttl = "100ms" }"#,
            ),
            (
                "long-lock",
                r#"{ token_scope = "org", trigger = "margin", margin = "1s", coalesce = "lock", lock_ttl = "5s" }"#,
            ),
        ],
    ));
    let short = variant(&ran.report, "short-lock");
    let long = variant(&ran.report, "long-lock");
    assert_accounted(short);
    assert_accounted(long);
    assert!(
        short.refresh.per_generation_max >= 2,
        "the oauth2-proxy duplicate: {:?}",
        short.refresh
    );
    assert_eq!(long.refresh.per_generation_max, 1, "{:?}", long.refresh);
}

#[test]
fn client_clock_skew_moves_the_401_edge_by_the_skew() {
    let ran = run_profile(&profile(
        "50ms",
        &[
            (
                "true-clock",
                r#"{ token_scope = "org", trigger = "margin", margin = "500ms", coalesce = "single-flight" }"#,
            ),
            (
                "behind-3s",
                r#"{ token_scope = "org", trigger = "margin", margin = "500ms", coalesce = "single-flight", clock_skew = "-3s" }"#,
            ),
        ],
    ));
    let right = variant(&ran.report, "true-clock");
    let behind = variant(&ran.report, "behind-3s");
    assert_accounted(right);
    assert_accounted(behind);
    assert_eq!(unauthorized(right), 0);
    // The client thinks its token has 3 s left when the server expires it: 401s at offset -3 s.
    assert!(unauthorized(behind) > 0);
    assert_eq!(
        unauthorized_in(behind, -4..=-3),
        unauthorized(behind),
        "{:?}",
        behind.expiry_lens
    );
}

#[test]
fn two_windows_refresh_in_the_background_and_fraction_at_its_share() {
    let ran = run_profile(&profile(
        "100ms",
        &[
            (
                "two-window",
                r#"{ token_scope = "org", trigger = "two-window", advisory = "1s", margin = "200ms", coalesce = "single-flight" }"#,
            ),
            (
                "fraction",
                r#"{ token_scope = "org", trigger = "fraction", fraction = 0.25, coalesce = "single-flight" }"#,
            ),
            (
                "messenger-like",
                r#"{ token_scope = "org", trigger = "reactive", early_expiry = "1s", coalesce = "single-flight" }"#,
            ),
        ],
    ));
    let two = variant(&ran.report, "two-window");
    let fraction = variant(&ran.report, "fraction");
    let early = variant(&ran.report, "messenger-like");
    for v in [two, fraction, early] {
        assert_accounted(v);
        assert_eq!(unauthorized(v), 0, "{}", v.name);
    }
    assert!(two.refresh.background > 0, "{:?}", two.refresh);
    assert!(
        two.requests.inside_refresh_window > 0,
        "others kept the token while one refreshed"
    );
    assert_eq!(
        refreshes_in(two, -1..=-1),
        two.refresh.attempts,
        "{:?}",
        two.expiry_lens
    );
    // A quarter of 2 s: refreshes 1.5 s before expiry.
    assert_eq!(
        refreshes_in(fraction, -2..=-2),
        fraction.refresh.attempts,
        "{:?}",
        fraction.expiry_lens
    );
    assert_eq!(
        refreshes_in(early, -1..=-1),
        early.refresh.attempts,
        "{:?}",
        early.expiry_lens
    );
}
