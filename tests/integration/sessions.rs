//! `[sessions]`: sessions that arrive, think and leave, against the embedded target. Arrivals are
//! seeded, so their count is exact; Little's law is checked by the report within its stated
//! tolerance; shards of a sessions run merge to exactly the whole run's sessions; and mistakes in the
//! section are named by key and line.

use std::path::{Path, PathBuf};
use std::process::Command;
use tokenstorm::plan::{self, Overrides, Shard};
use tokenstorm::profile::{parse, ProfileError};
use tokenstorm::report::model::{Report, SessionsReport};

const BIN: &str = env!("CARGO_BIN_EXE_tokenstorm");

// Poisson arrivals at 40/s of log-normal sessions (p50 1 s, p99 3 s) with per-session tokens that
// are revoked on leaving; tokens outlive the run and nothing is rate limited.
const LITTLE: &str = r#"
duration = "15s"
seed = 11
[server]
token_ttl = "3600s"
per_token_rate = "0/s"
[load]
orgs = 8
sessions = 2000
[sessions]
arrival = "poisson"
arrival_rate = "40/s"
length = { dist = "lognormal", p50 = "1s", p99 = "3s" }
think = { dist = "uniform", min = "0.1s", max = "0.3s" }
leave = "revoke"
org_weights = "long-tail"
[thresholds]
"sessions.little_broken" = "== 0"
"sessions.refused" = "== 0"
"sessions.peak_concurrent" = "> 10"
[[variant]]
name = "widget"
client = { token_scope = "session", trigger = "margin", margin = "30s", coalesce = "single-flight" }
"#;

fn run(dir: &Path, text: &str, shard: Option<Shard>) -> PathBuf {
    let label = shard.map_or("whole".to_owned(), |s| format!("shard-{}", s.index));
    // One folder each (threads run them at once); the file's stem names the profile.
    let folder = dir.join(format!("{label}-profile"));
    std::fs::create_dir_all(&folder).unwrap();
    let profile = folder.join("profile.toml");
    std::fs::write(&profile, text).unwrap();
    let overrides = Overrides {
        shard,
        ..Default::default()
    };
    super::support::run_into(profile, dir.join(label), overrides).report_path
}

fn read(path: &Path) -> Report {
    super::support::read_report(path)
}

fn sessions(report: &Report) -> &SessionsReport {
    report.variants[0]
        .sessions
        .as_ref()
        .expect("a sessions block")
}

/// How many sessions the plan has arrive: the seeded arrival process, counted without running.
fn planned_arrivals(text: &str) -> u64 {
    let loaded = tokenstorm::profile::Loaded {
        path: "p.toml".into(),
        name: "p".into(),
        profile: parse(text, Path::new("p.toml")).unwrap(),
        text: text.into(),
    };
    let plan = plan::build(&loaded, &Overrides::default()).unwrap();
    let sessions = plan.load.sessions.clone().unwrap();
    sessions.arrivals(plan.load.schedule()).count() as u64
}

#[test]
fn sessions_arrive_as_planned_and_littles_law_holds() {
    let dir = tempfile::tempdir().unwrap();
    let path = run(dir.path(), LITTLE, None);
    let report = read(&path);
    let v = &report.variants[0];
    sessions_are_drawn_and_told(&path);
    super::support::assert_accounted(v);
    let s = sessions(&report);
    assert_eq!(s.arrived, planned_arrivals(LITTLE), "every planned arrival");
    // Poisson(600) arrivals over 15 s at 40/s: within 4 sd (98).
    assert!((s.arrived as f64 - 600.0).abs() <= 98.0, "{}", s.arrived);
    assert_eq!((s.refused, s.arrived), (0, s.departed + s.alive_at_end));
    let little = s.little.as_ref().expect("a steady window from 3 s to 15 s");
    assert_eq!((little.from_s, little.to_s), (3.0, 15.0));
    assert!(little.holds, "{little:?}");
    assert_eq!(report.passed, Some(true), "{:?}", report.thresholds);
    assert!(
        little.tolerance < 0.25,
        "the bound says something: {little:?}"
    );
    // Drawn lengths: log-normal mean exp(mu + sigma^2 / 2) = 1.118 s; the mean of ~600 draws has
    // an sd of 0.025 s (sd of the distribution 0.56 s), so 4 sd is 0.1 s.
    assert!((s.mean_length_s - 1.118).abs() < 0.1, "{}", s.mean_length_s);
    // Every session made calls and every departed one revoked its token, as the server counted.
    assert!(v.requests.scheduled >= s.arrived);
    assert_eq!((s.revoked, s.revoke_failed), (s.departed, 0));
    let truth = v.truth.as_ref().unwrap();
    assert!(truth.ok, "{:?}", truth.checks);
    assert!(truth.checks.iter().any(|c| c.what == "sessions revoked"));
    assert_eq!(
        v.endpoints.token.requests, s.arrived,
        "one first token per session"
    );
    timeline_counts_every_session(&report);
}

/// The timeline has a sessions panel, and the page says what the summary says.
fn sessions_are_drawn_and_told(report: &Path) {
    let svg = report.with_file_name("plots").join("timeline-widget.svg");
    let svg = std::fs::read_to_string(&svg).unwrap_or_else(|e| panic!("{}: {e}", svg.display()));
    let texts: Vec<&str> = svg.lines().map(str::trim).collect();
    for label in [
        "sessions alive, per s",
        "sessions alive",
        "arrived/s",
        "ended/s",
    ] {
        assert!(texts.contains(&label), "no `{label}` on the timeline");
    }
    let page = std::fs::read_to_string(report.with_file_name("index.html")).unwrap();
    assert!(
        page.contains("Sessions: arrived "),
        "the page names the sessions"
    );
    assert!(
        page.contains("law: mean alive "),
        "the page gives Little's law"
    );
}

fn timeline_counts_every_session(report: &Report) {
    let v = &report.variants[0];
    let s = sessions(report);
    let buckets = &v.timeseries.buckets;
    let arrivals: u64 = buckets.iter().map(|b| b.session_arrivals).sum();
    let ends: u64 = buckets.iter().map(|b| b.session_ends).sum();
    assert_eq!((arrivals, ends), (s.arrived, s.arrived));
    let peak = buckets.iter().map(|b| b.active_sessions).max().unwrap();
    assert_eq!(peak, s.peak_concurrent);
    assert_eq!(buckets.last().map(|b| b.active_sessions), Some(0));
}

// Uniform arrivals every 50 ms; sessions of 2.525 s, so none ends within 25 ms of the run's end and
// whether it departed or was alive at the end does not depend on timing.
const SHARDED: &str = r#"
duration = "8s"
[server]
token_ttl = "3600s"
per_token_rate = "0/s"
[load]
orgs = 6
sessions = 500
[sessions]
arrival = "uniform"
arrival_rate = "20/s"
length = { dist = "fixed", value = "2.525s" }
think = { dist = "fixed", value = "0.2s" }
org_weights = [5, 3, 1, 1, 1, 1]
[[variant]]
name = "widget"
client = { token_scope = "session", trigger = "reactive", coalesce = "none" }
"#;

#[test]
fn shards_of_a_sessions_run_merge_to_the_whole_runs_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let at = dir.path();
    let (whole, shards) = std::thread::scope(|scope| {
        let whole = scope.spawn(|| run(at, SHARDED, None));
        let parts = [0, 1]
            .map(|index| scope.spawn(move || run(at, SHARDED, Some(Shard { index, count: 2 }))));
        (whole.join().unwrap(), parts.map(|p| p.join().unwrap()))
    });
    let merged = dir.path().join("merged");
    let out = Command::new(BIN)
        .arg("merge")
        .args(&shards)
        .arg("--out")
        .arg(&merged)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (whole, merged) = (read(&whole), read(&merged.join("report.json")));
    let parts: Vec<Report> = shards.iter().map(|p| read(p)).collect();
    let (w, m) = (sessions(&whole), sessions(&merged));
    // 8 s at 20/s; those arriving in the last 2.525 s (50 of them) are alive at the end.
    assert_eq!((w.arrived, w.departed, w.alive_at_end), (160, 110, 50));
    let key = |s: &SessionsReport| (s.arrived, s.departed, s.alive_at_end, s.totals.drawn_us);
    assert_eq!(key(m), key(w), "the shards together are the whole run");
    for part in &parts {
        assert!(sessions(part).arrived > 0 && sessions(part).arrived < 160);
    }
    let alive: u64 = parts.iter().map(|p| sessions(p).totals.alive_us).sum();
    assert_eq!(m.totals.alive_us, alive, "alive time adds exactly");
    let ends: Vec<u64> = merged.variants[0]
        .timeseries
        .buckets
        .iter()
        .map(|b| b.session_arrivals)
        .collect();
    assert_eq!(ends.iter().sum::<u64>(), 160, "{ends:?}");
}

// At most 10 alive: sessions of 2.025 s arriving every 50 ms fill the seats in 0.5 s; each departure
// (25 ms off the arrival grid, so no race) frees a seat for the next arrival.
const CAPPED: &str = r#"
duration = "4s"
[server]
token_ttl = "3600s"
per_token_rate = "0/s"
[load]
orgs = 2
sessions = 10
[sessions]
arrival = "uniform"
arrival_rate = "20/s"
length = { dist = "fixed", value = "2.025s" }
think = { dist = "fixed", value = "0.5s" }
[[variant]]
name = "widget"
client = { token_scope = "session", trigger = "reactive", coalesce = "none" }
"#;

#[test]
fn load_sessions_bounds_the_sessions_alive_and_their_slots_are_handed_on() {
    let dir = tempfile::tempdir().unwrap();
    let report = read(&run(dir.path(), CAPPED, None));
    let v = &report.variants[0];
    super::support::assert_accounted(v);
    let s = sessions(&report);
    // Admitted: 0.00-0.45 s and 2.05-2.50 s; the other 60 of the 80 arrivals found 10 alive.
    assert_eq!(
        (s.arrived, s.refused, s.departed, s.alive_at_end),
        (20, 60, 10, 10)
    );
    assert_eq!(s.peak_concurrent, 10);
    // Every session's first call gets it a token of its own, in a slot an earlier session left.
    assert_eq!(v.endpoints.token.requests, 20);
    assert_eq!(
        (s.revoked, s.revoke_failed),
        (0, 0),
        "leave = \"drop\" by default"
    );
    assert_eq!(super::support::server_count(v, "revocations"), 0);
}

fn problems(text: &str) -> Vec<(Option<usize>, String, String)> {
    match parse(text, Path::new("t.toml")) {
        Err(ProfileError::Invalid { problems, .. }) => problems
            .into_iter()
            .map(|p| (p.line, p.key, p.message))
            .collect(),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("profile was accepted:\n{text}"),
    }
}

fn named(found: &[(Option<usize>, String, String)], key: &str, line: usize, says: &str) {
    assert!(
        found
            .iter()
            .any(|(l, k, m)| *l == Some(line) && k == key && m.contains(says)),
        "no problem at {key} line {line} saying `{says}`: {found:?}"
    );
}

#[test]
fn sessions_mistakes_are_named_by_key_and_line() {
    let bad = SHARDED
        .replace("sessions = 500", "sessions = 500\nrate = \"10/s\"")
        .replace("arrival_rate = \"20/s\"\n", "")
        .replace("value = \"2.525s\"", "value = \"0s\"")
        .replace("[5, 3, 1, 1, 1, 1]", "[5, 3]")
        .replace(
            "think = { dist = \"fixed\", value = \"0.2s\" }",
            "think = { dist = \"uniform\", min = \"2s\", max = \"1s\" }\nleave = \"revoke\"",
        );
    let found = problems(&bad);
    named(&found, "load.rate", 9, "cannot be combined with [sessions]");
    named(&found, "sessions.arrival_rate", 10, "is required");
    named(&found, "sessions.length.value", 12, "more than 0s");
    named(&found, "sessions.think.min", 13, "at most max");
    named(&found, "sessions.org_weights", 15, "one per org");
    let pool = SHARDED
        .replace(
            "[sessions]\n",
            "rate = \"10/s\"\n[thresholds]\n\"sessions.peak_concurrent\" = \"< 5\"\n[x]\n",
        )
        .replace("[x]\narrival = \"uniform\"\narrival_rate = \"20/s\"\n", "")
        .replace("length = { dist = \"fixed\", value = \"2.525s\" }\n", "")
        .replace("think = { dist = \"fixed\", value = \"0.2s\" }\n", "")
        .replace("org_weights = [5, 3, 1, 1, 1, 1]\n", "");
    let found = problems(&pool);
    named(
        &found,
        "thresholds.\"sessions.peak_concurrent\"",
        11,
        "has no [sessions]",
    );
    let unknown = SHARDED
        .replace("\"fixed\", value = \"2.525s\"", "\"normal\", p50 = \"1s\"")
        .replace("[5, 3, 1, 1, 1, 1]", "\"zipf\"");
    let found = problems(&unknown);
    named(
        &found,
        "sessions.length.dist",
        12,
        "unknown variant `normal`",
    );
    named(&found, "sessions.org_weights", 14, "unknown variant `zipf`");
}
