//! The HTML page of a run or a comparison: one template (html/page.html), self-contained (inline CSS
//! and SVG, no script, no font or file fetched), filled with numbers formatted here.

use super::model::{EndpointReport, Report, VariantReport};
use super::plots::Rendered;
use crate::vocabulary::Outcome;
use minijinja::value::Serde;
use minijinja::{context, Environment, Value};
use serde::Serialize;

mod compare;
mod search;
pub use compare::compare_page;

const TEMPLATE: &str = include_str!("html/page.html");

#[derive(Serialize)]
struct Summary {
    label: String,
    client: String,
    requests: Vec<(&'static str, String)>,
    endpoints: Vec<Vec<String>>,
    /// Worst orgs by 401 rate, then the busiest orgs with their latency.
    orgs: Vec<Vec<String>>,
    notes: Vec<String>,
}

#[derive(Serialize)]
struct Chart<'a> {
    file: &'a str,
    title: &'a str,
    caption: &'a str,
    svg: &'a str,
}

fn charts(rendered: &[Rendered]) -> Vec<Chart<'_>> {
    rendered
        .iter()
        .map(|r| Chart {
            file: &r.file,
            title: &r.title,
            caption: &r.caption,
            svg: &r.svg,
        })
        .collect()
}

fn render(ctx: minijinja::Value) -> Result<String, minijinja::Error> {
    let mut env = Environment::new();
    env.add_template("page.html", TEMPLATE)?;
    env.get_template("page.html")?.render(ctx)
}

fn ms(v: f64) -> String {
    super::histogram::format_ms(v, " ")
}

fn endpoint_row(name: &str, e: &EndpointReport) -> Vec<String> {
    let o = &e.outcomes;
    let l = &e.latency_ms;
    vec![
        name.to_owned(),
        e.requests.to_string(),
        o[Outcome::Ok].to_string(),
        o[Outcome::Unauthorized].to_string(),
        o[Outcome::RateLimited].to_string(),
        o[Outcome::InvalidGrant].to_string(),
        o.other().to_string(),
        ms(l.p50),
        ms(l.p90),
        ms(l.p99),
        ms(l.p999),
        ms(l.max),
    ]
}

fn org_rows(v: &VariantReport) -> Vec<Vec<String>> {
    let row = |kind: &str, t: &super::model::TenantView, latency: bool| {
        let org = t
            .org
            .map_or("all others".to_owned(), |o| format!("org {o}"));
        let lat = |x: f64| if latency { ms(x) } else { String::new() };
        vec![
            kind.to_owned(),
            org,
            t.calls.to_string(),
            t.unauthorized.to_string(),
            format!("{:.2} %", 100.0 * t.unauthorized_rate),
            lat(t.latency_ms.p50),
            lat(t.latency_ms.p99),
        ]
    };
    let t = &v.tenants;
    let worst = t
        .worst_unauthorized
        .iter()
        .map(|w| row("worst 401 rate", w, false));
    let busiest = t.top.iter().take(10).map(|b| row("busiest", b, true));
    let other = (t.other.calls > 0).then(|| row("busiest", &t.other, true));
    worst.chain(busiest).chain(other).collect()
}

fn summary(label: &str, v: &VariantReport) -> Summary {
    Summary {
        label: label.to_owned(),
        client: client_line(v),
        requests: request_rows(v),
        endpoints: endpoint_rows(v),
        orgs: org_rows(v),
        notes: notes(v),
    }
}

/// The client model and the run's length and rate in one sentence.
fn client_line(v: &VariantReport) -> String {
    let c = &v.client;
    let margin = c.margin_s.map(|m| format!(" {m} s")).unwrap_or_default();
    format!(
        "{} tokens, {}{margin}, coalesce {}; {:.1} s at {}{}{}",
        c.token_scope,
        c.trigger,
        c.coalesce,
        v.elapsed_s,
        match v.sessions {
            Some(_) => format!("{:.2} sessions arriving/s", v.rate_per_s),
            None => format!("{}/s", v.rate_per_s),
        },
        c.description
            .as_ref()
            .map(|d| format!(". {d}"))
            .unwrap_or_default(),
        if v.stopped_early {
            ". Stopped early."
        } else {
            ""
        }
    )
}

fn request_rows(v: &VariantReport) -> Vec<(&'static str, String)> {
    let r = &v.requests;
    vec![
        ("scheduled", r.scheduled.to_string()),
        ("sent", r.sent.to_string()),
        ("dropped", r.dropped.to_string()),
        ("retried", r.retries.to_string()),
        ("no token", r.no_token.to_string()),
        ("unfinished", r.unfinished.to_string()),
        (
            "ok",
            format!("{:.2} %", 100.0 * r.outcomes.rate(Outcome::Ok)),
        ),
        ("p50", ms(r.latency_ms.p50)),
        ("p99", ms(r.latency_ms.p99)),
        ("pacer lag p99", ms(r.pacer_lateness_ms.p99)),
    ]
}

fn endpoint_rows(v: &VariantReport) -> Vec<Vec<String>> {
    let e = &v.endpoints;
    let mut endpoints = vec![endpoint_row("contacts", &e.contacts)];
    // The journey's steps split the contacts row, in the profile's order.
    for step in &v.steps {
        let label = format!(
            "contacts [step={}: {} {}]",
            step.name, step.method, step.path
        );
        endpoints.push(endpoint_row(&label, &step.calls));
    }
    endpoints.push(endpoint_row("token", &e.token));
    endpoints.push(endpoint_row("refresh", &e.refresh));
    // Contacts calls by their token's phase, in the order a token lives through them.
    for phase in crate::vocabulary::Phase::ALL {
        if let Some(calls) = v.phases.get(phase.name()) {
            endpoints.push(endpoint_row(&format!("contacts [{}]", phase.name()), calls));
        }
    }
    // Then by the stage they were sent in, in the profile's order.
    for stage in &v.stages {
        let label = format!("contacts [stage={}]", stage.name);
        endpoints.push(endpoint_row(&label, &stage.endpoints.contacts));
    }
    endpoints
}

/// What the tables do not say: refresh contention, and whether the counts can be trusted.
fn notes(v: &VariantReport) -> Vec<String> {
    let f = &v.refresh;
    let mut notes = vec![format!(
        "Refreshes per token generation: max {}, mean {:.2} over {} generations; most in flight \
         for one org {}; callers that waited on a refresh {} (p99 {}).",
        f.per_generation_max,
        f.per_generation_mean,
        f.generations,
        f.max_in_flight_per_org,
        f.waits,
        ms(f.wait_ms.p99)
    )];
    if let Some(early) = super::early::Early401s::of(v) {
        notes.push(early.to_string());
    }
    if let Some(resends) = super::resends::StaleResends::of(v) {
        notes.push(resends.to_string());
    }
    for (label, line) in super::messaging::words::lines(v) {
        notes.push(format!("Messaging {label}: {line}."));
    }
    if let Some((sessions, little)) = super::sessions::lines(v) {
        notes.push(format!("Sessions: {sessions}."));
        notes.push(format!("Little's law: {little}."));
    }
    if let Some(r) = v.sessions.as_ref().and_then(|s| s.returning.as_ref()) {
        notes.push(format!("Returning visitors: {}.", r.line()));
    }
    if !v.conservation.ok {
        notes.push(
            "MEASUREMENT BUG: the request counts do not add up (see conservation in report.json)."
                .into(),
        );
    }
    match &v.truth {
        Some(t) if t.ok => notes.push(format!(
            "The client's counts match the embedded target's ({} checks).",
            t.checks.len()
        )),
        Some(t) => notes.push(format!(
            "MEASUREMENT MISMATCH: {} of {} counts differ from the target's.",
            t.checks.iter().filter(|c| !c.equal).count(),
            t.checks.len()
        )),
        None => {}
    }
    notes
}

/// `index.html` of a run.
pub fn run_page(report: &Report, rendered: &[Rendered]) -> Result<String, minijinja::Error> {
    let (verdict, class) = match (&report.search, report.passed) {
        (Some(found), _) => search::badge(found),
        (None, Some(true)) => ("PASS", "pass"),
        (None, Some(false)) => ("FAIL", "fail"),
        (None, None) => ("no thresholds", "none"),
    };
    let variants: Vec<String> = report.variants.iter().map(|v| v.name.clone()).collect();
    let duration = report
        .variants
        .first()
        .map(|v| {
            format!(
                "{} s per variant at {}/s",
                v.planned_duration_s, v.rate_per_s
            )
        })
        .unwrap_or_else(|| "no variant ran".into());
    let meta = vec![
        (
            "profile",
            format!("{} ({})", report.profile.name, report.profile.path),
        ),
        ("variants", variants.join(", ")),
        ("target", report.target.clone()),
        ("duration", duration),
        ("seed", report.profile.seed.to_string()),
        ("started", report.started_at.clone()),
        ("tool", format!("{} {}", report.tool, report.tool_version)),
        ("profile hash", report.profile.hash.clone()),
    ];
    let mut warnings = Vec::new();
    if report.interrupted {
        warnings.push("Interrupted: the run was cut short (Ctrl-C or SIGTERM).".to_owned());
    }
    if let Some(gate) = &report.aborted_by {
        warnings.push(format!("Aborted early by threshold {gate}."));
    }
    let thresholds: Vec<_> = report
        .thresholds
        .iter()
        .map(|t| {
            context! {
                result => if t.passed { "pass" } else { "FAIL" },
                class => if t.passed { "better" } else { "worse" },
                variant => t.variant.clone(),
                metric => t.metric.clone(),
                condition => t.condition.clone(),
                observed => t.observed.map_or("n/a".to_owned(), |v| format!("{v:.4}")),
            }
        })
        .collect();
    render(context! {
        title => format!("tokenstorm: {}", report.profile.name),
        heading => format!("tokenstorm report: {}", report.profile.name),
        tool_version => report.tool_version.clone(),
        verdict => verdict,
        verdict_class => class,
        meta => Value::from(Serde(meta)),
        warnings => warnings,
        variants => Value::from(Serde(report.variants.iter().map(|v| summary(&v.name, v)).collect::<Vec<_>>())),
        thresholds => thresholds,
        search => Value::from(Serde(report.search.as_ref().map(search::section))),
        charts => Value::from(Serde(charts(rendered))),
    })
}
