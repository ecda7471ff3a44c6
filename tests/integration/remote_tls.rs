//! HTTPS against the embedded target served over rustls with a certificate from a test CA (rcgen):
//! refused without the CA, fine with it, fine but loudly warned with `insecure_skip_verify`, mutual
//! TLS, and HTTP/1.1 or HTTP/2 as asked.

use super::remote_support::{pki, report_of, run_bin, runtime, serve_tls, text, write_private};
use super::simulator_support::config;
use std::time::Duration;
use tokenstorm::vocabulary::Outcome;

const SECRET: &str = "secret0";

/// An http-target profile for the embedded target's org0 (`client0` / `secret0`) at `base`.
fn profile(base: &str, tls: &str, http: &str) -> String {
    format!(
        r#"
duration = "2s"
[target]
kind = "http"
token_base = "{base}"
api_base = "{base}"
[target.tls]
{tls}
[target.http]
{http}
[[target.orgs]]
name = "org0"
client_id = "client0"
client_secret_env = "ORG0_SECRET"
[load]
orgs = 1
sessions = 2
rate = "10/s"
drain = "2s"
[[variant]]
name = "reactive"
client = "naive"
"#
    )
}

#[test]
fn https_needs_the_ca_works_with_it_and_speaks_the_http_version_asked() {
    let rt = runtime();
    let pki = pki();
    let (router, truth) = tokenstorm::simulator::router(config(1, Duration::from_secs(1)));
    let server = rt.block_on(serve_tls(router, &pki, false));
    let base = format!("https://127.0.0.1:{}", server.addr.port());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.pem"), &pki.ca_pem).unwrap();
    let env = [("ORG0_SECRET", SECRET)];

    // The system roots do not know the test CA: every call fails the handshake, and the run says
    // the target could not be reached.
    let refused = run_bin(dir.path(), &profile(&base, "", ""), &env, &[]);
    assert_eq!(refused.status.code(), Some(3), "{}", text(&refused.stderr));
    let v = &report_of(dir.path()).variants[0];
    assert!(v.endpoints.token.outcomes[Outcome::ConnectError] > 0);
    assert_eq!(v.endpoints.contacts.requests, 0);
    assert_eq!(truth.snapshot().total.token.ok, 0);

    for (version, want) in [
        ("http1", axum::http::Version::HTTP_11),
        ("http2", axum::http::Version::HTTP_2),
    ] {
        server.versions.lock().unwrap().clear();
        let before = truth.snapshot().total;
        let ok = run_bin(
            dir.path(),
            &profile(
                &base,
                r#"ca_file = "ca.pem""#,
                &format!(r#"version = "{version}""#),
            ),
            &env,
            &[],
        );
        assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
        let v = &report_of(dir.path()).variants[0];
        let after = truth.snapshot().total;
        assert!(v.endpoints.contacts.outcomes[Outcome::Ok] > 0);
        // Tokens expire every second over a 2 s run: the reactive client meets 401s and refreshes.
        assert!(v.endpoints.refresh.requests > 0, "{version}: no refresh");
        assert_eq!(
            v.endpoints.contacts.outcomes[Outcome::Ok],
            after.contacts.ok - before.contacts.ok,
            "{version}: the client's ok count is the server's"
        );
        assert_eq!(
            v.endpoints.contacts.outcomes[Outcome::Unauthorized],
            after.contacts.unauthorized - before.contacts.unauthorized
        );
        let versions = server.versions.lock().unwrap();
        assert!(!versions.is_empty());
        assert!(
            versions.iter().all(|v| *v == want),
            "{version}: {versions:?}"
        );
    }
}

#[test]
fn insecure_skip_verify_connects_and_warns() {
    let rt = runtime();
    let pki = pki();
    let (router, _truth) = tokenstorm::simulator::router(config(1, Duration::from_secs(30)));
    let server = rt.block_on(serve_tls(router, &pki, false));
    let base = format!("https://127.0.0.1:{}", server.addr.port());
    let dir = tempfile::tempdir().unwrap();
    let out = run_bin(
        dir.path(),
        &profile(&base, "insecure_skip_verify = true", ""),
        &[("ORG0_SECRET", SECRET)],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("warning: target.tls.insecure_skip_verify"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        report_of(dir.path()).variants[0]
            .endpoints
            .contacts
            .outcomes[Outcome::Ok]
            > 0
    );
    // The dry run warns too.
    let dry = run_bin(
        dir.path(),
        &profile(&base, "insecure_skip_verify = true", ""),
        &[("ORG0_SECRET", SECRET)],
        &["--dry-run"],
    );
    assert_eq!(dry.status.code(), Some(0), "{}", text(&dry.stdout));
    assert!(text(&dry.stdout).contains("insecure_skip_verify"));
}

#[test]
fn mutual_tls_sends_the_client_certificate() {
    let rt = runtime();
    let pki = pki();
    let (router, _truth) = tokenstorm::simulator::router(config(1, Duration::from_secs(30)));
    let server = rt.block_on(serve_tls(router, &pki, true));
    let base = format!("https://127.0.0.1:{}", server.addr.port());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.pem"), &pki.ca_pem).unwrap();
    std::fs::write(dir.path().join("client.pem"), &pki.client_pem).unwrap();
    write_private(&dir.path().join("client.key"), &pki.client_key_pem);
    let env = [("ORG0_SECRET", SECRET)];

    let without = run_bin(
        dir.path(),
        &profile(&base, r#"ca_file = "ca.pem""#, ""),
        &env,
        &["--dry-run"],
    );
    assert_eq!(without.status.code(), Some(3), "{}", text(&without.stdout));
    let with = run_bin(
        dir.path(),
        &profile(
            &base,
            "ca_file = \"ca.pem\"\nclient_cert = \"client.pem\"\nclient_key = \"client.key\"",
            "",
        ),
        &env,
        &["--dry-run"],
    );
    assert_eq!(with.status.code(), Some(0), "{}", text(&with.stdout));
    assert!(text(&with.stdout).contains("org org0: token ok 200"));
    // A certificate file that is not PEM is a usage error naming the setting.
    std::fs::write(dir.path().join("bad.pem"), "not a certificate").unwrap();
    let bad = run_bin(
        dir.path(),
        &profile(&base, r#"ca_file = "bad.pem""#, ""),
        &env,
        &["--dry-run"],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        text(&bad.stderr).contains("target.tls.ca_file"),
        "{}",
        text(&bad.stderr)
    );
}
