//! `tokenstorm search`: the capacity search finds the knee of a target of known capacity, says when
//! the capacity is above the range or the start already fails, and gives the same answer for the same
//! seed. The embedded target's contacts API is given 4 workers of 10 ms (it carries 400 calls/s) and
//! room for 40 waiting; beyond that it refuses with 503, and the gate is the error rate. Each step
//! settles 0.5 s and is judged on 2 s: 5 % over capacity fills the queue 2 s in, and the refusals of
//! the last half second put the error rate past 1 %; below capacity nothing waits but a pause of the
//! machine itself, and a pause long enough to fill the queue (over 100 ms) can only make the answer
//! lower. Stated bound: within [0.5, 1.05] of capacity.

use std::path::Path;
use std::process::{Command, Output};
use tokenstorm::report::model::Report;
use tokenstorm::vocabulary::{SearchVerdict, StepKind};

const BIN: &str = env!("CARGO_BIN_EXE_tokenstorm");
const CAPACITY: f64 = 400.0;

pub fn profile_text(search: &str) -> String {
    format!(
        r#"
seed = 3
duration = "1s"
[server]
token_ttl = "3600s"
per_token_rate = "0/s"
[server.service.contacts]
workers = 4
service_time = "10ms"
queue = 40
[load]
orgs = 2
sessions = 20
rate = "10/s"
drain = "3s"
max_in_flight = 5000
[search]
step = "2s"
settle = "500ms"
{search}
[thresholds]
"contacts.error_rate" = "< 0.01"
[[variant]]
name = "go"
client = "go-oauth2"
"#
    )
}

/// `tokenstorm search` on `profile`, writing to `dir/out`, with these environment variables.
pub fn search_bin(dir: &Path, profile: &str, out: &str, env: &[(&str, &str)]) -> (Output, Report) {
    let path = dir.join(format!("{out}.toml"));
    std::fs::write(&path, profile).unwrap();
    let output = Command::new(BIN)
        .arg("search")
        .arg(&path)
        .arg("--quiet")
        .arg("--out")
        .arg(dir.join(out))
        .arg("--junit")
        .arg(dir.join(format!("{out}.xml")))
        .env_remove("HTTP_PROXY")
        .env_remove("HTTPS_PROXY")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let report = tokenstorm::report::load(&dir.join(out).join("report.json"))
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stderr)));
    (output, report)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn the_search_finds_the_knee_of_a_target_of_known_capacity() {
    let dir = tempfile::tempdir().unwrap();
    let text = profile_text("start = \"100/s\"\nceiling = \"2000/s\"");
    let (out, report) = search_bin(dir.path(), &text, "knee", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let s = report.search.as_ref().expect("a search block");
    assert_eq!(s.verdict, SearchVerdict::Found);
    let (holds, breaks) = (s.holds.unwrap(), s.breaks.unwrap());
    assert!(
        (0.5 * CAPACITY..=1.05 * CAPACITY).contains(&holds),
        "holds {holds}"
    );
    assert!((breaks - holds) / holds <= 0.05, "{holds}..{breaks}");
    let kinds: Vec<StepKind> = s.steps.iter().map(|st| st.kind).collect();
    assert_eq!(&kinds[..3], [StepKind::Grow; 3], "100, 200, 400 first");
    assert!(kinds.contains(&StepKind::Bisect));
    assert!(s
        .steps
        .iter()
        .filter(|st| st.held)
        .all(|st| st.load <= holds));
    let gate = s.broke_on.as_ref().expect("the gate that broke");
    assert!(gate.metric.starts_with("contacts."), "{gate:?}");
    // The verdict line, the answer's run and its gates, the page with its knee chart.
    let line = format!(
        "holds {} req/s; breaks at",
        tokenstorm::report::search::load(holds)
    );
    assert!(stdout(&out).contains(&line), "{}", stdout(&out));
    assert_eq!(report.variants.len(), 1);
    assert!(report.thresholds.iter().all(|t| t.passed));
    let page = std::fs::read_to_string(dir.path().join("knee/index.html")).unwrap();
    assert!(page.contains("Capacity search") && page.contains("id=\"search-knee\""));
    let junit = std::fs::read_to_string(dir.path().join("knee.xml")).unwrap();
    assert!(junit.contains("contacts.error_rate"), "{junit}");
    compare_answers(dir.path(), holds);
}

/// `compare` of two searches compares their answers: a candidate that holds 20 % less regressed.
fn compare_answers(dir: &Path, holds: f64) {
    let base = dir.join("knee/report.json");
    let mut lower: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&base).unwrap()).unwrap();
    lower["search"]["holds"] = (holds * 0.8).into();
    let candidate = dir.join("lower.json");
    std::fs::write(&candidate, lower.to_string()).unwrap();
    let compare = |candidate: &Path| {
        Command::new(BIN)
            .arg("compare")
            .args([&base, candidate])
            .arg("--fail-on-regression")
            .arg("--out")
            .arg(dir.join("cmp"))
            .output()
            .unwrap()
    };
    let out = compare(&candidate);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("(-20.0 %): LOWER: capacity regressed"),
        "{}",
        stdout(&out)
    );
    let same = compare(&base);
    assert_eq!(same.status.code(), Some(0), "{}", stdout(&same));
    assert!(stdout(&same).contains("the same within the resolution"));
}

#[test]
fn a_holding_ceiling_is_above_range_and_a_failing_start_is_said() {
    let dir = tempfile::tempdir().unwrap();
    let (out, report) = search_bin(
        dir.path(),
        &profile_text("start = \"100/s\"\nceiling = \"200/s\""),
        "above",
        &[],
    );
    let s = report.search.unwrap();
    assert_eq!(out.status.code(), Some(5), "{}", stdout(&out));
    assert_eq!(s.verdict, SearchVerdict::AboveRange);
    let loads: Vec<f64> = s.steps.iter().map(|st| st.load).collect();
    assert_eq!(loads, [100.0, 200.0], "the ceiling is never passed");
    assert!(stdout(&out).contains("capacity is above the range searched"));

    let (out, report) = search_bin(
        dir.path(),
        &profile_text("start = \"800/s\"\nceiling = \"2000/s\""),
        "start",
        &[],
    );
    let s = report.search.unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert_eq!(s.verdict, SearchVerdict::StartFails);
    assert_eq!(s.steps.len(), 1);
    assert!(stdout(&out).contains("fails already at the start, 800 req/s"));
}

#[test]
fn the_same_seed_gives_the_same_answer() {
    let dir = tempfile::tempdir().unwrap();
    // Coarse (50 %), with every step 12 % or more from the knee: 150 holds, 450 fails, 300 holds.
    let text =
        profile_text("start = \"150/s\"\nceiling = \"2000/s\"\nfactor = 3\nresolution = 0.5");
    let answers: Vec<(Option<f64>, Option<f64>)> = ["one", "two"]
        .iter()
        .map(|name| {
            let s = search_bin(dir.path(), &text, name, &[]).1.search.unwrap();
            (s.holds, s.breaks)
        })
        .collect();
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[0], (Some(300.0), Some(450.0)));
}

#[test]
fn growing_orgs_finds_how_many_tenants_the_target_carries() {
    let dir = tempfile::tempdir().unwrap();
    // The profile's shape is 2 orgs at 80/s: 40/s per org, so 400/s is 10 orgs.
    let text = profile_text("grow = \"orgs\"\nstart = 2\nceiling = 40").replace(
        "orgs = 2\nsessions = 20\nrate = \"10/s\"",
        "orgs = 2\nsessions = 20\nrate = \"80/s\"",
    );
    let (out, report) = search_bin(dir.path(), &text, "orgs", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let s = report.search.unwrap();
    let (holds, breaks) = (s.holds.unwrap(), s.breaks.unwrap());
    assert!(
        (5.0..=10.0).contains(&holds),
        "holds {holds} orgs: {:?}",
        s.steps
    );
    assert_eq!(breaks - holds, 1.0, "whole orgs bisect down to neighbours");
    for st in &s.steps {
        assert_eq!(st.load, st.load.round(), "a whole number of orgs");
        assert_eq!(st.rate_per_s, 40.0 * st.load, "each org brings its 40/s");
    }
    assert!(
        stdout(&out).contains(&format!("holds {holds} orgs")),
        "{}",
        stdout(&out)
    );
    // Every org of the answer's run fetched its tokens: it had that many orgs.
    let orgs = report.variants[0].refresh.max_in_flight_by_org.len();
    assert_eq!(orgs as f64, holds);
}

/// Sessions of 1 s that call, think 20 ms and call again: once the 4 workers are saturated, each
/// extra session alive is one more call waiting, so the 44 places (4 serving, 40 queued) fill at
/// about 52 sessions alive, which 1 s sessions reach at about 52 arriving per second.
const SESSIONS: &str = r#"
seed = 3
duration = "1s"
[server]
token_ttl = "3600s"
per_token_rate = "0/s"
[server.service.contacts]
workers = 4
service_time = "10ms"
queue = 40
[load]
orgs = 2
sessions = 2000
drain = "3s"
max_in_flight = 5000
[sessions]
arrival = "uniform"
arrival_rate = "5/s"
length = { dist = "fixed", value = "1s" }
think = { dist = "fixed", value = "20ms" }
[search]
grow = "session-rate"
start = "10/s"
ceiling = "400/s"
step = "2s"
settle = "1s"
[thresholds]
"contacts.error_rate" = "< 0.01"
[[variant]]
name = "go"
client = "go-oauth2"
"#;

#[test]
fn growing_the_session_arrival_rate_finds_how_many_sessions_the_target_carries() {
    let dir = tempfile::tempdir().unwrap();
    let (out, report) = search_bin(dir.path(), SESSIONS, "sessions", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let s = report.search.unwrap();
    let holds = s.holds.unwrap();
    // Stated bound: from half the computed knee (a busy machine only lowers it) to 15 % above.
    assert!(
        (26.0..=60.0).contains(&holds),
        "holds {holds}/s: {:?}",
        s.steps
    );
    assert!(s.steps.iter().all(|st| st.mean_sessions.is_some()));
    assert!(stdout(&out).contains("sessions/s ("), "{}", stdout(&out));
    assert!(stdout(&out).contains("sessions alive)"), "{}", stdout(&out));
}

#[test]
fn growing_concurrent_sessions_finds_how_many_the_target_carries() {
    let dir = tempfile::tempdir().unwrap();
    // 20 sessions at 80/s: 4/s each, so 400/s is 100 sessions.
    let text = profile_text("grow = \"sessions\"\nstart = 10\nceiling = 400").replace(
        "orgs = 2\nsessions = 20\nrate = \"10/s\"",
        "orgs = 2\nsessions = 20\nrate = \"80/s\"",
    );
    let (out, report) = search_bin(dir.path(), &text, "pool", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let s = report.search.unwrap();
    let holds = s.holds.unwrap();
    assert!(
        (50.0..=105.0).contains(&holds),
        "holds {holds} sessions: {:?}",
        s.steps
    );
    assert!(s.steps.iter().all(|st| st.rate_per_s == 4.0 * st.load));
    assert!(
        stdout(&out).contains(&format!("holds {holds} sessions;")),
        "{}",
        stdout(&out)
    );
}
