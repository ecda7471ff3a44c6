//! `tokenstorm search` exports live like a run: each step's recorder is served on `--metrics-addr`
//! with a `search_step` label (1, 2, ... in the order the steps ran) besides the step's stage
//! labels, and at the end the step the report shows has exported exactly its report.json totals.

use super::prometheus_support::{free_port, runtime};
use super::search::profile_text;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;
use tokenstorm::app::telemetry::TelemetryOptions;
use tokenstorm::app::{self, RunOptions, Signals};
use tokenstorm::vocabulary::{Endpoint, Outcome, StepKind};

/// `name{labels} value` lines of an OpenMetrics text, as (name, labels, value).
fn samples(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (name, labels) = series.split_once('{').unwrap_or((series, "}"));
            let labels = labels
                .trim_end_matches('}')
                .split(',')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.trim_matches('"').to_owned()))
                .collect();
            Some((name.to_owned(), labels, value.parse().ok()?))
        })
        .collect()
}

/// Scrapes `addr` every 200 ms until `done`; returns the last answer (taken after the search
/// ended: the export waits for one such scrape before it stops serving).
async fn scrape_until(addr: SocketAddr, done: tokio::sync::oneshot::Receiver<()>) -> String {
    let client = reqwest::Client::new();
    let mut last = String::new();
    tokio::pin!(done);
    loop {
        if let Ok(r) = client.get(format!("http://{addr}/metrics")).send().await {
            if let Ok(text) = r.text().await {
                last = text;
            }
        }
        tokio::select! {
            _ = &mut done => return last,
            () = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
    }
}

#[test]
fn a_search_exports_each_step_with_its_search_step_label() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().expect("temp dir");
        // 100/s then 200/s, the ceiling, against a target that carries 400/s: two steps, both hold.
        let path = dir.path().join("search.toml");
        let text = profile_text("start = \"100/s\"\nceiling = \"200/s\"\nfactor = 2.0");
        std::fs::write(&path, text).expect("write profile");
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
        let options = RunOptions {
            profile: path,
            out: Some(dir.path().join("out")),
            overrides: Default::default(),
            progress: false,
            announce: false,
            telemetry: TelemetryOptions {
                metrics_addr: Some(addr),
                linger: Duration::from_secs(10),
                ..Default::default()
            },
        };
        let (done, ended) = tokio::sync::oneshot::channel();
        let scraper = tokio::spawn(scrape_until(addr, ended));
        let result = app::search::search(options, Signals::none()).await;
        let _ = done.send(());
        let text = scraper.await.expect("scraper");
        let report = result
            .unwrap_or_else(|e| panic!("search failed: {e}"))
            .report;
        let s = report.search.as_ref().expect("a search block");
        assert_eq!(s.steps.len(), 2, "{:?}", s.steps);
        assert!(
            report.notes.iter().all(|n| !n.contains("no scrape")),
            "{:?}",
            report.notes
        );
        let calls: Vec<_> = samples(&text)
            .into_iter()
            .filter(|(name, _, _)| name == "tokenstorm_http_requests_total")
            .collect();
        let steps: BTreeSet<&str> = calls
            .iter()
            .map(|(_, l, _)| l["search_step"].as_str())
            .collect();
        assert_eq!(steps, BTreeSet::from(["1", "2"]), "{text}");
        // A step's start, settling and judged windows are its stages, then its drain.
        let stages: BTreeSet<&str> = calls.iter().map(|(_, l, _)| l["stage"].as_str()).collect();
        assert_eq!(stages, BTreeSet::from(["1", "2", "3", "drain"]), "{text}");
        // The series count docs/telemetry.md states for a step.
        let step_one = samples(&text)
            .iter()
            .filter(|(_, l, _)| l.get("search_step").is_some_and(|s| s == "1"))
            .count();
        assert_eq!(step_one, 283);
        shown_step_exported_its_report(&calls, &report);
    });
}

type Sample = (String, BTreeMap<String, String>, f64);

/// The step the report shows (the last non-repeat run at the answer) exported exactly its calls.
fn shown_step_exported_its_report(calls: &[Sample], report: &tokenstorm::report::model::Report) {
    let s = report.search.as_ref().expect("a search block");
    // The report shows the step at the answer (the last non-repeat run at that load).
    let shown = s
        .steps
        .iter()
        .rposition(|st| Some(st.load) == s.holds && st.kind != StepKind::Repeat)
        .expect("the answer's step")
        + 1;
    let v = &report.variants[0];
    for (endpoint, row) in [
        (Endpoint::Token, &v.endpoints.token),
        (Endpoint::Refresh, &v.endpoints.refresh),
        (Endpoint::Contacts, &v.endpoints.contacts),
    ] {
        for o in Outcome::ALL {
            let exported: f64 = calls
                .iter()
                .filter(|(_, l, _)| {
                    l["search_step"] == shown.to_string()
                        && l["endpoint"] == endpoint.name()
                        && l["outcome"] == o.name()
                })
                .map(|(_, _, n)| n)
                .sum();
            #[allow(clippy::cast_precision_loss)] // counts far below 2^53
            let want = row.outcomes[o] as f64;
            assert_eq!(
                exported,
                want,
                "step {shown} {} {}",
                endpoint.name(),
                o.name()
            );
        }
    }
}
