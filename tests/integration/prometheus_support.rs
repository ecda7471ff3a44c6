//! A real Prometheus for the telemetry tests: started on 127.0.0.1 with a temporary data folder and
//! the remote-write receiver on, queried through its HTTP API; and the run those tests make.

use super::prometheus::PROFILE;
use super::support::write_profile;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokenstorm::app::telemetry::TelemetryOptions;
use tokenstorm::app::{self, RunOptions, Signals};
use tokenstorm::report::model::Report;

/// Every wait on Prometheus is bounded by this.
pub(super) const DEADLINE: Duration = Duration::from_secs(60);

pub(super) fn prometheus_or_skip() -> Option<PathBuf> {
    let path = std::env::var_os("TOKENSTORM_PROMETHEUS")
        .map_or_else(|| PathBuf::from("/usr/bin/prometheus"), PathBuf::from);
    if path.is_file() {
        return Some(path);
    }
    assert!(
        std::env::var_os("TOKENSTORM_REQUIRE_PROMETHEUS").is_none(),
        "TOKENSTORM_REQUIRE_PROMETHEUS is set but there is no {} (apt-get install prometheus)",
        path.display()
    );
    eprintln!(
        "SKIPPED: no prometheus at {}, so live telemetry was not checked against one \
         (apt-get install prometheus, or set TOKENSTORM_PROMETHEUS; CI sets TOKENSTORM_REQUIRE_PROMETHEUS=1)",
        path.display()
    );
    None
}

pub(super) fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// A Prometheus on 127.0.0.1 with its own data folder, killed when dropped.
pub(super) struct Prometheus {
    child: Child,
    pub(super) url: String,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    /// Started with the remote-write receiver on, scraping `scrape` every second when given.
    pub(super) fn start(binary: &Path, dir: &Path, scrape: Option<SocketAddr>) -> Prometheus {
        Prometheus::start_with(binary, dir, scrape, &[])
    }

    /// [`Prometheus::start`] with more flags (a feature flag).
    pub(super) fn start_with(
        binary: &Path,
        dir: &Path,
        scrape: Option<SocketAddr>,
        flags: &[&str],
    ) -> Prometheus {
        let mut config =
            String::from("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n");
        if let Some(addr) = scrape {
            config.push_str(&format!(
                "scrape_configs:\n  - job_name: tokenstorm\n    scrape_interval: 1s\n    scrape_timeout: 900ms\n    static_configs:\n      - targets: ['{addr}']\n"
            ));
        }
        let config_path = dir.join("prometheus.yml");
        std::fs::write(&config_path, config).expect("write prometheus.yml");
        let port = free_port();
        let log = std::fs::File::create(dir.join("prometheus.log")).expect("log file");
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--web.enable-remote-write-receiver")
            .args(flags)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start prometheus");
        Prometheus {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    pub(super) async fn ready(&self, client: &reqwest::Client) {
        let until = Instant::now() + DEADLINE;
        loop {
            let answer = client.get(format!("{}/-/ready", self.url)).send().await;
            if answer.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            assert!(
                Instant::now() < until,
                "prometheus not ready within {DEADLINE:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the scrape target has been tried once (up or down): Prometheus syncs new
    /// targets to its scrape loops about 5 s after it starts, and the run must not begin before.
    pub(super) async fn scraping(&self, client: &reqwest::Client) {
        let until = Instant::now() + DEADLINE;
        loop {
            let answer: Option<Value> = match client
                .get(format!("{}/api/v1/targets", self.url))
                .send()
                .await
            {
                Ok(r) => r.json().await.ok(),
                Err(_) => None,
            };
            let health = answer.as_ref().and_then(|a| {
                a["data"]["activeTargets"][0]["health"]
                    .as_str()
                    .map(str::to_owned)
            });
            if health.is_some_and(|h| h != "unknown") {
                return;
            }
            assert!(
                Instant::now() < until,
                "prometheus did not try its target within {DEADLINE:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The `result` of an instant query now.
    pub(super) async fn query(&self, client: &reqwest::Client, promql: &str) -> Vec<Value> {
        self.query_at(client, promql, None).await
    }

    /// The `result` of an instant query at `at` (Unix seconds), or now.
    pub(super) async fn query_at(
        &self,
        client: &reqwest::Client,
        promql: &str,
        at: Option<f64>,
    ) -> Vec<Value> {
        let mut params = vec![("query", promql.to_owned())];
        if let Some(at) = at {
            params.push(("time", format!("{at:.3}")));
        }
        let answer: Value = client
            .get(format!("{}/api/v1/query", self.url))
            .query(&params)
            .send()
            .await
            .expect("query prometheus")
            .json()
            .await
            .expect("prometheus answers JSON");
        assert_eq!(answer["status"], "success", "{promql}: {answer}");
        answer["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

pub(super) fn number(v: &Value) -> f64 {
    v.as_str().and_then(|s| s.parse().ok()).unwrap_or(f64::NAN)
}

pub(super) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

pub(super) async fn run(dir: &Path, telemetry: TelemetryOptions) -> Report {
    run_profile(dir, PROFILE, telemetry).await
}

/// A run of the profile `text` with `telemetry`, its report written under `dir/out`.
pub(super) async fn run_profile(dir: &Path, text: &str, telemetry: TelemetryOptions) -> Report {
    let options = RunOptions {
        profile: write_profile(dir, text),
        out: Some(dir.join("out")),
        overrides: Default::default(),
        progress: false,
        announce: false,
        telemetry,
    };
    app::run(options, Signals::none())
        .await
        .unwrap_or_else(|e| panic!("run failed: {e}"))
        .report
}
