//! OTLP/HTTP export (`--out otlp=URL`) into a small receiver built here on axum, which decodes
//! every request with the `opentelemetry-proto` crate's messages. The Prometheus tests' 5 s profile
//! with its 401 storm at expiry: the last request's totals of every outcome counter equal
//! report.json exactly; a receiver answering 500 or not there costs the run nothing but the
//! batches, which the report counts.

use super::prometheus_support::{free_port, run, runtime};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point, AggregationTemporality};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tokenstorm::app::telemetry::TelemetryOptions;
use tokenstorm::report::model::{Report, VariantReport};
use tokenstorm::vocabulary::{Endpoint, Outcome};

/// What the receiver was sent: each request decoded, with its content type.
type Received = Arc<Mutex<Vec<(String, ExportMetricsServiceRequest)>>>;

/// An OTLP/HTTP receiver on 127.0.0.1 answering `status`; returns its URL and what it decoded.
async fn receiver(status: axum::http::StatusCode) -> (String, Received) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let received: Received = Arc::default();
    let kept = received.clone();
    let app = axum::Router::new().route(
        "/v1/metrics",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let kept = kept.clone();
                async move {
                    let request: ExportMetricsServiceRequest =
                        prost::Message::decode(body).expect("an OTLP metrics request");
                    let kind = headers.get("content-type").and_then(|v| v.to_str().ok());
                    let kind = kind.unwrap_or("").to_owned();
                    kept.lock().unwrap().push((kind, request));
                    status
                }
            },
        ),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/v1/metrics"), received)
}

/// Runs the 5 s profile exporting to `url`; returns the report and its OTLP note's numbers
/// (`lost`, `batches`).
async fn exported_to(url: String) -> (Report, u64, u64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let telemetry = TelemetryOptions {
        otlp: Some(url),
        ..Default::default()
    };
    let report = run(dir.path(), telemetry).await;
    let note = report
        .notes
        .iter()
        .find(|n| n.starts_with("otlp: "))
        .unwrap_or_else(|| panic!("the report says what the export did: {:?}", report.notes))
        .clone();
    let numbers: Vec<u64> = note
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    assert!(numbers.len() >= 2, "{note}");
    (report, numbers[0], numbers[1])
}

fn text(kv: &KeyValue) -> &str {
    match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s,
        _ => "",
    }
}

/// The monotonic cumulative sum `name` of the request's one resource, by its points' attributes.
fn sums(request: &ExportMetricsServiceRequest, name: &str) -> BTreeMap<Vec<String>, u64> {
    assert_eq!(
        request.resource_metrics.len(),
        1,
        "one variant, one resource"
    );
    let metric = request.resource_metrics[0].scope_metrics[0]
        .metrics
        .iter()
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("no {name}"));
    let Some(metric::Data::Sum(sum)) = &metric.data else {
        panic!("{name} is not a sum");
    };
    assert!(sum.is_monotonic, "{name}");
    let cumulative = AggregationTemporality::Cumulative as i32;
    assert_eq!(sum.aggregation_temporality, cumulative, "{name}");
    sum.data_points
        .iter()
        .map(|p| {
            let key = p.attributes.iter().map(|kv| text(kv).to_owned()).collect();
            let Some(number_data_point::Value::AsInt(n)) = p.value else {
                panic!("{name}: an integer point");
            };
            (key, u64::try_from(n).expect("a count"))
        })
        .collect()
}

/// report.json's calls and phases, keyed as the points' attributes are.
fn report_counts(v: &VariantReport) -> (BTreeMap<Vec<String>, u64>, BTreeMap<Vec<String>, u64>) {
    let e = &v.endpoints;
    let mut calls = BTreeMap::new();
    let mut phases = BTreeMap::new();
    for (endpoint, row) in [
        (Endpoint::Token, &e.token),
        (Endpoint::Refresh, &e.refresh),
        (Endpoint::Contacts, &e.contacts),
    ] {
        for o in Outcome::ALL {
            let key = vec![endpoint.name().to_owned(), o.name().to_owned()];
            calls.insert(key, row.outcomes[o]);
        }
    }
    for (phase, row) in &v.phases {
        for o in Outcome::ALL {
            phases.insert(vec![phase.clone(), o.name().to_owned()], row.outcomes[o]);
        }
    }
    (calls, phases)
}

#[test]
fn otlp_totals_equal_the_report() {
    runtime().block_on(async {
        let (url, received) = receiver(axum::http::StatusCode::OK).await;
        let (report, lost, batches) = exported_to(url).await;
        assert_eq!(lost, 0, "{:?}", report.notes);
        let received = received.lock().unwrap();
        // Every batch a reading made reached the receiver, the final reading last.
        assert_eq!(received.len() as u64, batches);
        let (kind, last) = received.last().expect("a request");
        assert_eq!(kind, "application/x-protobuf");
        let resource = last.resource_metrics[0]
            .resource
            .as_ref()
            .expect("resource");
        let attrs: Vec<(&str, &str)> = resource
            .attributes
            .iter()
            .map(|kv| (kv.key.as_str(), text(kv)))
            .collect();
        assert!(attrs.contains(&("service.name", "tokenstorm")), "{attrs:?}");
        assert!(
            attrs.contains(&("tokenstorm.run", "telemetry")),
            "{attrs:?}"
        );
        assert!(attrs.contains(&("variant", "naive")), "{attrs:?}");
        let v = &report.variants[0];
        let (calls, phases) = report_counts(v);
        assert_eq!(sums(last, "tokenstorm_http_requests"), calls);
        let got = sums(last, "tokenstorm_contacts_calls");
        for (key, n) in &phases {
            assert_eq!(got.get(key), Some(n), "phase and outcome {key:?}");
        }
        // The storm happened and was exported: 401s on expired tokens.
        let unauthorized = ["contacts".to_owned(), "unauthorized".to_owned()];
        assert!(calls[&unauthorized.to_vec()] > 0, "{calls:?}");
        let r = &v.requests;
        for (name, n) in [
            ("tokenstorm_requests_scheduled", r.scheduled),
            ("tokenstorm_requests_sent", r.sent),
            ("tokenstorm_requests_dropped", r.dropped),
            ("tokenstorm_request_retries", r.retries),
        ] {
            assert_eq!(sums(last, name).values().sum::<u64>(), n, "{name}");
        }
        latency_histograms_count_every_call(last, &calls);
    });
}

/// Each endpoint's latency histogram counts its calls, in the classic bounds.
fn latency_histograms_count_every_call(
    request: &ExportMetricsServiceRequest,
    calls: &BTreeMap<Vec<String>, u64>,
) {
    let metric = request.resource_metrics[0].scope_metrics[0]
        .metrics
        .iter()
        .find(|m| m.name == "tokenstorm_http_request_duration_seconds")
        .expect("the latency histogram");
    assert_eq!(metric.unit, "s");
    let Some(metric::Data::Histogram(h)) = &metric.data else {
        panic!("a histogram");
    };
    for p in &h.data_points {
        let endpoint = text(&p.attributes[0]).to_owned();
        let want: u64 = calls
            .iter()
            .filter(|(k, _)| k[0] == endpoint)
            .map(|(_, n)| n)
            .sum();
        assert_eq!(p.count, want, "{endpoint}");
        assert_eq!(p.bucket_counts.iter().sum::<u64>(), want, "{endpoint}");
        assert_eq!(p.explicit_bounds.len() + 1, p.bucket_counts.len());
        assert_eq!(p.explicit_bounds[0], 0.001);
    }
}

/// The load went out as planned: the seeded plan's 500 arrivals, all sent, nothing left over.
fn complete(report: &Report) {
    let v = &report.variants[0];
    assert!(!v.stopped_early);
    assert_eq!(v.requests.unfinished, 0);
    assert_eq!(v.requests.dropped, 0);
    assert_eq!(v.requests.scheduled, 500);
    assert_eq!(v.requests.sent, 500);
}

#[test]
fn an_otlp_receiver_answering_500_loses_every_batch_and_not_the_run() {
    runtime().block_on(async {
        let (url, received) = receiver(axum::http::StatusCode::INTERNAL_SERVER_ERROR).await;
        let (report, lost, batches) = exported_to(url).await;
        complete(&report);
        // One reading a second over the 5 s run and its drain, plus the final one.
        assert!(batches >= 5 && lost == batches, "{lost} of {batches}");
        assert_eq!(received.lock().unwrap().len() as u64, batches);
        assert!(
            report.notes.iter().any(|n| n.contains("HTTP 500")),
            "{:?}",
            report.notes
        );
    });
}

#[test]
fn a_missing_otlp_receiver_loses_every_batch_and_not_the_run() {
    runtime().block_on(async {
        let url = format!("http://127.0.0.1:{}/v1/metrics", free_port());
        let (report, lost, batches) = exported_to(url).await;
        complete(&report);
        assert!(batches >= 5 && lost == batches, "{lost} of {batches}");
        assert!(
            report
                .notes
                .iter()
                .any(|n| n.contains("connection refused")),
            "{:?}",
            report.notes
        );
    });
}

const BIN: &str = env!("CARGO_BIN_EXE_tokenstorm");

/// The binary's OTLP headers come from TOKENSTORM_OTLP_HEADERS, reach the receiver on every
/// request, and are never printed or reported; a non-http(s) URL is a usage error (exit 2).
#[test]
fn otlp_headers_come_from_the_environment_and_are_never_shown() {
    let dir = tempfile::tempdir().expect("temp dir");
    let profile = super::support::write_profile(
        dir.path(),
        "duration = \"2s\"\n[load]\norgs = 2\nsessions = 4\nrate = \"20/s\"\ndrain = \"1s\"\n\
         [[variant]]\nname = \"a\"\nclient = \"naive\"\n",
    );
    let runtime = runtime();
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let kept = seen.clone();
    let app = axum::Router::new().route(
        "/v1/metrics",
        axum::routing::post(move |headers: axum::http::HeaderMap| {
            let kept = kept.clone();
            async move {
                let key = headers.get("x-api-key").and_then(|v| v.to_str().ok());
                kept.lock().unwrap().push(key.unwrap_or("").to_owned());
                axum::http::StatusCode::OK
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
        .arg(format!("--out=otlp=http://{addr}/v1/metrics"))
        .env("TOKENSTORM_OTLP_HEADERS", "x-api-key=k3y%3Ds3cr3t")
        .output()
        .expect("run the binary");
    assert!(output.status.success(), "{output:?}");
    let seen = seen.lock().unwrap().clone();
    assert!(
        !seen.is_empty() && seen.iter().all(|k| k == "k3y=s3cr3t"),
        "{seen:?}"
    );
    let report = std::fs::read_to_string(out.join("report.json")).expect("report.json");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(printed.contains("otlp: 0 of "), "{printed}");
    for text in [&printed, &report] {
        assert!(!text.contains("s3cr3t"));
    }
    let bad = std::process::Command::new(BIN)
        .args(["run", "profiles/default.toml", "--out", "otlp=ftp://x"])
        .output()
        .expect("run the binary");
    assert_eq!(bad.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("otlp=http://"), "{stderr}");
}
