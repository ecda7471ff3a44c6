//! Shared helpers: write a profile into a temporary folder and run it through the library.

use std::path::{Path, PathBuf};
use tokenstorm::app::{self, RunOptions, Signals};
use tokenstorm::plan::Overrides;
use tokenstorm::report::model::{Report, VariantReport};

pub struct Ran {
    pub report: Report,
    pub report_path: PathBuf,
    pub _dir: tempfile::TempDir,
}

pub fn write_profile(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("profile.toml");
    std::fs::write(&path, text).expect("temp dir is writable");
    path
}

/// Runs the profile text to completion on a fresh runtime and returns the report.
pub fn run_profile(text: &str) -> Ran {
    let dir = tempfile::tempdir().expect("temp dir");
    let profile = write_profile(dir.path(), text);
    run_path(profile, Overrides::default(), dir)
}

/// Runs a shipped profile (path relative to the crate root), shortened to `duration`.
pub fn run_shipped(path: &str, duration: std::time::Duration) -> Ran {
    let dir = tempfile::tempdir().expect("temp dir");
    let overrides = Overrides {
        duration: Some(duration),
        ..Default::default()
    };
    run_path(PathBuf::from(path), overrides, dir)
}

fn run_path(profile: PathBuf, overrides: Overrides, dir: tempfile::TempDir) -> Ran {
    let result = run_into(profile, dir.path().join("out"), overrides);
    Ran {
        report: result.report,
        report_path: result.report_path,
        _dir: dir,
    }
}

/// Runs `profile` through the library on a fresh runtime, writing to `out`.
pub fn run_into(
    profile: PathBuf,
    out: PathBuf,
    overrides: Overrides,
) -> tokenstorm::app::RunResult {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let options = RunOptions {
        profile,
        out: Some(out),
        overrides,
        progress: false,
        announce: false,
        telemetry: Default::default(),
    };
    runtime
        .block_on(app::run(options, Signals::none()))
        .unwrap_or_else(|e| panic!("run failed: {e}"))
}

/// The report `path` holds.
pub fn read_report(path: &Path) -> Report {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

pub fn variant<'a>(report: &'a Report, name: &str) -> &'a VariantReport {
    report
        .variants
        .iter()
        .find(|v| v.name == name)
        .unwrap_or_else(|| panic!("no variant {name}"))
}

/// The invariants every run must hold, whatever the client model.
pub fn assert_accounted(v: &VariantReport) {
    let r = &v.requests;
    assert!(v.conservation.ok, "{}: {:?}", v.name, v.conservation);
    assert_eq!(r.scheduled, r.sent + r.dropped, "{}", v.name);
    assert_eq!(r.sent, r.outcomes.total() + r.unfinished, "{}", v.name);
    assert_eq!(
        r.unfinished, 0,
        "{}: nothing should be left after the drain",
        v.name
    );
    assert_eq!(
        v.endpoints.contacts.outcomes.total(),
        r.sent - r.no_token + r.retries,
        "{}: every API call is one sent request or one retry",
        v.name
    );
    // Retry-aware accounting: every request that reached the API has one first-call outcome, and a
    // request ends ok either on its first call or after a retry.
    assert_eq!(
        r.first_attempt.total(),
        r.sent - r.no_token,
        "{}: one first call per request that reached the API",
        v.name
    );
    assert_eq!(
        r.outcomes[tokenstorm::vocabulary::Outcome::Ok],
        r.first_attempt[tokenstorm::vocabulary::Outcome::Ok] + r.recovered_by_retry,
        "{}: final ok = first-call ok + recovered by retry",
        v.name
    );
    let truth = v
        .truth
        .as_ref()
        .expect("embedded runs carry the target's truth");
    assert!(
        truth.ok,
        "{}: client and server disagree: {:?}",
        v.name, truth.checks
    );
    assert!(
        truth.checks.len() >= 6,
        "{}: too few truth checks: {:?}",
        v.name,
        truth.checks
    );
}

/// One of the embedded target's counters (0 when it has none by that name).
pub fn server_count(v: &VariantReport, key: &str) -> u64 {
    v.truth
        .as_ref()
        .and_then(|t| t.server.get(key).copied())
        .unwrap_or(0)
}

/// Runs `text` as shards 0..count of `count` at once, each in process against its own embedded
/// target, each writing under `dir/shard-<index>`; their reports in shard order.
pub fn run_shards(
    dir: &Path,
    text: &str,
    count: u32,
) -> Vec<tokenstorm::report::merge::ShardReport> {
    use tokenstorm::plan::Shard;
    std::thread::scope(|scope| {
        let runs: Vec<_> = (0..count)
            .map(|index| {
                let at = dir.join(format!("shard-{index}"));
                scope.spawn(move || {
                    std::fs::create_dir_all(&at).expect("temp dir is writable");
                    let profile = write_profile(&at, text);
                    let overrides = Overrides {
                        shard: Some(Shard { index, count }),
                        ..Default::default()
                    };
                    let ran = run_into(profile, at.join("out"), overrides);
                    tokenstorm::report::merge::ShardReport {
                        path: ran.report_path,
                        report: ran.report,
                    }
                })
            })
            .collect();
        runs.into_iter()
            .map(|r| r.join().expect("a shard ran"))
            .collect()
    })
}
