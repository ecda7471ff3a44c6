//! `[[load.stage]]`: the open model's arrival rate in named stages. Arrivals per stage are fixed by the
//! schedule (so exact counts, not bounds), the report sorts calls by the stage they were sent in,
//! thresholds can be scoped to a stage, and shards of a staged run merge to the same stage counts.

use std::path::{Path, PathBuf};
use std::process::Command;
use tokenstorm::plan::{Overrides, Shard};
use tokenstorm::profile::{parse, ProfileError};
use tokenstorm::report::model::{Report, VariantReport};

const BIN: &str = env!("CARGO_BIN_EXE_tokenstorm");

// Ramp 0 -> 200/s over 1 s (100 arrivals), hold 1 s (200), jump to 600/s, hold 1 s (600). Tokens
// outlive the run and nothing is rate limited, so every arrival is one contacts call.
const PROFILE: &str = r#"
[server]
token_ttl = "3600s"
per_token_rate = "0/s"
[load]
orgs = 4
sessions = 40
drain = "5s"
[[load.stage]]
name = "warm"
duration = "1s"
target = "200/s"
[[load.stage]]
name = "hold"
duration = "1s"
target = "200/s"
[[load.stage]]
name = "spike"
duration = "0s"
target = "600/s"
[[load.stage]]
name = "peak"
duration = "1s"
target = "600/s"
[thresholds]
"contacts.calls[stage=peak]" = "== 600"
"contacts.calls[stage=warm]" = "> 100"
"contacts.error_rate[stage=hold]" = "== 0"
[[variant]]
name = "a"
client = "naive"
"#;

const PER_STAGE: [(&str, u64); 4] = [("warm", 100), ("hold", 200), ("spike", 0), ("peak", 600)];

fn run(dir: &Path, shard: Option<Shard>) -> PathBuf {
    let profile = super::support::write_profile(dir, PROFILE);
    let label = shard.map_or("whole".to_owned(), |s| format!("shard-{}", s.index));
    let overrides = Overrides {
        shard,
        ..Default::default()
    };
    super::support::run_into(profile, dir.join(label), overrides).report_path
}

fn read(path: &Path) -> Report {
    super::support::read_report(path)
}

fn stage_calls(v: &VariantReport) -> Vec<(String, u64)> {
    v.stages
        .iter()
        .map(|s| (s.name.clone(), s.endpoints.contacts.requests))
        .collect()
}

fn expected() -> Vec<(String, u64)> {
    PER_STAGE.iter().map(|(n, c)| (n.to_string(), *c)).collect()
}

#[test]
fn stages_shape_the_arrivals_and_scope_the_gates() {
    let dir = tempfile::tempdir().unwrap();
    let path = run(dir.path(), None);
    let report = read(&path);
    let v = &report.variants[0];
    stages_are_marked_on_the_timeline(&path);
    super::support::assert_accounted(v);
    assert_eq!(v.requests.dropped, 0, "the run kept up");
    assert_eq!(v.requests.retries, 0);
    assert_eq!(
        v.planned_duration_s, 3.0,
        "the stages' sum is the run's length"
    );
    assert_eq!(v.requests.scheduled, 900);
    assert_eq!(stage_calls(v), expected());
    let bounds: Vec<(f64, f64, f64, f64)> = v
        .stages
        .iter()
        .map(|s| (s.start_s, s.end_s, s.from_per_s, s.to_per_s))
        .collect();
    assert_eq!(
        bounds,
        [
            (0.0, 1.0, 0.0, 200.0),
            (1.0, 2.0, 200.0, 200.0),
            (2.0, 2.0, 200.0, 600.0),
            (2.0, 3.0, 600.0, 600.0)
        ]
    );
    // The pacer's schedule, second by second (buckets count arrivals by intended time).
    let scheduled: Vec<u64> = v.timeseries.buckets.iter().map(|b| b.scheduled).collect();
    assert_eq!(&scheduled[..3], &[100, 200, 600], "{scheduled:?}");
    assert!(scheduled[3..].iter().all(|n| *n == 0), "{scheduled:?}");
    let verdicts: Vec<(&str, bool)> = report
        .thresholds
        .iter()
        .map(|t| (t.metric.as_str(), t.passed))
        .collect();
    assert!(
        verdicts.contains(&("contacts.calls[stage=peak]", true)),
        "{verdicts:?}"
    );
    assert!(
        verdicts.contains(&("contacts.calls[stage=warm]", false)),
        "{verdicts:?}"
    );
    assert!(
        verdicts.contains(&("contacts.error_rate[stage=hold]", true)),
        "{verdicts:?}"
    );
}

/// Every stage that lasts is named where it begins; the jump (0 s) would sit on top of `peak`.
fn stages_are_marked_on_the_timeline(report: &Path) {
    let svg = report.with_file_name("plots").join("timeline-a.svg");
    let svg = std::fs::read_to_string(&svg).unwrap_or_else(|e| panic!("{}: {e}", svg.display()));
    // plotters writes each text on a line of its own between its tags.
    let texts: Vec<&str> = svg.lines().map(str::trim).collect();
    for name in ["warm", "hold", "peak"] {
        assert!(texts.contains(&name), "{name} is not marked");
    }
    assert!(!texts.contains(&"spike"), "the jump is marked");
}

#[test]
fn shards_of_a_staged_run_merge_to_the_same_stages() {
    let dir = tempfile::tempdir().unwrap();
    let shards = [0, 1].map(|index| run(dir.path(), Some(Shard { index, count: 2 })));
    for path in &shards {
        let part = read(path);
        let calls: u64 = stage_calls(&part.variants[0]).iter().map(|(_, n)| n).sum();
        assert!(calls > 0 && calls < 900, "a shard sends its part: {calls}");
    }
    let merged = dir.path().join("merged");
    let out = Command::new(BIN)
        .arg("merge")
        .args(&shards)
        .arg("--out")
        .arg(&merged)
        .output()
        .unwrap();
    // 1: the warm-stage gate fails, as in one process; anything else is a merge error.
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = read(&merged.join("report.json"));
    assert_eq!(stage_calls(&report.variants[0]), expected());
}

fn problems(text: &str) -> Vec<(String, String)> {
    match parse(text, Path::new("t.toml")) {
        Err(ProfileError::Invalid { problems, .. }) => {
            problems.into_iter().map(|p| (p.key, p.message)).collect()
        }
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("profile was accepted:\n{text}"),
    }
}

#[test]
fn stage_mistakes_are_named_by_key() {
    let bad = PROFILE
        .replace(
            "drain = \"5s\"",
            "drain = \"5s\"\nrate = \"10/s\"\nconnections = 4",
        )
        .replace("name = \"hold\"", "name = \"warm\"")
        .replace("[stage=peak]", "[stage=top]")
        .replace(
            "\"contacts.error_rate[stage=hold]\"",
            "\"requests.sent[stage=peak]\"",
        );
    let p = problems(&format!("duration = \"9s\"\n{bad}"));
    let has = |key: &str, says: &str| {
        assert!(
            p.iter().any(|(k, m)| k == key && m.contains(says)),
            "no `{key}`: {says} in {p:?}"
        );
    };
    has("duration", "differs from the stages' sum (3s)");
    has("load.rate", "cannot be combined with [[load.stage]]");
    has("load.connections", "cannot be combined with [[load.stage]]");
    has("load.stage[1].name", "`warm` names an earlier stage too");
    has(
        "thresholds.\"contacts.calls[stage=top]\"",
        "no stage named `top` (stages: warm, warm, spike, peak)",
    );
    has(
        "thresholds.\"requests.sent[stage=peak]\"",
        "applies to token, refresh and contacts",
    );
    let without = PROFILE.split("[[load.stage]]").next().unwrap().to_owned()
        + "[[variant]]\nname = \"a\"\nclient = \"naive\"\n";
    let p = problems(&without);
    assert!(
        p.iter()
            .any(|(k, m)| k == "load.rate" && m.contains("is required")),
        "{p:?}"
    );
    assert!(
        p.iter()
            .any(|(k, m)| k == "duration" && m.contains("is required")),
        "{p:?}"
    );
}
