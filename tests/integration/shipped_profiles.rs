//! The profiles shipped for the target's failure modes, shortened: each shows its effect, and the
//! client's counts equal the server's.

use super::support::{assert_accounted, run_shipped, variant};
use std::time::Duration;
use tokenstorm::vocabulary::Outcome;

fn server(v: &tokenstorm::report::model::VariantReport, key: &str) -> u64 {
    v.truth
        .as_ref()
        .and_then(|t| t.server.get(key).copied())
        .unwrap_or(0)
}

#[test]
fn rotation_race_trips_reuse_detection_only_without_coalescing() {
    let ran = run_shipped("profiles/rotation-race.toml", Duration::from_secs(7));
    let racy = variant(&ran.report, "uncoalesced");
    let coalesced = variant(&ran.report, "coalesced");
    assert_accounted(racy);
    assert_accounted(coalesced);

    let lost = racy.endpoints.refresh.outcomes[Outcome::InvalidGrant];
    assert!(
        lost > 0,
        "parallel refreshes with one refresh token: {:?}",
        racy.endpoints.refresh
    );
    assert!(server(racy, "reuse_detected") > 0);
    assert!(server(racy, "families_revoked") > 0);
    // The family's revocation kills the winner's fresh token too: 401s long before its expiry.
    let early: u64 = racy
        .expiry_lens
        .bins
        .iter()
        .filter(|b| b.offset_s < -1)
        .map(|b| b.outcomes[Outcome::Unauthorized])
        .sum();
    assert!(early > 0, "{:?}", racy.expiry_lens);

    assert_eq!(
        coalesced.endpoints.refresh.outcomes[Outcome::InvalidGrant],
        0
    );
    assert_eq!(server(coalesced, "reuse_detected"), 0);
    assert_eq!(server(coalesced, "families_revoked"), 0);
    assert_eq!(coalesced.refresh.per_generation_max, 1);
    assert_eq!(
        coalesced.requests.outcomes[Outcome::Ok],
        coalesced.requests.sent
    );
}

#[test]
fn partner_bug_gets_invalid_grant_on_partner_orgs_only() {
    let ran = run_shipped("profiles/partner-org.toml", Duration::from_secs(7));
    let bug = variant(&ran.report, "partner-bug");
    let own = variant(&ran.report, "own-credentials");
    assert_accounted(bug);
    assert_accounted(own);

    let by_org = &bug.refresh.invalid_grant_by_org;
    assert!(!by_org.is_empty(), "{:?}", bug.refresh);
    assert!(
        !by_org.contains_key("0"),
        "the primary org refreshes with its own credentials: {by_org:?}"
    );
    for partner in ["1", "2", "3"] {
        assert!(
            by_org.get(partner).is_some_and(|n| *n > 0),
            "partner org {partner} at its expiry: {by_org:?}"
        );
    }
    assert_eq!(own.endpoints.refresh.outcomes[Outcome::InvalidGrant], 0);
    assert!(own.refresh.invalid_grant_by_org.is_empty());
}

#[test]
fn one_shared_token_hits_the_per_token_limit_and_per_session_tokens_do_not() {
    let ran = run_shipped("profiles/rate-limited.toml", Duration::from_secs(8));
    let shared = variant(&ran.report, "shared-org-token");
    let spread = variant(&ran.report, "per-session-tokens");
    assert_accounted(shared);
    assert_accounted(spread);
    assert!(
        shared.endpoints.contacts.outcomes[Outcome::RateLimited] > 0,
        "{:?}",
        shared.endpoints.contacts
    );
    assert_eq!(
        shared.requests.retry_after_violated, 0,
        "the client honours Retry-After"
    );
    assert!(shared.requests.retry_after_respected > 0);
    assert_eq!(spread.endpoints.contacts.outcomes[Outcome::RateLimited], 0);
    assert_eq!(
        spread.endpoints.token.requests, 100,
        "one token per session"
    );
}

#[test]
fn the_sessions_profile_admits_the_same_sessions_for_both_models_and_revokes_on_leaving() {
    let ran = run_shipped("profiles/sessions.toml", Duration::from_secs(12));
    let [messenger, candidate] = ["messenger", "candidate"].map(|n| variant(&ran.report, n));
    for v in [messenger, candidate] {
        assert_accounted(v);
        let s = v.sessions.as_ref().expect("a sessions block");
        // Poisson(240) arrivals in 12 s at 20/s: within 4 sd (62).
        assert!((s.arrived as f64 - 240.0).abs() <= 62.0, "{}", s.arrived);
        assert_eq!(s.arrived, s.departed + s.alive_at_end);
        assert_eq!((s.revoked, s.revoke_failed), (s.departed, 0));
        assert!(v.truth.as_ref().unwrap().ok, "{:?}", v.truth);
        assert_eq!(v.endpoints.token.requests, s.arrived, "a token per session");
        assert!(s.little.is_none(), "12 s is shorter than the p99 length");
    }
    let (m, c) = (messenger.sessions.as_ref(), candidate.sessions.as_ref());
    let key = |s: Option<&tokenstorm::report::model::SessionsReport>| {
        s.map(|s| (s.arrived, s.departed, s.totals.drawn_us))
    };
    assert_eq!(
        key(m),
        key(c),
        "the seed gives both models the same sessions"
    );
}

#[test]
fn the_morning_surge_saturates_the_token_service_and_only_the_model_that_waits_survives() {
    // Full length: the surge, the peak and the settling after it are the point.
    let ran = run_shipped("profiles/morning-surge.toml", Duration::from_secs(40));
    let [waits, gives_up] = ["waits-out-429", "gives-up"].map(|n| variant(&ran.report, n));
    for v in [waits, gives_up] {
        assert!(v.truth.as_ref().unwrap().ok, "{:?}", v.truth);
        // The token service is what saturates: its 429s, while the API answers everything.
        assert!(
            v.endpoints.token.outcomes[Outcome::RateLimited] > 500,
            "{}",
            v.name
        );
        let contacts = &v.endpoints.contacts;
        assert_eq!(
            contacts.outcomes[Outcome::Ok],
            contacts.requests,
            "{}",
            v.name
        );
    }
    let failed = |v: &tokenstorm::report::model::VariantReport| {
        v.requests.no_token as f64 / v.requests.sent as f64
    };
    assert!(failed(waits) < 0.01, "waits it out: {}", failed(waits));
    assert!(failed(gives_up) > 0.05, "gives up: {}", failed(gives_up));
    let gate = |name: &str| {
        ran.report
            .thresholds
            .iter()
            .find(|t| t.variant == name)
            .map(|t| t.passed)
    };
    assert_eq!(
        (gate("waits-out-429"), gate("gives-up")),
        (Some(true), Some(false))
    );
}

#[test]
fn a_reconnect_storm_comes_back_in_lockstep_waves_with_a_fixed_delay_and_spread_with_jitter() {
    // Full length: the arrivals, the drop at 20.5 s, the 8 s refusal and the climb back.
    let ran = run_shipped("profiles/reconnect-storm.toml", Duration::from_secs(45));
    let [fixed, jitter] = ["android-fixed-5s", "full-jitter"].map(|n| variant(&ran.report, n));
    for v in [fixed, jitter] {
        assert!(v.truth.as_ref().unwrap().ok, "{:?}", v.truth);
        let c = &v.messaging.as_ref().unwrap().counts;
        assert!(c.lost > 1_000, "{}: {c:?}", v.name);
        assert_eq!(
            c.lost + c.lost_configuring,
            server(v, "messaging.sockets_dropped"),
            "{}",
            v.name
        );
        // Every widget is back in its own session (one dropped mid-configure, only if the
        // target had made the session before the drop).
        assert!(
            c.configured_resumed >= c.lost && c.configured_resumed <= c.lost + c.lost_configuring,
            "{}: {c:?}",
            v.name
        );
        assert_eq!(c.gave_up, 0);
    }
    let (f, j) = (
        fixed.messaging.as_ref().unwrap(),
        jitter.messaging.as_ref().unwrap(),
    );
    let (fs, js) = (f.storm.unwrap(), j.storm.unwrap());
    // Fixed 5 s: the attempt at +5 s meets the 8 s refusal, the one at +10 s gets in, so nobody is
    // back sooner than 10 s; and between the drop and the first wave nobody even tries (a widget
    // notices its loss within a second or two, and then waits 5 s).
    assert!(f.reconnect_ms.ms.p50 >= 10_000.0, "{:?}", f.reconnect_ms.ms);
    let drop = fs.drop_at_s as usize;
    let attempts = |m: &tokenstorm::report::messaging::MessagingReport, at: usize| {
        m.series.get(at).map_or(0, |r| r.connect_attempts)
    };
    assert_eq!(
        attempts(f, drop + 2) + attempts(f, drop + 3),
        0,
        "{:?}",
        f.series
    );
    assert!(fs.peak_at_s >= fs.drop_at_s + 5.0, "{fs:?}");
    // Jitter: retries go out in every second after the drop, never all in one.
    assert!(
        (drop + 1..drop + 5).all(|at| attempts(j, at) > 0),
        "{:?}",
        j.series
    );
    assert!(
        js.peak_connect_attempts_per_s < j.counts.lost as f64,
        "{js:?}"
    );
    let compared =
        tokenstorm::report::compare::compare(fixed, jitter, "fixed", "jitter", &[], 0.95);
    let spread = compared
        .significance
        .iter()
        .find(|t| t.metric == "messaging.reconnect.p99_ms")
        .expect("a test of the time away");
    // The jittered widgets' slowest come back after the fixed ones' second wave: significant.
    assert_eq!(
        spread.verdict,
        tokenstorm::report::significance::Verdict::Regressed,
        "{spread:?}"
    );
}

#[test]
fn returning_visitors_meet_401s_on_load_only_with_the_widget_that_does_not_check() {
    // 40 s: saved tokens grow older than their 30 s lifetime only after half a minute.
    let ran = run_shipped("profiles/returning-visitors.toml", Duration::from_secs(40));
    let [checks, unchecked] = ["checks", "unchecked"].map(|n| variant(&ran.report, n));
    let on_load = |v: &tokenstorm::report::model::VariantReport| {
        let s = v.sessions.as_ref().expect("a sessions block");
        let r = s.returning.as_ref().expect("a returning block");
        assert!(
            r.restored.count > 0 && r.arrived < s.arrived,
            "{}: {r:?}",
            v.name
        );
        r.unauthorized_on_load.count
    };
    for v in [checks, unchecked] {
        assert_accounted(v);
    }
    assert_eq!(on_load(checks), 0);
    assert_eq!(server(checks, "contacts.unauthorized_expired"), 0);
    assert!(on_load(unchecked) > 0);
    assert_eq!(
        on_load(unchecked),
        server(unchecked, "contacts.unauthorized_expired"),
        "every 401 for an expired token came on page load"
    );
    let failed: Vec<&str> = ran
        .report
        .thresholds
        .iter()
        .filter(|t| !t.passed)
        .map(|t| t.variant.as_str())
        .collect();
    assert_eq!(
        failed,
        ["unchecked"],
        "the migration gate fails the unchecked widget only"
    );
}
