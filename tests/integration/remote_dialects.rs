//! Both token dialects of the `http` target against the embedded target (plain HTTP on 127.0.0.1):
//! RFC 6749 with client credentials and with authorization code + refresh tokens, and the
//! web-deployments exchange and refresh; the report's counts must equal the target's truth.

use super::remote_http::embedded_profile;
use super::remote_support::{report_of, run_bin, runtime, text};
use super::target_support::config;
use std::time::Duration;
use tokenstorm::http::Outcome;

#[test]
fn both_dialects_against_the_embedded_target_match_its_truth() {
    let rt = runtime();
    let env = [("S0", "secret0"), ("S1", "secret1")];
    let cases = [
        (
            "rfc6749",
            r#"{ token_scope = "session", trigger = "reactive" }"#,
        ),
        (
            "web-deployments",
            r#"{ token_scope = "session", trigger = "reactive" }"#,
        ),
        ("rfc6749", r#""naive""#),
    ];
    for (dialect, client) in cases {
        let server = rt.block_on(tokenstorm::target::Server::start(
            config(2, Duration::from_secs(1)),
            "127.0.0.1:0".parse().unwrap(),
        ));
        let server = server.unwrap();
        let base = format!("http://{}", server.addr());
        let dir = tempfile::tempdir().unwrap();
        let out = run_bin(
            dir.path(),
            &embedded_profile(&base, dialect, client),
            &env,
            &[],
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "{dialect}: {}",
            text(&out.stderr)
        );
        let v = report_of(dir.path()).variants.remove(0);
        let truth = server.truth().total;
        let e = &v.endpoints;
        let label = format!("{dialect} {client}");
        assert_eq!(
            e.contacts.outcomes[Outcome::Ok],
            truth.contacts.ok,
            "{label}"
        );
        assert_eq!(
            e.contacts.outcomes[Outcome::Unauthorized],
            truth.contacts.unauthorized,
            "{label}"
        );
        assert!(truth.contacts.unauthorized > 0, "{label}: no expiry 401s");
        assert_eq!(
            e.token.outcomes[Outcome::Ok] + e.refresh.outcomes[Outcome::Ok],
            truth.token.ok,
            "{label}"
        );
        let issued = truth.issued;
        match (dialect, client.contains("session")) {
            ("web-deployments", _) => {
                assert_eq!(
                    issued.jwt_exchange,
                    e.token.outcomes[Outcome::Ok],
                    "{label}"
                );
                assert_eq!(
                    issued.jwt_refresh,
                    e.refresh.outcomes[Outcome::Ok],
                    "{label}"
                );
                assert!(issued.jwt_refresh > 0, "{label}");
            }
            (_, true) => {
                assert_eq!(issued.authorization_code, e.token.outcomes[Outcome::Ok]);
                assert_eq!(issued.refresh_token, e.refresh.outcomes[Outcome::Ok]);
                assert!(issued.refresh_token > 0, "{label}");
            }
            _ => assert_eq!(
                issued.client_credentials,
                e.token.outcomes[Outcome::Ok] + e.refresh.outcomes[Outcome::Ok]
            ),
        }
        rt.block_on(server.stop());
    }
}
