//! `compare` with statistics: the same client model under two seeds is "no significant change"; a
//! naive client against a coalescing one is a significant improvement in the 401 rate, with the
//! confidence intervals in compare.json.

use super::support::{run_profile, write_profile};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_tokenstorm");

const PROFILE: &str = r#"
seed = SEED
duration = "12s"
[server]
token_ttl = "1s"
per_token_rate = "0/s"
# Exact expiry: with whole-second `exp` a 1 s token lives from 0 to 1 s depending on where in the
# wall-clock second it was issued, so two runs' storms differ for real, not by the seed's chance.
expiry_precision = "exact"
[server.faults.token]
latency = "100ms"
[load]
orgs = 4
sessions = 80
rate = "200/s"
[[variant]]
name = "naive"
client = "naive"
[[variant]]
name = "coalesced"
client = { token_scope = "org", trigger = "margin", margin = "500ms", coalesce = "single-flight" }
"#;

fn compare(
    base: &std::path::Path,
    candidate: &std::path::Path,
    variants: &[&str],
) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(BIN);
    cmd.arg("compare")
        .arg(base)
        .arg(candidate)
        .arg("--out")
        .arg(dir.path());
    for v in variants {
        cmd.args(["--variant", v]);
    }
    let out = cmd.arg("--fail-on-regression").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        stdout.contains("significance at 95% confidence"),
        "{stdout}"
    );
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("compare.json")).unwrap())
            .unwrap();
    json["exit"] = out.status.code().into();
    json["table"] = stdout.into();
    json
}

fn test<'a>(json: &'a serde_json::Value, metric: &str) -> &'a serde_json::Value {
    json["significance"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["metric"] == metric)
        .unwrap_or_else(|| panic!("no test of {metric}: {}", json["table"]))
}

#[test]
fn same_model_two_seeds_is_noise_and_coalescing_is_a_real_improvement() {
    let one = run_profile(&PROFILE.replace("SEED", "1"));
    // The second run needs only the naive client.
    let naive_only = PROFILE
        .split("[[variant]]\nname = \"coalesced\"")
        .next()
        .unwrap_or(PROFILE);
    let two = run_profile(&naive_only.replace("SEED", "2"));
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.json"), dir.path().join("b.json"));
    std::fs::copy(&one.report_path, &a).unwrap();
    std::fs::copy(&two.report_path, &b).unwrap();
    let _ = write_profile;

    // The naive client under seeds 1 and 2: its 401 storms are the same size up to chance. (Their
    // latencies may still differ for real: two runs at different moments share no machine state.)
    let same = compare(&a, &b, &["naive"]);
    let rate = test(&same, "contacts.unauthorized_rate");
    assert_eq!(
        rate["verdict"], "no significant change",
        "{}",
        same["table"]
    );
    assert!(rate["p_value"].as_f64().unwrap() > 0.05);
    assert_eq!(
        test(&same, "refresh.invalid_grant_rate")["verdict"],
        "no significant change"
    );

    // Naive against coalesced in one run (same seed, same schedule): the 401 rate really improved.
    let ab = compare(&a, &a, &["naive", "coalesced"]);
    let rate = test(&ab, "contacts.unauthorized_rate");
    assert_eq!(rate["verdict"], "improved", "{}", ab["table"]);
    assert!(rate["p_value"].as_f64().unwrap() < 0.01, "{rate}");
    let p99 = test(&ab, "contacts.p99_ms");
    let (lo, hi) = (
        p99["diff_low"].as_f64().unwrap(),
        p99["diff_high"].as_f64().unwrap(),
    );
    assert!(lo <= hi, "an interval: {p99}");
    let distribution = test(&ab, "contacts.latency_distribution");
    let a_effect = distribution["effect_a"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&a_effect), "{distribution}");
    // Per-phase tests are there for the phases both sides have.
    test(&ab, "contacts[fresh].p99_ms");
    assert_eq!(ab["confidence"], 0.95);
}
