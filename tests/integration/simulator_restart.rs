//! The target killed mid-run and started again on the same port: the calls made while it was down are
//! classified, counted and placed in the time series, the run goes on, and the client recovers once the
//! target is back (with new token state, so old tokens meet 401s and are refreshed).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
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

/// `tokenstorm serve` on `addr`; the URL it prints once it listens.
fn serve(profile: &std::path::Path, addr: &str) -> Option<(Child, String)> {
    let mut child = Command::new(BIN)
        .args(["serve", "--addr", addr])
        .arg(profile)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let line = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find(|l| l.contains("listening on"));
    let url = line.and_then(|l| {
        l.split_whitespace()
            .find(|w| w.starts_with("http://"))
            .map(str::to_owned)
    });
    match url {
        Some(url) => Some((child, url)),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            None
        }
    }
}

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
    let failing_at: Vec<f64> = v
        .timeseries
        .buckets
        .iter()
        .filter(|b| b.contacts[Outcome::ConnectError] + b.contacts[Outcome::Timeout] > 0)
        .map(|b| b.t_s)
        .collect();
    assert!(
        failing_at.iter().all(|t| (1.0..6.0).contains(t)),
        "connection failures only around the outage: {failing_at:?}"
    );
    // Back up: the restarted target knows none of the old tokens; the client refreshes and recovers.
    let recovered: u64 = v
        .timeseries
        .buckets
        .iter()
        .filter(|b| b.t_s >= 6.0)
        .map(|b| b.contacts[Outcome::Ok])
        .sum();
    assert!(recovered > 100, "ok calls after the restart: {recovered}");
    assert!(
        report.notes.iter().any(|n| n.contains("truth")),
        "a served target's truth is not checked, and the report says so: {:?}",
        report.notes
    );
}
