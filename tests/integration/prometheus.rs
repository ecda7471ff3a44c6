//! Live telemetry against a real Prometheus (Debian's `prometheus` package): a short run with a 401
//! storm at token expiry, exported by scrape (`--metrics-addr`) and by remote write, then read back
//! through Prometheus' HTTP API. Every outcome counter's total must equal report.json's exactly, and
//! the 401s must rise in the seconds of the expiry.
//!
//! Without /usr/bin/prometheus (or TOKENSTORM_PROMETHEUS) the tests skip with a message, unless
//! TOKENSTORM_REQUIRE_PROMETHEUS is set (CI sets it): then they fail.

use super::prometheus_support::{
    free_port, number, prometheus_or_skip, run, run_profile, runtime, Prometheus, DEADLINE,
};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};
use tokenstorm::app::telemetry::TelemetryOptions;
use tokenstorm::report::model::{Report, VariantReport};
use tokenstorm::vocabulary::{Endpoint, Outcome};

/// 4 org tokens of a naive (reactive) client, 3 s to live, over a 5 s run: every org's token dies
/// once inside the run, and its calls meet 401s for the ~300 ms its refresh takes (about 30 calls
/// at 100/s); the refreshed tokens would die at ~6.3 s, after the last call is sent.
pub(super) const PROFILE: &str = r#"
name = "telemetry"
seed = 7
duration = "5s"
[server]
token_ttl = "3s"
leeway = "0s"
per_token_rate = "0/s"
[server.faults.token]
latency_p50 = "300ms"
latency_p99 = "400ms"
[load]
orgs = 4
sessions = 40
rate = "100/s"
drain = "2s"
[[variant]]
name = "naive"
client = "naive"
"#;
const TTL_S: f64 = 3.0;

/// `(endpoint, outcome) -> count` from report.json, every pair.
fn report_calls(v: &VariantReport) -> Vec<(String, String, u64)> {
    let e = &v.endpoints;
    let mut out = Vec::new();
    for (endpoint, row) in [
        (Endpoint::Token, &e.token),
        (Endpoint::Refresh, &e.refresh),
        (Endpoint::Contacts, &e.contacts),
    ] {
        for o in Outcome::ALL {
            out.push((endpoint.name().into(), o.name().into(), row.outcomes[o]));
        }
    }
    out
}

/// What Prometheus holds as the latest `tokenstorm_http_requests_total`, by endpoint and outcome.
async fn exported_calls(p: &Prometheus, c: &reqwest::Client) -> Vec<(String, String, u64)> {
    let result = p
        .query(
            c,
            "sum by (endpoint, outcome) (tokenstorm_http_requests_total)",
        )
        .await;
    let mut out: Vec<(String, String, u64)> = result
        .iter()
        .map(|r| {
            let m = &r["metric"];
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let n = number(&r["value"][1]) as u64;
            (
                m["endpoint"].as_str().unwrap_or("").into(),
                m["outcome"].as_str().unwrap_or("").into(),
                n,
            )
        })
        .collect();
    out.sort();
    out
}

/// Polls until Prometheus' totals equal the report's, then checks the other counters too.
async fn totals_match(p: &Prometheus, c: &reqwest::Client, report: &Report) {
    let v = &report.variants[0];
    let mut want = report_calls(v);
    want.sort();
    let until = Instant::now() + DEADLINE;
    let mut got = exported_calls(p, c).await;
    while got != want && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(250)).await;
        got = exported_calls(p, c).await;
    }
    assert_eq!(
        got, want,
        "exported calls by endpoint and outcome against report.json"
    );
    let r = &v.requests;
    for (metric, n) in [
        ("tokenstorm_requests_scheduled_total", r.scheduled),
        ("tokenstorm_requests_sent_total", r.sent),
        ("tokenstorm_requests_dropped_total", r.dropped),
        ("tokenstorm_request_retries_total", r.retries),
    ] {
        let got = p.query(c, &format!("sum({metric})")).await;
        assert_eq!(number(&got[0]["value"][1]), n as f64, "{metric}");
    }
    for (phase, row) in &v.phases {
        for o in Outcome::ALL {
            let q = format!(
                "sum(tokenstorm_contacts_calls_total{{phase=\"{phase}\",outcome=\"{}\"}})",
                o.name()
            );
            let got = p.query(c, &q).await;
            assert_eq!(number(&got[0]["value"][1]), row.outcomes[o] as f64, "{q}");
        }
    }
}

/// The raw samples of the contacts 401 counter: zero until a second before the tokens' expiry, at
/// its final total from two seconds after it (the refreshes land within that; the refreshed tokens
/// outlive the run), so the whole increase sits in the seconds around the expiry.
async fn storm_at_expiry(p: &Prometheus, c: &reqwest::Client, report: &Report) {
    let v = &report.variants[0];
    let total = v.endpoints.contacts.outcomes[Outcome::Unauthorized];
    // Calls sent while the ~300 ms refreshes are under way: about 30 at 100/s, 10 is far below.
    assert!(total >= 10, "a 401 storm at expiry: {total} 401s");
    let start = time::OffsetDateTime::parse(
        &v.started_at,
        &time::format_description::well_known::Rfc3339,
    )
    .expect("started_at is RFC 3339");
    #[allow(clippy::cast_precision_loss)]
    let expiry = start.unix_timestamp_nanos() as f64 / 1e9 + TTL_S;
    let q = "tokenstorm_http_requests_total{endpoint=\"contacts\",outcome=\"unauthorized\"}[15m]";
    let result = p.query(c, q).await;
    let samples: Vec<(f64, f64)> = result[0]["values"]
        .as_array()
        .expect("a range vector")
        .iter()
        .map(|s| (s[0].as_f64().unwrap_or(f64::NAN), number(&s[1])))
        .collect();
    let before: Vec<_> = samples.iter().filter(|(t, _)| *t < expiry - 1.0).collect();
    let after: Vec<_> = samples.iter().filter(|(t, _)| *t >= expiry + 2.0).collect();
    assert!(
        !before.is_empty() && !after.is_empty(),
        "samples on both sides of the expiry: {samples:?}"
    );
    assert!(
        before.iter().all(|(_, n)| *n == 0.0),
        "no 401 before the expiry (at {expiry}): {samples:?}"
    );
    #[allow(clippy::cast_precision_loss)]
    let all = total as f64;
    assert!(
        after.iter().all(|(_, n)| *n == all),
        "all {total} 401s by 2 s after the expiry (at {expiry}): {samples:?}"
    );
}

/// Which run a dashboard expression needs: the sessions panel's a run with `[sessions]`, the
/// sockets panels' one with `[messaging]`, the others the 401 storm's run. Between the tests,
/// every expression is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Panels {
    Storm,
    Sessions,
    Messaging,
}

impl Panels {
    fn of(expr: &str) -> Panels {
        if expr.contains("tokenstorm_messaging_") {
            Panels::Messaging
        } else if expr.contains("tokenstorm_sessions_") {
            Panels::Sessions
        } else {
            Panels::Storm
        }
    }
}

/// Every PromQL expression of the shipped Grafana dashboard that `run` covers, run at the end of
/// the run's load (all variants, a 10 s rate window), returns data; and the dashboard asks for its
/// data source.
async fn dashboard_queries_return_data(
    p: &Prometheus,
    c: &reqwest::Client,
    report: &Report,
    run: Panels,
) {
    let text = std::fs::read_to_string("deploy/grafana/tokenstorm.json")
        .expect("the dashboard is shipped");
    let dashboard: Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let variables = dashboard["templating"]["list"]
        .as_array()
        .expect("variables");
    assert!(variables
        .iter()
        .any(|v| v["type"] == "datasource" && v["name"] == "datasource"));
    let at = started(report) + 5.0;
    let mut asked = 0;
    for panel in dashboard["panels"].as_array().expect("panels") {
        assert_eq!(
            panel["datasource"]["uid"], "${datasource}",
            "{}",
            panel["title"]
        );
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("a PromQL expression");
            if Panels::of(expr) != run {
                continue;
            }
            let promql = expr
                .replace("$variant", ".*")
                .replace("$__rate_interval", "10s");
            let result = p.query_at(c, &promql, Some(at)).await;
            assert!(
                !result.is_empty(),
                "{}: `{promql}` returned no data",
                panel["title"]
            );
            asked += 1;
        }
    }
    let least = match run {
        Panels::Storm => 10,
        Panels::Sessions => 4,
        Panels::Messaging => 10,
    };
    assert!(asked >= least, "only {asked} expressions");
}

/// When the variant's pacing started, in Unix seconds.
fn started(report: &Report) -> f64 {
    let v = &report.variants[0];
    let start = time::OffsetDateTime::parse(
        &v.started_at,
        &time::format_description::well_known::Rfc3339,
    )
    .expect("started_at is RFC 3339");
    #[allow(clippy::cast_precision_loss)]
    let s = start.unix_timestamp_nanos() as f64 / 1e9;
    s
}

#[test]
fn scraped_totals_equal_the_report_and_the_401s_rise_at_expiry() {
    let Some(binary) = prometheus_or_skip() else {
        return;
    };
    runtime().block_on(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let metrics = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let prometheus = Prometheus::start(&binary, dir.path(), Some(metrics));
        let client = reqwest::Client::new();
        prometheus.ready(&client).await;
        prometheus.scraping(&client).await;
        let telemetry = TelemetryOptions {
            metrics_addr: Some(metrics),
            linger: Duration::from_secs(30),
            ..Default::default()
        };
        let report = run(dir.path(), telemetry).await;
        assert!(
            report
                .notes
                .iter()
                .all(|n| !n.starts_with("metrics endpoint")),
            "a scrape read the final numbers: {:?}",
            report.notes
        );
        totals_match(&prometheus, &client, &report).await;
        storm_at_expiry(&prometheus, &client, &report).await;
        dashboard_queries_return_data(&prometheus, &client, &report, Panels::Storm).await;
    });
}

#[test]
fn remote_written_totals_equal_the_report_and_the_401s_rise_at_expiry() {
    let Some(binary) = prometheus_or_skip() else {
        return;
    };
    runtime().block_on(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let (prometheus, client, report) = remote_written(&binary, dir.path(), PROFILE).await;
        let note = report
            .notes
            .iter()
            .find(|n| n.starts_with("prometheus remote write"));
        assert!(
            note.is_some_and(|n| n.starts_with("prometheus remote write: 0 of ")),
            "no batch lost: {:?}",
            report.notes
        );
        totals_match(&prometheus, &client, &report).await;
        storm_at_expiry(&prometheus, &client, &report).await;
        dashboard_queries_return_data(&prometheus, &client, &report, Panels::Storm).await;
    });
}

/// Sessions with a life for 5 s: 20 arrivals a second, each alive 1 to 2 s, so about 20 to 40 are
/// alive once the first have begun to leave, and those alive at the end are cut.
const SESSIONS: &str = r#"
name = "sessions-telemetry"
seed = 11
duration = "5s"
[server]
token_ttl = "3600s"
per_token_rate = "0/s"
[load]
orgs = 4
sessions = 200
drain = "1s"
[sessions]
arrival = "uniform"
arrival_rate = "20/s"
length = { dist = "uniform", min = "1s", max = "2s" }
think = { dist = "uniform", min = "0.1s", max = "0.3s" }
[[variant]]
name = "widget"
client = "naive"
"#;

/// Remote write of a `[sessions]` run: arrivals, departures and refusals equal the report's
/// sessions block, the sessions-alive gauge rose and ends at zero, and the dashboard's sessions
/// panel returns data.
#[test]
fn sessions_alive_arriving_and_leaving_equal_the_report() {
    let Some(binary) = prometheus_or_skip() else {
        return;
    };
    runtime().block_on(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let (prometheus, client, report) = remote_written(&binary, dir.path(), SESSIONS).await;
        let s = report.variants[0]
            .sessions
            .as_ref()
            .expect("a sessions block");
        assert!(s.arrived >= 90 && s.departed > 0, "{s:?}");
        let totals = [
            ("tokenstorm_sessions_arrived_total", s.arrived),
            ("tokenstorm_sessions_departed_total", s.departed),
            ("tokenstorm_sessions_refused_total", s.refused),
            ("tokenstorm_sessions_active", 0),
        ];
        sums_equal(&prometheus, &client, &totals).await;
        let peak = prometheus
            .query(
                &client,
                "max_over_time(sum(tokenstorm_sessions_active)[5m:1s])",
            )
            .await;
        assert!(number(&peak[0]["value"][1]) >= 10.0, "{peak:?}");
        dashboard_queries_return_data(&prometheus, &client, &report, Panels::Sessions).await;
    });
}

/// Authenticated messaging widgets for 6 s: their JWTs live 2 s (socket 401s), each deployment
/// takes 15 messages a second (4029s), and every socket is dropped at 3 s (a reconnect wave).
const MESSAGING: &str = r#"
name = "messaging-telemetry"
seed = 12
duration = "6s"
[server]
token_ttl = "2s"
[server.messaging]
messages_per_second = 15
[server.messaging.faults]
drop_all_at = ["3s"]
[load]
orgs = 2
sessions = 200
drain = "1s"
[sessions]
arrival = "uniform"
arrival_rate = "15/s"
length = { dist = "fixed", value = "4s" }
think = { dist = "uniform", min = "200ms", max = "400ms" }
[messaging]
auth = "authenticated"
echo_interval = "0s"
[[variant]]
name = "widget"
client = { token_scope = "session", trigger = "reactive", reconnect = { policy = "fixed", delay = "500ms", attempts = 5 } }
"#;

/// Remote write of a `[messaging]` run: every socket counter's total equals report.json's
/// messaging counts, the sockets-open gauge ends at zero, and the dashboard's sockets panels
/// return data.
#[test]
fn socket_counters_equal_the_reports_messaging_counts() {
    let Some(binary) = prometheus_or_skip() else {
        return;
    };
    runtime().block_on(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let (prometheus, client, report) = remote_written(&binary, dir.path(), MESSAGING).await;
        let m = report.variants[0]
            .messaging
            .as_ref()
            .expect("a messaging block");
        let c = &m.counts;
        assert!(
            c.lost > 0 && c.reconnects > 0 && c.rate_limited > 0 && c.unauthorized > 0,
            "{c:?}"
        );
        let totals = [
            (
                "tokenstorm_messaging_connect_attempts_total",
                c.connect_attempts,
            ),
            ("tokenstorm_messaging_reconnects_total", c.reconnects),
            ("tokenstorm_messaging_sockets_lost_total", c.lost),
            (
                "tokenstorm_messaging_configured_resumed_total",
                c.configured_resumed,
            ),
            ("tokenstorm_messaging_messages_sent_total", c.messages_sent),
            (
                "tokenstorm_messaging_messages_answered_total",
                c.messages_answered,
            ),
            ("tokenstorm_messaging_rate_limited_total", c.rate_limited),
            ("tokenstorm_messaging_unauthorized_total", c.unauthorized),
            ("tokenstorm_messaging_sockets_open", 0),
        ];
        sums_equal(&prometheus, &client, &totals).await;
        dashboard_queries_return_data(&prometheus, &client, &report, Panels::Messaging).await;
    });
}

/// A Prometheus on `dir`, ready, and `profile` run with remote write into it.
async fn remote_written(
    binary: &Path,
    dir: &Path,
    profile: &str,
) -> (Prometheus, reqwest::Client, Report) {
    let prometheus = Prometheus::start(binary, dir, None);
    let client = reqwest::Client::new();
    prometheus.ready(&client).await;
    let telemetry = TelemetryOptions {
        remote_write: Some(format!("{}/api/v1/write", prometheus.url)),
        ..Default::default()
    };
    let report = run_profile(dir, profile, telemetry).await;
    (prometheus, client, report)
}

/// Each metric's `sum()` across series reads its report.json count (within the wait's deadline).
async fn sums_equal(p: &Prometheus, c: &reqwest::Client, totals: &[(&str, u64)]) {
    for (metric, n) in totals {
        let want = format!("{n}");
        let got = eventually(p, c, &format!("sum({metric})"), &want).await;
        assert_eq!(got, want, "{metric} against report.json");
    }
}

/// The instant query's single value once it reads `want`, or the last one read by the deadline.
async fn eventually(p: &Prometheus, c: &reqwest::Client, q: &str, want: &str) -> String {
    let until = Instant::now() + DEADLINE;
    loop {
        let got = p.query(c, q).await;
        let value = got
            .first()
            .map(|r| r["value"][1].as_str().unwrap_or("").to_owned());
        let value = value.unwrap_or_default();
        if value == want || Instant::now() >= until {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
