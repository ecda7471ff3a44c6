//! Release gates: thresholds checked before the run, evaluated after it, and the exit codes, JUnit XML
//! and machine-readable summary a CI system reads.

use super::support::{run_profile, variant};
use std::path::Path;
use std::process::Command;
use tokenstorm::profile::thresholds::Thresholds;
use tokenstorm::profile::{parse, ProfileError};
use tokenstorm::report::gates;

const BIN: &str = env!("CARGO_BIN_EXE_tokenstorm");

fn profile(duration: &str, server_extra: &str, thresholds: &str) -> String {
    format!(
        r#"seed = 1
duration = "{duration}"
[server]
token_ttl = "30s"
per_token_rate = "0/s"
{server_extra}
[load]
orgs = 2
sessions = 10
rate = "50/s"
[[variant]]
name = "v"
client = "go-oauth2"
[thresholds]
{thresholds}
"#
    )
}

/// Runs the binary on the profile text; returns the exit code, stdout and the report folder.
fn run_bin(text: &str, extra: &[&str]) -> (Option<i32>, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = super::support::write_profile(dir.path(), text);
    let out = Command::new(BIN)
        .arg("run")
        .arg(&path)
        .arg("--out")
        .arg(dir.path().join("out"))
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        dir,
    )
}

#[test]
fn threshold_mistakes_are_profile_errors_with_lines() {
    let cases = [
        (
            r#""contacts.p98_ms" = "< 1""#,
            "unknown metric `contacts.p98_ms`",
        ),
        (r#""contacts.p99_ms" = "about 250""#, "not a condition"),
        (
            r#""contacts.p99_ms" = { condition = "< 1", abort_on_fial = true }"#,
            "unknown field `abort_on_fial`",
        ),
    ];
    for (line, says) in cases {
        let text = profile("1s", "", line);
        let Err(ProfileError::Invalid { problems, .. }) = parse(&text, Path::new("t.toml")) else {
            panic!("accepted: {line}");
        };
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].line, Some(15), "{problems:?}");
        assert!(problems[0].key.starts_with("thresholds"), "{problems:?}");
        assert!(problems[0].message.contains(says), "{problems:?}");
    }
}

#[test]
fn evaluation_on_a_known_report() {
    let ran = run_profile(&profile("1s", "", ""));
    let mut v = variant(&ran.report, "v").clone();
    v.endpoints.contacts.latency_ms.p99 = 120.0;
    v.endpoints.contacts.outcomes[tokenstorm::vocabulary::Outcome::Unauthorized] = 5;
    v.refresh.max_in_flight_per_org = 2;
    let written: Thresholds = toml::from_str(
        r#"
"contacts.p99_ms" = "< 100"
"contacts.unauthorized" = "<= 5"
"refresh.max_in_flight_per_org" = "<= 1"
"truth.mismatch" = "== 0"
"requests.sent" = ">= 50"
"#,
    )
    .unwrap();
    let results = gates::evaluate(&v, &gates::for_variant(&written, &Thresholds::new()));
    let passed: Vec<(&str, bool, Option<f64>)> = results
        .iter()
        .map(|r| (r.metric.as_str(), r.passed, r.observed))
        .collect();
    assert_eq!(
        passed,
        [
            ("contacts.p99_ms", false, Some(120.0)),
            ("contacts.unauthorized", true, Some(5.0)),
            ("refresh.max_in_flight_per_org", false, Some(2.0)),
            ("requests.sent", true, Some(50.0)),
            ("truth.mismatch", true, Some(0.0)),
        ]
    );
    // Variant thresholds replace profile ones of the same name.
    let own: Thresholds = toml::from_str(r#""contacts.p99_ms" = "< 200""#).unwrap();
    let merged = gates::for_variant(&written, &own);
    assert_eq!(merged.len(), 5);
    assert!(gates::evaluate(&v, &merged)
        .iter()
        .any(|r| r.metric == "contacts.p99_ms" && r.passed));
}

#[test]
fn exit_codes_pass_fail_and_unreachable_with_junit() {
    let (code, stdout, dir) = run_bin(
        &profile(
            "2s",
            "",
            "\"contacts.error_rate\" = \"< 0.01\"\n\"requests.sent\" = \">= 100\"",
        ),
        &["--json"],
    );
    assert_eq!(code, Some(0), "{stdout}");
    let summary: serde_json::Value =
        serde_json::from_str(&stdout).expect("--json prints only JSON on stdout");
    assert_eq!(summary["passed"], true);
    assert!(dir.path().join("out/report.json").exists());

    let junit_path = dir.path().join("junit.xml");
    let (code, stdout, _dir) = run_bin(
        &profile(
            "2s",
            "",
            "\"contacts.p99_ms\" = \"< 0.001\"\n\"requests.sent\" = \">= 100\"",
        ),
        &["--junit", junit_path.to_str().unwrap()],
    );
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains("FAIL: 1 of 2 thresholds failed"),
        "{stdout}"
    );
    let xml = std::fs::read_to_string(&junit_path).unwrap();
    let doc = roxmltree::Document::parse(&xml).expect("JUnit XML parses");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    assert_eq!(root.attribute("tests"), Some("2"));
    assert_eq!(root.attribute("failures"), Some("1"));
    let failed: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("failure"))
        .collect();
    assert_eq!(failed.len(), 1);
    assert!(failed[0]
        .parent()
        .and_then(|p| p.attribute("name"))
        .is_some_and(|n| n.starts_with("contacts.p99_ms")));

    // Every connection reset: nothing ever answers.
    let dead =
        "[server.faults.token]\nreset_rate = 1.0\n[server.faults.contacts]\nreset_rate = 1.0\n";
    let (code, stdout, _dir) = run_bin(&profile("1s", dead, ""), &[]);
    assert_eq!(code, Some(3), "{stdout}");

    let (code, _, _dir) = run_bin("duration = \"1s\"\n", &[]);
    assert_eq!(code, Some(2));
}

#[test]
fn abort_on_fail_stops_the_run_early_and_still_writes_the_report() {
    let gate =
        r#""requests.sent" = { condition = "< 60", abort_on_fail = true, abort_delay = "500ms" }"#;
    let (code, stdout, dir) = run_bin(&profile("60s", "", gate), &[]);
    assert_eq!(code, Some(1), "{stdout}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("out/report.json")).unwrap())
            .unwrap();
    assert_eq!(report["aborted_by"], "v: requests.sent < 60");
    let v = &report["variants"][0];
    assert_eq!(v["stopped_early"], true);
    // At 50/s the gate fails after about 1.2 s; a 60 s run that ran to its end would have sent 3000.
    assert!(
        v["requests"]["sent"].as_u64().unwrap() < 500,
        "{}",
        v["requests"]
    );
    assert_eq!(report["passed"], false);
}
