//! The Kubernetes manifests under deploy/kubernetes/, checked without a cluster: every object passes
//! Kubernetes' own OpenAPI schemas (PyPI's `kubernetes-validate`, which ships them, so no cluster and
//! no download), every reference between objects resolves, and the Indexed Job, its arguments and the
//! merge Job agree on the shards.
//!
//! Without `kubernetes-validate` the schema test skips with a message, unless
//! TOKENSTORM_REQUIRE_KUBERNETES_VALIDATE is set (CI sets it, and .ci/run installs the tool).
//!
//! The optional PodMonitor (shards-podmonitor.yaml) is a custom resource of the Prometheus Operator:
//! kubernetes-validate ships only Kubernetes' own schemas, so it cannot check it (it warns and
//! passes). Its schema check is skipped with that reason, and what it must agree on (the shard
//! pods' labels and metrics port) is checked here instead.

use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use tokenstorm::plan::{self, Overrides, Shard};

const DIR: &str = "deploy/kubernetes";

/// Every document of every YAML file, keyed by `Kind/name`.
fn objects() -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    let mut files: Vec<_> = std::fs::read_dir(DIR)
        .expect("deploy/kubernetes exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "manifests: {files:?}");
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for doc in yaml_serde::Deserializer::from_str(&text) {
            let value = Value::deserialize(doc)
                .unwrap_or_else(|e| panic!("{}: not valid YAML: {e}", file.display()));
            let kind = value["kind"].as_str().expect("every object has a kind");
            let name = value["metadata"]["name"].as_str().expect("and a name");
            assert!(value["apiVersion"].is_string(), "{kind}/{name}: apiVersion");
            let key = format!("{kind}/{name}");
            assert!(out.insert(key.clone(), value).is_none(), "{key} twice");
        }
    }
    out
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// The argument after `flag` in a container's args.
fn arg<'a>(args: &[&'a str], flag: &str) -> &'a str {
    let at = args
        .iter()
        .position(|a| *a == flag)
        .unwrap_or_else(|| panic!("no {flag}"));
    args[at + 1]
}

/// Checks a pod template's references: mounts name volumes, volumes name existing claims and
/// ConfigMaps, env refers to existing keys and Secrets. Returns mount path by claim name.
fn check_pod(all: &BTreeMap<String, Value>, owner: &str, pod: &Value) -> BTreeMap<String, String> {
    let volumes: BTreeMap<&str, &Value> = pod["volumes"]
        .as_array()
        .map(|vs| {
            vs.iter()
                .map(|v| (v["name"].as_str().unwrap(), v))
                .collect()
        })
        .unwrap_or_default();
    let mut claims = BTreeMap::new();
    for c in pod["containers"].as_array().expect("containers") {
        assert_eq!(c["image"], "tokenstorm:latest", "{owner}");
        for m in c["volumeMounts"].as_array().into_iter().flatten() {
            let name = m["name"].as_str().unwrap();
            let volume = volumes
                .get(name)
                .unwrap_or_else(|| panic!("{owner}: mount {name} has no volume"));
            if let Some(claim) = volume["persistentVolumeClaim"]["claimName"].as_str() {
                assert!(
                    all.contains_key(&format!("PersistentVolumeClaim/{claim}")),
                    "{owner}: {claim}"
                );
                claims.insert(
                    claim.to_owned(),
                    m["mountPath"].as_str().unwrap().to_owned(),
                );
            }
            if let Some(cm) = volume["configMap"]["name"].as_str() {
                assert!(
                    all.contains_key(&format!("ConfigMap/{cm}")),
                    "{owner}: {cm}"
                );
            }
        }
        for e in c["env"].as_array().into_iter().flatten() {
            let r = &e["valueFrom"]["configMapKeyRef"];
            if let Some(cm) = r["name"].as_str() {
                let key = r["key"].as_str().unwrap();
                let data = &all[&format!("ConfigMap/{cm}")]["data"];
                assert!(
                    data[key].is_string(),
                    "{owner}: ConfigMap {cm} has no key {key}"
                );
            }
        }
        for e in c["envFrom"].as_array().into_iter().flatten() {
            if let Some(s) = e["secretRef"]["name"].as_str() {
                let secret = &all[&format!("Secret/{s}")];
                let env = tokenstorm::app::serve::SECRET_ENV;
                assert!(
                    secret["stringData"][env].is_string(),
                    "{owner}: {s} lacks {env}"
                );
            }
        }
    }
    claims
}

#[test]
fn kubernetes_manifests_agree_with_each_other_and_the_cli() {
    let all = objects();
    every_kind_is_there(&all);
    let shards = shard_job_is_indexed_with_one_pod_per_shard(&all);
    target_is_the_service_the_shards_name(&all, &shards.target_url);
    merge_job_reads_exactly_the_shards_reports(&all, &shards);
    profile_splits_into_the_shards(&all, shards.completions);
    start_at_is_rfc_3339(&all);
    image_is_from_scratch();
    shards_are_scraped(&all);
}

/// The shard pods serve live metrics on a named port, the prometheus.io annotations name that
/// port and path, and the PodMonitor selects exactly the shard pods on it.
fn shards_are_scraped(all: &BTreeMap<String, Value>) {
    let template = &all["Job/tokenstorm-shards"]["spec"]["template"];
    let container = &template["spec"]["containers"][0];
    let args = strings(&container["args"]);
    let addr: std::net::SocketAddr = arg(&args, "--metrics-addr")
        .parse()
        .expect("--metrics-addr is an address");
    assert!(
        addr.ip().is_unspecified(),
        "reachable from outside the pod: {addr}"
    );
    assert!(arg(&args, "--metrics-linger")
        .parse::<humantime::Duration>()
        .is_ok());
    let port = container["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == "metrics")
        .expect("a port named metrics");
    assert_eq!(port["containerPort"].as_u64(), Some(u64::from(addr.port())));
    let notes = &template["metadata"]["annotations"];
    assert_eq!(notes["prometheus.io/scrape"], "true");
    assert_eq!(notes["prometheus.io/port"], addr.port().to_string());
    assert_eq!(notes["prometheus.io/path"], "/metrics");
    let monitor = &all["PodMonitor/tokenstorm-shards"];
    assert_eq!(monitor["apiVersion"], "monitoring.coreos.com/v1");
    let labels = &template["metadata"]["labels"];
    let selector = monitor["spec"]["selector"]["matchLabels"]
        .as_object()
        .expect("matchLabels");
    assert!(!selector.is_empty());
    for (k, v) in selector {
        assert_eq!(&labels[k], v, "the PodMonitor selects the shard pods");
    }
    // The target Deployment's pods are not shards: the selector must leave them out.
    let target = &all["Deployment/tokenstorm-target"]["spec"]["template"]["metadata"]["labels"];
    assert!(selector.iter().any(|(k, v)| &target[k] != v));
    let endpoint = &monitor["spec"]["podMetricsEndpoints"][0];
    assert_eq!(endpoint["port"], "metrics");
    assert_eq!(endpoint["path"], "/metrics");
}

fn every_kind_is_there(all: &BTreeMap<String, Value>) {
    for kind in [
        "ConfigMap",
        "Secret",
        "PersistentVolumeClaim",
        "Deployment",
        "Service",
        "Job",
    ] {
        assert!(
            all.keys().any(|k| k.starts_with(&format!("{kind}/"))),
            "no {kind}"
        );
    }
    let pvc = &all["PersistentVolumeClaim/tokenstorm-reports"];
    assert_eq!(strings(&pvc["spec"]["accessModes"]), ["ReadWriteMany"]);
}

/// What the shard Job tells the others: how many shards, where each writes, whom they load.
struct ShardJob {
    completions: u64,
    /// The `--out` folder, with `$(JOB_COMPLETION_INDEX)` in it.
    out: String,
    target_url: String,
    /// Mount path by claim name.
    claims: BTreeMap<String, String>,
}

/// The shard Job: Indexed, one pod per shard, each told its index and the shard count.
fn shard_job_is_indexed_with_one_pod_per_shard(all: &BTreeMap<String, Value>) -> ShardJob {
    let job = &all["Job/tokenstorm-shards"]["spec"];
    assert_eq!(job["completionMode"], "Indexed");
    let completions = job["completions"].as_u64().unwrap();
    assert_eq!(job["parallelism"].as_u64(), Some(completions));
    let pod = &job["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Never");
    let claims = check_pod(all, "shards", pod);
    let container = &pod["containers"][0];
    let args = strings(&container["args"]);
    assert_eq!(args[0], "run");
    assert_eq!(arg(&args, "--shard"), format!("auto/{completions}"));
    let index_env = container["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == plan::shard::INDEX_ENV)
        .expect("the index is declared so that $(JOB_COMPLETION_INDEX) expands");
    assert_eq!(
        index_env["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.annotations['batch.kubernetes.io/job-completion-index']"
    );
    let out = arg(&args, "--out");
    assert!(
        out.contains("$(JOB_COMPLETION_INDEX)"),
        "each shard writes its own folder: {out}"
    );
    assert!(
        arg(&args, "--start-at").starts_with("$("),
        "all shards share one start"
    );
    ShardJob {
        completions,
        out: out.to_owned(),
        target_url: arg(&args, "--target-url").to_owned(),
        claims,
    }
}

/// The shared target is the Service the shards name, on its port.
fn target_is_the_service_the_shards_name(all: &BTreeMap<String, Value>, url: &str) {
    let service = &all["Service/tokenstorm-target"]["spec"];
    let port = service["ports"][0]["port"].as_u64().unwrap();
    assert_eq!(url, format!("http://tokenstorm-target:{port}"));
    let deployment = &all["Deployment/tokenstorm-target"]["spec"];
    let labels = &deployment["template"]["metadata"]["labels"];
    for (k, v) in service["selector"].as_object().unwrap() {
        assert_eq!(&labels[k], v, "the Service selects the target's pods");
    }
    check_pod(all, "target", &deployment["template"]["spec"]);
}

/// The merge Job reads exactly the shards' reports, from the same claim at the same path.
fn merge_job_reads_exactly_the_shards_reports(all: &BTreeMap<String, Value>, shards: &ShardJob) {
    let merge_pod = &all["Job/tokenstorm-merge"]["spec"]["template"]["spec"];
    let merge_claims = check_pod(all, "merge", merge_pod);
    assert_eq!(merge_claims, shards.claims);
    let merge_args = strings(&merge_pod["containers"][0]["args"]);
    assert_eq!(merge_args[0], "merge");
    let reports: Vec<&str> = merge_args[1..]
        .iter()
        .take_while(|a| !a.starts_with("--"))
        .copied()
        .collect();
    let expected: Vec<String> = (0..shards.completions)
        .map(|i| {
            format!(
                "{}/report.json",
                shards
                    .out
                    .replace("$(JOB_COMPLETION_INDEX)", &i.to_string())
            )
        })
        .collect();
    assert_eq!(reports, expected);
}

/// The profile in the ConfigMap is valid, and splits into that many shards.
fn profile_splits_into_the_shards(all: &BTreeMap<String, Value>, completions: u64) {
    let text = all["ConfigMap/tokenstorm-profile"]["data"]["profile.toml"]
        .as_str()
        .unwrap();
    let profile = tokenstorm::profile::parse(text, Path::new("profile.toml"))
        .unwrap_or_else(|e| panic!("the ConfigMap's profile: {e}"));
    let loaded = tokenstorm::profile::Loaded {
        path: "profile.toml".into(),
        name: "distributed".into(),
        profile,
        text: text.to_owned(),
    };
    for index in 0..completions as u32 {
        let overrides = Overrides {
            shard: Some(Shard {
                index,
                count: completions as u32,
            }),
            ..Default::default()
        };
        let plan = plan::build(&loaded, &overrides).unwrap();
        assert!(plan.slice.share() > 0.0);
    }
}

fn start_at_is_rfc_3339(all: &BTreeMap<String, Value>) {
    let start_at = all["ConfigMap/tokenstorm-run"]["data"]["start_at"]
        .as_str()
        .unwrap();
    assert!(
        time::OffsetDateTime::parse(start_at, &time::format_description::well_known::Rfc3339)
            .is_ok(),
        "start_at is RFC 3339: {start_at}"
    );
}

fn image_is_from_scratch() {
    let dockerfile = std::fs::read_to_string("deploy/Dockerfile").unwrap();
    assert!(
        dockerfile.contains("FROM scratch") && dockerfile.contains("ENTRYPOINT [\"/tokenstorm\"]")
    );
}

/// How to run the validator: its script on PATH, or the module of the Python that has it.
fn kubernetes_validate() -> Option<Vec<&'static str>> {
    let candidates = [
        vec!["kubernetes-validate"],
        vec!["python3", "-m", "kubernetes_validate"],
    ];
    let found = candidates.into_iter().find(|cmd| {
        Command::new(cmd[0])
            .args(&cmd[1..])
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("TOKENSTORM_REQUIRE_KUBERNETES_VALIDATE").is_none(),
            "TOKENSTORM_REQUIRE_KUBERNETES_VALIDATE is set but kubernetes-validate is missing \
             (pip install kubernetes-validate)"
        );
        eprintln!(
            "SKIPPED: no kubernetes-validate, so the manifests were not checked against Kubernetes' \
             schemas (pip install kubernetes-validate; CI sets TOKENSTORM_REQUIRE_KUBERNETES_VALIDATE=1)"
        );
    }
    found
}

/// `--strict` also refuses fields the schema does not know: a misspelt key would otherwise be ignored
/// by the API server and silently do nothing.
fn validate(tool: &[&str], files: &[PathBuf]) -> std::process::Output {
    Command::new(tool[0])
        .args(&tool[1..])
        .args(["--strict", "--quiet"])
        .args(files)
        .output()
        .expect("the validator runs")
}

#[test]
fn kubernetes_manifests_pass_kubernetes_schemas() {
    let Some(tool) = kubernetes_validate() else {
        return;
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(DIR)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "{files:?}");
    let out = validate(&tool, &files);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{said}");
    // A schema it lacks is only a warning: accept that for the one custom resource, never for a
    // Kubernetes kind (that would be a misspelt kind or apiVersion passing unchecked).
    let unknown: Vec<&str> = said
        .lines()
        .filter(|l| l.contains("Couldn't find schema"))
        .collect();
    assert!(
        unknown
            .iter()
            .all(|l| l.contains("kind PodMonitor with api version monitoring.coreos.com/v1")),
        "{said}"
    );
    if !unknown.is_empty() {
        eprintln!(
            "SKIPPED: the schema of PodMonitor/tokenstorm-shards (shards-podmonitor.yaml): a \
             Prometheus Operator custom resource, and kubernetes-validate ships only Kubernetes' \
             own schemas; its selector and port are checked by \
             kubernetes_manifests_agree_with_each_other_and_the_cli"
        );
    }

    // The same validator refuses a Job with a misspelt field and a wrong type, so the pass above
    // means something.
    let dir = tempfile::tempdir().unwrap();
    let shards = std::fs::read_to_string(Path::new(DIR).join("shards-job.yaml")).unwrap();
    let broken = dir.path().join("broken.yaml");
    let mangled = shards
        .replacen("completionMode:", "completionMod:", 1)
        .replacen("parallelism:", "parallelism: many\n  x-parallelism:", 1);
    assert_ne!(
        mangled, shards,
        "the shards Job has the fields this check mangles"
    );
    std::fs::write(&broken, mangled).unwrap();
    let out = validate(&tool, &[broken]);
    assert!(!out.status.success(), "a mangled Job must fail validation");
}
