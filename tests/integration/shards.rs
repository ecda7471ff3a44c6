//! Sharded runs: four shard processes against one `tokenstorm serve`, merged, against a single process
//! with the same profile and seed; and `merge` refusing shards that do not belong together.

use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use tokenstorm::report::histogram::{decode, Percentiles};
use tokenstorm::report::model::{Report, VariantReport};

/// Deterministic where it can be: no faults, no rate limits, a coalescing client whose refreshes come
/// well before expiry, so every request succeeds and every org draws exactly one token at a time.
const PROFILE: &str = r#"
name = "sharded"
seed = 11
duration = "3s"
[server]
token_ttl = "2s"
per_token_rate = "0/s"
[load]
orgs = 10
sessions = 40
partners = 2
rate = "150/s"
drain = "3s"
[[variant]]
name = "coalesced"
client = { token_scope = "org", trigger = "margin", margin = "1s", coalesce = "single-flight" }
"#;

const BIN: &str = env!("CARGO_BIN_EXE_tokenstorm");

/// `tokenstorm serve` on a free loopback port, and its base URL once it listens.
fn spawn_serve(profile: &Path) -> (Child, String) {
    let mut child = Command::new(BIN)
        .args(["serve", "--addr", "127.0.0.1:0"])
        .arg(profile)
        .stdout(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let line = BufReader::new(stdout)
        .lines()
        .map(|l| l.expect("text"))
        .find(|l| l.contains("listening on"))
        .expect("serve says where it listens");
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("a URL in the line")
        .to_owned();
    (child, url)
}

fn run(profile: &Path, out: &Path, extra: &[&str]) -> std::process::Child {
    Command::new(BIN)
        .arg("run")
        .arg(profile)
        .arg("--out")
        .arg(out)
        .arg("--quiet")
        .args(extra)
        .stdout(Stdio::null())
        .spawn()
        .expect("the binary starts")
}

fn merge(shards: &[PathBuf], out: &Path) -> Output {
    Command::new(BIN)
        .arg("merge")
        .args(shards)
        .arg("--out")
        .arg(out)
        .output()
        .expect("the binary starts")
}

fn load(dir: &Path) -> Report {
    tokenstorm::report::load(&dir.join("report.json")).expect("a valid report")
}

fn histogram(text: Option<&String>) -> Histogram<u64> {
    decode(text.expect("histogram present")).expect("histogram decodes")
}

/// The union of the shards' histograms, added here independently of `merge`.
fn union(
    shards: &[&VariantReport],
    pick: impl Fn(&VariantReport) -> Option<&String>,
) -> Histogram<u64> {
    let mut sum = tokenstorm::metrics::latency::new_histogram();
    for v in shards {
        if let Some(text) = pick(v) {
            sum.add(decode(text).unwrap()).unwrap();
        }
    }
    sum
}

/// Percentiles and counts exactly; the mean up to its last bit, which reading JSON may round.
fn same_percentiles(a: &Percentiles, b: &Percentiles) {
    let exact = |p: &Percentiles| (p.count, p.p50, p.p90, p.p99, p.p999, p.max);
    assert_eq!(exact(a), exact(b));
    assert!(
        (a.mean - b.mean).abs() <= 1e-9 * b.mean.abs().max(1.0),
        "{a:?} vs {b:?}"
    );
}

#[test]
fn four_shards_merged_equal_one_process() {
    let dir = tempfile::tempdir().unwrap();
    let profile = super::support::write_profile(dir.path(), PROFILE);
    four_shards_and_one_process_run_together(dir.path(), &profile);
    let merged = merge_the_shards(dir.path());
    let single = load(&dir.path().join("single"));
    let shards: Vec<Report> = (0..4)
        .map(|i| load(&dir.path().join(format!("shard-{i}"))))
        .collect();
    assert_eq!(merged.merged_shards, Some(4));
    assert!(merged
        .notes
        .iter()
        .any(|n| n.contains("truth cross-check was skipped")));

    let (m, s) = (&merged.variants[0], &single.variants[0]);
    let parts: Vec<&VariantReport> = shards.iter().map(|r| &r.variants[0]).collect();
    every_shard_sends_its_share(&shards, &parts, m, s);
    the_same_arrivals_and_outcomes(m, s);
    tenant_views_merge_exactly(m, s);
    arrivals_line_up_by_wall_clock(m, s);
    percentiles_are_those_of_the_union(&parts, m, s);
    per_org_contention_carries_over(&parts, m, s);
}

/// Four shards against one served target and a single process against another, all starting
/// together a moment from now.
fn four_shards_and_one_process_run_together(dir: &Path, profile: &Path) {
    let (mut shared, shared_url) = spawn_serve(profile);
    let (mut alone, alone_url) = spawn_serve(profile);
    let start = time::OffsetDateTime::now_utc() + time::Duration::seconds(2);
    let start = tokenstorm::report::rfc3339(start);
    let mut children: Vec<_> = (0..4)
        .map(|i| {
            let shard = format!("{i}/4");
            let out = dir.join(format!("shard-{i}"));
            let args = [
                "--shard",
                &shard,
                "--start-at",
                &start,
                "--target-url",
                &shared_url,
            ];
            run(profile, &out, &args)
        })
        .collect();
    let args = ["--start-at", start.as_str(), "--target-url", &alone_url];
    children.push(run(profile, &dir.join("single"), &args));
    for mut child in children {
        assert!(child.wait().unwrap().success(), "every run exits 0");
    }
    let _ = shared.kill();
    let _ = alone.kill();
    let _ = (shared.wait(), alone.wait());
}

fn merge_the_shards(dir: &Path) -> Report {
    let shard_files: Vec<PathBuf> = (0..4)
        .map(|i| dir.join(format!("shard-{i}/report.json")))
        .collect();
    let merged_out = merge(&shard_files, &dir.join("merged"));
    assert!(
        merged_out.status.success(),
        "merge: {}",
        String::from_utf8_lossy(&merged_out.stderr)
    );
    load(&dir.join("merged"))
}

fn every_shard_sends_its_share(
    shards: &[Report],
    parts: &[&VariantReport],
    m: &VariantReport,
    s: &VariantReport,
) {
    for v in parts {
        assert!(
            v.requests.scheduled > 0,
            "every shard sends some of the load"
        );
        assert!(v.requests.scheduled < s.requests.scheduled);
    }
    let shares: f64 = shards.iter().map(|r| r.shard.as_ref().unwrap().share).sum();
    assert!((shares - 1.0).abs() < 1e-9, "shares add to 1: {shares}");
    assert!((m.rate_per_s - s.rate_per_s).abs() < 1e-6);
}

/// The workload is deterministic: the same arrivals, the same outcomes, exactly.
fn the_same_arrivals_and_outcomes(m: &VariantReport, s: &VariantReport) {
    assert!(s.requests.scheduled >= 400, "{}", s.requests.scheduled);
    assert_eq!(m.requests.scheduled, s.requests.scheduled);
    assert_eq!(m.requests.sent, s.requests.sent);
    assert_eq!(m.requests.dropped, 0);
    assert_eq!(m.requests.outcomes, s.requests.outcomes);
    assert_eq!(m.endpoints.contacts.outcomes, s.endpoints.contacts.outcomes);
    assert_eq!(m.endpoints.token.outcomes, s.endpoints.token.outcomes);
    assert_eq!(m.endpoints.token.requests, 10, "one first token per org");
    assert!(m.conservation.ok);
}

/// Each call in one view, the same per-org counts as one process.
fn tenant_views_merge_exactly(m: &VariantReport, s: &VariantReport) {
    let views = |v: &VariantReport| -> u64 {
        v.tenants.top.iter().map(|o| o.calls).sum::<u64>() + v.tenants.other.calls
    };
    assert_eq!(views(m), m.endpoints.contacts.requests);
    assert!(m.tenants.top.len() as u32 <= m.tenants.top_limit);
    let by_org = |v: &VariantReport| -> BTreeMap<Option<u32>, u64> {
        v.tenants.top.iter().map(|o| (o.org, o.calls)).collect()
    };
    assert_eq!(by_org(m), by_org(s), "the busiest orgs and their calls");
}

/// Arrivals are bucketed by their intended time, which the shards share with the single run.
fn arrivals_line_up_by_wall_clock(m: &VariantReport, s: &VariantReport) {
    let scheduled = |v: &VariantReport| -> Vec<u64> {
        v.timeseries.buckets.iter().map(|b| b.scheduled).collect()
    };
    let (mut ms, mut ss) = (scheduled(m), scheduled(s));
    // Trailing buckets hold whatever ended late (timing, not schedule): compare at equal length.
    let len = ms.len().max(ss.len());
    ms.resize(len, 0);
    ss.resize(len, 0);
    assert_eq!(ms, ss, "per-second arrivals line up by wall clock");
}

/// Percentiles of the merged histogram are those of the union of the shards' histograms.
fn percentiles_are_those_of_the_union(
    parts: &[&VariantReport],
    m: &VariantReport,
    s: &VariantReport,
) {
    let requests = union(parts, |v| v.requests.latency_histogram.as_ref());
    assert_eq!(histogram(m.requests.latency_histogram.as_ref()), requests);
    same_percentiles(&m.requests.latency_ms, &Percentiles::of(Some(&requests)));
    assert_eq!(m.requests.latency_ms.count, s.requests.latency_ms.count);
    let contacts = union(parts, |v| v.endpoints.contacts.histograms.get("ok"));
    same_percentiles(
        &m.endpoints.contacts.latency_ms,
        &Percentiles::of(Some(&contacts)),
    );
    assert_eq!(
        histogram(m.endpoints.contacts.histograms.get("ok")),
        contacts
    );
}

/// Each org in exactly one shard, its maximum carried over, the same as alone.
fn per_org_contention_carries_over(parts: &[&VariantReport], m: &VariantReport, s: &VariantReport) {
    let mut by_org: BTreeMap<String, u64> = BTreeMap::new();
    for v in parts {
        for (org, max) in &v.refresh.max_in_flight_by_org {
            assert!(
                by_org.insert(org.clone(), *max).is_none(),
                "org {org} in two shards"
            );
        }
    }
    assert_eq!(m.refresh.max_in_flight_by_org, by_org);
    assert_eq!(
        m.refresh.max_in_flight_by_org,
        s.refresh.max_in_flight_by_org
    );
    assert_eq!(m.refresh.max_in_flight_by_org.len(), 10);
    assert_eq!(m.refresh.per_generation_max, 1);
    assert_eq!(s.refresh.per_generation_max, 1);
    assert_eq!(
        m.refresh.invalid_grant_by_org,
        s.refresh.invalid_grant_by_org
    );
}

#[test]
fn bad_shard_flags_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let profile = super::support::write_profile(dir.path(), PROFILE);
    let cases: [(&[&str], &str); 6] = [
        (&["--shard", "4/4"], "INDEX 4 is not below COUNT 4"),
        (&["--shard", "1of4"], "INDEX/COUNT"),
        (&["--shard", "auto/4"], "JOB_COMPLETION_INDEX is not set"),
        (&["--shard", "0/9"], "8 org groups"),
        (&["--start-at", "tomorrow"], "not an RFC 3339 time"),
        (&["--target-url", "not a url"], "not a url"),
    ];
    for (args, needle) in cases {
        let out = Command::new(BIN)
            .arg("run")
            .arg(&profile)
            .arg("--out")
            .arg(dir.path().join("out"))
            .args(args)
            .env_remove(tokenstorm::plan::shard::INDEX_ENV)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(needle),
            "{args:?}: `{needle}` not in {stderr}"
        );
    }
    // The index from the environment, as in a Kubernetes Indexed Job, and out of range there.
    let out = Command::new(BIN)
        .arg("run")
        .arg(&profile)
        .args(["--shard", "auto/4", "--out"])
        .arg(dir.path().join("out"))
        .env(tokenstorm::plan::shard::INDEX_ENV, "7")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("INDEX 7 is not below COUNT 4"));
}
