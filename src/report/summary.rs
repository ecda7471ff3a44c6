//! The short terminal summary printed after a run: one block per variant, the numbers that matter first.

use super::model::{EndpointReport, Report, VariantReport};
use crate::vocabulary::Outcome;
use std::fmt::Write;

pub fn render(report: &Report) -> String {
    let mut out = String::new();
    if let Some(s) = &report.shard {
        let _ = writeln!(
            out,
            "shard {}/{}: {:.1}% of the arrivals",
            s.index,
            s.count,
            100.0 * s.share
        );
    }
    for note in &report.notes {
        let _ = writeln!(out, "note: {note}");
    }
    for v in &report.variants {
        variant(&mut out, v);
    }
    thresholds(&mut out, report);
    out
}

fn thresholds(out: &mut String, report: &Report) {
    if report.thresholds.is_empty() {
        return;
    }
    let _ = writeln!(out, "\nthresholds");
    for t in &report.thresholds {
        let observed = t.observed.map_or("n/a".to_owned(), |v| format!("{v:.4}"));
        let _ = writeln!(
            out,
            "  {}  {:<12} {:<34} {:<10} observed {observed}",
            if t.passed { "pass" } else { "FAIL" },
            t.variant,
            t.metric,
            t.condition
        );
    }
    if let Some(gate) = &report.aborted_by {
        let _ = writeln!(out, "run aborted early by threshold {gate}");
    }
    let failed = report.thresholds.iter().filter(|t| !t.passed).count();
    let _ = match failed {
        0 => writeln!(
            out,
            "PASS: all {} thresholds passed",
            report.thresholds.len()
        ),
        n => writeln!(
            out,
            "FAIL: {n} of {} thresholds failed",
            report.thresholds.len()
        ),
    };
}

fn ms(v: f64) -> String {
    super::histogram::format_ms(v, "")
}

fn variant(out: &mut String, v: &VariantReport) {
    heading(out, v);
    // Guest messaging widgets make no REST call: a table of zeros would only hide their lines.
    let e = &v.endpoints;
    let rest = v.messaging.is_none()
        || [&e.token, &e.refresh, &e.contacts]
            .iter()
            .any(|e| e.outcomes.total() > 0);
    if rest {
        rest_lines(out, v);
    }
    super::sessions::summary(out, v);
    super::messaging::words::summary(out, v);
    orgs_line(out, v);
    client_line(out, v);
    trust_lines(out, v);
}

/// Requests, endpoints, refreshes, the lens, phases, early 401s and stages.
fn rest_lines(out: &mut String, v: &VariantReport) {
    requests_line(out, v);
    endpoints_table(out, v);
    let f = &v.refresh;
    let _ = writeln!(
        out,
        "refresh   per generation max {} mean {:.2} over {} generations; most in flight for one org {}; waits {} (p99 {})",
        f.per_generation_max,
        f.per_generation_mean,
        f.generations,
        f.max_in_flight_per_org,
        f.waits,
        ms(f.wait_ms.p99)
    );
    lens_line(out, v);
    phases_line(out, v);
    if let Some(early) = super::early::Early401s::of(v) {
        let _ = writeln!(out, "early 401s  {early}");
    }
    stage_lines(out, v);
}

fn heading(out: &mut String, v: &VariantReport) {
    let c = &v.client;
    let margin = c.margin_s.map(|m| format!(" {m}s")).unwrap_or_default();
    let _ = writeln!(
        out,
        "\n== {} ({} tokens, {}{margin}, coalesce {}) {:.1}s at {}{}",
        v.name,
        c.token_scope,
        c.trigger,
        c.coalesce,
        v.elapsed_s,
        match v.sessions {
            Some(_) => format!("{:.2} sessions arriving/s", v.rate_per_s),
            None => format!("{}/s", v.rate_per_s),
        },
        if v.stopped_early {
            ", STOPPED EARLY"
        } else {
            ""
        }
    );
}

fn requests_line(out: &mut String, v: &VariantReport) {
    let r = &v.requests;
    let _ = writeln!(
        out,
        "requests  scheduled {}  sent {}  dropped {}  retried {}  no token {}  unfinished {}  ok {:.2}%  pacer lag p99 {}",
        r.scheduled,
        r.sent,
        r.dropped,
        r.retries,
        r.no_token,
        r.unfinished,
        100.0 * r.outcomes.rate(Outcome::Ok),
        ms(r.pacer_lateness_ms.p99)
    );
}

fn endpoints_table(out: &mut String, v: &VariantReport) {
    let _ = writeln!(
        out,
        "{:<9} {:>8} {:>8} {:>6} {:>6} {:>6} {:>6} {:>7} {:>8} {:>8} {:>8} {:>8}",
        "endpoint",
        "calls",
        "ok",
        "401",
        "429",
        "inv_gr",
        "other",
        "p50",
        "p90",
        "p99",
        "p99.9",
        "max"
    );
    endpoint_row(out, "contacts", &v.endpoints.contacts);
    // The journey's steps split the contacts row: indented beneath it, in the profile's order.
    for step in &v.steps {
        endpoint_row(out, &format!(" {}", step.name), &step.calls);
    }
    endpoint_row(out, "token", &v.endpoints.token);
    endpoint_row(out, "refresh", &v.endpoints.refresh);
    stale_line(out, v);
}

fn stale_line(out: &mut String, v: &VariantReport) {
    if let Some(resends) = super::resends::StaleResends::of(v) {
        let _ = writeln!(out, "resent    {resends}");
    }
}

/// Whether the counts can be trusted: the server's own counts, and conservation of requests.
fn trust_lines(out: &mut String, v: &VariantReport) {
    if let Some(t) = &v.truth {
        for check in t.checks.iter().filter(|c| !c.equal) {
            let _ = writeln!(
                out,
                "!! MEASUREMENT MISMATCH: {}: client counted {}, server sent {}",
                check.what, check.client, check.server
            );
        }
        if t.ok {
            let _ = writeln!(
                out,
                "truth     client counts match the server's ({} checks)",
                t.checks.len()
            );
        }
    }
    if !v.conservation.ok {
        let _ = writeln!(out, "!! CONSERVATION BROKEN: {:?}", v.conservation);
    }
}

/// The worst orgs by 401 rate, and the slowest of the busiest orgs, when there is anything to say.
fn orgs_line(out: &mut String, v: &VariantReport) {
    let t = &v.tenants;
    let mut parts = Vec::new();
    let worst: Vec<String> = t
        .worst_unauthorized
        .iter()
        .take(3)
        .filter_map(|w| {
            Some(format!(
                "org {} {:.2}% ({}/{})",
                w.org?,
                100.0 * w.unauthorized_rate,
                w.unauthorized,
                w.calls
            ))
        })
        .collect();
    if !worst.is_empty() {
        parts.push(format!("401 rate worst: {}", worst.join(", ")));
    }
    let slowest = t
        .top
        .iter()
        .filter(|o| o.calls > 0)
        .max_by(|a, b| a.latency_ms.p99.total_cmp(&b.latency_ms.p99));
    if let Some(o) = slowest.filter(|_| t.top.len() > 1) {
        parts.push(format!(
            "slowest of the {} busiest: org {} p99 {}",
            t.top.len(),
            o.org.unwrap_or_default(),
            ms(o.latency_ms.p99)
        ));
    }
    if !parts.is_empty() {
        let _ = writeln!(out, "orgs      {}", parts.join("; "));
    }
}

/// Contacts calls by token phase, in the order a token lives through them.
fn phases_line(out: &mut String, v: &VariantReport) {
    let parts: Vec<String> = crate::vocabulary::Phase::ALL
        .iter()
        .filter_map(|p| Some((p.name(), v.phases.get(p.name())?)))
        .map(|(name, e)| {
            format!(
                "{name} {} (401 {}, p99 {})",
                e.requests,
                e.outcomes[Outcome::Unauthorized],
                ms(e.latency_ms.p99)
            )
        })
        .collect();
    if !parts.is_empty() {
        let _ = writeln!(out, "phases    {}", parts.join("  "));
    }
}

/// Each stage's contacts and token calls, by when they were sent.
fn stage_lines(out: &mut String, v: &VariantReport) {
    for s in &v.stages {
        let c = &s.endpoints.contacts;
        let tokens = s.endpoints.token.requests + s.endpoints.refresh.requests;
        let _ = writeln!(
            out,
            "stage     {} [{:.0}-{:.0}s, {:.0}->{:.0}/s]: contacts {} (ok {:.2}%, 401 {}, p99 {}), token calls {}",
            s.name,
            s.start_s,
            s.end_s,
            s.from_per_s,
            s.to_per_s,
            c.requests,
            100.0 * c.outcomes.rate(Outcome::Ok),
            c.outcomes[Outcome::Unauthorized],
            ms(c.latency_ms.p99),
            tokens
        );
    }
}

/// The client-model counters that are only worth a line when something happened.
fn client_line(out: &mut String, v: &VariantReport) {
    let r = &v.requests;
    let f = &v.refresh;
    let mut parts: Vec<String> = [
        (
            "first calls rejected 401",
            r.first_attempt[Outcome::Unauthorized],
        ),
        (
            "first calls rejected 429",
            r.first_attempt[Outcome::RateLimited],
        ),
        ("recovered by retry", r.recovered_by_retry),
        ("sent inside refresh window", r.inside_refresh_window),
        ("background refreshes", f.background),
        ("waiter timeouts", f.waiter_timeouts),
        ("Retry-After respected", r.retry_after_respected),
        ("Retry-After ignored", r.retry_after_violated),
    ]
    .iter()
    .filter(|(_, n)| *n > 0)
    .map(|(what, n)| format!("{what} {n}"))
    .collect();
    if r.token_time_ms.p99 >= 1.0 {
        parts.push(format!("token time p99 {}", ms(r.token_time_ms.p99)));
    }
    if !parts.is_empty() {
        let _ = writeln!(out, "client    {}", parts.join(", "));
    }
}

fn endpoint_row(out: &mut String, name: &str, e: &EndpointReport) {
    let o = &e.outcomes;
    let l = &e.latency_ms;
    let _ = writeln!(
        out,
        "{:<9} {:>8} {:>8} {:>6} {:>6} {:>6} {:>6} {:>7} {:>8} {:>8} {:>8} {:>8}",
        name,
        e.requests,
        o[Outcome::Ok],
        o[Outcome::Unauthorized],
        o[Outcome::RateLimited],
        o[Outcome::InvalidGrant],
        o.other(),
        ms(l.p50),
        ms(l.p90),
        ms(l.p99),
        ms(l.p999),
        ms(l.max)
    );
}

/// Where the 401s sat relative to expiry: the bins that hold any, as `offset:count`; then the same
/// on the issuer's clock (by the tokens' `exp` claim), when tokens carried one.
fn lens_line(out: &mut String, v: &VariantReport) {
    let _ = writeln!(
        out,
        "401s by time to expiry  {}",
        spots(&v.expiry_lens, Outcome::Unauthorized)
    );
    if let Some(by_claim) = &v.expiry_lens_by_claim {
        let _ = writeln!(
            out,
            "401s by time to exp claim  {}",
            spots(by_claim, Outcome::Unauthorized)
        );
    }
}

/// The bins of `lens` that hold any `outcome`, as `offset:count`.
pub(super) fn spots(lens: &super::model::ExpiryLens, outcome: Outcome) -> String {
    let spots: Vec<String> = lens
        .bins
        .iter()
        .filter(|b| b.outcomes[outcome] > 0)
        .map(|b| format!("{:+}s:{}", b.offset_s, b.outcomes[outcome]))
        .collect();
    let outside = lens.before[outcome] + lens.after[outcome];
    if spots.is_empty() && outside == 0 {
        "none".to_owned()
    } else {
        let mut s = spots.join(" ");
        if outside > 0 {
            let _ = write!(s, " (outside -30s..+10s: {outside})");
        }
        s
    }
}

/// The machine-readable summary (`run --json`): the key numbers per variant and every threshold.
pub fn machine(report: &Report, report_path: &std::path::Path) -> serde_json::Value {
    let variants: Vec<serde_json::Value> = report
        .variants
        .iter()
        .map(|v| {
            let c = &v.endpoints.contacts;
            serde_json::json!({
                "name": v.name,
                "stopped_early": v.stopped_early,
                "requests": {
                    "scheduled": v.requests.scheduled,
                    "sent": v.requests.sent,
                    "dropped": v.requests.dropped,
                    "retries": v.requests.retries,
                    "ok_rate": v.requests.outcomes.rate(Outcome::Ok),
                },
                "contacts": {
                    "calls": c.requests,
                    "outcomes": c.outcomes,
                    "latency_ms": c.latency_ms,
                },
                "refresh": {
                    "attempts": v.refresh.attempts,
                    "per_generation_max": v.refresh.per_generation_max,
                    "max_in_flight_per_org": v.refresh.max_in_flight_per_org,
                },
                "sessions": v.sessions.as_ref().map(|s| serde_json::json!({
                    "arrived": s.arrived,
                    "departed": s.departed,
                    "peak_concurrent": s.peak_concurrent,
                    "mean_concurrent": s.mean_concurrent,
                    "little_holds": s.little.as_ref().map(|l| l.holds),
                })),
                "conservation_ok": v.conservation.ok,
                "truth_ok": v.truth.as_ref().map(|t| t.ok),
            })
        })
        .collect();
    serde_json::json!({
        "report": report_path.display().to_string(),
        "profile": report.profile.name,
        "interrupted": report.interrupted,
        "passed": report.passed,
        "aborted_by": report.aborted_by,
        "thresholds": report.thresholds,
        "variants": variants,
    })
}
