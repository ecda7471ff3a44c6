//! Sessions with a life against a real target (the embedded target served on its own, reached as
//! `kind = "http"`): sessions that leave with `leave = "revoke"` revoke their token there, by RFC
//! 7009 or by the web-messaging revoke, and the server counts exactly the revocations the report does.

use super::remote_support::{report_of, run_bin, runtime, text};
use super::simulator_support::config;
use std::time::Duration;

fn profile(base: &str, dialect: &str) -> String {
    format!(
        r#"
duration = "3s"
[target]
kind = "http"
token_base = "{base}"
api_base = "{base}"
dialect = "{dialect}"
auth_code = "sim-{{org}}-{{session}}"
[[target.orgs]]
name = "org0"
client_id = "client0"
client_secret_env = "S0"
deployment_id = "client0"
[[target.orgs]]
name = "org1"
client_id = "client1"
client_secret_env = "S1"
deployment_id = "client1"
[load]
orgs = 2
sessions = 100
drain = "2s"
[sessions]
arrival = "uniform"
arrival_rate = "10/s"
length = {{ dist = "fixed", value = "500ms" }}
think = {{ dist = "fixed", value = "200ms" }}
leave = "revoke"
[[variant]]
name = "widget"
client = {{ token_scope = "session", trigger = "margin", margin = "5s", refresh_grant = "refresh_token" }}
"#
    )
}

#[test]
fn sessions_revoke_their_tokens_on_a_real_target_in_both_dialects() {
    let rt = runtime();
    for dialect in ["rfc6749", "web-deployments"] {
        let server = rt
            .block_on(tokenstorm::simulator::Server::start(
                config(2, Duration::from_secs(60)),
                "127.0.0.1:0".parse().unwrap(),
            ))
            .unwrap();
        let base = format!("http://{}", server.addr());
        let dir = tempfile::tempdir().unwrap();
        let env = [("S0", "secret0"), ("S1", "secret1")];
        let out = run_bin(dir.path(), &profile(&base, dialect), &env, &[]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{dialect}: {}",
            text(&out.stderr)
        );
        let v = report_of(dir.path()).variants.remove(0);
        let s = v.sessions.as_ref().unwrap();
        // 30 arrivals over 3 s, each living 0.5 s: all but those of the last 0.5 s leave.
        assert!(s.departed >= 20, "{dialect}: {s:?}");
        assert_eq!((s.revoked, s.revoke_failed), (s.departed, 0), "{dialect}");
        let truth = server.truth().total;
        assert_eq!(
            truth.revocations, s.revoked,
            "{dialect}: the server saw each revocation"
        );
        // A refresh token (RFC 7009) or a web-messaging JWT takes its whole family with it.
        assert_eq!(truth.families_revoked, s.revoked, "{dialect}");
        rt.block_on(server.stop());
    }
}

#[test]
fn a_step_drawing_contact_ids_on_a_real_target_needs_them_listed() {
    use std::path::Path;
    use tokenstorm::profile::{parse, ProfileError};
    let text = profile("https://login.example.test", "rfc6749").replace(
        "leave = \"revoke\"",
        "leave = \"revoke\"\n[[sessions.step]]\nname = \"open\"\npath = \"/api/v2/externalcontacts/contacts/{contact_id}\"",
    );
    let Err(ProfileError::Invalid { problems, .. }) = parse(&text, Path::new("t.toml")) else {
        panic!("accepted");
    };
    assert!(
        problems
            .iter()
            .any(|p| p.key == "sessions.step[0].path"
                && p.message.contains("target.api.contact_ids")),
        "{problems:?}"
    );
}
