//! The target killed mid-run and started again on the same port: the calls made while it was down are
//! classified, counted and placed in the time series, the run goes on, and the client recovers once the
//! target is back (with new token state, so old tokens meet 401s and are refreshed).

use super::served::serve;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tokenstorm::report::model::Report;
use tokenstorm::vocabulary::Outcome;

const BIN: &str = env!("CARGO_BIN_EXE_tokenstorm");

const PROFILE: &str = r#"
seed = 5
duration = "8s"
[server]
token_ttl = "60s"
per_token_rate = "0/s"
[load]
orgs = 2
sessions = 20
rate = "100/s"
request_timeout = "1s"
drain = "2s"
[[variant]]
name = "v"
client = { token_scope = "org", trigger = "margin", margin = "5s", coalesce = "single-flight", retries_on_401 = 1 }
"#;

#[test]
fn a_target_killed_and_restarted_mid_run_is_measured_and_survived() {
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("restart.toml");
    std::fs::write(&profile, PROFILE).unwrap();
    let (mut first, url) = serve(&profile, "127.0.0.1:0").expect("serve starts");
    let addr = url.trim_start_matches("http://").to_owned();

    let out = dir.path().join("out");
    let mut run = Command::new(BIN)
        .arg("run")
        .arg(&profile)
        .args(["--target-url", &url, "--quiet", "--out"])
        .arg(&out)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    first.kill().unwrap();
    first.wait().unwrap();
    let killed = SystemTime::now();
    std::thread::sleep(Duration::from_millis(1500));
    // The port was just freed; a few tries cover a slow release.
    let mut second = None;
    for _ in 0..20 {
        second = serve(&profile, &addr);
        if second.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let (mut second, _) = second.expect("serve restarts on the same port");
    let restarted = SystemTime::now();
    let status = run.wait().unwrap();
    second.kill().unwrap();
    second.wait().unwrap();
    assert_eq!(status.code(), Some(0), "the run goes on through the outage");

    let text = std::fs::read_to_string(out.join("report.json")).unwrap();
    let report: Report = serde_json::from_str(&text).unwrap();
    let v = &report.variants[0];
    assert!(v.conservation.ok, "{:?}", v.conservation);
    let r = &v.requests;
    assert_eq!(r.scheduled, r.sent + r.dropped);
    assert_eq!(r.sent, r.outcomes.total() + r.unfinished);

    // While the target was down, calls failed to connect (or were reset), and only then.
    let contacts = &v.endpoints.contacts.outcomes;
    let down = contacts[Outcome::ConnectError] + contacts[Outcome::Timeout];
    assert!(down > 20, "about 1.5 s at 100/s went nowhere: {contacts:?}");
    // The outage in the run's own time: its series counts from `started_at`, so the window holds
    // on a machine slow to start the run or the target, where fixed seconds would not.
    let started = OffsetDateTime::parse(&v.started_at, &Rfc3339).expect("started_at is RFC 3339");
    let at = |t: SystemTime| (OffsetDateTime::from(t) - started).as_seconds_f64();
    let (down_from, down_until) = (at(killed), at(restarted));
    // A call sent just before the kill fails when the kill breaks it (bucket start up to 1 s
    // earlier); one sent just before the restart fails after up to request_timeout (1 s).
    let window = (down_from - 1.0).floor()..down_until + 2.0;
    let failing_at: Vec<f64> = v
        .timeseries
        .buckets
        .iter()
        .filter(|b| b.contacts[Outcome::ConnectError] + b.contacts[Outcome::Timeout] > 0)
        .map(|b| b.t_s)
        .collect();
    assert!(
        !failing_at.is_empty() && failing_at.iter().all(|t| window.contains(t)),
        "connection failures only around the outage {window:?}: {failing_at:?}"
    );
    // Back up: the restarted target knows none of the old tokens; the client refreshes and recovers:
    // from a second after the restart on, most calls succeed again.
    let after: Vec<_> = v
        .timeseries
        .buckets
        .iter()
        .filter(|b| b.t_s >= down_until + 1.0)
        .collect();
    let ok: u64 = after.iter().map(|b| b.contacts[Outcome::Ok]).sum();
    let all: u64 = after.iter().map(|b| b.contacts.total()).sum();
    assert!(
        all > 0 && ok * 2 > all,
        "after the restart (at {down_until:.1} s) {ok} of {all} calls were ok"
    );
    assert!(
        report.notes.iter().any(|n| n.contains("truth")),
        "a served target's truth is not checked, and the report says so: {:?}",
        report.notes
    );
}
