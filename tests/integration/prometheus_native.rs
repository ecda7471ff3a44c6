//! Native histograms by remote write (`TOKENSTORM_PROMETHEUS_RW_NATIVE_HISTOGRAMS`) into a real
//! Prometheus started with `--enable-feature=native-histograms`: each endpoint's native latency
//! histogram counts exactly its report.json calls, its quantiles sit within the native buckets'
//! resolution of the report's, and the classic series are still there beside them.

use super::prometheus_support::{number, prometheus_or_skip, run, runtime, Prometheus, DEADLINE};
use std::time::{Duration, Instant};
use tokenstorm::app::telemetry::TelemetryOptions;
use tokenstorm::report::model::EndpointReport;

/// The instant query's first value, polled until it equals `want` or the deadline passes.
async fn settled(p: &Prometheus, c: &reqwest::Client, q: &str, want: f64) -> f64 {
    let until = Instant::now() + DEADLINE;
    loop {
        let got = p.query(c, q).await;
        let value = got.first().map_or(f64::NAN, |r| number(&r["value"][1]));
        if value == want || Instant::now() >= until {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[test]
fn native_histograms_count_every_call_and_place_the_percentiles() {
    let Some(binary) = prometheus_or_skip() else {
        return;
    };
    runtime().block_on(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let flags = ["--enable-feature=native-histograms"];
        let prometheus = Prometheus::start_with(&binary, dir.path(), None, &flags);
        let client = reqwest::Client::new();
        prometheus.ready(&client).await;
        let telemetry = TelemetryOptions {
            remote_write: Some(format!("{}/api/v1/write", prometheus.url)),
            native_histograms: true,
            ..Default::default()
        };
        let report = run(dir.path(), telemetry).await;
        assert!(
            report
                .notes
                .iter()
                .any(|n| n.starts_with("prometheus remote write: 0 of ")),
            "{:?}",
            report.notes
        );
        let e = &report.variants[0].endpoints;
        for (endpoint, row) in [("token", &e.token), ("contacts", &e.contacts)] {
            endpoint_matches(&prometheus, &client, endpoint, row).await;
        }
    });
}

async fn endpoint_matches(
    p: &Prometheus,
    c: &reqwest::Client,
    endpoint: &str,
    row: &EndpointReport,
) {
    let series = format!("tokenstorm_http_request_duration_seconds{{endpoint=\"{endpoint}\"}}");
    #[allow(clippy::cast_precision_loss)] // counts far below 2^53
    let calls = row.requests as f64;
    let count = settled(p, c, &format!("histogram_count(sum({series}))"), calls).await;
    assert_eq!(count, calls, "{endpoint}: native count against report.json");
    // The classic histogram's count beside it.
    let classic =
        format!("sum(tokenstorm_http_request_duration_seconds_count{{endpoint=\"{endpoint}\"}})");
    assert_eq!(settled(p, c, &classic, calls).await, calls, "{endpoint}");
    // A native bucket spans a factor 2^(1/8) (9 %); Prometheus places a quantile inside the bucket
    // holding its rank, so it is within one bucket of the report's (which reads the full
    // HdrHistogram), and a rank landing on a bucket edge may move it one more: bound 2^(2/8).
    let bound = 2f64.powf(0.25);
    for (q, want_ms) in [(0.5, row.latency_ms.p50), (0.99, row.latency_ms.p99)] {
        let promql = format!("histogram_quantile({q}, sum({series}))");
        let got = p.query(c, &promql).await;
        let got_ms = number(&got[0]["value"][1]) * 1e3;
        assert!(
            got_ms <= want_ms * bound && got_ms >= want_ms / bound,
            "{endpoint} p{q}: {got_ms} ms exported, {want_ms} ms in the report"
        );
    }
}

/// A value of TOKENSTORM_PROMETHEUS_RW_NATIVE_HISTOGRAMS other than true/1/false/0 is a usage
/// error (exit 2) naming the variable, found before any load is sent.
#[test]
fn a_bad_native_histograms_switch_is_a_usage_error() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_tokenstorm"))
        .args(["run", "profiles/default.toml", "--duration", "1s"])
        .env("TOKENSTORM_PROMETHEUS_RW_NATIVE_HISTOGRAMS", "yes please")
        .output()
        .expect("run the binary");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("TOKENSTORM_PROMETHEUS_RW_NATIVE_HISTOGRAMS")
            && stderr.contains("true or false"),
        "{stderr}"
    );
}
