//! The binary as a user meets it: `serve` answering curl-style requests, and `run` stopped by signals.

use super::served::{relay, serve};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_tokenstorm");

const SERVED: &str = r#"
duration = "1s"
[server]
token_ttl = "2s"
[load]
orgs = 2
sessions = 2
rate = "1/s"
[[variant]]
name = "a"
client = "naive"
"#;

/// Reads the child's stream line by line until one contains `needle`, returning that line.
fn wait_for_line(stream: impl std::io::Read, needle: &str) -> String {
    for line in BufReader::new(stream).lines() {
        let line = line.expect("child output is text");
        if line.contains(needle) {
            return line;
        }
    }
    panic!("child ended without printing `{needle}`");
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([name, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn serve_answers_both_endpoints_with_rfc_bodies() {
    let dir = tempfile::tempdir().unwrap();
    let profile = super::support::write_profile(dir.path(), SERVED);
    let (mut child, base) = start_serve(&profile);

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let served = Served::new(&base);
        let (access, issued) = served.token_is_issued_and_works().await;
        served.wrong_secret_is_invalid_client().await;
        served.unknown_refresh_token_is_invalid_grant().await;
        served.missing_token_gets_a_bare_challenge().await;
        served.expired_token_is_invalid_token(&access, issued).await;
    });

    signal(&child, "-INT");
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "serve stops cleanly on Ctrl-C");
}

/// `tokenstorm serve` on port 0, and the base URL it prints once it listens.
fn start_serve(profile: &std::path::Path) -> (Child, String) {
    let mut child = Command::new(BIN)
        .args(["serve", "--addr", "127.0.0.1:0"])
        .arg(profile)
        .env("TOKENSTORM_SERVE_SECRET", "s3cret")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let line = wait_for_line(child.stdout.take().unwrap(), "listening on");
    let base = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .to_owned();
    (child, base)
}

/// The served target's two endpoints, called as curl would.
struct Served {
    http: reqwest::Client,
    token_url: String,
    contacts_url: String,
}

impl Served {
    fn new(base: &str) -> Served {
        Served {
            http: reqwest::Client::new(),
            token_url: format!("{base}/oauth/token"),
            contacts_url: format!("{base}/api/v2/externalcontacts/contacts"),
        }
    }

    /// The access token and the instant its answer arrived.
    async fn token_is_issued_and_works(&self) -> (String, tokio::time::Instant) {
        let ok = self
            .http
            .post(&self.token_url)
            .basic_auth("org-0000-client", Some("s3cret"))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        // The server's 2 s start before this answer: past `issued + 2 s` the token is dead.
        let issued = tokio::time::Instant::now();
        assert_eq!(ok.status(), 200);
        assert_eq!(ok.headers()["cache-control"], "no-store");
        let body: serde_json::Value = ok.json().await.unwrap();
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 2);
        assert!(
            body.get("refresh_token").is_none(),
            "client_credentials issues no refresh token"
        );
        let access = body["access_token"].as_str().unwrap().to_owned();
        // Used at once: the only wall-clock claim here is that a token works within 2 s of its
        // issue, and that it is refused once 2 s have passed, which the sleep in
        // `expired_token_is_invalid_token` guarantees.
        let good = self
            .http
            .get(&self.contacts_url)
            .bearer_auth(&access)
            .send()
            .await
            .unwrap();
        assert_eq!(good.status(), 200);
        (access, issued)
    }

    async fn wrong_secret_is_invalid_client(&self) {
        let bad_client = self
            .http
            .post(&self.token_url)
            .basic_auth("org-0000-client", Some("wrong"))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(bad_client.status(), 401);
        assert!(bad_client.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic"));
        let body: serde_json::Value = bad_client.json().await.unwrap();
        assert_eq!(body["error"], "invalid_client");
    }

    async fn unknown_refresh_token_is_invalid_grant(&self) {
        let bad_grant = self
            .http
            .post(&self.token_url)
            .basic_auth("org-0000-client", Some("s3cret"))
            .form(&[("grant_type", "refresh_token"), ("refresh_token", "nope")])
            .send()
            .await
            .unwrap();
        assert_eq!(bad_grant.status(), 400);
        let body: serde_json::Value = bad_grant.json().await.unwrap();
        assert_eq!(body["error"], "invalid_grant");
    }

    async fn missing_token_gets_a_bare_challenge(&self) {
        let missing = self.http.get(&self.contacts_url).send().await.unwrap();
        assert_eq!(missing.status(), 401);
        let challenge = missing.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            challenge.starts_with("Bearer") && !challenge.contains("error="),
            "{challenge}"
        );
    }

    async fn expired_token_is_invalid_token(&self, access: &str, issued: tokio::time::Instant) {
        tokio::time::sleep_until(issued + std::time::Duration::from_millis(2100)).await;
        let expired = self
            .http
            .get(&self.contacts_url)
            .bearer_auth(access)
            .send()
            .await
            .unwrap();
        assert_eq!(expired.status(), 401);
        let challenge = expired.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    }
}

const LONG_RUN: &str = r#"
duration = "60s"
[server]
token_ttl = "2s"
[load]
orgs = 2
sessions = 20
rate = "200/s"
[[variant]]
name = "first"
client = "naive"
[[variant]]
name = "second"
client = "naive"
"#;

/// A run against a served target through a relay; the signals go once the first contacts call has
/// passed the relay, so the report always has requests in it, however slowly the machine starts.
fn interrupted_run(signals: &[&str]) -> (Option<i32>, serde_json::Value) {
    let (code, report, _) = interrupted(
        LONG_RUN,
        &[],
        b"GET /api/v2/externalcontacts/contacts",
        signals,
    );
    (code, report)
}

/// Runs `profile` against a `tokenstorm serve` of it through relays: one per `watched` marker
/// (nearest the target first, each handing back a receiver told when its marker passes), then
/// one for `started`, after which `signals` are sent. Returns the exit code, the report it still
/// wrote, and the `watched` receivers.
fn interrupted(
    profile: &str,
    watched: &[&'static [u8]],
    started: &'static [u8],
    signals: &[&str],
) -> (
    Option<i32>,
    serde_json::Value,
    Vec<std::sync::mpsc::Receiver<()>>,
) {
    let dir = tempfile::tempdir().unwrap();
    let profile = super::support::write_profile(dir.path(), profile);
    let (mut target, url) = serve(&profile, "127.0.0.1:0").expect("serve starts");
    let mut upstream = url;
    let mut seen = Vec::new();
    for marker in watched {
        let (relayed, passed) = relay(upstream.trim_start_matches("http://"), marker);
        upstream = relayed;
        seen.push(passed);
    }
    let (relayed, began) = relay(upstream.trim_start_matches("http://"), started);
    let out = dir.path().join("out");
    let mut child = Command::new(BIN)
        .arg("run")
        .arg(&profile)
        .args(["--target-url", &relayed, "--out"])
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    began
        .recv_timeout(std::time::Duration::from_secs(120))
        .expect("the run reaches the target");
    for s in signals {
        signal(&child, s);
    }
    let status = child.wait().unwrap();
    let _ = target.kill();
    let _ = target.wait();
    let text = std::fs::read_to_string(out.join("report.json"))
        .expect("an interrupted run still writes its report");
    (status.code(), serde_json::from_str(&text).unwrap(), seen)
}

#[test]
fn ctrl_c_stops_the_run_and_writes_the_report() {
    let (code, report) = interrupted_run(&["-INT"]);
    assert_eq!(code, Some(130));
    assert_eq!(report["interrupted"], true);
    let variants = report["variants"].as_array().unwrap();
    assert_eq!(variants.len(), 1, "the second variant never started");
    assert_eq!(variants[0]["stopped_early"], true);
    assert!(variants[0]["requests"]["sent"].as_u64().unwrap() > 0);
    assert_eq!(variants[0]["conservation"]["ok"], true);
}

#[test]
fn sigterm_exits_143_with_a_report() {
    let (code, report) = interrupted_run(&["-TERM"]);
    assert_eq!(code, Some(143));
    assert_eq!(report["interrupted"], true);
}

#[test]
fn a_second_ctrl_c_stops_at_once_and_still_leaves_a_valid_report() {
    let (code, report) = interrupted_run(&["-INT", "-INT"]);
    assert_eq!(code, Some(130));
    assert_eq!(report["interrupted"], true);
    let v = &report["variants"][0];
    assert_eq!(v["stopped_early"], true);
    // Whatever was cut off is accounted for as unfinished, so the identities still hold.
    assert_eq!(v["conservation"]["scheduled_is_sent_plus_dropped"], true);
    assert_eq!(v["conservation"]["sent_is_finished_plus_unfinished"], true);
}

/// `tokenstorm schema | head -1`: the reader goes away before the output is written; the command must
/// end without a panic.
#[test]
fn a_closed_stdout_is_not_a_panic() {
    let mut child = Command::new(BIN)
        .arg("schema")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}

#[test]
fn serve_answers_the_messaging_socket_on_the_same_port() {
    use futures_util::{SinkExt, StreamExt};
    let dir = tempfile::tempdir().unwrap();
    let text = format!("{SERVED}[server.messaging]\nsession_duration = \"10m\"\n");
    let profile = super::support::write_profile(dir.path(), &text);
    let (mut child, base) = start_serve(&profile);
    let url = format!(
        "{}/v1?deploymentId=org-0000-client",
        base.replacen("http://", "ws://", 1)
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let answer = rt.block_on(async {
        let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let configure = r#"{"action":"configureSession","deploymentId":"org-0000-client","token":"s","tracingId":"t"}"#;
        ws.send(configure.into()).await.unwrap();
        let frame = ws.next().await.unwrap().unwrap();
        serde_json::from_str::<serde_json::Value>(frame.to_text().unwrap()).unwrap()
    });
    assert_eq!(answer["class"], "SessionResponse", "{answer}");
    assert_eq!(
        answer["body"]["durationSeconds"], 600,
        "the profile's section"
    );
    signal(&child, "-INT");
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

const CHATTING: &str = r#"
duration = "60s"
[load]
orgs = 2
sessions = 100
[sessions]
arrival = "uniform"
arrival_rate = "5/s"
length = { dist = "fixed", value = "5m" }
think = { dist = "uniform", min = "200ms", max = "500ms" }
[messaging]
echo_interval = "0s"
[[variant]]
name = "widget"
client = "genesys-messenger"
"#;

/// Ctrl-C while widgets chat: the run stops, each widget closes its socket with a close frame (seen
/// passing a relay: a client's masked close frame without payload starts `0x88 0x80`), and the
/// report is written with the sockets it opened.
#[test]
fn ctrl_c_closes_the_widgets_sockets_and_writes_the_report() {
    let (code, report, seen) = interrupted(
        CHATTING,
        &[&[0x88, 0x80]],
        b"GET /v1?deploymentId",
        &["-INT"],
    );
    assert_eq!(code, Some(130));
    seen[0]
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("a widget sent a close frame");
    assert_eq!(report["interrupted"], true);
    let counts = &report["variants"][0]["messaging"]["counts"];
    let connected = counts["connected"].as_u64().unwrap();
    assert!(connected >= 1, "{counts}");
    assert_eq!(counts["configured_new"].as_u64(), Some(connected));
    assert_eq!(counts["closed"], 0, "nobody left: the run was stopped");
}
