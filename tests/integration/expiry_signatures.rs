//! The default profile's two client models, shortened: the naive one storms at expiry, the coalesced one does not.

use super::support::{assert_accounted, run_profile, variant};
use tokenstorm::report::model::{ExpiryLens, VariantReport};
use tokenstorm::vocabulary::Outcome;

/// 2 s tokens over 5 s: every org's token expires twice under each variant. `{precision}` is the
/// embedded target's `expiry_precision`.
const PROFILE: &str = r#"
seed = 7
duration = "5s"
[server]
token_ttl = "2s"
expiry_precision = "{precision}"
per_token_rate = "0/s"
# A token endpoint that takes 100 ms lets about 10 calls per org meet an expired token before the first
# refresh returns: the herd.
[server.faults.token]
latency = "100ms"
[load]
orgs = 4
sessions = 200
rate = "400/s"
request_timeout = "5s"
drain = "5s"
[[variant]]
name = "naive"
client = "naive"
[[variant]]
name = "coalesced"
client = { token_scope = "org", trigger = "margin", margin = "500ms", coalesce = "single-flight" }
"#;

fn unauthorized_by_phase(v: &VariantReport, p: &str) -> u64 {
    v.phases
        .get(p)
        .map_or(0, |e| e.outcomes[Outcome::Unauthorized])
}

fn unauthorized_in(lens: &ExpiryLens, bins: std::ops::Range<i64>) -> u64 {
    lens.bins
        .iter()
        .filter(|b| bins.contains(&b.offset_s))
        .map(|b| b.outcomes[Outcome::Unauthorized])
        .sum()
}

/// With nanosecond expiry (`exact`) a token dies exactly `expires_in` after it was issued, which is
/// after the client's own expiry by the token call's latency: the 401s sit at +0 s, in `expired`.
#[test]
fn naive_storms_at_expiry_and_coalesced_refreshes_once_per_generation() {
    let ran = run_profile(&PROFILE.replace("{precision}", "exact"));
    let naive = variant(&ran.report, "naive");
    let coalesced = variant(&ran.report, "coalesced");
    for v in [naive, coalesced] {
        assert_accounted(v);
        assert_eq!(v.requests.scheduled, 2000, "{}: 400/s for 5 s", v.name);
        assert_eq!(v.requests.dropped, 0, "{}", v.name);
    }
    naive_401s_are_recovered_first_calls(naive, coalesced);
    the_phases_say_which_token_was_expired(naive, coalesced);
    naive_401s_sit_at_expiry(naive);
    naive_herds_and_its_users_see_success(naive);
    coalesced_refreshes_once_per_generation(coalesced);

    // The report on disk is the one returned, and it reads back.
    let loaded = tokenstorm::report::load(&ran.report_path).unwrap();
    assert_eq!(loaded.variants.len(), 2);
}

/// Each 401 was a first call that a refresh and one retry then recovered: load and latency, not a
/// failure the user saw.
fn naive_401s_are_recovered_first_calls(naive: &VariantReport, coalesced: &VariantReport) {
    let total_401 = naive.endpoints.contacts.outcomes[Outcome::Unauthorized];
    assert!(total_401 > 0, "naive must hit expired tokens");
    let r = &naive.requests;
    assert_eq!(r.first_attempt[Outcome::Unauthorized], total_401);
    assert_eq!(r.recovered_by_retry, total_401);
    assert!(r.token_time_ms.max > 0.0, "{:?}", r.token_time_ms);
    assert_eq!(coalesced.requests.first_attempt[Outcome::Unauthorized], 0);
}

/// The naive client's 401s are all calls sent with a token its own clock already called expired;
/// the coalesced client never sends one, and its refreshed tokens' first calls pass.
fn the_phases_say_which_token_was_expired(naive: &VariantReport, coalesced: &VariantReport) {
    let total_401 = naive.endpoints.contacts.outcomes[Outcome::Unauthorized];
    let phase = unauthorized_by_phase;
    assert_eq!(
        phase(naive, "expired"),
        total_401,
        "{:?}",
        naive.phases.keys()
    );
    assert_eq!(phase(naive, "fresh"), 0);
    assert!(
        !coalesced.phases.contains_key("expired"),
        "{:?}",
        coalesced.phases.keys()
    );
    let refreshed = &coalesced.phases["first_after_refresh"];
    assert!(refreshed.requests > 0 && refreshed.outcomes[Outcome::Ok] == refreshed.requests);
    let phased: u64 = naive.phases.values().map(|e| e.requests).sum();
    assert_eq!(
        phased, naive.endpoints.contacts.requests,
        "every call has one phase"
    );
}

/// 401s land at and just after expiry, never while the token is still good.
fn naive_401s_sit_at_expiry(naive: &VariantReport) {
    let lens = &naive.expiry_lens;
    let total_401 = naive.endpoints.contacts.outcomes[Outcome::Unauthorized];
    assert!(
        unauthorized_in(lens, 0..1) * 2 > total_401,
        "most 401s sit in bin 0: {lens:?}"
    );
    // A call sent in the last second before expiry can reach the server after it when the machine is
    // starved (CI on 2 cores); nothing earlier can be rejected.
    assert_eq!(
        unauthorized_in(lens, i64::MIN..-1),
        0,
        "no 401 a second before expiry: {lens:?}"
    );
    assert!(
        unauthorized_in(lens, i64::MIN..0) * 5 < total_401,
        "few 401s just before expiry: {lens:?}"
    );
}

fn naive_herds_and_its_users_see_success(naive: &VariantReport) {
    let total_401 = naive.endpoints.contacts.outcomes[Outcome::Unauthorized];
    assert!(
        naive.refresh.per_generation_max > 1,
        "a herd: {:?}",
        naive.refresh
    );
    assert!(
        naive.refresh.max_in_flight_per_org > 1,
        "{:?}",
        naive.refresh
    );
    // Each 401 was retried once with a fresh token, so users saw success.
    assert_eq!(naive.requests.retries, total_401);
    assert_eq!(naive.requests.outcomes[Outcome::Ok], naive.requests.sent);
}

/// One first token per org, refreshed before expiry, exactly once per generation per org, never a 401.
fn coalesced_refreshes_once_per_generation(coalesced: &VariantReport) {
    assert_eq!(coalesced.endpoints.token.requests, 4);
    assert_eq!(
        coalesced.endpoints.contacts.outcomes[Outcome::Unauthorized],
        0
    );
    assert_eq!(
        coalesced.refresh.per_generation_max, 1,
        "{:?}",
        coalesced.refresh
    );
    assert_eq!(
        coalesced.refresh.max_in_flight_per_org, 1,
        "{:?}",
        coalesced.refresh
    );
    assert!(
        coalesced.refresh.generations >= 8,
        "4 orgs, 2 expiries each: {:?}",
        coalesced.refresh
    );
    assert_eq!(coalesced.refresh.attempts, coalesced.refresh.generations);
    let late: u64 = coalesced
        .expiry_lens
        .bins
        .iter()
        .filter(|b| b.offset_s >= 0)
        .map(|b| b.outcomes.total())
        .sum();
    assert_eq!(
        late + coalesced.expiry_lens.after.total(),
        0,
        "nothing sent with an expired token"
    );
}

/// With whole-second `exp` (`second`, the default, as real issuers) a token dies at the whole second
/// before the moment `expires_in` names: a naive client meets its 401s up to a second before its own
/// expiry, and the report files them as `expired_by_claim`, never as `fresh`.
#[test]
fn whole_second_exp_puts_the_401s_before_the_clients_expiry_in_expired_by_claim() {
    let ran = run_profile(&PROFILE.replace("{precision}", "second"));
    let naive = variant(&ran.report, "naive");
    assert_accounted(naive);
    let total_401 = naive.endpoints.contacts.outcomes[Outcome::Unauthorized];
    assert!(total_401 > 0, "naive must hit expired tokens");
    let lens = &naive.expiry_lens;
    let by_claim = unauthorized_by_phase(naive, "expired_by_claim");
    assert!(by_claim > 0, "{:?}", naive.phases.keys());
    assert!(
        unauthorized_in(lens, -1..0) > 0,
        "401s in the last second before the client's expiry: {lens:?}"
    );
    // Nothing dies more than a second early (bin -2 and before), and what the client calls good is
    // not rejected: only a call sent in the last moment before `exp` and reaching the server after it
    // can be, a few on a starved machine.
    assert_eq!(unauthorized_in(lens, -30..-1), 0, "{lens:?}");
    let good = ["fresh", "first_after_refresh", "expiring"]
        .map(|p| unauthorized_by_phase(naive, p))
        .iter()
        .sum::<u64>();
    assert!(good * 20 < total_401, "{good} of {total_401}");
    assert_eq!(
        by_claim + unauthorized_by_phase(naive, "expired") + good,
        total_401
    );
    // On the issuer's clock the same 401s sit at `exp`: bin 0 (bin -1 for a call sent just before it).
    let claim = naive
        .expiry_lens_by_claim
        .as_ref()
        .expect("the embedded target's tokens are JWTs");
    assert_eq!(unauthorized_in(claim, -30..-1), 0, "{claim:?}");
    assert!(unauthorized_in(claim, 0..1) * 2 > total_401, "{claim:?}");
    // The summary says why, instead of leaving "401 on fresh tokens" to be read as a server bug.
    let summary = tokenstorm::report::summary::render(&ran.report);
    // (A call sent just before `exp` that reached the target after it may stand at -1s first.)
    let by_claim_line = summary
        .lines()
        .find(|l| l.starts_with("401s by time to exp claim"))
        .unwrap_or_else(|| panic!("no exp-claim line: {summary}"));
    assert!(by_claim_line.contains(" +0s:"), "{summary}");
    assert!(
        summary.contains("after their token's exp claim") && summary.contains("whole seconds"),
        "{summary}"
    );
}
