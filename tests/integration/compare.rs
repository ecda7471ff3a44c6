//! `compare` on two known reports: exact table values, compare.json, and its exit codes.

use super::support::run_profile;
use std::path::{Path, PathBuf};
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

fn write(dir: &Path, name: &str, report: &Report) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string(report).unwrap()).unwrap();
    path
}

#[test]
fn table_values_and_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let pair = Pair {
        base: write(dir.path(), "base.json", &known(100.0, 10)),
        candidate: write(dir.path(), "candidate.json", &known(120.0, 0)),
        out: dir.path().join("cmp"),
    };

    let (code, table) = pair.compare(&[]);
    assert_eq!(code, Some(0), "no limits, no failure: {table}");
    table_rows_are_exact(&table);
    compare_json_has_the_p99_delta(&pair.out);
    fail_on_regression_follows_the_limits(&pair);
    usage_errors_exit_2(&pair);
}

/// The two reports and the directory `compare` writes into.
struct Pair {
    base: PathBuf,
    candidate: PathBuf,
    out: PathBuf,
}

impl Pair {
    /// `tokenstorm compare base candidate` with `extra` flags: its exit code and stdout.
    fn compare(&self, extra: &[&str]) -> (Option<i32>, String) {
        let out = Command::new(BIN)
            .arg("compare")
            .arg(&self.base)
            .arg(&self.candidate)
            .arg("--out")
            .arg(&self.out)
            .args(extra)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }
}

fn table_rows_are_exact(table: &str) {
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
}

fn compare_json_has_the_p99_delta(out: &Path) {
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("compare.json")).unwrap()).unwrap();
    let p99 = json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["metric"] == "contacts.p99_ms")
        .unwrap();
    assert_eq!(p99["delta"], 20.0);
    assert_eq!(p99["delta_pct"], 20.0);
    assert_eq!(p99["verdict"], "worse");
}

fn fail_on_regression_follows_the_limits(pair: &Pair) {
    let (code, table) = pair.compare(&["--fail-on-regression"]);
    assert_eq!(
        code,
        Some(1),
        "p99 +20% breaks the default +10% limit: {table}"
    );
    assert!(table.contains("FAIL  contacts.p99_ms"), "{table}");
    let (code, table) = pair.compare(&["--fail-on-regression", "--limit", "contacts.p99_ms=+25%"]);
    assert_eq!(code, Some(0), "{table}");
    let (code, _) = pair.compare(&[
        "--fail-on-regression",
        "--limit",
        "contacts.unauthorized=+0",
        "--limit",
        "contacts.p99_ms=+19",
    ]);
    assert_eq!(code, Some(1), "+20 ms is over an absolute +19");
}

/// Runs last: it breaks the candidate report.
fn usage_errors_exit_2(pair: &Pair) {
    let (code, _) = pair.compare(&["--limit", "contacts.p98_ms=+1%"]);
    assert_eq!(code, Some(2), "an unknown metric is a usage error");
    let (code, _) = pair.compare(&["--variant", "nope"]);
    assert_eq!(code, Some(2));
    std::fs::write(&pair.candidate, "{\"format_version\": 1, \"truncated").unwrap();
    let (code, _) = pair.compare(&[]);
    assert_eq!(
        code,
        Some(2),
        "a broken report is a usage error, not a panic"
    );
}
