//! `compare` on two known reports: exact table values, compare.json, and its exit codes.

use super::support::run_profile;
use std::process::Command;
use tokenstorm::report::model::Report;
use tokenstorm::vocabulary::Outcome;

const BIN: &str = env!("CARGO_BIN_EXE_tokenstorm");

/// A small real report, then set to known numbers.
fn known(p99: f64, unauthorized: u64) -> Report {
    let ran = run_profile(
        "duration = \"1s\"\n[load]\norgs = 1\nsessions = 2\nrate = \"20/s\"\n[[variant]]\nname = \"v\"\nclient = \"naive\"\n",
    );
    let mut report = ran.report;
    let v = &mut report.variants[0];
    v.endpoints.contacts.latency_ms.p99 = p99;
    // Histograms to match: 980 calls at 10 ms and 20 at the p99, so the statistical tests see it too.
    let mut h = tokenstorm::metrics::latency::new_histogram();
    h.record_n(10_000, 980).unwrap();
    h.record_n((p99 * 1000.0) as u64, 20).unwrap();
    v.endpoints.contacts.histograms =
        [("ok".to_owned(), tokenstorm::report::histogram::encode(&h))].into();
    v.endpoints.contacts.outcomes[Outcome::Ok] = 1000 - unauthorized;
    v.endpoints.contacts.outcomes[Outcome::Unauthorized] = unauthorized;
    report
}

fn write(dir: &std::path::Path, name: &str, report: &Report) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string(report).unwrap()).unwrap();
    path
}

#[test]
fn table_values_and_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let base = write(dir.path(), "base.json", &known(100.0, 10));
    let candidate = write(dir.path(), "candidate.json", &known(120.0, 0));
    let compare = |extra: &[&str]| {
        let out = Command::new(BIN)
            .arg("compare")
            .arg(&base)
            .arg(&candidate)
            .arg("--out")
            .arg(dir.path().join("cmp"))
            .args(extra)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };

    let (code, table) = compare(&[]);
    assert_eq!(code, Some(0), "no limits, no failure: {table}");
    let row = |metric: &str| {
        table
            .lines()
            .find(|l| l.starts_with(metric))
            .unwrap_or_else(|| panic!("{metric}: {table}"))
            .to_owned()
    };
    let words = |line: String| {
        line.split_whitespace()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        words(row("contacts.p99_ms")),
        [
            "contacts.p99_ms",
            "100",
            "120",
            "+20",
            "+20.0%",
            "WORSE",
            "-"
        ]
    );
    assert_eq!(
        words(row("contacts.unauthorized_rate")),
        [
            "contacts.unauthorized_rate",
            "0.01000",
            "0",
            "-0.01000",
            "-100.0%",
            "better",
            "+"
        ]
    );
    assert_eq!(
        words(row("contacts.unauthorized ")),
        [
            "contacts.unauthorized",
            "10",
            "0",
            "-10",
            "-100.0%",
            "better",
            "+"
        ]
    );

    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("cmp/compare.json")).unwrap(),
    )
    .unwrap();
    let p99 = json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["metric"] == "contacts.p99_ms")
        .unwrap();
    assert_eq!(p99["delta"], 20.0);
    assert_eq!(p99["delta_pct"], 20.0);
    assert_eq!(p99["verdict"], "worse");

    let (code, table) = compare(&["--fail-on-regression"]);
    assert_eq!(
        code,
        Some(1),
        "p99 +20% breaks the default +10% limit: {table}"
    );
    assert!(table.contains("FAIL  contacts.p99_ms"), "{table}");
    let (code, table) = compare(&["--fail-on-regression", "--limit", "contacts.p99_ms=+25%"]);
    assert_eq!(code, Some(0), "{table}");
    let (code, _) = compare(&[
        "--fail-on-regression",
        "--limit",
        "contacts.unauthorized=+0",
        "--limit",
        "contacts.p99_ms=+19",
    ]);
    assert_eq!(code, Some(1), "+20 ms is over an absolute +19");

    let (code, _) = compare(&["--limit", "contacts.p98_ms=+1%"]);
    assert_eq!(code, Some(2), "an unknown metric is a usage error");
    let (code, _) = compare(&["--variant", "nope"]);
    assert_eq!(code, Some(2));
    std::fs::write(&candidate, "{\"format_version\": 1, \"truncated").unwrap();
    let (code, _) = compare(&[]);
    assert_eq!(
        code,
        Some(2),
        "a broken report is a usage error, not a panic"
    );
}
