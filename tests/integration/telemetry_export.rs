//! Export failures never stop or slow a run: remote write to a receiver that is not there, that
//! answers 500, or that never answers. The run sends its load on time, finishes with a complete
//! report, and its notes count the lost batches.

use super::prometheus_support::{free_port, run, runtime};
use std::time::{Duration, Instant};
use tokenstorm::app::telemetry::TelemetryOptions;
use tokenstorm::report::model::Report;

/// Runs the Prometheus tests' 5 s profile (2 s drain) pushing to `url`; returns the report and
/// the numbers of its remote-write note (`lost`, `batches`).
async fn pushed_to(url: String) -> (Report, u64, u64, Duration) {
    let dir = tempfile::tempdir().expect("temp dir");
    let telemetry = TelemetryOptions {
        remote_write: Some(url),
        ..Default::default()
    };
    let started = Instant::now();
    let report = run(dir.path(), telemetry).await;
    let took = started.elapsed();
    let note = report
        .notes
        .iter()
        .find(|n| n.starts_with("prometheus remote write"))
        .expect("the report says what the export did")
        .clone();
    let numbers: Vec<u64> = note
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    assert!(numbers.len() >= 2, "{note}");
    (report, numbers[0], numbers[1], took)
}

/// The load went out as planned: every scheduled request sent on time, nothing left over.
fn complete(report: &Report) {
    let v = &report.variants[0];
    assert!(!v.stopped_early);
    assert_eq!(v.requests.unfinished, 0);
    assert_eq!(v.requests.dropped, 0);
    // 100/s for 5 s: the schedule's 500 arrivals all released (an exact count of the seeded plan).
    assert_eq!(v.requests.scheduled, 500);
    assert_eq!(v.requests.sent, 500);
}

#[test]
fn a_missing_receiver_loses_every_batch_and_not_the_run() {
    runtime().block_on(async {
        let url = format!("http://127.0.0.1:{}/api/v1/write", free_port());
        let (report, lost, batches, took) = pushed_to(url).await;
        complete(&report);
        // One reading a second over the 5 s run and its drain, plus the final one: all refused.
        assert!(batches >= 5 && lost == batches, "{lost} of {batches}");
        // Refused connections fail at once: the end waited on nothing.
        assert!(took < Duration::from_secs(20), "{took:?}");
    });
}

#[test]
fn a_receiver_answering_500_loses_every_batch_and_not_the_run() {
    runtime().block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let app = axum::Router::new().route(
            "/api/v1/write",
            axum::routing::post(|| async { axum::http::StatusCode::INTERNAL_SERVER_ERROR }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        let (report, lost, batches, _) = pushed_to(format!("http://{addr}/api/v1/write")).await;
        complete(&report);
        assert!(batches >= 5 && lost == batches, "{lost} of {batches}");
        assert!(
            report.notes.iter().any(|n| n.contains("HTTP 500")),
            "{:?}",
            report.notes
        );
    });
}

/// A receiver that accepts connections and never answers: each push times out (5 s), the queue
/// fills, and the end of the run waits no more than the flush bound (10 s) for it.
#[test]
fn a_receiver_that_never_answers_costs_at_most_the_flush_bound() {
    runtime().block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let (report, lost, batches, took) = pushed_to(format!("http://{addr}/api/v1/write")).await;
        complete(&report);
        assert!(batches >= 5 && lost == batches, "{lost} of {batches}");
        // 5 s of load, its drain (up to 2 s), the flush bound (10 s), and slack for a busy machine.
        assert!(took < Duration::from_secs(25), "{took:?}");
    });
}

const BIN: &str = env!("CARGO_BIN_EXE_tokenstorm");

/// A 2 s run of the binary pushing to a receiver that keeps each request's Authorization header.
fn pushed_by_the_binary(envs: &[(&str, &str)]) -> (Vec<String>, String, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let profile = super::support::write_profile(
        dir.path(),
        "duration = \"2s\"\n[load]\norgs = 2\nsessions = 4\nrate = \"20/s\"\ndrain = \"1s\"\n\
         [[variant]]\nname = \"a\"\nclient = \"naive\"\n",
    );
    let runtime = runtime();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let kept = seen.clone();
    let app = axum::Router::new().route(
        "/w",
        axum::routing::post(move |headers: axum::http::HeaderMap| {
            let kept = kept.clone();
            async move {
                let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
                kept.lock().unwrap().push(auth.unwrap_or("").to_owned());
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    runtime.spawn(async move { axum::serve(listener, app).await });
    let out = dir.path().join("out");
    let output = std::process::Command::new(BIN)
        .args(["run", "-q"])
        .arg(&profile)
        .arg("--out")
        .arg(&out)
        .arg(format!("--out=prometheus-rw=http://{addr}/w"))
        .env_remove("TOKENSTORM_PROMETHEUS_RW_BEARER_TOKEN")
        .env_remove("TOKENSTORM_PROMETHEUS_RW_USERNAME")
        .envs(envs.iter().copied())
        .output()
        .expect("run the binary");
    assert!(output.status.success(), "{output:?}");
    let report = std::fs::read_to_string(out.join("report.json")).expect("report.json");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let seen = seen.lock().unwrap().clone();
    (seen, printed, report)
}

/// Credentials come from the environment, reach the receiver, and are never printed or reported.
#[test]
fn remote_write_credentials_come_from_the_environment_and_are_never_shown() {
    let (seen, printed, report) =
        pushed_by_the_binary(&[("TOKENSTORM_PROMETHEUS_RW_BEARER_TOKEN", "tok-s3cr3t")]);
    assert!(
        !seen.is_empty() && seen.iter().all(|a| a == "Bearer tok-s3cr3t"),
        "{seen:?}"
    );
    assert!(
        printed.contains("prometheus remote write: 0 of "),
        "{printed}"
    );
    for text in [&printed, &report] {
        assert!(!text.contains("tok-s3cr3t"));
    }
    let (seen, printed, report) = pushed_by_the_binary(&[
        ("TOKENSTORM_PROMETHEUS_RW_USERNAME", "loadgen"),
        ("TOKENSTORM_PROMETHEUS_RW_PASSWORD", "pw-s3cr3t"),
    ]);
    // base64("loadgen:pw-s3cr3t")
    let basic = "Basic bG9hZGdlbjpwdy1zM2NyM3Q=";
    assert!(
        !seen.is_empty() && seen.iter().all(|a| a == basic),
        "{seen:?}"
    );
    for text in [&printed, &report] {
        assert!(!text.contains("pw-s3cr3t"));
    }
}

/// A `prometheus-rw=` that is not an http(s) URL is a usage error (exit 2) naming the syntax.
#[test]
fn a_bad_remote_write_url_is_a_usage_error() {
    let output = std::process::Command::new(BIN)
        .args([
            "run",
            "profiles/default.toml",
            "--out",
            "prometheus-rw=ftp://x",
        ])
        .output()
        .expect("run the binary");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("prometheus-rw=http://"), "{stderr}");
}
