//! `tokenstorm merge` refusing shard reports that do not belong together: other profiles or seeds,
//! missing or duplicate shards, corrupt histograms; each a clear error and exit code 2.

use std::path::{Path, PathBuf};
use std::process::Command;
use tokenstorm::app::{self, RunOptions, Signals};
use tokenstorm::plan::{Overrides, Shard};
use tokenstorm::vocabulary::Outcome;

const BIN: &str = env!("CARGO_BIN_EXE_tokenstorm");

const PROFILE: &str = r#"
duration = "1s"
[server]
per_token_rate = "0/s"
[server.messaging]
max_text_bytes = 2000
[load]
orgs = 4
sessions = 8
rate = "40/s"
drain = "2s"
# Each shard schedules about 20: only the merged numbers can pass this.
[thresholds]
"requests.scheduled" = "> 30"
[[variant]]
name = "a"
client = "naive"
"#;

/// Runs shards 0/2 and 1/2 in process, each against its own embedded target; returns their reports.
fn two_shards(dir: &Path) -> [PathBuf; 2] {
    let profile = super::support::write_profile(dir, PROFILE);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    [0, 1].map(|index| {
        let options = RunOptions {
            profile: profile.clone(),
            out: Some(dir.join(format!("shard-{index}"))),
            overrides: Overrides {
                shard: Some(Shard { index, count: 2 }),
                ..Default::default()
            },
            progress: false,
            announce: false,
            telemetry: Default::default(),
        };
        let done = runtime
            .block_on(app::run(options, Signals::none()))
            .unwrap_or_else(|e| panic!("shard {index}: {e}"));
        done.report_path
    })
}

/// `merge` on these files must fail with exit code 2 and a message containing every `needle`.
fn refused(files: &[&Path], needles: &[&str]) {
    let out = Command::new(BIN)
        .arg("merge")
        .args(files)
        .arg("--out")
        .arg(files[0].with_file_name("merged"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "`{needle}` not in: {stderr}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// The lens on the issuer's clock adds across shards as the other lens does (the embedded target's
/// tokens are JWTs), and a shard written before it existed adds nothing to it.
fn claim_lens_merges_exactly(dir: &Path, a: &Path, b: &Path) {
    let merged = tokenstorm::report::load(&dir.join("merged/report.json")).unwrap();
    let shards = [a, b].map(|p| tokenstorm::report::load(p).unwrap());
    let v = &merged.variants[0];
    let sum: u64 = shards
        .iter()
        .map(|r| claim_lens_total(&r.variants[0]))
        .sum();
    assert!(claim_lens_total(v) > 0, "{:?}", v.expiry_lens_by_claim);
    assert_eq!(claim_lens_total(v), sum);
    let older = edited(a, "older.json", |v| {
        if let Some(variant) = v["variants"][0].as_object_mut() {
            variant.remove("expiry_lens_by_claim");
        }
    });
    let out = Command::new(BIN)
        .arg("merge")
        .args([older.as_path(), b])
        .arg("--out")
        .arg(dir.join("merged-older"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let with_older = tokenstorm::report::load(&dir.join("merged-older/report.json")).unwrap();
    assert_eq!(
        claim_lens_total(&with_older.variants[0]),
        claim_lens_total(&tokenstorm::report::load(b).unwrap().variants[0])
    );
}

/// Every call placed on the lens by `exp` claim, inside its bins or outside them.
fn claim_lens_total(v: &tokenstorm::report::model::VariantReport) -> u64 {
    v.expiry_lens_by_claim.as_ref().map_or(0, |l| {
        l.bins.iter().map(|b| b.outcomes.total()).sum::<u64>() + l.before.total() + l.after.total()
    })
}

/// A copy of `file` with one edit to its JSON.
fn edited(file: &Path, name: &str, edit: impl FnOnce(&mut serde_json::Value)) -> PathBuf {
    let mut value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    edit(&mut value);
    let path = file.with_file_name(name);
    std::fs::write(&path, serde_json::to_string(&value).unwrap()).unwrap();
    path
}

#[test]
fn merge_joins_shards_with_their_own_targets_and_their_truth() {
    let dir = tempfile::tempdir().unwrap();
    let [a, b] = two_shards(dir.path());
    // In either order: the merge sorts by index.
    let out = Command::new(BIN)
        .arg("merge")
        .args([&b, &a])
        .arg("--out")
        .arg(dir.path().join("merged"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let merged = tokenstorm::report::load(&dir.path().join("merged/report.json")).unwrap();
    let shards = [&a, &b].map(|p| tokenstorm::report::load(p).unwrap());
    // The shards ran one profile: its target's settings, the socket endpoint's too, carry over.
    assert_eq!(merged.server, shards[0].server);
    let socket = merged.server.as_ref().and_then(|s| s.messaging.as_ref());
    assert_eq!(socket.map(|m| m.max_text_bytes), Some(2000));
    let v = &merged.variants[0];
    let sum = |f: fn(&tokenstorm::report::model::VariantReport) -> u64| {
        shards.iter().map(|r| f(&r.variants[0])).sum::<u64>()
    };
    assert_eq!(v.requests.scheduled, sum(|v| v.requests.scheduled));
    assert_eq!(v.requests.scheduled, 40, "the whole 1 s at 40/s");
    assert_eq!(
        v.endpoints.contacts.requests,
        sum(|v| v.endpoints.contacts.requests)
    );
    // Expiry-lens bins add by offset; refresh herds add by size; per-org maxima carry over.
    let lens_total = |v: &tokenstorm::report::model::VariantReport| -> u64 {
        v.expiry_lens.bins.iter().map(|b| b.outcomes.total()).sum()
    };
    assert_eq!(lens_total(v), sum(lens_total));
    claim_lens_merges_exactly(dir.path(), &a, &b);
    assert_eq!(v.refresh.generations, sum(|v| v.refresh.generations));
    assert_eq!(v.refresh.waits, sum(|v| v.refresh.waits));
    let mut by_org = std::collections::BTreeMap::new();
    for r in &shards {
        by_org.extend(r.variants[0].refresh.max_in_flight_by_org.clone());
    }
    assert_eq!(v.refresh.max_in_flight_by_org, by_org);
    assert_eq!(by_org.len(), 4, "every org refreshed in one of the shards");
    assert_eq!(
        v.refresh.max_in_flight_per_org,
        by_org.values().copied().max().unwrap()
    );
    let truth = v
        .truth
        .as_ref()
        .expect("each shard had its own embedded target");
    assert!(truth.ok, "{:?}", truth.checks);
    assert_eq!(
        truth.server["contacts.ok"],
        v.endpoints.contacts.outcomes[Outcome::Ok]
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("== a"));

    // Thresholds are judged on the merged numbers, not the shards'.
    assert!(shards.iter().all(|r| r.passed == Some(false)));
    assert_eq!(merged.passed, Some(true), "{:?}", merged.thresholds);
    assert_eq!(merged.thresholds[0].observed, Some(40.0));
    let stricter = edited(&a, "stricter.json", |v| {
        v["thresholds"][0]["condition"] = "> 50".into()
    });
    let out = Command::new(BIN)
        .arg("merge")
        .args([&stricter, &b])
        .arg("--out")
        .arg(dir.path().join("merged-strict"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "a failed threshold exits 1, as `run` does"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("FAIL: 1 of 1 thresholds failed"));
}

#[test]
fn merge_refuses_missing_and_duplicate_shards() {
    let dir = tempfile::tempdir().unwrap();
    let [a, b] = two_shards(dir.path());
    refused(&[&a], &["shard 1 of 2 missing"]);
    refused(&[&a, &a], &["shard 0 appears twice"]);
    let again = edited(&b, "b-again.json", |_| {});
    refused(
        &[&a, &b, &again],
        &["shard 1 appears twice", "b-again.json"],
    );
    let unsharded = edited(&a, "plain.json", |v| v["shard"] = serde_json::Value::Null);
    refused(&[&unsharded, &b], &["plain.json", "not a shard report"]);
    let three = edited(&b, "of-three.json", |v| v["shard"]["count"] = 3.into());
    refused(&[&a, &three], &["of-three.json", "shard 1 of 3"]);
    let nothing = dir.path().join("nowhere.json");
    refused(&[&a, &nothing], &["cannot read report", "nowhere.json"]);
}

#[test]
fn merge_refuses_other_profiles_and_seeds() {
    let dir = tempfile::tempdir().unwrap();
    let [a, b] = two_shards(dir.path());
    let other = edited(&b, "other.json", |v| {
        v["profile"]["hash"] = "0123456789abcdef".into()
    });
    refused(
        &[&a, &other],
        &["other.json", "another profile", "0123456789abcdef"],
    );
    let seed = edited(&b, "seed.json", |v| v["profile"]["seed"] = 99.into());
    refused(&[&a, &seed], &["seed.json", "seed 99"]);
    let shorter = edited(&b, "short.json", |v| {
        v["variants"][0]["planned_duration_s"] = 0.5.into()
    });
    refused(&[&a, &shorter], &["short.json", "variants"]);
}

#[test]
fn merge_refuses_corrupt_histogram_data() {
    let dir = tempfile::tempdir().unwrap();
    let [a, b] = two_shards(dir.path());
    let not_base64 = edited(&b, "garbled.json", |v| {
        v["variants"][0]["endpoints"]["contacts"]["histograms"]["ok"] = "not base64!".into()
    });
    refused(
        &[&a, &not_base64],
        &["garbled.json", "endpoints.contacts.histograms.ok", "base64"],
    );
    let truncated = edited(&b, "truncated.json", |v| {
        v["variants"][0]["requests"]["latency_histogram"] = "HISTFAAAAB0=".into()
    });
    refused(
        &[&a, &truncated],
        &["truncated.json", "requests.latency_histogram", "corrupt"],
    );
}

#[test]
fn merge_aligns_time_series_by_wall_clock() {
    let dir = tempfile::tempdir().unwrap();
    let [a, b] = two_shards(dir.path());
    let load = |p: &Path| tokenstorm::report::load(p).unwrap();
    let (ra, rb) = (load(&a), load(&b));
    // Shard 1 as if it had started 2 s after shard 0 (no --start-at, a slow pod).
    let start = time::OffsetDateTime::parse(
        &ra.variants[0].started_at,
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let later = tokenstorm::report::rfc3339(start + time::Duration::milliseconds(2_100));
    let shifted = edited(&b, "late.json", |v| {
        v["variants"][0]["started_at"] = later.clone().into()
    });
    let out = Command::new(BIN)
        .arg("merge")
        .args([&a, &shifted])
        .arg("--out")
        .arg(dir.path().join("merged"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let merged = load(&dir.path().join("merged/report.json"));
    let scheduled = |r: &tokenstorm::report::model::Report, j: usize| {
        r.variants[0]
            .timeseries
            .buckets
            .get(j)
            .map_or(0, |b| b.scheduled)
    };
    let buckets = &merged.variants[0].timeseries.buckets;
    assert!(buckets.len() >= rb.variants[0].timeseries.buckets.len() + 2);
    for (j, bucket) in buckets.iter().enumerate() {
        let from_b = j.checked_sub(2).map_or(0, |k| scheduled(&rb, k));
        assert_eq!(bucket.scheduled, scheduled(&ra, j) + from_b, "bucket {j}");
        assert_eq!(bucket.t_s, j as f64);
    }
    assert_eq!(merged.variants[0].started_at, ra.variants[0].started_at);
    assert!(merged.variants[0].elapsed_s >= rb.variants[0].elapsed_s + 2.0);
}

/// Merges `files` into `dir/name` and reads the merged report.
fn merged(dir: &Path, name: &str, files: &[&Path]) -> tokenstorm::report::model::Report {
    let out = Command::new(BIN)
        .arg("merge")
        .args(files)
        .arg("--out")
        .arg(dir.join(name))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    tokenstorm::report::load(&dir.join(name).join("report.json")).unwrap()
}

#[test]
fn stale_connection_resends_add_across_shards() {
    let dir = tempfile::tempdir().unwrap();
    let [a, b] = two_shards(dir.path());
    let set = |file: &Path, name: &str, n: u64| {
        edited(file, name, |v| {
            v["variants"][0]["endpoints"]["contacts"]["stale_connection_resends"] = n.into()
        })
    };
    let (a3, b4) = (set(&a, "a3.json", 3), set(&b, "b4.json", 4));
    let both = merged(dir.path(), "both", &[&a3, &b4]);
    let e = &both.variants[0].endpoints;
    assert_eq!(e.contacts.stale_connection_resends, Some(7));
    // The embedded target keeps idle connections open: nothing else was resent.
    assert_eq!(e.token.stale_connection_resends, Some(0));
    // A shard written before the count existed leaves the merged count unknown, not understated.
    let older = edited(&a3, "older.json", |v| {
        if let Some(c) = v["variants"][0]["endpoints"]["contacts"].as_object_mut() {
            c.remove("stale_connection_resends");
        }
    });
    let mixed = merged(dir.path(), "mixed", &[&older, &b4]);
    assert_eq!(
        mixed.variants[0]
            .endpoints
            .contacts
            .stale_connection_resends,
        None
    );
}
